// JSON for /api/v1/rules and /api/v1/alerts from the rule manager's status,
// in Prometheus 2.42's shapes: groups with rules (alerting rules carry
// state, duration, alerts), alert values in Go's 'e' format ("1e+00"),
// times in RFC 3339 with nanoseconds.
#ifndef VIGIL_SERVER_API_RULES_JSON_H_
#define VIGIL_SERVER_API_RULES_JSON_H_

#include <string>
#include <vector>

#include "alerting/rules/manager.h"
#include "server/api/json_writer.h"

namespace vigil::server::api {

// Writes the "data" object of /api/v1/rules. `type` filters as Prometheus's
// ?type=alert|record ("" for all).
void WriteRuleGroups(const std::vector<alerting::GroupStatus>& groups,
                     const std::string& type, JsonWriter* w);

// Writes the "data" object of /api/v1/alerts (pending and firing alerts).
void WriteAlerts(const std::vector<alerting::Alert>& alerts, JsonWriter* w);

// Go's strconv.FormatFloat(v, 'e', -1, 64): "1e+00", "1.5e-07", "NaN".
void AppendGoFloatE(std::string* out, double v);

// RFC 3339 with up to nanosecond digits, UTC ("2026-01-02T03:04:05.6Z");
// Go's zero time for 0.
std::string FormatRfc3339Nano(int64_t ms);

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_RULES_JSON_H_
