// Vigil embedded in a process: storage, PromQL, rules, scraping and alert
// callbacks behind one object, with no HTTP server and no JSON.
//
//   vigil::MonitorOptions options;
//   options.data_dir = "/var/lib/autoscaler";   // "" keeps data in memory
//   absl::StatusOr<std::unique_ptr<vigil::Monitor>> m =
//       vigil::Monitor::Open(options);
//   (*m)->Append({{"__name__", "queue_depth"}, {"queue", "jobs"}}, now_ms, 17);
//   absl::StatusOr<vigil::QueryResult> r =
//       (*m)->Query("sum(queue_depth)", now_ms);
//   (*m)->AddAlertRule("scaling", "QueueTooDeep", "sum(queue_depth) > 100",
//                      absl::Minutes(1), {{"severity", "page"}}, {});
//   (*m)->Subscribe([](const std::vector<vigil::AlertEvent>& events) {
//     for (const vigil::AlertEvent& e : events) Scale(e);
//   });
//   (*m)->Start();   // background scraping and rule evaluation
//
// See docs/embedding.md for a complete example.
//
// Threading model:
//  * Every public method of Monitor is thread-safe unless its comment says
//    otherwise.
//  * Alert callbacks (Subscribe) run on the thread that evaluates rules: the
//    Monitor's background thread after Start(), or the caller's thread inside
//    EvaluateRulesNow(). No Monitor lock is held while they run, so a
//    callback may call Query(), Append(), Subscribe() and Unsubscribe(); it
//    must not call Stop(), Close(), EvaluateRulesNow() or the rule-loading
//    methods (they wait for the evaluation the callback is part of), and it
//    should return quickly because the next rule waits for it.
//  * Scrapes run on their own threads and never call user code.
#ifndef VIGIL_VIGIL_MONITOR_H_
#define VIGIL_VIGIL_MONITOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "promql/value.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"

