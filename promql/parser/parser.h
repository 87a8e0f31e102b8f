// PromQL parser (Boost.Spirit X3). Turns query text into an ast.h tree,
// type-checks it with Prometheus's rules and wording, and reports errors
// with a position:
//
//   absl::StatusOr<ExprPtr> e = ParseExpr("sum(rate(x[5m])) by (job)");
//   // error: "1:14: parse error: unexpected ..." (line:column, 1-based)
#ifndef VIGIL_PROMQL_PARSER_PARSER_H_
#define VIGIL_PROMQL_PARSER_PARSER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "promql/parser/ast.h"

namespace vigil::promql {

// Parses and type-checks a full expression. Errors are InvalidArgument.
// Trees deeper than 1000 levels are rejected, so recursive walks over a
// returned tree need at most that much stack. Thread-safe.
absl::StatusOr<ExprPtr> ParseExpr(absl::string_view input);

// Parses a series selector such as `up{job="x"}` or `{__name__=~"a.*"}`
// (the HTTP API's match[] parameter). Returns its matchers.
absl::StatusOr<std::vector<tsdb::Matcher>> ParseMetricSelector(
    absl::string_view input);

// Parses a Prometheus duration ("1h30m", "5m", "1d", "250ms") to ms.
absl::StatusOr<int64_t> ParseDuration(absl::string_view input);

// Canonical text of an expression, as Prometheus's String() prints it
// (used by /api/v1/format_query and rule listings).
std::string FormatExpr(const Expr& expr);

// A duration in Prometheus's notation: "1h30m", "5m", "250ms", "0s".
// Years and weeks are used only when they divide the duration exactly.
std::string FormatDuration(int64_t ms);

// A string literal with double quotes and Go escapes, as Prometheus prints
// strings and matcher values: "a\"b\n".
std::string QuoteString(absl::string_view s);

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_PARSER_PARSER_H_
