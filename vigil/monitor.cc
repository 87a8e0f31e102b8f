#include "vigil/monitor.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "alerting/alerting.h"
#include "alerting/clock.h"
#include "alerting/notifier/config.h"
#include "alerting/notifier/dispatcher.h"
#include "alerting/notifier/types.h"
#include "alerting/rules/engine_query.h"
#include "alerting/rules/manager.h"
#include "alerting/rules/rule.h"
#include "alerting/rules/rule_file.h"
#include "nlohmann/json.hpp"
#include "promql/engine.h"
#include "promql/parser/parser.h"
#include "server/config/client_options.h"
#include "server/config/config.h"
#include "server/config/relabel.h"
#include "server/discovery/manager.h"
#include "server/discovery/target_group.h"
#include "server/remote/sender/remote_write_manager.h"
#include "server/scrape/manager.h"
#include "tsdb/db.h"
#include "vigil/monitor_parts.h"

namespace vigil {
namespace {

constexpr int64_t kNoOverride = std::numeric_limits<int64_t>::min();
constexpr char kCodeRulesFile[] = "<code>";

// The rule engine's clock: the embedder's clock (or the wall clock), except
// inside EvaluateRulesNow, which pins it to the requested time.
class MonitorClock : public alerting::Clock {
 public:
  explicit MonitorClock(std::function<int64_t()> now) : now_(std::move(now)) {}
  int64_t NowMs() const override {
    int64_t o = override_.load();
    if (o != kNoOverride) return o;
    return now_ ? now_() : alerting::RealClock::Get()->NowMs();
  }
  void Pin(int64_t t) { override_.store(t); }
  void Unpin() { override_.store(kNoOverride); }

 private:
  std::function<int64_t()> now_;
  std::atomic<int64_t> override_{kNoOverride};
};

class ClosedAppender : public tsdb::Appender {
 public:
  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef, const tsdb::Labels&,
                                         int64_t, double) override {
    return absl::FailedPreconditionError("vigil::Monitor is closed");
  }
  absl::Status Commit() override {
    return absl::FailedPreconditionError("vigil::Monitor is closed");
  }
  void Rollback() override {}
};

absl::Status ValidateExpr(absl::string_view expr) {
  return promql::ParseExpr(expr).status();
}

AlertEvent ToEvent(const alerting::Alert& a) {
  AlertEvent e;
  switch (a.state) {
    case alerting::AlertState::kPending:
      e.status = AlertEvent::Status::kPending;
      break;
    case alerting::AlertState::kFiring:
      e.status = AlertEvent::Status::kFiring;
      break;
    case alerting::AlertState::kInactive:
      e.status = a.resolved_at_ms != 0 ? AlertEvent::Status::kResolved
                                       : AlertEvent::Status::kCancelled;
      break;
  }
  e.alert_name = std::string(a.labels.Get("alertname"));
  e.labels = a.labels;
  e.annotations = a.annotations;
  e.value = a.value;
  e.active_at_ms = a.active_at_ms;
  e.starts_at_ms = a.fired_at_ms;
  e.ends_at_ms = a.resolved_at_ms;
  return e;
}

absl::Status Annotate(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

// The dispatcher delivers webhook bodies; this is where they go instead of
// an HTTP POST.
constexpr char kCallbackURL[] = "vigil-callback:";

Labels LabelsFromJSON(const nlohmann::json& j) {
  std::vector<tsdb::Label> ls;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.value().is_string()) {
        ls.push_back(tsdb::Label{it.key(), it.value().get<std::string>()});
      }
    }
  }
  absl::StatusOr<Labels> l = tsdb::Labels::FromPairs(std::move(ls));
  return l.ok() ? *std::move(l) : Labels();
}

int64_t TimeFromJSON(const nlohmann::json& j) {
  int64_t ms = 0;
  if (!j.is_string()) return 0;
  const std::string s = j.get<std::string>();
  // Go's zero time ("0001-01-01T00:00:00Z") means "not set".
  if (absl::StartsWith(s, "0001-")) return 0;
  if (!alerting::notifier::ParseRFC3339(s, &ms)) return 0;
  return ms;
}

// The v4 webhook body the dispatcher rendered, back into a value. Reading
// the one body the dispatcher already builds keeps the callback's content
// identical to what a webhook receiver gets.
GroupNotification NotificationFromWebhook(const std::string& body) {
  GroupNotification n;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return n;
  n.receiver = j.value("receiver", "");
  n.status = j.value("status", "");
  n.external_url = j.value("externalURL", "");
  n.group_key = j.value("groupKey", "");
  n.truncated_alerts = j.value("truncatedAlerts", uint64_t{0});
  n.group_labels = LabelsFromJSON(j["groupLabels"]);
  n.common_labels = LabelsFromJSON(j["commonLabels"]);
  n.common_annotations = LabelsFromJSON(j["commonAnnotations"]);
  if (j["alerts"].is_array()) {
    for (const nlohmann::json& a : j["alerts"]) {
      NotifiedAlert out;
      out.status = a.value("status", "");
      out.labels = LabelsFromJSON(a.value("labels", nlohmann::json()));
      out.annotations =
          LabelsFromJSON(a.value("annotations", nlohmann::json()));
      out.starts_at_ms = TimeFromJSON(a.value("startsAt", nlohmann::json()));
      out.ends_at_ms = TimeFromJSON(a.value("endsAt", nlohmann::json()));
      out.generator_url = a.value("generatorURL", "");
      out.fingerprint = a.value("fingerprint", "");
      n.alerts.push_back(std::move(out));
    }
  }
  return n;
}

// One SubscribeNotifications: its own dispatcher, so each subscriber has
// its own grouping and timers.
struct NotificationSub {
  std::vector<tsdb::Matcher> matchers;
  NotificationCallback callback;
  std::atomic<bool> active{true};
  std::unique_ptr<alerting::notifier::Dispatcher> dispatcher;

  bool Wants(const Labels& labels) const {
    for (const tsdb::Matcher& m : matchers) {
      if (!m.Matches(labels.Get(m.name()))) return false;
    }
    return true;
  }
};

// Discovered target groups of each `alerting.alertmanagers` entry, keyed by
// the discovery job name of the entry ("config-<index>", as Prometheus
// names them).
using AlertmanagerGroups =
    std::map<std::string, std::vector<discovery::TargetGroup>>;

