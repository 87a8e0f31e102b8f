// Forwarding to external Alertmanagers, as Prometheus's notifier does:
// alerts (already carrying endsAt = now + 4 x max(resend delay, eval
// interval), re-sent every resend delay by the rule manager) are POSTed as
// JSON to each Alertmanager's alerts URL (<base>/api/v2/alerts, or
// /api/v1/alerts for api_version v1: both take the same body) in batches of
// at most 256, through the retrying DeliveryQueue.
#ifndef VIGIL_ALERTING_NOTIFIER_FORWARDER_H_
#define VIGIL_ALERTING_NOTIFIER_FORWARDER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "alerting/notifier/delivery_queue.h"
#include "alerting/notifier/types.h"
#include "net/http_client.h"

namespace vigil::alerting::notifier {

// How one Alertmanager is reached: the http client settings of its
// `alerting.alertmanagers` entry (tls_config, basic_auth, authorization,
// oauth2, proxy_url, follow_redirects) and its `timeout`.
struct AlertmanagerEndpoint {
  net::ClientOptions client;
  // Zero: the delivery queue's timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

// "<base>/api/v2/alerts" for a base URL such as "http://host:9093/prefix/".
std::string AlertsURL(absl::string_view base);

struct ForwarderOptions {
  // The URLs alerts are POSTed to, e.g.
  // "http://192.168.121.174:9093/api/v2/alerts" (see AlertsURL).
  std::vector<std::string> alertmanagers;
  size_t max_batch = 256;
  // Added to every alert unless the alert has the label already.
  std::map<std::string, std::string> external_labels;
  // Per Alertmanager, keyed like `alertmanagers` (absent: defaults).
  std::map<std::string, AlertmanagerEndpoint> endpoints;
};

class Forwarder {
 public:
  // `queue` must outlive the forwarder.
  Forwarder(ForwarderOptions options, DeliveryQueue* queue);

  // Enqueues one POST per batch per Alertmanager. Returns the number of
  // requests enqueued.
  int Send(const std::vector<Alert>& alerts);

  // The v2 PostableAlerts body for `alerts`.
  static std::string AlertsJSON(const std::vector<Alert>& alerts);

 private:
  ForwarderOptions options_;
  DeliveryQueue* queue_;
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_FORWARDER_H_
