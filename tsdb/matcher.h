// A label matcher selects series by one label: `name op "value"` with the
// four PromQL operators. Regexes are RE2 and fully anchored, as in
// Prometheus: `job=~"api"` does not match "api-2". A missing label reads as
// "", so `l=""` matches series without `l` and `l!=""` those that have it.
#ifndef VIGIL_TSDB_MATCHER_H_
#define VIGIL_TSDB_MATCHER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re2 {
class RE2;
}

namespace vigil::tsdb {

struct RegexShortcut;

enum class MatchType { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

// "=", "!=", "=~", "!~".
absl::string_view MatchTypeString(MatchType type);

class Matcher {
 public:
  // Fails with InvalidArgument when a regex does not compile.
  static absl::StatusOr<Matcher> Create(MatchType type, std::string name,
                                        std::string value);

  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }

  // True when a label value (or "" for a missing label) is selected.
  bool Matches(absl::string_view value) const;
  // True when the matcher selects series lacking the label.
  bool MatchesEmpty() const { return matches_empty_; }

  // `name="value"` with Prometheus quoting.
  std::string ToString() const;

 private:
  Matcher() = default;

  MatchType type_ = MatchType::kEqual;
  std::string name_;
  std::string value_;
  // Shared so Matchers copy cheaply; RE2 is thread-safe for matching.
  std::shared_ptr<const re2::RE2> regex_;
  // Common regex shapes (".*", "foo.*", ".*foo", ".*foo.*", "a|b|c") are
  // answered without running RE2: an index lookup calls Matches() once per
  // label value, so this is the hot path of `=~` selectors.
  std::shared_ptr<const RegexShortcut> shortcut_;
  bool matches_empty_ = false;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_MATCHER_H_