// What each entry's static configs, file_sd and dns_sd give right now:
// one synchronous refresh of the same discovery jobs am_discovery_ runs.
AlertmanagerGroups ResolveAlertmanagerGroups(const config::Config& cfg) {
  discovery::DiscoveryManager once(
      [](const std::string&, std::vector<discovery::TargetGroup>) {});
  once.ApplyJobs(discovery::AlertmanagerDiscoveryJobs(cfg));
  once.RefreshNow();
  return once.Targets();
}

// Labels an Alertmanager target carries into its relabel_configs.
constexpr char kSchemeLabel[] = "__scheme__";
constexpr char kAlertsPathLabel[] = "__alerts_path__";

// "/<prefix>/api/v2/alerts" (v1: /api/v1/alerts), cleaned as Go's
// path.Join cleans it: Prometheus's initial __alerts_path__.
std::string AlertsPath(const config::AlertmanagerConfig& am) {
  std::string out;
  for (absl::string_view part :
       {absl::string_view(am.path_prefix), absl::string_view("api"),
        absl::string_view(am.api_version), absl::string_view("alerts")}) {
    for (absl::string_view seg : absl::StrSplit(part, '/', absl::SkipEmpty())) {
      if (seg == ".") continue;
      if (seg == "..") {
        out.resize(out.rfind('/') == std::string::npos ? 0 : out.rfind('/'));
        continue;
      }
      absl::StrAppend(&out, "/", seg);
    }
  }
  return out;
}

// The Alertmanagers' alerts URLs with their client settings, appended to
// `urls`/`endpoints`, as Prometheus's notifier builds them: each
// discovered target gets __scheme__ and __alerts_path__, goes through the
// entry's relabel_configs (a dropped target is not notified, and is listed
// in `dropped` with the URL its labels gave before relabeling), and becomes
// __scheme__://__address____alerts_path__.
void AlertmanagerURLs(const std::vector<config::AlertmanagerConfig>& ams,
                      const AlertmanagerGroups& groups,
                      std::vector<std::string>* urls,
                      alerting::AlertmanagerEndpoints* endpoints,
                      std::vector<std::string>* dropped) {
  for (size_t i = 0; i < ams.size(); ++i) {
    const config::AlertmanagerConfig& am = ams[i];
    auto it = groups.find(absl::StrCat("config-", i));
    if (it == groups.end()) continue;
    alerting::notifier::AlertmanagerEndpoint endpoint;
    endpoint.client = config::ClientOptionsFromConfig(am);
    endpoint.timeout = am.timeout;
    const std::string alerts_path = AlertsPath(am);
    for (const discovery::TargetGroup& g : it->second) {
      for (const tsdb::Labels& t : g.targets) {
        tsdb::LabelsBuilder b(t);
        b.Set(kSchemeLabel, am.scheme);
        b.Set(kAlertsPathLabel, alerts_path);
        for (const tsdb::Label& l : g.labels) {
          if (!t.Has(l.name)) b.Set(l.name, l.value);
        }
        if (!am.relabel_configs.empty()) {
          std::string before = absl::StrCat(b.Get(kSchemeLabel), "://",
                                            b.Get(discovery::kAddressLabel),
                                            b.Get(kAlertsPathLabel));
          if (!config::Relabel(am.relabel_configs, &b)) {
            dropped->push_back(std::move(before));
            continue;
          }
        }
        const absl::string_view address = b.Get(discovery::kAddressLabel);
        if (address.empty()) continue;
        std::string url = absl::StrCat(b.Get(kSchemeLabel), "://", address,
                                       b.Get(kAlertsPathLabel));
        if (endpoints->count(url) == 0) urls->push_back(url);
        (*endpoints)[url] = endpoint;
      }
    }
  }
}

// The embedder's Alertmanagers (MonitorPartsOptions: base URLs with TLS
// settings) as alerts URLs.
void PartsAlertmanagers(const MonitorPartsOptions& parts,
                        std::vector<std::string>* urls,
                        alerting::AlertmanagerEndpoints* endpoints) {
  for (const std::string& base : parts.alertmanager_urls) {
    std::string url = alerting::notifier::AlertsURL(base);
    alerting::notifier::AlertmanagerEndpoint e;
    if (auto t = parts.alertmanager_tls.find(base);
        t != parts.alertmanager_tls.end()) {
      e.client.tls = t->second;
    }
    if (endpoints->count(url) == 0) urls->push_back(url);
    (*endpoints)[url] = std::move(e);
  }
}

}  // namespace

absl::StatusOr<Labels> MakeLabels(const LabelPairs& pairs) {
  std::vector<tsdb::Label> ls;
  ls.reserve(pairs.size());
  for (const auto& [n, v] : pairs) ls.push_back(tsdb::Label{n, v});
  return tsdb::Labels::FromPairs(std::move(ls));
}

