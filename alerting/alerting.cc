#include "alerting/alerting.h"

#include <utility>

namespace vigil::alerting {

notifier::Alert ToNotifierAlert(
    const Alert& a, const std::map<std::string, std::string>& external_labels) {
  notifier::Alert n;
  if (external_labels.empty()) {
    n.labels = a.labels;
  } else {
    tsdb::LabelsBuilder b(a.labels);
    for (const auto& [k, v] : external_labels) {
      if (!a.labels.Has(k)) b.Set(k, v);
    }
    n.labels = b.Build();
  }
  n.annotations = a.annotations;
  n.starts_at_ms = a.starts_at_ms;
  n.ends_at_ms = a.ends_at_ms;
  n.generator_url = a.generator_url;
  return n;
}

AlertingService::AlertingService(AlertingOptions options)
    : options_(std::move(options)) {}

AlertingService::~AlertingService() { Stop(); }

absl::StatusOr<std::unique_ptr<AlertingService>> AlertingService::Create(
    AlertingOptions options) {
  std::unique_ptr<AlertingService> s(new AlertingService(std::move(options)));
  AlertingOptions& o = s->options_;
  s->delivery_ = std::make_unique<notifier::DeliveryQueue>(o.delivery);
  if (!o.alertmanager_config_file.empty()) {
    absl::StatusOr<notifier::AlertmanagerConfig> c =
        notifier::LoadAlertmanagerConfig(o.alertmanager_config_file);
    if (!c.ok()) return c.status();
    s->silences_ =
        std::make_unique<notifier::Silences>(o.rules.clock, o.silences_file);
    absl::Status st = s->silences_->Load();
    if (!st.ok()) return st;
    notifier::DispatcherOptions d;
    d.clock = o.rules.clock;
    d.external_url = o.notifier_external_url;
    d.silences = s->silences_.get();
    d.nflog_file = o.nflog_file;
    d.alerts_file = o.alerts_file;
    notifier::DeliveryQueue* q = s->delivery_.get();
    d.deliver = [q](const notifier::Notification& n) {
      notifier::HttpRequest req;
      req.url = n.url;
      req.body = n.body;
      req.client.tls = n.http.tls;
      req.client.proxy_url = n.http.proxy_url;
      req.client.follow_redirects = n.http.follow_redirects;
      if (!n.http.basic_auth_username.empty()) {
        req.headers.push_back(
            {"Authorization",
             notifier::BasicAuthHeader(n.http.basic_auth_username,
                                       n.http.basic_auth_password)});
      } else if (!n.http.bearer_token.empty()) {
        req.headers.push_back({"Authorization", n.http.authorization_type +
                                                    " " + n.http.bearer_token});
      }
      q->Enqueue(std::move(req));
    };
    s->dispatcher_ =
        std::make_unique<notifier::Dispatcher>(*std::move(c), std::move(d));
    st = s->dispatcher_->LoadNotificationLog();
    if (!st.ok()) return st;
    st = s->dispatcher_->LoadAlerts();
    if (!st.ok()) return st;
  }
  {
    AlertingUpdate u;
    for (const std::string& base : o.alertmanager_urls) {
      std::string url = notifier::AlertsURL(base);
      if (auto e = o.alertmanager_clients.find(base);
          e != o.alertmanager_clients.end()) {
        u.alertmanager_endpoints[url] = e->second;
      }
      u.alertmanager_urls.push_back(std::move(url));
    }
    u.external_labels = o.rules.external_labels;
    s->Apply(std::move(u));
  }
  RuleManagerOptions ro = o.rules;
  AlertingService* self = s.get();
  ro.notify = [self](const std::vector<Alert>& a) { self->Notify(a); };
  s->rules_ = std::make_unique<RuleManager>(std::move(ro));
  return s;
}

void AlertingService::Notify(const std::vector<Alert>& alerts) {
  std::shared_ptr<notifier::Forwarder> forwarder;
  std::map<std::string, std::string> external_labels;
  std::function<bool(tsdb::LabelsBuilder*)> relabel;
  {
    absl::MutexLock l(&mu_);
    forwarder = forwarder_;
    external_labels = external_labels_;
    relabel = relabel_;
  }
  if (dispatcher_ || forwarder) {
    // As Prometheus's notifier: external labels, then alert_relabel_configs.
    std::vector<notifier::Alert> out;
    out.reserve(alerts.size());
    for (const Alert& a : alerts) {
      notifier::Alert n = ToNotifierAlert(a, external_labels);
      if (relabel) {
        tsdb::LabelsBuilder b(n.labels);
        if (!relabel(&b)) continue;
        n.labels = b.Build();
        if (n.labels.empty()) continue;
      }
      out.push_back(std::move(n));
    }
    if (dispatcher_ && !out.empty()) dispatcher_->Add(out);
    if (forwarder) forwarder->Send(out);
  }
  if (options_.observer) options_.observer(alerts);
}

absl::Status AlertingService::LoadRuleFiles(
    const std::vector<std::string>& files) {
  return rules_->Update(files);
}

absl::StatusOr<AlertingUpdate> AlertingService::Prepare(
    std::vector<std::string> alertmanager_urls,
    AlertmanagerEndpoints alertmanager_endpoints,
    std::map<std::string, std::string> external_labels) const {
  AlertingUpdate u;
  u.alertmanager_urls = std::move(alertmanager_urls);
  u.alertmanager_endpoints = std::move(alertmanager_endpoints);
  u.external_labels = std::move(external_labels);
  if (dispatcher_) {
    absl::StatusOr<notifier::AlertmanagerConfig> c =
        notifier::LoadAlertmanagerConfig(options_.alertmanager_config_file);
    if (!c.ok()) return c.status();
    u.routing = *std::move(c);
  }
  return u;
}

std::shared_ptr<notifier::Forwarder> AlertingService::MakeForwarder(
    const std::vector<std::string>& urls, AlertmanagerEndpoints endpoints) {
  if (urls.empty()) return nullptr;
  notifier::ForwarderOptions f;
  f.alertmanagers = urls;
  f.endpoints = std::move(endpoints);
  // Notify() has added the external labels already.
  return std::make_shared<notifier::Forwarder>(std::move(f), delivery_.get());
}

void AlertingService::SetAlertmanagers(std::vector<std::string> urls,
                                       AlertmanagerEndpoints endpoints,
                                       std::vector<std::string> dropped_urls) {
  std::shared_ptr<notifier::Forwarder> forwarder =
      MakeForwarder(urls, std::move(endpoints));
  absl::MutexLock l(&mu_);
  forwarder_ = std::move(forwarder);
  alertmanager_urls_ = std::move(urls);
  dropped_alertmanager_urls_ = std::move(dropped_urls);
}

void AlertingService::Apply(AlertingUpdate update) {
  std::shared_ptr<notifier::Forwarder> forwarder = MakeForwarder(
      update.alertmanager_urls, std::move(update.alertmanager_endpoints));
  {
    absl::MutexLock l(&mu_);
    forwarder_ = std::move(forwarder);
    alertmanager_urls_ = std::move(update.alertmanager_urls);
    dropped_alertmanager_urls_ = std::move(update.dropped_alertmanager_urls);
    external_labels_ = update.external_labels;
    relabel_ = std::move(update.relabel);
  }
  // Rule templates' $externalLabels follow too (not set before Create has
  // made the rule manager, which then starts from the same labels).
  if (rules_) rules_->SetExternalLabels(std::move(update.external_labels));
  if (dispatcher_ && update.routing) {
    dispatcher_->ApplyConfig(*std::move(update.routing));
  }
}

std::vector<std::string> AlertingService::alertmanager_urls() const {
  absl::MutexLock l(&mu_);
  return alertmanager_urls_;
}

std::vector<std::string> AlertingService::dropped_alertmanager_urls() const {
  absl::MutexLock l(&mu_);
  return dropped_alertmanager_urls_;
}

void AlertingService::Start() {
  rules_->Start();
  if (dispatcher_) dispatcher_->Start();
}

void AlertingService::Stop() {
  if (rules_) rules_->Stop();
  if (dispatcher_) dispatcher_->Stop();
}

void AlertingService::Tick() {
  rules_->EvaluateDue();
  if (dispatcher_) dispatcher_->Tick();
}

}  // namespace vigil::alerting
