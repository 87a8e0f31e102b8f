#include "promql/go_time.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace vigil::promql {
namespace {

TEST(GoTimeTest, ConversionToInt64IsGoOnAmd64) {
  EXPECT_EQ(GoInt64(1.9), 1);
  EXPECT_EQ(GoInt64(-1.9), -1);
  EXPECT_EQ(GoInt64(std::nan("")), INT64_MIN);
  EXPECT_EQ(GoInt64(INFINITY), INT64_MIN);
  EXPECT_EQ(GoInt64(-INFINITY), INT64_MIN);
  EXPECT_EQ(GoInt64(1e19), INT64_MIN);
  EXPECT_EQ(GoInt64(-1e19), INT64_MIN);
  EXPECT_EQ(GoInt64(-9223372036854775808.0), INT64_MIN);
}

TEST(GoTimeTest, LeapDayAndFields) {
  // 2020-02-29T13:45:00Z, a Saturday.
  GoDate d = GoDateOf(1582983900);
  EXPECT_EQ(d.year, 2020);
  EXPECT_EQ(d.month, 2);
  EXPECT_EQ(d.day, 29);
  EXPECT_EQ(d.year_day, 60);
  EXPECT_EQ(d.days_in_month, 29);
  EXPECT_EQ(d.weekday, 6);
  EXPECT_EQ(d.hour, 13);
  EXPECT_EQ(d.minute, 45);
  // Before the epoch, truncating toward zero: -4.5 s is 23:59:56 on
  // 1969-12-31, a Wednesday.
  d = GoDateOf(-4.5);
  EXPECT_EQ(d.year, 1969);
  EXPECT_EQ(d.month, 12);
  EXPECT_EQ(d.day, 31);
  EXPECT_EQ(d.weekday, 3);
  EXPECT_EQ(d.hour, 23);
  EXPECT_EQ(d.minute, 59);
}

// Where Go's wrapping arithmetic is not the true calendar: what
// Prometheus 2.42 answers for minute(), hour(), ... of NaN and ±Inf
// (checked against the real server by server/compat/differential_test).
TEST(GoTimeTest, NonFiniteValuesGiveGosWrappedDate) {
  for (double v : {std::nan(""), double{INFINITY}, double{-INFINITY}, 1e300}) {
    GoDate d = GoDateOf(v);
    EXPECT_EQ(d.year, 292277026596);
    EXPECT_EQ(d.month, 12);
    EXPECT_EQ(d.day, 4);
    EXPECT_EQ(d.year_day, 339);
    EXPECT_EQ(d.days_in_month, 31);
    EXPECT_EQ(d.weekday, 0);
    EXPECT_EQ(d.hour, 15);
    EXPECT_EQ(d.minute, 30);
  }
}

// Away from the int64 limits Go's calendar is the proleptic Gregorian one:
// compare with absl's over many instants from year -5000 to 100000.
TEST(GoTimeTest, AgreesWithCivilTimeAwayFromTheLimits) {
  const int64_t lo = -220000000000;  // about year -5000
  const int64_t hi = 3100000000000;  // about year 100000
  uint64_t x = 12345;
  for (int i = 0; i < 200000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const int64_t s =
        lo + static_cast<int64_t>((x >> 11) % static_cast<uint64_t>(hi - lo));
    const absl::CivilSecond c =
        absl::ToCivilSecond(absl::FromUnixSeconds(s), absl::UTCTimeZone());
    const GoDate d = GoDateOf(static_cast<double>(s));
    ASSERT_EQ(d.year, c.year()) << s;
    ASSERT_EQ(d.month, c.month()) << s;
    ASSERT_EQ(d.day, c.day()) << s;
    ASSERT_EQ(d.hour, c.hour()) << s;
    ASSERT_EQ(d.minute, c.minute()) << s;
    ASSERT_EQ(d.year_day, absl::GetYearDay(absl::CivilDay(c))) << s;
    const absl::CivilMonth m(c);
    ASSERT_EQ(d.days_in_month, absl::CivilDay(m + 1) - absl::CivilDay(m)) << s;
    ASSERT_EQ(d.weekday,
              (static_cast<int>(absl::GetWeekday(c)) + 1) % 7)  // Monday = 0
        << s;
  }
}

}  // namespace
}  // namespace vigil::promql
