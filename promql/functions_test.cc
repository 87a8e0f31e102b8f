#include "promql/functions.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace vigil::promql {
namespace {

TEST(ExtrapolatedRate, ExtrapolatesToWindowEdges) {
  // 0, 10, ..., 50 at 10 s spacing inside a 60 s window [0, 60] s.
  std::vector<tsdb::Sample> s;
  for (int i = 1; i <= 5; ++i) s.push_back({i * 10000, i * 10.0});
  RangeWindow w{s, 0, 60000, 60000};
  double out;
  ASSERT_TRUE(ExtrapolatedRate(w, true, false, &out));
  // Increase 40 over 40 s sampled; 10 s to each edge (< 1.1 * 10 s), but the
  // counter would hit zero at 10 s before the first sample: 40 * 60/40.
  EXPECT_DOUBLE_EQ(out, 60);
  ASSERT_TRUE(ExtrapolatedRate(w, true, true, &out));
  EXPECT_DOUBLE_EQ(out, 1);
}

TEST(ExtrapolatedRate, CounterResetAddsPreviousValue) {
  std::vector<tsdb::Sample> s = {{0, 5}, {10000, 10}, {20000, 2}, {30000, 4}};
  RangeWindow w{s, 0, 30000, 30000};
  double out;
  ASSERT_TRUE(ExtrapolatedRate(w, true, false, &out));
  EXPECT_DOUBLE_EQ(out, 4 - 5 + 10);
}

TEST(ExtrapolatedRate, NeedsTwoSamples) {
  std::vector<tsdb::Sample> s = {{0, 5}};
  RangeWindow w{s, 0, 30000, 30000};
  double out;
  EXPECT_FALSE(ExtrapolatedRate(w, true, true, &out));
}

// Prometheus 2.42's extrapolatedRate after the raw difference, written out
// as its source does it (durations in seconds, the factor divided by the
// range before it scales the result, every division done), for
// ExtrapolateRate to match bit for bit.
double ReferenceExtrapolate(double result, tsdb::Sample first,
                            tsdb::Sample last, size_t n, int64_t range_start,
                            int64_t range_end, bool is_counter, bool is_rate) {
  double to_start = static_cast<double>(first.t - range_start) / 1000;
  const double to_end = static_cast<double>(range_end - last.t) / 1000;
  const double sampled = static_cast<double>(last.t - first.t) / 1000;
  const double avg_between = sampled / static_cast<double>(n - 1);
  if (is_counter && result > 0 && first.v >= 0) {
    const double to_zero = sampled * (first.v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  const double threshold = avg_between * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg_between / 2;
  interval += to_end < threshold ? to_end : avg_between / 2;
  double factor = interval / sampled;
  if (is_rate) {
    // time.Duration.Seconds() of the range.
    const int64_t range_ms = range_end - range_start;
    factor /= static_cast<double>(range_ms / 1000) +
              static_cast<double>(range_ms % 1000 * 1000000) / 1e9;
  }
  return result * factor;
}

TEST(ExtrapolateRate, SameBitsAsEveryDivisionDone) {
  // Windows where the counter's zero point is and is not before the window
  // start, first values below and above the increase, few samples far from
  // the edges, zero and huge values.
  uint64_t rng = 7;
  auto next = [&rng]() {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 33;
  };
  const double firsts[] = {0, 0.5, 1, 3, 10, 1e3, 1e9, 1e300};
  const double results[] = {1e-300, 0.25, 1, 2.5, 7, 100, 1e12, 1e308};
  int checked = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const int64_t range = 1000 + static_cast<int64_t>(next() % 600000);
    const int64_t range_end = static_cast<int64_t>(next() % 100000000);
    const int64_t range_start = range_end - range;
    const int64_t t0 = range_start + static_cast<int64_t>(next() % range);
    const int64_t t1 = t0 + 1 + static_cast<int64_t>(next() % (range_end - t0));
    if (t1 > range_end) continue;
    const size_t n = 2 + next() % 50;
    const double fv = firsts[next() % 8] * (1 + (next() % 1000) / 997.0);
    const double res = results[next() % 8] * (1 + (next() % 1000) / 991.0);
    for (bool counter : {true, false}) {
      for (bool rate : {true, false}) {
        const tsdb::Sample first{t0, fv}, last{t1, fv + res};
        const double want = ReferenceExtrapolate(
            res, first, last, n, range_start, range_end, counter, rate);
        const double got = ExtrapolateRate(res, first, last, n, range_start,
                                           range_end, counter, rate);
        ASSERT_EQ(std::memcmp(&want, &got, sizeof want), 0)
            << want << " vs " << got << " first " << fv << " result " << res
            << " window [" << range_start << ", " << range_end << "] t " << t0
            << ".." << t1;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 40000);
}

TEST(RateExtrapolator, SameBitsAsExtrapolateRateWhenWindowShapesRepeat) {
  // Windows drawn from a few shapes (first/last offsets, sample count,
  // range) so that most reuse the remembered factor, with values that do
  // and do not need the counter's zero-point clamp; shapes that differ in
  // one field only must not share a factor.
  uint64_t rng = 11;
  auto next = [&rng]() {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 33;
  };
  struct Shape {
    int64_t d_start, d_sampled, d_end, range;
    size_t n;
  };
  const Shape shapes[] = {
      {0, 285000, 15000, 300000, 20},    {0, 285000, 15000, 300000, 19},
      {1, 285000, 14999, 300000, 20},    {14999, 285000, 1, 300000, 20},
      {7000, 45000, 8000, 60000, 4},     {7500, 45000, 8000, 60500, 4},
      {100, 1, 59899, 60000, 2},         {0, 299999, 1, 300000, 3},
      {1000, 150000, 149000, 300000, 11}};
  const double firsts[] = {0, 0.5, 3, 10, 1e3, 1e9, -5};
  const double results[] = {0, -2, 1e-300, 0.25, 2.5, 100, 1e12};
  for (bool counter : {true, false}) {
    for (bool rate : {true, false}) {
      RateExtrapolator ex(counter, rate);
      int64_t te = 1'700'000'000'000;
      for (int iter = 0; iter < 20000; ++iter) {
        // Runs of one shape, as in a regularly scraped series.
        const Shape& sh = shapes[(iter / (1 + next() % 3)) % 9];
        te += 60000;
        const int64_t start = te - sh.range;
        const tsdb::Sample first{start + sh.d_start,
                                 firsts[next() % 7] * (1 + next() % 100)};
        const double res = results[next() % 7] * (1 + next() % 100);
        const tsdb::Sample last{first.t + sh.d_sampled, first.v + res};
        ASSERT_EQ(last.t + sh.d_end, te);
        const double want = ReferenceExtrapolate(res, first, last, sh.n, start,
                                                 te, counter, rate);
        const double got = ex(res, first, last, sh.n, start, te);
        ASSERT_EQ(std::memcmp(&want, &got, sizeof want), 0)
            << want << " vs " << got << " iter " << iter << " counter "
            << counter << " rate " << rate << " n " << sh.n;
      }
    }
  }
}

TEST(Quantile, InterpolatesAndHandlesEdges) {
  std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Quantile(0.5, &v), 2.5);
  EXPECT_EQ(Quantile(-1, &v), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(Quantile(2, &v), std::numeric_limits<double>::infinity());
  std::vector<double> empty;
  EXPECT_TRUE(std::isnan(Quantile(0.5, &empty)));
}

TEST(BucketQuantile, InterpolatesWithinBucket) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Bucket> b = {{0.1, 50}, {0.5, 90}, {inf, 100}, {1, 95}};
  EXPECT_DOUBLE_EQ(BucketQuantile(0.5, &b), 0.1);
  b = {{0.1, 50}, {0.5, 90}, {inf, 100}, {1, 95}};
  EXPECT_NEAR(BucketQuantile(0.7, &b), 0.1 + 0.4 * (20.0 / 40), 1e-12);
  b = {{0.1, 50}, {0.5, 90}, {inf, 100}, {1, 95}};
  // Rank in the +Inf bucket returns the last finite bound.
  EXPECT_DOUBLE_EQ(BucketQuantile(0.99, &b), 1);
}

TEST(BucketQuantile, MissingInfBucketIsNaN) {
  std::vector<Bucket> b = {{0.1, 50}, {0.5, 90}};
  EXPECT_TRUE(std::isnan(BucketQuantile(0.5, &b)));
}

TEST(BucketQuantile, NonMonotonicCountsAreFixed) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Bucket> b = {{1, 10}, {2, 8}, {inf, 10}};
  EXPECT_DOUBLE_EQ(BucketQuantile(0.5, &b), 0.5);
}

TEST(FormatFloatForLabel, MatchesGoShortestFixed) {
  EXPECT_EQ(FormatFloatForLabel(1), "1");
  EXPECT_EQ(FormatFloatForLabel(0.1), "0.1");
  EXPECT_EQ(FormatFloatForLabel(1e21), "1000000000000000000000");
  EXPECT_EQ(FormatFloatForLabel(-2.5), "-2.5");
  EXPECT_EQ(FormatFloatForLabel(std::nan("")), "NaN");
  EXPECT_EQ(FormatFloatForLabel(-std::numeric_limits<double>::infinity()),
            "-Inf");
}

TEST(ParseGoFloat, AcceptsPrometheusBounds) {
  double v;
  ASSERT_TRUE(ParseGoFloat("+Inf", &v));
  EXPECT_TRUE(std::isinf(v));
  ASSERT_TRUE(ParseGoFloat("0.025", &v));
  EXPECT_DOUBLE_EQ(v, 0.025);
  EXPECT_FALSE(ParseGoFloat("", &v));
  EXPECT_FALSE(ParseGoFloat("abc", &v));
  EXPECT_FALSE(ParseGoFloat(" 1", &v));
}

TEST(GoMinMax, NaNWins) {
  EXPECT_TRUE(std::isnan(GoMax(std::nan(""), 1)));
  EXPECT_TRUE(std::isnan(GoMin(1, std::nan(""))));
  EXPECT_EQ(GoMax(1, 2), 2);
}

TEST(DateFunctions, Basics) {
  // 2020-02-29T13:45:00Z (Saturday).
  const double t = 1582983900;
  EXPECT_EQ(LookupDateFunction("year")(t), 2020);
  EXPECT_EQ(LookupDateFunction("month")(t), 2);
  EXPECT_EQ(LookupDateFunction("day_of_month")(t), 29);
  EXPECT_EQ(LookupDateFunction("days_in_month")(t), 29);
  EXPECT_EQ(LookupDateFunction("day_of_week")(t), 6);
  EXPECT_EQ(LookupDateFunction("day_of_year")(t), 60);
  EXPECT_EQ(LookupDateFunction("hour")(t), 13);
  EXPECT_EQ(LookupDateFunction("minute")(t), 45);
}

}  // namespace
}  // namespace vigil::promql
