// Token descriptions for error messages. The grammar (grammar.cc) reads
// characters directly; only when it fails does this file look at the text
// where it stopped and name what is there the way Prometheus's lexer would
// ("identifier \"b\"", "<op:*>", "end of input", or a lexical error such as
// "unterminated quoted string").
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "promql/parser/go_string.h"
#include "promql/parser/internal.h"
#include "promql/parser/lexical.h"

namespace vigil::promql::internal {
namespace {

namespace x3 = boost::spirit::x3;

// Length of the longest match of `p` at `pos`, 0 when it does not match.
template <typename P>
size_t MatchLength(const P& p, std::string_view s, size_t pos) {
  const char* first = s.data() + pos;
  const char* const begin = first;
  const char* const last = s.data() + s.size();
  if (!x3::parse(first, last, p)) return 0;
  return static_cast<size_t>(first - begin);
}

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

bool IsWordChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Byte length of the UTF-8 sequence starting with `c` (1 for invalid).
size_t Utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

size_t SkipBlanks(std::string_view in, size_t pos) {
  while (pos < in.size()) {
    const char c = in[pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++pos;
    } else if (c == '#') {
      while (pos < in.size() && in[pos] != '\n') ++pos;
    } else {
      break;
    }
  }
  return pos;
}

std::string QuoteChar(std::string_view in, size_t at) {
  if (at >= in.size()) return "end of input";
  const size_t n =
      std::min(Utf8Length(static_cast<unsigned char>(in[at])), in.size() - at);
  return absl::StrCat("'", A(in.substr(at, n)), "'");
}

// "<by>", "<aggr:sum>" or "identifier \"foo\"".
std::string DescribeWord(std::string_view word) {
  const std::string lower =
      absl::AsciiStrToLower(absl::string_view(word.data(), word.size()));
  AggregateOp op;
  if (IsAggregateWord(lower, &op)) return "<aggr:" + lower + ">";
  if (IsReservedWord(lower) || lower == "by" || lower == "without" ||
      lower == "offset" || lower == "start" || lower == "end") {
    return "<" + lower + ">";
  }
  return absl::StrCat("identifier \"", A(word), "\"");
}

// Names the token at `start` (not a blank), or throws its lexical error.
std::string DescribeAt(std::string_view in, size_t start, bool in_bracket) {
  if (start >= in.size()) return "end of input";
  const char c = in[start];
  const char next = start + 1 < in.size() ? in[start + 1] : '\0';
  if ((c >= '0' && c <= '9') || (c == '.' && next >= '0' && next <= '9')) {
    const size_t n = MatchLength(lexical::number, in, start);
    if (n > 0 && (start + n >= in.size() || !IsWordChar(in[start + n]))) {
      const std::string_view text = in.substr(start, n);
      double v;
      if (!ConvertNumber(text, &v)) {
        Fail(static_cast<int>(start),
             absl::StrCat("error parsing number: \"", A(text), "\""));
      }
      return absl::StrCat("number \"", A(text), "\"");
    }
    const size_t d = MatchLength(lexical::duration, in, start);
    if (d > 0 && (start + d >= in.size() || !IsWordChar(in[start + d]))) {
      return absl::StrCat("duration \"", A(in.substr(start, d)), "\"");
    }
    Fail(static_cast<int>(start),
         absl::StrCat("bad number or duration syntax: \"",
                      A(in.substr(start, std::max(n, d) + 1)), "\""));
  }
  if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
      (c == ':' && !in_bracket)) {
    size_t n = 0;
    if (in_bracket) {
      // Inside [...] a ':' separates range and step.
      while (start + n < in.size() && IsWordChar(in[start + n])) ++n;
    } else {
      n = MatchLength(lexical::metric_name, in, start);
    }
    return DescribeWord(in.substr(start, n));
  }
  switch (c) {
    case '"':
    case '\'':
    case '`': {
      const size_t n = MatchLength(lexical::string, in, start);
      if (n == 0) {
        Fail(static_cast<int>(start), c == '`' ? "unterminated raw string"
                                               : "unterminated quoted string");
      }
      const std::string_view text = in.substr(start, n);
      size_t off = 0;
      auto s =
          UnquoteGoString(absl::string_view(text.data(), text.size()), &off);
      if (!s.ok()) {
        Fail(static_cast<int>(start + off), std::string(s.status().message()));
      }
      return absl::StrCat("string ", A(text));
    }
    case '(':
      return "\"(\"";
    case ')':
      return "\")\"";
    case '{':
      return "\"{\"";
    case '}':
      return "\"}\"";
    case '[':
      return "\"[\"";
    case ']':
      return "\"]\"";
    case ',':
      return "\",\"";
    case ':':
      return "\":\"";
    case '@':
      return "<@>";
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '^':
      return absl::StrCat("<op:", A(in.substr(start, 1)), ">");
    case '=':
      if (next == '=' || next == '~') {
        return absl::StrCat("<op:", A(in.substr(start, 2)), ">");
      }
      return "\"=\"";
    case '!':
      if (next == '=' || next == '~') {
        return absl::StrCat("<op:", A(in.substr(start, 2)), ">");
      }
      Fail(static_cast<int>(start),
           "unexpected character after '!': " + QuoteChar(in, start + 1));
    case '<':
    case '>':
      return absl::StrCat("<op:", A(in.substr(start, next == '=' ? 2 : 1)),
                          ">");
    default:
      Fail(static_cast<int>(start),
           "unexpected character: " + QuoteChar(in, start));
  }
}

}  // namespace

