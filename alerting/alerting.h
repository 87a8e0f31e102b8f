// The embeddable alerting stack in one object: rule evaluation
// (RuleManager), the built-in Alertmanager replacement (Dispatcher with
// alertmanager.yml routing, silences, inhibition) and/or forwarding to
// external Alertmanagers, and HTTP delivery.
//
//   AlertingOptions o;
//   o.rules.query = EngineQueryFunc(&engine);     // or any QueryFunc
//   o.rules.appendable = &db;  o.rules.queryable = &db;
//   o.alertmanager_config_file = "alertmanager.yml";   // built-in routing
//   o.alertmanager_urls = {"http://192.168.121.174:9093"};  // forwarding
//   auto svc = AlertingService::Create(o);
//   (*svc)->LoadRuleFiles({"rules.yml"});
//   (*svc)->rules().OnAlertsChanged([](const std::vector<Alert>& a) {...});
//   (*svc)->Start();
#ifndef VIGIL_ALERTING_ALERTING_H_
#define VIGIL_ALERTING_ALERTING_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "alerting/notifier/delivery_queue.h"
#include "alerting/notifier/dispatcher.h"
#include "alerting/notifier/forwarder.h"
#include "alerting/notifier/silences.h"
#include "alerting/rules/manager.h"

namespace vigil::alerting {

// Per Alertmanager: how it is reached, keyed by its alerts URL.
using AlertmanagerEndpoints =
    std::map<std::string, notifier::AlertmanagerEndpoint>;

struct AlertingOptions {
  // Rule engine settings; `notify` is set by the service.
  RuleManagerOptions rules;
  // Built-in routing from this alertmanager.yml (empty: disabled).
  std::string alertmanager_config_file;
  // "externalURL" of built-in notifications.
  std::string notifier_external_url = "http://localhost:9093";
  // Silences persistence for the built-in dispatcher (empty: memory only).
  std::string silences_file;
  // Its notification log (what each receiver was told), so a restart does
  // not notify again (empty: memory only).
  std::string nflog_file;
  // Its alerts, so alerts that resolve while the process is down are still
  // notified as resolved after a restart (empty: memory only).
  std::string alerts_file;
  // External Alertmanagers to forward to (may be combined with built-in),
  // as base URLs: alerts go to <url>/api/v2/alerts.
  std::vector<std::string> alertmanager_urls;
  // Client settings of those Alertmanagers, keyed by base URL as in
  // alertmanager_urls (absent: defaults).
  std::map<std::string, notifier::AlertmanagerEndpoint> alertmanager_clients;
  notifier::DeliveryQueue::Options delivery;
  // Optional: also sees every batch the rule manager sends (Prometheus's
  // sendAlerts), after the built-in dispatcher and the forwarder. The rule
  // manager's `notify` hook has one owner (this service); an embedder that
  // needs the same alerts (vigil::Monitor's notification subscriptions)
  // watches them here. Runs on the rule evaluation thread.
  std::function<void(const std::vector<Alert>&)> observer;
};

// What a configuration reload changes in a running AlertingService
// (Prometheus re-applies these on reload): where alerts are forwarded, the
// external labels added to them, and the built-in routing re-read from
// alertmanager_config_file. Built by Prepare(), which reads and checks
// everything, so that Apply() cannot fail.
struct AlertingUpdate {
  // Alerts URLs (notifier::AlertsURL), as Prometheus lists them on
  // /api/v1/alertmanagers.
  std::vector<std::string> alertmanager_urls;
  // Discovered Alertmanagers that relabel_configs dropped, as URLs built
  // from their labels before relabeling (Prometheus's droppedAlertmanagers).
  std::vector<std::string> dropped_alertmanager_urls;
  AlertmanagerEndpoints alertmanager_endpoints;
  std::map<std::string, std::string> external_labels;
  // Set when the service has built-in routing.
  std::optional<notifier::AlertmanagerConfig> routing;
  // alert_relabel_configs: applied to every alert after the external
  // labels, before the built-in routing and forwarding; false drops the
  // alert. Null: none.
  std::function<bool(tsdb::LabelsBuilder*)> relabel;
};

class AlertingService {
 public:
  static absl::StatusOr<std::unique_ptr<AlertingService>> Create(
      AlertingOptions options);
  ~AlertingService();

  absl::Status LoadRuleFiles(const std::vector<std::string>& files);

  // Reload in two steps, so a caller can check every part of a new
  // configuration before changing any: Prepare re-reads alertmanager.yml
  // (when built-in routing is on) and changes nothing; an error names the
  // file. Apply swaps the forwarding targets and external labels and hands
  // the routing to the dispatcher, which keeps its notification log (an
  // alert already notified on an unchanged route is not sent again). The
  // rule manager's alert state is untouched.
  absl::StatusOr<AlertingUpdate> Prepare(
      std::vector<std::string> alertmanager_urls,
      AlertmanagerEndpoints alertmanager_endpoints,
      std::map<std::string, std::string> external_labels) const;
  void Apply(AlertingUpdate update);

  // Replaces only the Alertmanagers alerts are forwarded to (service
  // discovery found a different set between reloads); routing, external
  // labels and relabeling stay.
  void SetAlertmanagers(std::vector<std::string> urls,
                        AlertmanagerEndpoints endpoints,
                        std::vector<std::string> dropped_urls = {});

  // The URLs alerts are forwarded to now (<base>/api/v2/alerts).
  std::vector<std::string> alertmanager_urls() const;
  // Discovered Alertmanagers that relabeling dropped (see AlertingUpdate).
  std::vector<std::string> dropped_alertmanager_urls() const;

  // Background evaluation and dispatch.
  void Start();
  void Stop();
  // One manual step (tests with a FakeClock): evaluate due groups, then
  // flush due notification groups.
  void Tick();

  RuleManager& rules() { return *rules_; }
  notifier::Dispatcher* dispatcher() { return dispatcher_.get(); }
  notifier::Silences* silences() { return silences_.get(); }
  notifier::DeliveryQueue& delivery() { return *delivery_; }
  // The alertmanager.yml in use ("" without built-in routing).
  const std::string& alertmanager_config_file() const {
    return options_.alertmanager_config_file;
  }

 private:
  explicit AlertingService(AlertingOptions options);
  void Notify(const std::vector<Alert>& alerts);
  // Null when `urls` is empty.
  std::shared_ptr<notifier::Forwarder> MakeForwarder(
      const std::vector<std::string>& urls, AlertmanagerEndpoints endpoints);

  AlertingOptions options_;
  std::unique_ptr<notifier::DeliveryQueue> delivery_;
  std::unique_ptr<notifier::Silences> silences_;
  std::unique_ptr<notifier::Dispatcher> dispatcher_;
  std::unique_ptr<RuleManager> rules_;

  // What Apply() replaces while Notify() runs on the evaluation thread.
  mutable absl::Mutex mu_;
  std::shared_ptr<notifier::Forwarder> forwarder_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> alertmanager_urls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> dropped_alertmanager_urls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> external_labels_ ABSL_GUARDED_BY(mu_);
  std::function<bool(tsdb::LabelsBuilder*)> relabel_ ABSL_GUARDED_BY(mu_);
};

// A rule alert as notifiers see it (external labels added when missing).
notifier::Alert ToNotifierAlert(
    const Alert& a, const std::map<std::string, std::string>& external_labels);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_ALERTING_H_
