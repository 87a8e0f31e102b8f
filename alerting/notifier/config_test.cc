#include "alerting/notifier/config.h"

#include "gtest/gtest.h"

namespace vigil::alerting::notifier {
namespace {

tsdb::Labels L(std::vector<tsdb::Label> p) {
  return *tsdb::Labels::FromPairs(std::move(p));
}

std::string Err(const std::string& yaml) {
  absl::StatusOr<AlertmanagerConfig> c =
      ParseAlertmanagerConfig(yaml, "alertmanager.yml");
  return c.ok() ? "OK" : std::string(c.status().message());
}

std::vector<std::string> Receivers(const AlertmanagerConfig& c,
                                   const tsdb::Labels& l) {
  std::vector<std::string> out;
  for (const Route* r : c.route.Match(l)) out.push_back(r->receiver);
  return out;
}

TEST(ConfigTest, SeedS0) {
  absl::StatusOr<AlertmanagerConfig> c =
      LoadAlertmanagerConfig("testdata/alertmanager/seed_s0.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->resolve_timeout_ms, 300000);
  EXPECT_EQ(c->route.receiver, "webhook");
  EXPECT_EQ(c->route.group_by, std::vector<std::string>{"alertname"});
  EXPECT_EQ(c->route.group_wait_ms, 10000);
  EXPECT_EQ(c->route.group_interval_ms, 300000);
  EXPECT_EQ(c->route.repeat_interval_ms, 3 * 3600000);
  EXPECT_EQ(c->route.key, "{}");
  const Receiver* r = c->FindReceiver("webhook");
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->webhooks.size(), 1u);
  EXPECT_EQ(r->webhooks[0].url, "http://192.168.121.174:3000");
  EXPECT_TRUE(r->webhooks[0].send_resolved);
}

TEST(ConfigTest, BookAM7RoutesFirstMatchWins) {
  absl::StatusOr<AlertmanagerConfig> c = LoadAlertmanagerConfig(
      "testdata/alertmanager/am7_nodes_and_services.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->route.group_wait_ms, 30000);  // default
  EXPECT_EQ(c->route.routes.size(), 4u);
  EXPECT_EQ(c->route.routes[0].group_interval_ms, 1800000);  // inherited
  EXPECT_EQ(c->route.routes[0].key, "{}/{scale=\"up\",type=\"node\"}");
  EXPECT_EQ(Receivers(*c, L({{"type", "node"}, {"scale", "up"}})),
            std::vector<std::string>{"jenkins-node-up"});
  EXPECT_EQ(Receivers(*c, L({{"service", "go-demo_main"}, {"scale", "down"}})),
            std::vector<std::string>{"jenkins-go-demo_main-down"});
  // scale=no matches no route: the default Slack receiver.
  EXPECT_EQ(Receivers(*c, L({{"type", "node"}, {"scale", "no"}})),
            std::vector<std::string>{"slack"});
  const Receiver* slack = c->FindReceiver("slack");
  ASSERT_EQ(slack->slacks.size(), 1u);
  EXPECT_TRUE(slack->slacks[0].send_resolved);
  EXPECT_FALSE(c->FindReceiver("jenkins-node-up")->webhooks[0].send_resolved);
}

TEST(ConfigTest, SeedAM9MatchReAndOverrides) {
  absl::StatusOr<AlertmanagerConfig> c =
      LoadAlertmanagerConfig("testdata/alertmanager/am9_scaler.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->FindReceiver("slack")->slacks[0].api_url,
            "http://127.0.0.1:1/slack");  // from global
  const Route& scaler = c->route.routes[1];
  EXPECT_EQ(scaler.group_wait_ms, 0);
  EXPECT_EQ(scaler.group_interval_ms, 1000);
  EXPECT_EQ(scaler.repeat_interval_ms, 10000);
  EXPECT_EQ(scaler.group_by,
            (std::vector<std::string>{"alertname", "service", "status"}));
  EXPECT_EQ(Receivers(*c, L({{"scale", "up"}, {"type", "node"}})),
            std::vector<std::string>{"scale-nodes"});
  // match_re is anchored.
  EXPECT_EQ(Receivers(*c, L({{"scale", "upward"}, {"type", "node"}})),
            std::vector<std::string>{"slack"});
  EXPECT_EQ(Receivers(*c, L({{"alertname", "scale_service"}})),
            std::vector<std::string>{"slack-scaler"});
}

TEST(ConfigTest, MatchersContinueGroupByAllAndInhibit) {
  absl::StatusOr<AlertmanagerConfig> c =
      LoadAlertmanagerConfig("testdata/alertmanager/inhibit_and_matchers.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->route.group_by_all);
  EXPECT_EQ(c->route.routes[0].key,
            "{}/{severity=\"critical\",team=~\"ops|sre\"}");
  EXPECT_EQ(Receivers(*c, L({{"severity", "critical"}, {"team", "sre"}})),
            (std::vector<std::string>{"pager", "default"}));
  EXPECT_EQ(Receivers(*c, L({{"severity", "info"}})),
            std::vector<std::string>{"default"});
  const WebhookConfig& w = c->FindReceiver("default")->webhooks[0];
  EXPECT_EQ(w.max_alerts, 2u);
  EXPECT_EQ(w.http.basic_auth_username, "admin");
  EXPECT_EQ(c->FindReceiver("pager")->webhooks[0].http.bearer_token, "s3cr3t");
  ASSERT_EQ(c->inhibit_rules.size(), 1u);
  EXPECT_EQ(c->inhibit_rules[0].equal,
            (std::vector<std::string>{"alertname", "instance"}));
}

TEST(ConfigTest, Errors) {
  EXPECT_EQ(
      Err("route:\n  receiver: x\nreceivers:\n- name: x\n  email_configs:\n"
          "  - to: a@b\n"),
      "alertmanager.yml:5: receiver \"x\": email_configs is not supported "
      "(supported receiver types: webhook_configs, slack_configs)");
  EXPECT_EQ(
      Err("route:\n  receiver: y\nreceivers:\n- name: x\n"),
      "alertmanager.yml:2: route: undefined receiver \"y\" used in route");
  EXPECT_EQ(
      Err("route:\n  recevier: x\n  receiver: x\nreceivers:\n- name: x\n"),
      "alertmanager.yml:2: route: unknown field \"recevier\"");
  EXPECT_EQ(Err("route:\n  receiver: x\n  group_by: ['...', a]\nreceivers:\n"
                "- name: x\n"),
            "alertmanager.yml:3: route: cannot have wildcard group_by (`...`) "
            "and other other labels at the same time");
  EXPECT_EQ(Err("route:\n  receiver: x\n  group_wait: 10x\nreceivers:\n"
                "- name: x\n"),
            "alertmanager.yml:3: route: not a valid duration string: \"10x\"");
  EXPECT_EQ(Err("route:\n  receiver: x\nreceivers:\n- name: x\n- name: x\n"),
            "alertmanager.yml:5: notification config name \"x\" is not unique");
  EXPECT_EQ(
      Err("route:\n  receiver: x\nreceivers:\n- name: x\n  slack_configs:\n"
          "  - text: hi\n"),
      "alertmanager.yml:6: receiver \"x\": no global Slack API URL set");
  EXPECT_EQ(
      Err("route:\n  receiver: x\nreceivers:\n- name: x\n  slack_configs:\n"
          "  - api_url: http://s\n    text: '{{ .Foo | nope }}'\n"),
      "alertmanager.yml:7: receiver \"x\": template: text:1:11: function "
      "\"nope\" not defined");
  EXPECT_EQ(Err("route:\n  receiver: x\n  match:\n    a: b\nreceivers:\n"
                "- name: x\n"),
            "alertmanager.yml:2: route: root route must not have any matchers");
  EXPECT_EQ(Err("receivers:\n- name: x\n"),
            "alertmanager.yml:1: no routes provided");
}

TEST(ConfigTest, WebhookProxyAndRedirects) {
  absl::StatusOr<AlertmanagerConfig> c = ParseAlertmanagerConfig(
      "route:\n  receiver: x\nreceivers:\n- name: x\n  webhook_configs:\n"
      "  - url: http://hook:5001/\n    http_config:\n"
      "      proxy_url: http://u:p@proxy:3128\n"
      "      follow_redirects: false\n      enable_http2: true\n",
      "alertmanager.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  const HTTPClientConfig& h = c->FindReceiver("x")->webhooks[0].http;
  EXPECT_EQ(h.proxy_url, "http://u:p@proxy:3128");
  EXPECT_FALSE(h.follow_redirects);
  EXPECT_EQ(
      Err("route:\n  receiver: x\nreceivers:\n- name: x\n  webhook_configs:\n"
          "  - url: http://hook/\n    http_config:\n"
          "      proxy_url: socks5://proxy:1080\n"),
      "alertmanager.yml:8: receiver \"x\": proxy_url \"socks5://proxy:1080\": "
      "only http:// proxies are supported");
}

TEST(ConfigTest, ParseMatchers) {
  absl::StatusOr<std::vector<tsdb::Matcher>> m =
      ParseMatcherList("{a=\"b\", c=~\"d,e\", f!=g}");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[1].value(), "d,e");
  EXPECT_EQ((*m)[2].type(), tsdb::MatchType::kNotEqual);
  EXPECT_FALSE(ParseMatcher("=x").ok());
  EXPECT_EQ(LabelSetString(L({{"b", "2"}, {"a", "x\"y"}})),
            "{a=\"x\\\"y\", b=\"2\"}");
}

}  // namespace
}  // namespace vigil::alerting::notifier