namespace vigil {

// Re-exported value types, so embedders spell them vigil::Labels etc.
using Labels = tsdb::Labels;
using Label = tsdb::Label;
using Appender = tsdb::Appender;
using SeriesRef = tsdb::SeriesRef;
using QueryResult = promql::QueryResult;
using Scalar = promql::Scalar;
using Vector = promql::Vector;
using VectorSample = promql::VectorSample;
using Matrix = promql::Matrix;
using MatrixSeries = promql::MatrixSeries;

// Label pairs in any order, e.g. {{"__name__", "up"}, {"job", "api"}}.
using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// Validates and sorts `pairs` into a Labels. InvalidArgument naming the bad
// label otherwise. Pairs with an empty value are dropped, as in Prometheus.
absl::StatusOr<Labels> MakeLabels(const LabelPairs& pairs);

struct MonitorOptions {
  // Directory of the on-disk store (created if missing). "" keeps
  // everything in memory; data is then lost on Close().
  std::string data_dir;
  // Samples older than this are dropped and rejected as out of bounds.
  absl::Duration retention = absl::Hours(24 * 15);
  // Oldest data is dropped while the store is larger than this (0: no
  // size limit).
  int64_t retention_bytes = 0;
  // PromQL: how far back an instant selector looks for a sample.
  absl::Duration lookback_delta = absl::Minutes(5);
  // PromQL: a query running longer fails with DeadlineExceeded.
  absl::Duration query_timeout = absl::Minutes(2);
  // PromQL: most samples one query may hold (ResourceExhausted beyond).
  int64_t max_samples = 50'000'000;
  // Default interval of rule groups that do not set their own, and of the
  // groups built with AddAlertRule/AddRecordingRule. ApplyConfig's
  // global.evaluation_interval overrides it for rules loaded afterwards.
  absl::Duration evaluation_interval = absl::Minutes(1);
  // An alert whose `for` was running when the rule manager stopped keeps
  // its pending time after a restart within this long (Prometheus's
  // --rules.alert.for-outage-tolerance).
  absl::Duration for_outage_tolerance = absl::Hours(1);
  // A restored `for` never fires sooner than this after a restart, and is
  // restored only for `for` longer than this (--rules.alert.for-grace-period).
  absl::Duration for_grace_period = absl::Minutes(10);
  // Firing alerts are re-sent at most this often (--rules.alert.resend-delay).
  absl::Duration resend_delay = absl::Minutes(1);
  // Base of alerts' generator URLs ("<external_url>/graph?g0.expr=...").
  std::string external_url;
  // Added to alerts (not to stored samples), like global.external_labels.
  LabelPairs external_labels;
  // The clock of retention and of background rule evaluation, in ms since
  // the epoch. Null means the wall clock. Tests and simulations inject one.
  std::function<int64_t()> now_ms;
};

// One alert's state change, as the rule engine reports it. Carries what
// Prometheus's webhook payload carries for an alert.
struct AlertEvent {
  enum class Status {
    kPending,    // expression became true; waiting for `for`
    kFiring,     // true for at least `for` (or `for` is 0)
    kResolved,   // was firing, expression no longer true
    kCancelled,  // was pending, expression no longer true (never fired)
  };
  Status status = Status::kPending;
  std::string alert_name;
  Labels labels;             // includes alertname and the rule's labels
  Labels annotations;        // templates expanded
  double value = 0;          // expression value at the last evaluation
  int64_t active_at_ms = 0;  // when it became pending
  // startsAt / endsAt of the webhook payload: starts_at is when it fired
  // (0 while pending), ends_at when it resolved (0 while active).
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;
};
// "pending", "firing", "resolved", "cancelled".
const char* AlertStatusString(AlertEvent::Status s);

// Receives the alerts that changed state in one rule evaluation (never
// empty), in rule order.
using AlertCallback = std::function<void(const std::vector<AlertEvent>&)>;

// ---- Grouped notifications (the built-in Alertmanager) ----

// How firing alerts are grouped and throttled before a notification
// callback sees them: Alertmanager's route settings.
struct NotificationOptions {
  // The "receiver" of the notifications.
  std::string receiver = "vigil";
  // Labels that split alerts into groups. Empty: one group for everything
  // (Alertmanager's default); {"..."}: every distinct label set is a group.
  std::vector<std::string> group_by;
  // Only alerts matching these Alertmanager matchers are notified, e.g.
  // {"scale=~\"up|down\"", "service=\"api\""}. Empty: all alerts.
  std::vector<std::string> matchers;
  absl::Duration group_wait = absl::Seconds(30);
  absl::Duration group_interval = absl::Minutes(5);
  absl::Duration repeat_interval = absl::Hours(4);
  // Notify when alerts resolve (and when a whole group has resolved).
  bool send_resolved = true;
  // At most this many alerts per notification (0: all); the rest are
  // counted in truncated_alerts.
  uint64_t max_alerts = 0;
};

// One alert of a notification, as in the v4 webhook payload.
struct NotifiedAlert {
  std::string status;  // "firing" or "resolved"
  Labels labels;       // with external labels
  Labels annotations;
  int64_t starts_at_ms = 0;
  // 0 while firing (the webhook's "0001-01-01T00:00:00Z"); once resolved,
  // when it resolved.
  int64_t ends_at_ms = 0;
  std::string generator_url;
  std::string fingerprint;  // %016x, as Alertmanager
};

// What Alertmanager's webhook (version 4) would POST, as a value.
struct GroupNotification {
  std::string receiver;
  std::string status;  // "firing" if any alert fires, else "resolved"
  std::vector<NotifiedAlert> alerts;
  Labels group_labels;
  Labels common_labels;
  Labels common_annotations;
  std::string external_url;
  std::string group_key;
  uint64_t truncated_alerts = 0;
};

using NotificationCallback = std::function<void(const GroupNotification&)>;

struct MonitorStats {
  int64_t head_series = 0;
  int64_t samples_appended = 0;
  int64_t rejected_samples = 0;  // out of order, duplicate, out of bounds...
  int64_t disk_bytes = 0;
  int64_t rules = 0;
  int64_t active_alerts = 0;  // pending + firing
  int64_t scrape_targets = 0;
  int64_t scrapes = 0;
  int64_t failed_scrapes = 0;
  int64_t min_time_ms = 0;
  int64_t max_time_ms = 0;
};

class MonitorParts;

class Monitor {
 public:
  // Opens the store at options.data_dir (recovering what a previous run
  // committed) and builds the query engine and rule manager. Nothing runs
  // in the background until Start(). Returns a non-OK status (naming the
  // directory or file) when the store cannot be opened.
  static absl::StatusOr<std::unique_ptr<Monitor>> Open(
      const MonitorOptions& options);

  // Close()s.
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Stop()s and closes the store, making everything appended durable.
  // Further calls return OK; other methods then fail with
  // FailedPrecondition.
  absl::Status Close();

  // ---- Writing ----

  // Appends and commits one sample. Errors: InvalidArgument for bad
  // labels; the tsdb append errors ("out of order sample", "duplicate
  // sample for timestamp", "out of bounds") otherwise.
  absl::Status Append(const Labels& labels, int64_t t_ms, double v);
  absl::Status Append(const LabelPairs& labels, int64_t t_ms, double v);

  // A batch appender (see tsdb/appender.h): many samples, one Commit().
  // Use this on hot paths; reuse the SeriesRef returned by Append. Must
  // not outlive the Monitor and is used by one thread at a time.
  std::unique_ptr<Appender> NewAppender();

  // ---- Querying ----

  // Evaluates a PromQL expression at t_ms. The value is a Vector, Scalar,
  // Matrix (range-vector expression) or String. InvalidArgument naming
  // the expression and the line:column for parse and type errors;
  // DeadlineExceeded / ResourceExhausted for query_timeout / max_samples.
  absl::StatusOr<QueryResult> Query(absl::string_view expr, int64_t t_ms);
  // Evaluates at start, start+step, ... <= end; the value is a Matrix.
  absl::StatusOr<QueryResult> QueryRange(absl::string_view expr,
                                         int64_t start_ms, int64_t end_ms,
                                         absl::Duration step);

