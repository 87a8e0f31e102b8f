// PromQL parser.
//
// Two layers:
//  * The lexical grammar (identifiers, numbers, durations) is written as
//    Boost.Spirit X3 parsers and drives a tokenizer. X3 only recognises the
//    token extents; values are converted by hand so no attribute machinery is
//    instantiated (it compiles slowly and adds nothing here).
//  * The phrase grammar is precedence climbing over the token stream. That
//    gives Prometheus's error wording ("unexpected <token>") with exact
//    positions, lets us bound recursion depth, and needs no backtracking, so
//    the AST is built directly without undoing partial nodes.
//
// As in Prometheus, structural errors are reported while parsing and type
// errors by a separate Checker pass that runs only on a syntactically valid
// tree; the first error wins. Errors travel internally as a ParseFailure
// exception, caught in the public entry points: no exception crosses the API,
// and the happy path throws nothing.
#include "promql/parser/parser.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/spirit/home/x3.hpp"
#include "promql/parser/functions.h"

namespace vigil::promql {
namespace {

namespace x3 = boost::spirit::x3;

// ---------------------------------------------------------------------------
// Lexical grammar (X3).

namespace lexical {
using x3::lit;
using x3::ascii::alnum;
using x3::ascii::alpha;
using x3::ascii::digit;
using x3::ascii::xdigit;

// Metric names may contain ':' (recording rules); label names may not, which
// the parser checks.
const auto identifier = (alpha | lit('_') | lit(':')) >>
                        *(alnum | lit('_') | lit(':'));
const auto hex_number = lit('0') >> (lit('x') | lit('X')) >> +xdigit;
const auto mantissa = (+digit >> -(lit('.') >> *digit)) | (lit('.') >> +digit);
const auto exponent = (lit('e') | lit('E')) >> -(lit('+') | lit('-')) >> +digit;
const auto number = hex_number | (mantissa >> -exponent);
// Unit order and repetition are checked by ParseDuration.
const auto duration_unit =
    lit("ms") | lit('y') | lit('w') | lit('d') | lit('h') | lit('m') | lit('s');
const auto duration = +(+digit >> duration_unit);
}  // namespace lexical

// Length of the longest match of `p` at `pos`, 0 when it does not match.
template <typename P>
size_t MatchLength(const P& p, std::string_view s, size_t pos) {
  const char* first = s.data() + pos;
  const char* const begin = first;
  const char* const last = s.data() + s.size();
  if (!x3::parse(first, last, p)) return 0;
  return static_cast<size_t>(first - begin);
}

bool IsAsciiAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// ---------------------------------------------------------------------------
// Tokens.

enum class Tok {
  kEnd,
  kError,  // text holds the message
  kIdent,
  kNumber,
  kDuration,
  kString,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kComma,
  kColon,
  kAt,
  kAssign,        // =
  kEqlC,          // ==
  kNeq,           // !=
  kRegexMatch,    // =~
  kRegexNoMatch,  // !~
  kLss,
  kLte,
  kGtr,
  kGte,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
};

struct Token {
  Tok type = Tok::kEnd;
  int pos = 0;            // byte offset of the first character
  int end = 0;            // byte offset past the last character
  std::string_view text;  // as written
  std::string value;      // unescaped string, or the error message
  double number = 0;
};

struct ParseFailure {
  int pos;
  std::string msg;
};

// Error paths stay out of line so the recursive parse functions keep small
// stack frames (deep nesting must not overflow, even under ASan).
#define VIGIL_COLD __attribute__((noinline, cold))
#define VIGIL_NOINLINE __attribute__((noinline))

[[noreturn]] VIGIL_COLD void Fail(int pos, std::string msg) {
  throw ParseFailure{pos, std::move(msg)};
}
[[noreturn]] VIGIL_COLD void Fail(int pos, const char* msg) {
  throw ParseFailure{pos, msg};
}

std::string Lower(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

// Keywords are case-insensitive; compare without allocating.
bool IsWord(std::string_view s, const char* kw) {
  return absl::EqualsIgnoreCase(absl::string_view(s.data(), s.size()), kw);
}

// Go's strconv.ParseInt(s, 0, 64) then ParseFloat, which is what Prometheus
// does: "0x1F" is hex, "017" is octal, everything else decimal.
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

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Byte length of the UTF-8 sequence starting with `c` (1 for invalid).
int Utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  // Tokenizes all of the input. Stops after the first error token; the
  // parser reports it only if it gets that far, so an earlier syntax error
  // still wins.
  std::vector<Token> Run() {
    std::vector<Token> out;
    // Tokens average well over 4 bytes of input; avoid regrowth.
    out.reserve(in_.size() / 4 + 4);
    for (;;) {
      Token t = NextToken();
      Tok type = t.type;
      out.push_back(std::move(t));
      if (type == Tok::kEnd) break;
      if (type == Tok::kError) {
        Token end;
        end.type = Tok::kEnd;
        end.pos = end.end = static_cast<int>(in_.size());
        out.push_back(end);
        break;
      }
    }
    return out;
  }

 private:
  Token Make(Tok type, size_t start, size_t end) {
    Token t;
    t.type = type;
    t.pos = static_cast<int>(start);
    t.end = static_cast<int>(end);
    t.text = in_.substr(start, end - start);
    pos_ = end;
    return t;
  }

  Token Error(size_t at, std::string msg) {
    Token t = Make(Tok::kError, at, at);
    t.value = std::move(msg);
    return t;
  }

  void SkipSpaceAndComments() {
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < in_.size() && in_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  Token NextToken() {
    SkipSpaceAndComments();
    const size_t start = pos_;
    if (start >= in_.size()) return Make(Tok::kEnd, start, start);
    const char c = in_[start];
    const char next = start + 1 < in_.size() ? in_[start + 1] : '\0';

    if ((c >= '0' && c <= '9') || (c == '.' && next >= '0' && next <= '9')) {
      return LexNumberOrDuration(start);
    }
    if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        (c == ':' && !in_bracket_)) {
      size_t n = MatchLength(lexical::identifier, in_, start);
      if (in_bracket_) {
        // Inside [...] a ':' separates range and step.
        n = 0;
        while (start + n < in_.size() && IsAsciiAlnum(in_[start + n])) ++n;
      }
      return Make(Tok::kIdent, start, start + n);
    }
    switch (c) {
      case '"':
      case '\'':
      case '`':
        return LexString(start, c);
      case '(':
        return Make(Tok::kLParen, start, start + 1);
      case ')':
        return Make(Tok::kRParen, start, start + 1);
      case '{':
        return Make(Tok::kLBrace, start, start + 1);
      case '}':
        return Make(Tok::kRBrace, start, start + 1);
      case '[':
        in_bracket_ = true;
        return Make(Tok::kLBracket, start, start + 1);
      case ']':
        in_bracket_ = false;
        return Make(Tok::kRBracket, start, start + 1);
      case ',':
        return Make(Tok::kComma, start, start + 1);
      case ':':
        return Make(Tok::kColon, start, start + 1);
      case '@':
        return Make(Tok::kAt, start, start + 1);
      case '+':
        return Make(Tok::kAdd, start, start + 1);
      case '-':
        return Make(Tok::kSub, start, start + 1);
      case '*':
        return Make(Tok::kMul, start, start + 1);
      case '/':
        return Make(Tok::kDiv, start, start + 1);
      case '%':
        return Make(Tok::kMod, start, start + 1);
      case '^':
        return Make(Tok::kPow, start, start + 1);
      case '=':
        if (next == '=') return Make(Tok::kEqlC, start, start + 2);
        if (next == '~') return Make(Tok::kRegexMatch, start, start + 2);
        return Make(Tok::kAssign, start, start + 1);
      case '!':
        if (next == '=') return Make(Tok::kNeq, start, start + 2);
        if (next == '~') return Make(Tok::kRegexNoMatch, start, start + 2);
        return Error(start,
                     "unexpected character after '!': " + QuoteChar(start + 1));
      case '<':
        if (next == '=') return Make(Tok::kLte, start, start + 2);
        return Make(Tok::kLss, start, start + 1);
      case '>':
        if (next == '=') return Make(Tok::kGte, start, start + 2);
        return Make(Tok::kGtr, start, start + 1);
      default:
        return Error(start, "unexpected character: " + QuoteChar(start));
    }
  }

  std::string QuoteChar(size_t at) {
    if (at >= in_.size()) return "end of input";
    int n = Utf8Length(static_cast<unsigned char>(in_[at]));
    return absl::StrCat(
        "'", std::string(in_.substr(at, std::min<size_t>(n, in_.size() - at))),
        "'");
  }

  Token LexNumberOrDuration(size_t start) {
    size_t n = MatchLength(lexical::number, in_, start);
    if (n > 0 && (start + n >= in_.size() || !IsAsciiAlnum(in_[start + n]))) {
      Token t = Make(Tok::kNumber, start, start + n);
      if (!ConvertNumber(t.text, &t.number)) {
        return Error(start, absl::StrCat("error parsing number: \"",
                                         std::string(t.text), "\""));
      }
      return t;
    }
    size_t d = MatchLength(lexical::duration, in_, start);
    if (d > 0 && (start + d >= in_.size() || !IsAsciiAlnum(in_[start + d]))) {
      return Make(Tok::kDuration, start, start + d);
    }
    return Error(start, "bad number or duration syntax: \"" +
                            std::string(in_.substr(start, std::max(n, d) + 1)) +
                            "\"");
  }

  Token LexString(size_t start, char quote) {
    std::string value;
    size_t i = start + 1;
    if (quote == '`') {
      while (i < in_.size() && in_[i] != '`') ++i;
      if (i >= in_.size()) return Error(start, "unterminated raw string");
      Token t = Make(Tok::kString, start, i + 1);
      t.value = std::string(in_.substr(start + 1, i - start - 1));
      return t;
    }
    for (;;) {
      if (i >= in_.size() || in_[i] == '\n') {
        return Error(start, "unterminated quoted string");
      }
      char c = in_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      // Escape sequences as in Go string literals.
      const size_t esc = i;
      ++i;
      if (i >= in_.size()) return Error(start, "unterminated quoted string");
      char e = in_[i++];
      switch (e) {
        case 'a':
          value.push_back('\a');
          continue;
        case 'b':
          value.push_back('\b');
          continue;
        case 'f':
          value.push_back('\f');
          continue;
        case 'n':
          value.push_back('\n');
          continue;
        case 'r':
          value.push_back('\r');
          continue;
        case 't':
          value.push_back('\t');
          continue;
        case 'v':
          value.push_back('\v');
          continue;
        case '\\':
          value.push_back('\\');
          continue;
        default:
          break;
      }
      if (e == quote) {
        value.push_back(e);
        continue;
      }
      if (e >= '0' && e <= '7') {
        int v = e - '0';
        for (int k = 0; k < 2; ++k) {
          if (i >= in_.size() || in_[i] < '0' || in_[i] > '7') {
            return Error(esc, "invalid octal escape sequence in string");
          }
          v = v * 8 + (in_[i++] - '0');
        }
        if (v > 255) {
          return Error(esc, "octal escape value > 255 in string");
        }
        value.push_back(static_cast<char>(v));
        continue;
      }
      int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
      if (digits == 0) {
        return Error(
            esc, "unknown escape sequence " + QuoteChar(i - 1) + " in string");
      }
      uint32_t v = 0;
      for (int k = 0; k < digits; ++k) {
        int h = i < in_.size() ? HexValue(in_[i]) : -1;
        if (h < 0) return Error(esc, "invalid hex escape sequence in string");
        v = v * 16 + static_cast<uint32_t>(h);
        ++i;
      }
      if (e == 'x') {
        value.push_back(static_cast<char>(v));
      } else {
        if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) {
          return Error(esc, "escape sequence is an invalid Unicode code point");
        }
        AppendUtf8(v, &value);
      }
    }
    Token t = Make(Tok::kString, start, i + 1);
    t.value = std::move(value);
    return t;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool in_bracket_ = false;
};

// ---------------------------------------------------------------------------
// Phrase grammar.

// Deeper trees are rejected: recursion (here, in the engine and in the
// destructors) stays far below any stack limit.
constexpr int kMaxDepth = 1000;

// Binding strength of binary operators, Prometheus's order.
int Precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::kOr:
      return 1;
    case BinaryOp::kAnd:
    case BinaryOp::kUnless:
      return 2;
    case BinaryOp::kEql:
    case BinaryOp::kNeq:
    case BinaryOp::kGtr:
    case BinaryOp::kLss:
    case BinaryOp::kGte:
    case BinaryOp::kLte:
      return 3;
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
      return 4;
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kMod:
    case BinaryOp::kAtan2:
      return 5;
    case BinaryOp::kPow:
      return 6;
  }
  return 0;
}
constexpr int kPowPrecedence = 6;

