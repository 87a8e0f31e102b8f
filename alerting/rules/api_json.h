// Prometheus HTTP API and /metrics renderings of the rule manager's state,
// so the server only has to wrap them:
//   /api/v1/rules  -> {"status":"success","data": RulesAPIData(...)}
//   /api/v1/alerts -> {"status":"success","data": AlertsAPIData(...)}
// Field names, order and value formats follow Prometheus 2.42.
#ifndef VIGIL_ALERTING_RULES_API_JSON_H_
#define VIGIL_ALERTING_RULES_API_JSON_H_

#include <string>
#include <vector>

#include "alerting/rules/manager.h"

namespace vigil::alerting {

// `type` filter: "" (all), "alert" or "record", as ?type= of /api/v1/rules.
std::string RulesAPIData(const std::vector<GroupStatus>& groups,
                         const std::string& type = "");
// Pending and firing alerts.
std::string AlertsAPIData(const std::vector<Alert>& alerts);

// Rule manager self-metrics in the text exposition format
// (prometheus_rule_group_* names, label rule_group="<file>;<group>").
std::string RuleManagerMetricsText(const std::vector<GroupStatus>& groups);

// Go's strconv.FormatFloat(v, 'e', -1, 64): "1.2e+02".
std::string FormatFloatE(double v);
// RFC 3339 with trimmed fraction ("2024-04-26T17:21:05.311Z").
std::string FormatRFC3339Millis(int64_t unix_ms);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_API_JSON_H_
