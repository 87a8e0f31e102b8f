#include "alerting/notifier/http_client.h"

#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"

namespace vigil::alerting::notifier {
namespace {

TEST(HttpClientTest, ParseURL) {
  absl::StatusOr<ParsedURL> u = ParseHttpURL(
      "http://192.168.121.174:3000/jenkins/job/x?token=DevOps22&scale=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "192.168.121.174");
  EXPECT_EQ(u->port, "3000");
  EXPECT_EQ(u->target, "/jenkins/job/x?token=DevOps22&scale=1");
  u = ParseHttpURL("http://scaler");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(ParseHttpURL("https://x").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(ParseHttpURL("ftp://x").ok());
  EXPECT_EQ(BasicAuthHeader("admin", "admin"), "Basic YWRtaW46YWRtaW4=");
}

TEST(HttpClientTest, PostToLocalReceiver) {
  WebhookReceiver r;
  HttpRequest req;
  req.url = r.url() + "hook?x=1";
  req.body = "{\"a\":1}";
  req.headers.push_back({"Authorization", "Bearer t"});
  absl::StatusOr<HttpResponse> res = HttpPost(req, absl::Seconds(5));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  ASSERT_EQ(r.Requests().size(), 1u);
  EXPECT_EQ(r.Requests()[0].target, "/hook?x=1");
  EXPECT_EQ(r.Requests()[0].body, "{\"a\":1}");
  EXPECT_EQ(r.Requests()[0].authorization, "Bearer t");
  EXPECT_EQ(r.Requests()[0].content_type, "application/json");
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  int port;
  {
    WebhookReceiver r;
    port = r.port();
  }
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  absl::StatusOr<HttpResponse> res = HttpPost(req, absl::Seconds(2));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable);
}

TEST(DeliveryQueueTest, RetriesServerErrorsWithBackoff) {
  WebhookReceiver r;
  r.FailNext(2, 503);
  DeliveryQueue::Options o;
  o.initial_backoff = absl::Milliseconds(10);
  DeliveryQueue q(o);
  ASSERT_TRUE(q.Enqueue({r.url(), "{}", "application/json", {}}));
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
  q.Enqueue({r.url(), "{}", "application/json", {}});
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(r.Requests().size(), 1u);
  EXPECT_EQ(q.stats().failed, 1);
  r.FailNext(5, 500);
  q.Enqueue({r.url(), "{}", "application/json", {}});
  ASSERT_TRUE(q.Drain(absl::Seconds(10)));
  EXPECT_EQ(r.Requests().size(), 3u);  // two attempts
  EXPECT_EQ(q.stats().failed, 2);
}

TEST(DeliveryQueueTest, FullQueueDrops) {
  DeliveryQueue::Options o;
  o.max_queue = 0;
  DeliveryQueue q(o);
  EXPECT_FALSE(q.Enqueue({"http://127.0.0.1:1/", "", "", {}}));
  EXPECT_EQ(q.stats().dropped, 1);
}

}  // namespace
}  // namespace vigil::alerting::notifier
