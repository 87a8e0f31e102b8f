// Prometheus rule files (YAML): groups of recording and alerting rules.
//
//   groups:
//     - name: nginx
//       interval: 30s          # optional; default evaluation_interval
//       limit: 10              # optional; 0 = no limit
//       rules:
//         - alert: Nginx 100 active connections
//           expr: nginx_connections_active{job="nginx"} >= 100
//           for: 1m
//           keep_firing_for: 5m
//           labels: {severity: critical}
//           annotations: {title: "... {{ $labels.instance }}"}
//         - record: job:up:sum
//           expr: sum by (job) (up)
//
// Parsing is strict, like Prometheus's yaml.UnmarshalStrict: unknown fields
// are errors. Every error names the file and line and, inside a group, the
// group and the rule's 1-based index:
//   rules.yml:14: group "nginx", rule 1: could not parse expression: ...
// Expressions are checked by an injected validator (the PromQL parser in
// production) so this file does not depend on the engine.
#ifndef VIGIL_ALERTING_RULES_RULE_FILE_H_
#define VIGIL_ALERTING_RULES_RULE_FILE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::alerting {

struct RuleSpec {
  enum class Kind { kRecord, kAlert };
  Kind kind = Kind::kAlert;
  std::string name;  // `record` metric name or `alert` name
  std::string expr;
  int64_t for_ms = 0;
  int64_t keep_firing_for_ms = 0;
  // In file order; names are unique.
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
  int line = 0;  // 1-based line of the rule in its file

  // True when two specs define the same rule (used to keep alert state
  // across reloads).
  bool SameDefinition(const RuleSpec& o) const {
    return kind == o.kind && name == o.name && expr == o.expr &&
           for_ms == o.for_ms && keep_firing_for_ms == o.keep_firing_for_ms &&
           labels == o.labels && annotations == o.annotations;
  }
};

struct GroupSpec {
  std::string name;
  std::string file;
  int64_t interval_ms = 0;  // 0: use the manager's evaluation interval
  int64_t limit = 0;        // 0: unlimited
  std::vector<RuleSpec> rules;
  int line = 0;
};

struct RuleFile {
  std::string path;
  std::vector<GroupSpec> groups;
  size_t RuleCount() const {
    size_t n = 0;
    for (const GroupSpec& g : groups) n += g.rules.size();
    return n;
  }
};

// Checks a PromQL expression; returns InvalidArgument with the parser's
// message ("1:5: parse error: ...") when it is not valid.
using ExprValidator = std::function<absl::Status(absl::string_view expr)>;

// Parses rule file text. `filename` is used in messages. With a null
// validator, expressions are only checked to be non-empty. On error the
// status is InvalidArgument and lists every problem found, one per line.
absl::StatusOr<RuleFile> ParseRuleFile(absl::string_view content,
                                       absl::string_view filename,
                                       const ExprValidator& validator);

// Reads and parses `path`. NotFound when it cannot be read.
absl::StatusOr<RuleFile> LoadRuleFile(const std::string& path,
                                      const ExprValidator& validator);

// Prometheus durations ("1m", "1h30m", "2d", "1w", "1y", "500ms", "0").
absl::StatusOr<int64_t> ParsePromDuration(absl::string_view s);
// Canonical form as Prometheus prints model.Duration ("1m", "1h30m", "0s").
std::string FormatPromDuration(int64_t ms);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_RULE_FILE_H_
