#include "server/metrics/registry.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vigil::server::metrics {

void AtomicDouble::Add(double d) {
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.Add(v);
}

std::vector<double> DefaultBuckets() {
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
}

CounterFamily* Registry::NewCounter(std::string name, std::string help,
                                    std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.emplace_back(
      new CounterFamily(std::move(name), std::move(help), std::move(labels),
                        [] { return std::make_unique<Counter>(); }));
  order_.emplace_back(0, counters_.size() - 1);
  return counters_.back().get();
}

GaugeFamily* Registry::NewGauge(std::string name, std::string help,
                                std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.emplace_back(
      new GaugeFamily(std::move(name), std::move(help), std::move(labels),
                      [] { return std::make_unique<Gauge>(); }));
  order_.emplace_back(1, gauges_.size() - 1);
  return gauges_.back().get();
}

HistogramFamily* Registry::NewHistogram(std::string name, std::string help,
                                        std::vector<std::string> labels,
                                        std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  histograms_.emplace_back(new HistogramFamily(
      std::move(name), std::move(help), std::move(labels),
      [bounds] { return std::make_unique<Histogram>(bounds); }));
  order_.emplace_back(2, histograms_.size() - 1);
  return histograms_.back().get();
}

void Registry::AddCollector(Collector c) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(c));
  order_.emplace_back(3, collectors_.size() - 1);
}

namespace {

std::vector<std::pair<std::string, std::string>> Zip(
    const std::vector<std::string>& names,
    const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out.emplace_back(names[i], values[i]);
  }
  return out;
}

template <typename T>
void RenderSimple(const Family<T>& f, absl::string_view type,
                  std::string* out) {
  AppendHeader(out, f.name(), f.help(), type);
  f.ForEach([&](const std::vector<std::string>& values, const T& child) {
    AppendSample(out, f.name(), Zip(f.label_names(), values), child.Value());
  });
}

}  // namespace

std::string Registry::Render() const {
  std::string out;
  std::vector<Collector> collectors;
  std::vector<std::pair<int, size_t>> order;
  {
    std::lock_guard<std::mutex> lock(mu_);
    order = order_;
    collectors = collectors_;
  }
  for (auto [kind, i] : order) {
    if (kind == 0) {
      RenderSimple(*counters_[i], "counter", &out);
    } else if (kind == 1) {
      RenderSimple(*gauges_[i], "gauge", &out);
    } else if (kind == 2) {
      const HistogramFamily& f = *histograms_[i];
      AppendHeader(&out, f.name(), f.help(), "histogram");
      std::string bucket = f.name() + "_bucket";
      f.ForEach(
          [&](const std::vector<std::string>& values, const Histogram& hist) {
            const Histogram* h = &hist;
            auto labels = Zip(f.label_names(), values);
            uint64_t cum = 0;
            for (size_t b = 0; b <= h->bounds().size(); ++b) {
              cum += h->BucketCount(b);
              auto with_le = labels;
              std::string le;
              if (b == h->bounds().size()) {
                le = "+Inf";
              } else {
                AppendTextFloat(&le, h->bounds()[b]);
              }
              with_le.emplace_back("le", le);
              AppendSample(&out, bucket, with_le, static_cast<double>(cum));
            }
            AppendSample(&out, f.name() + "_sum", labels, h->Sum());
            AppendSample(&out, f.name() + "_count", labels,
                         static_cast<double>(h->Count()));
          });
    } else {
      collectors[i](&out);
    }
  }
  return out;
}

