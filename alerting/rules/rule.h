// Recording and alerting rules and the alert state machine, with
// Prometheus 2.42 semantics.
//
// Alert state machine (one Alert per output series, keyed by the series'
// labels minus __name__, plus the rule's labels, plus alertname):
//
//   (absent) --series appears--> kPending (active_at = t)
//   kPending --t - active_at >= for--> kFiring (fired_at = t)
//   kPending --series vanishes--> dropped
//   kFiring --series vanishes--> kInactive (resolved_at = t), unless
//       keep_firing_for is set and has not yet elapsed since the series
//       vanished (then it stays kFiring)
//   kInactive (resolved) --kept 15m (kResolvedRetentionMs) so it is re-sent
//       as resolved--> dropped
//   kInactive --series reappears--> kPending (a new alert)
// A rule with for: 0 goes from absent to kFiring in the same evaluation.
#ifndef VIGIL_ALERTING_RULES_RULE_H_
#define VIGIL_ALERTING_RULES_RULE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "alerting/rules/rule_file.h"
#include "alerting/template/template.h"
#include "promql/value.h"
#include "tsdb/labels.h"

namespace vigil::alerting {

// Evaluates an instant query at `t_ms`. Scalars must be returned as a
// one-element vector with empty labels (as Prometheus's EngineQueryFunc
// does); other result types are errors.
using QueryFunc = std::function<absl::StatusOr<promql::Vector>(
    absl::string_view expr, int64_t t_ms)>;

inline constexpr int64_t kResolvedRetentionMs = 15 * 60 * 1000;

enum class AlertState { kInactive, kPending, kFiring };
// "inactive", "pending", "firing".
const char* AlertStateString(AlertState s);

struct Alert {
  AlertState state = AlertState::kInactive;
  tsdb::Labels labels;       // includes alertname
  tsdb::Labels annotations;  // expanded templates
  double value = 0;
  int64_t active_at_ms = 0;
  int64_t fired_at_ms = 0;
  int64_t resolved_at_ms = 0;  // 0: not resolved
  int64_t last_sent_at_ms = 0;
  int64_t valid_until_ms = 0;
  int64_t keep_firing_since_ms = 0;
  // Filled on alerts handed to a NotifyFunc: what Prometheus posts to
  // Alertmanager (startsAt = fired_at, endsAt = resolved_at or valid_until).
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;
  std::string generator_url;
};

enum class RuleHealth { kUnknown, kGood, kBad };
// "unknown", "ok", "err" as /api/v1/rules reports them.
const char* RuleHealthString(RuleHealth h);

// Shared, read-only context of an evaluation.
struct EvalContext {
  QueryFunc query;
  std::map<std::string, std::string> external_labels;
  std::string external_url;
};

class Rule {
 public:
  virtual ~Rule() = default;
  const RuleSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }

  // Evaluates at `ts_ms`; returns the samples to write (the recording
  // rule's output, or ALERTS / ALERTS_FOR_STATE). `limit` > 0 caps the
  // number of series/alerts; exceeding it is an error.
  virtual absl::StatusOr<promql::Vector> Eval(const EvalContext& ctx,
                                              int64_t ts_ms, int64_t limit) = 0;

  RuleHealth health() const { return health_; }
  const std::string& last_error() const { return last_error_; }
  int64_t last_evaluation_ms() const { return last_evaluation_ms_; }
  double evaluation_seconds() const { return evaluation_seconds_; }
  void SetEvalResult(const absl::Status& s, int64_t ts_ms, double seconds) {
    health_ = s.ok() ? RuleHealth::kGood : RuleHealth::kBad;
    last_error_ = s.ok() ? "" : std::string(s.message());
    last_evaluation_ms_ = ts_ms;
    evaluation_seconds_ = seconds;
  }

 protected:
  explicit Rule(RuleSpec spec) : spec_(std::move(spec)) {}
  RuleSpec spec_;

 private:
  RuleHealth health_ = RuleHealth::kUnknown;
  std::string last_error_;
  int64_t last_evaluation_ms_ = 0;
  double evaluation_seconds_ = 0;
};

class RecordingRule : public Rule {
 public:
  explicit RecordingRule(RuleSpec spec) : Rule(std::move(spec)) {}
  absl::StatusOr<promql::Vector> Eval(const EvalContext& ctx, int64_t ts_ms,
                                      int64_t limit) override;
};

class AlertingRule : public Rule {
 public:
  // Fails when a label or annotation template does not parse.
  static absl::StatusOr<std::unique_ptr<AlertingRule>> Create(RuleSpec spec);

  absl::StatusOr<promql::Vector> Eval(const EvalContext& ctx, int64_t ts_ms,
                                      int64_t limit) override;

  // The alerts that must be (re-)sent at `ts_ms`: firing ones not sent for
  // `resend_delay_ms` and newly resolved ones. Marks them sent and sets
  // valid_until = ts + 4 * max(resend_delay, interval). Pending alerts are
  // never sent.
  std::vector<Alert> AlertsToSend(int64_t ts_ms, int64_t resend_delay_ms,
                                  int64_t interval_ms,
                                  const std::string& external_url);

  // Snapshot of all tracked alerts (pending, firing and recently resolved),
  // sorted by labels.
  std::vector<Alert> ActiveAlerts() const;
  // The most severe state over its alerts (inactive/pending/firing).
  AlertState State() const;

  // Alert state survives a reload when the rule is unchanged.
  void TakeStateFrom(AlertingRule* old);

  // Restore support (see RuleGroup::RestoreForState): whether ALERTS
  // samples are emitted yet, and direct access to the alerts.
  void SetRestored(bool r) { restored_ = r; }
  bool restored() const { return restored_; }
  template <typename F>
  void ForEachAlert(F f) {
    for (auto& [k, a] : active_) f(&a);
  }
  // ALERTS_FOR_STATE labels of an alert.
  static tsdb::Labels ForStateLabels(const Alert& a);

 private:
  explicit AlertingRule(RuleSpec spec) : Rule(std::move(spec)) {}
  std::string Expand(const Template& t, const TemplateValue& data) const;

  std::vector<std::pair<std::string, Template>> label_templates_;
  std::vector<std::pair<std::string, Template>> annotation_templates_;
  absl::flat_hash_map<tsdb::Labels, Alert> active_;
  bool restored_ = true;
};

// "<external_url>/graph?g0.expr=<escaped expr>&g0.tab=1"
std::string GeneratorURL(absl::string_view external_url,
                         absl::string_view expr);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_RULE_H_