// `word` in any case.
bool AggregateFromName(std::string_view word, AggregateOp* op) {
  if (word.size() < 3 || word.size() > 12) return false;
  static const std::pair<const char*, AggregateOp> kOps[] = {
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

bool IsKeyword(const std::string& lower) {
  static const char* const kWords[] = {
      "and",     "or",     "unless",   "atan2",      "by",
      "without", "on",     "ignoring", "group_left", "group_right",
      "bool",    "offset", "start",    "end"};
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  AggregateOp op;
  return AggregateFromName(lower, &op);
}

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kEnd:
      return "end of input";
    case Tok::kError:
      return t.value;
    case Tok::kIdent: {
      std::string lower = Lower(t.text);
      AggregateOp op;
      if (AggregateFromName(lower, &op)) return "<aggr:" + lower + ">";
      if (IsKeyword(lower)) return "<" + lower + ">";
      return absl::StrCat("identifier \"", std::string(t.text), "\"");
    }
    case Tok::kNumber:
      return absl::StrCat("number \"", std::string(t.text), "\"");
    case Tok::kDuration:
      return absl::StrCat("duration \"", std::string(t.text), "\"");
    case Tok::kString:
      return absl::StrCat("string ", std::string(t.text));
    case Tok::kLParen:
      return "\"(\"";
    case Tok::kRParen:
      return "\")\"";
    case Tok::kLBrace:
      return "\"{\"";
    case Tok::kRBrace:
      return "\"}\"";
    case Tok::kLBracket:
      return "\"[\"";
    case Tok::kRBracket:
      return "\"]\"";
    case Tok::kComma:
      return "\",\"";
    case Tok::kColon:
      return "\":\"";
    case Tok::kAt:
      return "<@>";
    case Tok::kAssign:
      return "\"=\"";
    default:
      return absl::StrCat("<op:", std::string(t.text), ">");
  }
}

