#include "alerting/alerting.h"

#include <cstdlib>
#include <fstream>

#include "alerting/clock.h"
#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting {
namespace {

constexpr int64_t kT0 = 1714152000000;  // 2024-04-26T17:20:00Z

std::string TempFile(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << content;
  return path;
}

// The seed scenario end to end: nginx_connections_active >= 100 for 1m,
// Alertmanager config AM-8 with a real local webhook receiver (the Flask
// app of the seed), firing then resolved (send_resolved: true).
TEST(AlertingTest, SeedNginxFiringThenResolvedOverHTTP) {
  notifier::WebhookReceiver receiver;
  std::string am = TempFile("alertmanager.yml", R"(
global:
  resolve_timeout: 5m
route:
  group_by: ['alertname']
  group_wait: 10s
  group_interval: 5m
  repeat_interval: 3h
  receiver: 'webhook'
receivers:
  - name: 'webhook'
    webhook_configs:
      - url: ')" + receiver.url() + R"('
        send_resolved: true
)");
  FakeClock clock(kT0);
  bool high = true;
  AlertingOptions o;
  o.rules.clock = &clock;
  o.rules.external_url = "http://prometheus:9090";
  o.rules.query = [&](absl::string_view q,
                      int64_t t) -> absl::StatusOr<promql::Vector> {
    EXPECT_EQ(q, "nginx_connections_active{job=\"nginx\"} >= 100");
    promql::Vector v;
    if (high) {
      v.push_back(
          {*tsdb::Labels::FromPairs({{"__name__", "nginx_connections_active"},
                                     {"instance", "192.168.121.174:9113"},
                                     {"job", "nginx"}}),
           t, 120});
    }
    return v;
  };
  o.alertmanager_config_file = am;
  o.notifier_external_url = "http://alertmanager:9093";
  absl::StatusOr<std::unique_ptr<AlertingService>> svc =
      AlertingService::Create(o);
  ASSERT_TRUE(svc.ok()) << svc.status();
  ASSERT_TRUE((*svc)->LoadRuleFiles({"testdata/rules/nginx.yml"}).ok());
  std::vector<AlertState> transitions;
  (*svc)->rules().OnAlertsChanged([&](const std::vector<Alert>& a) {
    for (const Alert& x : a) transitions.push_back(x.state);
  });

  // Drive 30 minutes of fake time in 5s steps; the condition ends at 8m.
  for (int64_t t = kT0; t <= kT0 + 30 * 60000; t += 5000) {
    clock.SetMs(t);
    if (t >= kT0 + 8 * 60000) high = false;
    (*svc)->Tick();
  }
  ASSERT_TRUE((*svc)->delivery().Drain(absl::Seconds(10)));
  std::vector<notifier::WebhookReceiver::Request> reqs = receiver.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  nlohmann::json firing = nlohmann::json::parse(reqs[0].body);
  nlohmann::json resolved = nlohmann::json::parse(reqs[1].body);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(firing["status"], "firing");
  EXPECT_EQ(resolved["status"], "resolved");
  for (const nlohmann::json* j : {&firing, &resolved}) {
    EXPECT_EQ((*j)["receiver"], "webhook");
    EXPECT_EQ((*j)["version"], "4");
    EXPECT_EQ((*j)["groupKey"],
              "{}:{alertname=\"Nginx 100 active connections\"}");
    EXPECT_EQ((*j)["externalURL"], "http://alertmanager:9093");
    const nlohmann::json& a = (*j)["alerts"][0];
    EXPECT_EQ(a["fingerprint"], "f19572f660b24b61");
    EXPECT_EQ(a["annotations"]["title"],
              "Nginx 100 active connections on 192.168.121.174:9113");
    EXPECT_EQ(a["generatorURL"],
              "http://prometheus:9090/graph?g0.expr=nginx_connections_active%"
              "7Bjob%3D%22nginx%22%7D+%3E%3D+100&g0.tab=1");
    EXPECT_EQ(a["labels"]["severity"], "critical");
  }
  EXPECT_EQ(firing["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(firing["alerts"][0]["startsAt"], resolved["alerts"][0]["startsAt"]);
  EXPECT_NE(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(transitions,
            (std::vector<AlertState>{AlertState::kPending, AlertState::kFiring,
                                     AlertState::kInactive}));
}

// The observer sees what the rule manager sends (firing alerts, then the
// resolved one), also when the service has neither built-in routing nor
// Alertmanagers, and with the rule's labels but not the external labels
// (those are for notifiers, which add them themselves).
TEST(AlertingTest, ObserverSeesSentAlerts) {
  FakeClock clock(kT0);
  bool high = true;
  AlertingOptions o;
  o.rules.clock = &clock;
  o.rules.external_labels = {{"replica", "a"}};
  o.rules.query = [&](absl::string_view,
                      int64_t t) -> absl::StatusOr<promql::Vector> {
    promql::Vector v;
    if (high) {
      v.push_back(
          {*tsdb::Labels::FromPairs({{"__name__", "nginx_connections_active"},
                                     {"instance", "192.168.121.174:9113"},
                                     {"job", "nginx"}}),
           t, 120});
    }
    return v;
  };
  std::vector<std::vector<Alert>> batches;
  o.observer = [&](const std::vector<Alert>& a) { batches.push_back(a); };
  absl::StatusOr<std::unique_ptr<AlertingService>> svc =
      AlertingService::Create(o);
  ASSERT_TRUE(svc.ok()) << svc.status();
  ASSERT_TRUE((*svc)->LoadRuleFiles({"testdata/rules/nginx.yml"}).ok());
  for (int64_t t = kT0; t <= kT0 + 10 * 60000; t += 5000) {
    clock.SetMs(t);
    if (t >= kT0 + 8 * 60000) high = false;
    (*svc)->Tick();
  }
  ASSERT_FALSE(batches.empty());
  // Pending alerts are not sent: the first batch already fires.
  ASSERT_EQ(batches.front().size(), 1u);
  const Alert& first = batches.front()[0];
  EXPECT_EQ(first.state, AlertState::kFiring);
  EXPECT_EQ(first.labels.Get("severity"), "critical");
  EXPECT_FALSE(first.labels.Has("replica"));
  EXPECT_GT(first.ends_at_ms, first.starts_at_ms);
  const Alert& last = batches.back()[0];
  EXPECT_EQ(last.state, AlertState::kInactive);
  // Evaluation slots are offset within the interval, so the resolving
  // evaluation is within one interval of the condition ending.
  EXPECT_GE(last.resolved_at_ms, kT0 + 7 * 60000);
  EXPECT_LE(last.resolved_at_ms, kT0 + 9 * 60000);
  EXPECT_EQ(last.ends_at_ms, last.resolved_at_ms);
}

// A reload that changes global.external_labels reaches the rules'
// templates ($externalLabels), not only the labels added to notifications.
TEST(AlertingTest, TemplatesSeeExternalLabelsOfTheLatestApply) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string rules =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/ext_labels_rules.yml";
  std::ofstream(rules, std::ios::trunc)
      << "groups:\n"
         "  - name: g\n"
         "    rules:\n"
         "      - alert: Always\n"
         "        expr: vector(1)\n"
         "        annotations:\n"
         "          where: 'cluster {{ $externalLabels.cluster }}'\n";
  FakeClock clock(kT0);
  AlertingOptions o;
  o.rules.clock = &clock;
  o.rules.external_labels = {{"cluster", "eu"}};
  o.rules.query = [](absl::string_view,
                     int64_t t) -> absl::StatusOr<promql::Vector> {
    return promql::Vector{{tsdb::Labels(), t, 1}};
  };
  std::vector<Alert> last;
  o.observer = [&](const std::vector<Alert>& a) { last = a; };
  absl::StatusOr<std::unique_ptr<AlertingService>> svc =
      AlertingService::Create(o);
  ASSERT_TRUE(svc.ok()) << svc.status();
  ASSERT_TRUE((*svc)->LoadRuleFiles({rules}).ok());
  auto where = [&] {
    for (const Alert& a : (*svc)->rules().Alerts()) {
      return std::string(a.annotations.Get("where"));
    }
    return std::string("no alert");
  };
  clock.SetMs(kT0 + 60000);
  (*svc)->Tick();
  EXPECT_EQ(where(), "cluster eu");
  absl::StatusOr<AlertingUpdate> u =
      (*svc)->Prepare({}, {}, {{"cluster", "us"}});
  ASSERT_TRUE(u.ok()) << u.status();
  (*svc)->Apply(*std::move(u));
  clock.SetMs(kT0 + 120000);
  (*svc)->Tick();
  EXPECT_EQ(where(), "cluster us");
}

}  // namespace
}  // namespace vigil::alerting
