// The four queries on the real storage engine: a tsdb::DB with a
// data directory, so sealed chunks are read back from RocksDB and the open
// head chunks from memory, and every query pays for chunk decoding.
//
// Data (24 h + 5 m at 15 s, ~2 % of scrapes a few ms late):
//   x_bucket / x_count: 50 jobs x 4 instances x 12 buckets (+1 count),
//     integer counters, a third of the targets restart every 6 h;
//   node_cpu_seconds_total: 75 instances x 5 cpus x 8 modes = 3,000 series,
//     centisecond counters like node-exporter's.
// Setup appends ~32 M samples and takes a while; the queries are timed in
// process CPU time (the machine is shared, wall times are noisy). Run with:
//   bazel run -c opt //benchmarks:query_benchmark
#include <malloc.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "promql/engine.h"
#include "tsdb/db.h"

namespace vigil {
namespace {

constexpr int64_t kScrapeMs = 15'000;
constexpr int64_t kHour = 3'600'000;
// 2023-11-14T22:13:20Z: realistic magnitudes for timestamps.
constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kEnd = kT0 + 24 * kHour + 5 * 60'000;

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

uint64_t Next(uint64_t* rng) {
  *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return *rng >> 33;
}

// Scrape time of step t: on time, or (1 in 50) a few ms late.
int64_t Jitter(int64_t t, uint64_t* rng) {
  return Next(rng) % 50 == 0 ? t + 1 + static_cast<int64_t>(Next(rng) % 20) : t;
}

void AppendSeries(tsdb::DB* db, const tsdb::Labels& l,
                  const std::vector<tsdb::Sample>& data) {
  auto app = db->NewAppender();
  tsdb::SeriesRef ref = 0;
  for (const tsdb::Sample& x : data) {
    absl::StatusOr<tsdb::SeriesRef> r = app->Append(ref, l, x.t, x.v);
    if (!r.ok()) std::abort();
    ref = *r;
  }
  if (!app->Commit().ok()) std::abort();
}

void GenerateHistograms(tsdb::DB* db) {
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                       "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
  uint64_t rng = 42;
  for (int job = 0; job < 50; ++job) {
    for (int inst = 0; inst < 4; ++inst) {
      const std::string j = "job" + std::to_string(job);
      const std::string in = "inst" + std::to_string(inst);
      std::vector<std::vector<tsdb::Sample>> data(13);
      std::vector<double> cum(12, 0);
      for (int64_t t = kT0; t <= kEnd; t += kScrapeMs) {
        if ((t - kT0) % (6 * kHour) == 0 && t > kT0 && (job + inst) % 3 == 0) {
          std::fill(cum.begin(), cum.end(), 0);  // process restart
        }
        const int64_t ts = Jitter(t, &rng);
        double acc = 0;
        for (int b = 0; b < 12; ++b) {
          acc += static_cast<double>(Next(&rng) % 7);
          cum[b] += acc;
          data[b].push_back({ts, cum[b]});
        }
        data[12].push_back({ts, cum[11]});
      }
      for (int b = 0; b < 12; ++b) {
        AppendSeries(db,
                     L({{"__name__", "x_bucket"},
                        {"instance", in},
                        {"job", j},
                        {"le", les[b]}}),
                     data[b]);
      }
      AppendSeries(db,
                   L({{"__name__", "x_count"}, {"instance", in}, {"job", j}}),
                   data[12]);
    }
  }
}

void GenerateCpu(tsdb::DB* db) {
  const char* modes[] = {"idle", "user", "system",  "iowait",
                         "nice", "irq",  "softirq", "steal"};
  const double share[] = {0.8, 0.1, 0.05, 0.02, 0.001, 0.002, 0.01, 0.0005};
  uint64_t rng = 7;
  for (int inst = 0; inst < 75; ++inst) {
    for (int cpu = 0; cpu < 5; ++cpu) {
      for (int m = 0; m < 8; ++m) {
        std::vector<tsdb::Sample> data;
        double cs = 1e7 + inst * 1000 + cpu;  // centiseconds
        for (int64_t t = kT0; t <= kEnd; t += kScrapeMs) {
          cs +=
              std::floor(1500 * share[m] * (0.5 + (Next(&rng) % 100) / 100.0));
          data.push_back({Jitter(t, &rng), cs / 100});
        }
        AppendSeries(db,
                     L({{"__name__", "node_cpu_seconds_total"},
                        {"cpu", std::to_string(cpu)},
                        {"instance", "node" + std::to_string(inst)},
                        {"job", "node"},
                        {"mode", modes[m]}}),
                     data);
      }
    }
  }
}

std::string* bench_dir = nullptr;

tsdb::DB* RealDB() {
  static tsdb::DB* db = [] {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    const char* tmp = std::getenv("TEST_TMPDIR");
    bench_dir = new std::string(std::string(tmp != nullptr ? tmp : "/tmp") +
                                "/query_benchmark." + std::to_string(getpid()));
    std::filesystem::remove_all(*bench_dir);
    tsdb::DBOptions o;
    o.path = *bench_dir;
    o.now_ms = [] { return kEnd; };
    o.maintenance_interval = absl::ZeroDuration();
    auto* d = std::move(*tsdb::DB::Open(o)).release();
    GenerateHistograms(d);
    GenerateCpu(d);
    // VIGIL_QUERY_BENCHMARK_MERGE=1: run the chunk merger over the closed
    // ranges first, as a running server's maintenance does.
    if (std::getenv("VIGIL_QUERY_BENCHMARK_MERGE") != nullptr) {
      for (int i = 0; i < 1000; ++i) (void)d->MergeChunks();
      // As maintenance does after each run (DBOptions::tune_malloc): the
      // merge frees ~GBs in small blocks, and a fragmented heap made the
      // instant query's allocations 20-30 % slower.
      malloc_trim(0);
      std::fprintf(stderr, "chunk merges: %lld\n",
                   static_cast<long long>(d->Stats().chunk_merges));
    }
    // VIGIL_QUERY_BENCHMARK_COMPACT=1: compact the chunks (what RocksDB
    // does in the background of a running server), which also drops the
    // merger's deletions.
    if (std::getenv("VIGIL_QUERY_BENCHMARK_COMPACT") != nullptr) {
      (void)d->CleanTombstones();
    }
    // The DB is leaked (benchmarks share it); only its files are removed.
    std::atexit([] { std::filesystem::remove_all(*bench_dir); });
    return d;
  }();
  return db;
}

void Count(const promql::QueryResult& r, size_t* series, size_t* points) {
  *series = *points = 0;
  if (const auto* m = std::get_if<promql::Matrix>(&r.value)) {
    *series = m->size();
    for (const auto& s : *m) *points += s.points.size();
  } else if (const auto* v = std::get_if<promql::Vector>(&r.value)) {
    *series = *points = v->size();
  }
}

void Run(benchmark::State& state, const std::string& q, int64_t start,
         int64_t end, int64_t step) {
  promql::Engine engine(promql::EngineOptions{}, RealDB());
  size_t series = 0, points = 0;
  for (auto _ : state) {
    absl::StatusOr<promql::QueryResult> r =
        step == 0 ? engine.InstantQuery(q, end)
                  : engine.RangeQuery(q, start, end, step);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    Count(*r, &series, &points);
    benchmark::DoNotOptimize(r);
  }
  state.counters["out_series"] = static_cast<double>(series);
  state.counters["out_points"] = static_cast<double>(points);
}

const char kQuantile[] =
    "histogram_quantile(0.99, sum by (le, job) (rate(x_bucket[5m])))";

void BM_QuantileRange24h(benchmark::State& state) {
  Run(state, kQuantile, kEnd - 24 * kHour, kEnd, 60'000);
}
BENCHMARK(BM_QuantileRange24h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_QuantileInstant(benchmark::State& state) {
  Run(state, kQuantile, kEnd, kEnd, 0);
}
BENCHMARK(BM_QuantileInstant)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

// The side-by-side harness's shape (one job), and the seeds' E25 (by job).
void BM_BucketRatioRange6h(benchmark::State& state) {
  Run(state,
      "sum(rate(x_bucket{job=\"job0\", le=\"0.1\"}[5m])) / "
      "sum(rate(x_count{job=\"job0\"}[5m]))",
      kEnd - 6 * kHour, kEnd, 15'000);
}
BENCHMARK(BM_BucketRatioRange6h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_BucketRatioByJobRange6h(benchmark::State& state) {
  Run(state,
      "sum(rate(x_bucket{le=\"0.1\"}[5m])) by (job) / "
      "sum(rate(x_count[5m])) by (job)",
      kEnd - 6 * kHour, kEnd, 15'000);
}
BENCHMARK(BM_BucketRatioByJobRange6h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_CpuRateRange24h(benchmark::State& state) {
  Run(state, "sum by (instance) (rate(node_cpu_seconds_total[5m]))",
      kEnd - 24 * kHour, kEnd, 60'000);
}
BENCHMARK(BM_CpuRateRange24h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

}  // namespace
}  // namespace vigil