const char* AlertStatusString(AlertEvent::Status s) {
  switch (s) {
    case AlertEvent::Status::kPending:
      return "pending";
    case AlertEvent::Status::kFiring:
      return "firing";
    case AlertEvent::Status::kResolved:
      return "resolved";
    case AlertEvent::Status::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

class Monitor::Impl {
 public:
  Impl(const MonitorOptions& options, const MonitorPartsOptions& parts)
      : options_(options), parts_(parts), clock_(options.now_ms) {}

  // On error *failed names the step.
  absl::Status Init(MonitorStep* failed);
  absl::Status Close();

  absl::Status CheckOpen() const {
    if (closed_.load()) {
      return absl::FailedPreconditionError("vigil::Monitor is closed");
    }
    return absl::OkStatus();
  }

  absl::Status AppendOne(const Labels& labels, int64_t t, double v);
  std::unique_ptr<Appender> NewAppender();
  absl::StatusOr<QueryResult> Query(absl::string_view expr, int64_t t);
  absl::StatusOr<QueryResult> QueryRange(absl::string_view expr, int64_t start,
                                         int64_t end, absl::Duration step);

  // On error *failed (never null) names the step.
  absl::Status InstallConfig(absl::StatusOr<config::Config> cfg,
                             MonitorStep* failed);
  absl::Status AddScrapeTarget(const std::string& job,
                               const std::string& address,
                               absl::Duration interval,
                               const LabelPairs& labels);
  absl::Status RemoveScrapeTarget(const std::string& job);
  absl::Status LoadRules(absl::string_view yaml, absl::string_view name);
  absl::Status AddRule(const std::string& group, alerting::RuleSpec spec);

  int Subscribe(AlertCallback cb);
  bool Unsubscribe(int id);
  std::vector<AlertEvent> Alerts() const;
  absl::StatusOr<int> SubscribeNotifications(const NotificationOptions& o,
                                             NotificationCallback cb);
  bool UnsubscribeNotifications(int id);

  absl::Status Start();
  void Stop();
  absl::Status EvaluateRulesNow(int64_t t);
  MonitorStats Stats() const;

  tsdb::DB* db() const { return db_.get(); }
  promql::Engine* engine() const { return engine_.get(); }
  alerting::AlertingService* alerting() const { return alerting_.get(); }
  server::remote::sender::RemoteWriteManager* remote_write() const {
    return remote_write_.get();
  }
  void WithScrapeManager(
      const std::function<void(scrape::ScrapeManager*)>& fn) const {
    std::lock_guard<std::mutex> lock(live_mu_);
    fn(live_scrape_);
  }

 private:
  // Configured plus code-added jobs (the config's job wins on a clash).
  config::Config EffectiveConfigLocked() const;
  absl::Status ApplyScrapeLocked();
  // Reloads every rule source into the rule manager; nothing changes on
  // error.
  absl::Status RebuildRulesLocked();
  void StopLocked();
  void Dispatch(const std::vector<alerting::Alert>& changed);
  // Hands alerts the rule manager sends (Prometheus's sendAlerts) to every
  // notification subscription's dispatcher.
  void Notify(const std::vector<alerting::Alert>& alerts);
  std::vector<std::shared_ptr<NotificationSub>> NotificationSubs() const;

  const MonitorOptions options_;
  const MonitorPartsOptions parts_;
  MonitorClock clock_;
  std::unique_ptr<tsdb::DB> db_;
  // Wraps db_: everything written (Append, NewAppender, scrapes, recording
  // rules) goes through it, so config.remote_write receives what db_
  // commits. Queues live under <data_dir>/remote_write/ (in memory without
  // a data_dir). Sends only between Start() and Stop().
  std::unique_ptr<server::remote::sender::RemoteWriteManager> remote_write_;
  std::unique_ptr<promql::Engine> engine_;
  // Rule evaluation; notifications go to Notify() (the subscriptions'
  // dispatchers) through the service's observer.
  std::unique_ptr<alerting::AlertingService> alerting_;
  alerting::RuleManager* rules_ = nullptr;  // owned by alerting_
  std::atomic<bool> closed_{false};

  // Serialises configuration, lifecycle and EvaluateRulesNow.
  mutable std::mutex control_mu_;
  config::Config config_;                       // guarded by control_mu_
  std::vector<std::string> config_rule_files_;  // guarded by control_mu_
  std::map<std::string, config::ScrapeConfig> code_jobs_;   // control_mu_
  std::map<std::string, alerting::RuleFile> inline_rules_;  // control_mu_
  // Code-built groups in name order, rules in insertion order.
  std::map<std::string, std::vector<alerting::RuleSpec>> code_groups_;
  bool started_ = false;                           // guarded by control_mu_
  std::unique_ptr<scrape::ScrapeManager> scrape_;  // control_mu_
  std::unique_ptr<discovery::DiscoveryManager> discovery_;  // control_mu_
  // Alertmanager discovery between reloads: file_sd/dns_sd of
  // alerting.alertmanagers keep being refreshed while the monitor runs, and
  // a changed set is applied at once (as Prometheus's notifier does).
  std::unique_ptr<discovery::DiscoveryManager> am_discovery_;  // control_mu_
  void OnAlertmanagerGroups(const std::string& job,
                            std::vector<discovery::TargetGroup> groups);
  std::mutex am_mu_;
  std::vector<config::AlertmanagerConfig> am_configs_;  // guarded by am_mu_
  AlertmanagerGroups am_groups_;                        // guarded by am_mu_
  // Stats() reads the scrape manager under this lock only, so it is safe
  // from alert callbacks (which may run while control_mu_ is held).
  mutable std::mutex live_mu_;
  scrape::ScrapeManager* live_scrape_ = nullptr;  // guarded by live_mu_

  mutable std::mutex subs_mu_;
  std::map<int, std::shared_ptr<AlertCallback>> subs_;  // guarded by subs_mu_
  int next_sub_id_ = 1;                                 // guarded by subs_mu_
  std::map<int, std::shared_ptr<NotificationSub>> notif_subs_;  // subs_mu_
  // Unsubscribed, kept until Stop()/Close() because their dispatcher may be
  // the very thread delivering the callback that unsubscribed.
  std::vector<std::shared_ptr<NotificationSub>> retired_subs_;  // subs_mu_
  bool dispatchers_running_ = false;  // guarded by subs_mu_
  // Added to notified alerts: MonitorOptions::external_labels overridden
  // by the applied config's global.external_labels.
  std::map<std::string, std::string> external_labels_;  // guarded by subs_mu_
  std::map<std::string, std::string> base_external_labels_;  // set in Init
};

absl::Status Monitor::Impl::Init(MonitorStep* failed) {
  *failed = MonitorStep::kAlerting;
  absl::StatusOr<Labels> ext = MakeLabels(options_.external_labels);
  if (!ext.ok()) return Annotate(ext.status(), "external_labels");
  if (options_.evaluation_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "MonitorOptions.evaluation_interval must be positive");
  }
  tsdb::DBOptions dopts;
  dopts.path = options_.data_dir;
  dopts.retention = options_.retention;
  dopts.retention_bytes = options_.retention_bytes;
  if (options_.now_ms) dopts.now_ms = options_.now_ms;
  absl::StatusOr<std::unique_ptr<tsdb::DB>> db = tsdb::DB::Open(dopts);
  if (!db.ok()) {
    *failed = MonitorStep::kStorage;
    return Annotate(db.status(),
                    absl::StrCat("opening data_dir \"", dopts.path, "\""));
  }
  db_ = *std::move(db);
  server::remote::sender::RemoteWriteManager::Options rwopts;
  rwopts.data_dir = options_.data_dir;
  rwopts.registry = parts_.registry;
  // metadata_config.send: the TYPE/HELP/UNIT of what the scrape targets
  // expose (nothing while stopped). Runs on a sender thread, under
  // live_mu_, so Stop() cannot free the scrape manager meanwhile.
  rwopts.metadata_source = [this] {
    std::vector<server::remote::sender::MetricMetadata> out;
    WithScrapeManager([&out](scrape::ScrapeManager* sm) {
      if (sm == nullptr) return;
      for (const scrape::TargetInfo& t : sm->ActiveTargets()) {
        if (t.metadata == nullptr) continue;
        for (const scrape::MetricMetadata& m : *t.metadata) {
          out.push_back({m.metric, m.type, m.help, m.unit});
        }
      }
    });
    return out;
  };
  remote_write_ = std::make_unique<server::remote::sender::RemoteWriteManager>(
      db_.get(), std::move(rwopts));

  promql::EngineOptions eopts;
  eopts.lookback_delta = options_.lookback_delta;
  eopts.timeout = options_.query_timeout;
  eopts.max_samples = options_.max_samples;
  engine_ = std::make_unique<promql::Engine>(eopts, db_.get());

  alerting::RuleManagerOptions ropts;
  ropts.query = alerting::EngineQueryFunc(engine_.get());
  ropts.appendable = remote_write_.get();
  ropts.queryable = db_.get();
  ropts.validator = ValidateExpr;
  ropts.clock = &clock_;
  ropts.evaluation_interval_ms =
      absl::ToInt64Milliseconds(options_.evaluation_interval);
  ropts.outage_tolerance_ms =
      absl::ToInt64Milliseconds(options_.for_outage_tolerance);
  ropts.for_grace_period_ms =
      absl::ToInt64Milliseconds(options_.for_grace_period);
  ropts.resend_delay_ms = absl::ToInt64Milliseconds(options_.resend_delay);
  for (const tsdb::Label& l : *ext) ropts.external_labels[l.name] = l.value;
  external_labels_ = ropts.external_labels;
  base_external_labels_ = ropts.external_labels;
  ropts.external_url = options_.external_url;
  alerting::AlertingOptions aopts;
  aopts.rules = std::move(ropts);
  aopts.alertmanager_config_file = parts_.alertmanager_config_file;
  aopts.notifier_external_url = parts_.notifier_external_url;
  aopts.silences_file = parts_.silences_file;
  aopts.nflog_file = parts_.nflog_file;
  aopts.alerts_file = parts_.alerts_file;
  aopts.alertmanager_urls = parts_.alertmanager_urls;
  for (const auto& [base, tls] : parts_.alertmanager_tls) {
    aopts.alertmanager_clients[base].client.tls = tls;
  }
  aopts.observer = [this](const std::vector<alerting::Alert>& alerts) {
    Notify(alerts);
  };
  absl::StatusOr<std::unique_ptr<alerting::AlertingService>> svc =
      alerting::AlertingService::Create(std::move(aopts));
  if (!svc.ok()) return svc.status();
  alerting_ = *std::move(svc);
  rules_ = &alerting_->rules();
  rules_->OnAlertsChanged([this](const std::vector<alerting::Alert>& changed) {
    Dispatch(changed);
  });

  absl::StatusOr<config::Config> cfg = config::ParseConfig("", "<default>");
  if (!cfg.ok()) {
    *failed = MonitorStep::kConfig;
    return cfg.status();
  }
  config_ = *std::move(cfg);
  // An empty config keeps the embedder's evaluation interval.
  config_.global.evaluation_interval = options_.evaluation_interval;
  *failed = MonitorStep::kNone;
  return absl::OkStatus();
}

absl::Status Monitor::Impl::Close() {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (closed_.exchange(true)) return absl::OkStatus();
  StopLocked();
  remote_write_->Stop();  // no-op unless started; before storage closes
  return db_->Close();
}

absl::Status Monitor::Impl::AppendOne(const Labels& labels, int64_t t,
                                      double v) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  std::unique_ptr<tsdb::Appender> app = remote_write_->NewAppender();
  absl::StatusOr<tsdb::SeriesRef> ref = app->Append(0, labels, t, v);
  if (!ref.ok()) {
    app->Rollback();
    return Annotate(ref.status(), labels.ToString());
  }
  return app->Commit();
}

