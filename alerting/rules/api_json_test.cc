#include "alerting/rules/api_json.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting {
namespace {

TEST(ApiJsonTest, FloatAndTimeFormats) {
  EXPECT_EQ(FormatFloatE(120), "1.2e+02");
  EXPECT_EQ(FormatFloatE(1), "1e+00");
  EXPECT_EQ(FormatFloatE(0.8109340477677033), "8.109340477677033e-01");
  EXPECT_EQ(FormatFloatE(NAN), "NaN");
  EXPECT_EQ(FormatRFC3339Millis(1714152065311), "2024-04-26T17:21:05.311Z");
}

TEST(ApiJsonTest, RulesAndAlerts) {
  GroupStatus g;
  g.name = "nginx";
  g.file = "rules.yml";
  g.interval_ms = 60000;
  g.last_evaluation_ms = 1714152065311;
  g.iterations_total = 3;
  RuleStatus alert;
  alert.spec.kind = RuleSpec::Kind::kAlert;
  alert.spec.name = "Nginx 100 active connections";
  alert.spec.expr = "nginx_connections_active{job=\"nginx\"} >= 100";
  alert.spec.for_ms = 60000;
  alert.spec.labels = {{"severity", "critical"}};
  alert.health = RuleHealth::kGood;
  alert.state = AlertState::kFiring;
  Alert a;
  a.state = AlertState::kFiring;
  a.labels = *tsdb::Labels::FromPairs({{"alertname", "x"}});
  a.value = 120;
  a.active_at_ms = 1714152065311;
  alert.alerts = {a};
  RuleStatus rec;
  rec.spec.kind = RuleSpec::Kind::kRecord;
  rec.spec.name = "job:x:sum";
  rec.spec.expr = "sum(x)";
  g.rules = {alert, rec};
  nlohmann::json j = nlohmann::json::parse(RulesAPIData({g}));
  const nlohmann::json& r0 = j["groups"][0]["rules"][0];
  EXPECT_EQ(r0["type"], "alerting");
  EXPECT_EQ(r0["state"], "firing");
  EXPECT_EQ(r0["duration"], 60);
  EXPECT_EQ(r0["alerts"][0]["value"], "1.2e+02");
  EXPECT_EQ(r0["alerts"][0]["activeAt"], "2024-04-26T17:21:05.311Z");
  EXPECT_EQ(r0["health"], "ok");
  EXPECT_EQ(j["groups"][0]["rules"][1]["type"], "recording");
  EXPECT_EQ(j["groups"][0]["rules"][1]["health"], "unknown");
  EXPECT_EQ(j["groups"][0]["rules"][1]["lastEvaluation"],
            "0001-01-01T00:00:00Z");
  EXPECT_EQ(j["groups"][0]["interval"], 60);
  EXPECT_EQ(
      nlohmann::json::parse(RulesAPIData({g}, "record"))["groups"][0]["rules"]
          .size(),
      1u);
  nlohmann::json al = nlohmann::json::parse(AlertsAPIData({a}));
  EXPECT_EQ(al["alerts"][0]["state"], "firing");
  std::string m = RuleManagerMetricsText({g});
  EXPECT_NE(m.find("prometheus_rule_group_iterations_total{rule_group=\"rules."
                   "yml;nginx\"} 3\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("# TYPE prometheus_rule_group_rules gauge\n"),
            std::string::npos);
}

}  // namespace
}  // namespace vigil::alerting
