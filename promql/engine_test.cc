#include "promql/engine.h"

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "promql/functions.h"
#include "promql/testing/test_storage.h"

namespace vigil::promql {
namespace {

using testing::TestStorage;

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // x{i="0".."3"}: value = minute index, one sample per minute for 1h.
    for (int i = 0; i < 4; ++i) {
      for (int m = 0; m <= 60; ++m) {
        storage_.Add(L({{"__name__", "x"}, {"i", std::to_string(i)}}),
                     m * 60000, m + i);
      }
    }
  }
  TestStorage storage_;
};

TEST_F(EngineTest, RangeQueryStepsIncludeStartAndEnd) {
  Engine e(EngineOptions{}, &storage_);
  auto r = e.RangeQuery("x{i=\"0\"}", 0, 600000, 120000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& m = std::get<Matrix>(r->value);
  ASSERT_EQ(m.size(), 1u);
  ASSERT_EQ(m[0].points.size(), 6u);
  EXPECT_EQ(m[0].points[5].t, 600000);
  EXPECT_EQ(m[0].points[5].v, 10);
}

TEST_F(EngineTest, RangeQueryScalarBecomesOneSeries) {
  Engine e(EngineOptions{}, &storage_);
  auto r = e.RangeQuery("time()", 0, 120000, 60000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& m = std::get<Matrix>(r->value);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].metric.empty());
  ASSERT_EQ(m[0].points.size(), 3u);
  EXPECT_EQ(m[0].points[2].v, 120);
}

TEST_F(EngineTest, AtStartAndEndInRangeQuery) {
  Engine e(EngineOptions{}, &storage_);
  auto r = e.RangeQuery("x{i=\"0\"} @ start()", 300000, 600000, 60000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& m = std::get<Matrix>(r->value);
  ASSERT_EQ(m.size(), 1u);
  for (const auto& p : m[0].points) EXPECT_EQ(p.v, 5);
  r = e.RangeQuery("x{i=\"0\"} @ end()", 300000, 600000, 60000);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const auto& p : std::get<Matrix>(r->value)[0].points) {
    EXPECT_EQ(p.v, 10);
  }
}

TEST_F(EngineTest, TooManyPointsPerSeries) {
  Engine e(EngineOptions{}, &storage_);
  auto r = e.RangeQuery("x", 0, 11001 * 1000, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "exceeded maximum resolution of 11,000 points per timeseries. Try "
            "decreasing the query resolution (?step=XX)");
  // (end-start)/step == 11000 is still allowed, as in Prometheus.
  EXPECT_TRUE(e.RangeQuery("x", 0, 11000 * 1000, 1000).ok());
}

