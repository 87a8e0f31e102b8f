#include "promql/functions.h"

#include <cmath>
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