std::unique_ptr<Appender> Monitor::Impl::NewAppender() {
  if (closed_.load()) return std::make_unique<ClosedAppender>();
  return remote_write_->NewAppender();
}

absl::StatusOr<QueryResult> Monitor::Impl::Query(absl::string_view expr,
                                                 int64_t t) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<QueryResult> r = engine_->InstantQuery(expr, t);
  if (!r.ok())
    return Annotate(r.status(), absl::StrCat("query \"", expr, "\""));
  return r;
}

absl::StatusOr<QueryResult> Monitor::Impl::QueryRange(absl::string_view expr,
                                                      int64_t start,
                                                      int64_t end,
                                                      absl::Duration step) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  int64_t step_ms = absl::ToInt64Milliseconds(step);
  if (step_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("query \"", expr, "\": step must be positive"));
  }
  absl::StatusOr<QueryResult> r =
      engine_->RangeQuery(expr, start, end, step_ms);
  if (!r.ok())
    return Annotate(r.status(), absl::StrCat("query \"", expr, "\""));
  return r;
}

config::Config Monitor::Impl::EffectiveConfigLocked() const {
  config::Config eff = config_;
  for (const auto& [job, sc] : code_jobs_) {
    bool clash = std::any_of(
        eff.scrape_configs.begin(), eff.scrape_configs.end(),
        [&](const config::ScrapeConfig& c) { return c.job_name == job; });
    if (!clash) eff.scrape_configs.push_back(sc);
  }
  return eff;
}

absl::Status Monitor::Impl::ApplyScrapeLocked() {
  if (scrape_ == nullptr) return absl::OkStatus();
  config::Config eff = EffectiveConfigLocked();
  absl::Status s = scrape_->ApplyConfig(eff);
  if (!s.ok()) return s;
  discovery_->ApplyConfig(eff);
  discovery_->RefreshNow();
  return absl::OkStatus();
}

