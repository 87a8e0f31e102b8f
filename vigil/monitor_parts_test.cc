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

}  // namespace
}  // namespace vigil
