#include "vigil/monitor_parts.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/config/config.h"
#include "server/remote/sender/internal/fake_receiver.h"

namespace vigil {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kMinute = 60'000;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/vigil_parts_", name, "_",
                      getpid());
}

std::string WriteFile(const std::string& name, const std::string& content) {
  std::string path = TempPath(name);
  std::ofstream(path) << content;
  return path;
}

config::Config ParseOrDie(const std::string& yaml) {
  absl::StatusOr<config::Config> c = config::ParseConfig(yaml, "<test>");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : config::Config();
}

TEST(MonitorPartsTest, OpenReportsTheFailingStep) {
  MonitorStep failed = MonitorStep::kNone;
  MonitorOptions o;
  o.data_dir = WriteFile("plain_file", "not a directory");
  absl::StatusOr<std::unique_ptr<Monitor>> m =
      MonitorParts::Open(o, MonitorPartsOptions(), &failed);
  EXPECT_FALSE(m.ok());
  EXPECT_EQ(failed, MonitorStep::kStorage);
  EXPECT_NE(m.status().message().find(o.data_dir), absl::string_view::npos)
      << m.status();

  o.data_dir = TempPath("open_steps");
  MonitorPartsOptions parts;
  parts.alertmanager_config_file = TempPath("missing_alertmanager.yml");
  m = MonitorParts::Open(o, parts, &failed);
  EXPECT_FALSE(m.ok());
  EXPECT_EQ(failed, MonitorStep::kAlerting);
  EXPECT_NE(m.status().message().find("missing_alertmanager.yml"),
            absl::string_view::npos)
      << m.status();

  // The store the failed attempt opened was closed again: the same
  // directory opens now.
  parts.alertmanager_config_file.clear();
  m = MonitorParts::Open(o, parts, &failed);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(failed, MonitorStep::kNone);
}

