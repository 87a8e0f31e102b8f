#include "alerting/template/template.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "net/url.h"
#include "re2/re2.h"

namespace vigil::alerting {

// ---------------------------------------------------------------------------
// TemplateValue

TemplateValue TemplateValue::Bool(bool b) {
  TemplateValue v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
TemplateValue TemplateValue::Int(int64_t i) {
  TemplateValue v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
TemplateValue TemplateValue::Float(double d) {
  TemplateValue v;
  v.kind_ = Kind::kFloat;
  v.d_ = d;
  return v;
}
TemplateValue TemplateValue::String(std::string s) {
  TemplateValue v;
  v.kind_ = Kind::kString;
  v.s_ = std::move(s);
  return v;
}
TemplateValue TemplateValue::FromMap(Map m) {
  TemplateValue v;
  v.kind_ = Kind::kMap;
  v.map_ = std::make_shared<const Map>(std::move(m));
  return v;
}
TemplateValue TemplateValue::FromStruct(Map m) {
  TemplateValue v = FromMap(std::move(m));
  v.kind_ = Kind::kStruct;
  return v;
}
TemplateValue TemplateValue::FromList(List l) {
  TemplateValue v;
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<const List>(std::move(l));
  return v;
}
TemplateValue TemplateValue::StringMap(
    const std::map<std::string, std::string>& m) {
  Map out;
  for (const auto& [k, val] : m) out.emplace(k, String(val));
  return FromMap(std::move(out));
}

const TemplateValue::Map& TemplateValue::map() const {
  static const Map* const kEmpty = new Map();
  return map_ ? *map_ : *kEmpty;
}
const TemplateValue::List& TemplateValue::list() const {
  static const List* const kEmpty = new List();
  return list_ ? *list_ : *kEmpty;
}

bool TemplateValue::Truthy() const {
  switch (kind_) {
    case Kind::kNil:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return d_ != 0;
    case Kind::kString:
      return !s_.empty();
    case Kind::kMap:
      return !map().empty();
    case Kind::kStruct:
      return true;
    case Kind::kList:
      return !list().empty();
  }
  return false;
}

const char* TemplateValue::TypeName() const {
  switch (kind_) {
    case Kind::kNil:
      return "<nil>";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float64";
    case Kind::kString:
      return "string";
    case Kind::kMap:
      return "map[string]string";
    case Kind::kStruct:
      return "struct";
    case Kind::kList:
      return "[]interface {}";
  }
  return "?";
}

std::string TemplateValue::ToString() const {
  switch (kind_) {
    case Kind::kNil:
      return "<no value>";
    case Kind::kBool:
      return b_ ? "true" : "false";
    case Kind::kInt:
      return absl::StrCat(i_);
    case Kind::kFloat:
      return FormatGoFloat(d_);
    case Kind::kString:
      return s_;
    case Kind::kMap: {
      std::string out = "map[";
      bool first = true;
      for (const auto& [k, v] : map()) {
        if (!first) out += ' ';
        first = false;
        absl::StrAppend(&out, k, ":", v.ToString());
      }
      return out + "]";
    }
    case Kind::kStruct: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : map()) {
        if (!first) out += ' ';
        first = false;
        out += v.ToString();
      }
      return out + "}";
    }
    case Kind::kList: {
      std::string out = "[";
      bool first = true;
      for (const TemplateValue& v : list()) {
        if (!first) out += ' ';
        first = false;
        out += v.ToString();
      }
      return out + "]";
    }
  }
  return "";
}

// ---------------------------------------------------------------------------
// Go number formatting.

namespace {

// Shortest round-trip decimal digits of |v| (v finite, non-zero) and the
// decimal point position: v = 0.d1d2d3... * 10^dp.
void ShortestDigits(double v, std::string* digits, int* dp) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v),
                           std::chars_format::scientific);
  std::string s(buf, res.ptr);  // d.ddde[+-]XX
  size_t e = s.find('e');
  int exp = std::atoi(s.c_str() + e + 1);
  digits->clear();
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits->push_back(s[i]);
  }
  while (digits->size() > 1 && digits->back() == '0') digits->pop_back();
  *dp = exp + 1;
}

std::string SpecialFloat(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}

// Trims C's "e+6"-style exponent differences: both C and Go print at least
// two exponent digits, so only infinities/NaN need care.
std::string CFormat(const char* fmt, double v) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

std::string FormatGoFloat(double v) {
  if (std::isnan(v) || std::isinf(v)) return SpecialFloat(v);
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  std::string digits;
  int dp;
  ShortestDigits(v, &digits, &dp);
  std::string out = v < 0 ? "-" : "";
  int exp = dp - 1;
  // Go's %v for float64 is %g with the shortest precision, which switches
  // to exponent form when exp < -4 || exp >= 6 (strconv's eprec).
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + eb;
  }
  if (dp <= 0) {
    out += "0.";
    out.append(-dp, '0');
    out += digits;
  } else if (static_cast<size_t>(dp) >= digits.size()) {
    out += digits;
    out.append(dp - digits.size(), '0');
  } else {
    out.append(digits, 0, dp);
    out += '.';
    out.append(digits, dp, std::string::npos);
  }
  return out;
}

std::string FormatGoG(double v, int prec) {
  if (std::isnan(v) || std::isinf(v)) return SpecialFloat(v);
  std::string fmt = absl::StrCat("%.", prec, "g");
  return CFormat(fmt.c_str(), v);
}

