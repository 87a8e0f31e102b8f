// Canonical printing of the AST, matching Prometheus's String() methods so
// /api/v1/format_query and rule listings read the same as upstream.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "promql/parser/parser.h"

namespace vigil::promql {
namespace {

// Go's fmt.Sprint(float64), which is what Prometheus prints for number
// literals: the shortest digits that round trip, in %e form when the decimal
// exponent is below -4 or at least 6 ("2e+07", "1e-05"), else plain
// ("1000", "0.001").
std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  if (r.ec != std::errc()) {
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    return buf;
  }
  // buf holds "[-]d[.ddd]e(+|-)XX".
  std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  const int nd = static_cast<int>(digits.size());
  const int dp = exp + 1;  // position of the decimal point in digits
  if (exp < -4 || exp >= 6) {
    out.push_back(digits[0]);
    if (nd > 1) {
      out.push_back('.');
      out.append(digits, 1, std::string::npos);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+',
                  exp < 0 ? -exp : exp);
    out += ebuf;
  } else if (dp <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-dp), '0');
    out += digits;
  } else if (dp >= nd) {
    out += digits;
    out.append(static_cast<size_t>(dp - nd), '0');
  } else {
    out.append(digits, 0, static_cast<size_t>(dp));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(dp), std::string::npos);
  }
  return out;
}

// Length of a valid UTF-8 sequence at s[i], or 0 when it is invalid.
size_t ValidUtf8At(absl::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c >> 4) == 0xE) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c >> 3) == 0x1E) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 0x2) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
      (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp < 0xE000)) {
    return 0;
  }
  return n;
}

std::string FormatAt(AtModifier at, int64_t at_ms) {
  switch (at) {
    case AtModifier::kNone:
      return "";
    case AtModifier::kStart:
      return " @ start()";
    case AtModifier::kEnd:
      return " @ end()";
    case AtModifier::kTimestamp: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " @ %.3f",
                    static_cast<double>(at_ms) / 1000.0);
      return buf;
    }
  }
  return "";
}

std::string FormatOffset(int64_t offset_ms) {
  if (offset_ms > 0) return " offset " + FormatDuration(offset_ms);
  if (offset_ms < 0) return " offset -" + FormatDuration(-offset_ms);
  return "";
}

std::string FormatMatcher(const tsdb::Matcher& m) {
  return absl::StrCat(m.name(), tsdb::MatchTypeString(m.type()),
                      QuoteString(m.value()));
}

// The selector without offset and @, which callers append where they belong.
std::string FormatSelectorBody(const VectorSelector& vs) {
  std::vector<std::string> parts;
  for (const tsdb::Matcher& m : vs.matchers) {
    if (m.name() == "__name__" && m.type() == tsdb::MatchType::kEqual &&
        m.value() == vs.name) {
      continue;
    }
    parts.push_back(FormatMatcher(m));
  }
  if (parts.empty()) return vs.name;
  std::sort(parts.begin(), parts.end());
  return absl::StrCat(vs.name, "{", absl::StrJoin(parts, ","), "}");
}

std::string FormatMatching(const BinaryExpr& b) {
  if (!b.has_matching) return "";
  const VectorMatching& vm = b.matching;
  if (vm.matching_labels.empty() && !vm.on) return "";
  std::string out = absl::StrCat(" ", vm.on ? "on" : "ignoring", " (",
                                 absl::StrJoin(vm.matching_labels, ", "), ")");
  if (vm.card == Cardinality::kManyToOne ||
      vm.card == Cardinality::kOneToMany) {
    absl::StrAppend(&out, " group_",
                    vm.card == Cardinality::kManyToOne ? "left" : "right", " (",
                    absl::StrJoin(vm.include, ", "), ")");
  }
  return out;
}

}  // namespace

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  struct Unit {
    const char* name;
    int64_t ms;
    bool exact;  // only when it divides the remainder exactly
  };
  static const Unit kUnits[] = {
      {"y", int64_t{365} * 24 * 3600 * 1000, true},
      {"w", int64_t{7} * 24 * 3600 * 1000, true},
      {"d", int64_t{24} * 3600 * 1000, false},
      {"h", int64_t{3600} * 1000, false},
      {"m", int64_t{60} * 1000, false},
      {"s", 1000, false},
      {"ms", 1, false},
  };
  for (const Unit& u : kUnits) {
    if (u.exact && ms % u.ms != 0) continue;
    const int64_t v = ms / u.ms;
    if (v > 0) {
      absl::StrAppend(&out, v, u.name);
      ms -= v * u.ms;
    }
  }
  return out;
}