  // ---- Configuration: scraping and rules ----

  // Installs a Prometheus configuration (prometheus.yml text): its scrape
  // configs (static, file_sd and dns_sd discovery, relabeling), its global
  // evaluation_interval (for groups without their own interval), its
  // rule_files (relative paths resolve against the working directory) and
  // its remote_write destinations with global.external_labels: every
  // sample committed from then on (Append, NewAppender, scrapes, recording
  // rules) is queued for them (under <data_dir>/remote_write/, or in
  // memory) and sent between Start() and Stop(); see docs/remote_write.md.
  // `alerting:` (external Alertmanagers) is parsed but not used: subscribe
  // instead. On error nothing changes (a remote_write queue directory that
  // cannot be opened is an error); the message names "<config>" and the
  // line.
  absl::Status ApplyConfig(const std::string& prometheus_yml_text);
  // The same from a file; messages name the file. Relative rule_files
  // resolve against the file's directory.
  absl::Status LoadConfigFile(const std::string& path);

  // Adds (or replaces, by job name) a job scraping http://<address>/metrics
  // every `interval`, with `labels` attached to every sample. Kept across
  // ApplyConfig calls; a job of the same name in the config wins.
  absl::Status AddScrapeTarget(const std::string& job,
                               const std::string& address,
                               absl::Duration interval,
                               const LabelPairs& labels = {});
  // Removes a job added by AddScrapeTarget. NotFound if there is none.
  absl::Status RemoveScrapeTarget(const std::string& job);

  // Loads Prometheus rule-file text, replacing the rules earlier loaded
  // under the same `name` (which appears in error messages as the file:
  // "rules.yml:12: group \"g\", rule 1: ..."). On error nothing changes.
  absl::Status LoadRules(absl::string_view yaml_text,
                         absl::string_view name = "<rules>");

  // Adds (or replaces, by group and name) an alerting rule in a code-built
  // group evaluated every evaluation_interval. Annotation and label values
  // may use templates ({{ $labels.x }}, {{ $value }}). InvalidArgument
  // naming the rule when the expression or a template does not parse.
  absl::Status AddAlertRule(const std::string& group, const std::string& name,
                            const std::string& expr, absl::Duration for_,
                            const LabelPairs& labels = {},
                            const LabelPairs& annotations = {});
  // Adds (or replaces) a recording rule writing `expr` as metric `record`.
  absl::Status AddRecordingRule(const std::string& group,
                                const std::string& record,
                                const std::string& expr,
                                const LabelPairs& labels = {});

  // ---- Alerts ----

  // Registers a callback for alert state changes; returns its id. See the
  // threading model above for where it runs.
  int Subscribe(AlertCallback callback);
  // Removes a subscription. Later evaluations do not call it; one already
  // delivering on another thread may still call it once. Returns false for
  // an unknown id.
  bool Unsubscribe(int id);
  // Snapshot of pending, firing and recently resolved alerts.
  std::vector<AlertEvent> Alerts() const;

  // Registers a callback for grouped notifications: firing alerts are
  // re-sent to a private Alertmanager-like dispatcher (as Prometheus sends
  // them to Alertmanager: every evaluation that changes them, else every
  // minute), which groups them by options.group_by and calls `callback`
  // after group_wait, then at most every group_interval when the group
  // changed, and every repeat_interval while nothing changed. The callback
  // runs on the dispatcher's thread after Start(), or inside
  // EvaluateRulesNow() on the caller's thread (timers follow that time).
  // The same rules as for Subscribe apply to what it may call. Returns
  // the id, or InvalidArgument naming a bad matcher.
  absl::StatusOr<int> SubscribeNotifications(const NotificationOptions& options,
                                             NotificationCallback callback);
  // Removes a notification subscription (false for an unknown id); later
  // notifications are not delivered. Safe from any callback.
  bool UnsubscribeNotifications(int id);

  // ---- Control ----

  // Starts background scraping (targets of ApplyConfig/AddScrapeTarget)
  // and rule evaluation. FailedPrecondition if already started or closed.
  absl::Status Start();
  // Stops scraping (writing staleness markers) and rule evaluation.
  // Idempotent. Must not be called from an alert callback.
  void Stop();
  // Evaluates, on the calling thread, every rule group due at t_ms (each
  // group's slot is aligned to its interval, like Prometheus), delivering
  // alert callbacks, then flushes the notification groups due at t_ms
  // (delivering notification callbacks), before returning. For deterministic
  // use: call with increasing t_ms. FailedPrecondition while started (the
  // background evaluation owns the schedule then).
  absl::Status EvaluateRulesNow(int64_t t_ms);

  MonitorStats Stats() const;

 private:
  // Serve-only access to the parts (vigil/monitor_parts.h).
  friend class MonitorParts;
  class Impl;
  explicit Monitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil

#endif  // VIGIL_VIGIL_MONITOR_H_
