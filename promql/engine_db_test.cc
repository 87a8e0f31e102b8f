// The engine on the real storage engine with a data directory: sealed
// chunks come back from RocksDB (read lazily, by the worker threads) and the
// open ones from memory. Results must equal those on the in-memory
// TestStorage holding the same samples, on the parallel path (many series,
// many steps) and the serial one.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "promql/engine.h"
#include "promql/testing/test_storage.h"
#include "tsdb/db.h"

namespace vigil::promql {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kStep = 15'000;
constexpr int kPoints = 4 * 240 + 20;  // 4 h + 5 m: many sealed chunks

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

class EngineDBTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    dir_ = std::string(std::getenv("TEST_TMPDIR") != nullptr
                           ? std::getenv("TEST_TMPDIR")
                           : "/tmp") +
           "/engine_db_test." + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    tsdb::DBOptions o;
    o.path = dir_;
    o.now_ms = [] { return kT0 + kPoints * kStep; };
    o.maintenance_interval = absl::ZeroDuration();
    auto db = tsdb::DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    const char* les[] = {"0.1", "0.5", "1", "+Inf"};
    uint64_t rng = 1;
    // One commit: the test is about reading, not about WAL syncs.
    auto app = db_->NewAppender();
    for (int job = 0; job < 20; ++job) {
      for (int b = 0; b < 4; ++b) {
        tsdb::Labels l = L({{"__name__", "h_bucket"},
                            {"job", "j" + std::to_string(job)},
                            {"le", les[b]}});
        tsdb::SeriesRef ref = 0;
        double v = 0;
        for (int i = 0; i < kPoints; ++i) {
          rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
          // Counters that reset, with a gap and an odd late scrape.
          if (i == 500 && job % 3 == 0) v = 0;
          if (i > 300 && i < 330 && job % 5 == 0) continue;
          v += static_cast<double>((rng >> 40) % 10) * (b + 1);
          const int64_t t = kT0 + i * kStep + ((rng >> 20) % 17 == 0 ? 7 : 0);
          auto r = app->Append(ref, l, t, v);
          ASSERT_TRUE(r.ok()) << r.status();
          ref = *r;
          mem_.Add(l, t, v);
        }
      }
    }
    ASSERT_TRUE(app->Commit().ok());
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Runs `q` on both storages and expects identical results.
  void Same(const std::string& q, int64_t start, int64_t end, int64_t step) {
    Engine on_db(EngineOptions{}, db_.get());
    Engine on_mem(EngineOptions{}, &mem_);
    auto a = step > 0 ? on_db.RangeQuery(q, start, end, step)
                      : on_db.InstantQuery(q, end);
    auto b = step > 0 ? on_mem.RangeQuery(q, start, end, step)
                      : on_mem.InstantQuery(q, end);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_GT(a->stats.series_selected, 0) << q;
    EXPECT_EQ(a->stats.series_selected, b->stats.series_selected) << q;
    EXPECT_EQ(a->stats.total_samples, b->stats.total_samples) << q;
    if (step > 0) {
      const Matrix& x = std::get<Matrix>(a->value);
      const Matrix& y = std::get<Matrix>(b->value);
      ASSERT_EQ(x.size(), y.size()) << q;
      ASSERT_FALSE(x.empty()) << q;
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(x[i].metric, y[i].metric) << q;
        ASSERT_EQ(x[i].points.size(), y[i].points.size()) << q;
        for (size_t k = 0; k < x[i].points.size(); ++k) {
          EXPECT_EQ(x[i].points[k].t, y[i].points[k].t) << q;
          const double u = x[i].points[k].v, w = y[i].points[k].v;
          if (std::isnan(w)) {
            EXPECT_TRUE(std::isnan(u)) << q;
          } else {
            EXPECT_EQ(u, w) << q << " at " << x[i].points[k].t;
          }
        }
      }
    } else {
      const Vector& x = std::get<Vector>(a->value);
      const Vector& y = std::get<Vector>(b->value);
      ASSERT_EQ(x.size(), y.size()) << q;
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(x[i].metric, y[i].metric) << q;
        if (!std::isnan(y[i].v)) {
          EXPECT_EQ(x[i].v, y[i].v) << q;
        }
      }
    }
  }

  std::string dir_;
  std::unique_ptr<tsdb::DB> db_;
  testing::TestStorage mem_;
};

TEST_F(EngineDBTest, RangeQueriesMatchInMemoryStorage) {
  const int64_t end = kT0 + (kPoints - 1) * kStep;
  Same("histogram_quantile(0.9, sum by (le, job) (rate(h_bucket[5m])))",
       kT0 + 300'000, end, 60'000);
  Same("sum by (job) (increase(h_bucket[2m]))", kT0, end, 30'000);
  Same("h_bucket{le=\"+Inf\"}", kT0, end, 15'000);
  // A window that starts and ends inside sealed chunks.
  Same("max_over_time(h_bucket[10m])", kT0 + 3'600'000, kT0 + 7'200'000,
       60'000);
}

TEST_F(EngineDBTest, InstantQueriesMatchInMemoryStorage) {
  const int64_t end = kT0 + (kPoints - 1) * kStep;
  Same("histogram_quantile(0.5, sum by (le, job) (rate(h_bucket[5m])))", end,
       end, 0);
  Same("h_bucket", kT0 + 5'000'000, kT0 + 5'000'000, 0);
  Same("rate(h_bucket[1h])", kT0 + 2 * 3'600'000, kT0 + 2 * 3'600'000, 0);
}

TEST_F(EngineDBTest, StatsCountSeriesAndSamples) {
  Engine e(EngineOptions{}, db_.get());
  const int64_t t = kT0 + 60 * kStep;
  auto r = e.InstantQuery("h_bucket{job=\"j1\"} + h_bucket{job=\"j2\"}", t);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stats.series_selected, 8);
  // Each series' samples in the 5 m lookback window (21 at most per series).
  EXPECT_GT(r->stats.total_samples, 8 * 15);
  EXPECT_LE(r->stats.total_samples, 8 * 21);
  EXPECT_GT(r->stats.peak_samples, 0);
  EXPECT_TRUE(r->warnings.empty());
}

}  // namespace
}  // namespace vigil::promql
