// Vigil's self-metrics: counters, gauges and histograms with labels, kept in
// a Registry and rendered in the Prometheus text exposition format (0.0.4)
// on /metrics. Components that only keep a plain stats struct register a
// Collector that appends their samples at render time.
//
//   Registry reg;
//   CounterFamily* reqs = reg.NewCounter("vigil_http_requests_total",
//                                        "HTTP requests.", {"handler",
//                                        "code"});
//   reqs->WithLabels({"/api/v1/query", "200"})->Inc();
//   std::string text = reg.Render();
//
// Thread-safety: everything is thread-safe. WithLabels takes a lock and
// returns a stable pointer; callers on hot paths keep that pointer and then
// update it lock-free.
#ifndef VIGIL_SERVER_METRICS_REGISTRY_H_
#define VIGIL_SERVER_METRICS_REGISTRY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace vigil::server::metrics {

// A float that many threads add to without a lock.
class AtomicDouble {
 public:
  void Add(double d);
  void Set(double d) { v_.store(d, std::memory_order_relaxed); }
  double Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Counter {
 public:
  // `d` must be >= 0; counters only go up.
  void Inc(double d = 1) { v_.Add(d); }
  double Value() const { return v_.Get(); }

 private:
  AtomicDouble v_;
};

class Gauge {
 public:
  void Set(double d) { v_.Set(d); }
  void Add(double d) { v_.Add(d); }
  double Value() const { return v_.Get(); }

 private:
  AtomicDouble v_;
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, increasing; +Inf is
  // implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size() is +Inf).
  uint64_t BucketCount(size_t i) const { return counts_[i].load(); }
  uint64_t Count() const { return count_.load(); }
  double Sum() const { return sum_.Get(); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  AtomicDouble sum_;
};

// Prometheus's default latency buckets, .005 to 10 seconds.
std::vector<double> DefaultBuckets();

template <typename T>
class Family {
 public:
  // The child for these label values (same order as the family's label
  // names). Creates it on first use; the pointer stays valid for the
  // registry's lifetime.
  T* WithLabels(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  // Calls fn(label_values, child) for every child, in label-value order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        make_(std::move(make)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> labels_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Appends complete metric families (with # HELP/# TYPE lines) to `out`.
using Collector = std::function<void(std::string* out)>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily* NewCounter(std::string name, std::string help,
                            std::vector<std::string> labels = {});
  GaugeFamily* NewGauge(std::string name, std::string help,
                        std::vector<std::string> labels = {});
  HistogramFamily* NewHistogram(std::string name, std::string help,
                                std::vector<std::string> labels,
                                std::vector<double> bounds = DefaultBuckets());
  void AddCollector(Collector c);

  // Text exposition format, families in registration order.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<CounterFamily>> counters_;
  std::vector<std::unique_ptr<GaugeFamily>> gauges_;
  std::vector<std::unique_ptr<HistogramFamily>> histograms_;
  // Render order: kind (0 counter, 1 gauge, 2 histogram, 3 collector), index.
  std::vector<std::pair<int, size_t>> order_;
  std::vector<Collector> collectors_;
};

// Helpers for Collectors writing text format by hand.
// "# HELP name help\n# TYPE name type\n".
void AppendHeader(std::string* out, absl::string_view name,
                  absl::string_view help, absl::string_view type);
// "name{k="v",...} value\n" with label values escaped.
void AppendSample(
    std::string* out, absl::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels,
    double value);
// Go's strconv.FormatFloat(v, 'g', -1, 64) as the text format uses it:
// shortest round-trip digits, "+Inf", "-Inf", "NaN".
void AppendTextFloat(std::string* out, double v);

template <typename T>
T* Family<T>::WithLabels(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<T>& child = children_[values];
  if (child == nullptr) child = make_();
  return child.get();
}

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds,
// process_open_fds and process_max_fds, read from /proc at render time.
void RegisterProcessCollector(Registry* registry);

}  // namespace vigil::server::metrics

#endif  // VIGIL_SERVER_METRICS_REGISTRY_H_
