#include "server/scrape/http_client.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scrape/internal/test_exporter.h"

namespace vigil::scrape {
namespace {

using ::testing::HasSubstr;
using testing::TestExporter;

HttpRequest Req(const TestExporter& srv,
                absl::Duration timeout = absl::Seconds(5), int64_t limit = 0) {
  HttpRequest r;
  r.url = srv.url("/metrics");
  r.timeout = timeout;
  r.body_size_limit = limit;
  r.accept = "text/plain;version=0.0.4;q=0.5,*/*;q=0.4";
  return r;
}

TEST(ParseUrlTest, Forms) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("http://h:9100/metrics?a=b");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "h");
  EXPECT_EQ(u->port, "9100");
  EXPECT_EQ(u->target, "/metrics?a=b");
  u = ParseUrl("http://[::1]/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "80");
  u = ParseUrl("http://h?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->target, "/?x=1");
  EXPECT_FALSE(ParseUrl("h:80/x").ok());
  EXPECT_FALSE(ParseUrl("http://h:99999/").ok());
  EXPECT_FALSE(ParseUrl("ftp://h/").ok());
  EXPECT_FALSE(ParseUrl("http:///x").ok());
}

TEST(HttpClientTest, SendsScrapeHeadersAndReusesConnection) {
  std::string seen_accept, seen_ua, seen_ae, seen_auth, seen_timeout;
  TestExporter srv([&](const TestExporter::Request& r) {
    seen_accept = r.Header("accept");
    seen_ua = r.Header("user-agent");
    seen_ae = r.Header("accept-encoding");
    seen_auth = r.Header("authorization");
    seen_timeout = r.Header("x-prometheus-scrape-timeout-seconds");
    return TestExporter::Ok("up 1\n");
  });
  HttpClient c;
  HttpRequest req = Req(srv);
  req.headers.push_back({"Authorization", "Bearer tok"});
  HttpResponse resp;
  for (int i = 0; i < 3; ++i) {
    absl::Status st = c.Get(req, &resp);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "up 1\n");
    EXPECT_EQ(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
  }
  EXPECT_EQ(seen_accept, req.accept);
  EXPECT_EQ(seen_ua, absl::StrCat("Vigil/", kVigilVersion));
  EXPECT_EQ(seen_ae, "gzip");
  EXPECT_EQ(seen_auth, "Bearer tok");
  EXPECT_EQ(seen_timeout, "5");
  EXPECT_EQ(c.connections_opened(), 1);
  EXPECT_EQ(srv.connections_accepted(), 1);
}

TEST(HttpClientTest, ReconnectsWhenServerClosesIdleConnection) {
  TestExporter srv([](const TestExporter::Request&) {
    TestExporter::Reply r = TestExporter::Ok("up 1\n");
    r.close_after = true;  // without "Connection: close": a surprise close
    return r;
  });
  HttpClient c;
  HttpResponse resp;
  for (int i = 0; i < 3; ++i) {
    absl::Status s = c.Get(Req(srv), &resp);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.body, "up 1\n");
  }
  EXPECT_EQ(srv.connections_accepted(), 3);
}

TEST(HttpClientTest, Non200IsReturned) {
  TestExporter srv([](const TestExporter::Request&) {
    return TestExporter::Status(503, "Service Unavailable");
  });
  HttpClient c;
  HttpResponse resp;
  ASSERT_TRUE(c.Get(Req(srv), &resp).ok());
  EXPECT_EQ(resp.status, 503);
  EXPECT_EQ(resp.reason, "Service Unavailable");
}

TEST(HttpClientTest, SlowServerTimesOut) {
  TestExporter srv([](const TestExporter::Request&) {
    TestExporter::Reply r = TestExporter::Ok("up 1\n");
    r.delay = absl::Milliseconds(500);
    return r;
  });
  HttpClient c;
  HttpResponse resp;
  absl::Time start = absl::Now();
  absl::Status s = c.Get(Req(srv, absl::Milliseconds(100)), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(srv.url("/metrics")));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
}

TEST(HttpClientTest, TruncatedBodyIsDataLoss) {
  TestExporter srv([](const TestExporter::Request&) {
    TestExporter::Reply r;
    r.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nup 1\n";
    r.close_after = true;
    return r;
  });
  HttpClient c;
  HttpResponse resp;
  absl::Status s = c.Get(Req(srv), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST(HttpClientTest, GarbageResponseFails) {
  TestExporter srv([](const TestExporter::Request&) {
    TestExporter::Reply r;
    r.bytes = "this is not http\r\n\r\n";
    r.close_after = true;
    return r;
  });
  HttpClient c;
  HttpResponse resp;
  EXPECT_FALSE(c.Get(Req(srv), &resp).ok());
}

TEST(HttpClientTest, ConnectionRefused) {
  int port;
  {
    TestExporter srv(
        [](const TestExporter::Request&) { return TestExporter::Ok(""); });
    port = srv.port();
  }
  HttpClient c;
  HttpRequest req;
  req.url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
  HttpResponse resp;
  absl::Status s = c.Get(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST(HttpClientTest, HttpsIsRejected) {
  HttpClient c;
  HttpRequest req;
  req.url = "https://127.0.0.1:1/metrics";
  HttpResponse resp;
  absl::Status s = c.Get(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("https"));
}

TEST(HttpClientTest, BodyLimit) {
  std::string big(10000, 'x');
  TestExporter srv(
      [&](const TestExporter::Request&) { return TestExporter::Ok(big); });
  HttpClient c;
  HttpResponse resp;
  absl::Status s = c.Get(Req(srv, absl::Seconds(5), 9999), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted)
      << s << " body " << resp.body.size();
  ASSERT_TRUE(c.Get(Req(srv, absl::Seconds(5), 10000), &resp).ok());
  EXPECT_EQ(resp.body.size(), 10000u);
}

TEST(HttpClientTest, GzipIsInflated) {
  std::string body = "up 1\nfoo{a=\"b\"} 2\n";
  TestExporter srv([&](const TestExporter::Request&) {
    return TestExporter::Ok(TestExporter::Gzip(body), "text/plain",
                            "Content-Encoding: gzip\r\n");
  });
  HttpClient c;
  HttpResponse resp;
  ASSERT_TRUE(c.Get(Req(srv), &resp).ok());
  EXPECT_EQ(resp.body, body);
}

TEST(HttpClientTest, GzipBombStopsAtDecompressedLimit) {
  // 64 MiB of zeros compresses to ~64 KB; the limit is 1 MiB.
  std::string bomb = TestExporter::Gzip(std::string(64 << 20, '\0'));
  ASSERT_LT(bomb.size(), 1u << 20);
  TestExporter srv([&](const TestExporter::Request&) {
    return TestExporter::Ok(bomb, "text/plain", "Content-Encoding: gzip\r\n");
  });
  HttpClient c;
  HttpResponse resp;
  absl::Status s = c.Get(Req(srv, absl::Seconds(10), 1 << 20), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("decompressed"));
}

TEST(GunzipTest, CorruptAndTruncated) {
  std::string gz = TestExporter::Gzip("hello world hello world");
  std::string out;
  EXPECT_TRUE(GunzipLimited(gz, 0, &out).ok());
  EXPECT_EQ(out, "hello world hello world");
  EXPECT_EQ(GunzipLimited(gz.substr(0, gz.size() / 2), 0, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(GunzipLimited("not gzip at all", 0, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(GunzipLimited(gz, 23, &out).ok());
  EXPECT_EQ(GunzipLimited(gz, 22, &out).code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace vigil::scrape
