#include "promql/testing/load_syntax.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "promql/parser/parser.h"
#include "tsdb/matcher.h"
#include "tsdb/sample.h"

namespace vigil::promql::testing {
namespace {

constexpr double kEpsilon = 1e-6;

}  // namespace

bool AlmostEqual(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  const double min_normal = std::numeric_limits<double>::min();
  double diff = std::fabs(a - b);
  if (a == 0 || b == 0 || diff < min_normal) {
    return diff < kEpsilon * min_normal;
  }
  return diff / (std::fabs(a) + std::fabs(b)) < kEpsilon;
}

bool ParseNumber(absl::string_view s, double* out) {
  std::string lower = absl::AsciiStrToLower(s);
  if (lower == "nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (lower == "inf" || lower == "+inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (lower == "-inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s.empty()) return false;
  std::string str(s);
  char* end = nullptr;
  *out = std::strtod(str.c_str(), &end);
  return end == str.c_str() + str.size();
}

absl::StatusOr<tsdb::Labels> ParseSeriesLabels(absl::string_view s) {
  absl::StatusOr<std::vector<tsdb::Matcher>> ms = ParseMetricSelector(s);
  if (!ms.ok()) {
    // `{}` (the empty label set of aggregation results) is not a valid
    // selector, but is a valid expected result.
    if (absl::StripAsciiWhitespace(s) == "{}") return tsdb::Labels();
    return ms.status();
  }
  std::vector<tsdb::Label> pairs;
  for (const tsdb::Matcher& m : *ms) {
    if (m.type() != tsdb::MatchType::kEqual) {
      return absl::InvalidArgumentError(
          absl::StrCat("series labels must use '=': ", s));
    }
    pairs.push_back({m.name(), m.value()});
  }
  return tsdb::Labels::FromPairs(std::move(pairs));
}

// Expands one series value expression into the sample sequence; nullopt
// entries are skipped slots.
absl::Status ExpandValues(absl::string_view text,
                          std::vector<std::optional<double>>* out) {
  for (absl::string_view tok :
       absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
    if (tok == "_") {
      out->push_back(std::nullopt);
      continue;
    }
    if (tok == "stale") {
      out->push_back(tsdb::StaleNaN());
      continue;
    }
    size_t x = tok.rfind('x');
    if (x == absl::string_view::npos || x == 0) {
      double v;
      if (!ParseNumber(tok, &v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad sample value \"", tok, "\""));
      }
      out->push_back(v);
      continue;
    }
    int64_t times;
    if (!absl::SimpleAtoi(tok.substr(x + 1), &times) || times < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad repetition in \"", tok, "\""));
    }
    absl::string_view head = tok.substr(0, x);
    if (head == "_") {
      for (int64_t i = 0; i < times; ++i) out->push_back(std::nullopt);
      continue;
    }
    // head is `a`, `a+b` or `a-b` (a itself may carry a sign).
    size_t op = absl::string_view::npos;
    for (size_t i = 1; i < head.size(); ++i) {
      if ((head[i] == '+' || head[i] == '-') && head[i - 1] != 'e' &&
          head[i - 1] != 'E') {
        op = i;
        break;
      }
    }
    double start, delta = 0;
    bool ok = true;
    if (op == absl::string_view::npos) {
      ok = ParseNumber(head, &start);
    } else {
      ok = ParseNumber(head.substr(0, op), &start) &&
           ParseNumber(head.substr(op), &delta);
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value expression \"", tok, "\""));
    }
    if (times > 1'000'000) {
      return absl::InvalidArgumentError(
          absl::StrCat("too many repetitions in \"", tok, "\""));
    }
    double v = start;
    out->push_back(v);
    for (int64_t i = 1; i <= times; ++i) {
      if (op != absl::string_view::npos) v += delta;
      out->push_back(v);
    }
  }
  return absl::OkStatus();
}

}  // namespace vigil::promql::testing
