// Inverted-index hot paths: postings intersection and subtraction, label
// matchers (equality and anchored regexes through re2), and series selection
// on an in-memory store shaped like a small cluster (node-exporter-like and
// histogram series). Run with
//   bazel run -c opt //benchmarks:index_benchmark
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "tsdb/postings.h"

namespace vigil::tsdb {
namespace {

// A sorted postings list of `n` refs drawn from [0, universe) with a fixed
// seed, so runs are comparable.
PostingsList RandomPostings(size_t n, uint64_t universe, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> dist(0, universe - 1);
  PostingsList list;
  list.reserve(n);
  for (size_t i = 0; i < n; ++i) list.push_back(dist(rng));
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  return list;
}

// Intersects a large list (e.g. `__name__="x_bucket"`) with a small one
// (e.g. `job="a"`): the common shape of a PromQL selector.
void BM_IntersectSkewed(benchmark::State& state) {
  const size_t large = state.range(0);
  const size_t small = state.range(1);
  PostingsList a = RandomPostings(large, 10 * large, 1);
  PostingsList b = RandomPostings(small, 10 * large, 2);
  for (auto _ : state) {
    PostingsList out = Intersect(a, b);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * (a.size() + b.size()));
}
BENCHMARK(BM_IntersectSkewed)
    ->Args({1 << 20, 1 << 20})
    ->Args({1 << 20, 1 << 10})
    ->Args({1 << 16, 1 << 16});

void BM_IntersectAllThree(benchmark::State& state) {
  const size_t n = state.range(0);
  PostingsList a = RandomPostings(n, 4 * n, 1);
  PostingsList b = RandomPostings(n / 4, 4 * n, 2);
  PostingsList c = RandomPostings(n / 16, 4 * n, 3);
  for (auto _ : state) {
    PostingsList out = IntersectAll({a, b, c});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() *
                          (a.size() + b.size() + c.size()));
}
BENCHMARK(BM_IntersectAllThree)->Arg(1 << 18);

void BM_Subtract(benchmark::State& state) {
  const size_t n = state.range(0);
  PostingsList a = RandomPostings(n, 2 * n, 1);
  PostingsList b = RandomPostings(n / 2, 2 * n, 2);
  for (auto _ : state) {
    PostingsList out = Subtract(a, b);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * (a.size() + b.size()));
}
BENCHMARK(BM_Subtract)->Arg(1 << 18);

// Label values a regex matcher is run against when the index resolves
// `instance=~"..."`: one call per distinct value.
std::vector<std::string> InstanceValues(int n) {
  std::vector<std::string> values;
  values.reserve(n);
  for (int i = 0; i < n; ++i) {
    values.push_back(absl::StrCat("10.0.", i / 250, ".", i % 250, ":9100"));
  }
  return values;
}

void RunMatcher(benchmark::State& state, MatchType type, std::string pattern) {
  absl::StatusOr<Matcher> m = Matcher::Create(type, "instance", pattern);
  if (!m.ok()) {
    state.SkipWithError(std::string(m.status().message()).c_str());
    return;
  }
  const std::vector<std::string> values = InstanceValues(10000);
  for (auto _ : state) {
    int hits = 0;
    for (const std::string& v : values) hits += m->Matches(v);
    benchmark::DoNotOptimize(hits);
  }
  state.SetItemsProcessed(state.iterations() * values.size());
}

void BM_MatcherEqual(benchmark::State& state) {
  RunMatcher(state, MatchType::kEqual, "10.0.3.17:9100");
}
BENCHMARK(BM_MatcherEqual);

void BM_MatcherRegexPrefix(benchmark::State& state) {
  RunMatcher(state, MatchType::kRegexMatch, "10\\.0\\.3\\..*");
}
BENCHMARK(BM_MatcherRegexPrefix);

void BM_MatcherRegexAlternation(benchmark::State& state) {
  RunMatcher(state, MatchType::kRegexMatch,
             "10.0.1.1:9100|10.0.2.2:9100|10.0.3.3:9100");
}
BENCHMARK(BM_MatcherRegexAlternation);

void BM_MatcherRegexNoMatch(benchmark::State& state) {
  RunMatcher(state, MatchType::kRegexNoMatch, ".*:9100");
}
BENCHMARK(BM_MatcherRegexNoMatch);

// An in-memory store with 50 jobs x 4 instances x (12 buckets + count) of a
// histogram plus 8 cpu modes x 2 cpus of node_cpu_seconds_total per instance:
// ~13,600 series, the shape of the engine benchmarks' data.
std::unique_ptr<DB> BuildClusterHead() {
  DBOptions options;  // no path: purely in memory
  // A fixed clock so the samples at t=1s are inside retention.
  options.now_ms = [] { return int64_t{10000}; };
  auto db = DB::Open(options);
  if (!db.ok()) return nullptr;
  static const char* kLe[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                              "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
  static const char* kModes[] = {"idle", "user",    "system", "iowait",
                                 "irq",  "softirq", "steal",  "nice"};
  auto app = (*db)->NewAppender();
  for (int job = 0; job < 50; ++job) {
    for (int inst = 0; inst < 4; ++inst) {
      const std::string job_name = absl::StrCat("job", job);
      const std::string instance =
          absl::StrCat("10.0.", job, ".", inst, ":9100");
      for (const char* le : kLe) {
        auto labels = Labels::FromPairs({{"__name__", "http_resp_time_bucket"},
                                         {"instance", instance},
                                         {"job", job_name},
                                         {"le", le}});
        if (!labels.ok() || !app->Append(0, *labels, 1000, 1).ok())
          return nullptr;
      }
      auto count = Labels::FromPairs({{"__name__", "http_resp_time_count"},
                                      {"instance", instance},
                                      {"job", job_name}});
      if (!count.ok() || !app->Append(0, *count, 1000, 1).ok()) return nullptr;
      for (int cpu = 0; cpu < 2; ++cpu) {
        for (const char* mode : kModes) {
          auto labels =
              Labels::FromPairs({{"__name__", "node_cpu_seconds_total"},
                                 {"cpu", absl::StrCat(cpu)},
                                 {"instance", instance},
                                 {"job", job_name},
                                 {"mode", mode}});
          if (!labels.ok() || !app->Append(0, *labels, 1000, 1).ok()) {
            return nullptr;
          }
        }
      }
    }
  }
  if (!app->Commit().ok()) return nullptr;
  return std::move(*db);
}

void RunSelect(benchmark::State& state, std::vector<Matcher> matchers) {
  static std::unique_ptr<DB> db = BuildClusterHead();
  if (db == nullptr) {
    state.SkipWithError("could not build the in-memory store");
    return;
  }
  SelectHints hints;
  hints.start = 0;
  hints.end = 2000;
  size_t series = 0;
  for (auto _ : state) {
    auto q = db->NewQuerier(0, 2000);
    auto result = (*q)->Select(hints, matchers);
    series = result.ok() ? result->size() : 0;
    benchmark::DoNotOptimize(series);
  }
  state.counters["series"] = static_cast<double>(series);
}

Matcher Must(MatchType type, std::string name, std::string value) {
  return *Matcher::Create(type, std::move(name), std::move(value));
}

// The seeds' bucket selector: one job, one `le` out of 2,400 buckets.
void BM_SelectBucketOfOneJob(benchmark::State& state) {
  RunSelect(state,
            {Must(MatchType::kEqual, "__name__", "http_resp_time_bucket"),
             Must(MatchType::kEqual, "job", "job7"),
             Must(MatchType::kEqual, "le", "0.1")});
}
BENCHMARK(BM_SelectBucketOfOneJob);

// Every bucket of every job: the quantile query's selection.
void BM_SelectAllBuckets(benchmark::State& state) {
  RunSelect(state,
            {Must(MatchType::kEqual, "__name__", "http_resp_time_bucket")});
}
BENCHMARK(BM_SelectAllBuckets);

// A regex on the job plus a negative matcher on the mode.
void BM_SelectCpuRegexAndNotEqual(benchmark::State& state) {
  RunSelect(state,
            {Must(MatchType::kEqual, "__name__", "node_cpu_seconds_total"),
             Must(MatchType::kRegexMatch, "job", "job1.*"),
             Must(MatchType::kNotEqual, "mode", "idle")});
}
BENCHMARK(BM_SelectCpuRegexAndNotEqual);

}  // namespace
}  // namespace vigil::tsdb
