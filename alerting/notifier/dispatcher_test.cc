#include "alerting/notifier/dispatcher.h"

#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting::notifier {
namespace {

constexpr int64_t kT0 = 1714152065311;  // 2024-04-26T17:21:05.311Z
constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;

tsdb::Labels L(std::vector<tsdb::Label> p) {
  return *tsdb::Labels::FromPairs(std::move(p));
}

class DispatcherTest : public ::testing::Test {
 protected:
  FakeClock clock_{kT0};
  std::vector<Notification> sent_;

  std::unique_ptr<Dispatcher> Make(const std::string& path_or_yaml,
                                   Silences* silences = nullptr,
                                   const std::string& nflog_file = "",
                                   const std::string& alerts_file = "") {
    absl::StatusOr<AlertmanagerConfig> c =
        path_or_yaml.find('\n') == std::string::npos
            ? LoadAlertmanagerConfig(path_or_yaml)
            : ParseAlertmanagerConfig(path_or_yaml, "am.yml");
    EXPECT_TRUE(c.ok()) << c.status();
    DispatcherOptions o;
    o.clock = &clock_;
    o.external_url = "http://alertmanager:9093";
    o.deliver = [this](const Notification& n) { sent_.push_back(n); };
    o.silences = silences;
    o.nflog_file = nflog_file;
    o.alerts_file = alerts_file;
    auto d = std::make_unique<Dispatcher>(*std::move(c), o);
    absl::Status st = d->LoadNotificationLog();
    EXPECT_TRUE(st.ok()) << st;
    st = d->LoadAlerts();
    EXPECT_TRUE(st.ok()) << st;
    return d;
  }

  // What Prometheus sends for a firing alert every evaluation.
  Alert Firing(const std::string& instance, int64_t starts = kT0) {
    Alert a;
    a.labels = L({{"alertname", "Nginx 100 active connections"},
                  {"instance", instance},
                  {"job", "nginx"},
                  {"severity", "critical"}});
    a.annotations =
        L({{"title", "Nginx 100 active connections on " + instance}});
    a.starts_at_ms = starts;
    a.ends_at_ms = clock_.NowMs() + 4 * kMin;
    a.generator_url = "http://prometheus:9090/graph?g0.expr=x&g0.tab=1";
    return a;
  }

  void At(int64_t t, Dispatcher* d) {
    clock_.SetMs(t);
    d->Tick();
  }
};

// A restart (a new Dispatcher on the same notification log file) must not
// tell the receiver again about an alert it was already told about; without
// the file it does, which is what the log is for.
TEST_F(DispatcherTest, RestartDoesNotRenotifyWhatWasSent) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string nflog =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/dispatcher_nflog.json";
  std::remove(nflog.c_str());
  for (bool persisted : {true, false}) {
    sent_.clear();
    clock_.SetMs(kT0);
    std::string file = persisted ? nflog : "";
    {
      auto d = Make("testdata/alertmanager/seed_s0.yml", nullptr, file);
      d->Add({Firing("192.168.121.174:9113")});
      At(kT0 + 10 * kSec, d.get());
      ASSERT_EQ(sent_.size(), 1u);
    }
    // Restarted a minute later; the rule manager re-sends the firing alert
    // with its original start time.
    auto d = Make("testdata/alertmanager/seed_s0.yml", nullptr, file);
    clock_.SetMs(kT0 + 70 * kSec);
    d->Add({Firing("192.168.121.174:9113")});
    At(kT0 + 80 * kSec, d.get());
    clock_.SetMs(kT0 + 80 * kSec + 5 * kMin);
    d->Add({Firing("192.168.121.174:9113")});
    d->Tick();
    EXPECT_EQ(sent_.size(), persisted ? 1u : 2u) << "persisted=" << persisted;
    if (!persisted) continue;
    // A second alert in the group is news and is sent with both.
    clock_.SetMs(kT0 + 80 * kSec + 10 * kMin);
    d->Add({Firing("192.168.121.174:9113"), Firing("10.0.0.2:9113")});
    d->Tick();
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].num_firing, 2);
    // repeat_interval (3h) still applies across the restart.
    for (int m = 15; m <= 195; m += 5) {
      clock_.SetMs(kT0 + 80 * kSec + m * kMin);
      d->Add({Firing("192.168.121.174:9113"), Firing("10.0.0.2:9113")});
      d->Tick();
    }
    EXPECT_EQ(sent_.size(), 3u);
  }
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
}

