// Forwarding mode against the real Alertmanager 0.25 (Debian's
// prometheus-alertmanager): `vigil serve` with alerting.alertmanagers
// and no built-in routing -> Alertmanager -> webhook receiver. Skipped
// when the binary is not installed.
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/e2e/alerting_fixture.h"
#include "server/http/test_client.h"

namespace vigil::e2e {
namespace {

constexpr char kAlertmanager[] = "/usr/bin/prometheus-alertmanager";

TEST_F(AlertingE2ETest, ForwardsThroughRealAlertmanager) {
  if (access(kAlertmanager, X_OK) != 0) {
    GTEST_SKIP() << kAlertmanager << " is not installed";
  }
  int am_port = FreePort();
  Process am({kAlertmanager, "--config.file=" + dir_ + "/alertmanager.yml",
              absl::StrCat("--web.listen-address=127.0.0.1:", am_port),
              "--cluster.listen-address=", "--storage.path=" + dir_ + "/am"},
             dir_ + "/alertmanager.log");
  ASSERT_TRUE(WaitUntil(
      [&] { return server::http::HttpGet(am_port, "/-/ready").status == 200; },
      absl::Seconds(20)))
      << ReadFile(dir_ + "/alertmanager.log");

  WritePrometheusConfig(1, am_port);
  SetValue(150);
  StartExporter();
  StartReceiver();
  StartVigil(/*builtin_routing=*/false);

  ASSERT_TRUE(WaitPayload("firing", absl::Seconds(30)))
      << ReadFile(dir_ + "/alertmanager.log");
  std::vector<nlohmann::ordered_json> firing = Payloads("firing");
  const nlohmann::ordered_json& p = firing[0];
  std::string instance = absl::StrCat("127.0.0.1:", exporter_port_);
  EXPECT_EQ(p["receiver"], "webhook");
  EXPECT_EQ(p["version"], "4");
  EXPECT_EQ(p["groupKey"], absl::StrCat("{}:{alertname=\"", kAlertName, "\"}"));
  ASSERT_EQ(p["alerts"].size(), 1u);
  const nlohmann::ordered_json& a = p["alerts"][0];
  EXPECT_EQ(a["labels"], (nlohmann::ordered_json{{"alertname", kAlertName},
                                                 {"instance", instance},
                                                 {"job", "nginx"},
                                                 {"severity", "critical"}}));
  EXPECT_EQ(a["annotations"]["title"],
            absl::StrCat("Nginx 100 active connections on ", instance));
  EXPECT_EQ(a["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_GT(ParseTimeMs(a["startsAt"]), 0);
  // Vigil's link survives the trip; externalURL is Alertmanager's own.
  EXPECT_EQ(a["generatorURL"],
            absl::StrCat(kExternalUrl,
                         "/graph?g0.expr=nginx_connections_active%7Bjob%3D%22"
                         "nginx%22%7D+%3E%3D+100&g0.tab=1"));
  EXPECT_NE(p["externalURL"], kExternalUrl);

  SetValue(10);
  ASSERT_TRUE(WaitPayload("resolved", absl::Seconds(30)))
      << ReadFile(dir_ + "/alertmanager.log");
  nlohmann::ordered_json r = Payloads("resolved")[0];
  EXPECT_EQ(r["alerts"][0]["status"], "resolved");
  EXPECT_GT(ParseTimeMs(r["alerts"][0]["endsAt"]), ParseTimeMs(a["startsAt"]));

  EXPECT_EQ(StopVigil(SIGTERM), 0);
  am.Signal(SIGTERM);
  EXPECT_EQ(am.Wait(absl::Seconds(10)), 0);
}

}  // namespace
}  // namespace vigil::e2e