absl::Status Monitor::Impl::RebuildRulesLocked() {
  std::vector<alerting::RuleFile> files;
  for (const std::string& path : config_rule_files_) {
    absl::StatusOr<alerting::RuleFile> f =
        alerting::LoadRuleFile(path, ValidateExpr);
    if (!f.ok()) return f.status();
    files.push_back(*std::move(f));
  }
  for (const auto& [name, f] : inline_rules_) files.push_back(f);
  if (!code_groups_.empty()) {
    alerting::RuleFile f;
    f.path = kCodeRulesFile;
    for (const auto& [name, specs] : code_groups_) {
      alerting::GroupSpec g;
      g.name = name;
      g.file = kCodeRulesFile;
      g.rules = specs;
      f.groups.push_back(std::move(g));
    }
    files.push_back(std::move(f));
  }
  const int64_t interval =
      absl::ToInt64Milliseconds(config_.global.evaluation_interval);
  for (alerting::RuleFile& f : files) {
    for (alerting::GroupSpec& g : f.groups) {
      if (g.interval_ms == 0) g.interval_ms = interval;
    }
  }
  return rules_->UpdateParsed(std::move(files));
}

absl::Status Monitor::Impl::InstallConfig(absl::StatusOr<config::Config> cfg,
                                          MonitorStep* failed) {
  *failed = MonitorStep::kConfig;
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (!cfg.ok()) return cfg.status();
  *failed = MonitorStep::kRules;
  absl::StatusOr<std::vector<std::string>> rule_files =
      config::ResolveRuleFiles(*cfg);
  if (!rule_files.ok()) return rule_files.status();
  // Alerting is checked first (alertmanager.yml is re-read) and applied
  // last, once nothing else can fail: a bad alertmanager.yml leaves the
  // old routing, Alertmanagers and external labels in place.
  *failed = MonitorStep::kAlerting;
  std::vector<std::string> am_urls;
  alerting::AlertmanagerEndpoints am_endpoints;
  PartsAlertmanagers(parts_, &am_urls, &am_endpoints);
  AlertmanagerGroups am_groups = ResolveAlertmanagerGroups(*cfg);
  std::vector<std::string> am_dropped;
  AlertmanagerURLs(cfg->alerting.alertmanagers, am_groups, &am_urls,
                   &am_endpoints, &am_dropped);
  // The embedder's external labels, overridden by the config's.
  std::map<std::string, std::string> ext;
  if (!parts_.config_owns_external_labels) ext = base_external_labels_;
  for (const tsdb::Label& l : cfg->global.external_labels)
    ext[l.name] = l.value;
  absl::StatusOr<alerting::AlertingUpdate> update =
      alerting_->Prepare(std::move(am_urls), std::move(am_endpoints), ext);
  if (!update.ok()) return update.status();
  update->dropped_alertmanager_urls = std::move(am_dropped);
  if (!cfg->alerting.alert_relabel_configs.empty()) {
    update->relabel =
        [rc = cfg->alerting.alert_relabel_configs](tsdb::LabelsBuilder* b) {
          return config::Relabel(rc, b);
        };
  }
  *failed = MonitorStep::kRules;
  std::lock_guard<std::mutex> lock(control_mu_);
  config::Config old = std::move(config_);
  std::vector<std::string> old_files = std::move(config_rule_files_);
  config_ = *std::move(cfg);
  config_rule_files_ = *std::move(rule_files);
  absl::Status s = RebuildRulesLocked();
  if (s.ok()) {
    *failed = MonitorStep::kScrape;
    s = ApplyScrapeLocked();
    // Last: the only way it fails is a queue directory that cannot be
    // opened, and undoing it means applying the old destinations again.
    if (s.ok()) {
      *failed = MonitorStep::kRemoteWrite;
      s = remote_write_->ApplyConfig(config_);
      if (!s.ok()) (void)remote_write_->ApplyConfig(old);
    }
    if (!s.ok()) {
      config_ = std::move(old);
      config_rule_files_ = std::move(old_files);
      (void)RebuildRulesLocked();  // the old rules loaded before
      (void)ApplyScrapeLocked();
      return s;
    }
    alerting_->Apply(*std::move(update));
    {
      std::lock_guard<std::mutex> subs_lock(subs_mu_);
      external_labels_ = std::move(ext);
    }
    {
      // Seeded with what was just applied, so the discovery's first
      // per-entry callbacks change nothing.
      std::lock_guard<std::mutex> am_lock(am_mu_);
      am_configs_ = config_.alerting.alertmanagers;
      am_groups_ = std::move(am_groups);
    }
    if (am_discovery_ != nullptr) {
      am_discovery_->ApplyJobs(discovery::AlertmanagerDiscoveryJobs(config_));
    }
    *failed = MonitorStep::kNone;
    return absl::OkStatus();
  }
  config_ = std::move(old);
  config_rule_files_ = std::move(old_files);
  return s;
}

absl::Status Monitor::Impl::AddScrapeTarget(const std::string& job,
                                            const std::string& address,
                                            absl::Duration interval,
                                            const LabelPairs& labels) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (job.empty())
    return absl::InvalidArgumentError("AddScrapeTarget: empty job");
  if (interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AddScrapeTarget(\"", job, "\"): interval must be positive"));
  }
  absl::StatusOr<Labels> target = MakeLabels({{"__address__", address}});
  if (!target.ok() || address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AddScrapeTarget(\"", job, "\"): bad address \"", address, "\""));
  }
  absl::StatusOr<Labels> group_labels = MakeLabels(labels);
  if (!group_labels.ok()) {
    return Annotate(group_labels.status(),
                    absl::StrCat("AddScrapeTarget(\"", job, "\") labels"));
  }
  std::lock_guard<std::mutex> lock(control_mu_);
  config::ScrapeConfig sc;
  sc.job_name = job;
  sc.scrape_interval = interval;
  sc.scrape_timeout = std::min(interval, config_.global.scrape_timeout);
  sc.scrape_protocols = config_.global.scrape_protocols;
  discovery::TargetGroup g;
  g.source = "0";
  g.targets.push_back(*std::move(target));
  g.labels = *std::move(group_labels);
  sc.static_configs.push_back(std::move(g));
  code_jobs_[job] = std::move(sc);
  return ApplyScrapeLocked();
}