// An alert whose rule stops firing while the process is down: with the
// alerts persisted, the restarted dispatcher still resolves it at its saved
// endsAt and tells the receiver (send_resolved), as a standalone
// Alertmanager that outlived a Prometheus restart would. Without the file
// the receiver never hears that it resolved.
TEST_F(DispatcherTest, AlertResolvedWhileDownIsNotifiedAfterRestart) {
  const std::string nflog = TempPath("resolved_nflog.json");
  const std::string alerts = TempPath("resolved_alerts.json");
  for (bool persisted : {true, false}) {
    std::remove(nflog.c_str());
    std::remove(alerts.c_str());
    sent_.clear();
    clock_.SetMs(kT0);
    const std::string alerts_file = persisted ? alerts : "";
    {
      auto d = Make("testdata/alertmanager/seed_s0.yml", nullptr, nflog,
                    alerts_file);
      d->Add({Firing("192.168.121.174:9113")});  // endsAt kT0 + 4 min
      At(kT0 + 10 * kSec, d.get());
      ASSERT_EQ(sent_.size(), 1u);
    }
    // Back after 3 minutes; the rule no longer fires, so nothing is Added.
    auto d =
        Make("testdata/alertmanager/seed_s0.yml", nullptr, nflog, alerts_file);
    EXPECT_EQ(d->stats().alerts_restored, persisted ? 1 : 0);
    for (int64_t t = kT0 + 3 * kMin; t <= kT0 + 15 * kMin; t += 10 * kSec) {
      At(t, d.get());
    }
    if (!persisted) {
      EXPECT_EQ(sent_.size(), 1u);
      continue;
    }
    ASSERT_EQ(sent_.size(), 2u);
    nlohmann::json j = nlohmann::json::parse(sent_[1].body);
    EXPECT_EQ(j["status"], "resolved");
    EXPECT_EQ(j["alerts"][0]["endsAt"], "2024-04-26T17:25:05.311Z");
    EXPECT_EQ(j["alerts"][0]["annotations"]["title"],
              "Nginx 100 active connections on 192.168.121.174:9113");
    // Forgotten once resolved and notified, also in the file.
    EXPECT_TRUE(d->Alerts().empty());
    auto again =
        Make("testdata/alertmanager/seed_s0.yml", nullptr, nflog, alerts_file);
    EXPECT_EQ(again->stats().alerts_restored, 0);
  }
}

// Still firing after the restart: the restored alert merges with the rule's
// next update and nothing is sent again.
TEST_F(DispatcherTest, RestoredAlertStillFiringIsNotRenotified) {
  const std::string nflog = TempPath("firing_nflog.json");
  const std::string alerts = TempPath("firing_alerts.json");
  std::remove(nflog.c_str());
  std::remove(alerts.c_str());
  {
    auto d = Make("testdata/alertmanager/seed_s0.yml", nullptr, nflog, alerts);
    d->Add({Firing("192.168.121.174:9113")});
    At(kT0 + 10 * kSec, d.get());
    ASSERT_EQ(sent_.size(), 1u);
  }
  auto d = Make("testdata/alertmanager/seed_s0.yml", nullptr, nflog, alerts);
  for (int64_t t = kT0 + 1 * kMin; t <= kT0 + 30 * kMin; t += 15 * kSec) {
    clock_.SetMs(t);
    d->Add({Firing("192.168.121.174:9113")});
    d->Tick();
  }
  EXPECT_EQ(sent_.size(), 1u);
  std::vector<Alert> all = d->Alerts();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].starts_at_ms, kT0);
}

