#include "promql/go_time.h"

#include <cmath>

namespace vigil::promql {
namespace {

constexpr uint64_t kSecondsPerDay = 86400;
constexpr uint64_t kDaysPer400Years = 365 * 400 + 97;
constexpr uint64_t kDaysPer100Years = 365 * 100 + 24;
constexpr uint64_t kDaysPer4Years = 365 * 4 + 1;
// Go's time package: the year its "absolute" day count starts at, and the
// offset from Unix seconds to absolute seconds (unixToInternal +
// internalToAbsolute, evaluated exactly as Go's constant arithmetic does).
constexpr int64_t kAbsoluteZeroYear = -292277022399;
constexpr uint64_t kUnixToAbsolute = 9223372028715321600ULL;
// Days before the start of each month in a non-leap year; [12] = 365.
constexpr int kDaysBefore[13] = {0,   31,  59,  90,  120, 151, 181,
                                 212, 243, 273, 304, 334, 365};

bool IsLeap(int64_t year) {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

}  // namespace

int64_t GoInt64(double v) {
  // The range test is false for NaN too.
  if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) {
    return INT64_MIN;
  }
  return static_cast<int64_t>(v);
}

GoDate GoDateOf(double v) {
  // Unsigned arithmetic wraps as Go's does.
  const uint64_t abs = static_cast<uint64_t>(GoInt64(v)) + kUnixToAbsolute;
  GoDate out;
  out.hour = static_cast<int>(abs % kSecondsPerDay / 3600);
  out.minute = static_cast<int>(abs % 3600 / 60);
  // Absolute day 0 is a Monday.
  out.weekday = static_cast<int>((abs + kSecondsPerDay) % (7 * kSecondsPerDay) /
                                 kSecondsPerDay);
  uint64_t d = abs / kSecondsPerDay;
  uint64_t n = d / kDaysPer400Years;
  uint64_t y = 400 * n;
  d -= kDaysPer400Years * n;
  n = d / kDaysPer100Years;
  n -= n >> 2;  // the last day of a 400-year cycle belongs to its 4th century
  y += 100 * n;
  d -= kDaysPer100Years * n;
  n = d / kDaysPer4Years;
  y += 4 * n;
  d -= kDaysPer4Years * n;
  n = d / 365;
  n -= n >> 2;  // the leap day of a 4-year cycle belongs to its 4th year
  y += n;
  d -= 365 * n;
  out.year = static_cast<int64_t>(y) + kAbsoluteZeroYear;
  out.year_day = static_cast<int>(d) + 1;
  int day = static_cast<int>(d);
  const bool leap = IsLeap(out.year);
  if (leap && day == 31 + 29 - 1) {
    out.month = 2;
    out.day = 29;
  } else {
    if (leap && day > 31 + 29 - 1) --day;
    int month = day / 31;  // 0-based; may be one too small
    if (day >= kDaysBefore[month + 1]) ++month;
    out.month = month + 1;
    out.day = day - kDaysBefore[month] + 1;
  }
  out.days_in_month = kDaysBefore[out.month] - kDaysBefore[out.month - 1] +
                      (leap && out.month == 2 ? 1 : 0);
  return out;
}

}  // namespace vigil::promql
