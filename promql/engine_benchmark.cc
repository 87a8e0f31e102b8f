// End-to-end query benchmarks on TestStorage (in-memory, no decoding cost),
// so they measure the evaluator itself. Run with:
//   bazel run --config=opt //promql:engine_benchmark
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "promql/engine.h"
#include "promql/evaluator.h"
#include "promql/parser/parser.h"
#include "promql/testing/test_storage.h"
#include "tsdb/db.h"

namespace vigil::promql {
namespace {

constexpr int64_t kScrapeMs = 15'000;
constexpr int64_t kHour = 3'600'000;

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

// 50 jobs x 4 instances x 12 buckets of x_bucket (+ x_count), scraped every
// 15 s for 24 h + 5 m. Counters grow by a per-bucket rate with jitter and
// reset every 6 h for a third of the targets.
template <typename Sink>
void GenerateHistograms(Sink sink) {
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                       "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
  const int64_t end = 24 * kHour + 5 * 60'000;
  uint64_t rng = 42;
  for (int job = 0; job < 50; ++job) {
    for (int inst = 0; inst < 4; ++inst) {
      std::vector<double> cum(12, 0);
      std::string j = "job-" + std::to_string(job);
      std::string in = "inst-" + std::to_string(inst);
      std::vector<tsdb::Labels> ls;
      for (int b = 0; b < 12; ++b) {
        ls.push_back(L({{"__name__", "x_bucket"},
                        {"instance", in},
                        {"job", j},
                        {"le", les[b]}}));
      }
      ls.push_back(L({{"__name__", "x_count"}, {"instance", in}, {"job", j}}));
      std::vector<std::vector<tsdb::Sample>> data(13);
      for (int64_t t = 0; t <= end; t += kScrapeMs) {
        if (t % (6 * kHour) == 0 && t > 0 && (job + inst) % 3 == 0) {
          std::fill(cum.begin(), cum.end(), 0);  // process restart
        }
        double acc = 0;
        for (int b = 0; b < 12; ++b) {
          rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
          acc += static_cast<double>((rng >> 33) % 7);
          cum[b] += acc;
          data[b].push_back({t, cum[b]});
        }
        data[12].push_back({t, cum[11]});
      }
      for (int b = 0; b < 13; ++b) sink(ls[b], data[b]);
    }
  }
}

testing::TestStorage* HistogramStorage() {
  static testing::TestStorage* st = [] {
    auto* s = new testing::TestStorage();
    GenerateHistograms(
        [&](const tsdb::Labels& l, const std::vector<tsdb::Sample>& d) {
          s->AddSeries(l, d);
        });
    return s;
  }();
  return st;
}

// The same data in the real storage engine (compressed chunks in memory),
// so the numbers include chunk decoding.
tsdb::DB* HistogramDB() {
  static tsdb::DB* db = [] {
    tsdb::DBOptions o;
    o.now_ms = [] { return 24 * kHour; };
    o.maintenance_interval = absl::ZeroDuration();
    auto* d = std::move(*tsdb::DB::Open(o)).release();
    GenerateHistograms(
        [&](const tsdb::Labels& l, const std::vector<tsdb::Sample>& data) {
          auto app = d->NewAppender();
          tsdb::SeriesRef ref = 0;
          for (const tsdb::Sample& x : data) {
            ref = *app->Append(ref, l, x.t, x.v);
          }
          if (!app->Commit().ok()) std::abort();
        });
    return d;
  }();
  return db;
}

// 50 instances x 4 cpus x 8 modes of node_cpu_seconds_total for 6 h + 5 m.
testing::TestStorage* CpuStorage() {
  static testing::TestStorage* st = [] {
    auto* s = new testing::TestStorage();
    const char* modes[] = {"idle", "user", "system",  "iowait",
                           "nice", "irq",  "softirq", "steal"};
    const int64_t end = 6 * kHour + 5 * 60'000;
    for (int inst = 0; inst < 50; ++inst) {
      for (int cpu = 0; cpu < 4; ++cpu) {
        for (int m = 0; m < 8; ++m) {
          tsdb::Labels l = L({{"__name__", "node_cpu_seconds_total"},
                              {"cpu", std::to_string(cpu)},
                              {"instance", "host-" + std::to_string(inst)},
                              {"job", "node"},
                              {"mode", modes[m]}});
          double v = 0;
          std::vector<tsdb::Sample> data;
          for (int64_t t = 0; t <= end; t += kScrapeMs) {
            v += 15.0 * (m + 1) / 36.0;
            data.push_back({t, v});
          }
          s->AddSeries(l, data);
        }
      }
    }
    return s;
  }();
  return st;
}

void RunRange(benchmark::State& state, tsdb::Queryable* st,
              const std::string& q, int64_t start, int64_t end, int64_t step) {
  Engine engine(EngineOptions{}, st);
  size_t points = 0;
  for (auto _ : state) {
    auto r = engine.RangeQuery(q, start, end, step);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    points = 0;
    for (const auto& s : std::get<Matrix>(r->value)) points += s.points.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["out_points"] = static_cast<double>(points);
}

void BM_HistogramQuantile24h(benchmark::State& state) {
  RunRange(state, HistogramStorage(),
           "histogram_quantile(0.99, sum by (le, job) (rate(x_bucket[5m])))",
           5 * 60'000, 24 * kHour + 5 * 60'000, 60'000);
}
BENCHMARK(BM_HistogramQuantile24h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

// The evaluator with and without folding sum by (le, job) into the rate
// workers (EvalParams::fuse_aggregations), on the same in-memory data.
void RunEvaluate(benchmark::State& state, tsdb::Queryable* st,
                 const std::string& q, int64_t start, int64_t end, int64_t step,
                 bool fuse) {
  absl::StatusOr<ExprPtr> e = ParseExpr(q);
  if (!e.ok()) {
    state.SkipWithError(std::string(e.status().message()).c_str());
    return;
  }
  EvalParams p;
  p.start_ms = start;
  p.end_ms = end;
  p.step_ms = step;
  p.max_threads = std::max(
      1, std::min(8, static_cast<int>(std::thread::hardware_concurrency())));
  p.fuse_aggregations = fuse;
  QueryStats stats;
  for (auto _ : state) {
    absl::StatusOr<QueryResult> r = Evaluate(**e, p, st, &stats);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(r);
  }
  state.counters["peak_samples"] = static_cast<double>(stats.peak_samples);
}

void BM_HistogramQuantile24hFused(benchmark::State& state) {
  RunEvaluate(state, HistogramStorage(),
              "histogram_quantile(0.99, sum by (le, job) (rate(x_bucket[5m])))",
              5 * 60'000, 24 * kHour + 5 * 60'000, 60'000, state.range(0));
}
BENCHMARK(BM_HistogramQuantile24hFused)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_HistogramQuantile24hOnDB(benchmark::State& state) {
  RunRange(state, HistogramDB(),
           "histogram_quantile(0.99, sum by (le, job) (rate(x_bucket[5m])))",
           5 * 60'000, 24 * kHour + 5 * 60'000, 60'000);
}
BENCHMARK(BM_HistogramQuantile24hOnDB)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_BucketRatio6hOnDB(benchmark::State& state) {
  RunRange(state, HistogramDB(),
           "sum(rate(x_bucket{le=\"0.1\"}[5m])) by (job) / "
           "sum(rate(x_count[5m])) by (job)",
           18 * kHour, 24 * kHour, 15'000);
}
BENCHMARK(BM_BucketRatio6hOnDB)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_BucketRatio6h(benchmark::State& state) {
  RunRange(state, HistogramStorage(),
           "sum(rate(x_bucket{le=\"0.1\"}[5m])) by (job) / "
           "sum(rate(x_count[5m])) by (job)",
           18 * kHour, 24 * kHour, 15'000);
}
BENCHMARK(BM_BucketRatio6h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_BucketRatioOneJob6h(benchmark::State& state) {
  RunRange(state, HistogramStorage(),
           "sum(rate(x_bucket{job=\"job-1\", le=\"0.1\"}[5m])) / "
           "sum(rate(x_count{job=\"job-1\"}[5m])) < 0.99",
           18 * kHour, 24 * kHour, 15'000);
}
BENCHMARK(BM_BucketRatioOneJob6h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_CpuRateByInstance6h(benchmark::State& state) {
  RunRange(state, CpuStorage(),
           "sum by (instance) (rate(node_cpu_seconds_total[5m]))", 5 * 60'000,
           6 * kHour + 5 * 60'000, 60'000);
}
BENCHMARK(BM_CpuRateByInstance6h)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_InstantSumRate(benchmark::State& state) {
  tsdb::Queryable* st = CpuStorage();
  Engine engine(EngineOptions{}, st);
  for (auto _ : state) {
    auto r = engine.InstantQuery(
        "sum by (instance) (rate(node_cpu_seconds_total[5m]))", 3 * kHour);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_InstantSumRate)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

}  // namespace
}  // namespace vigil::promql