TEST_F(DispatcherTest, SeedTimingGroupWaitIntervalRepeatResolve) {
  auto d = Make("testdata/alertmanager/seed_s0.yml");
  d->Add({Firing("192.168.121.174:9113")});
  At(kT0, d.get());
  At(kT0 + 9 * kSec, d.get());
  EXPECT_TRUE(sent_.empty());  // group_wait 10s
  At(kT0 + 10 * kSec, d.get());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].url, "http://192.168.121.174:3000");
  EXPECT_EQ(sent_[0].group_key,
            "{}:{alertname=\"Nginx 100 active connections\"}");
  nlohmann::json j = nlohmann::json::parse(sent_[0].body);
  EXPECT_EQ(j["status"], "firing");
  EXPECT_EQ(j["alerts"][0]["startsAt"], "2024-04-26T17:21:05.311Z");
  EXPECT_EQ(j["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(j["alerts"][0]["fingerprint"], "f19572f660b24b61");
  EXPECT_EQ(j["groupLabels"],
            nlohmann::json({{"alertname", "Nginx 100 active connections"}}));

  // Prometheus keeps re-sending; unchanged group: nothing until repeat.
  for (int i = 1; i <= 10; ++i) {
    clock_.SetMs(kT0 + 10 * kSec + i * kMin);
    d->Add({Firing("192.168.121.174:9113")});
    d->Tick();
  }
  EXPECT_EQ(sent_.size(), 1u);

  // A new alert in the group: notified at the next group_interval tick
  // (10s + 5m + 5m), with both alerts.
  for (int i = 11; i <= 15; ++i) {
    clock_.SetMs(kT0 + i * kMin);
    d->Add({Firing("192.168.121.174:9113"),
            Firing("10.0.0.2:9113", kT0 + 11 * kMin)});
    if (i == 14) {
      At(kT0 + 10 * kSec + 14 * kMin, d.get());
      EXPECT_EQ(sent_.size(), 1u);
    }
  }
  At(kT0 + 10 * kSec + 15 * kMin, d.get());
  ASSERT_EQ(sent_.size(), 2u);
  j = nlohmann::json::parse(sent_[1].body);
  ASSERT_EQ(j["alerts"].size(), 2u);
  EXPECT_EQ(j["alerts"][0]["labels"]["instance"], "10.0.0.2:9113");  // sorted
  EXPECT_EQ(j["commonLabels"].size(), 3u);  // instance differs
  EXPECT_EQ(j["status"], "firing");

  // Both resolve (Prometheus sends endsAt = resolution time).
  int64_t tr = kT0 + 16 * kMin;
  clock_.SetMs(tr);
  Alert r1 = Firing("192.168.121.174:9113"), r2 = Firing("10.0.0.2:9113");
  r1.ends_at_ms = r2.ends_at_ms = tr;
  d->Add({r1, r2});
  At(kT0 + 10 * kSec + 20 * kMin, d.get());
  ASSERT_EQ(sent_.size(), 3u);
  j = nlohmann::json::parse(sent_[2].body);
  EXPECT_EQ(j["status"], "resolved");
  EXPECT_EQ(j["alerts"][0]["endsAt"], "2024-04-26T17:37:05.311Z");
  EXPECT_TRUE(d->GroupKeys().empty());  // resolved alerts left the group
}

TEST_F(DispatcherTest, RepeatIntervalResendsUnchangedGroup) {
  auto d = Make(R"(
route:
  receiver: w
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 10m
receivers:
- name: w
  webhook_configs:
  - url: http://x
)");
  for (int i = 0; i <= 25; ++i) {
    clock_.SetMs(kT0 + i * kMin);
    d->Add({Firing("a")});
    d->Tick();
  }
  // t=0, then the first flush after 10m has passed (strictly older), t=11m,
  // then t=22m.
  ASSERT_EQ(sent_.size(), 3u);
}

TEST_F(DispatcherTest, OldAlertFlushesImmediately) {
  auto d = Make("testdata/alertmanager/seed_s0.yml");
  d->Add({Firing("a", kT0 - kMin)});
  At(kT0, d.get());
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(DispatcherTest, SendResolvedFalseDropsResolvedOnlyNotifications) {
  auto d = Make("testdata/alertmanager/am7_nodes_and_services.yml");
  Alert a;
  a.labels = L({{"alertname", "nodes"}, {"scale", "up"}, {"type", "node"}});
  a.starts_at_ms = kT0;
  a.ends_at_ms = kT0 + 4 * kMin;
  d->Add({a});
  At(kT0 + 30 * kSec, d.get());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].receiver, "jenkins-node-up");
  EXPECT_EQ(sent_[0].group_key,
            "{}/{scale=\"up\",type=\"node\"}:{scale=\"up\", type=\"node\"}");
  a.ends_at_ms = kT0 + kMin;
  clock_.SetMs(kT0 + kMin);
  d->Add({a});
  At(kT0 + 30 * kSec + 30 * kMin, d.get());
  EXPECT_EQ(sent_.size(), 1u);  // resolved never reaches the scaler
}

TEST_F(DispatcherTest, SlackTemplatesFromBook) {
  auto d = Make("testdata/alertmanager/am7_nodes_and_services.yml");
  Alert a;
  a.labels = L({{"alertname", "godemo_main_mem_limit"},
                {"receiver", "system"},
                {"service", "go-demo_main"}});
  a.annotations =
      L({{"summary", "Memory of the service go-demo_main is over 0.8"}});
  a.starts_at_ms = kT0;
  a.ends_at_ms = kT0 + 4 * kMin;
  d->Add({a});
  At(kT0 + 30 * kSec, d.get());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].integration, "slack");
  nlohmann::json j = nlohmann::json::parse(sent_[0].body);
  EXPECT_EQ(j["attachments"][0]["title"],
            "[FIRING] go-demo_main service is in danger!");
  EXPECT_EQ(j["attachments"][0]["text"],
            "Memory of the service go-demo_main is over 0.8");
  EXPECT_EQ(j["attachments"][0]["color"], "danger");
  EXPECT_EQ(j["username"], "Alertmanager");
}

