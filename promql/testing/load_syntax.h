// The value and series syntax shared by the PromQL test scripts (`load`
// blocks, script_runner.h) and the rule unit tests (`vigil test rules`,
// promtool's input_series): series written as PromQL metric selectors with
// `=` matchers, values as expanding expressions.
#ifndef VIGIL_PROMQL_TESTING_LOAD_SYNTAX_H_
#define VIGIL_PROMQL_TESTING_LOAD_SYNTAX_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/labels.h"

namespace vigil::promql::testing {

// Relative tolerance 1e-6, NaN equals NaN (as Prometheus's test harness).
bool AlmostEqual(double a, double b);

// A float as the scripts write it: decimal, exponent, NaN, Inf, +Inf, -Inf.
bool ParseNumber(absl::string_view s, double* out);

// `metric{a="b", ...}`, `{__name__="m", ...}` or `{}` as a label set.
absl::StatusOr<tsdb::Labels> ParseSeriesLabels(absl::string_view s);

// Expands a value expression into one entry per slot, nullopt for a
// skipped slot:
//   `a+bxn` -> n+1 values a, a+b, ...; `a-bxn` likewise; `axn` -> a, n+1
//   times; `_` one skipped slot, `_xn` n of them; `stale` a staleness
//   marker; plain numbers as themselves.
absl::Status ExpandValues(absl::string_view text,
                          std::vector<std::optional<double>>* out);

}  // namespace vigil::promql::testing

#endif  // VIGIL_PROMQL_TESTING_LOAD_SYNTAX_H_