bool BinaryOpFromToken(const Token& t, BinaryOp* op) {
  switch (t.type) {
    case Tok::kAdd:
      *op = BinaryOp::kAdd;
      return true;
    case Tok::kSub:
      *op = BinaryOp::kSub;
      return true;
    case Tok::kMul:
      *op = BinaryOp::kMul;
      return true;
    case Tok::kDiv:
      *op = BinaryOp::kDiv;
      return true;
    case Tok::kMod:
      *op = BinaryOp::kMod;
      return true;
    case Tok::kPow:
      *op = BinaryOp::kPow;
      return true;
    case Tok::kEqlC:
      *op = BinaryOp::kEql;
      return true;
    case Tok::kNeq:
      *op = BinaryOp::kNeq;
      return true;
    case Tok::kGtr:
      *op = BinaryOp::kGtr;
      return true;
    case Tok::kLss:
      *op = BinaryOp::kLss;
      return true;
    case Tok::kGte:
      *op = BinaryOp::kGte;
      return true;
    case Tok::kLte:
      *op = BinaryOp::kLte;
      return true;
    case Tok::kIdent: {
      if (IsWord(t.text, "and")) {
        *op = BinaryOp::kAnd;
      } else if (IsWord(t.text, "or")) {
        *op = BinaryOp::kOr;
      } else if (IsWord(t.text, "unless")) {
        *op = BinaryOp::kUnless;
      } else if (IsWord(t.text, "atan2")) {
        *op = BinaryOp::kAtan2;
      } else {
        return false;
      }
      return true;
    }
    default:
      return false;
  }
}

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in), toks_(Lexer(in).Run()) {}

  ExprPtr ParseAll() {
    if (Peek().type == Tok::kEnd) Fail(0, "no expression found in input");
    int h = 0;
    ExprPtr e = ParseBinary(1, &h);
    const Token& t = Peek();
    if (t.type != Tok::kEnd) {
      if (t.type == Tok::kRParen)
        Fail(t.pos, "unexpected right parenthesis ')'");
      Unexpected(t);
    }
    return e;
  }

  // Only the selector grammar: `name`, `name{...}` or `{...}`.
  std::unique_ptr<VectorSelector> ParseSelectorOnly() {
    const Token& t = Peek();
    std::unique_ptr<VectorSelector> vs;
    if (t.type == Tok::kIdent) {
      Token& name = Next();
      vs = ParseSelector(std::string(name.text), name.pos);
    } else if (t.type == Tok::kLBrace) {
      vs = ParseSelector("", t.pos);
    } else {
      Unexpected(t, "expected metric selector");
    }
    if (Peek().type != Tok::kEnd) Unexpected(Peek());
    return vs;
  }

  std::string_view input() const { return in_; }

 private:
  // --- token stream --------------------------------------------------------
  const Token& Peek(size_t k = 0) const {
    return toks_[std::min(p_ + k, toks_.size() - 1)];
  }
  Token& Next() {
    Token& t = toks_[std::min(p_, toks_.size() - 1)];
    if (t.type == Tok::kError) Fail(t.pos, t.value);
    if (p_ < toks_.size() - 1) ++p_;
    last_end_ = t.end;
    return t;
  }
  bool PeekKeyword(const char* kw, size_t k = 0) const {
    const Token& t = Peek(k);
    return t.type == Tok::kIdent && IsWord(t.text, kw);
  }
  [[noreturn]] VIGIL_COLD void Unexpected(const Token& t,
                                          std::string_view context = "") {
    if (t.type == Tok::kError) Fail(t.pos, t.value);
    std::string msg = "unexpected " + Describe(t);
    if (!context.empty()) absl::StrAppend(&msg, " ", std::string(context));
    Fail(t.pos, msg);
  }
  Token& Expect(Tok type, std::string_view context) {
    if (Peek().type != type) Unexpected(Peek(), context);
    return Next();
  }

  // --- expressions ---------------------------------------------------------
  struct DepthGuard {
    explicit DepthGuard(Parser* p, int pos) : p(p) {
      if (++p->depth_ > kMaxDepth) {
        --p->depth_;
        FailTooDeep(pos);
      }
    }
    ~DepthGuard() { --p->depth_; }
    Parser* p;
  };

  [[noreturn]] static VIGIL_COLD void FailTooDeep(int pos) {
    Fail(pos, absl::StrCat("expression nesting too deep (more than ", kMaxDepth,
                           " levels)"));
  }
  static void CheckHeight(int h, int pos) {
    if (h > kMaxDepth) FailTooDeep(pos);
  }

  // Parses operators binding at least as tightly as `min_prec`. `*height`
  // receives the height of the returned tree.
  ExprPtr ParseBinary(int min_prec, int* height) {
    DepthGuard guard(this, Peek().pos);
    int lh = 0;
    ExprPtr lhs = ParseUnary(&lh);
    for (;;) {
      BinaryOp op;
      const Token& t = Peek();
      if (!BinaryOpFromToken(t, &op) || Precedence(op) < min_prec) break;
      Next();
      auto bin = std::make_unique<BinaryExpr>();
      bin->op = op;
      ParseBinaryModifiers(bin.get());
      const int next_min =
          op == BinaryOp::kPow ? Precedence(op) : Precedence(op) + 1;
      int rh = 0;
      bin->rhs = ParseBinary(next_min, &rh);
      bin->pos_start = lhs->pos_start;
      bin->pos_end = bin->rhs->pos_end;
      bin->lhs = std::move(lhs);
      lh = 1 + std::max(lh, rh);
      CheckHeight(lh, bin->pos_start);
      lhs = std::move(bin);
    }
    *height = lh;
    return lhs;
  }

  // `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`.
  VIGIL_NOINLINE void ParseBinaryModifiers(BinaryExpr* bin) {
    if (PeekKeyword("bool")) {
      Next();
      bin->return_bool = true;
    }
    if (PeekKeyword("on") || PeekKeyword("ignoring")) {
      bin->matching.on = PeekKeyword("on");
      Next();
      bin->matching.matching_labels = ParseGroupingLabels();
      bin->has_matching = true;
      if (PeekKeyword("group_left") || PeekKeyword("group_right")) {
        bin->matching.card = PeekKeyword("group_left")
                                 ? Cardinality::kManyToOne
                                 : Cardinality::kOneToMany;
        Next();
        if (Peek().type == Tok::kLParen) {
          bin->matching.include = ParseGroupingLabels();
        }
      }
    }
  }

  VIGIL_NOINLINE ExprPtr ParseUnary(int* height) {
    const Token& t = Peek();
    if (t.type == Tok::kAdd || t.type == Tok::kSub) {
      Token& op = Next();
      int h = 0;
      // Unary operators bind like `*`: only `^` binds tighter, so -2^2 is
      // -(2^2).
      ExprPtr operand = ParseBinary(kPowPrecedence, &h);
      if (operand->kind == ExprKind::kNumber) {
        // Prometheus folds the sign into the literal.
        auto* num = static_cast<NumberLiteral*>(operand.get());
        if (op.type == Tok::kSub) num->value = -num->value;
        num->pos_start = op.pos;
        *height = h;
        return operand;
      }
      auto u = std::make_unique<UnaryExpr>();
      u->op = op.type == Tok::kSub ? '-' : '+';
      u->pos_start = op.pos;
      u->pos_end = operand->pos_end;
      u->expr = std::move(operand);
      *height = h + 1;
      CheckHeight(*height, op.pos);
      return u;
    }
    int h = 0;
    ExprPtr e = ParsePrimary(&h);
    e = ParsePostfix(std::move(e), &h);
    *height = h;
    return e;
  }

  VIGIL_NOINLINE ExprPtr ParsePrimary(int* height) {
    *height = 1;
    const Token& t = Peek();
    switch (t.type) {
      case Tok::kNumber:
      case Tok::kString:
        return ParseLiteral();
      case Tok::kLParen:
        return ParseParen(height);
      case Tok::kLBrace:
        return ParseSelector("", t.pos);
      case Tok::kIdent:
        return ParseIdentifierExpr(height);
      case Tok::kRParen:
        Fail(t.pos, "unexpected right parenthesis ')'");
      default:
        Unexpected(t);
    }
  }

  VIGIL_NOINLINE ExprPtr ParseLiteral() {
    Token& tok = Next();
    if (tok.type == Tok::kNumber) {
      auto n = std::make_unique<NumberLiteral>();
      n->value = tok.number;
      n->pos_start = tok.pos;
      n->pos_end = tok.end;
      return n;
    }
    auto s = std::make_unique<StringLiteral>();
    s->value = tok.value;
    s->pos_start = tok.pos;
    s->pos_end = tok.end;
    return s;
  }

  VIGIL_NOINLINE ExprPtr ParseParen(int* height) {
    const Token& open = Next();
    int h = 0;
    auto p = std::make_unique<ParenExpr>();
    p->expr = ParseBinary(1, &h);
    const Token& close = Peek();
    if (close.type != Tok::kRParen) UnclosedParen(open, close);
    Next();
    p->pos_start = open.pos;
    p->pos_end = last_end_;
    *height = h + 1;
    CheckHeight(*height, open.pos);
    return p;
  }

  [[noreturn]] VIGIL_COLD void UnclosedParen(const Token& open,
                                             const Token& close) {
    if (close.type == Tok::kEnd) Fail(open.pos, "unclosed left parenthesis");
    Unexpected(close, "in paren expression, expected \")\"");
  }

  VIGIL_NOINLINE ExprPtr ParseIdentifierExpr(int* height) {
    const Token& t = Peek();
    const std::string_view word = t.text;
    const Tok next = Peek(1).type;
    if (IsWord(word, "inf") || IsWord(word, "nan")) {
      Token& tok = Next();
      auto n = std::make_unique<NumberLiteral>();
      n->value = IsWord(word, "inf") ? std::numeric_limits<double>::infinity()
                                     : std::numeric_limits<double>::quiet_NaN();
      n->pos_start = tok.pos;
      n->pos_end = tok.end;
      return n;
    }
    AggregateOp agg;
    if (AggregateFromName(word, &agg) &&
        (next == Tok::kLParen || PeekKeyword("by", 1) ||
         PeekKeyword("without", 1))) {
      return ParseAggregate(agg, height);
    }
    if (next == Tok::kLParen) return ParseCall(height);
    if (IsWord(word, "and") || IsWord(word, "or") || IsWord(word, "unless") ||
        IsWord(word, "atan2") || IsWord(word, "bool") || IsWord(word, "on") ||
        IsWord(word, "ignoring") || IsWord(word, "group_left") ||
        IsWord(word, "group_right")) {
      Unexpected(t);
    }
    Token& name = Next();
    *height = 1;
    return ParseSelector(std::string(name.text), name.pos);
  }

  // Parses the optional `{...}` after a metric name (or at `brace_pos` when
  // there is no name) and checks the selector.
  VIGIL_NOINLINE std::unique_ptr<VectorSelector> ParseSelector(std::string name,
                                                               int start_pos) {
    auto vs = std::make_unique<VectorSelector>();
    vs->pos_start = start_pos;
    vs->pos_end = last_end_;
    if (Peek().type == Tok::kLBrace) {
      Next();
      for (;;) {
        const Token& lt = Peek();
        if (lt.type == Tok::kRBrace) break;
        if (lt.type != Tok::kIdent ||
            lt.text.find(':') != std::string_view::npos) {
          Unexpected(lt, "in label matching, expected label");
        }
        Token& label = Next();
        const Token& ot = Peek();
        tsdb::MatchType mt;
        switch (ot.type) {
          case Tok::kAssign:
            mt = tsdb::MatchType::kEqual;
            break;
          case Tok::kNeq:
            mt = tsdb::MatchType::kNotEqual;
            break;
          case Tok::kRegexMatch:
            mt = tsdb::MatchType::kRegexMatch;
            break;
          case Tok::kRegexNoMatch:
            mt = tsdb::MatchType::kRegexNoMatch;
            break;
          default:
            Unexpected(ot,
                       "in label matching, expected label matching operator");
        }
        Next();
        if (Peek().type != Tok::kString) {
          Unexpected(Peek(), "in label matching, expected string");
        }
        Token& value = Next();
        auto m = tsdb::Matcher::Create(mt, std::string(label.text),
                                       std::move(value.value));
        if (!m.ok()) Fail(value.pos, std::string(m.status().message()));
        vs->matchers.push_back(*std::move(m));
        if (Peek().type == Tok::kComma) {
          Next();
          continue;
        }
        if (Peek().type != Tok::kRBrace) {
          Unexpected(Peek(), "in label matching, expected \",\" or \"}\"");
        }
      }
      Next();  // '}'
      vs->pos_end = last_end_;
    }
    if (!name.empty()) {
      for (const tsdb::Matcher& m : vs->matchers) {
        if (m.name() == "__name__") {
          Fail(start_pos,
               absl::StrCat("metric name must not be set twice: ",
                            QuoteString(name), " or ", QuoteString(m.value())));
        }
      }
      // Prometheus appends the name matcher after the braces' matchers.
      auto m = tsdb::Matcher::Create(tsdb::MatchType::kEqual, "__name__", name);
      if (!m.ok()) Fail(start_pos, std::string(m.status().message()));
      vs->matchers.push_back(*std::move(m));
      vs->name = std::move(name);
    } else {
      bool non_empty = false;
      for (const tsdb::Matcher& m : vs->matchers) {
        if (!m.MatchesEmpty()) non_empty = true;
      }
      if (!non_empty) {
        Fail(start_pos,
             "vector selector must contain at least one non-empty matcher");
      }
    }
    return vs;
  }

  // `(a, b, ...)` after by/without/on/ignoring/group_*. Keywords are valid
  // label names here.
  VIGIL_NOINLINE std::vector<std::string> ParseGroupingLabels() {
    Expect(Tok::kLParen, "in grouping opts, expected \"(\"");
    std::vector<std::string> labels;
    for (;;) {
      const Token& t = Peek();
      if (t.type == Tok::kRParen) break;
      if (t.type != Tok::kIdent || t.text.find(':') != std::string_view::npos) {
        Unexpected(t, "in grouping opts, expected label");
      }
      labels.emplace_back(Next().text);
      if (Peek().type == Tok::kComma) {
        Next();
        continue;
      }
      if (Peek().type != Tok::kRParen) {
        Unexpected(Peek(), "in grouping opts, expected \",\" or \")\"");
      }
    }
    Next();
    return labels;
  }

  // `( expr, expr, ... )`; a trailing comma is allowed.
  VIGIL_NOINLINE std::vector<ExprPtr> ParseArgs(int* height,
                                                std::string_view context) {
    Token& open = Expect(Tok::kLParen, context);
    std::vector<ExprPtr> args;
    int max_h = 0;
    for (;;) {
      if (Peek().type == Tok::kRParen) break;
      int h = 0;
      args.push_back(ParseBinary(1, &h));
      max_h = std::max(max_h, h);
      if (Peek().type == Tok::kComma) {
        Next();
        continue;
      }
      if (Peek().type == Tok::kEnd) Fail(open.pos, "unclosed left parenthesis");
      if (Peek().type != Tok::kRParen) {
        Unexpected(Peek(), absl::StrCat(std::string(context),
                                        ", expected \",\" or \")\""));
      }
    }
    Next();
    *height = max_h + 1;
    CheckHeight(*height, open.pos);
    return args;
  }

  VIGIL_NOINLINE ExprPtr ParseCall(int* height) {
    Token& name = Next();
    const FunctionSignature* sig = LookupFunction(name.text);
    if (sig == nullptr) {
      Fail(name.pos, absl::StrCat("unknown function with name \"",
                                  std::string(name.text), "\""));
    }
    auto call = std::make_unique<Call>();
    call->func = std::string(name.text);
    call->return_type = sig->return_type;
    call->pos_start = name.pos;
    call->args = ParseArgs(height, "in call to function");
    call->pos_end = last_end_;
    return call;
  }

  VIGIL_NOINLINE ExprPtr ParseAggregate(AggregateOp op, int* height) {
    Token& name = Next();
    auto agg = std::make_unique<AggregateExpr>();
    agg->op = op;
    agg->pos_start = name.pos;
    bool grouped = false;
    auto parse_grouping = [&] {
      agg->without = PeekKeyword("without");
      Next();
      agg->grouping = ParseGroupingLabels();
      grouped = true;
    };
    if (PeekKeyword("by") || PeekKeyword("without")) parse_grouping();
    std::vector<ExprPtr> args = ParseArgs(height, "in aggregation");
    agg->pos_end = last_end_;
    if (!grouped && (PeekKeyword("by") || PeekKeyword("without"))) {
      parse_grouping();
      agg->pos_end = last_end_;
    }
    SetAggregateArgs(agg.get(), std::move(args));
    return agg;
  }

  // Moves the argument list into param/expr after checking its length.
  VIGIL_NOINLINE static void SetAggregateArgs(AggregateExpr* agg,
                                              std::vector<ExprPtr> args) {
    const AggregateOp op = agg->op;
    if (args.empty()) {
      Fail(agg->pos_start, "no arguments for aggregate expression provided");
    }
    const bool has_param =
        op == AggregateOp::kTopK || op == AggregateOp::kBottomK ||
        op == AggregateOp::kQuantile || op == AggregateOp::kCountValues;
    const size_t want = has_param ? 2 : 1;
    if (args.size() != want) {
      Fail(agg->pos_start,
           absl::StrCat("wrong number of arguments for aggregate expression "
                        "provided, expected ",
                        want, ", got ", args.size()));
    }
    if (has_param) agg->param = std::move(args[0]);
    agg->expr = std::move(args.back());
  }

  // Range `[5m]`, subquery `[1h:5m]`, `offset`, `@` after an operand.
  ExprPtr ParsePostfix(ExprPtr e, int* height) {
    for (;;) {
      const Token& t = Peek();
      if (t.type == Tok::kLBracket) {
        e = ParseRangeOrSubquery(std::move(e), height);
      } else if (PeekKeyword("offset")) {
        ParseOffset(e.get());
      } else if (t.type == Tok::kAt) {
        ParseAt(e.get());
      } else {
        return e;
      }
    }
  }

  VIGIL_NOINLINE int64_t ExpectDuration(std::string_view context) {
    const Token& t = Peek();
    if (t.type != Tok::kDuration) Unexpected(t, context);
    Token& d = Next();
    auto ms = ParseDuration(absl::string_view(d.text.data(), d.text.size()));
    if (!ms.ok()) Fail(d.pos, std::string(ms.status().message()));
    // Prometheus rejects zero ranges, steps and offsets in queries.
    if (*ms == 0) Fail(d.pos, "duration must be greater than 0");
    return *ms;
  }

  VIGIL_NOINLINE ExprPtr ParseRangeOrSubquery(ExprPtr e, int* height) {
    Token& open = Next();
    const int64_t range =
        ExpectDuration("in subquery or range selector, expected duration");
    if (Peek().type == Tok::kRBracket) {
      Next();
      if (e->kind != ExprKind::kVectorSelector) {
        Fail(open.pos, "ranges only allowed for vector selectors");
      }
      auto* vs = static_cast<VectorSelector*>(e.get());
      if (vs->offset_ms != 0) {
        Fail(open.pos, "no offset modifiers allowed before range");
      }
      if (vs->at != AtModifier::kNone) {
        Fail(open.pos, "no @ modifiers allowed before range");
      }
      auto ms = std::make_unique<MatrixSelector>();
      ms->pos_start = e->pos_start;
      ms->pos_end = last_end_;
      ms->range_ms = range;
      ms->vector.reset(static_cast<VectorSelector*>(e.release()));
      *height += 1;
      return ms;
    }
    if (Peek().type != Tok::kColon) {
      Unexpected(Peek(),
                 "in subquery or range selector, expected \"]\" or \":\"");
    }
    Next();
    auto sq = std::make_unique<SubqueryExpr>();
    if (Peek().type == Tok::kDuration) {
      sq->step_ms = ExpectDuration("in subquery, expected duration");
    }
    Expect(Tok::kRBracket, "in subquery, expected \"]\"");
    sq->range_ms = range;
    sq->pos_start = e->pos_start;
    sq->pos_end = last_end_;
    sq->expr = std::move(e);
    *height += 1;
    CheckHeight(*height, sq->pos_start);
    return sq;
  }

  VIGIL_NOINLINE void ParseOffset(Expr* e) {
    Next();  // offset
    bool negative = false;
    if (Peek().type == Tok::kSub) {
      Next();
      negative = true;
    }
    int64_t ms = ExpectDuration("in offset, expected duration");
    if (negative) ms = -ms;
    int64_t* target = nullptr;
    switch (e->kind) {
      case ExprKind::kVectorSelector:
        target = &static_cast<VectorSelector*>(e)->offset_ms;
        break;
      case ExprKind::kMatrixSelector:
        target = &static_cast<MatrixSelector*>(e)->vector->offset_ms;
        break;
      case ExprKind::kSubquery:
        target = &static_cast<SubqueryExpr*>(e)->offset_ms;
        break;
      default:
        Fail(e->pos_start,
             "offset modifier must be preceded by an instant vector selector "
             "or range vector selector or a subquery");
    }
    if (*target != 0)
      Fail(e->pos_start, "offset may not be set multiple times");
    *target = ms;
    e->pos_end = last_end_;
  }

  VIGIL_NOINLINE void ParseAt(Expr* e) {
    Next();  // @
    AtModifier mod = AtModifier::kTimestamp;
    int64_t ts_ms = 0;
    if (PeekKeyword("start") || PeekKeyword("end")) {
      mod = PeekKeyword("start") ? AtModifier::kStart : AtModifier::kEnd;
      Next();
      Expect(Tok::kLParen, "in @, expected \"(\"");
      Expect(Tok::kRParen, "in @, expected \")\"");
    } else {
      double sign = 1;
      if (Peek().type == Tok::kSub || Peek().type == Tok::kAdd) {
        if (Next().type == Tok::kSub) sign = -1;
      }
      if (Peek().type != Tok::kNumber) {
        Unexpected(Peek(), "in @, expected timestamp");
      }
      Token& num = Next();
      const double v = sign * num.number * 1000.0;
      if (!std::isfinite(v) || std::fabs(v) > 9.2e18) {
        char buf[400];  // %f of up to 1.8e308
        std::snprintf(buf, sizeof(buf), "%f", sign * num.number);
        Fail(e->pos_start,
             absl::StrCat("timestamp out of bounds for @ modifier: ", buf));
      }
      ts_ms = static_cast<int64_t>(std::llround(v));
    }
    AtModifier* target_mod = nullptr;
    int64_t* target_ms = nullptr;
    switch (e->kind) {
      case ExprKind::kVectorSelector: {
        auto* vs = static_cast<VectorSelector*>(e);
        target_mod = &vs->at;
        target_ms = &vs->at_ms;
        break;
      }
      case ExprKind::kMatrixSelector: {
        auto* vs = static_cast<MatrixSelector*>(e)->vector.get();
        target_mod = &vs->at;
        target_ms = &vs->at_ms;
        break;
      }
      case ExprKind::kSubquery: {
        auto* sq = static_cast<SubqueryExpr*>(e);
        target_mod = &sq->at;
        target_ms = &sq->at_ms;
        break;
      }
      default:
        Fail(e->pos_start,
             "@ modifier must be preceded by an instant vector selector or "
             "range vector selector or a subquery");
    }
    if (*target_mod != AtModifier::kNone) {
      Fail(e->pos_start, "@ <timestamp> may not be set multiple times");
    }
    *target_mod = mod;
    *target_ms = ts_ms;
    e->pos_end = last_end_;
  }

  std::string_view in_;
  std::vector<Token> toks_;
  size_t p_ = 0;
  int last_end_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------
