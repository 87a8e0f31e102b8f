// The calendar fields Prometheus's date functions (hour(), day_of_week(),
// ...) compute with Go's `time.Unix(int64(v), 0).UTC()`, reproduced exactly,
// including where Go's arithmetic is not the true calendar:
//   * int64(v) truncates toward zero, and for NaN, ±Inf and values outside
//     the int64 range gives math.MinInt64 (what amd64's conversion
//     instruction returns; Prometheus's releases are built for it);
//   * Go adds a fixed offset to the seconds in uint64 arithmetic, so
//     instants near the int64 limits wrap to dates in year 292277026596.
// A general calendar library (absl's civil time) gives the true date for
// those instead, and NaN input would have to be special-cased; matching
// Prometheus means matching Go.
//
//   GoDate d = GoDateOf(1582983900);  // 2020-02-29T13:45:00Z
//   d.year == 2020; d.month == 2; d.day == 29; d.weekday == 6 (Saturday)
#ifndef VIGIL_PROMQL_GO_TIME_H_
#define VIGIL_PROMQL_GO_TIME_H_

#include <cstdint>

namespace vigil::promql {

struct GoDate {
  int64_t year = 0;
  int month = 0;          // 1..12
  int day = 0;            // 1..31
  int year_day = 0;       // 1..366
  int days_in_month = 0;  // 28..31
  int weekday = 0;        // 0 = Sunday
  int hour = 0;
  int minute = 0;
};

// Go's int64(v) on amd64.
int64_t GoInt64(double v);

// The UTC calendar fields of time.Unix(GoInt64(v), 0).
GoDate GoDateOf(double v);

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_GO_TIME_H_
