#include "server/api/rules_json.h"

#include <limits>

#include "gtest/gtest.h"

namespace vigil::server::api {
namespace {

std::string E(double v) {
  std::string s;
  AppendGoFloatE(&s, v);
  return s;
}

TEST(RulesJsonTest, GoFloatE) {
  EXPECT_EQ(E(1), "1e+00");
  EXPECT_EQ(E(0), "0e+00");
  EXPECT_EQ(E(1.5e-7), "1.5e-07");
  EXPECT_EQ(E(123456), "1.23456e+05");
  EXPECT_EQ(E(1e100), "1e+100");
  EXPECT_EQ(E(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(E(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(RulesJsonTest, GroupsAndAlertsShape) {
  alerting::GroupStatus g;
  g.name = "g1";
  g.file = "r.yml";
  g.interval_ms = 15000;
  alerting::RuleStatus rec;
  rec.spec.kind = alerting::RuleSpec::Kind::kRecord;
  rec.spec.name = "job:up:sum";
  rec.spec.expr = "sum by(job)(up)";
  rec.health = alerting::RuleHealth::kGood;
  alerting::RuleStatus alert;
  alert.spec.kind = alerting::RuleSpec::Kind::kAlert;
  alert.spec.name = "Down";
  alert.spec.expr = "up == 0";
  alert.spec.for_ms = 60000;
  alert.spec.labels = {{"severity", "page"}};
  alert.state = alerting::AlertState::kFiring;
  alerting::Alert a;
  a.state = alerting::AlertState::kFiring;
  a.labels = *tsdb::Labels::FromPairs({{"alertname", "Down"}});
  a.active_at_ms = 1000;
  a.value = 0;
  alert.alerts.push_back(a);
  g.rules = {rec, alert};

  std::string out;
  JsonWriter w(&out);
  WriteRuleGroups({g}, "", &w);
  EXPECT_EQ(out,
            "{\"groups\":[{\"name\":\"g1\",\"file\":\"r.yml\",\"rules\":["
            "{\"name\":\"job:up:sum\",\"query\":\"sum by (job) (up)\","
            "\"health\":\"ok\",\"evaluationTime\":0,\"lastEvaluation\":"
            "\"0001-01-01T00:00:00Z\",\"type\":\"recording\"},"
            "{\"state\":\"firing\",\"name\":\"Down\",\"query\":\"up == 0\","
            "\"duration\":60,\"labels\":{\"severity\":\"page\"},"
            "\"annotations\":{},\"alerts\":[{\"labels\":{\"alertname\":"
            "\"Down\"},\"annotations\":{},\"state\":\"firing\",\"activeAt\":"
            "\"1970-01-01T00:00:01Z\",\"value\":\"0e+00\"}],\"health\":"
            "\"unknown\",\"evaluationTime\":0,\"lastEvaluation\":"
            "\"0001-01-01T00:00:00Z\",\"type\":\"alerting\"}],"
            "\"interval\":15,\"limit\":0,\"evaluationTime\":0,"
            "\"lastEvaluation\":\"0001-01-01T00:00:00Z\"}]}");

  out.clear();
  JsonWriter w2(&out);
  WriteRuleGroups({g}, "alert", &w2);
  EXPECT_EQ(out.find("job:up:sum"), std::string::npos);

  out.clear();
  JsonWriter w3(&out);
  WriteAlerts({a}, &w3);
  EXPECT_EQ(out,
            "{\"alerts\":[{\"labels\":{\"alertname\":\"Down\"},"
            "\"annotations\":{},\"state\":\"firing\",\"activeAt\":"
            "\"1970-01-01T00:00:01Z\",\"value\":\"0e+00\"}]}");
}

}  // namespace
}  // namespace vigil::server::api