// Type checking, after a successful parse (Prometheus's checkAST).

// Prometheus prints ValueType with %s in a few messages ("matrix").
const char* InternalTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "none";
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "vector";
    case ValueType::kMatrix:
      return "matrix";
    case ValueType::kString:
      return "string";
  }
  return "unknown";
}

class Checker {
 public:
  explicit Checker(std::string_view in) : in_(in) {}

  ValueType Check(Expr* e) {
    switch (e->kind) {
      case ExprKind::kNumber:
      case ExprKind::kString:
      case ExprKind::kVectorSelector:
      case ExprKind::kMatrixSelector:
        break;
      case ExprKind::kParen:
        Check(static_cast<ParenExpr*>(e)->expr.get());
        break;
      case ExprKind::kSubquery: {
        auto* sq = static_cast<SubqueryExpr*>(e);
        ValueType t = Check(sq->expr.get());
        if (t != ValueType::kVector) {
          Fail(sq->pos_start,
               absl::StrCat("subquery is only allowed on instant vector, got ",
                            InternalTypeName(t), " instead"));
        }
        break;
      }
      case ExprKind::kUnary: {
        auto* u = static_cast<UnaryExpr*>(e);
        ValueType t = Check(u->expr.get());
        if (t != ValueType::kScalar && t != ValueType::kVector) {
          Fail(u->pos_start,
               "unary expression only allowed on expressions of type scalar "
               "or instant vector");
        }
        break;
      }
      case ExprKind::kBinary:
        CheckBinary(static_cast<BinaryExpr*>(e));
        break;
      case ExprKind::kCall:
        CheckCall(static_cast<Call*>(e));
        break;
      case ExprKind::kAggregate: {
        auto* a = static_cast<AggregateExpr*>(e);
        ExpectType(a->expr.get(), ValueType::kVector, "aggregation expression");
        if (a->op == AggregateOp::kTopK || a->op == AggregateOp::kBottomK ||
            a->op == AggregateOp::kQuantile) {
          ExpectType(a->param.get(), ValueType::kScalar,
                     "aggregation parameter");
        }
        if (a->op == AggregateOp::kCountValues) {
          ExpectType(a->param.get(), ValueType::kString,
                     "aggregation parameter");
        }
        break;
      }
    }
    return e->Type();
  }

