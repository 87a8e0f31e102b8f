// A TargetGroup is one unit of service discovery output: a set of targets
// (each a label set carrying at least `__address__`) plus labels common to
// all of them. This mirrors Prometheus's targetgroup.Group. Providers emit
// whole groups; a group with no targets tells consumers that a previously
// reported source has gone away.
//
//   TargetGroup g;
//   g.source = "0";
//   g.targets.push_back(*tsdb::Labels::FromPairs({{"__address__", "h:9100"}}));
//   g.labels = *tsdb::Labels::FromPairs({{"env", "prod"}});
#ifndef VIGIL_SERVER_DISCOVERY_TARGET_GROUP_H_
#define VIGIL_SERVER_DISCOVERY_TARGET_GROUP_H_

#include <string>
#include <vector>

#include "tsdb/labels.h"

namespace vigil::discovery {

inline constexpr char kAddressLabel[] = "__address__";

struct TargetGroup {
  // Each target has `__address__` and may carry `__meta_*` labels.
  std::vector<tsdb::Labels> targets;
  // Labels applied to every target of the group (a target's own label wins).
  tsdb::Labels labels;
  // Identifies the group within its provider, e.g. "0" for the first static
  // config, "file.yml:2" for the third group of a file_sd file, or the DNS
  // name queried. Stable across refreshes so consumers can replace groups.
  std::string source;

  friend bool operator==(const TargetGroup& a, const TargetGroup& b) {
    return a.targets == b.targets && a.labels == b.labels &&
           a.source == b.source;
  }
  friend bool operator!=(const TargetGroup& a, const TargetGroup& b) {
    return !(a == b);
  }
};

}  // namespace vigil::discovery

#endif  // VIGIL_SERVER_DISCOVERY_TARGET_GROUP_H_
