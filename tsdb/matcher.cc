#include "tsdb/matcher.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace vigil::tsdb {

// A regex whose whole language is described by literals. Values are matched
// against the anchored pattern "^(?:pattern)$" compiled with (?s), so ".*"
// is any string, including newlines.
struct RegexShortcut {
  enum class Kind {
    kAny,       // .*
    kNonEmpty,  // .+
    kPrefix,    // lit.*
    kSuffix,    // .*lit
    kContains,  // .*lit.*
    kSet,       // lit|lit|...   (a single literal is a set of one)
  };
  Kind kind;
  std::string literal;           // kPrefix, kSuffix, kContains
  std::vector<std::string> set;  // kSet, sorted

  bool Matches(absl::string_view value) const {
    switch (kind) {
      case Kind::kAny:
        return true;
      case Kind::kNonEmpty:
        return !value.empty();
      case Kind::kPrefix:
        return absl::StartsWith(value, literal);
      case Kind::kSuffix:
        return absl::EndsWith(value, literal);
      case Kind::kContains:
        return absl::StrContains(value, literal);
      case Kind::kSet:
        for (const std::string& s : set) {
          if (value == s) return true;
        }
        return false;
    }
    return false;
  }
};

namespace {

// Characters that make a regex more than a literal. '-' and '/' etc. are
// literals outside brackets.
bool IsRegexMeta(char c) {
  switch (c) {
    case '.':
    case '+':
    case '*':
    case '?':
    case '(':
    case ')':
    case '|':
    case '[':
    case ']':
    case '{':
    case '}':
    case '^':
    case '$':
    case '\\':
      return true;
    default:
      return false;
  }
}

// Unescapes `text` when it is a plain literal: no metacharacters except
// backslash-escaped punctuation ("\\." is a dot). nullopt otherwise, e.g.
// for "\\d" or "a.b".
std::optional<std::string> AsLiteral(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;
      char next = text[i + 1];
      // Only escaped punctuation is a literal; "\\d", "\\w", "\\Q"... are
      // classes or operators.
      if (!IsRegexMeta(next) && next != '/' && next != '-') return std::nullopt;
      out.push_back(next);
      ++i;
      continue;
    }
    if (IsRegexMeta(c)) return std::nullopt;
    out.push_back(c);
  }
  return out;
}

// Splits on top-level '|' (no groups or classes may appear for a shortcut,
// so any '|' not escaped is top level).
std::vector<absl::string_view> SplitAlternation(absl::string_view text) {
  std::vector<absl::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
      continue;
    }
    if (text[i] == '|') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::shared_ptr<const RegexShortcut> FindShortcut(absl::string_view re) {
  using Kind = RegexShortcut::Kind;
  auto make = [](Kind kind, std::string literal) {
    auto s = std::make_shared<RegexShortcut>();
    s->kind = kind;
    s->literal = std::move(literal);
    return s;
  };
  if (re == ".*") return make(Kind::kAny, "");
  if (re == ".+") return make(Kind::kNonEmpty, "");
  const bool leading_any = absl::StartsWith(re, ".*");
  // ".*" at the end must not be an escaped "\\.*".
  const bool trailing_any = re.size() >= 2 && absl::EndsWith(re, ".*") &&
                            !(re.size() >= 3 && re[re.size() - 3] == '\\');
  if (leading_any || trailing_any) {
    absl::string_view middle = re;
    if (leading_any) middle.remove_prefix(2);
    if (trailing_any && middle.size() >= 2) middle.remove_suffix(2);
    if (leading_any && trailing_any && re.size() < 4) return nullptr;
    std::optional<std::string> lit = AsLiteral(middle);
    if (!lit.has_value() || lit->empty()) return nullptr;
    if (leading_any && trailing_any) return make(Kind::kContains, *lit);
    if (leading_any) return make(Kind::kSuffix, *lit);
    return make(Kind::kPrefix, *lit);
  }
  // Alternations of literals; more than a handful is better left to RE2's
  // DFA than a linear scan.
  std::vector<absl::string_view> parts = SplitAlternation(re);
  if (parts.size() > 16) return nullptr;
  auto set = std::make_shared<RegexShortcut>();
  set->kind = Kind::kSet;
  for (absl::string_view part : parts) {
    std::optional<std::string> lit = AsLiteral(part);
    if (!lit.has_value()) return nullptr;
    set->set.push_back(std::move(*lit));
  }
  std::sort(set->set.begin(), set->set.end());
  return set;
}

}  // namespace

absl::string_view MatchTypeString(MatchType type) {
  switch (type) {
    case MatchType::kEqual:
      return "=";
    case MatchType::kNotEqual:
      return "!=";
    case MatchType::kRegexMatch:
      return "=~";
    case MatchType::kRegexNoMatch:
      return "!~";
  }
  return "?";
}

absl::StatusOr<Matcher> Matcher::Create(MatchType type, std::string name,
                                        std::string value) {
  Matcher m;
  m.type_ = type;
  m.name_ = std::move(name);
  m.value_ = std::move(value);
  if (type == MatchType::kRegexMatch || type == MatchType::kRegexNoMatch) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_dot_nl(true);  // Prometheus compiles with (?s).
    auto re =
        std::make_shared<RE2>(absl::StrCat("^(?:", m.value_, ")$"), options);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid regular expression \"", m.value_, "\": ", re->error()));
    }
    m.regex_ = std::move(re);
    m.shortcut_ = FindShortcut(m.value_);
  }
  m.matches_empty_ = m.Matches("");
  return m;
}

bool Matcher::Matches(absl::string_view value) const {
  switch (type_) {
    case MatchType::kEqual:
      return value == value_;
    case MatchType::kNotEqual:
      return value != value_;
    case MatchType::kRegexMatch:
      if (shortcut_ != nullptr) return shortcut_->Matches(value);
      return RE2::FullMatch(re2::StringPiece(value.data(), value.size()),
                            *regex_);
    case MatchType::kRegexNoMatch:
      if (shortcut_ != nullptr) return !shortcut_->Matches(value);
      return !RE2::FullMatch(re2::StringPiece(value.data(), value.size()),
                             *regex_);
  }
  return false;
}

std::string Matcher::ToString() const {
  std::string out = absl::StrCat(name_, MatchTypeString(type_), "\"");
  for (char c : value_) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace vigil::tsdb