 private:
  VIGIL_NOINLINE void ExpectType(Expr* e, ValueType want,
                                 std::string_view context) {
    ValueType got = Check(e);
    if (got != want) FailType(e, want, got, context);
  }

  [[noreturn]] static VIGIL_COLD void FailType(const Expr* e, ValueType want,
                                               ValueType got,
                                               std::string_view context) {
    Fail(e->pos_start,
         absl::StrCat("expected type ", ValueTypeName(want), " in ",
                      std::string(context), ", got ", ValueTypeName(got)));
  }

  // The operator sits after the left operand, behind whitespace, comments
  // and closing parentheses that belong to the operand's end.
  int OperatorPos(const BinaryExpr* b) const {
    size_t i = static_cast<size_t>(b->lhs->pos_end);
    while (i < in_.size()) {
      char c = in_[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
      } else if (c == '#') {
        while (i < in_.size() && in_[i] != '\n') ++i;
      } else {
        break;
      }
    }
    return static_cast<int>(i);
  }

  VIGIL_NOINLINE void CheckBinary(BinaryExpr* b) {
    const ValueType lt = Check(b->lhs.get());
    const ValueType rt = Check(b->rhs.get());
    ValidateBinary(b, lt, rt);
  }

  // The checks on one binary node once both operand types are known.
  VIGIL_NOINLINE void ValidateBinary(BinaryExpr* b, ValueType lt,
                                     ValueType rt) {
    const char* op = BinaryOpString(b->op);
    if (b->return_bool && !IsComparisonOp(b->op)) {
      Fail(OperatorPos(b),
           "bool modifier can only be used on comparison operators");
    }
    if (IsComparisonOp(b->op) && !b->return_bool && lt == ValueType::kScalar &&
        rt == ValueType::kScalar) {
      Fail(OperatorPos(b),
           "comparisons between scalars must use BOOL modifier");
    }
    if (IsSetOp(b->op) && b->matching.card == Cardinality::kOneToOne) {
      b->matching.card = Cardinality::kManyToMany;
    }
    if (b->matching.on) {
      for (const std::string& l1 : b->matching.matching_labels) {
        for (const std::string& l2 : b->matching.include) {
          if (l1 == l2) {
            Fail(
                OperatorPos(b),
                absl::StrCat("label ", QuoteString(l1),
                             " must not occur in ON and GROUP clause at once"));
          }
        }
      }
    }
    if (lt != ValueType::kScalar && lt != ValueType::kVector) {
      Fail(b->lhs->pos_start,
           "binary expression must contain only scalar and instant vector "
           "types");
    }
    if (rt != ValueType::kScalar && rt != ValueType::kVector) {
      Fail(b->rhs->pos_start,
           "binary expression must contain only scalar and instant vector "
           "types");
    }
    if (lt != ValueType::kVector || rt != ValueType::kVector) {
      if (b->has_matching && (!b->matching.matching_labels.empty() ||
                              !b->matching.include.empty() ||
                              b->matching.card == Cardinality::kManyToOne ||
                              b->matching.card == Cardinality::kOneToMany)) {
        Fail(b->pos_start,
             "vector matching only allowed between instant vectors");
      }
      b->has_matching = false;
      b->matching = VectorMatching();
    } else {
      b->has_matching = true;
      if (IsSetOp(b->op)) {
        if (b->matching.card == Cardinality::kOneToMany ||
            b->matching.card == Cardinality::kManyToOne) {
          Fail(b->pos_start,
               absl::StrCat("no grouping allowed for \"", op, "\" operation"));
        }
      }
    }
    if ((lt == ValueType::kScalar || rt == ValueType::kScalar) &&
        IsSetOp(b->op)) {
      Fail(b->pos_start, absl::StrCat("set operator \"", op,
                                      "\" not allowed in binary scalar "
                                      "expression"));
    }
  }

