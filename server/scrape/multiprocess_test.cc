// Multi-process exporters (the gunicorn problem, seed S3): an application
// whose worker processes each keep their own counters must expose one
// endpoint per worker, scraped as separate targets of one job, and be
// summed by job in queries. These tests run scrape loops into the real DB
// and evaluate the queries with the real engine.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "promql/engine.h"
#include "server/scrape/scrape_loop.h"
#include "tsdb/db.h"

namespace vigil::scrape {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;  // ms
constexpr int64_t kInterval = 15'000;

class NoScraper : public Scraper {
 public:
  absl::Status Scrape(absl::Duration, ScrapeBody*) override {
    return absl::UnimplementedError("bodies are appended directly");
  }
};

// A worker process: its request counter grows at `rate`/s from the moment
// it (re)started.
struct Worker {
  double rate = 0;
  int64_t started_ms = kT0;
  double Count(int64_t now_ms) const {
    return rate * static_cast<double>(now_ms - started_ms) / 1000.0;
  }
  ScrapeBody Body(int64_t now_ms) const {
    ScrapeBody b;
    b.content_type = "text/plain; version=0.0.4";
    b.data = absl::StrCat(
        "# HELP http_requests_total Requests handled by this worker.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"GET\"} ",
        Count(now_ms), "\n");
    return b;
  }
};

class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    tsdb::DBOptions o;
    o.maintenance_interval = absl::ZeroDuration();
    o.now_ms = [] { return kT0 + 3'600'000; };
    auto db = tsdb::DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    engine_ =
        std::make_unique<promql::Engine>(promql::EngineOptions{}, db_.get());
  }

  std::unique_ptr<ScrapeLoop> Target(absl::string_view instance) {
    return std::make_unique<ScrapeLoop>(
        db_.get(), std::make_unique<NoScraper>(),
        *tsdb::Labels::FromPairs(
            {{"job", "app"}, {"instance", std::string(instance)}}),
        ScrapeOptions{});
  }

  // `sum by (job) (rate(...[1m]))` at `t`: the job's request rate.
  double JobRate(int64_t t) {
    absl::StatusOr<promql::QueryResult> r = engine_->InstantQuery(
        "sum by (job) (rate(http_requests_total[1m]))", t);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return -1;
    const auto* v = std::get_if<promql::Vector>(&r->value);
    EXPECT_TRUE(v != nullptr && v->size() == 1);
    if (v == nullptr || v->size() != 1) return -1;
    EXPECT_EQ((*v)[0].metric.ToString(), "{job=\"app\"}");
    return (*v)[0].v;
  }

  std::unique_ptr<tsdb::DB> db_;
  std::unique_ptr<promql::Engine> engine_;
};

TEST_F(MultiProcessTest, PerWorkerTargetsSummedByJobGiveTheTrueRate) {
  Worker a{10.0, kT0};
  Worker b{5.0, kT0};
  auto ta = Target("127.0.0.1:8001");
  auto tb = Target("127.0.0.1:8002");
  // Worker b is restarted (e.g. gunicorn's max_requests) at 292.5 s: its
  // counter starts again from zero.
  const int64_t restart = kT0 + 292'500;
  for (int64_t t = kT0; t <= kT0 + 600'000; t += kInterval) {
    if (t > restart && b.started_ms == kT0) b.started_ms = restart;
    ASSERT_TRUE(ta->AppendScrape(a.Body(t), absl::FromUnixMillis(t),
                                 absl::ZeroDuration())
                    .ok());
    ASSERT_TRUE(tb->AppendScrape(b.Body(t), absl::FromUnixMillis(t),
                                 absl::ZeroDuration())
                    .ok());
  }
  // Steady state: 10/s + 5/s.
  EXPECT_DOUBLE_EQ(JobRate(kT0 + 240'000), 15.0);
  EXPECT_DOUBLE_EQ(JobRate(kT0 + 600'000), 15.0);
  // Across the restart rate() sees b's drop as a counter reset: only the
  // 7.5 s b counted but was never scraped for (37.5 requests) are lost.
  // Window [270 s, 330 s]: b's increase is 1425 - 1350 + 187.5 = 262.5.
  EXPECT_DOUBLE_EQ(JobRate(kT0 + 330'000), 10.0 + 262.5 / 60.0);
}

TEST_F(MultiProcessTest, OneTargetServedByAlternatingWorkersIsWrong) {
  // What the seed warns about: one metrics URL in front of two workers,
  // each scrape answered by whichever worker takes it. The series jumps
  // between the two counters, every drop looks like a reset, and the rate
  // is an order of magnitude off.
  Worker a{10.0, kT0};
  Worker b{5.0, kT0};
  auto t1 = Target("127.0.0.1:8000");
  int i = 0;
  for (int64_t t = kT0; t <= kT0 + 600'000; t += kInterval, ++i) {
    const Worker& w = i % 2 == 0 ? a : b;
    ASSERT_TRUE(t1->AppendScrape(w.Body(t), absl::FromUnixMillis(t),
                                 absl::ZeroDuration())
                    .ok());
  }
  // Window [540 s, 600 s]: a 5400, b 2775, a 5700, b 2925, a 6000 — two
  // "resets": (6000 - 5400 + 5400 + 5700) / 60 = 195/s instead of 15/s.
  EXPECT_DOUBLE_EQ(JobRate(kT0 + 600'000), 195.0);
}

}  // namespace
}  // namespace vigil::scrape
