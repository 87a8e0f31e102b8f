// The built-in Alertmanager: routes alerts through the alertmanager.yml
// route tree into aggregation groups and sends notifications with
// Alertmanager's timing and de-duplication semantics:
//
//  * a new group waits group_wait before its first notification (or
//    notifies at once when its first alert started more than group_wait
//    ago);
//  * afterwards the group is flushed every group_interval; a flush notifies
//    a receiver only when it has firing alerts it was not told about, when
//    alerts resolved (send_resolved) or all resolved, or when the last
//    notification is older than repeat_interval;
//  * inhibited and silenced alerts are dropped before that decision;
//  * resolved alerts leave the group once notified.
//
//   Dispatcher d(config, {.clock = &clock, .deliver = sender});
//   d.Add(alerts);   // from the rule manager (or POST /api/v2/alerts)
//   d.Tick();        // or d.Start() for a background thread
//
// Thread-safe. `deliver` is called without the lock held.
#ifndef VIGIL_ALERTING_NOTIFIER_DISPATCHER_H_
#define VIGIL_ALERTING_NOTIFIER_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "alerting/clock.h"
#include "alerting/notifier/config.h"
#include "alerting/notifier/nflog.h"
#include "alerting/notifier/silences.h"
#include "alerting/notifier/types.h"

namespace vigil::alerting::notifier {

// One HTTP POST to make.
struct Notification {
  std::string receiver;
  std::string integration;  // "webhook" or "slack"
  int index = 0;            // position in the receiver's *_configs list
  std::string url;
  std::string body;
  HTTPClientConfig http;
  std::string group_key;
  int num_firing = 0;
  int num_resolved = 0;
};

using DeliverFunc = std::function<void(const Notification&)>;

struct DispatcherOptions {
  Clock* clock = RealClock::Get();
  // The "externalURL" of notifications (Alertmanager's --web.external-url).
  std::string external_url = "http://localhost:9093";
  DeliverFunc deliver;
  Silences* silences = nullptr;  // optional
  // Where the notification log persists ("" = memory only), and how long
  // its entries are kept (Alertmanager's --data.retention default).
  std::string nflog_file;
  int64_t nflog_retention_ms = int64_t{120} * 3600 * 1000;
  // Where the alerts persist ("" = memory only), so alerts that resolve
  // while the process is down are still notified as resolved
  // (alerts_file.h).
  std::string alerts_file;
};

struct DispatcherStats {
  int64_t alerts_received = 0;
  int64_t notifications = 0;  // handed to deliver
  int64_t alerts_inhibited = 0;
  int64_t alerts_silenced = 0;
  int64_t nflog_save_failures = 0;
  int64_t alerts_save_failures = 0;
  int64_t alerts_restored = 0;
};

class Dispatcher {
 public:
  Dispatcher(AlertmanagerConfig config, DispatcherOptions options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Reads the notification log written by an earlier run (options'
  // nflog_file), so alerts already notified are not notified again after a
  // restart. Call before Add; a malformed file is DataLoss.
  absl::Status LoadNotificationLog();

  // Reads the alerts written by an earlier run (options' alerts_file) and
  // routes them again with their saved endsAt: those the rules still fire
  // merge with the next update, the others resolve at their endsAt and
  // are notified as resolved to receivers that were told they fired. Call
  // after LoadNotificationLog and before Add; a malformed file is DataLoss.
  absl::Status LoadAlerts();

  // Replaces the configuration. Groups are rebuilt (as Alertmanager does on
  // reload); the notification log is kept so unchanged groups do not
  // re-notify.
  void ApplyConfig(AlertmanagerConfig config);

  // Ingests alerts. starts_at 0 becomes now; ends_at 0 becomes
  // now + resolve_timeout. Alerts with the same labels are merged.
  void Add(const std::vector<Alert>& alerts);

  // Flushes every group whose timer is due at clock now.
  void Tick();
  void Start();
  void Stop();

  // All known alerts (firing and recently resolved), sorted.
  std::vector<Alert> Alerts() const;
  // Inhibition/silence status of one alert, for the API.
  bool Inhibited(const tsdb::Labels& labels) const;
  // What Alertmanager's GET /api/v2/alerts reports about an alert: the
  // receivers its routes lead to (route order, no repeats) and the
  // fingerprint (%016x) of an alert inhibiting it, "" when none.
  struct AlertStatus {
    std::vector<std::string> receivers;
    std::string inhibited_by;
  };
  AlertStatus Status(const tsdb::Labels& labels) const;
  DispatcherStats stats() const;
  // Group keys currently aggregating, for debugging and tests.
  std::vector<std::string> GroupKeys() const;

 private:
  struct Group;

  void RouteLocked(const Alert& a, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked(Group* g, int64_t now, std::vector<Notification>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `by` (optional) receives the fingerprint of the inhibiting alert.
  bool InhibitedLocked(const tsdb::Labels& labels, int64_t now,
                       uint64_t* by = nullptr) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  DispatcherOptions options_;
  mutable absl::Mutex mu_;
  AlertmanagerConfig config_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Alert> alerts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
  // Notification log, keyed by group key + receiver + integration.
  NotificationLog nflog_ ABSL_GUARDED_BY(mu_);
  DispatcherStats stats_ ABSL_GUARDED_BY(mu_);
  // alerts_ differs from what options_.alerts_file holds.
  bool alerts_changed_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex run_mu_;
  bool stop_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

// Alertmanager's default Slack title for the data.
std::string DefaultSlackTitle(const TemplateData& d);
// The Slack message body for `d` under `c`.
absl::StatusOr<std::string> SlackJSON(const SlackConfig& c,
                                      const TemplateData& d);

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_DISPATCHER_H_