  VIGIL_NOINLINE void CheckCall(Call* c) {
    const FunctionSignature* sig = CheckArgCount(c);
    const std::string_view context = CallContext(c);
    const size_t nargs = sig->arg_types.size();
    for (size_t i = 0; i < c->args.size(); ++i) {
      const size_t k = std::min(i, nargs - 1);
      ExpectType(c->args[i].get(), sig->arg_types[k], context);
    }
  }

  // "call to function \"rate\"", kept alive for the whole check.
  std::string_view CallContext(const Call* c) {
    contexts_.push_back(absl::StrCat("call to function \"", c->func, "\""));
    return contexts_.back();
  }

  VIGIL_NOINLINE const FunctionSignature* CheckArgCount(const Call* c) {
    const FunctionSignature* sig = LookupFunction(c->func);
    // ParseCall rejected unknown names already.
    const size_t nargs = sig->arg_types.size();
    const size_t got = c->args.size();
    if (sig->variadic == 0) {
      if (got != nargs) {
        Fail(c->pos_start,
             absl::StrCat("expected ", nargs, " argument(s) in call to \"",
                          c->func, "\", got ", got));
      }
    } else {
      const size_t min = nargs - 1;
      if (got < min) {
        Fail(c->pos_start, absl::StrCat("expected at least ", min,
                                        " argument(s) in call to \"", c->func,
                                        "\", got ", got));
      }
      if (sig->variadic > 0 && got > min + sig->variadic) {
        Fail(c->pos_start,
             absl::StrCat("expected at most ", min + sig->variadic,
                          " argument(s) in call to \"", c->func, "\", got ",
                          got));
      }
    }
    return sig;
  }

