#include "alerting/notifier/delivery_queue.h"

#include "alerting/notifier/webhook_receiver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/internal/test_server.h"

namespace vigil::alerting::notifier {
namespace {

using ::testing::HasSubstr;

HttpRequest Post(const std::string& url, std::string body = "{}") {
  HttpRequest r;
  r.url = url;
  r.body = std::move(body);
  return r;
}

TEST(DeliveryQueueTest, PostsToLocalReceiver) {
  WebhookReceiver r;
  DeliveryQueue q(DeliveryQueue::Options{});
  HttpRequest req = Post(r.url() + "hook?x=1", "{\"a\":1}");
  req.headers.push_back({"Authorization", BasicAuthHeader("admin", "admin")});
  ASSERT_TRUE(q.Enqueue(req));
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  ASSERT_EQ(r.Requests().size(), 1u);
  EXPECT_EQ(r.Requests()[0].method, "POST");
  EXPECT_EQ(r.Requests()[0].target, "/hook?x=1");
  EXPECT_EQ(r.Requests()[0].body, "{\"a\":1}");
  EXPECT_EQ(r.Requests()[0].authorization, "Basic YWRtaW46YWRtaW4=");
  EXPECT_EQ(r.Requests()[0].content_type, "application/json");
  EXPECT_EQ(q.stats().sent, 1);
}

TEST(DeliveryQueueTest, RetriesServerErrorsWithBackoff) {
  WebhookReceiver r;
  r.FailNext(2, 503);
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(10);
  DeliveryQueue q(o);
  ASSERT_TRUE(q.Enqueue(Post(r.url())));
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(r.Requests().size(), 3u);
  DeliveryQueue::Stats s = q.stats();
  EXPECT_EQ(s.sent, 1);
  EXPECT_EQ(s.retries, 2);
  EXPECT_EQ(s.failed, 0);
}

TEST(DeliveryQueueTest, ClientErrorsAreNotRetriedAndGiveUpIsCounted) {
  WebhookReceiver r;
  r.FailNext(1, 400);
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(1);
  o.max_attempts = 2;
  DeliveryQueue q(o);
  q.Enqueue(Post(r.url()));
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(r.Requests().size(), 1u);
  EXPECT_EQ(q.stats().failed, 1);
  EXPECT_THAT(q.last_error(), HasSubstr("HTTP 400"));
  r.FailNext(5, 500);
  q.Enqueue(Post(r.url()));
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(r.Requests().size(), 3u);  // two attempts
  EXPECT_EQ(q.stats().failed, 2);
}

TEST(DeliveryQueueTest, ConnectionRefusedIsRetriedThenFails) {
  int port;
  {
    WebhookReceiver r;
    port = r.port();
  }
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(1);
  o.max_attempts = 2;
  DeliveryQueue q(o);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  q.Enqueue(Post(url));
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(q.stats().failed, 1);
  EXPECT_EQ(q.stats().retries, 1);
  EXPECT_THAT(q.last_error(), HasSubstr(url));
}

TEST(DeliveryQueueTest, FullQueueDrops) {
  DeliveryQueue::Options o;
  o.max_queue = 0;
  DeliveryQueue q(o);
  EXPECT_FALSE(q.Enqueue(Post("http://127.0.0.1:1/")));
  EXPECT_EQ(q.stats().dropped, 1);
}

class HttpsDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<net::testing::TestCerts> c =
        net::testing::GenerateTestCerts(net::testing::TestTmpDir());
    if (!c.ok()) GTEST_SKIP() << c.status();
    certs_ = *c;
  }
  net::testing::TestCerts certs_;
};

TEST_F(HttpsDeliveryTest, WebhookOverHttpsWithTlsConfig) {
  absl::Mutex mu;
  std::vector<std::string> bodies;
  net::testing::TestServer::Options so;
  so.tls = true;
  so.cert_file = certs_.server_cert;
  so.key_file = certs_.server_key;
  so.client_ca_file = certs_.ca_cert;
  net::testing::TestServer srv(so,
                               [&](const net::testing::TestServer::Request& r) {
                                 absl::MutexLock l(&mu);
                                 bodies.push_back(r.body);
                                 return net::testing::TestServer::Reply{};
                               });
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(1);
  o.max_attempts = 2;
  DeliveryQueue q(o);

  // Without the CA the receiver's certificate is not trusted.
  q.Enqueue(Post(srv.url("/hook"), "{\"n\":0}"));
  ASSERT_TRUE(q.Drain(absl::Seconds(20)));
  EXPECT_EQ(q.stats().failed, 1);
  EXPECT_THAT(q.last_error(), HasSubstr("certificate"));

  HttpRequest req = Post(srv.url("/hook"), "{\"n\":1}");
  req.tls.ca_file = certs_.ca_cert;
  req.tls.cert_file = certs_.client_cert;
  req.tls.key_file = certs_.client_key;
  q.Enqueue(req);
  ASSERT_TRUE(q.Drain(absl::Seconds(20)));
  EXPECT_EQ(q.stats().sent, 1);
  absl::MutexLock l(&mu);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0], "{\"n\":1}");
}

TEST_F(HttpsDeliveryTest, UnreadableTlsFilesFailWithoutRetry) {
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(1);
  DeliveryQueue q(o);
  HttpRequest req = Post("https://127.0.0.1:1/");
  req.tls.ca_file = "/nonexistent/ca.pem";
  q.Enqueue(req);
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(q.stats().failed, 1);
  EXPECT_EQ(q.stats().retries, 0);
  EXPECT_THAT(q.last_error(), HasSubstr("/nonexistent/ca.pem"));
}

}  // namespace
}  // namespace vigil::alerting::notifier
