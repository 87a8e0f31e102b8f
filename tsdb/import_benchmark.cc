// Backfill throughput: ImportOpenMetrics into a fresh on-disk DB, the
// whole path of `vigil import openmetrics` after reading the file (parse,
// encode, bulk load). Items are samples; with MeasureProcessCPUTime the
// rate is per CPU second of all threads.
//
//   bazel run -c opt //tsdb:import_benchmark
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "tsdb/import.h"

namespace vigil::tsdb {
namespace {

// `series` series x `samples` samples at 15 s, histogram-bucket-like labels
// and slowly growing counter values, OpenMetrics with second timestamps.
// Series-major (each series' lines together, as promtool and the harness
// write them) or time-major (one line per series per timestamp).
std::string Input(int series, int samples, bool time_major) {
  std::string out = "# TYPE req histogram\n";
  auto line = [&](int s, int i) {
    absl::StrAppend(&out, "req_bucket{job=\"job", s / 14, "\",instance=\"inst",
                    s % 4, "\",le=\"", (s % 14) * 0.25, "\"} ",
                    1000 + i * (s % 7 + 1) + (i * 37 % 11), ".0 ",
                    1'700'000'000 + i * 15, "\n");
  };
  if (time_major) {
    for (int i = 0; i < samples; ++i) {
      for (int s = 0; s < series; ++s) line(s, i);
    }
  } else {
    for (int s = 0; s < series; ++s) {
      for (int i = 0; i < samples; ++i) line(s, i);
    }
  }
  out += "# EOF\n";
  return out;
}

void BM_Import(benchmark::State& state) {
  const int series = static_cast<int>(state.range(0));
  const int samples = static_cast<int>(state.range(1));
  const std::string text = Input(series, samples, state.range(2) != 0);
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir =
      absl::StrCat(tmp ? tmp : "/tmp", "/import_bench_", getpid());
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    DBOptions o;
    o.path = dir;
    o.retention = absl::ZeroDuration();
    o.maintenance_interval = absl::ZeroDuration();
    auto db = DB::Open(o);
    if (!db.ok()) {
      state.SkipWithError(std::string(db.status().message()).c_str());
      return;
    }
    state.ResumeTiming();
    auto st = ImportOpenMetrics(db->get(), text);
    if (!st.ok()) {
      state.SkipWithError(std::string(st.status().message()).c_str());
      return;
    }
    state.PauseTiming();
    db->reset();
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations() * series * samples);
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(text.size()));
}
// 1M samples: 200 series x 5000 (about 21 h at 15 s) in both orders.
BENCHMARK(BM_Import)
    ->Args({200, 5000, 0})
    ->Args({200, 5000, 1})
    ->ArgNames({"series", "samples", "time_major"})
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace vigil::tsdb
