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

// A receiver that is down for a while gets the notification once it is back,
// and while its request waits for the next attempt the only worker keeps
// serving other receivers.
TEST(DeliveryQueueTest, DownReceiverGetsItOnceBackWithoutBlockingOthers) {
  WebhookReceiver healthy;
  WebhookReceiver flaky;
  flaky.FailNext(1000, 503);
  DeliveryQueue::Options o;
  o.workers = 1;
  o.initial_backoff = absl::Milliseconds(20);
  o.max_backoff = absl::Milliseconds(50);
  DeliveryQueue q(o);
  ASSERT_TRUE(q.Enqueue(Post(flaky.url(), "{\"n\":1}")));
  ASSERT_TRUE(q.Enqueue(Post(flaky.url(), "{\"n\":2}")));
  ASSERT_TRUE(q.Enqueue(Post(healthy.url(), "{\"h\":1}")));
  // The healthy receiver is served while the flaky one keeps failing.
  for (int i = 0; i < 200 && healthy.Requests().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(healthy.Requests().size(), 1u);
  // Well past the old 5-attempt limit.
  while (flaky.Requests().size() < 12) absl::SleepFor(absl::Milliseconds(10));
  flaky.FailNext(0, 503);
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  DeliveryQueue::Stats s = q.stats();
  EXPECT_EQ(s.sent, 3);
  EXPECT_EQ(s.failed, 0);
  // Both notifications arrived, in order.
  std::vector<std::string> delivered;
  for (const auto& r : flaky.Requests()) delivered.push_back(r.body);
  ASSERT_GE(delivered.size(), 2u);
  EXPECT_EQ(delivered[delivered.size() - 2], "{\"n\":1}");
  EXPECT_EQ(delivered.back(), "{\"n\":2}");
}

TEST(DeliveryQueueTest, GivesUpAfterTheRetryWindow) {
  WebhookReceiver r;
  r.FailNext(1000, 500);
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(10);
  o.give_up_after = absl::Milliseconds(200);
  DeliveryQueue q(o);
  q.Enqueue(Post(r.url()));
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(q.stats().failed, 1);
  EXPECT_GE(r.Requests().size(), 5u);
  EXPECT_THAT(q.last_error(), HasSubstr("HTTP 500"));
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
  req.client.tls.ca_file = certs_.ca_cert;
  req.client.tls.cert_file = certs_.client_cert;
  req.client.tls.key_file = certs_.client_key;
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
  req.client.tls.ca_file = "/nonexistent/ca.pem";
  q.Enqueue(req);
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(q.stats().failed, 1);
  EXPECT_EQ(q.stats().retries, 0);
  EXPECT_THAT(q.last_error(), HasSubstr("/nonexistent/ca.pem"));
}

}  // namespace
}  // namespace vigil::alerting::notifier