absl::Status Monitor::Impl::RemoveScrapeTarget(const std::string& job) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(control_mu_);
  if (code_jobs_.erase(job) == 0) {
    return absl::NotFoundError(
        absl::StrCat("RemoveScrapeTarget: no job \"", job, "\""));
  }
  return ApplyScrapeLocked();
}

absl::Status Monitor::Impl::LoadRules(absl::string_view yaml,
                                      absl::string_view name) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<alerting::RuleFile> f =
      alerting::ParseRuleFile(yaml, name, ValidateExpr);
  if (!f.ok()) return f.status();
  std::lock_guard<std::mutex> lock(control_mu_);
  const std::string key(name);
  auto old = inline_rules_.find(key);
  std::optional<alerting::RuleFile> saved;
  if (old != inline_rules_.end()) saved = old->second;
  inline_rules_[key] = *std::move(f);
  absl::Status s = RebuildRulesLocked();
  if (!s.ok()) {
    if (saved.has_value()) {
      inline_rules_[key] = *std::move(saved);
    } else {
      inline_rules_.erase(key);
    }
  }
  return s;
}

absl::Status Monitor::Impl::AddRule(const std::string& group,
                                    alerting::RuleSpec spec) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const std::string where = absl::StrCat(kCodeRulesFile, ": group \"", group,
                                         "\", rule \"", spec.name, "\"");
  if (group.empty() || spec.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": group and rule name must not be empty"));
  }
  if (absl::Status s = ValidateExpr(spec.expr); !s.ok()) {
    return Annotate(s, absl::StrCat(where, ": could not parse expression"));
  }
  std::lock_guard<std::mutex> lock(control_mu_);
  auto saved = code_groups_;
  std::vector<alerting::RuleSpec>& specs = code_groups_[group];
  auto it = std::find_if(specs.begin(), specs.end(),
                         [&](const alerting::RuleSpec& r) {
                           return r.kind == spec.kind && r.name == spec.name;
                         });
  if (it != specs.end()) {
    *it = std::move(spec);
  } else {
    specs.push_back(std::move(spec));
  }
  absl::Status s = RebuildRulesLocked();
  if (!s.ok()) {
    code_groups_ = std::move(saved);
    return Annotate(s, where);
  }
  return absl::OkStatus();
}

int Monitor::Impl::Subscribe(AlertCallback cb) {
  std::lock_guard<std::mutex> lock(subs_mu_);
  int id = next_sub_id_++;
  subs_[id] = std::make_shared<AlertCallback>(std::move(cb));
  return id;
}

bool Monitor::Impl::Unsubscribe(int id) {
  std::lock_guard<std::mutex> lock(subs_mu_);
  return subs_.erase(id) > 0;
}

void Monitor::Impl::Dispatch(const std::vector<alerting::Alert>& changed) {
  if (changed.empty()) return;
  std::vector<std::shared_ptr<AlertCallback>> cbs;
  {
    std::lock_guard<std::mutex> lock(subs_mu_);
    for (const auto& [id, cb] : subs_) cbs.push_back(cb);
  }
  if (cbs.empty()) return;
  std::vector<AlertEvent> events;
  events.reserve(changed.size());
  for (const alerting::Alert& a : changed) events.push_back(ToEvent(a));
  for (const auto& cb : cbs) (*cb)(events);
}

std::vector<AlertEvent> Monitor::Impl::Alerts() const {
  std::vector<AlertEvent> out;
  for (const alerting::Alert& a : rules_->Alerts()) out.push_back(ToEvent(a));
  return out;
}

std::vector<std::shared_ptr<NotificationSub>> Monitor::Impl::NotificationSubs()
    const {
  std::lock_guard<std::mutex> lock(subs_mu_);
  std::vector<std::shared_ptr<NotificationSub>> out;
  for (const auto& [id, sub] : notif_subs_) out.push_back(sub);
  return out;
}

void Monitor::Impl::Notify(const std::vector<alerting::Alert>& alerts) {
  std::vector<std::shared_ptr<NotificationSub>> subs = NotificationSubs();
  if (subs.empty()) return;
  std::map<std::string, std::string> ext;
  {
    std::lock_guard<std::mutex> lock(subs_mu_);
    ext = external_labels_;
  }
  std::vector<alerting::notifier::Alert> out;
  out.reserve(alerts.size());
  for (const alerting::Alert& a : alerts) {
    out.push_back(alerting::ToNotifierAlert(a, ext));
  }
  for (const auto& sub : subs) {
    std::vector<alerting::notifier::Alert> mine;
    for (const alerting::notifier::Alert& a : out) {
      if (sub->Wants(a.labels)) mine.push_back(a);
    }
    if (!mine.empty()) sub->dispatcher->Add(mine);
  }
}

absl::StatusOr<int> Monitor::Impl::SubscribeNotifications(
    const NotificationOptions& o, NotificationCallback cb) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  auto sub = std::make_shared<NotificationSub>();
  for (const std::string& m : o.matchers) {
    absl::StatusOr<tsdb::Matcher> parsed = alerting::notifier::ParseMatcher(m);
    if (!parsed.ok()) {
      return Annotate(parsed.status(), absl::StrCat("SubscribeNotifications: "
                                                    "matcher \"",
                                                    m, "\""));
    }
    sub->matchers.push_back(*std::move(parsed));
  }
  if (o.group_wait < absl::ZeroDuration() ||
      o.group_interval <= absl::ZeroDuration() ||
      o.repeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "SubscribeNotifications: group_wait must not be negative, "
        "group_interval and repeat_interval must be positive");
  }
  alerting::notifier::AlertmanagerConfig cfg;
  alerting::notifier::Route& r = cfg.route;
  r.receiver = o.receiver;
  for (const std::string& l : o.group_by) {
    if (l == "...") {
      r.group_by_all = true;
    } else {
      r.group_by.push_back(l);
    }
  }
  std::sort(r.group_by.begin(), r.group_by.end());
  r.group_by.erase(std::unique(r.group_by.begin(), r.group_by.end()),
                   r.group_by.end());
  r.group_wait_ms = absl::ToInt64Milliseconds(o.group_wait);
  r.group_interval_ms = absl::ToInt64Milliseconds(o.group_interval);
  r.repeat_interval_ms = absl::ToInt64Milliseconds(o.repeat_interval);
  r.key = "{}";
  alerting::notifier::Receiver recv;
  recv.name = o.receiver;
  alerting::notifier::WebhookConfig wh;
  wh.url = kCallbackURL;
  wh.send_resolved = o.send_resolved;
  wh.max_alerts = o.max_alerts;
  recv.webhooks.push_back(std::move(wh));
  cfg.receivers.push_back(std::move(recv));

  sub->callback = std::move(cb);
  alerting::notifier::DispatcherOptions dopts;
  dopts.clock = &clock_;
  dopts.external_url = options_.external_url;
  NotificationSub* raw = sub.get();
  dopts.deliver = [raw](const alerting::notifier::Notification& n) {
    if (!raw->active.load()) return;
    raw->callback(NotificationFromWebhook(n.body));
  };
  sub->dispatcher = std::make_unique<alerting::notifier::Dispatcher>(
      std::move(cfg), std::move(dopts));
  // Not control_mu_: callbacks may subscribe while EvaluateRulesNow holds
  // it.
  std::lock_guard<std::mutex> lock(subs_mu_);
  if (dispatchers_running_) sub->dispatcher->Start();
  int id = next_sub_id_++;
  notif_subs_[id] = std::move(sub);
  return id;
}

