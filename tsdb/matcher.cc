#include "tsdb/matcher.h"

#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace vigil::tsdb {

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
    auto re = std::make_shared<RE2>(absl::StrCat("^(?:", m.value_, ")$"),
                                    options);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid regular expression \"", m.value_, "\": ", re->error()));
    }
    m.regex_ = std::move(re);
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
      return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *regex_);
    case MatchType::kRegexNoMatch:
      return !RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *regex_);
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