std::string QuoteString(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\a':
        out += "\\a";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\v':
        out += "\\v";
        ++i;
        continue;
      default:
        break;
    }
    const unsigned char uc = static_cast<unsigned char>(c);
    if (uc < 0x20 || uc == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", uc);
      out += buf;
      ++i;
      continue;
    }
    const size_t n = ValidUtf8At(s, i);
    if (n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", uc);
      out += buf;
      ++i;
      continue;
    }
    out.append(s.data() + i, n);
    i += n;
  }
  out += "\"";
  return out;
}

std::string FormatExpr(const Expr& expr) {
  switch (expr.kind) {
    case ExprKind::kNumber:
      return FormatNumber(static_cast<const NumberLiteral&>(expr).value);
    case ExprKind::kString:
      return QuoteString(static_cast<const StringLiteral&>(expr).value);
    case ExprKind::kVectorSelector: {
      const auto& vs = static_cast<const VectorSelector&>(expr);
      return absl::StrCat(FormatSelectorBody(vs), FormatAt(vs.at, vs.at_ms),
                          FormatOffset(vs.offset_ms));
    }
    case ExprKind::kMatrixSelector: {
      const auto& ms = static_cast<const MatrixSelector&>(expr);
      const VectorSelector& vs = *ms.vector;
      return absl::StrCat(
          FormatSelectorBody(vs), "[", FormatDuration(ms.range_ms), "]",
          FormatAt(vs.at, vs.at_ms), FormatOffset(vs.offset_ms));
    }
    case ExprKind::kSubquery: {
      const auto& sq = static_cast<const SubqueryExpr&>(expr);
      return absl::StrCat(
          FormatExpr(*sq.expr), "[", FormatDuration(sq.range_ms), ":",
          sq.step_ms > 0 ? FormatDuration(sq.step_ms) : "", "]",
          FormatAt(sq.at, sq.at_ms), FormatOffset(sq.offset_ms));
    }
    case ExprKind::kParen:
      return absl::StrCat(
          "(", FormatExpr(*static_cast<const ParenExpr&>(expr).expr), ")");
    case ExprKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(expr);
      return absl::StrCat(std::string(1, u.op), FormatExpr(*u.expr));
    }
    case ExprKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(expr);
      return absl::StrCat(FormatExpr(*b.lhs), " ", BinaryOpString(b.op),
                          b.return_bool ? " bool" : "", FormatMatching(b), " ",
                          FormatExpr(*b.rhs));
    }
    case ExprKind::kCall: {
      const auto& c = static_cast<const Call&>(expr);
      std::vector<std::string> args;
      args.reserve(c.args.size());
      for (const ExprPtr& a : c.args) args.push_back(FormatExpr(*a));
      return absl::StrCat(c.func, "(", absl::StrJoin(args, ", "), ")");
    }
    case ExprKind::kAggregate: {
      const auto& a = static_cast<const AggregateExpr&>(expr);
      std::string out = AggregateOpString(a.op);
      if (a.without) {
        absl::StrAppend(&out, " without (", absl::StrJoin(a.grouping, ", "),
                        ") ");
      } else if (!a.grouping.empty()) {
        absl::StrAppend(&out, " by (", absl::StrJoin(a.grouping, ", "), ") ");
      }
      out += "(";
      if (a.param) absl::StrAppend(&out, FormatExpr(*a.param), ", ");
      absl::StrAppend(&out, FormatExpr(*a.expr), ")");
      return out;
    }
  }
  return "";
}

}  // namespace vigil::promql
