// Relabeling rewrites a label set step by step, exactly as Prometheus's
// `relabel_configs`, `metric_relabel_configs`, `alert_relabel_configs` and
// `write_relabel_configs` do. A RelabelConfig is one step; Relabel() applies
// a list of them and reports whether the label set survived.
//
//   absl::StatusOr<RelabelConfig> c = RelabelConfig::Create(
//       RelabelAction::kReplace, {"__address__"}, ";", "(.*):.*", 0, "host",
//       "$1");
//   tsdb::LabelsBuilder lb(target_labels);
//   if (Relabel({*c}, &lb)) use(lb.Build());
//
// Semantics (Prometheus 2.42, `model/relabel`):
//  - The values of `source_labels` (missing ones read as "") are joined with
//    `separator`; `regex` is matched against the whole joined string (it is
//    wrapped as ^(?:regex)$).
//  - replace: if the regex matches, `target_label` and `replacement` are
//    expanded with $1, ${1}, $name, ${name} (Go's regexp.Expand rules, $$ is a
//    literal $); an invalid expanded target name deletes `target_label`, an
//    empty expanded value deletes the target label, otherwise it is set.
//  - keep/drop: keep or drop the whole label set by regex match.
//  - keepequal/dropequal: keep/drop when the joined value equals the value of
//    `target_label`.
//  - hashmod: target = (last 8 bytes of md5(joined), big endian) % modulus.
//  - labelmap: every label whose name matches is copied to the name given by
//    expanding `replacement`.
//  - labeldrop/labelkeep: delete labels whose name matches / does not match.
//  - lowercase/uppercase: target = joined value in lower/upper case.
#ifndef VIGIL_SERVER_CONFIG_RELABEL_H_
#define VIGIL_SERVER_CONFIG_RELABEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/labels.h"

namespace re2 {
class RE2;
}

namespace vigil::config {

enum class RelabelAction {
  kReplace,
  kKeep,
  kDrop,
  kKeepEqual,
  kDropEqual,
  kHashMod,
  kLabelMap,
  kLabelDrop,
  kLabelKeep,
  kLowercase,
  kUppercase,
};

// Lower-case YAML spelling: "replace", "hashmod", "labelmap", ...
absl::string_view RelabelActionName(RelabelAction action);
// Case-insensitive, as Prometheus. InvalidArgument for unknown actions.
absl::StatusOr<RelabelAction> ParseRelabelAction(absl::string_view name);

inline constexpr char kDefaultRelabelRegex[] = "(.*)";
inline constexpr char kDefaultRelabelSeparator[] = ";";
inline constexpr char kDefaultRelabelReplacement[] = "$1";

struct RelabelConfig {
  std::vector<std::string> source_labels;
  std::string separator = kDefaultRelabelSeparator;
  // The regex as written in the config (unanchored). `regex` holds the
  // compiled, fully anchored form; shared so configs copy cheaply.
  std::string regex_source = kDefaultRelabelRegex;
  std::shared_ptr<const re2::RE2> regex;
  uint64_t modulus = 0;
  std::string target_label;
  std::string replacement = kDefaultRelabelReplacement;
  RelabelAction action = RelabelAction::kReplace;

  // Compiles `regex_source` into `regex`. InvalidArgument naming the regex
  // when it does not compile.
  absl::Status Compile();
  // Prometheus's validation: required fields per action, valid target
  // labels, no extra fields on labeldrop/labelkeep/keepequal/dropequal.
  // Requires Compile() to have succeeded.
  absl::Status Validate() const;

  // Convenience for code and tests: fills, compiles and validates.
  static absl::StatusOr<RelabelConfig> Create(
      RelabelAction action, std::vector<std::string> source_labels,
      std::string separator, std::string regex, uint64_t modulus,
      std::string target_label, std::string replacement);
};

// Applies `configs` in order to the labels in `lb`. Returns false as soon as
// a step drops the label set (the builder is then in an unspecified state).
// Every config must have been compiled.
bool Relabel(const std::vector<RelabelConfig>& configs,
             tsdb::LabelsBuilder* lb);

// Convenience over Relabel(): returns the relabeled labels and sets `*keep`
// to false (returning empty labels) when a step dropped them.
tsdb::Labels RelabelLabels(const std::vector<RelabelConfig>& configs,
                           const tsdb::Labels& labels, bool* keep);

}  // namespace vigil::config

#endif  // VIGIL_SERVER_CONFIG_RELABEL_H_
