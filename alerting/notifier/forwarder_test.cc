#include "alerting/notifier/forwarder.h"

#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting::notifier {
namespace {

Alert A(int i) {
  Alert a;
  a.labels =
      *tsdb::Labels::FromPairs({{"alertname", "X"}, {"i", std::to_string(i)}});
  a.annotations = *tsdb::Labels::FromPairs({{"summary", "s<1>"}});
  a.starts_at_ms = 1714152065311;
  a.ends_at_ms = 1714152065311 + 240000;
  a.generator_url = "http://prometheus:9090/graph?g0.expr=x&g0.tab=1";
  return a;
}

TEST(ForwarderTest, JSONShape) {
  nlohmann::json j = nlohmann::json::parse(Forwarder::AlertsJSON({A(1)}));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["startsAt"], "2024-04-26T17:21:05.311Z");
  EXPECT_EQ(j[0]["endsAt"], "2024-04-26T17:25:05.311Z");
  EXPECT_EQ(j[0]["labels"]["i"], "1");
  EXPECT_EQ(j[0]["annotations"]["summary"], "s<1>");
}

TEST(ForwarderTest, BatchesOf256ToEveryAlertmanager) {
  WebhookReceiver am1, am2;
  DeliveryQueue q(DeliveryQueue::Options{});
  ForwarderOptions o;
  o.alertmanagers = {
      AlertsURL(am1.url()),
      AlertsURL("http://127.0.0.1:" + std::to_string(am2.port()) + "/")};
  o.external_labels = {{"cluster", "eu1"}, {"i", "ignored"}};
  Forwarder f(o, &q);
  std::vector<Alert> alerts;
  for (int i = 0; i < 300; ++i) alerts.push_back(A(i));
  EXPECT_EQ(f.Send(alerts), 4);
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  for (WebhookReceiver* r : {&am1, &am2}) {
    std::vector<WebhookReceiver::Request> reqs = r->Requests();
    ASSERT_EQ(reqs.size(), 2u);
    size_t total = 0;
    for (const auto& req : reqs) {
      EXPECT_EQ(req.target, "/api/v2/alerts");
      nlohmann::json j = nlohmann::json::parse(req.body);
      EXPECT_LE(j.size(), 256u);
      total += j.size();
      EXPECT_EQ(j[0]["labels"]["cluster"], "eu1");
    }
    EXPECT_EQ(total, 300u);
  }
}

}  // namespace
}  // namespace vigil::alerting::notifier
