// The evaluator's fused aggregation over range functions (each group folded
// from its members' rows as they are computed) must give the same bits as
// materialising the range function's output and aggregating it afterwards.
#include "promql/evaluator.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "promql/parser/parser.h"
#include "promql/testing/test_storage.h"
#include "tsdb/sample.h"

namespace vigil::promql {
namespace {

using testing::TestStorage;

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

constexpr int64_t kMin = 60'000;

// 48 series of `c` (and a few of `d`) in 12 groups of g: counters with
// resets, NaN, +-Inf, stale markers, gaps, -0, series that end early or
// start late, and one group whose series have no samples in the range.
class FusedAggregateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int k = 0; k < 48; ++k) {
      const tsdb::Labels l = L({{"__name__", "c"},
                                {"g", absl::StrCat("g", k % 12)},
                                {"h", absl::StrCat("h", k % 3)},
                                {"k", absl::StrCat(k)}});
      double v = k * 10;
      for (int64_t t = 0; t <= 120 * kMin; t += 15'000) {
        const int64_t i = t / 15'000;
        if (k % 12 == 11) continue;  // group g11: no samples at all
        if (k % 12 == 10 && t > 20 * kMin) break;    // ends early
        if (k % 12 == 9 && t < 90 * kMin) continue;  // starts late
        if (k % 12 == 8 && t > 40 * kMin && t < 50 * kMin) continue;  // gap
        v += (k % 5) + 0.25 * (i % 7);
        if (k % 7 == 3 && i % 97 == 50) v = v / 3;  // counter reset
        double x = v;
        if (k % 12 == 1 && i % 41 == 7) x = nan;
        if (k % 12 == 2 && i % 53 == 20) x = inf;
        if (k % 12 == 3 && i % 61 == 30) x = -inf;
        if (k % 12 == 4 && i % 29 == 3) x = tsdb::StaleNaN();
        if (k % 12 == 5) x = (i % 2 == 0) ? -0.0 : 0.0;
        if (k % 12 == 6) x = 1e300 * ((i % 3) - 1);
        storage_.Add(l, t, x);
      }
    }
    for (int k = 0; k < 4; ++k) {
      const tsdb::Labels l =
          L({{"__name__", "d"}, {"g", "g0"}, {"k", absl::StrCat(k)}});
      for (int64_t t = 0; t <= 120 * kMin; t += 30'000) {
        storage_.Add(l, t, static_cast<double>(t / 1000 + k));
      }
    }
  }

  absl::StatusOr<QueryResult> Run(const std::string& q, bool fuse, bool range,
                                  int threads) {
    absl::StatusOr<ExprPtr> e = ParseExpr(q);
    if (!e.ok()) return e.status();
    EvalParams p;
    if (range) {
      p.start_ms = 10 * kMin;
      p.end_ms = 110 * kMin;
      p.step_ms = kMin;
    } else {
      p.start_ms = p.end_ms = 95 * kMin;
    }
    p.max_threads = threads;
    p.fuse_aggregations = fuse;
    return Evaluate(**e, p, &storage_, nullptr);
  }

  // Both paths, same bits (NaN payloads and the sign of zero included),
  // same series in the same order.
  void ExpectSame(const std::string& q) {
    for (bool range : {true, false}) {
      for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(absl::StrCat(q, range ? " range" : " instant",
                                  " threads=", threads));
        absl::StatusOr<QueryResult> fused = Run(q, true, range, threads);
        absl::StatusOr<QueryResult> plain = Run(q, false, range, threads);
        ASSERT_EQ(fused.ok(), plain.ok())
            << fused.status() << " vs " << plain.status();
        if (!fused.ok()) {
          EXPECT_EQ(fused.status(), plain.status());
          continue;
        }
        if (range) {
          const Matrix& a = std::get<Matrix>(fused->value);
          const Matrix& b = std::get<Matrix>(plain->value);
          ASSERT_EQ(a.size(), b.size());
          for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].metric, b[i].metric);
            ASSERT_EQ(a[i].points.size(), b[i].points.size())
                << a[i].metric.ToString();
            for (size_t j = 0; j < a[i].points.size(); ++j) {
              EXPECT_EQ(a[i].points[j].t, b[i].points[j].t);
              EXPECT_EQ(Bits(a[i].points[j].v), Bits(b[i].points[j].v))
                  << a[i].metric.ToString() << " at " << a[i].points[j].t
                  << ": " << a[i].points[j].v << " vs " << b[i].points[j].v;
            }
          }
        } else {
          const Vector& a = std::get<Vector>(fused->value);
          const Vector& b = std::get<Vector>(plain->value);
          ASSERT_EQ(a.size(), b.size());
          for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].metric, b[i].metric) << i;
            EXPECT_EQ(Bits(a[i].v), Bits(b[i].v))
                << a[i].metric.ToString() << ": " << a[i].v << " vs " << b[i].v;
          }
        }
      }
    }
  }

  TestStorage storage_;
};