bool Monitor::Impl::UnsubscribeNotifications(int id) {
  std::lock_guard<std::mutex> lock(subs_mu_);
  auto it = notif_subs_.find(id);
  if (it == notif_subs_.end()) return false;
  it->second->active.store(false);
  retired_subs_.push_back(std::move(it->second));
  notif_subs_.erase(it);
  return true;
}

void Monitor::Impl::OnAlertmanagerGroups(
    const std::string& job, std::vector<discovery::TargetGroup> groups) {
  std::vector<std::string> urls;
  std::vector<std::string> dropped;
  alerting::AlertmanagerEndpoints endpoints;
  PartsAlertmanagers(parts_, &urls, &endpoints);
  {
    std::lock_guard<std::mutex> lock(am_mu_);
    std::vector<discovery::TargetGroup>& known = am_groups_[job];
    if (known == groups) return;
    known = std::move(groups);
    AlertmanagerURLs(am_configs_, am_groups_, &urls, &endpoints, &dropped);
  }
  alerting_->SetAlertmanagers(std::move(urls), std::move(endpoints),
                              std::move(dropped));
}

absl::Status Monitor::Impl::Start() {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(control_mu_);
  if (started_) {
    return absl::FailedPreconditionError("vigil::Monitor already started");
  }
  scrape_ = std::make_unique<scrape::ScrapeManager>(remote_write_.get());
  scrape::ScrapeManager* sm = scrape_.get();
  discovery_ = std::make_unique<discovery::DiscoveryManager>(
      [sm](const std::string& job, std::vector<discovery::TargetGroup> g) {
        sm->Sync(job, g);
      });
  absl::Status s = ApplyScrapeLocked();
  if (!s.ok()) {
    discovery_.reset();
    scrape_.reset();
    return s;
  }
  remote_write_->Start();
  discovery_->Start();
  am_discovery_ = std::make_unique<discovery::DiscoveryManager>(
      [this](const std::string& job, std::vector<discovery::TargetGroup> g) {
        OnAlertmanagerGroups(job, std::move(g));
      });
  am_discovery_->ApplyJobs(discovery::AlertmanagerDiscoveryJobs(config_));
  am_discovery_->Start();
  {
    std::lock_guard<std::mutex> live(live_mu_);
    live_scrape_ = sm;
  }
  alerting_->Start();
  {
    std::lock_guard<std::mutex> lock(subs_mu_);
    dispatchers_running_ = true;
    for (const auto& [id, sub] : notif_subs_) sub->dispatcher->Start();
  }
  started_ = true;
  return absl::OkStatus();
}

void Monitor::Impl::StopLocked() {
  if (!started_) return;
  {
    std::lock_guard<std::mutex> live(live_mu_);
    live_scrape_ = nullptr;
  }
  discovery_->Stop();
  am_discovery_->Stop();
  am_discovery_.reset();
  scrape_->Stop();    // staleness markers
  alerting_->Stop();  // rules, then the built-in dispatcher
  std::vector<std::shared_ptr<NotificationSub>> subs;
  {
    std::lock_guard<std::mutex> lock(subs_mu_);
    dispatchers_running_ = false;
    for (const auto& [id, sub] : notif_subs_) subs.push_back(sub);
    subs.insert(subs.end(), retired_subs_.begin(), retired_subs_.end());
    retired_subs_.clear();
  }
  // Outside subs_mu_: a callback still being delivered may subscribe.
  for (const auto& sub : subs) sub->dispatcher->Stop();
  // After the writers: their last samples (staleness markers, rule
  // results) get the flush deadline to go out; what is left stays queued.
  remote_write_->Stop();
  discovery_.reset();
  scrape_.reset();
  started_ = false;
}

void Monitor::Impl::Stop() {
  std::lock_guard<std::mutex> lock(control_mu_);
  StopLocked();
}

absl::Status Monitor::Impl::EvaluateRulesNow(int64_t t) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(control_mu_);
  if (started_) {
    return absl::FailedPreconditionError(
        "EvaluateRulesNow: background evaluation is running (Stop() first)");
  }
  clock_.Pin(t);
  alerting_->Tick();  // rules, then the built-in dispatcher (if any)
  for (const auto& sub : NotificationSubs()) sub->dispatcher->Tick();
  clock_.Unpin();
  return absl::OkStatus();
}

MonitorStats Monitor::Impl::Stats() const {
  MonitorStats st;
  if (!closed_.load()) {
    tsdb::DBStats d = db_->Stats();
    st.head_series = d.head_series;
    st.samples_appended = d.samples_appended;
    st.rejected_samples =
        d.out_of_order + d.duplicate + d.out_of_bounds + d.invalid_labels;
    st.disk_bytes = d.disk_bytes;
    st.min_time_ms = d.min_time;
    st.max_time_ms = d.max_time;
  }
  st.rules = static_cast<int64_t>(rules_->RuleCount());
  for (const alerting::Alert& a : rules_->Alerts()) {
    if (a.state != alerting::AlertState::kInactive) ++st.active_alerts;
  }
  std::lock_guard<std::mutex> lock(live_mu_);
  if (live_scrape_ != nullptr) {
    scrape::ScrapeManagerStats s = live_scrape_->Stats();
    st.scrape_targets = static_cast<int64_t>(s.active_targets);
    st.scrapes = static_cast<int64_t>(s.scrapes);
    st.failed_scrapes = static_cast<int64_t>(s.failed_scrapes);
  }
  return st;
}