TEST_F(EngineTest, RangeQueryRejectsBadParameters) {
  Engine e(EngineOptions{}, &storage_);
  EXPECT_EQ(e.RangeQuery("x", 0, 1000, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.RangeQuery("x", 1000, 0, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto r = e.RangeQuery("x[5m]", 0, 1000, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "range vector"));
}

TEST_F(EngineTest, MaxSamples) {
  EngineOptions o;
  o.max_samples = 10;
  Engine e(o, &storage_);
  auto r = e.InstantQuery("x", 600000);
  EXPECT_TRUE(r.ok());
  r = e.RangeQuery("sum(x)", 0, 3600000, 60000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(),
            "query processing would load too many samples into memory in "
            "query execution");
}

TEST_F(EngineTest, Cancellation) {
  Engine e(EngineOptions{}, &storage_);
  std::atomic<bool> cancelled{true};
  QueryContext ctx;
  ctx.cancelled = &cancelled;
  auto r = e.InstantQuery("x", 600000, ctx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(EngineTest, Timeout) {
  EngineOptions o;
  o.timeout = absl::ZeroDuration();
  Engine e(o, &storage_);
  auto r = e.RangeQuery("rate(x[5m])", 0, 3600000, 1000);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(EngineTest, ParseErrorsAreInvalidArgument) {
  Engine e(EngineOptions{}, &storage_);
  auto r = e.InstantQuery(
      "sum(rate(http_server_resp_time_bucket{job=\"my-service\", "
      "le=\"0.025\"})[5m])",
      0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, ParseCacheServesRepeatedQueries) {
  EngineOptions o;
  o.parse_cache_size = 2;
  Engine e(o, &storage_);
  for (int k = 0; k < 5; ++k) {
    for (const char* q : {"x", "sum(x)", "max(x)"}) {
      auto r = e.InstantQuery(q, 600000);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  auto r = e.InstantQuery("sum(x)", 600000);
  EXPECT_EQ(std::get<Vector>(r->value)[0].v, 10 + 11 + 12 + 13);
}

TEST_F(EngineTest, InstantMatrixResult) {
  Engine e(EngineOptions{}, &storage_);
  auto r = e.InstantQuery("x{i=\"1\"}[2m]", 600000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& m = std::get<Matrix>(r->value);
  ASSERT_EQ(m.size(), 1u);
  // [8m, 10m] inclusive in Prometheus 2.x.
  ASSERT_EQ(m[0].points.size(), 3u);
  EXPECT_EQ(m[0].metric.MetricName(), "x");
  r = e.InstantQuery("x{i=\"1\"}[4m:2m]", 600000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& sq = std::get<Matrix>(r->value);
  ASSERT_EQ(sq.size(), 1u);
  ASSERT_EQ(sq[0].points.size(), 3u);
  EXPECT_EQ(sq[0].points[0].t, 360000);
}

TEST_F(EngineTest, ConcurrentQueries) {
  Engine e(EngineOptions{}, &storage_);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 20; ++k) {
        auto r = e.RangeQuery("sum by (i) (rate(x[5m]))", 0, 3600000, 60000);
        if (r.ok()) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(EngineTest, ManySeriesParallelPathMatchesSerial) {
  TestStorage st;
  for (int s = 0; s < 300; ++s) {
    for (int m = 0; m <= 120; ++m) {
      st.Add(L({{"__name__", "c"},
                {"s", std::to_string(s)},
                {"g", std::to_string(s % 7)}}),
             m * 15000, (m % 50) * (s + 1));
    }
  }
  Engine e(EngineOptions{}, &st);
  auto r = e.RangeQuery("sum by (g) (rate(c[2m]))", 0, 1800000, 30000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& m = std::get<Matrix>(r->value);
  ASSERT_EQ(m.size(), 7u);
  // Compare every step to instant queries.
  for (const MatrixSeries& ms : m) {
    for (size_t k = 0; k < ms.points.size(); k += 13) {
      auto iq = e.InstantQuery("sum by (g) (rate(c[2m]))", ms.points[k].t);
      ASSERT_TRUE(iq.ok());
      bool found = false;
      for (const auto& v : std::get<Vector>(iq->value)) {
        if (v.metric == ms.metric) {
          found = true;
          EXPECT_NEAR(v.v, ms.points[k].v, 1e-9 * std::fabs(v.v) + 1e-12);
        }
      }
      EXPECT_TRUE(found);
    }
  }
}

}  // namespace
}  // namespace vigil::promql

namespace vigil::promql {
namespace {

// Every step of a range query must equal the instant query at that time.
// Random data with gaps, resets and staleness markers exercises the sliding
// windows (lookback, ranges, subqueries) against fresh per-step evaluation.
TEST(EngineConsistency, RangeStepsEqualInstantQueries) {
  testing::TestStorage st;
  uint64_t rng = 7;
  auto next = [&rng] {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 33;
  };
  for (int s = 0; s < 12; ++s) {
    tsdb::Labels l = *tsdb::Labels::FromPairs({{"__name__", s % 2 ? "a" : "b"},
                                               {"g", std::to_string(s % 3)},
                                               {"s", std::to_string(s)}});
    double v = 0;
    for (int64_t t = 0; t <= 3600000; t += 10000 + next() % 20000) {
      uint64_t r = next() % 100;
      if (r < 5) continue;  // gap
      if (r < 8) {
        st.Add(l, t, tsdb::StaleNaN());
        continue;
      }
      v = r < 12 ? 0 : v + static_cast<double>(next() % 50);  // resets
      st.Add(l, t, v);
    }
  }
  Engine e(EngineOptions{}, &st);
  const char* queries[] = {
      "a",
      "a offset 3m",
      "rate(a[2m])",
      "increase(b[5m])",
      "irate(a[1m])",
      "delta(b[3m])",
      "deriv(a[4m])",
      "avg_over_time(b[90s])",
      "max_over_time(a[3m] offset 1m)",
      "changes(b[10m])",
      "resets(a[10m])",
      "count_over_time(a[1m])",
      "quantile_over_time(0.3, b[5m])",
      "sum by (g) (rate(a[5m]))",
      "max_over_time(rate(b[2m])[10m:1m])",
      "avg_over_time(a[7m:45s])",
      "a / on(g, s) group_left b",
      "a > 100",
      "a and on(g) b",
      "b unless on(g) a > 200",
      "topk(2, a)",
      "count(a) by (g) + count(b) by (g)",
      "absent(a{s=\"1\"})",
      "timestamp(b)",
      "histogram_quantile(0.5, label_replace(a, \"le\", \"$1\", \"s\", "
      "\"(.*)\"))",
  };
  for (const char* q : queries) {
    SCOPED_TRACE(q);
    auto r = e.RangeQuery(q, 60000, 3600000, 37000);
    ASSERT_TRUE(r.ok()) << r.status();
    const Matrix& m = std::get<Matrix>(r->value);
    // Index range results by (labels, t).
    absl::flat_hash_map<std::pair<std::string, int64_t>, double> got;
    for (const MatrixSeries& s : m) {
      for (const tsdb::Sample& p : s.points) {
        got[{s.metric.ToString(), p.t}] = p.v;
      }
    }
    size_t seen = 0;
    for (int64_t t = 60000; t <= 3600000; t += 37000) {
      auto iq = e.InstantQuery(q, t);
      ASSERT_TRUE(iq.ok()) << iq.status();
      for (const VectorSample& x : std::get<Vector>(iq->value)) {
        auto it = got.find({x.metric.ToString(), t});
        ASSERT_TRUE(it != got.end()) << x.metric.ToString() << " @" << t;
        if (std::isnan(x.v)) {
          EXPECT_TRUE(std::isnan(it->second));
        } else {
          EXPECT_NEAR(it->second, x.v, 1e-9 * std::fabs(x.v) + 1e-12)
              << x.metric.ToString() << " @" << t;
        }
        ++seen;
      }
    }
    EXPECT_EQ(seen, got.size());
  }
}

// rate/increase/delta find stale markers and counter resets without a
// second pass over a series (a vectorised scan, or the kernel's sliding
// window as it goes), and step the window's ends by their last advance on
// regular data. Every step must give the bits of ExtrapolatedRate over the
// window's samples with the stale markers removed, whether a stale marker
// lies before the first window, inside one, between windows or after the
// last, next to a reset, with ordinary NaNs (which are not stale markers)
// in the data, and for plain counters scraped regularly, with jitter and
// with gaps.
TEST(EngineConsistency, ExtrapolatedFunctionsSkipStaleMarkersInOnePass) {
  testing::TestStorage st;
  uint64_t rng = 3;
  auto next = [&rng] {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 33;
  };
  // Samples of each series as stored, and without its stale markers.
  constexpr int kSeries = 15;
  std::vector<std::vector<tsdb::Sample>> stored(kSeries), clean(kSeries);
  for (int s = 0; s < kSeries; ++s) {
    tsdb::Labels l =
        *tsdb::Labels::FromPairs({{"__name__", "c"}, {"s", std::to_string(s)}});
    double v = 100;
    for (int64_t t = 0; t <= 3600000; t += 15000) {
      const uint64_t r = next() % 100;
      double x;
      if (s >= 10) {
        // Plain counters: 10 and 11 regular, 12 jittered, 13 with gaps of
        // up to 10 minutes and an odd interval, 14 on a 5 s grid at
        // irregular intervals (samples on window edges, and windows whose
        // ends move by a different number of samples at each step).
        if (s == 13 && r < 3) t += 15000 * static_cast<int64_t>(next() % 40);
        if (s == 14) t += 5000 * static_cast<int64_t>(next() % 6) - 10000;
        if (t > 3600000) break;
        const int64_t at = s == 12 ? t + static_cast<int64_t>(next() % 3000)
                                   : t + (s == 13 ? 7 : 0);
        v += static_cast<double>(next() % 50) / 4;
        st.Add(l, at, v);
        stored[s].push_back({at, v});
        clean[s].push_back({at, v});
        continue;
      }
      if (s == 0 && t == 30000) {
        x = tsdb::StaleNaN();  // before the first window only
      } else if (s == 1 && t == 3585000) {
        x = tsdb::StaleNaN();  // after the last window only
      } else if (s >= 2 && r < 4) {
        x = tsdb::StaleNaN();
      } else if (s >= 2 && r < 6) {
        x = std::nan("");
      } else {
        v = r < 12 ? static_cast<double>(next() % 10)  // resets
                   : v + static_cast<double>(next() % 50) / 4;
        x = v;
      }
      if (s >= 8 && tsdb::IsStaleNaN(x)) continue;  // no stale markers
      st.Add(l, t, x);
      stored[s].push_back({t, x});
      if (!tsdb::IsStaleNaN(x)) clean[s].push_back({t, x});
    }
  }
  Engine e(EngineOptions{}, &st);
  struct Fn {
    const char* name;
    bool counter, rate;
  };
  const Fn fns[] = {
      {"rate", true, true}, {"increase", true, false}, {"delta", false, false}};
  const int64_t kStart = 120000, kEnd = 3540000;
  for (const Fn& fn : fns) {
    for (int64_t step : {15000, 60000, 420000}) {
      const std::string q = std::string(fn.name) + "(c[5m])";
      SCOPED_TRACE(q + " step " + std::to_string(step));
      auto r = e.RangeQuery(q, kStart, kEnd, step);
      ASSERT_TRUE(r.ok()) << r.status();
      absl::flat_hash_map<std::pair<std::string, int64_t>, double> got;
      for (const MatrixSeries& ms : std::get<Matrix>(r->value)) {
        for (const tsdb::Sample& p : ms.points) {
          got[{ms.metric.ToString(), p.t}] = p.v;
        }
      }
      size_t want_points = 0;
      for (int s = 0; s < kSeries; ++s) {
        const std::string key = "{s=\"" + std::to_string(s) + "\"}";
        for (int64_t t = kStart; t <= kEnd; t += step) {
          std::vector<tsdb::Sample> win;
          for (const tsdb::Sample& x : clean[s]) {
            if (x.t >= t - 300000 && x.t <= t) win.push_back(x);
          }
          double want;
          RangeWindow w;
          w.samples = win;
          w.range_start = t - 300000;
          w.range_end = t;
          w.eval_time = t;
          auto it = got.find({key, t});
          if (!ExtrapolatedRate(w, fn.counter, fn.rate, &want)) {
            EXPECT_TRUE(it == got.end()) << key << " @" << t;
            continue;
          }
          ++want_points;
          ASSERT_TRUE(it != got.end()) << key << " @" << t;
          EXPECT_EQ(tsdb::ValueBits(it->second), tsdb::ValueBits(want))
              << key << " @" << t << ": " << it->second << " vs " << want;
        }
      }
      EXPECT_EQ(got.size(), want_points);
      EXPECT_GT(want_points, 50u);
    }
  }
}

}  // namespace
}  // namespace vigil::promql

namespace vigil::promql {
namespace {

// Dense per-step results must not turn many short-lived series in a long
// range into an out-of-memory: the query fails like max_samples instead.
TEST(EngineLimits, ChurnyLongRangeIsRefused) {
  testing::TestStorage st;
  for (int s = 0; s < 200; ++s) {
    st.Add(*tsdb::Labels::FromPairs(
               {{"__name__", "c"}, {"id", std::to_string(s)}}),
           s * 60000, 1);
  }
  EngineOptions o;
  o.max_samples = 10000;
  Engine e(o, &st);
  auto r = e.RangeQuery("c", 0, 200 * 60000, 2000);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  // Short ranges over the same data are fine.
  EXPECT_TRUE(e.RangeQuery("c", 0, 600000, 60000).ok());
}

}  // namespace
}  // namespace vigil::promql