absl::StatusOr<std::string> Humanize(double v) {
  if (v == 0 || std::isnan(v) || std::isinf(v)) return FormatGoG(v, 4);
  static const char* const kBig[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
  static const char* const kSmall[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
  std::string prefix;
  if (std::fabs(v) >= 1) {
    for (const char* p : kBig) {
      if (std::fabs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
  } else {
    for (const char* p : kSmall) {
      if (std::fabs(v) >= 1) break;
      prefix = p;
      v *= 1000;
    }
  }
  return FormatGoG(v, 4) + prefix;
}

absl::StatusOr<std::string> Humanize1024(double v) {
  if (std::fabs(v) <= 1 || std::isnan(v) || std::isinf(v)) {
    return FormatGoG(v, 4);
  }
  static const char* const kBig[] = {"ki", "Mi", "Gi", "Ti",
                                     "Pi", "Ei", "Zi", "Yi"};
  std::string prefix;
  for (const char* p : kBig) {
    if (std::fabs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return FormatGoG(v, 4) + prefix;
}

absl::StatusOr<std::string> HumanizeDuration(double v) {
  if (std::isnan(v) || std::isinf(v)) return FormatGoG(v, 4);
  if (v == 0) return FormatGoG(v, 4) + "s";
  if (std::fabs(v) >= 1) {
    std::string sign;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    int64_t duration = static_cast<int64_t>(v);
    int64_t seconds = duration % 60;
    int64_t minutes = (duration / 60) % 60;
    int64_t hours = (duration / 60 / 60) % 24;
    int64_t days = duration / 60 / 60 / 24;
    if (days != 0) {
      return absl::StrCat(sign, days, "d ", hours, "h ", minutes, "m ", seconds,
                          "s");
    }
    if (hours != 0) {
      return absl::StrCat(sign, hours, "h ", minutes, "m ", seconds, "s");
    }
    if (minutes != 0) return absl::StrCat(sign, minutes, "m ", seconds, "s");
    return absl::StrCat(sign, FormatGoG(v, 4), "s");
  }
  static const char* const kSmall[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
  std::string prefix;
  for (const char* p : kSmall) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return absl::StrCat(FormatGoG(v, 4), prefix, "s");
}

absl::StatusOr<std::string> HumanizePercentage(double v) {
  return FormatGoG(v * 100, 4) + "%";
}

std::string FormatUTCSeconds(int64_t unix_ms, char sep, int* ms) {
  int64_t secs = unix_ms / 1000;
  int64_t rem = unix_ms % 1000;
  if (rem < 0) {
    rem += 1000;
    secs -= 1;
  }
  time_t tt = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d%c%02d:%02d:%02d",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, sep, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  *ms = static_cast<int>(rem);
  return buf;
}

std::string GoFraction(int ms) {
  if (ms == 0) return "";
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", ms);
  std::string f = frac;
  while (f.back() == '0') f.pop_back();
  return f;
}

std::string FormatGoTime(int64_t unix_ms) {
  int ms = 0;
  std::string out = FormatUTCSeconds(unix_ms, ' ', &ms);
  return out + GoFraction(ms) + " +0000 UTC";
}

absl::StatusOr<std::string> HumanizeTimestamp(double v) {
  if (std::isnan(v) || std::isinf(v)) return FormatGoG(v, 4);
  // Prometheus goes through model.Time (milliseconds), truncating.
  int64_t ns = static_cast<int64_t>(v * 1e9);
  return FormatGoTime(ns / 1000000);
}

// ---------------------------------------------------------------------------
// Parse tree.

std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace template_internal {

struct Pipe;

struct Arg {
  enum Kind {
    kDot,    // .
    kField,  // .A.B (fields holds the chain)
    kVar,    // $x.A (name "x" or "" for $)
    kString,
    kInt,
    kFloat,
    kBool,
    kNil,
    kFunc,  // identifier
    kPipe,  // ( pipeline ).A
  };
  Kind kind = kDot;
  std::string name;
  std::vector<std::string> fields;
  std::string str;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::shared_ptr<Pipe> pipe;
  int line = 0, col = 0;
};

struct Command {
  std::vector<Arg> args;
  int line = 0, col = 0;
};

struct Pipe {
  std::vector<std::string> decl;
  bool assign = false;  // `=` rather than `:=`
  std::vector<Command> cmds;
  int line = 0, col = 0;
};

enum class NodeKind { kList, kText, kAction, kIf, kRange, kWith };

struct Node {
  NodeKind kind = NodeKind::kList;
  std::string text;
  Pipe pipe;
  std::vector<Node> list;
  std::vector<Node> else_list;
  int line = 0, col = 0;
};

}  // namespace template_internal

namespace {

using template_internal::Arg;
using template_internal::Command;
using template_internal::Node;
using template_internal::NodeKind;
using template_internal::Pipe;

// ---------------------------------------------------------------------------
// Function table. Functions receive evaluated arguments; `and`/`or` are
// handled by the executor because they short-circuit.

using Func = std::function<absl::StatusOr<TemplateValue>(
    const std::vector<TemplateValue>&)>;

struct FuncSpec {
  int min_args;
  int max_args;  // -1: variadic
  Func fn;
};

absl::Status ExecError(absl::string_view msg) {
  return absl::InvalidArgumentError(msg);
}

absl::StatusOr<double> ToFloat(const TemplateValue& v) {
  switch (v.kind()) {
    case TemplateValue::Kind::kFloat:
      return v.float_value();
    case TemplateValue::Kind::kInt:
      return static_cast<double>(v.int_value());
    case TemplateValue::Kind::kString: {
      const std::string& s = v.string_value();
      std::string t = absl::AsciiStrToLower(s);
      if (t == "inf" || t == "+inf" || t == "infinity" || t == "+infinity") {
        return HUGE_VAL;
      }
      if (t == "-inf" || t == "-infinity") return -HUGE_VAL;
      if (t == "nan") return std::nan("");
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size() &&
          !absl::StrContains(t, "n")) {
        return d;
      }
      return ExecError(absl::StrCat("strconv.ParseFloat: parsing \"", s,
                                    "\": invalid syntax"));
    }
    default:
      return ExecError(
          absl::StrCat("can't convert ", v.TypeName(), " to float"));
  }
}

// Go's fmt.Sprintf for the verbs templates use: %v %s %d %f %e %g %q %x %t
// and %%, with flags, width and precision.
std::string GoSprintf(const std::string& format,
                      const std::vector<TemplateValue>& args) {
  std::string out;
  size_t argi = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c != '%') {
      out += c;
      continue;
    }
    size_t start = i++;
    while (i < format.size() && strchr("+-# 0", format[i])) ++i;
    while (i < format.size() && absl::ascii_isdigit(format[i])) ++i;
    bool has_prec = false;
    if (i < format.size() && format[i] == '.') {
      has_prec = true;
      ++i;
      while (i < format.size() && absl::ascii_isdigit(format[i])) ++i;
    }
    if (i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    char verb = format[i];
    std::string spec = format.substr(start, i - start);  // "%-8.3"
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (argi >= args.size()) {
      absl::StrAppend(&out, "%!", std::string(1, verb), "(MISSING)");
      continue;
    }
    const TemplateValue& a = args[argi++];
    using K = TemplateValue::Kind;
    auto bad = [&]() {
      absl::StrAppend(&out, "%!", std::string(1, verb), "(", a.TypeName(), "=",
                      a.ToString(), ")");
    };
    char buf[512];
    switch (verb) {
      case 'v':
      case 's': {
        if (verb == 's' && a.kind() != K::kString && a.kind() != K::kMap &&
            a.kind() != K::kList && a.kind() != K::kStruct) {
          bad();
          break;
        }
        std::string s = a.ToString();
        std::string f = spec + "s";
        std::snprintf(buf, sizeof buf, f.c_str(), s.c_str());
        out += buf;
        break;
      }
      case 'q': {
        if (a.kind() != K::kString) {
          bad();
          break;
        }
        std::string s = GoQuote(a.string_value());
        std::string f = spec + "s";
        std::snprintf(buf, sizeof buf, f.c_str(), s.c_str());
        out += buf;
        break;
      }
      case 't':
        if (a.kind() != K::kBool) {
          bad();
          break;
        }
        out += a.ToString();
        break;
      case 'd':
      case 'x':
      case 'X':
        if (a.kind() == K::kInt) {
          std::string f = spec + "ll" + verb;
          std::snprintf(buf, sizeof buf, f.c_str(),
                        static_cast<long long>(a.int_value()));
          out += buf;
        } else if ((verb == 'x' || verb == 'X') && a.kind() == K::kString) {
          for (unsigned char ch : a.string_value()) {
            std::snprintf(buf, sizeof buf, verb == 'x' ? "%02x" : "%02X", ch);
            out += buf;
          }
        } else {
          bad();
        }
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        double d;
        if (a.kind() == K::kFloat) {
          d = a.float_value();
        } else {
          bad();
          break;
        }
        if (std::isnan(d) || std::isinf(d)) {
          std::string s = SpecialFloat(d);
          if (std::isinf(d) && d > 0 && spec.find('+') == std::string::npos) {
            s = "+Inf";
          }
          out += s;
          break;
        }
        if (verb == 'g' && !has_prec && spec == "%") {
          // Go's %g without precision is the shortest representation.
          out += FormatGoFloat(d);
          break;
        }
        std::string f = spec + verb;
        std::snprintf(buf, sizeof buf, f.c_str(), d);
        out += buf;
        break;
      }
      default:
        absl::StrAppend(&out, "%!", std::string(1, verb), "(", a.TypeName(),
                        "=", a.ToString(), ")");
    }
  }
  if (argi < args.size()) {
    out += "%!(EXTRA ";
    for (size_t j = argi; j < args.size(); ++j) {
      if (j > argi) out += ", ";
      absl::StrAppend(&out, args[j].TypeName(), "=", args[j].ToString());
    }
    out += ")";
  }
  return out;
}

enum class BasicKind { kBool, kInt, kFloat, kString, kOther };

BasicKind KindOf(const TemplateValue& v) {
  switch (v.kind()) {
    case TemplateValue::Kind::kBool:
      return BasicKind::kBool;
    case TemplateValue::Kind::kInt:
      return BasicKind::kInt;
    case TemplateValue::Kind::kFloat:
      return BasicKind::kFloat;
    case TemplateValue::Kind::kString:
      return BasicKind::kString;
    default:
      return BasicKind::kOther;
  }
}

// Go's template comparison: both sides must have the same basic kind.
absl::StatusOr<int> Compare(const TemplateValue& a, const TemplateValue& b,
                            bool ordered) {
  BasicKind ka = KindOf(a), kb = KindOf(b);
  if (ka == BasicKind::kOther || kb == BasicKind::kOther) {
    if (!ordered && a.kind() == TemplateValue::Kind::kNil &&
        b.kind() == TemplateValue::Kind::kNil) {
      return 0;
    }
    return ExecError("invalid type for comparison");
  }
  if (ka != kb) return ExecError("incompatible types for comparison");
  switch (ka) {
    case BasicKind::kBool:
      if (ordered) return ExecError("invalid type for comparison");
      return a.bool_value() == b.bool_value() ? 0 : 1;
    case BasicKind::kInt:
      return a.int_value() < b.int_value()   ? -1
             : a.int_value() > b.int_value() ? 1
                                             : 0;
    case BasicKind::kFloat:
      if (a.float_value() < b.float_value()) return -1;
      if (a.float_value() > b.float_value()) return 1;
      if (a.float_value() == b.float_value()) return 0;
      return 2;  // NaN: unordered, unequal
    case BasicKind::kString:
      return a.string_value().compare(b.string_value()) < 0   ? -1
             : a.string_value().compare(b.string_value()) > 0 ? 1
                                                              : 0;
    default:
      return ExecError("invalid type for comparison");
  }
}

// Converts Go's regexp replacement syntax ($1, ${1}, ${name}) to RE2's
// (\1); RE2 has no named-group references, so names map to their index.
std::string GoReplacementToRE2(const std::string& repl, const RE2& re) {
  std::string out;
  const auto& names = re.NamedCapturingGroups();
  for (size_t i = 0; i < repl.size(); ++i) {
    char c = repl[i];
    if (c == '\\') {
      out += "\\\\";
      continue;
    }
    if (c != '$' || i + 1 >= repl.size()) {
      out += c;
      continue;
    }
    if (repl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::string name;
    size_t j = i + 1;
    if (repl[j] == '{') {
      size_t close = repl.find('}', j);
      if (close == std::string::npos) {
        out += c;
        continue;
      }
      name = repl.substr(j + 1, close - j - 1);
      j = close + 1;
    } else {
      while (j < repl.size() &&
             (absl::ascii_isalnum(repl[j]) || repl[j] == '_')) {
        name += repl[j++];
      }
    }
    if (name.empty()) {
      out += c;
      continue;
    }
    i = j - 1;
    bool numeric = std::all_of(name.begin(), name.end(),
                               [](char ch) { return absl::ascii_isdigit(ch); });
    int idx = -1;
    if (numeric) {
      idx = std::atoi(name.c_str());
    } else {
      auto it = names.find(name);
      if (it != names.end()) idx = it->second;
    }
    // Go expands unknown groups to "".
    if (idx >= 0 && idx <= re.NumberOfCapturingGroups() && idx <= 9) {
      absl::StrAppend(&out, "\\", idx);
    }
  }
  return out;
}

std::string GoTitle(const std::string& s) {
  // strings.Title: upper-cases letters that start a word (preceded by a
  // non-letter/digit/underscore/apostrophe... approximated on ASCII).
  std::string out = s;
  bool prev_sep = true;
  for (char& c : out) {
    bool letter = absl::ascii_isalnum(c) || c == '_' || c == '\'' ||
                  static_cast<unsigned char>(c) >= 0x80;
    if (prev_sep && absl::ascii_islower(c)) c = absl::ascii_toupper(c);
    prev_sep = !letter;
  }
  return out;
}

std::string HtmlEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\0':
        out += "\uFFFD";
        break;
      default:
        out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> NeedString(const TemplateValue& v,
                                       absl::string_view fn) {
  if (v.kind() != TemplateValue::Kind::kString) {
    return ExecError(absl::StrCat("wrong type for value; expected string; got ",
                                  v.TypeName(), " (in ", fn, ")"));
  }
  return v.string_value();
}

using NumFn = absl::StatusOr<std::string> (*)(double);

FuncSpec NumberFunc(NumFn fn) {
  return {1, 1,
          [fn](const std::vector<TemplateValue>& a)
              -> absl::StatusOr<TemplateValue> {
            absl::StatusOr<double> d = ToFloat(a[0]);
            if (!d.ok()) return d.status();
            absl::StatusOr<std::string> s = fn(*d);
            if (!s.ok()) return s.status();
            return TemplateValue::String(*std::move(s));
          }};
}

const absl::flat_hash_map<std::string, FuncSpec>& Funcs() {
  static const auto* const kFuncs = [] {
    auto* m = new absl::flat_hash_map<std::string, FuncSpec>();
    using V = TemplateValue;
    using Args = std::vector<TemplateValue>;
    using R = absl::StatusOr<TemplateValue>;
    // and/or are placeholders: the executor evaluates them lazily.
    (*m)["and"] = {1, -1, nullptr};
    (*m)["or"] = {1, -1, nullptr};
    (*m)["not"] = {1, 1,
                   [](const Args& a) -> R { return V::Bool(!a[0].Truthy()); }};
    (*m)["eq"] = {1, -1, [](const Args& a) -> R {
                    if (a.size() < 2)
                      return ExecError("missing argument for comparison");
                    for (size_t i = 1; i < a.size(); ++i) {
                      absl::StatusOr<int> c = Compare(a[0], a[i], false);
                      if (!c.ok()) return c.status();
                      if (*c == 0) return V::Bool(true);
                    }
                    return V::Bool(false);
                  }};
    auto cmp = [](std::function<bool(int)> ok) {
      return FuncSpec{2, 2, [ok](const Args& a) -> R {
                        absl::StatusOr<int> c = Compare(a[0], a[1], true);
                        if (!c.ok()) return c.status();
                        return V::Bool(ok(*c));
                      }};
    };
    (*m)["ne"] = {2, 2, [](const Args& a) -> R {
                    absl::StatusOr<int> c = Compare(a[0], a[1], false);
                    if (!c.ok()) return c.status();
                    return V::Bool(*c != 0);
                  }};
    (*m)["lt"] = cmp([](int c) { return c == -1; });
    (*m)["le"] = cmp([](int c) { return c == -1 || c == 0; });
    (*m)["gt"] = cmp([](int c) { return c == 1; });
    (*m)["ge"] = cmp([](int c) { return c == 1 || c == 0; });
    (*m)["len"] = {
        1, 1, [](const Args& a) -> R {
          switch (a[0].kind()) {
            case V::Kind::kString:
              return V::Int(a[0].string_value().size());
            case V::Kind::kMap:
              return V::Int(a[0].map().size());
            case V::Kind::kList:
              return V::Int(a[0].list().size());
            default:
              return ExecError(absl::StrCat("len of type ", a[0].TypeName()));
          }
        }};
    (*m)["index"] = {
        1, -1, [](const Args& a) -> R {
          V cur = a[0];
          for (size_t i = 1; i < a.size(); ++i) {
            if (cur.kind() == V::Kind::kMap &&
                a[i].kind() == V::Kind::kString) {
              auto it = cur.map().find(a[i].string_value());
              cur = it == cur.map().end() ? V::String("") : it->second;
            } else if (cur.kind() == V::Kind::kList &&
                       a[i].kind() == V::Kind::kInt) {
              int64_t k = a[i].int_value();
              if (k < 0 || k >= static_cast<int64_t>(cur.list().size())) {
                return ExecError(absl::StrCat(
                    "error calling index: index out of range: ", k));
              }
              cur = cur.list()[k];
            } else {
              return ExecError(
                  absl::StrCat("error calling index: can't index item of type ",
                               cur.TypeName()));
            }
          }
          return cur;
        }};
    (*m)["print"] = {0, -1, [](const Args& a) -> R {
                       std::string out;
                       for (size_t i = 0; i < a.size(); ++i) {
                         // Sprint adds spaces between operands when neither
                         // is a string.
                         if (i > 0 && a[i].kind() != V::Kind::kString &&
                             a[i - 1].kind() != V::Kind::kString) {
                           out += ' ';
                         }
                         out += a[i].ToString();
                       }
                       return V::String(out);
                     }};
    (*m)["println"] = {0, -1, [](const Args& a) -> R {
                         std::string out;
                         for (size_t i = 0; i < a.size(); ++i) {
                           if (i > 0) out += ' ';
                           out += a[i].ToString();
                         }
                         return V::String(out + "\n");
                       }};
    (*m)["printf"] = {1, -1, [](const Args& a) -> R {
                        absl::StatusOr<std::string> f =
                            NeedString(a[0], "printf");
                        if (!f.ok()) return f.status();
                        return V::String(GoSprintf(
                            *f, std::vector<V>(a.begin() + 1, a.end())));
                      }};
    (*m)["urlquery"] = {0, -1, [](const Args& a) -> R {
                          std::string s;
                          for (const V& v : a) s += v.ToString();
                          return V::String(net::QueryEscape(s));
                        }};
    (*m)["html"] = {0, -1, [](const Args& a) -> R {
                      std::string s;
                      for (const V& v : a) s += v.ToString();
                      return V::String(HtmlEscape(s));
                    }};
    (*m)["humanize"] = NumberFunc(&Humanize);
    (*m)["humanize1024"] = NumberFunc(&Humanize1024);
    (*m)["humanizeDuration"] = NumberFunc(&HumanizeDuration);
    (*m)["humanizePercentage"] = NumberFunc(&HumanizePercentage);
    (*m)["humanizeTimestamp"] = NumberFunc(&HumanizeTimestamp);
    auto str_fn = [](std::function<std::string(const std::string&)> f,
                     const char* name) {
      return FuncSpec{1, 1, [f, name](const Args& a) -> R {
                        absl::StatusOr<std::string> s = NeedString(a[0], name);
                        if (!s.ok()) return s.status();
                        return V::String(f(*s));
                      }};
    };
    (*m)["toUpper"] =
        str_fn([](const std::string& s) { return absl::AsciiStrToUpper(s); },
               "toUpper");
    (*m)["toLower"] =
        str_fn([](const std::string& s) { return absl::AsciiStrToLower(s); },
               "toLower");
    (*m)["title"] = str_fn(&GoTitle, "title");
    (*m)["trimSpace"] = str_fn(
        [](const std::string& s) {
          return std::string(absl::StripAsciiWhitespace(s));
        },
        "trimSpace");
    (*m)["safeHtml"] =
        str_fn([](const std::string& s) { return s; }, "safeHtml");
    (*m)["stripPort"] = str_fn(
        [](const std::string& s) {
          // net.SplitHostPort; on failure the input is returned.
          if (!s.empty() && s[0] == '[') {
            size_t close = s.find(']');
            if (close != std::string::npos && close + 1 < s.size() &&
                s[close + 1] == ':') {
              return s.substr(1, close - 1);
            }
            return s;
          }
          size_t colon = s.rfind(':');
          if (colon == std::string::npos || s.find(':') != colon) {
            return s;
          }
          return s.substr(0, colon);
        },
        "stripPort");
    (*m)["reReplaceAll"] = {
        3, 3, [](const Args& a) -> R {
          absl::StatusOr<std::string> pat = NeedString(a[0], "reReplaceAll");
          if (!pat.ok()) return pat.status();
          absl::StatusOr<std::string> repl = NeedString(a[1], "reReplaceAll");
          if (!repl.ok()) return repl.status();
          absl::StatusOr<std::string> text = NeedString(a[2], "reReplaceAll");
          if (!text.ok()) return text.status();
          RE2 re(*pat, RE2::Quiet);
          if (!re.ok()) {
            return ExecError(absl::StrCat("error parsing regexp \"", *pat,
                                          "\": ", re.error()));
          }
          std::string out = *text;
          RE2::GlobalReplace(&out, re, GoReplacementToRE2(*repl, re));
          return V::String(out);
        }};
    (*m)["match"] = {
        2, 2, [](const Args& a) -> R {
          absl::StatusOr<std::string> pat = NeedString(a[0], "match");
          if (!pat.ok()) return pat.status();
          absl::StatusOr<std::string> text = NeedString(a[1], "match");
          if (!text.ok()) return text.status();
          RE2 re(*pat, RE2::Quiet);
          if (!re.ok()) {
            return ExecError(absl::StrCat("error parsing regexp \"", *pat,
                                          "\": ", re.error()));
          }
          return V::Bool(RE2::PartialMatch(*text, re));
        }};
    (*m)["join"] = {2, 2, [](const Args& a) -> R {
                      absl::StatusOr<std::string> sep =
                          NeedString(a[0], "join");
                      if (!sep.ok()) return sep.status();
                      if (a[1].kind() != V::Kind::kList) {
                        return ExecError("join: expected a list");
                      }
                      std::vector<std::string> parts;
                      for (const V& v : a[1].list())
                        parts.push_back(v.ToString());
                      return V::String(absl::StrJoin(parts, *sep));
                    }};
    (*m)["stringSlice"] = {0, -1,
                           [](const Args& a) -> R { return V::FromList(a); }};
    return m;
  }();
  return *kFuncs;
}

// ---------------------------------------------------------------------------
// Lexer: splits the input into text and action items, and actions into
// tokens.

enum class Tok {
  kIdent,
  kField,   // .Name
  kDot,     // .
  kVar,     // $name or $
  kString,  // value already unquoted
  kNumber,
  kLParen,
  kRParen,
  kPipe,
  kDeclare,
  kAssign,
  kComma,
};

struct Token {
  Tok type;
  std::string text;
  int line, col;
  bool space_before;
};

struct Item {
  bool is_action;
  std::string text;  // for text items
  std::vector<Token> tokens;
  int line, col;
};

class Lexer {
 public:
  Lexer(absl::string_view in, std::string name) : in_(in), name_(name) {}

  absl::StatusOr<std::vector<Item>> Run() {
    std::vector<Item> items;
    size_t pos = 0;
    bool trim_next = false;
    while (pos <= in_.size()) {
      size_t open = in_.find("{{", pos);
      size_t text_end = open == absl::string_view::npos ? in_.size() : open;
      std::string text(in_.substr(pos, text_end - pos));
      if (trim_next) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
      }
      bool trim_left = open != absl::string_view::npos &&
                       open + 3 < in_.size() + 0 && in_.size() > open + 3 &&
                       in_[open + 2] == '-' && IsSpace(in_[open + 3]);
      if (trim_left) {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      }
      if (!text.empty()) {
        Item it{false, text, {}, 0, 0};
        Pos(pos, &it.line, &it.col);
        items.push_back(std::move(it));
      }
      if (open == absl::string_view::npos) break;
      size_t p = open + 2 + (trim_left ? 2 : 0);
      Item action{true, "", {}, 0, 0};
      Pos(open, &action.line, &action.col);
      // Comments: {{/* ... */}} (optionally with trim markers).
      size_t q = p;
      while (q < in_.size() && IsSpace(in_[q]) && trim_left) ++q;
      if (in_.substr(q, 2) == "/*") {
        size_t close = in_.find("*/", q + 2);
        if (close == absl::string_view::npos) {
          return Error(open, "unclosed comment");
        }
        size_t r = close + 2;
        bool trim_right = false;
        if (in_.substr(r, 3) == " -}") {
          trim_right = true;
          r += 2;
        }
        if (in_.substr(r, 2) != "}}")
          return Error(open, "comment ends before closing delimiter");
        pos = r + 2;
        trim_next = trim_right;
        continue;
      }
      absl::StatusOr<size_t> end = LexAction(p, &action.tokens, &trim_next);
      if (!end.ok()) return end.status();
      pos = *end;
      items.push_back(std::move(action));
    }
    return items;
  }

  void Pos(size_t offset, int* line, int* col) const {
    int l = 1, c = 1;
    for (size_t i = 0; i < offset && i < in_.size(); ++i) {
      if (in_[i] == '\n') {
        ++l;
        c = 1;
      } else {
        ++c;
      }
    }
    *line = l;
    *col = c;
  }

  absl::Status Error(size_t offset, absl::string_view msg) const {
    int line, col;
    Pos(offset, &line, &col);
    return absl::InvalidArgumentError(
        absl::StrCat("template: ", name_, ":", line, ":", col, ": ", msg));
  }

 private:
  static bool IsSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  }
  static bool IsIdentChar(char c) {
    return absl::ascii_isalnum(c) || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
  }

  // Lexes tokens from `p` up to and including the closing delimiter;
  // returns the offset after it.
  absl::StatusOr<size_t> LexAction(size_t p, std::vector<Token>* toks,
                                   bool* trim_next) {
    bool space = true;
    while (true) {
      if (p >= in_.size()) return Error(p, "unclosed action");
      char c = in_[p];
      if (IsSpace(c)) {
        // " -}}" closes with right trim.
        if (in_.substr(p + 1, 3) == "-}}") {
          *trim_next = true;
          return p + 4;
        }
        if (c == '\n') {
          // Go allows newlines inside actions since 1.16.
        }
        space = true;
        ++p;
        continue;
      }
      if (in_.substr(p, 2) == "}}") {
        *trim_next = false;
        return p + 2;
      }
      Token t{Tok::kIdent, "", 0, 0, space};
      Pos(p, &t.line, &t.col);
      space = false;
      size_t start = p;
      if (c == '|') {
        t.type = Tok::kPipe;
        ++p;
      } else if (c == '(') {
        t.type = Tok::kLParen;
        ++p;
      } else if (c == ')') {
        t.type = Tok::kRParen;
        ++p;
      } else if (c == ',') {
        t.type = Tok::kComma;
        ++p;
      } else if (c == ':' && p + 1 < in_.size() && in_[p + 1] == '=') {
        t.type = Tok::kDeclare;
        p += 2;
      } else if (c == '=') {
        t.type = Tok::kAssign;
        ++p;
      } else if (c == '$') {
        t.type = Tok::kVar;
        ++p;
        while (p < in_.size() && IsIdentChar(in_[p])) ++p;
        t.text = std::string(in_.substr(start + 1, p - start - 1));
      } else if (c == '.' &&
                 (p + 1 >= in_.size() || !absl::ascii_isdigit(in_[p + 1]))) {
        ++p;
        while (p < in_.size() && IsIdentChar(in_[p])) ++p;
        if (p == start + 1) {
          t.type = Tok::kDot;
        } else {
          t.type = Tok::kField;
          t.text = std::string(in_.substr(start + 1, p - start - 1));
        }
      } else if (c == '"') {
        t.type = Tok::kString;
        ++p;
        std::string val;
        while (true) {
          if (p >= in_.size() || in_[p] == '\n') {
            return Error(start, "unterminated quoted string");
          }
          char d = in_[p++];
          if (d == '"') break;
          if (d != '\\') {
            val += d;
            continue;
          }
          if (p >= in_.size())
            return Error(start, "unterminated quoted string");
          char e = in_[p++];
          switch (e) {
            case 'n':
              val += '\n';
              break;
            case 't':
              val += '\t';
              break;
            case 'r':
              val += '\r';
              break;
            case '\\':
              val += '\\';
              break;
            case '"':
              val += '"';
              break;
            case '\'':
              val += '\'';
              break;
            case 'a':
              val += '\a';
              break;
            case 'b':
              val += '\b';
              break;
            case 'f':
              val += '\f';
              break;
            case 'v':
              val += '\v';
              break;
            case 'x': {
              if (p + 2 > in_.size()) return Error(start, "bad escape");
              std::string hex(in_.substr(p, 2));
              val += static_cast<char>(std::strtol(hex.c_str(), nullptr, 16));
              p += 2;
              break;
            }
            default:
              return Error(p - 2, absl::StrCat("unknown escape sequence \\",
                                               std::string(1, e)));
          }
        }
        t.text = val;
      } else if (c == '`') {
        t.type = Tok::kString;
        size_t close = in_.find('`', p + 1);
        if (close == absl::string_view::npos) {
          return Error(start, "unterminated raw quoted string");
        }
        t.text = std::string(in_.substr(p + 1, close - p - 1));
        p = close + 1;
      } else if (absl::ascii_isdigit(c) || c == '-' || c == '+' || c == '.') {
        t.type = Tok::kNumber;
        ++p;
        while (p < in_.size() &&
               (absl::ascii_isalnum(in_[p]) || in_[p] == '.' || in_[p] == '_' ||
                ((in_[p] == '+' || in_[p] == '-') &&
                 (in_[p - 1] == 'e' || in_[p - 1] == 'E')))) {
          ++p;
        }
        t.text = std::string(in_.substr(start, p - start));
      } else if (IsIdentChar(c)) {
        t.type = Tok::kIdent;
        while (p < in_.size() && IsIdentChar(in_[p])) ++p;
        t.text = std::string(in_.substr(start, p - start));
      } else {
        return Error(p, absl::StrCat("unexpected \"", std::string(1, c),
                                     "\" in command"));
      }
      toks->push_back(std::move(t));
    }
  }

  absl::string_view in_;
  std::string name_;
};

// ---------------------------------------------------------------------------
// Parser.

class Parser {
 public:
  Parser(std::vector<Item> items, std::string name,
         const std::vector<std::string>& predefined)
      : items_(std::move(items)), name_(std::move(name)) {
    scopes_.push_back({""});
    for (const std::string& v : predefined) scopes_.back().push_back(v);
  }

  absl::StatusOr<Node> Parse() {
    Node root;
    root.kind = NodeKind::kList;
    std::string stop;
    absl::Status s = ParseList(&root.list, &stop);
    if (!s.ok()) return s;
    if (!stop.empty()) {
      return Err(last_line_, last_col_,
                 absl::StrCat("unexpected {{", stop, "}}"));
    }
    return root;
  }

 private:
  absl::Status Err(int line, int col, absl::string_view msg) const {
    return absl::InvalidArgumentError(
        absl::StrCat("template: ", name_, ":", line, ":", col, ": ", msg));
  }

  bool Declared(const std::string& v) const {
    for (const auto& scope : scopes_) {
      if (std::find(scope.begin(), scope.end(), v) != scope.end()) return true;
    }
    return false;
  }

  // Parses nodes until EOF or a {{end}} / {{else ...}} action; the
  // terminator is stored in *stop ("" at EOF, "end", "else").
  absl::Status ParseList(std::vector<Node>* out, std::string* stop) {
    while (pos_ < items_.size()) {
      const Item& it = items_[pos_];
      last_line_ = it.line;
      last_col_ = it.col;
      if (!it.is_action) {
        Node n;
        n.kind = NodeKind::kText;
        n.text = it.text;
        out->push_back(std::move(n));
        ++pos_;
        continue;
      }
      const std::vector<Token>& toks = it.tokens;
      if (toks.empty())
        return Err(it.line, it.col, "missing value for command");
      const Token& first = toks[0];
      if (first.type == Tok::kIdent) {
        const std::string& kw = first.text;
        if (kw == "end" || kw == "else") {
          *stop = kw;
          return absl::OkStatus();
        }
        if (kw == "if" || kw == "range" || kw == "with") {
          absl::StatusOr<Node> n = ParseControl(kw);
          if (!n.ok()) return n.status();
          out->push_back(*std::move(n));
          continue;
        }
        if (kw == "define" || kw == "template" || kw == "block" ||
            kw == "break" || kw == "continue") {
          return Err(first.line, first.col,
                     absl::StrCat("unsupported action \"", kw, "\""));
        }
      }
      Node n;
      n.kind = NodeKind::kAction;
      n.line = it.line;
      n.col = it.col;
      size_t tp = 0;
      absl::Status s = ParsePipe(toks, &tp, &n.pipe, /*allow_decl=*/true,
                                 /*range_decl=*/false);
      if (!s.ok()) return s;
      if (tp != toks.size()) {
        return Err(
            toks[tp].line, toks[tp].col,
            absl::StrCat("unexpected \"", toks[tp].text, "\" in command"));
      }
      ++pos_;
      out->push_back(std::move(n));
    }
    *stop = "";
    return absl::OkStatus();
  }

  // Current item is {{if|range|with pipeline}}.
  absl::StatusOr<Node> ParseControl(const std::string& kw,
                                    size_t tok_start = 1) {
    const Item& it = items_[pos_];
    Node n;
    n.kind = kw == "if"      ? NodeKind::kIf
             : kw == "range" ? NodeKind::kRange
                             : NodeKind::kWith;
    n.line = it.line;
    n.col = it.col;
    scopes_.emplace_back();
    size_t tp = tok_start;
    if (tp >= it.tokens.size()) {
      return Err(it.line, it.col, absl::StrCat("missing value for ", kw));
    }
    absl::Status s = ParsePipe(it.tokens, &tp, &n.pipe, true, kw == "range");
    if (!s.ok()) return s;
    if (tp != it.tokens.size()) {
      return Err(
          it.tokens[tp].line, it.tokens[tp].col,
          absl::StrCat("unexpected \"", it.tokens[tp].text, "\" in ", kw));
    }
    ++pos_;
    std::string stop;
    s = ParseList(&n.list, &stop);
    if (!s.ok()) return s;
    if (stop.empty()) {
      return Err(n.line, n.col,
                 absl::StrCat("unexpected EOF: {{", kw, "}} without {{end}}"));
    }
    if (stop == "else") {
      const Item& e = items_[pos_];
      // Variables declared in the if-pipeline stay visible in else (Go).
      if (e.tokens.size() > 1) {
        // {{else if ...}} / {{else with ...}}: nest a control node that
        // consumes the shared {{end}}.
        const Token& k = e.tokens[1];
        if (k.type != Tok::kIdent || (k.text != "if" && k.text != "with")) {
          return Err(k.line, k.col, "unexpected token after else");
        }
        absl::StatusOr<Node> nested = ParseControl(k.text, 2);
        if (!nested.ok()) return nested.status();
        n.else_list.push_back(*std::move(nested));
        scopes_.pop_back();
        return n;
      }
      ++pos_;
      s = ParseList(&n.else_list, &stop);
      if (!s.ok()) return s;
      if (stop != "end") {
        return Err(n.line, n.col,
                   stop.empty() ? "unexpected EOF: missing {{end}}"
                                : "expected {{end}} after {{else}}");
      }
    }
    const Item& end = items_[pos_];
    if (end.tokens.size() != 1) {
      return Err(end.tokens[1].line, end.tokens[1].col,
                 "unexpected token in {{end}}");
    }
    ++pos_;
    scopes_.pop_back();
    return n;
  }

  absl::Status ParsePipe(const std::vector<Token>& toks, size_t* tp, Pipe* pipe,
                         bool allow_decl, bool range_decl) {
    if (*tp < toks.size()) {
      pipe->line = toks[*tp].line;
      pipe->col = toks[*tp].col;
    }
    // Declarations: $x := / $x = / $i, $e :=
    if (allow_decl && *tp < toks.size() && toks[*tp].type == Tok::kVar) {
      size_t q = *tp;
      std::vector<std::string> vars;
      vars.push_back(toks[q].text);
      ++q;
      if (range_decl && q + 1 < toks.size() && toks[q].type == Tok::kComma &&
          toks[q + 1].type == Tok::kVar) {
        vars.push_back(toks[q + 1].text);
        q += 2;
      }
      if (q < toks.size() &&
          (toks[q].type == Tok::kDeclare || toks[q].type == Tok::kAssign)) {
        pipe->assign = toks[q].type == Tok::kAssign;
        if (pipe->assign) {
          for (const std::string& v : vars) {
            if (!Declared(v)) {
              return Err(toks[*tp].line, toks[*tp].col,
                         absl::StrCat("undefined variable \"$", v, "\""));
            }
          }
        }
        pipe->decl = vars;
        *tp = q + 1;
      }
    }
    while (true) {
      Command cmd;
      if (*tp < toks.size()) {
        cmd.line = toks[*tp].line;
        cmd.col = toks[*tp].col;
      }
      absl::Status s = ParseCommand(toks, tp, &cmd);
      if (!s.ok()) return s;
      pipe->cmds.push_back(std::move(cmd));
      if (*tp < toks.size() && toks[*tp].type == Tok::kPipe) {
        ++*tp;
        continue;
      }
      break;
    }
    // Declared after the pipeline is parsed: `$x := $x` refers to an outer x.
    if (!pipe->assign) {
      for (const std::string& v : pipe->decl) scopes_.back().push_back(v);
    }
    return absl::OkStatus();
  }

  absl::Status ParseCommand(const std::vector<Token>& toks, size_t* tp,
                            Command* cmd) {
    while (*tp < toks.size()) {
      Tok t = toks[*tp].type;
      if (t == Tok::kPipe || t == Tok::kRParen) break;
      if (!cmd->args.empty() && !toks[*tp].space_before) {
        return Err(
            toks[*tp].line, toks[*tp].col,
            absl::StrCat("missing space before \"", toks[*tp].text, "\""));
      }
      Arg a;
      absl::Status s = ParseOperand(toks, tp, &a);
      if (!s.ok()) return s;
      cmd->args.push_back(std::move(a));
    }
    if (cmd->args.empty()) {
      int line = cmd->line, col = cmd->col;
      if (*tp < toks.size()) {
        line = toks[*tp].line;
        col = toks[*tp].col;
      } else if (!toks.empty()) {
        line = toks.back().line;
        col = toks.back().col;
      }
      return Err(line, col, "missing value for command");
    }
    const Arg& head = cmd->args[0];
    if (head.kind != Arg::kFunc && cmd->args.size() > 1) {
      return Err(cmd->args[1].line, cmd->args[1].col,
                 "can't give argument to non-function");
    }
    for (size_t i = 1; i < cmd->args.size(); ++i) {
      if (cmd->args[i].kind == Arg::kFunc) {
        // A bare function name as an argument is fine in Go only for
        // niladic funcs; we have none that make sense there.
        const auto& funcs = Funcs();
        auto it = funcs.find(cmd->args[i].name);
        if (it->second.min_args > 0) {
          return Err(cmd->args[i].line, cmd->args[i].col,
                     absl::StrCat("function \"", cmd->args[i].name,
                                  "\" used as an argument needs parentheses"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseOperand(const std::vector<Token>& toks, size_t* tp,
                            Arg* a) {
    const Token& t = toks[*tp];
    a->line = t.line;
    a->col = t.col;
    switch (t.type) {
      case Tok::kDot:
        a->kind = Arg::kDot;
        ++*tp;
        break;
      case Tok::kField:
        a->kind = Arg::kField;
        a->fields.push_back(t.text);
        ++*tp;
        break;
      case Tok::kVar:
        if (!t.text.empty() && !Declared(t.text)) {
          return Err(t.line, t.col,
                     absl::StrCat("undefined variable \"$", t.text, "\""));
        }
        a->kind = Arg::kVar;
        a->name = t.text;
        ++*tp;
        break;
      case Tok::kString:
        a->kind = Arg::kString;
        a->str = t.text;
        ++*tp;
        break;
      case Tok::kNumber: {
        const std::string& s = t.text;
        char* end = nullptr;
        errno = 0;
        long long iv = std::strtoll(s.c_str(), &end, 0);
        if (end == s.c_str() + s.size() && errno == 0) {
          a->kind = Arg::kInt;
          a->i = iv;
        } else {
          double d = std::strtod(s.c_str(), &end);
          if (end != s.c_str() + s.size() || s.empty()) {
            return Err(t.line, t.col,
                       absl::StrCat("bad number syntax: \"", s, "\""));
          }
          a->kind = Arg::kFloat;
          a->d = d;
        }
        ++*tp;
        break;
      }
      case Tok::kIdent:
        if (t.text == "true" || t.text == "false") {
          a->kind = Arg::kBool;
          a->b = t.text == "true";
        } else if (t.text == "nil") {
          a->kind = Arg::kNil;
        } else {
          if (!Funcs().contains(t.text)) {
            return Err(t.line, t.col,
                       absl::StrCat("function \"", t.text, "\" not defined"));
          }
          a->kind = Arg::kFunc;
          a->name = t.text;
        }
        ++*tp;
        break;
      case Tok::kLParen: {
        ++*tp;
        a->kind = Arg::kPipe;
        a->pipe = std::make_shared<Pipe>();
        absl::Status s = ParsePipe(toks, tp, a->pipe.get(), true, false);
        if (!s.ok()) return s;
        if (*tp >= toks.size() || toks[*tp].type != Tok::kRParen) {
          return Err(t.line, t.col, "unclosed left paren");
        }
        ++*tp;
        break;
      }
      default:
        return Err(
            t.line, t.col,
            absl::StrCat("unexpected \"", t.text.empty() ? "token" : t.text,
                         "\" in operand"));
    }
    // Field chain: .A.B directly attached to the operand.
    while (*tp < toks.size() && toks[*tp].type == Tok::kField &&
           !toks[*tp].space_before) {
      if (a->kind != Arg::kField && a->kind != Arg::kVar &&
          a->kind != Arg::kPipe) {
        return Err(toks[*tp].line, toks[*tp].col, "unexpected . after term");
      }
      a->fields.push_back(toks[*tp].text);
      ++*tp;
    }
    return absl::OkStatus();
  }

  std::vector<Item> items_;
  std::string name_;
  size_t pos_ = 0;
  std::vector<std::vector<std::string>> scopes_;
  int last_line_ = 1, last_col_ = 1;
};

// ---------------------------------------------------------------------------
// Executor.

class Executor {
 public:
  Executor(std::string name, const TemplateValue& root)
      : name_(std::move(name)) {
    vars_.emplace_back("", root);
  }

  absl::Status Walk(const Node& n, const TemplateValue& dot, std::string* out) {
    switch (n.kind) {
      case NodeKind::kList:
        for (const Node& c : n.list) {
          absl::Status s = Walk(c, dot, out);
          if (!s.ok()) return s;
        }
        return absl::OkStatus();
      case NodeKind::kText:
        out->append(n.text);
        return absl::OkStatus();
      case NodeKind::kAction: {
        absl::StatusOr<TemplateValue> v = EvalPipe(n.pipe, dot);
        if (!v.ok()) return v.status();
        if (n.pipe.decl.empty()) out->append(v->ToString());
        return absl::OkStatus();
      }
      case NodeKind::kIf:
      case NodeKind::kWith: {
        size_t mark = vars_.size();
        absl::StatusOr<TemplateValue> v = EvalPipe(n.pipe, dot);
        if (!v.ok()) return v.status();
        absl::Status s;
        if (v->Truthy()) {
          s = WalkList(n.list, n.kind == NodeKind::kWith ? *v : dot, out);
        } else {
          s = WalkList(n.else_list, dot, out);
        }
        vars_.resize(mark);
        return s;
      }
      case NodeKind::kRange: {
        size_t mark = vars_.size();
        // The declared variables are bound per element, not to the whole
        // pipeline value.
        Pipe p = n.pipe;
        std::vector<std::string> decl = p.decl;
        p.decl.clear();
        absl::StatusOr<TemplateValue> v = EvalPipe(p, dot);
        if (!v.ok()) return v.status();
        std::vector<std::pair<TemplateValue, TemplateValue>> elems;
        if (v->kind() == TemplateValue::Kind::kList) {
          int64_t i = 0;
          for (const TemplateValue& e : v->list()) {
            elems.emplace_back(TemplateValue::Int(i++), e);
          }
        } else if (v->kind() == TemplateValue::Kind::kMap) {
          for (const auto& [k, e] : v->map()) {
            elems.emplace_back(TemplateValue::String(k), e);
          }
        } else if (v->kind() == TemplateValue::Kind::kInt) {
          for (int64_t i = 0; i < v->int_value(); ++i) {
            elems.emplace_back(TemplateValue::Int(i), TemplateValue::Int(i));
          }
        } else if (v->kind() != TemplateValue::Kind::kNil) {
          return Error(
              n.pipe.line, n.pipe.col,
              absl::StrCat("range can't iterate over ", v->ToString()));
        }
        if (elems.empty()) {
          absl::Status s = WalkList(n.else_list, dot, out);
          vars_.resize(mark);
          return s;
        }
        for (const auto& [k, e] : elems) {
          if (decl.size() == 1) {
            vars_.emplace_back(decl[0], e);
          } else if (decl.size() == 2) {
            vars_.emplace_back(decl[0], k);
            vars_.emplace_back(decl[1], e);
          }
          absl::Status s = WalkList(n.list, e, out);
          vars_.resize(mark);
          if (!s.ok()) return s;
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status WalkList(const std::vector<Node>& list, const TemplateValue& dot,
                        std::string* out) {
    for (const Node& c : list) {
      absl::Status s = Walk(c, dot, out);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Error(int line, int col, absl::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "template: ", name_, ":", line, ":", col, ": executing: ", msg));
  }

  absl::StatusOr<TemplateValue> EvalPipe(const Pipe& p,
                                         const TemplateValue& dot) {
    TemplateValue v;
    bool have = false;
    for (const Command& c : p.cmds) {
      absl::StatusOr<TemplateValue> r =
          EvalCommand(c, dot, have ? &v : nullptr);
      if (!r.ok()) return r.status();
      v = *std::move(r);
      have = true;
    }
    for (const std::string& name : p.decl) {
      if (p.assign) {
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
          if (it->first == name) {
            it->second = v;
            break;
          }
        }
      } else {
        vars_.emplace_back(name, v);
      }
    }
    return v;
  }

  absl::StatusOr<TemplateValue> EvalCommand(const Command& c,
                                            const TemplateValue& dot,
                                            const TemplateValue* final) {
    const Arg& head = c.args[0];
    if (head.kind != Arg::kFunc) {
      if (final != nullptr) {
        return Error(head.line, head.col,
                     "can't give argument to non-function");
      }
      return EvalArg(head, dot);
    }
    const FuncSpec& spec = Funcs().at(head.name);
    int nargs = static_cast<int>(c.args.size()) - 1 + (final ? 1 : 0);
    if (nargs < spec.min_args ||
        (spec.max_args >= 0 && nargs > spec.max_args)) {
      return Error(head.line, head.col,
                   absl::StrCat("wrong number of args for ", head.name,
                                ": want ", spec.min_args, " got ", nargs));
    }
    if (head.name == "and" || head.name == "or") {
      bool is_and = head.name == "and";
      TemplateValue v;
      for (int i = 0; i < nargs; ++i) {
        if (i + 1 < static_cast<int>(c.args.size())) {
          absl::StatusOr<TemplateValue> r = EvalArg(c.args[i + 1], dot);
          if (!r.ok()) return r.status();
          v = *std::move(r);
        } else {
          v = *final;
        }
        if (v.Truthy() != is_and) return v;
      }
      return v;
    }
    std::vector<TemplateValue> args;
    args.reserve(nargs);
    for (size_t i = 1; i < c.args.size(); ++i) {
      absl::StatusOr<TemplateValue> r = EvalArg(c.args[i], dot);
      if (!r.ok()) return r.status();
      args.push_back(*std::move(r));
    }
    if (final) args.push_back(*final);
    absl::StatusOr<TemplateValue> r = spec.fn(args);
    if (!r.ok()) {
      return Error(head.line, head.col,
                   absl::StrCat("error calling ", head.name, ": ",
                                r.status().message()));
    }
    return r;
  }

  absl::StatusOr<TemplateValue> EvalArg(const Arg& a,
                                        const TemplateValue& dot) {
    TemplateValue base;
    switch (a.kind) {
      case Arg::kDot:
        return dot;
      case Arg::kField:
        base = dot;
        break;
      case Arg::kVar: {
        bool found = false;
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
          if (it->first == a.name) {
            base = it->second;
            found = true;
            break;
          }
        }
        if (!found) {
          return Error(a.line, a.col,
                       absl::StrCat("undefined variable: $", a.name));
        }
        break;
      }
      case Arg::kString:
        return TemplateValue::String(a.str);
      case Arg::kInt:
        return TemplateValue::Int(a.i);
      case Arg::kFloat:
        return TemplateValue::Float(a.d);
      case Arg::kBool:
        return TemplateValue::Bool(a.b);
      case Arg::kNil:
        return Error(a.line, a.col, "nil is not a command");
      case Arg::kFunc: {
        Command c;
        c.args.push_back(a);
        return EvalCommand(c, dot, nullptr);
      }
      case Arg::kPipe: {
        size_t mark = vars_.size();
        absl::StatusOr<TemplateValue> r = EvalPipe(*a.pipe, dot);
        vars_.resize(mark);
        if (!r.ok()) return r.status();
        base = *std::move(r);
        break;
      }
    }
    for (const std::string& f : a.fields) {
      absl::StatusOr<TemplateValue> r = Field(base, f, a);
      if (!r.ok()) return r.status();
      base = *std::move(r);
    }
    return base;
  }

  absl::StatusOr<TemplateValue> Field(const TemplateValue& v,
                                      const std::string& f, const Arg& a) {
    switch (v.kind()) {
      case TemplateValue::Kind::kMap: {
        auto it = v.map().find(f);
        // missingkey=zero, as Prometheus and Alertmanager configure it.
        if (it == v.map().end()) return TemplateValue::String("");
        return it->second;
      }
      case TemplateValue::Kind::kStruct: {
        auto it = v.map().find(f);
        if (it == v.map().end()) {
          return Error(a.line, a.col, absl::StrCat("can't evaluate field ", f));
        }
        return it->second;
      }
      case TemplateValue::Kind::kList:
        // Alertmanager's Alerts type has Firing() and Resolved() methods.
        if (f == "Firing" || f == "Resolved") {
          TemplateValue::List out;
          std::string want = f == "Firing" ? "firing" : "resolved";
          for (const TemplateValue& e : v.list()) {
            if (e.kind() == TemplateValue::Kind::kStruct ||
                e.kind() == TemplateValue::Kind::kMap) {
              auto it = e.map().find("Status");
              if (it != e.map().end() && it->second.string_value() == want) {
                out.push_back(e);
              }
            }
          }
          return TemplateValue::FromList(std::move(out));
        }
        break;
      case TemplateValue::Kind::kNil:
        return Error(a.line, a.col,
                     absl::StrCat("nil pointer evaluating .", f));
      default:
        break;
    }
    return Error(
        a.line, a.col,
        absl::StrCat("can't evaluate field ", f, " in type ", v.TypeName()));
  }

  std::string name_;
  std::vector<std::pair<std::string, TemplateValue>> vars_;
};

}  // namespace

absl::StatusOr<Template> Template::Parse(absl::string_view text,
                                         const TemplateOptions& options,
                                         absl::string_view name) {
  Template t;
  t.name_ = std::string(name);
  if (text.find("{{") == absl::string_view::npos) {
    t.plain_ = true;
    t.plain_text_ = std::string(text);
    return t;
  }
  // The preamble is parsed separately so that positions refer to `text`.
  std::vector<std::string> predefined = options.predefined_variables;
  Node root;
  root.kind = NodeKind::kList;
  if (!options.preamble.empty()) {
    Lexer pl(options.preamble, t.name_);
    absl::StatusOr<std::vector<Item>> items = pl.Run();
    if (!items.ok()) return items.status();
    Parser pp(*std::move(items), t.name_, {});
    absl::StatusOr<Node> pre = pp.Parse();
    if (!pre.ok()) return pre.status();
    root.list.push_back(*std::move(pre));
  }
  Lexer lexer(text, t.name_);
  absl::StatusOr<std::vector<Item>> items = lexer.Run();
  if (!items.ok()) return items.status();
  Parser parser(*std::move(items), t.name_, predefined);
  absl::StatusOr<Node> body = parser.Parse();
  if (!body.ok()) return body.status();
  root.list.push_back(*std::move(body));
  t.root_ = std::make_shared<const Node>(std::move(root));
  return t;
}

absl::StatusOr<std::string> Template::Execute(const TemplateValue& dot) const {
  if (plain_) return plain_text_;
  Executor ex(name_, dot);
  std::string out;
  absl::Status s = ex.Walk(*root_, dot, &out);
  if (!s.ok()) return s;
  return out;
}

TemplateOptions RuleTemplateOptions() {
  TemplateOptions o;
  o.predefined_variables = {"labels", "externalLabels", "externalURL", "value"};
  o.preamble =
      "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
      "{{$externalURL := .ExternalURL}}{{$value := .Value}}";
  return o;
}

TemplateValue RuleTemplateData(
    const std::map<std::string, std::string>& labels, double value,
    const std::map<std::string, std::string>& external_labels,
    const std::string& external_url) {
  TemplateValue::Map m;
  m["Labels"] = TemplateValue::StringMap(labels);
  m["ExternalLabels"] = TemplateValue::StringMap(external_labels);
  m["ExternalURL"] = TemplateValue::String(external_url);
  m["Value"] = TemplateValue::Float(value);
  return TemplateValue::FromStruct(std::move(m));
}

}  // namespace vigil::alerting
