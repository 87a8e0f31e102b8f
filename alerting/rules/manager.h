// The rule manager: loads rule files, evaluates each group at its interval
// (at a stable per-group offset, like Prometheus), writes recording-rule
// results, ALERTS and ALERTS_FOR_STATE through a tsdb::Appendable, hands
// firing/resolved alerts to a NotifyFunc and reports state changes to
// embedders.
//
//   RuleManagerOptions opts;
//   opts.query = [&](absl::string_view q, int64_t t) { ... };  // engine
//   opts.appendable = &db;  opts.queryable = &db;
//   opts.notify = [&](const std::vector<Alert>& a) { dispatcher.Add(a); };
//   RuleManager m(opts);
//   absl::Status s = m.Update({"rules.yml"});
//   m.OnAlertsChanged([](const std::vector<Alert>& changed) { ... });
//   m.Start();   // background evaluation; or call EvaluateDue() yourself
//
// Evaluation of one group is sequential: each rule's samples are appended
// and committed before the next rule runs, so a recording rule's output is
// visible to later rules of the same evaluation.
//
// Thread-safety: all public methods are thread-safe. Callbacks run on the
// evaluating thread, without the manager's lock held.
#ifndef VIGIL_ALERTING_RULES_MANAGER_H_
#define VIGIL_ALERTING_RULES_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "alerting/clock.h"
#include "alerting/rules/rule.h"
#include "alerting/rules/rule_file.h"
#include "tsdb/appender.h"
#include "tsdb/querier.h"

namespace vigil::alerting {

// Receives the alerts of one alerting rule that must be (re-)sent now.
using NotifyFunc = std::function<void(const std::vector<Alert>& alerts)>;
// Receives alerts whose state changed in one evaluation: new pending,
// pending->firing, firing->inactive (resolved_at set), and pending alerts
// that vanished (state kInactive, resolved_at 0).
using AlertsChangedFunc = std::function<void(const std::vector<Alert>&)>;

struct RuleManagerOptions {
  QueryFunc query;                         // required
  tsdb::Appendable* appendable = nullptr;  // optional: results not stored
  tsdb::Queryable* queryable = nullptr;    // optional: no `for` restore
  NotifyFunc notify;                       // optional
  ExprValidator validator;                 // optional: load-time expr check
  Clock* clock = RealClock::Get();
  int64_t evaluation_interval_ms = 60'000;
  // --rules.alert.resend-delay
  int64_t resend_delay_ms = 60'000;
  // --rules.alert.for-outage-tolerance
  int64_t outage_tolerance_ms = 3'600'000;
  // --rules.alert.for-grace-period
  int64_t for_grace_period_ms = 600'000;
  std::map<std::string, std::string> external_labels;
  std::string external_url;
};

struct RuleStatus {
  RuleSpec spec;
  RuleHealth health = RuleHealth::kUnknown;
  std::string last_error;
  int64_t last_evaluation_ms = 0;
  double evaluation_seconds = 0;
  AlertState state = AlertState::kInactive;  // alerting rules only
  std::vector<Alert> alerts;                 // alerting rules only
};

struct GroupStatus {
  std::string name;
  std::string file;
  int64_t interval_ms = 0;
  int64_t limit = 0;
  int64_t last_evaluation_ms = 0;
  double evaluation_seconds = 0;
  int64_t iterations_total = 0;
  int64_t iterations_missed = 0;
  int64_t evaluation_failures = 0;
  std::vector<RuleStatus> rules;
};

class RuleGroup;

class RuleManager {
 public:
  explicit RuleManager(RuleManagerOptions options);
  ~RuleManager();
  RuleManager(const RuleManager&) = delete;
  RuleManager& operator=(const RuleManager&) = delete;

  // Loads `files` and replaces the current groups. Groups with the same
  // (file, name) keep their schedule; unchanged alerting rules keep their
  // alerts. On any error nothing changes and the error lists every problem.
  absl::Status Update(const std::vector<std::string>& files);
  // Same from already parsed files.
  absl::Status UpdateParsed(std::vector<RuleFile> files);

  // Evaluates every group whose next evaluation time is <= clock now.
  // Evaluations that were skipped are counted as missed.
  void EvaluateDue();

  // Starts/stops a background thread that calls EvaluateDue().
  void Start();
  void Stop();

  void OnAlertsChanged(AlertsChangedFunc f);

  // Replaces the external labels templates see as $externalLabels (a
  // config reload changed global.external_labels); from the next
  // evaluation on.
  void SetExternalLabels(std::map<std::string, std::string> labels);

  std::vector<GroupStatus> Groups() const;
  // Every pending, firing and recently resolved alert, for /api/v1/alerts.
  std::vector<Alert> Alerts() const;
  size_t RuleCount() const;

 private:
  struct ScheduledGroup;

  RuleManagerOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<ScheduledGroup>> groups_ ABSL_GUARDED_BY(mu_);
  std::vector<AlertsChangedFunc> listeners_ ABSL_GUARDED_BY(mu_);
  bool restored_once_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex run_mu_;
  bool stop_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

// Prometheus's evaluation slot: the latest time <= now_ms that is
// congruent to hash(file, name) modulo interval.
int64_t GroupEvalTimestamp(const std::string& file, const std::string& name,
                           int64_t interval_ms, int64_t now_ms);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_MANAGER_H_