void AppendHeader(std::string* out, absl::string_view name,
                  absl::string_view help, absl::string_view type) {
  absl::StrAppend(out, "# HELP ", name, " ");
  for (char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
  absl::StrAppend(out, "\n# TYPE ", name, " ", type, "\n");
}

void AppendSample(
    std::string* out, absl::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels,
    double value) {
  out->append(name.data(), name.size());
  if (!labels.empty()) {
    out->push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out->push_back(',');
      first = false;
      absl::StrAppend(out, k, "=\"");
      for (char c : v) {
        if (c == '\\') {
          out->append("\\\\");
        } else if (c == '"') {
          out->append("\\\"");
        } else if (c == '\n') {
          out->append("\\n");
        } else {
          out->push_back(c);
        }
      }
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
  AppendTextFloat(out, value);
  out->push_back('\n');
}

void AppendTextFloat(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  // Shortest round-trip digits in scientific form: "d.ddde+XX".
  char sci[64];
  auto r =
      std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  std::string_view s(sci, r.ptr - sci);
  size_t e = s.find('e');
  int exp = std::atoi(std::string(s.substr(e + 1)).c_str());
  // Go's 'g' with shortest precision uses %e for decimal exponents outside
  // [-4, 6): 1e+06, 1.5e-05.
  if (exp < -4 || exp >= 6) {
    out->append(s.data(), e);
    out->push_back('e');
    out->push_back(exp < 0 ? '-' : '+');
    int a = exp < 0 ? -exp : exp;
    if (a < 10) out->push_back('0');
    absl::StrAppend(out, a);
    return;
  }
  char fixed[400];
  r = std::to_chars(fixed, fixed + sizeof fixed, v, std::chars_format::fixed);
  out->append(fixed, r.ptr - fixed);
}

namespace {

double ReadStartTimeSeconds(unsigned long long start_ticks) {
  std::ifstream stat("/proc/stat");
  std::string line;
  while (std::getline(stat, line)) {
    if (line.rfind("btime ", 0) == 0) {
      double btime = std::atof(line.c_str() + 6);
      return btime + static_cast<double>(start_ticks) / sysconf(_SC_CLK_TCK);
    }
  }
  return 0;
}

void CollectProcess(std::string* out) {
  std::ifstream f("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(f)),
                      std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name, which may contain spaces.
  size_t rp = content.rfind(')');
  if (rp == std::string::npos) return;
  std::vector<std::string> fields =
      absl::StrSplit(content.substr(rp + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); utime=14, stime=15, starttime=22,
  // vsize=23, rss=24 (1-based field numbers of proc(5)).
  auto field = [&](int n) -> double {
    size_t i = static_cast<size_t>(n - 3);
    return i < fields.size() ? std::atof(fields[i].c_str()) : 0;
  };
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  AppendHeader(out, "process_cpu_seconds_total",
               "Total user and system CPU time spent in seconds.", "counter");
  AppendSample(out, "process_cpu_seconds_total", {},
               (field(14) + field(15)) / ticks);
  AppendHeader(out, "process_resident_memory_bytes",
               "Resident memory size in bytes.", "gauge");
  AppendSample(out, "process_resident_memory_bytes", {},
               field(24) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  AppendHeader(out, "process_virtual_memory_bytes",
               "Virtual memory size in bytes.", "gauge");
  AppendSample(out, "process_virtual_memory_bytes", {}, field(23));
  AppendHeader(out, "process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.",
               "gauge");
  AppendSample(
      out, "process_start_time_seconds", {},
      ReadStartTimeSeconds(static_cast<unsigned long long>(field(22))));
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++fds;
    }
    closedir(d);
    --fds;  // the directory handle itself
  }
  AppendHeader(out, "process_open_fds", "Number of open file descriptors.",
               "gauge");
  AppendSample(out, "process_open_fds", {}, fds);
  long max_fds = sysconf(_SC_OPEN_MAX);
  AppendHeader(out, "process_max_fds",
               "Maximum number of open file descriptors.", "gauge");
  AppendSample(out, "process_max_fds", {}, static_cast<double>(max_fds));
}

}  // namespace

void RegisterProcessCollector(Registry* registry) {
  registry->AddCollector(CollectProcess);
}

}  // namespace vigil::server::metrics
