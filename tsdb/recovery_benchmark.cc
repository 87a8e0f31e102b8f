// Recovery benchmark: builds a data directory with N series x M samples
// through the normal appender (one commit per scrape round, cached refs),
// then measures DB::Open until the DB is ready to serve, after a clean
// Close and after a simulated kill -9 (the directory is copied while the
// writer still has it open: the WAL is in the page cache, exactly what
// survives SIGKILL). Reports wall and process CPU time (the machine is
// shared, so CPU is the meaningful figure) and where recovery spent it.
//
//   bazel run -c opt //tsdb:recovery_benchmark -- --series=1000000
//       --samples=100 --dir=/tmp/vigil_recovery
//
// Flags: --series=N (100000) --samples=M per series (100) --dir=PATH
// (/tmp/vigil_recovery_<pid>) --mode=both|clean|crash --keep (do not delete
// the directories) --reuse (skip the build when --dir already holds data)
// --checkpoint_bytes=B (DBOptions::wal_checkpoint_bytes, default 256 MB)
// --exit_after_open (exit right after the last reopen, without closing:
// for profiling recovery alone).
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tsdb/db.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;

// Copies `from` to `to` while a DB still writes to it. Background work
// (RocksDB flushes and compactions, WAL and chunk log segment removal) may
// delete a file between the listing and its copy: it was obsolete, and a
// kill -9 at that moment would have left it deleted too, so it is skipped.
void CopyLiveDir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(
           from, fs::directory_options::skip_permission_denied)) {
    const fs::path target = to / fs::relative(e.path(), from);
    std::error_code ec;
    if (e.is_directory(ec)) {
      fs::create_directories(target);
      continue;
    }
    fs::copy_file(e.path(), target, ec);
    if (ec && fs::exists(e.path()))
      throw fs::filesystem_error("copy", e.path(), target, ec);
  }
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return static_cast<int64_t>(pages_rss) * sysconf(_SC_PAGESIZE);
}

// A node-exporter-like label set: 8 labels, a few hundred metric names
// spread over hosts, with per-series cpu/device/mode values.
Labels SeriesLabels(int i) {
  static const char* kModes[] = {"user", "system", "idle",  "iowait",
                                 "irq",  "nice",   "steal", "softirq"};
  return *Labels::FromPairs({
      {"__name__", absl::StrCat("node_metric_family_", i % 250, "_total")},
      {"instance", absl::StrCat("host-", i / 2000, ".example.net:9100")},
      {"job", "node"},
      {"cpu", absl::StrCat(i % 16)},
      {"mode", kModes[(i / 16) % 8]},
      {"env", i % 3 == 0 ? "prod" : "staging"},
      {"region", absl::StrCat("eu-west-", (i / 2000) % 4)},
      {"series_id", absl::StrCat(i)},
  });
}

double Value(int series, int round) {
  // Counters with small integer increments and a few gauges.
  if (series % 5 == 0) return 0.25 * ((series * 7 + round * 3) % 400);
  return static_cast<double>(round * (series % 7 + 1) + series % 100);
}

int64_t checkpoint_bytes = DBOptions().wal_checkpoint_bytes;

DBOptions Options(const std::string& path) {
  DBOptions o;
  o.wal_checkpoint_bytes = checkpoint_bytes;
  o.path = path;
  o.retention = absl::ZeroDuration();
  o.maintenance_interval = absl::Seconds(5);
  return o;
}

void PrintStats(const char* what, double wall, double cpu, const DB& db,
                int64_t rss_delta) {
  const DBStats st = db.Stats();
  std::printf(
      "%-6s open: %.3f s wall, %.3f s CPU; series=%lld rss_delta=%.1f MB\n"
      "       phases wall/CPU s: rocksdb open %.3f/%.3f, series %.3f/%.3f, "
      "head chunks %.3f/%.3f (%lld chunks), WAL %.3f/%.3f (%lld records, "
      "%lld samples)\n",
      what, wall, cpu, static_cast<long long>(st.head_series),
      static_cast<double>(rss_delta) / 1e6, st.recovery_store_open_seconds,
      st.recovery_store_open_cpu_seconds, st.recovery_series_seconds,
      st.recovery_series_cpu_seconds, st.recovery_head_chunks_seconds,
      st.recovery_head_chunks_cpu_seconds,
      static_cast<long long>(st.recovery_head_chunks), st.recovery_wal_seconds,
      st.recovery_wal_cpu_seconds,
      static_cast<long long>(st.recovery_wal_records),
      static_cast<long long>(st.recovery_wal_samples));
  std::fflush(stdout);
}