  std::string_view in_;
  // Strings referenced by string_views on the recursion path; a deque keeps
  // them at stable addresses.
  std::deque<std::string> contexts_;
};

absl::Status ToStatus(std::string_view in, const ParseFailure& f) {
  int line = 1;
  int last_break = -1;
  const int pos = std::clamp(f.pos, 0, static_cast<int>(in.size()));
  for (int i = 0; i < pos; ++i) {
    if (in[i] == '\n') {
      ++line;
      last_break = i;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(line, ":", pos - last_break, ": parse error: ", f.msg));
}

std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace

absl::StatusOr<ExprPtr> ParseExpr(absl::string_view input) {
  const std::string_view in = ToStd(input);
  try {
    Parser p(in);
    ExprPtr e = p.ParseAll();
    Checker(in).Check(e.get());
    return e;
  } catch (const ParseFailure& f) {
    return ToStatus(in, f);
  }
}

absl::StatusOr<std::vector<tsdb::Matcher>> ParseMetricSelector(
    absl::string_view input) {
  const std::string_view in = ToStd(input);
  try {
    Parser p(in);
    std::unique_ptr<VectorSelector> vs = p.ParseSelectorOnly();
    return std::move(vs->matchers);
  } catch (const ParseFailure& f) {
    return ToStatus(in, f);
  }
}

absl::StatusOr<int64_t> ParseDuration(absl::string_view input) {
  const std::string_view s = ToStd(input);
  if (s.empty()) return absl::InvalidArgumentError("empty duration string");
  if (s == "0") return 0;
  // Units from largest to smallest; each at most once, in this order.
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"y", int64_t{365} * 24 * 3600 * 1000},
      {"w", int64_t{7} * 24 * 3600 * 1000},
      {"d", int64_t{24} * 3600 * 1000},
      {"h", int64_t{3600} * 1000},
      {"m", int64_t{60} * 1000},
      {"s", 1000},
      {"ms", 1},
  };
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid duration string: \"", std::string(s), "\""));
  };
  size_t i = 0;
  size_t next_unit = 0;
  int64_t total = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i) return invalid();
    size_t k = j;
    while (k < s.size() &&
           absl::ascii_isalpha(static_cast<unsigned char>(s[k]))) {
      ++k;
    }
    const std::string_view unit = s.substr(j, k - j);
    size_t u = next_unit;
    while (u < std::size(kUnits) && unit != kUnits[u].first) ++u;
    if (u == std::size(kUnits)) return invalid();
    next_unit = u + 1;
    int64_t n = 0;
    for (size_t d = i; d < j; ++d) {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        return absl::InvalidArgumentError("duration out of range");
      }
      n = n * 10 + (s[d] - '0');
    }
    if (n > (std::numeric_limits<int64_t>::max() - total) / kUnits[u].second) {
      return absl::InvalidArgumentError("duration out of range");
    }
    total += n * kUnits[u].second;
    i = k;
  }
  return total;
}

}  // namespace vigil::promql