TEST(MonitorPartsTest, ApplyConfigReportsTheStepAndKeepsTheOldConfig) {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  MonitorOptions o;
  o.data_dir = TempPath("apply_steps");
  absl::StatusOr<std::unique_ptr<Monitor>> m =
      MonitorParts::Open(o, MonitorPartsOptions());
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  std::string rules = WriteFile("good_rules.yml", R"(groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum(x)
)");
  MonitorStep failed = MonitorStep::kConfig;
  ASSERT_TRUE(MonitorParts::ApplyConfig(
                  mon, ParseOrDie("rule_files: ['" + rules + "']\n"), &failed)
                  .ok());
  EXPECT_EQ(failed, MonitorStep::kNone);
  EXPECT_EQ(mon->Stats().rules, 1);

  std::string bad = WriteFile("bad_rules.yml", R"(groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum(x
)");
  absl::Status s = MonitorParts::ApplyConfig(
      mon, ParseOrDie("rule_files: ['" + bad + "']\n"), &failed);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(failed, MonitorStep::kRules);
  EXPECT_NE(s.message().find("bad_rules.yml"), absl::string_view::npos) << s;
  EXPECT_EQ(mon->Stats().rules, 1);  // the old rules still run

  FILE* f = fopen((o.data_dir + "/remote_write").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  s = MonitorParts::ApplyConfig(
      mon, ParseOrDie("remote_write:\n  - url: http://127.0.0.1:1/write\n"),
      &failed);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(failed, MonitorStep::kRemoteWrite);
  EXPECT_EQ(mon->Stats().rules, 1);
  EXPECT_TRUE(mon->Append({{"__name__", "x"}}, now, 1).ok());
  ASSERT_TRUE(mon->Close().ok());
}

// The accessors hand out the Monitor's own parts: what one writes, the
// others (and Monitor::Query) see.
TEST(MonitorPartsTest, PartsAreTheMonitorsOwn) {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  server::metrics::Registry registry;
  MonitorPartsOptions parts;
  parts.registry = &registry;
  absl::StatusOr<std::unique_ptr<Monitor>> m =
      MonitorParts::Open(MonitorOptions(), parts);
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();

  std::unique_ptr<tsdb::Appender> app =
      MonitorParts::remote_write(mon)->NewAppender();
  ASSERT_TRUE(
      app->Append(0, *MakeLabels({{"__name__", "through_parts"}}), now, 7)
          .ok());
  ASSERT_TRUE(app->Commit().ok());
  absl::StatusOr<QueryResult> r = mon->Query("through_parts", now);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(std::get<Vector>(r->value).size(), 1u);
  EXPECT_EQ(std::get<Vector>(r->value)[0].v, 7);

  ASSERT_TRUE(mon->Append({{"__name__", "through_monitor"}}, now, 3).ok());
  EXPECT_EQ(MonitorParts::db(mon)->Stats().head_series, 2);
  absl::StatusOr<promql::QueryResult> e =
      MonitorParts::engine(mon)->InstantQuery("through_monitor * 2", now);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(std::get<Vector>(e->value)[0].v, 6);
  ASSERT_NE(MonitorParts::alerting(mon), nullptr);
  EXPECT_EQ(MonitorParts::alerting(mon)->dispatcher(), nullptr);

  // The scrape manager exists only between Start() and Stop().
  auto targets = [&] {
    int n = -1;
    MonitorParts::WithScrapeManager(mon, [&](scrape::ScrapeManager* sm) {
      n = sm == nullptr ? -1 : static_cast<int>(sm->ActiveTargets().size());
    });
    return n;
  };
  ASSERT_TRUE(
      mon->AddScrapeTarget("self", "127.0.0.1:1", absl::Seconds(30)).ok());
  EXPECT_EQ(targets(), -1);
  ASSERT_TRUE(mon->Start().ok());
  EXPECT_EQ(targets(), 1);
  mon->Stop();
  EXPECT_EQ(targets(), -1);
  ASSERT_TRUE(mon->Start().ok());  // a fresh manager
  EXPECT_EQ(targets(), 1);
  ASSERT_TRUE(mon->Close().ok());
  EXPECT_EQ(targets(), -1);
}

// Built-in routing (alertmanager.yml, a real webhook) and a notification
// subscription both get the alert: the subscription watches through the
// alerting service's observer, not by taking over its notify hook.
TEST(MonitorPartsTest, BuiltInRoutingAndSubscriptionsBothNotify) {
  alerting::notifier::WebhookReceiver receiver;
  std::string am = WriteFile("alertmanager.yml", R"(route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
receivers:
  - name: hook
    webhook_configs:
      - url: ')" + receiver.url() + R"('
)");
  std::atomic<int64_t> now{kT0};
  MonitorOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.evaluation_interval = absl::Seconds(10);
  o.external_labels = {{"cluster", "c1"}};
  MonitorPartsOptions parts;
  parts.alertmanager_config_file = am;
  parts.notifier_external_url = "http://vigil.example:9093";
  parts.silences_file = TempPath("silences.json");
  absl::StatusOr<std::unique_ptr<Monitor>> m = MonitorParts::Open(o, parts);
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  ASSERT_NE(MonitorParts::alerting(mon)->dispatcher(), nullptr);
  ASSERT_NE(MonitorParts::alerting(mon)->silences(), nullptr);
  ASSERT_TRUE(mon->AddAlertRule("g", "Up", "signal > 0", absl::ZeroDuration(),
                                {{"severity", "page"}})
                  .ok());
  NotificationOptions no;
  no.group_wait = absl::ZeroDuration();
  std::vector<GroupNotification> got;
  ASSERT_TRUE(mon->SubscribeNotifications(
                     no, [&](const GroupNotification& n) { got.push_back(n); })
                  .ok());
  for (int64_t t = kT0; t <= kT0 + kMinute; t += 10'000) {
    now = t;
    ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
    ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
  }
  ASSERT_TRUE(MonitorParts::alerting(mon)->delivery().Drain(absl::Seconds(10)));
  std::vector<alerting::notifier::WebhookReceiver::Request> reqs =
      receiver.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  nlohmann::json body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body["status"], "firing");
  EXPECT_EQ(body["externalURL"], "http://vigil.example:9093");
  EXPECT_EQ(body["alerts"][0]["labels"]["alertname"], "Up");
  EXPECT_EQ(body["alerts"][0]["labels"]["cluster"], "c1");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].alerts.size(), 1u);
  EXPECT_EQ(got[0].alerts[0].labels.Get("alertname"), "Up");
  EXPECT_EQ(got[0].alerts[0].labels.Get("cluster"), "c1");
  ASSERT_TRUE(mon->Close().ok());
}

