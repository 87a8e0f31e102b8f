// The seed's scenario end to end through processes: exporter -> `vigil
// serve` (scrape every 1 s, rule with `for`, built-in alertmanager.yml
// routing) -> webhook receiver. Checks when notifications arrive and every
// field of the version-4 payload, then a receiver outage.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/e2e/alerting_fixture.h"

namespace vigil::e2e {
namespace {

// Scheduling noise allowed on a loaded 2-core machine on top of the
// intervals the bounds are made of.
constexpr int64_t kSlackMs = 1500;
constexpr int64_t kForMs = 3000;
constexpr int64_t kEvalIntervalMs = 1000;
constexpr int64_t kScrapeIntervalMs = 1000;
constexpr int64_t kGroupWaitMs = 1000;
constexpr int64_t kGroupIntervalMs = 1000;

std::vector<std::string> Keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  return k;
}

TEST_F(AlertingE2ETest, SeedScenarioFiresAfterForAndResolves) {
  WritePrometheusConfig(kForMs / 1000);
  SetValue(5);
  StartExporter();
  StartReceiver();
  StartVigil();
  ASSERT_TRUE(WaitScraped(5));

  const int64_t t0 = NowMs();
  SetValue(150);
  // The condition starts when an evaluation first sees it: the alert's
  // activeAt while pending.
  std::pair<std::string, int64_t> pending;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pending = AlertState();
        return !pending.first.empty();
      },
      absl::Seconds(10), absl::Milliseconds(50)));
  ASSERT_EQ(pending.first, "pending");
  const int64_t active_at = pending.second;
  EXPECT_GE(active_at, t0 - 200);
  EXPECT_LE(active_at, t0 + kScrapeIntervalMs + kEvalIntervalMs + kSlackMs);
  ASSERT_TRUE(WaitPayload("firing", absl::Seconds(20)));
  std::vector<int64_t> at;
  std::vector<nlohmann::ordered_json> firing = Payloads("firing", &at);
  ASSERT_EQ(firing.size(), 1u);
  const nlohmann::ordered_json& p = firing[0];

  // The exact v4 shape, keys in Alertmanager's order.
  EXPECT_EQ(Keys(p), (std::vector<std::string>{
                         "receiver", "status", "alerts", "groupLabels",
                         "commonLabels", "commonAnnotations", "externalURL",
                         "version", "groupKey", "truncatedAlerts"}));
  EXPECT_EQ(p["receiver"], "webhook");
  EXPECT_EQ(p["version"], "4");
  EXPECT_EQ(p["externalURL"], kExternalUrl);
  EXPECT_EQ(p["groupKey"], absl::StrCat("{}:{alertname=\"", kAlertName, "\"}"));
  EXPECT_EQ(p["truncatedAlerts"], 0);
  EXPECT_EQ(p["groupLabels"],
            (nlohmann::ordered_json{{"alertname", kAlertName}}));
  ASSERT_EQ(p["alerts"].size(), 1u);
  const nlohmann::ordered_json& a = p["alerts"][0];
  EXPECT_EQ(Keys(a), (std::vector<std::string>{
                         "status", "labels", "annotations", "startsAt",
                         "endsAt", "generatorURL", "fingerprint"}));
  std::string instance = absl::StrCat("127.0.0.1:", exporter_port_);
  nlohmann::ordered_json labels = {{"alertname", kAlertName},
                                   {"instance", instance},
                                   {"job", "nginx"},
                                   {"severity", "critical"}};
  nlohmann::ordered_json annotations = {
      {"description", absl::StrCat("The Nginx on instance ", instance,
                                   " has seen 150 active connections.")},
      {"title", absl::StrCat("Nginx 100 active connections on ", instance)}};
  EXPECT_EQ(a["status"], "firing");
  EXPECT_EQ(a["labels"], labels);
  EXPECT_EQ(a["annotations"], annotations);
  EXPECT_EQ(p["commonLabels"], labels);
  EXPECT_EQ(p["commonAnnotations"], annotations);
  EXPECT_EQ(a["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(a["generatorURL"],
            absl::StrCat(kExternalUrl,
                         "/graph?g0.expr=nginx_connections_active%7Bjob%3D%22"
                         "nginx%22%7D+%3E%3D+100&g0.tab=1"));
  EXPECT_EQ(a["fingerprint"],
            AlertmanagerFingerprint({{"alertname", kAlertName},
                                     {"instance", instance},
                                     {"job", "nginx"},
                                     {"severity", "critical"}}));

  // Timing: the notification comes no earlier than `for` after the
  // condition started and no later than one evaluation interval +
  // group_wait after that (plus noise). startsAt is when the alert fired
  // (Prometheus sends FiredAt, not activeAt).
  int64_t starts = ParseTimeMs(a["startsAt"]);
  ASSERT_GT(starts, 0) << a["startsAt"];
  EXPECT_GE(starts, active_at + kForMs);
  EXPECT_LE(starts, active_at + kForMs + kEvalIntervalMs);
  EXPECT_GE(at[0], active_at + kForMs);
  EXPECT_GE(at[0], starts);
  EXPECT_LE(at[0],
            active_at + kForMs + kEvalIntervalMs + kGroupWaitMs + kSlackMs);

  // Back under the threshold: one resolved notification.
  const int64_t t1 = NowMs();
  SetValue(10);
  ASSERT_TRUE(WaitPayload("resolved", absl::Seconds(20)));
  std::vector<int64_t> rat;
  std::vector<nlohmann::ordered_json> resolved = Payloads("resolved", &rat);
  ASSERT_EQ(resolved.size(), 1u);
  const nlohmann::ordered_json& r = resolved[0];
  EXPECT_EQ(Keys(r), Keys(p));
  EXPECT_EQ(r["groupKey"], p["groupKey"]);
  ASSERT_EQ(r["alerts"].size(), 1u);
  const nlohmann::ordered_json& ra = r["alerts"][0];
  EXPECT_EQ(ra["status"], "resolved");
  EXPECT_EQ(ra["labels"], labels);
  EXPECT_EQ(ra["startsAt"], a["startsAt"]);
  EXPECT_EQ(ra["fingerprint"], a["fingerprint"]);
  int64_t ends = ParseTimeMs(ra["endsAt"]);
  EXPECT_GE(ends, t1 - kScrapeIntervalMs);
  EXPECT_LE(ends, rat[0]);
  EXPECT_LE(rat[0], t1 + kScrapeIntervalMs + kEvalIntervalMs +
                        kGroupIntervalMs + kSlackMs);
  // Nothing repeated within repeat_interval.
  EXPECT_EQ(Payloads("firing").size(), 1u);

  EXPECT_EQ(StopVigil(SIGTERM), 0);
}

// The receiver is down when the alert fires; Vigil keeps the notification
// and delivers it once the receiver is back.
TEST_F(AlertingE2ETest, ReceiverOutageDeliversAfterRecovery) {
  WritePrometheusConfig(1);
  SetValue(150);
  StartExporter();
  StartVigil();  // no receiver listening yet
  ASSERT_TRUE(WaitUntil([&] { return AlertState().first == "firing"; },
                        absl::Seconds(15), absl::Milliseconds(100)));
  // Long enough for several refused attempts.
  absl::SleepFor(absl::Seconds(2));
  const int64_t back = NowMs();
  StartReceiver();
  ASSERT_TRUE(WaitPayload("firing", absl::Seconds(20)));
  std::vector<int64_t> at;
  std::vector<nlohmann::ordered_json> firing = Payloads("firing", &at);
  EXPECT_EQ(firing[0]["alerts"][0]["labels"]["alertname"], kAlertName);
  EXPECT_GE(at[0], back);
  EXPECT_EQ(StopVigil(SIGTERM), 0);
}

}  // namespace
}  // namespace vigil::e2e