int Run(int argc, char** argv) {
  int64_t series = 100000, samples = 100;
  std::string dir = absl::StrCat("/tmp/vigil_recovery_", getpid());
  std::string mode = "both";
  bool keep = false, reuse = false, exit_after_open = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    auto value = [&](absl::string_view flag, std::string* out) {
      const std::string prefix = absl::StrCat(flag, "=");
      if (a.substr(0, prefix.size()) != prefix) return false;
      *out = std::string(a.substr(prefix.size()));
      return true;
    };
    std::string v;
    if (value("--series", &v) && absl::SimpleAtoi(v, &series)) continue;
    if (value("--samples", &v) && absl::SimpleAtoi(v, &samples)) continue;
    if (value("--dir", &dir)) continue;
    if (value("--mode", &mode)) continue;
    if (value("--checkpoint_bytes", &v) &&
        absl::SimpleAtoi(v, &checkpoint_bytes)) {
      continue;
    }
    if (a == "--keep") {
      keep = true;
      continue;
    }
    if (a == "--exit_after_open") {
      exit_after_open = true;
      continue;
    }
    if (a == "--reuse") {
      reuse = true;
      continue;
    }
    std::fprintf(stderr, "recovery_benchmark: unknown or bad flag %s\n",
                 argv[i]);
    return 2;
  }
  const std::string crash_dir = dir + "_crash";
  const bool have = reuse && fs::exists(dir + "/rocksdb") &&
                    fs::exists(crash_dir + "/rocksdb");
  if (!have) {
    fs::remove_all(dir);
    fs::remove_all(crash_dir);
    std::vector<Labels> labels;
    labels.reserve(static_cast<size_t>(series));
    for (int64_t i = 0; i < series; ++i) {
      labels.push_back(SeriesLabels(static_cast<int>(i)));
    }
    auto db = DB::Open(Options(dir));
    if (!db.ok()) {
      std::fprintf(stderr, "open %s: %s\n", dir.c_str(),
                   db.status().ToString().c_str());
      return 1;
    }
    const absl::Time start = absl::Now();
    const double cpu0 = CpuSeconds();
    std::vector<SeriesRef> refs(static_cast<size_t>(series), 0);
    for (int64_t r = 0; r < samples; ++r) {
      auto app = (*db)->NewAppender();
      for (int64_t i = 0; i < series; ++i) {
        auto ref = app->Append(refs[i], labels[i], 1700000000000 + r * 15000,
                               Value(static_cast<int>(i), static_cast<int>(r)));
        if (!ref.ok()) {
          std::fprintf(stderr, "append: %s\n", ref.status().ToString().c_str());
          return 1;
        }
        refs[i] = *ref;
      }
      absl::Status s = app->Commit();
      if (!s.ok()) {
        std::fprintf(stderr, "commit: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    const double build_cpu = CpuSeconds() - cpu0;
    std::printf(
        "built %lld series x %lld samples in %.1f s wall, %.1f s CPU "
        "(%.0f ns/sample CPU); WAL %lld bytes, %lld checkpoints\n",
        static_cast<long long>(series), static_cast<long long>(samples),
        absl::ToDoubleSeconds(absl::Now() - start), build_cpu,
        build_cpu * 1e9 / static_cast<double>(series * samples),
        static_cast<long long>((*db)->Stats().wal_bytes),
        static_cast<long long>((*db)->Stats().wal_checkpoints));
    // The copy taken while the writer is open is what kill -9 leaves.
    CopyLiveDir(dir, crash_dir);
    const double close_cpu0 = CpuSeconds();
    const absl::Time close_start = absl::Now();
    absl::Status s = (*db)->Close();
    if (!s.ok()) {
      std::fprintf(stderr, "close: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("close (checkpoint): %.3f s wall, %.3f s CPU\n",
                absl::ToDoubleSeconds(absl::Now() - close_start),
                CpuSeconds() - close_cpu0);
    std::fflush(stdout);
  }
  for (const std::string& which :
       {std::string("clean"), std::string("crash")}) {
    if (mode != "both" && mode != which) continue;
    // Work on a copy so --reuse measures the same state every time.
    const std::string src = which == "clean" ? dir : crash_dir;
    const std::string work = src + "_work";
    fs::remove_all(work);
    fs::copy(src, work, fs::copy_options::recursive);
    const int64_t rss0 = RssBytes();
    const double cpu0 = CpuSeconds();
    const absl::Time start = absl::Now();
    auto db = DB::Open(Options(work));
    const double wall = absl::ToDoubleSeconds(absl::Now() - start);
    const double cpu = CpuSeconds() - cpu0;
    if (!db.ok()) {
      std::fprintf(stderr, "reopen %s: %s\n", work.c_str(),
                   db.status().ToString().c_str());
      return 1;
    }
    PrintStats(which.c_str(), wall, cpu, **db, RssBytes() - rss0);
    if (exit_after_open) std::_Exit(0);
    db->reset();
    fs::remove_all(work);
  }
  if (!keep) {
    fs::remove_all(dir);
    fs::remove_all(crash_dir);
  }
  return 0;
}

}  // namespace
}  // namespace vigil::tsdb

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return vigil::tsdb::Run(argc, argv);
}