bool IsWord(std::string_view s, std::string_view lower_kw) {
  if (s.size() != lower_kw.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_kw[i]) return false;
  }
  return true;
}

void Fail(int pos, std::string msg) { throw ParseFailure{pos, std::move(msg)}; }

void FailUnexpected(std::string_view in, int pos, std::string_view context,
                    bool in_bracket) {
  const size_t start = SkipBlanks(in, static_cast<size_t>(pos));
  std::string msg = "unexpected " + DescribeAt(in, start, in_bracket);
  if (!context.empty()) absl::StrAppend(&msg, " ", A(context));
  Fail(static_cast<int>(start), std::move(msg));
}

NextToken PeekToken(std::string_view in, int* pos) {
  const size_t start = SkipBlanks(in, static_cast<size_t>(*pos));
  *pos = static_cast<int>(start);
  if (start >= in.size()) return NextToken::kEnd;
  return in[start] == ')' ? NextToken::kRightParen : NextToken::kOther;
}

bool ConvertNumber(std::string_view text, double* out) {
  std::string s(text);
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str() + 2, nullptr, 16);
    if (errno == ERANGE || v > static_cast<unsigned long long>(
                                   std::numeric_limits<int64_t>::max())) {
      return false;
    }
    *out = static_cast<double>(v);
    return true;
  }
  if (s.size() > 1 && s[0] == '0' &&
      std::all_of(s.begin(), s.end(),
                  [](char c) { return c >= '0' && c <= '7'; })) {
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), nullptr, 8);
    if (errno == ERANGE || v > static_cast<unsigned long long>(
                                   std::numeric_limits<int64_t>::max())) {
      return false;
    }
    *out = static_cast<double>(v);
    return true;
  }
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  // Like Go's ParseFloat: overflow is an error, underflow rounds to zero.
  if (errno == ERANGE && std::isinf(v)) return false;
  *out = v;
  return true;
}

bool IsAggregateWord(std::string_view word, AggregateOp* op) {
  if (word.size() < 3 || word.size() > 12) return false;
  // Every operator starts with one of these; most names are rejected here.
  switch (word[0] | 0x20) {
    case 'a':
    case 'b':
    case 'c':
    case 'g':
    case 'm':
    case 'q':
    case 's':
    case 't':
      break;
    default:
      return false;
  }
  static constexpr std::pair<std::string_view, AggregateOp> kOps[] = {
      {"sum", AggregateOp::kSum},
      {"avg", AggregateOp::kAvg},
      {"min", AggregateOp::kMin},
      {"max", AggregateOp::kMax},
      {"count", AggregateOp::kCount},
      {"stddev", AggregateOp::kStddev},
      {"stdvar", AggregateOp::kStdvar},
      {"topk", AggregateOp::kTopK},
      {"bottomk", AggregateOp::kBottomK},
      {"quantile", AggregateOp::kQuantile},
      {"count_values", AggregateOp::kCountValues},
      {"group", AggregateOp::kGroup},
  };
  for (const auto& [name, o] : kOps) {
    if (IsWord(word, name)) {
      *op = o;
      return true;
    }
  }
  return false;
}

bool IsReservedWord(std::string_view word) {
  static constexpr std::string_view kWords[] = {
      "and", "or",       "unless",     "atan2",      "bool",
      "on",  "ignoring", "group_left", "group_right"};
  for (std::string_view w : kWords) {
    if (IsWord(word, w)) return true;
  }
  return false;
}

}  // namespace vigil::promql::internal
