// The built-in Alertmanager's alerts, persisted across restarts.
//
// A standalone Alertmanager keeps running while Prometheus restarts, so an
// alert whose rule stopped firing during the restart still reaches its
// endsAt there and is notified as resolved. In `vigil serve` both restart
// together; without this file the restarted dispatcher would not know the
// alert any more and receivers would never hear that it resolved. The
// dispatcher writes its alerts here (temp file, then rename) after every
// tick that changed them and routes them again at start-up.
//
//   absl::Status st = SaveAlertsFile("/data/alerts.json", dispatcher_alerts);
//   absl::StatusOr<std::vector<Alert>> a = LoadAlertsFile("/data/alerts.json");
#ifndef VIGIL_ALERTING_NOTIFIER_ALERTS_FILE_H_
#define VIGIL_ALERTING_NOTIFIER_ALERTS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "alerting/notifier/types.h"

namespace vigil::alerting::notifier {

absl::Status SaveAlertsFile(const std::string& path,
                            const std::vector<Alert>& alerts);

// A missing file holds no alerts. A malformed one is DataLoss naming the
// file, the entry and what is wrong with it.
absl::StatusOr<std::vector<Alert>> LoadAlertsFile(const std::string& path);

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_ALERTS_FILE_H_