// Alertmanager base URL ("127.0.0.1:<port>") of a fake receiver.
std::string Target(const alerting::notifier::WebhookReceiver& r) {
  return absl::StrCat("127.0.0.1:", r.port());
}

std::string ForwardingConfig(const std::string& cluster,
                             const std::string& target) {
  return absl::StrCat("global:\n  evaluation_interval: 10s\n",
                      "  external_labels:\n    cluster: ", cluster,
                      "\nalerting:\n  alertmanagers:\n",
                      "    - path_prefix: /am\n      static_configs:\n",
                      "        - targets: ['", target, "']\n");
}

// An `alerting.alertmanagers` entry's http client settings, api_version and
// relabel_configs apply as in Prometheus: basic_auth reaches the
// Alertmanager, v1 posts to /api/v1/alerts, a target relabeling drops is
// not notified (and is listed as dropped), and __alerts_path__ can be
// rewritten.
TEST(MonitorPartsTest, AlertmanagerClientSettingsAndRelabeling) {
  alerting::notifier::WebhookReceiver kept, dropped, rewritten;
  std::atomic<int64_t> now{kT0};
  MonitorOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.evaluation_interval = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<Monitor>> m =
      MonitorParts::Open(o, MonitorPartsOptions());
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  const std::string cfg = absl::StrCat(
      "global:\n  evaluation_interval: 10s\n"
      "alerting:\n  alertmanagers:\n"
      "    - api_version: v1\n"
      "      timeout: 3s\n"
      "      basic_auth: {username: vigil, password: s3cret}\n"
      "      static_configs:\n"
      "        - targets: ['",
      Target(kept), "', '", Target(dropped),
      "']\n"
      "      relabel_configs:\n"
      "        - source_labels: [__address__]\n"
      "          regex: '",
      Target(dropped),
      "'\n"
      "          action: drop\n"
      "    - path_prefix: /ignored\n"
      "      static_configs:\n"
      "        - targets: ['",
      Target(rewritten),
      "']\n"
      "      relabel_configs:\n"
      "        - target_label: __alerts_path__\n"
      "          replacement: /custom/alerts\n");
  ASSERT_TRUE(MonitorParts::ApplyConfig(mon, ParseOrDie(cfg)).ok());
  EXPECT_EQ(MonitorParts::alerting(mon)->alertmanager_urls(),
            (std::vector<std::string>{
                "http://" + Target(kept) + "/api/v1/alerts",
                "http://" + Target(rewritten) + "/custom/alerts"}));
  // Prometheus's droppedAlertmanagers: the URL from the labels before
  // relabeling.
  EXPECT_EQ(MonitorParts::alerting(mon)->dropped_alertmanager_urls(),
            (std::vector<std::string>{"http://" + Target(dropped) +
                                      "/api/v1/alerts"}));
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Up", "signal > 0", absl::ZeroDuration()).ok());
  for (int64_t t = kT0; t <= kT0 + 10'000; t += 10'000) {
    now = t;
    ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
    ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
  }
  ASSERT_TRUE(MonitorParts::alerting(mon)->delivery().Drain(absl::Seconds(10)));
  std::vector<alerting::notifier::WebhookReceiver::Request> got =
      kept.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/api/v1/alerts");
  EXPECT_EQ(got[0].authorization,
            alerting::notifier::BasicAuthHeader("vigil", "s3cret"));
  EXPECT_EQ(nlohmann::json::parse(got[0].body)[0]["labels"]["alertname"], "Up");
  EXPECT_TRUE(dropped.Requests().empty());
  got = rewritten.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/custom/alerts");
  EXPECT_EQ(got[0].authorization, "");
  ASSERT_TRUE(mon->Close().ok());
}