// ---- Monitor ----

absl::StatusOr<std::unique_ptr<Monitor>> Monitor::Open(
    const MonitorOptions& options) {
  return MonitorParts::Open(options, MonitorPartsOptions());
}

Monitor::Monitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Monitor::~Monitor() { (void)impl_->Close(); }

absl::Status Monitor::Close() { return impl_->Close(); }

absl::Status Monitor::Append(const Labels& labels, int64_t t_ms, double v) {
  return impl_->AppendOne(labels, t_ms, v);
}

absl::Status Monitor::Append(const LabelPairs& labels, int64_t t_ms, double v) {
  absl::StatusOr<Labels> l = MakeLabels(labels);
  if (!l.ok()) return l.status();
  return impl_->AppendOne(*l, t_ms, v);
}

std::unique_ptr<Appender> Monitor::NewAppender() {
  return impl_->NewAppender();
}

absl::StatusOr<QueryResult> Monitor::Query(absl::string_view expr,
                                           int64_t t_ms) {
  return impl_->Query(expr, t_ms);
}

absl::StatusOr<QueryResult> Monitor::QueryRange(absl::string_view expr,
                                                int64_t start_ms,
                                                int64_t end_ms,
                                                absl::Duration step) {
  return impl_->QueryRange(expr, start_ms, end_ms, step);
}

absl::Status Monitor::ApplyConfig(const std::string& prometheus_yml_text) {
  MonitorStep failed;
  return impl_->InstallConfig(
      config::ParseConfig(prometheus_yml_text, "<config>"), &failed);
}

absl::Status Monitor::LoadConfigFile(const std::string& path) {
  MonitorStep failed;
  return impl_->InstallConfig(config::LoadConfigFile(path), &failed);
}

absl::Status Monitor::AddScrapeTarget(const std::string& job,
                                      const std::string& address,
                                      absl::Duration interval,
                                      const LabelPairs& labels) {
  return impl_->AddScrapeTarget(job, address, interval, labels);
}

absl::Status Monitor::RemoveScrapeTarget(const std::string& job) {
  return impl_->RemoveScrapeTarget(job);
}

absl::Status Monitor::LoadRules(absl::string_view yaml_text,
                                absl::string_view name) {
  return impl_->LoadRules(yaml_text, name);
}

absl::Status Monitor::AddAlertRule(const std::string& group,
                                   const std::string& name,
                                   const std::string& expr, absl::Duration for_,
                                   const LabelPairs& labels,
                                   const LabelPairs& annotations) {
  alerting::RuleSpec spec;
  spec.kind = alerting::RuleSpec::Kind::kAlert;
  spec.name = name;
  spec.expr = expr;
  spec.for_ms = absl::ToInt64Milliseconds(for_);
  spec.labels = labels;
  spec.annotations = annotations;
  return impl_->AddRule(group, std::move(spec));
}

absl::Status Monitor::AddRecordingRule(const std::string& group,
                                       const std::string& record,
                                       const std::string& expr,
                                       const LabelPairs& labels) {
  alerting::RuleSpec spec;
  spec.kind = alerting::RuleSpec::Kind::kRecord;
  spec.name = record;
  spec.expr = expr;
  spec.labels = labels;
  return impl_->AddRule(group, std::move(spec));
}

int Monitor::Subscribe(AlertCallback callback) {
  return impl_->Subscribe(std::move(callback));
}

bool Monitor::Unsubscribe(int id) { return impl_->Unsubscribe(id); }

absl::StatusOr<int> Monitor::SubscribeNotifications(
    const NotificationOptions& options, NotificationCallback callback) {
  return impl_->SubscribeNotifications(options, std::move(callback));
}

bool Monitor::UnsubscribeNotifications(int id) {
  return impl_->UnsubscribeNotifications(id);
}

std::vector<AlertEvent> Monitor::Alerts() const { return impl_->Alerts(); }

absl::Status Monitor::Start() { return impl_->Start(); }

void Monitor::Stop() { impl_->Stop(); }

absl::Status Monitor::EvaluateRulesNow(int64_t t_ms) {
  return impl_->EvaluateRulesNow(t_ms);
}

MonitorStats Monitor::Stats() const { return impl_->Stats(); }

// ---- MonitorParts ----

absl::StatusOr<std::unique_ptr<Monitor>> MonitorParts::Open(
    const MonitorOptions& options, const MonitorPartsOptions& parts,
    MonitorStep* failed) {
  MonitorStep step = MonitorStep::kNone;
  auto impl = std::make_unique<Monitor::Impl>(options, parts);
  absl::Status s = impl->Init(&step);
  if (failed != nullptr) *failed = s.ok() ? MonitorStep::kNone : step;
  if (!s.ok()) return s;
  return std::unique_ptr<Monitor>(new Monitor(std::move(impl)));
}

absl::Status MonitorParts::ApplyConfig(Monitor* m, const config::Config& cfg,
                                       MonitorStep* failed) {
  MonitorStep step = MonitorStep::kNone;
  absl::Status s = m->impl_->InstallConfig(cfg, &step);
  if (failed != nullptr) *failed = s.ok() ? MonitorStep::kNone : step;
  return s;
}

tsdb::DB* MonitorParts::db(Monitor* m) { return m->impl_->db(); }

promql::Engine* MonitorParts::engine(Monitor* m) { return m->impl_->engine(); }

alerting::AlertingService* MonitorParts::alerting(Monitor* m) {
  return m->impl_->alerting();
}

server::remote::sender::RemoteWriteManager* MonitorParts::remote_write(
    Monitor* m) {
  return m->impl_->remote_write();
}

void MonitorParts::WithScrapeManager(
    Monitor* m, const std::function<void(scrape::ScrapeManager*)>& fn) {
  m->impl_->WithScrapeManager(fn);
}

}  // namespace vigil
