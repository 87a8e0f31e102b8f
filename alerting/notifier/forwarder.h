// Forwarding to external Alertmanagers, as Prometheus's notifier does:
// alerts (already carrying endsAt = now + 4 x max(resend delay, eval
// interval), re-sent every resend delay by the rule manager) are POSTed as
// JSON to <alertmanager>/api/v2/alerts in batches of at most 256, through
// the retrying DeliveryQueue.
#ifndef VIGIL_ALERTING_NOTIFIER_FORWARDER_H_
#define VIGIL_ALERTING_NOTIFIER_FORWARDER_H_

#include <map>
#include <string>
#include <vector>

#include "alerting/notifier/delivery_queue.h"
#include "alerting/notifier/types.h"
#include "net/tls.h"

namespace vigil::alerting::notifier {

struct ForwarderOptions {
  // Base URLs, e.g. "http://192.168.121.174:9093" (a path prefix is kept).
  std::vector<std::string> alertmanagers;
  std::string api_path = "/api/v2/alerts";
  size_t max_batch = 256;
  // Added to every alert unless the alert has the label already.
  std::map<std::string, std::string> external_labels;
  // tls_config per Alertmanager, keyed like `alertmanagers`.
  std::map<std::string, net::TlsOptions> tls;
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
