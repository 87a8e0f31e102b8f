// Webhook receivers over https: alertmanager.yml's http_config.tls_config
// is parsed strictly and its files checked at load, and a notification
// routed by the Dispatcher reaches an https receiver that requires a
// client certificate (delivered as AlertingService does).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "alerting/clock.h"
#include "alerting/notifier/config.h"
#include "alerting/notifier/delivery_queue.h"
#include "alerting/notifier/dispatcher.h"
#include "alerting/notifier/forwarder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/internal/test_server.h"

namespace vigil::alerting::notifier {
namespace {

using ::testing::HasSubstr;

class HttpsWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<net::testing::TestCerts> c =
        net::testing::GenerateTestCerts(net::testing::TestTmpDir());
    if (!c.ok()) GTEST_SKIP() << c.status();
    certs_ = *c;
  }
  std::string Config(const std::string& url, const std::string& tls) {
    return absl::StrCat(R"(
route:
  receiver: hook
  group_wait: 0s
receivers:
  - name: hook
    webhook_configs:
      - url: )",
                        url, R"(
        http_config:
          tls_config:
)",
                        tls);
  }
  std::string GoodTls() {
    return absl::StrCat("            ca_file: ", certs_.ca_cert,
                        "\n            cert_file: ", certs_.client_cert,
                        "\n            key_file: ", certs_.client_key,
                        "\n            server_name: localhost",
                        "\n            min_version: TLS12\n");
  }
  net::testing::TestCerts certs_;
};

TEST_F(HttpsWebhookTest, TlsConfigIsParsed) {
  absl::StatusOr<AlertmanagerConfig> c = ParseAlertmanagerConfig(
      Config("https://hooks.example/x", GoodTls()), "alertmanager.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  const net::TlsOptions& t = c->receivers[0].webhooks[0].http.tls;
  EXPECT_EQ(t.ca_file, certs_.ca_cert);
  EXPECT_EQ(t.cert_file, certs_.client_cert);
  EXPECT_EQ(t.key_file, certs_.client_key);
  EXPECT_EQ(t.server_name, "localhost");
  EXPECT_EQ(t.min_version, "TLS12");
  EXPECT_FALSE(t.insecure_skip_verify);
}

TEST_F(HttpsWebhookTest, TlsConfigErrors) {
  absl::StatusOr<AlertmanagerConfig> c = ParseAlertmanagerConfig(
      Config("https://h/", "            ca_fil: /x\n"), "alertmanager.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("unknown field \"ca_fil\" in tls_config"));

  c = ParseAlertmanagerConfig(
      Config("https://h/", "            ca_file: /nonexistent/ca.pem\n"),
      "alertmanager.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("alertmanager.yml:"));
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("ca_file \"/nonexistent/ca.pem\""));

  c = ParseAlertmanagerConfig(
      Config("https://h/",
             absl::StrCat("            cert_file: ", certs_.client_cert, "\n")),
      "alertmanager.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("key_file"));
}

TEST_F(HttpsWebhookTest, NotificationReachesHttpsReceiver) {
  absl::Mutex mu;
  std::vector<net::testing::TestServer::Request> got;
  net::testing::TestServer::Options so;
  so.tls = true;
  so.cert_file = certs_.server_cert;
  so.key_file = certs_.server_key;
  so.client_ca_file = certs_.ca_cert;
  net::testing::TestServer srv(so,
                               [&](const net::testing::TestServer::Request& r) {
                                 absl::MutexLock l(&mu);
                                 got.push_back(r);
                                 return net::testing::TestServer::Reply{};
                               });
  absl::StatusOr<AlertmanagerConfig> c = ParseAlertmanagerConfig(
      Config(srv.url("/hook"), GoodTls()), "alertmanager.yml");
  ASSERT_TRUE(c.ok()) << c.status();

  DeliveryQueue q(DeliveryQueue::Options{});
  FakeClock clock(1714152065311);
  DispatcherOptions o;
  o.clock = &clock;
  o.deliver = [&q](const Notification& n) {
    HttpRequest req;  // as AlertingService's deliver does
    req.url = n.url;
    req.body = n.body;
    req.client.tls = n.http.tls;
    q.Enqueue(std::move(req));
  };
  Dispatcher d(*std::move(c), o);
  Alert a;
  a.labels = *tsdb::Labels::FromPairs({{"alertname", "TlsDown"}});
  a.starts_at_ms = clock.NowMs() - 60'000;
  a.ends_at_ms = clock.NowMs() + 240'000;
  d.Add({a});
  d.Tick();
  ASSERT_TRUE(q.Drain(absl::Seconds(20)));
  EXPECT_EQ(q.stats().sent, 1) << q.last_error();
  absl::MutexLock l(&mu);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/hook");
  EXPECT_EQ(got[0].Header("content-type"), "application/json");
  EXPECT_THAT(got[0].body, HasSubstr("\"alertname\":\"TlsDown\""));
  EXPECT_THAT(got[0].body, HasSubstr("\"status\":\"firing\""));
}

TEST_F(HttpsWebhookTest, ForwarderUsesAlertmanagerTls) {
  absl::Mutex mu;
  std::vector<net::testing::TestServer::Request> got;
  net::testing::TestServer::Options so;
  so.tls = true;
  so.cert_file = certs_.server_cert;
  so.key_file = certs_.server_key;
  net::testing::TestServer srv(so,
                               [&](const net::testing::TestServer::Request& r) {
                                 absl::MutexLock l(&mu);
                                 got.push_back(r);
                                 return net::testing::TestServer::Reply{};
                               });
  DeliveryQueue::Options qo;
  qo.max_attempts = 1;
  DeliveryQueue q(qo);
  ForwarderOptions fo;
  std::string url = AlertsURL(absl::StrCat("https://127.0.0.1:", srv.port()));
  fo.alertmanagers = {url};
  Alert a;
  a.labels = *tsdb::Labels::FromPairs({{"alertname", "Forwarded"}});
  a.starts_at_ms = 1714152065311;
  {
    Forwarder f(fo, &q);  // no tls_config: the test CA is not trusted
    f.Send({a});
    ASSERT_TRUE(q.Drain(absl::Seconds(20)));
    EXPECT_EQ(q.stats().failed, 1);
  }
  fo.endpoints[url].client.tls.ca_file = certs_.ca_cert;
  Forwarder f(fo, &q);
  EXPECT_EQ(f.Send({a}), 1);
  ASSERT_TRUE(q.Drain(absl::Seconds(20)));
  EXPECT_EQ(q.stats().sent, 1) << q.last_error();
  absl::MutexLock l(&mu);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/api/v2/alerts");
  EXPECT_THAT(got[0].body, HasSubstr("Forwarded"));
}

}  // namespace
}  // namespace vigil::alerting::notifier
