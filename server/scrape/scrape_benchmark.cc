// End-to-end append cost of a scrape in steady state (body already fetched):
// parse + scrape cache + Append(ref) + staleness bookkeeping + report, into
// no storage, the in-memory head, and the head with its WAL on disk.
//
//   bazel run --config=opt //server/scrape:scrape_benchmark
#include <malloc.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/scrape/scrape_loop.h"
#include "tsdb/db.h"
#include "tsdb/textparse/internal/exposition_gen.h"

namespace vigil::scrape {
namespace {

// Accepts everything; isolates the scrape path from storage.
class NullAppender : public tsdb::Appender {
 public:
  explicit NullAppender(uint64_t* next) : next_(next) {}
  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef ref,
                                         const tsdb::Labels&, int64_t,
                                         double) override {
    return ref != 0 ? ref : ++*next_;
  }
  absl::Status Commit() override { return absl::OkStatus(); }
  void Rollback() override {}

 private:
  uint64_t* next_;
};

class NullAppendable : public tsdb::Appendable {
 public:
  std::unique_ptr<tsdb::Appender> NewAppender() override {
    return std::make_unique<NullAppender>(&next_);
  }

 private:
  uint64_t next_ = 0;
};

class NoScraper : public Scraper {
 public:
  absl::Status Scrape(absl::Duration, ScrapeBody*) override {
    return absl::UnimplementedError("benchmark");
  }
};

enum class Shape { kNodeBytes, kNode, kHistogram };

// Steady-state scrapes of one target into `db`: bodies alternate between
// two rounds so every value changes between scrapes, as with real counters.
// For kNodeBytes, range(0) is a body size; otherwise a series count.
void Run(benchmark::State& state, tsdb::Appendable* db, Shape shape) {
  // Debian's Abseil is built with deadlock detection on: every Mutex::Lock
  // walks a global lock graph. Production binaries turn it off; so do we.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using tsdb::textparse::Format;
  int samples = static_cast<int>(state.range(0));
  ScrapeBody bodies[2];
  for (int i = 0; i < 2; ++i) {
    bodies[i].content_type = "text/plain; version=0.0.4";
    switch (shape) {
      case Shape::kNodeBytes:
        bodies[i].data = tsdb::textparse::NodeExporterBody(
            static_cast<size_t>(state.range(0)), Format::kPrometheusText,
            &samples, i);
        break;
      case Shape::kNode:
        bodies[i].data = tsdb::textparse::NodeExporterSeriesBody(
            samples, Format::kPrometheusText, i);
        break;
      case Shape::kHistogram:
        bodies[i].data = tsdb::textparse::HistogramSeriesBody(
            samples, Format::kPrometheusText, i);
        break;
    }
  }
  tsdb::Labels target = *tsdb::Labels::FromPairs(
      {{"job", "node"}, {"instance", "10.0.0.1:9100"}});
  ScrapeLoop loop(db, std::make_unique<NoScraper>(), target, ScrapeOptions{});
  absl::Time t = absl::Now() - absl::Hours(1);
  // Warm the cache (first scrape resolves every series).
  if (!loop.AppendScrape(bodies[0], t, absl::ZeroDuration()).ok()) {
    state.SkipWithError("first scrape failed");
    return;
  }
  int i = 0;
  for (auto _ : state) {
    t += absl::Seconds(1);
    absl::Status s =
        loop.AppendScrape(bodies[++i & 1], t, absl::ZeroDuration());
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  if (loop.last_report().samples_scraped != static_cast<uint64_t>(samples)) {
    state.SkipWithError("not every sample was scraped");
    return;
  }
  state.counters["samples"] = samples;
  state.counters["bytes"] = static_cast<double>(bodies[0].data.size());
  state.counters["s_per_sample"] = benchmark::Counter(
      static_cast<double>(samples) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void RunNull(benchmark::State& state, Shape shape) {
  NullAppendable db;
  Run(state, &db, shape);
}

void RunInMemory(benchmark::State& state, Shape shape) {
  tsdb::DBOptions o;
  o.maintenance_interval = absl::ZeroDuration();
  auto db = tsdb::DB::Open(o);
  if (!db.ok()) {
    state.SkipWithError("DB::Open failed");
    return;
  }
  Run(state, db->get(), shape);
}

// The whole path a production scrape takes after the body is read: parse,
// cache, head append, WAL write on commit, report series.
void RunWithWal(benchmark::State& state, Shape shape) {
  char tmpl[] = "/tmp/scrape_benchmark.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    tsdb::DBOptions o;
    o.path = tmpl;
    o.maintenance_interval = absl::ZeroDuration();
    auto db = tsdb::DB::Open(o);
    if (!db.ok()) {
      state.SkipWithError(std::string(db.status().message()).c_str());
      return;
    }
    Run(state, db->get(), shape);
  }
  std::filesystem::remove_all(tmpl);
}

// Figures quoted in docs/status.md (generated body of a given size).
void BM_SteadyStateScrape_NullStorage(benchmark::State& state) {
  RunNull(state, Shape::kNodeBytes);
}
BENCHMARK(BM_SteadyStateScrape_NullStorage)->Arg(64 << 10)->Arg(1 << 20);

void BM_SteadyStateScrape_InMemoryDB(benchmark::State& state) {
  RunInMemory(state, Shape::kNodeBytes);
}
BENCHMARK(BM_SteadyStateScrape_InMemoryDB)->Arg(64 << 10)->Arg(1 << 20);

// 5,000 series per target, as in the side-by-side harness.
void BM_Scrape5k_Node_Null(benchmark::State& state) {
  RunNull(state, Shape::kNode);
}
BENCHMARK(BM_Scrape5k_Node_Null)->Arg(5000);
void BM_Scrape5k_Histogram_Null(benchmark::State& state) {
  RunNull(state, Shape::kHistogram);
}
BENCHMARK(BM_Scrape5k_Histogram_Null)->Arg(5000);
void BM_Scrape5k_Node_InMemoryDB(benchmark::State& state) {
  RunInMemory(state, Shape::kNode);
}
BENCHMARK(BM_Scrape5k_Node_InMemoryDB)->Arg(5000);
void BM_Scrape5k_Node_Wal(benchmark::State& state) {
  RunWithWal(state, Shape::kNode);
}
BENCHMARK(BM_Scrape5k_Node_Wal)->Arg(5000);
void BM_Scrape5k_Histogram_Wal(benchmark::State& state) {
  RunWithWal(state, Shape::kHistogram);
}
BENCHMARK(BM_Scrape5k_Histogram_Wal)->Arg(5000);

// Heap bytes in use (allocated, not free-but-retained) per active series
// after 10 targets x range(0) series, node and histogram shapes, were
// scraped 3 times into the head with its WAL: scrape caches, head, WAL and
// RocksDB buffers. The harness's RSS per series is this plus allocator
// slack and the binary; this figure does not move with the allocator's
// mood, so it shows what a change to a data structure saved.
void BM_ScrapeHeapPerSeries(benchmark::State& state) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using tsdb::textparse::Format;
  const int series = static_cast<int>(state.range(0));
  constexpr int kTargets = 10;
  auto in_use = [] {
    struct mallinfo2 mi = mallinfo2();
    return static_cast<double>(mi.uordblks + mi.hblkhd);
  };
  for (auto _ : state) {
    char tmpl[] = "/tmp/scrape_benchmark.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      state.SkipWithError("mkdtemp failed");
      return;
    }
    {
      ScrapeBody bodies[2][2];
      for (int shape = 0; shape < 2; ++shape) {
        for (int round = 0; round < 2; ++round) {
          ScrapeBody& b = bodies[shape][round];
          b.content_type = "text/plain; version=0.0.4";
          b.data = shape == 0 ? tsdb::textparse::NodeExporterSeriesBody(
                                    series, Format::kPrometheusText, round)
                              : tsdb::textparse::HistogramSeriesBody(
                                    series, Format::kPrometheusText, round);
        }
      }
      const double before = in_use();
      // range(1) == 1: the scrape caches alone (no storage); 2: the
      // in-memory head without WAL and RocksDB.
      NullAppendable null_db;
      tsdb::DBOptions o;
      if (state.range(1) != 2) o.path = tmpl;
      o.maintenance_interval = absl::ZeroDuration();
      auto opened = tsdb::DB::Open(o);
      if (!opened.ok()) {
        state.SkipWithError(std::string(opened.status().message()).c_str());
        return;
      }
      tsdb::Appendable* db = state.range(1) == 1
                                 ? static_cast<tsdb::Appendable*>(&null_db)
                                 : opened->get();
      std::vector<std::unique_ptr<ScrapeLoop>> loops;
      for (int i = 0; i < kTargets; ++i) {
        tsdb::Labels target = *tsdb::Labels::FromPairs(
            {{"job", "node"},
             {"instance", absl::StrCat("10.0.0.", i + 1, ":9100")}});
        loops.push_back(std::make_unique<ScrapeLoop>(
            db, std::make_unique<NoScraper>(), target, ScrapeOptions{}));
      }
      absl::Time t = absl::Now() - absl::Hours(1);
      for (int round = 0; round < 3; ++round) {
        t += absl::Seconds(1);
        for (int i = 0; i < kTargets; ++i) {
          absl::Status s = loops[i]->AppendScrape(bodies[i & 1][round & 1], t,
                                                  absl::ZeroDuration());
          if (!s.ok()) {
            state.SkipWithError(std::string(s.message()).c_str());
            return;
          }
        }
      }
      const double active = static_cast<double>(series) * kTargets;
      state.counters["heap_bytes_per_series"] = (in_use() - before) / active;
    }
    std::filesystem::remove_all(tmpl);
  }
}
BENCHMARK(BM_ScrapeHeapPerSeries)
    ->Args({5000, 0})
    ->Args({5000, 1})
    ->Args({5000, 2})
    ->Iterations(1);

// Steady state of 10 targets x 5,000 series (node and histogram shapes)
// into one head with its WAL, each iteration one scrape of every target:
// 50k series outgrow the CPU caches as in the side-by-side harness, which
// a single 5,000-series target does not.
void BM_Scrape10x5k_Wal(benchmark::State& state) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using tsdb::textparse::Format;
  constexpr int kTargets = 10;
  constexpr int kSeries = 5000;
  char tmpl[] = "/tmp/scrape_benchmark.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    ScrapeBody bodies[2][2];
    for (int shape = 0; shape < 2; ++shape) {
      for (int round = 0; round < 2; ++round) {
        ScrapeBody& b = bodies[shape][round];
        b.content_type = "text/plain; version=0.0.4";
        b.data = shape == 0 ? tsdb::textparse::NodeExporterSeriesBody(
                                  kSeries, Format::kPrometheusText, round)
                            : tsdb::textparse::HistogramSeriesBody(
                                  kSeries, Format::kPrometheusText, round);
      }
    }
    tsdb::DBOptions o;
    o.path = tmpl;
    o.maintenance_interval = absl::ZeroDuration();
    auto db = tsdb::DB::Open(o);
    if (!db.ok()) {
      state.SkipWithError(std::string(db.status().message()).c_str());
      return;
    }
    std::vector<std::unique_ptr<ScrapeLoop>> loops;
    for (int i = 0; i < kTargets; ++i) {
      tsdb::Labels target = *tsdb::Labels::FromPairs(
          {{"job", "node"},
           {"instance", absl::StrCat("10.0.0.", i + 1, ":9100")}});
      loops.push_back(std::make_unique<ScrapeLoop>(
          db->get(), std::make_unique<NoScraper>(), target, ScrapeOptions{}));
    }
    absl::Time t = absl::Now() - absl::Hours(1);
    int round = 0;
    auto scrape_all = [&]() -> bool {
      t += absl::Seconds(1);
      ++round;
      for (int i = 0; i < kTargets; ++i) {
        absl::Status s = loops[i]->AppendScrape(bodies[i & 1][round & 1], t,
                                                absl::ZeroDuration());
        if (!s.ok()) {
          state.SkipWithError(std::string(s.message()).c_str());
          return false;
        }
      }
      return true;
    };
    if (!scrape_all()) return;  // warm the caches
    for (auto _ : state) {
      if (!scrape_all()) return;
    }
    state.counters["s_per_sample"] = benchmark::Counter(
        static_cast<double>(kTargets * kSeries) *
            static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  }
  std::filesystem::remove_all(tmpl);
}
BENCHMARK(BM_Scrape10x5k_Wal)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace vigil::scrape