// A reload moves forwarding from Alertmanager A to B and changes the
// external labels on the forwarded alerts; the rule manager's firing alert
// survives it (same startsAt) and is what B receives.
TEST(MonitorPartsTest, ReloadSwitchesAlertmanagersAndExternalLabels) {
  alerting::notifier::WebhookReceiver a, b;
  std::atomic<int64_t> now{kT0};
  MonitorOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.evaluation_interval = absl::Seconds(10);
  o.external_labels = {{"region", "eu"}, {"cluster", "from_options"}};
  absl::StatusOr<std::unique_ptr<Monitor>> m =
      MonitorParts::Open(o, MonitorPartsOptions());
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  ASSERT_TRUE(MonitorParts::ApplyConfig(
                  mon, ParseOrDie(ForwardingConfig("a", Target(a))))
                  .ok());
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Up", "signal > 0", absl::ZeroDuration()).ok());
  // A new group's first evaluation is at its offset within the interval.
  for (int64_t t = kT0; t <= kT0 + 10'000; t += 10'000) {
    now = t;
    ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
    ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
  }
  alerting::notifier::DeliveryQueue& q =
      MonitorParts::alerting(mon)->delivery();
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  std::vector<alerting::notifier::WebhookReceiver::Request> got = a.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/am/api/v2/alerts");
  nlohmann::json first = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(first[0]["labels"]["cluster"], "a");  // the config wins
  EXPECT_EQ(first[0]["labels"]["region"], "eu");  // options still apply

  ASSERT_TRUE(MonitorParts::ApplyConfig(
                  mon, ParseOrDie(ForwardingConfig("b", Target(b))))
                  .ok());
  EXPECT_EQ(
      MonitorParts::alerting(mon)->alertmanager_urls(),
      std::vector<std::string>{"http://" + Target(b) + "/am/api/v2/alerts"});
  // Past the resend delay the still-firing alert is sent again, to B only.
  for (int64_t t = kT0 + 20'000; t <= kT0 + 2 * kMinute; t += 10'000) {
    now = t;
    ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
    ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
  }
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(a.Requests().size(), 1u);
  got = b.Requests();
  ASSERT_GE(got.size(), 1u);
  nlohmann::json second = nlohmann::json::parse(got.back().body);
  EXPECT_EQ(second[0]["labels"]["cluster"], "b");
  EXPECT_EQ(second[0]["labels"]["alertname"], "Up");
  EXPECT_EQ(second[0]["startsAt"], first[0]["startsAt"]);
  ASSERT_TRUE(mon->Close().ok());
}