TEST_F(DispatcherTest, DefaultSlackTitle) {
  TemplateData d;
  d.status = "firing";
  d.alerts.resize(3);
  for (auto& a : d.alerts) a.status = "firing";
  d.group_labels = L({{"alertname", "godemomainmemlimit"}});
  d.common_labels = L({{"alertname", "godemomainmemlimit"},
                       {"receiver", "system"},
                       {"service", "go-demo_main"}});
  EXPECT_EQ(DefaultSlackTitle(d),
            "[FIRING:3] godemomainmemlimit (system go-demo_main)");
}

TEST_F(DispatcherTest, InhibitionAndSilences) {
  Silences silences(&clock_, "");
  auto d = Make("testdata/alertmanager/inhibit_and_matchers.yml", &silences);
  Alert crit, warn, other;
  crit.labels =
      L({{"alertname", "Disk"}, {"instance", "a"}, {"severity", "critical"}});
  warn.labels =
      L({{"alertname", "Disk"}, {"instance", "a"}, {"severity", "warning"}});
  other.labels =
      L({{"alertname", "Disk"}, {"instance", "b"}, {"severity", "warning"}});
  for (Alert* a : {&crit, &warn, &other}) {
    a->starts_at_ms = kT0;
    a->ends_at_ms = kT0 + 4 * kMin;
  }
  EXPECT_FALSE(d->Inhibited(warn.labels));
  d->Add({crit, warn, other});
  EXPECT_TRUE(d->Inhibited(warn.labels));
  EXPECT_FALSE(d->Inhibited(other.labels));
  EXPECT_FALSE(d->Inhibited(crit.labels));
  // What GET /api/v2/alerts shows: receivers in route order (pager routes
  // on with continue), and which alert inhibits.
  Dispatcher::AlertStatus ws = d->Status(warn.labels);
  EXPECT_EQ(ws.receivers, std::vector<std::string>{"default"});
  EXPECT_EQ(ws.inhibited_by, FingerprintString(crit.labels));
  tsdb::Labels paged =
      L({{"alertname", "Disk"}, {"severity", "critical"}, {"team", "sre"}});
  EXPECT_EQ(d->Status(paged).receivers,
            (std::vector<std::string>{"pager", "default"}));
  EXPECT_EQ(d->Status(crit.labels).inhibited_by, "");
  Silence s;
  s.matchers = {
      *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "instance", "b")};
  s.ends_at_ms = kT0 + kMin;
  ASSERT_TRUE(silences.Set(s).ok());
  At(kT0 + 30 * kSec, d.get());
  // group_by '...': one group per alert; only the critical one notifies.
  std::vector<std::string> instances;
  for (const Notification& n : sent_) {
    nlohmann::json j = nlohmann::json::parse(n.body);
    for (auto& a : j["alerts"]) {
      instances.push_back(a["labels"]["severity"].get<std::string>() + "@" +
                          a["labels"]["instance"].get<std::string>());
    }
  }
  EXPECT_EQ(instances, std::vector<std::string>{"critical@a"});
  EXPECT_EQ(d->stats().alerts_inhibited, 1);
  EXPECT_EQ(d->stats().alerts_silenced, 1);
}

TEST_F(DispatcherTest, MaxAlertsTruncates) {
  auto d = Make(R"(
route:
  receiver: w
  group_wait: 0s
receivers:
- name: w
  webhook_configs:
  - url: http://x
    max_alerts: 2
)");
  d->Add({Firing("a"), Firing("b"), Firing("c")});
  At(kT0, d.get());
  ASSERT_EQ(sent_.size(), 1u);
  nlohmann::json j = nlohmann::json::parse(sent_[0].body);
  EXPECT_EQ(j["alerts"].size(), 2u);
  EXPECT_EQ(j["truncatedAlerts"], 1);
  EXPECT_EQ(j["groupKey"], "{}:{}");
}

TEST_F(DispatcherTest, AlertWithoutEndsAtResolvesAfterResolveTimeout) {
  auto d = Make("testdata/alertmanager/seed_s0.yml");
  Alert a;
  a.labels = L({{"alertname", "My Fancy Alert"}});
  d->Add({a});  // as `curl -d '[{"labels": {...}}]'` does
  At(kT0 + 10 * kSec, d.get());
  ASSERT_EQ(sent_.size(), 1u);
  At(kT0 + 10 * kSec + 5 * kMin, d.get());
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(sent_[1].body)["status"], "resolved");
}

}  // namespace
}  // namespace vigil::alerting::notifier
