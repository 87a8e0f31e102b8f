// Notification data model shared by the dispatcher, receivers and the
// Alertmanager forwarder: an alert as Alertmanager stores it, its
// fingerprint, Alertmanager's template data (the `.` of receiver templates)
// and the webhook message, serialised exactly as Alertmanager 0.25 does
// (version "4").
#ifndef VIGIL_ALERTING_NOTIFIER_TYPES_H_
#define VIGIL_ALERTING_NOTIFIER_TYPES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "alerting/template/template.h"
#include "tsdb/labels.h"

namespace vigil::alerting::notifier {

struct Alert {
  tsdb::Labels labels;
  tsdb::Labels annotations;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;  // 0: unknown (resolve_timeout applies)
  std::string generator_url;
  int64_t updated_at_ms = 0;

  // Resolved once ends_at has passed.
  bool Resolved(int64_t now_ms) const {
    return ends_at_ms != 0 && ends_at_ms <= now_ms;
  }
};

// Alertmanager's model.LabelSet fingerprint (FNV-1a over sorted pairs).
uint64_t Fingerprint(const tsdb::Labels& labels);
// %016x of the fingerprint, as in the webhook's "fingerprint".
std::string FingerprintString(const tsdb::Labels& labels);

// Go's time.Time RFC3339Nano of a UTC millisecond timestamp
// ("2024-04-26T17:21:05.311Z"); 0 is Go's zero time "0001-01-01T00:00:00Z".
std::string FormatRFC3339(int64_t unix_ms);
// Go's strfmt.DateTime as Alertmanager's API v2 writes it: always three
// fraction digits ("2024-04-26T17:21:05.000Z").
std::string FormatRFC3339Millis(int64_t unix_ms);
// Parses RFC 3339 with optional fraction and Z or +hh:mm offset.
bool ParseRFC3339(const std::string& s, int64_t* unix_ms);

// Alertmanager's sort order for alerts in a notification: by job, then
// instance, then the full label set.
bool AlertLess(const Alert& a, const Alert& b);

// template.Data.
struct TemplateAlert {
  std::string status;  // "firing" or "resolved"
  tsdb::Labels labels;
  tsdb::Labels annotations;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;  // 0 while firing
  std::string generator_url;
  std::string fingerprint;
};

struct TemplateData {
  std::string receiver;
  std::string status;
  std::vector<TemplateAlert> alerts;
  tsdb::Labels group_labels;
  tsdb::Labels common_labels;
  tsdb::Labels common_annotations;
  std::string external_url;
};

// Builds the data for a notification about `alerts` (already sorted) at
// `now_ms`.
TemplateData BuildTemplateData(const std::string& receiver,
                               const tsdb::Labels& group_labels,
                               const std::vector<Alert>& alerts,
                               const std::string& external_url, int64_t now_ms);

// The same data as a template value: .Receiver, .Status, .Alerts (with
// .Firing/.Resolved), .GroupLabels, .CommonLabels, .CommonAnnotations,
// .ExternalURL; each alert has .Status .Labels .Annotations .StartsAt
// .EndsAt .GeneratorURL .Fingerprint.
TemplateValue ToTemplateValue(const TemplateData& d);

// The webhook body: JSON as Go's json.Encoder writes it (compact, HTML
// characters escaped, trailing newline).
std::string WebhookJSON(const TemplateData& d, const std::string& group_key,
                        uint64_t truncated_alerts);

// Parses the body of POST /api/v1/alerts or /api/v2/alerts (a JSON array
// of {labels, annotations, startsAt, endsAt, generatorURL}); e.g. the
// book's `[{"labels": {"alertname": "My Fancy Alert"}}]`. Alerts without
// labels are rejected, as Alertmanager does.
absl::StatusOr<std::vector<Alert>> ParsePostableAlerts(const std::string& json);

// JSON string literal with Go's escaping (<, >, & as \u003c...).
std::string GoJSONString(const std::string& s);

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_TYPES_H_
