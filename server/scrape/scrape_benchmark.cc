// End-to-end append cost of a scrape in steady state (body already fetched):
// parse + scrape cache + Append(ref) + staleness bookkeeping + report.
//
//   bazel run --config=opt //server/scrape:scrape_benchmark
#include <memory>
#include <string>

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

void Run(benchmark::State& state, tsdb::Appendable* db) {
  // Debian's Abseil is built with deadlock detection on: every Mutex::Lock
  // walks a global lock graph. Production binaries turn it off; so do we.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using tsdb::textparse::Format;
  int samples;
  // Two bodies with different values, alternated like successive scrapes.
  ScrapeBody bodies[2];
  for (int i = 0; i < 2; ++i) {
    bodies[i].content_type = "text/plain; version=0.0.4";
    bodies[i].data =
        tsdb::textparse::NodeExporterBody(static_cast<size_t>(state.range(0)),
                                          Format::kPrometheusText, &samples, i);
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
    t += absl::Seconds(15);
    absl::Status s =
        loop.AppendScrape(bodies[++i & 1], t, absl::ZeroDuration());
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  state.counters["samples"] = samples;
  state.counters["s_per_sample"] = benchmark::Counter(
      static_cast<double>(samples) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_SteadyStateScrape_NullStorage(benchmark::State& state) {
  NullAppendable db;
  Run(state, &db);
}
BENCHMARK(BM_SteadyStateScrape_NullStorage)->Arg(64 << 10)->Arg(1 << 20);

void BM_SteadyStateScrape_InMemoryDB(benchmark::State& state) {
  tsdb::DBOptions o;
  o.maintenance_interval = absl::ZeroDuration();
  auto db = tsdb::DB::Open(o);
  if (!db.ok()) {
    state.SkipWithError("DB::Open failed");
    return;
  }
  Run(state, db->get());
}
BENCHMARK(BM_SteadyStateScrape_InMemoryDB)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace vigil::scrape