// Alertmanagers found through file_sd are followed while the monitor runs,
// without a reload: rewriting the targets file moves forwarding from A to
// B within the file's refresh_interval.
TEST(MonitorPartsTest, FileSDAlertmanagersAreRefreshedBetweenReloads) {
  std::string targets = TempPath("am_targets") + ".json";
  auto write_targets = [&](const std::string& target) {
    std::string tmp = targets + ".tmp";
    std::ofstream(tmp, std::ios::trunc)
        << "[{\"targets\": [\"" << target << "\"]}]";
    std::rename(tmp.c_str(), targets.c_str());
  };
  write_targets("127.0.0.1:9001");
  MonitorOptions o;
  absl::StatusOr<std::unique_ptr<Monitor>> m =
      MonitorParts::Open(o, MonitorPartsOptions());
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  ASSERT_TRUE(MonitorParts::ApplyConfig(
                  mon, ParseOrDie(absl::StrCat(
                           "alerting:\n  alertmanagers:\n"
                           "    - file_sd_configs:\n"
                           "        - files: ['",
                           targets,
                           "']\n"
                           "          refresh_interval: 1s\n"
                           "      static_configs:\n"
                           "        - targets: ['127.0.0.1:9000']\n")))
                  .ok());
  alerting::AlertingService* svc = MonitorParts::alerting(mon);
  EXPECT_EQ(svc->alertmanager_urls(),
            (std::vector<std::string>{"http://127.0.0.1:9000/api/v2/alerts",
                                      "http://127.0.0.1:9001/api/v2/alerts"}));
  ASSERT_TRUE(mon->Start().ok());
  write_targets("127.0.0.1:9002");
  const std::vector<std::string> want = {"http://127.0.0.1:9000/api/v2/alerts",
                                         "http://127.0.0.1:9002/api/v2/alerts"};
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (svc->alertmanager_urls() != want && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(svc->alertmanager_urls(), want);
  // An emptied file leaves the static one.
  std::ofstream(targets, std::ios::trunc) << "[]";
  deadline = absl::Now() + absl::Seconds(15);
  while (svc->alertmanager_urls().size() != 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(svc->alertmanager_urls(),
            std::vector<std::string>{"http://127.0.0.1:9000/api/v2/alerts"});
  ASSERT_TRUE(mon->Close().ok());
}

std::string HookConfig(const alerting::notifier::WebhookReceiver& r) {
  return R"(route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
receivers:
  - name: hook
    webhook_configs:
      - url: ')" +
         r.url() + "'\n";
}

// alertmanager.yml is re-read on reload: unchanged, a firing alert is not
// notified again (the notification log survives); broken, the reload fails
// as a whole and the old routing keeps delivering; changed, the next
// notification goes to the new webhook.
TEST(MonitorPartsTest, ReloadReReadsAlertmanagerYml) {
  alerting::notifier::WebhookReceiver a, b;
  std::string am = WriteFile("reload_alertmanager.yml", HookConfig(a));
  std::atomic<int64_t> now{kT0};
  MonitorOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.evaluation_interval = absl::Seconds(10);
  MonitorPartsOptions parts;
  parts.alertmanager_config_file = am;
  absl::StatusOr<std::unique_ptr<Monitor>> m = MonitorParts::Open(o, parts);
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  const config::Config cfg = ParseOrDie(
      "global:\n  evaluation_interval: 10s\n  external_labels:\n"
      "    cluster: c1\n");
  ASSERT_TRUE(MonitorParts::ApplyConfig(mon, cfg).ok());
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Up", "signal > 0", absl::ZeroDuration()).ok());
  alerting::notifier::DeliveryQueue& q =
      MonitorParts::alerting(mon)->delivery();
  int64_t t = kT0;
  auto run = [&](int64_t until) {
    for (; t <= until; t += 10'000) {
      now = t;
      ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
      ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
    }
    ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  };
  run(kT0 + 30'000);
  ASSERT_EQ(a.Requests().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(
                a.Requests()[0].body)["alerts"][0]["labels"]["cluster"],
            "c1");

  // Unchanged route: the rebuilt group finds the alert in the log.
  ASSERT_TRUE(MonitorParts::ApplyConfig(mon, cfg).ok());
  run(kT0 + 4 * kMinute);
  EXPECT_EQ(a.Requests().size(), 1u);

  // Broken: refused, and nothing of the new config is applied.
  std::ofstream(am) << "route:\n  receiver: nobody\nreceivers: []\n";
  MonitorStep failed = MonitorStep::kNone;
  absl::Status s = MonitorParts::ApplyConfig(
      mon,
      ParseOrDie("global:\n  evaluation_interval: 10s\n"
                 "  external_labels:\n    cluster: never\n"),
      &failed);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(failed, MonitorStep::kAlerting);
  EXPECT_NE(s.message().find("reload_alertmanager.yml"),
            absl::string_view::npos)
      << s;
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Second", "signal > 0", absl::ZeroDuration())
          .ok());
  run(t + 30'000);
  std::vector<alerting::notifier::WebhookReceiver::Request> got = a.Requests();
  ASSERT_EQ(got.size(), 2u);
  nlohmann::json body = nlohmann::json::parse(got[1].body);
  EXPECT_EQ(body["alerts"][0]["labels"]["alertname"], "Second");
  EXPECT_EQ(body["alerts"][0]["labels"]["cluster"], "c1");
  EXPECT_TRUE(b.Requests().empty());

  // Changed webhook URL: the next notification goes to B. (As in
  // Alertmanager, the log is keyed by group, receiver name and integration,
  // so alerts already notified under receiver "hook" are not sent again
  // until repeat_interval; a new alert is.)
  std::ofstream(am) << HookConfig(b);
  ASSERT_TRUE(MonitorParts::ApplyConfig(mon, cfg).ok());
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Third", "signal > 0", absl::ZeroDuration()).ok());
  run(t + kMinute);
  EXPECT_EQ(a.Requests().size(), 2u);
  got = b.Requests();
  ASSERT_EQ(got.size(), 1u);
  body = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(body["status"], "firing");
  EXPECT_EQ(body["alerts"][0]["labels"]["alertname"], "Third");
  ASSERT_TRUE(mon->Close().ok());
}

// An embedder's Monitor::ApplyConfig (YAML text) forwards to the config's
// Alertmanagers, with alert_relabel_configs applied after the external
// labels: a dropped alert is not sent, a rewritten label is.
TEST(MonitorPartsTest, EmbedderApplyConfigForwardsWithAlertRelabeling) {
  alerting::notifier::WebhookReceiver am;
  std::atomic<int64_t> now{kT0};
  MonitorOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.evaluation_interval = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<Monitor>> m = Monitor::Open(o);
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  ASSERT_TRUE(mon->ApplyConfig(absl::StrCat(R"(global:
  evaluation_interval: 10s
  external_labels:
    cluster: c1
alerting:
  alert_relabel_configs:
    - source_labels: [alertname]
      regex: Noisy
      action: drop
    - source_labels: [cluster]
      target_label: team
      replacement: team-$1
  alertmanagers:
    - static_configs:
        - targets: [')",
                                            Target(am), "']\n"))
                  .ok());
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Up", "signal > 0", absl::ZeroDuration()).ok());
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Noisy", "signal > 0", absl::ZeroDuration()).ok());
  for (int64_t t = kT0; t <= kT0 + 20'000; t += 10'000) {
    now = t;
    ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
    ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
  }
  ASSERT_TRUE(MonitorParts::alerting(mon)->delivery().Drain(absl::Seconds(10)));
  std::vector<alerting::notifier::WebhookReceiver::Request> got = am.Requests();
  ASSERT_EQ(got.size(), 1u);
  nlohmann::json body = nlohmann::json::parse(got[0].body);
  ASSERT_EQ(body.size(), 1u) << body;
  EXPECT_EQ(body[0]["labels"]["alertname"], "Up");
  EXPECT_EQ(body[0]["labels"]["team"], "team-c1");
  ASSERT_TRUE(mon->Close().ok());
}

// vigil serve's mode: alerts carry exactly the applied config's external
// labels (none here), not MonitorOptions::external_labels, so a reload
// that removes a label removes it from forwarded alerts.
TEST(MonitorPartsTest, ConfigOwnedExternalLabelsReplaceTheOptions) {
  alerting::notifier::WebhookReceiver am;
  std::atomic<int64_t> now{kT0};
  MonitorOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.evaluation_interval = absl::Seconds(10);
  o.external_labels = {{"cluster", "startup"}};
  MonitorPartsOptions parts;
  parts.config_owns_external_labels = true;
  absl::StatusOr<std::unique_ptr<Monitor>> m = MonitorParts::Open(o, parts);
  ASSERT_TRUE(m.ok()) << m.status();
  Monitor* mon = m->get();
  const std::string forward = absl::StrCat(
      "alerting:\n  alertmanagers:\n    - static_configs:\n"
      "        - targets: ['",
      Target(am), "']\n");
  ASSERT_TRUE(
      MonitorParts::ApplyConfig(
          mon, ParseOrDie("global:\n  evaluation_interval: 10s\n" + forward))
          .ok());
  ASSERT_TRUE(
      mon->AddAlertRule("g", "Up", "signal > 0", absl::ZeroDuration()).ok());
  for (int64_t t = kT0; t <= kT0 + 20'000; t += 10'000) {
    now = t;
    ASSERT_TRUE(mon->Append({{"__name__", "signal"}}, t, 1).ok());
    ASSERT_TRUE(mon->EvaluateRulesNow(t).ok());
  }
  ASSERT_TRUE(MonitorParts::alerting(mon)->delivery().Drain(absl::Seconds(10)));
  std::vector<alerting::notifier::WebhookReceiver::Request> got = am.Requests();
  ASSERT_EQ(got.size(), 1u);
  nlohmann::json body = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(body[0]["labels"]["alertname"], "Up");
  EXPECT_FALSE(body[0]["labels"].contains("cluster")) << body;
  ASSERT_TRUE(mon->Close().ok());
}

}  // namespace
}  // namespace vigil