TEST_F(FusedAggregateTest, EveryStreamingAggregationOverRate) {
  for (const char* op :
       {"sum", "avg", "count", "group", "min", "max", "stddev", "stdvar"}) {
    ExpectSame(absl::StrCat(op, " by (g) (rate(c[5m]))"));
    ExpectSame(absl::StrCat(op, " without (k) (increase(c[5m]))"));
    ExpectSame(absl::StrCat(op, "(delta(c[5m]))"));
  }
}

TEST_F(FusedAggregateTest, OverTimeFunctionsAndScalarArguments) {
  for (const char* op : {"sum", "avg", "min", "max", "stddev"}) {
    ExpectSame(absl::StrCat(op, " by (g) (avg_over_time(c[10m]))"));
    ExpectSame(absl::StrCat(op, " by (h) (max_over_time(c[2m]))"));
    ExpectSame(absl::StrCat(op, " by (g) (quantile_over_time(0.9, c[10m]))"));
    ExpectSame(absl::StrCat(op, " by (g, h) (deriv(c[10m]))"));
    ExpectSame(absl::StrCat(op, " by (g) (irate(c[1m]))"));
  }
}

TEST_F(FusedAggregateTest, NameHandling) {
  // last_over_time keeps the name; by (__name__) sees whether it was kept.
  ExpectSame("sum by (__name__) (last_over_time(c[5m]))");
  ExpectSame("sum by (__name__, g) (rate(c[5m]))");
  ExpectSame("count without (g) (last_over_time(c[5m]))");
  // Two metric names: dropping them merges series (not fused).
  ExpectSame("sum by (g) (rate({__name__=~\"c|d\"}[5m]))");
  ExpectSame("sum by (k) (rate({__name__=~\"c|d\"}[5m]))");
  ExpectSame("sum by (k) (last_over_time({__name__=~\"c|d\"}[5m]))");
}

TEST_F(FusedAggregateTest, ParenthesesNestingAndEmptyResults) {
  ExpectSame("sum by (g) ((rate((c)[5m])))");
  ExpectSame("histogram_quantile(0.9, sum by (g, le) (rate(c[5m])))");
  ExpectSame("sum by (g) (rate(c[5m])) / on (g) count by (g) (rate(c[5m]))");
  ExpectSame("sum by (g) (rate(nothing[5m]))");
  ExpectSame("sum by (g) (rate(c{g=\"g11\"}[5m]))");
  ExpectSame("max by (g) (rate(c{g=~\"g1.\"}[5m] offset 30m))");
  ExpectSame("avg by (g) (rate(c[5m] @ 3000))");
}

TEST_F(FusedAggregateTest, LimitsAndErrors) {
  // holt_winters' factor errors surface from a worker.
  ExpectSame("sum by (g) (holt_winters(c[10m], 2, 0.5))");
  ExpectSame("sum by (g) (holt_winters(c[10m], 0.5, 0.5))");
  // max_samples counts the range function's output in both paths.
  absl::StatusOr<ExprPtr> e = ParseExpr("sum by (g) (rate(c[5m]))");
  ASSERT_TRUE(e.ok());
  for (bool fuse : {true, false}) {
    EvalParams p;
    p.start_ms = 10 * kMin;
    p.end_ms = 110 * kMin;
    p.step_ms = kMin;
    p.max_samples = 2000;
    p.max_threads = 2;
    p.fuse_aggregations = fuse;
    absl::StatusOr<QueryResult> r = Evaluate(**e, p, &storage_, nullptr);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
        << fuse << " " << r.status();
  }
}

}  // namespace
}  // namespace vigil::promql
