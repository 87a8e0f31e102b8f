#include "tsdb/tool.h"

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "tsdb/db.h"
#include "tsdb/import.h"

namespace vigil::tsdb {
namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: vigil tsdb check DIR\n"
               "       vigil tsdb import DIR FILE\n"
               "       vigil tsdb stats DIR [TOP_N]\n");
  return 2;
}

int Check(const std::string& dir) {
  auto report = CheckDataDir(dir);
  if (!report.ok()) {
    std::fprintf(stderr, "check %s: %s\n", dir.c_str(),
                 report.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "series: %lld\nchunks: %lld\nsamples in chunks: %lld\nwal records: "
      "%lld\nmin time: %lld\nmax time: %lld\n",
      static_cast<long long>(report->series),
      static_cast<long long>(report->chunks),
      static_cast<long long>(report->samples),
      static_cast<long long>(report->wal_records),
      static_cast<long long>(report->min_time),
      static_cast<long long>(report->max_time));
  for (const std::string& p : report->problems) {
    std::printf("PROBLEM: %s\n", p.c_str());
  }
  std::printf("%s\n", report->ok() ? "OK" : "CORRUPT");
  return report->ok() ? 0 : 1;
}

int Import(const std::string& dir, const std::string& file) {
  DBOptions opts;
  opts.path = dir;
  opts.maintenance_interval = absl::ZeroDuration();
  opts.retention = absl::ZeroDuration();  // keep whatever is imported
  auto db = DB::Open(opts);
  if (!db.ok()) {
    std::fprintf(stderr, "import: %s\n", db.status().ToString().c_str());
    return 1;
  }
  auto st = ImportOpenMetricsFile(db->get(), file);
  if (!st.ok()) {
    std::fprintf(stderr, "import %s: %s\n", file.c_str(),
                 st.status().ToString().c_str());
    return 1;
  }
  // Reads should seek one sorted run of chunk files, not every overlapping
  // file a load left (the harness's instant quantile spent 24 % of its CPU
  // in those seeks). A bulk load into an empty key range is one run
  // already; only a load that overlapped stored data is compacted.
  absl::Status c;
  absl::StatusOr<int> runs = (*db)->ChunkSortedRuns();
  if (!runs.ok() || *runs > 1) c = (*db)->CleanTombstones();
  if (c.ok()) c = (*db)->Close();
  if (!c.ok()) {
    std::fprintf(stderr, "import: closing %s: %s\n", dir.c_str(),
                 c.ToString().c_str());
    return 1;
  }
  std::printf(
      "imported %lld samples in %lld series (%lld chunks), %lld..%lld\n",
      static_cast<long long>(st->samples), static_cast<long long>(st->series),
      static_cast<long long>(st->chunks), static_cast<long long>(st->min_time),
      static_cast<long long>(st->max_time));
  return 0;
}

int Stats(const std::string& dir, int top_n) {
  DBOptions opts;
  opts.path = dir;
  opts.maintenance_interval = absl::ZeroDuration();
  opts.retention = absl::ZeroDuration();
  auto db = DB::Open(opts);
  if (!db.ok()) {
    std::fprintf(stderr, "stats: %s\n", db.status().ToString().c_str());
    return 1;
  }
  TsdbStatus s = (*db)->CardinalityStats(top_n);
  std::printf(
      "series: %lld\nlabel pairs: %lld\nmin time: %lld\nmax time: %lld\n",
      static_cast<long long>(s.num_series),
      static_cast<long long>(s.num_label_pairs),
      static_cast<long long>(s.min_time), static_cast<long long>(s.max_time));
  std::printf("top metric names by series:\n");
  for (const auto& e : s.series_count_by_metric_name) {
    std::printf("  %8lld %s\n", static_cast<long long>(e.value),
                e.name.c_str());
  }
  std::printf("top label names by value count:\n");
  for (const auto& e : s.label_value_count_by_label_name) {
    std::printf("  %8lld %s\n", static_cast<long long>(e.value),
                e.name.c_str());
  }
  return 0;
}

}  // namespace

int TsdbToolMain(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string cmd = argv[0];
  if (cmd == "check" && argc == 2) return Check(argv[1]);
  if (cmd == "import" && argc == 3) return Import(argv[1], argv[2]);
  if (cmd == "stats" && (argc == 2 || argc == 3)) {
    int n = 10;
    if (argc == 3 && !absl::SimpleAtoi(argv[2], &n)) return Usage();
    return Stats(argv[1], n);
  }
  return Usage();
}

}  // namespace vigil::tsdb
