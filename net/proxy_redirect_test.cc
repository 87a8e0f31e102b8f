// HttpClient through an HTTP proxy (absolute-URI requests, CONNECT
// tunnels), redirects (Go's rules as Prometheus uses them), and the TLS
// exchange on the synchronous path (bodies, limits, deadlines, closed
// kept-alive connections).
#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/http_client.h"
#include "net/internal/test_proxy.h"
#include "net/internal/test_server.h"

namespace vigil::net {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestProxy;
using testing::TestServer;

std::shared_ptr<HttpClient> NewClient(ClientOptions o = {}) {
  absl::StatusOr<std::shared_ptr<HttpClient>> c = HttpClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

Request Get(const std::string& url, absl::Duration timeout = absl::Seconds(5)) {
  Request r;
  r.url = url;
  r.timeout = timeout;
  return r;
}

TestServer::Reply Ok(std::string body) {
  TestServer::Reply r;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "text/plain"}};
  return r;
}

TestServer::Reply Redirect(int status, const std::string& location) {
  TestServer::Reply r;
  r.status = status;
  r.body = "moved";
  if (!location.empty()) r.headers = {{"Location", location}};
  return r;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Every request a server saw: target, method, Authorization, body.
struct Seen {
  absl::Mutex mu;
  std::vector<TestServer::Request> requests;
  void Add(const TestServer::Request& r) {
    absl::MutexLock l(&mu);
    requests.push_back(r);
  }
  std::vector<TestServer::Request> Get() {
    absl::MutexLock l(&mu);
    return requests;
  }
};

class Certs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (certs_ != nullptr) return;  // shared by the fixtures below
    absl::StatusOr<testing::TestCerts> c =
        testing::GenerateTestCerts(testing::TestTmpDir());
    if (c.ok()) certs_ = new testing::TestCerts(*c);
  }
  void SetUp() override {
    if (certs_ == nullptr) GTEST_SKIP() << "no openssl tool for certificates";
  }
  TestServer::Options Tls() {
    TestServer::Options o;
    o.tls = true;
    o.cert_file = certs_->server_cert;
    o.key_file = certs_->server_key;
    return o;
  }
  ClientOptions TrustingClient() {
    ClientOptions o;
    o.tls.ca_file = certs_->ca_cert;
    return o;
  }
  static testing::TestCerts* certs_;
};
testing::TestCerts* Certs::certs_ = nullptr;

// ---------------------------------------------------------------------------
// Proxy.

TEST(ProxyTest, HttpTargetIsRequestedWithAbsoluteUri) {
  Seen seen;
  TestServer origin({}, [&](const TestServer::Request& r) {
    seen.Add(r);
    return Ok("up 1\n");
  });
  TestProxy proxy;
  ClientOptions o;
  o.proxy_url = absl::StrCat("http://scraper:s3cret@127.0.0.1:", proxy.port());
  o.auth.credentials = "target-token";
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(origin.url("/metrics?x=1")), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.body, "up 1\n");
  ASSERT_EQ(proxy.request_lines().size(), 1u);
  EXPECT_EQ(proxy.request_lines()[0],
            absl::StrCat("GET http://127.0.0.1:", origin.port(),
                         "/metrics?x=1 HTTP/1.1"));
  EXPECT_THAT(proxy.authorizations(),
              ElementsAre(BasicAuthHeader("scraper", "s3cret")));
  std::vector<TestServer::Request> r = seen.Get();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].target, "/metrics?x=1");
  EXPECT_EQ(r[0].Header("authorization"), "Bearer target-token");
  EXPECT_EQ(r[0].Header("proxy-authorization"), "");
  EXPECT_EQ(r[0].Header("host"), absl::StrCat("127.0.0.1:", origin.port()));
}

TEST(ProxyTest, UnreachableProxyIsNamed) {
  int port;
  {
    TestProxy gone;
    port = gone.port();
  }
  ClientOptions o;
  o.proxy_url = absl::StrCat("http://127.0.0.1:", port);
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get("http://127.0.0.1:1/metrics"), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr("Get \"http://127.0.0.1:1/metrics\""));
  EXPECT_THAT(Msg(s), HasSubstr(absl::StrCat("proxyconnect tcp: dial tcp "
                                             "127.0.0.1:",
                                             port)));
}

TEST(ProxyTest, CreateRejectsBadProxyUrls) {
  for (const char* bad : {"socks5://127.0.0.1:1080", "https://proxy:3128",
                          "127.0.0.1:3128", "http://:3128"}) {
    ClientOptions o;
    o.proxy_url = bad;
    absl::StatusOr<std::shared_ptr<HttpClient>> c = HttpClient::Create(o);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(c.status()), HasSubstr("proxy_url")) << bad;
  }
}

class ProxyTlsTest : public Certs {};

TEST_F(ProxyTlsTest, HttpsTargetIsTunnelledWithConnect) {
  Seen seen;
  TestServer origin(Tls(), [&](const TestServer::Request& r) {
    seen.Add(r);
    return Ok("over a tunnel\n");
  });
  TestProxy::Options po;
  po.require_authorization = BasicAuthHeader("u", "p");
  TestProxy proxy(po);
  ClientOptions o = TrustingClient();
  o.proxy_url = absl::StrCat("http://u:p@127.0.0.1:", proxy.port());
  std::shared_ptr<HttpClient> c = NewClient(o);
  for (int i = 0; i < 3; ++i) {
    Response resp;
    absl::Status s = c->Do(Get(origin.url("/metrics")), &resp);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.body, "over a tunnel\n");
  }
  // One tunnel, kept alive: the proxy saw one CONNECT and nothing else
  // (the requests themselves are encrypted end to end).
  EXPECT_THAT(proxy.request_lines(),
              ElementsAre(absl::StrCat("CONNECT 127.0.0.1:", origin.port(),
                                       " HTTP/1.1")));
  EXPECT_EQ(c->connections_opened(), 1);
  std::vector<TestServer::Request> r = seen.Get();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].target, "/metrics");
  EXPECT_EQ(r[0].Header("proxy-authorization"), "");
}

TEST_F(ProxyTlsTest, RefusedConnectFailsWithProxyStatus) {
  TestServer origin(Tls(), [](const TestServer::Request&) { return Ok("x"); });
  TestProxy::Options po;
  po.refuse_connect = true;
  TestProxy proxy(po);
  ClientOptions o = TrustingClient();
  o.proxy_url = proxy.url();
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(origin.url("/metrics")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr(origin.url("/metrics")));
  EXPECT_THAT(Msg(s), HasSubstr("403 Forbidden"));

  // Wrong proxy credentials on CONNECT: the 407 is the error.
  TestProxy::Options auth;
  auth.require_authorization = BasicAuthHeader("u", "right");
  TestProxy strict(auth);
  o.proxy_url = absl::StrCat("http://u:wrong@127.0.0.1:", strict.port());
  c = NewClient(o);
  s = c->Do(Get(origin.url("/metrics")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr("407"));
}

// ---------------------------------------------------------------------------
// Redirects.

TEST(RedirectTest, FollowedWithAuthOnTheSameHost) {
  Seen seen;
  TestServer srv({}, [&](const TestServer::Request& r) {
    seen.Add(r);
    if (r.target == "/a/old") return Redirect(302, "new?x=1");  // relative
    if (r.target == "/a/new?x=1") return Redirect(301, "/final");
    return Ok(absl::StrCat("at ", r.target));
  });
  ClientOptions o;
  o.auth.credentials = "tok";
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/a/old")), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "at /final");
  std::vector<TestServer::Request> r = seen.Get();
  ASSERT_EQ(r.size(), 3u);
  for (const TestServer::Request& x : r) {
    EXPECT_EQ(x.Header("authorization"), "Bearer tok") << x.target;
  }
  // The redirects' bodies were drained: one connection for all hops.
  EXPECT_EQ(c->connections_opened(), 1);
}

TEST(RedirectTest, CredentialsAreNotSentToAnotherHost) {
  Seen other_seen;
  TestServer other({}, [&](const TestServer::Request& r) {
    other_seen.Add(r);
    return Ok("elsewhere");
  });
  TestServer srv({}, [&](const TestServer::Request&) {
    // "localhost" is another host than "127.0.0.1" for this purpose, as
    // for Go's client.
    return Redirect(
        307, absl::StrCat("http://localhost:", other.port(), "/metrics"));
  });
  for (bool client_auth : {true, false}) {
    ClientOptions o;
    if (client_auth) {
      o.auth.username = "u";
      o.auth.password = "p";
    }
    std::shared_ptr<HttpClient> c = NewClient(o);
    Request req = Get(srv.url("/metrics"));
    if (!client_auth) req.headers = {{"Authorization", "Bearer given"}};
    Response resp;
    absl::Status s = c->Do(req, &resp);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.body, "elsewhere");
  }
  std::vector<TestServer::Request> r = other_seen.Get();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].Header("authorization"), "");
  EXPECT_EQ(r[1].Header("authorization"), "");
}

TEST(RedirectTest, RequestWithoutTimeoutFollowsRedirects) {
  TestServer srv({}, [&](const TestServer::Request& r) {
    if (r.target == "/old") return Redirect(302, "/new");
    return Ok("new");
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Request req = Get(srv.url("/old"));
  req.timeout = absl::ZeroDuration();  // no deadline
  Response resp;
  absl::Status s = c->Do(req, &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.body, "new");
}

TEST(RedirectTest, StopsAfterTenRedirects) {
  std::atomic<int> hits{0};
  TestServer srv({}, [&](const TestServer::Request&) {
    ++hits;
    return Redirect(302, "/loop");
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/loop")), &resp);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(Msg(s), HasSubstr("stopped after 10 redirects"));
  EXPECT_THAT(Msg(s), HasSubstr("Get \""));
  EXPECT_EQ(hits.load(), 11);
}

TEST(RedirectTest, NotFollowedWhenDisabled) {
  TestServer srv({}, [&](const TestServer::Request&) {
    return Redirect(302, "/elsewhere");
  });
  ClientOptions o;
  o.follow_redirects = false;
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.status, 302);
  EXPECT_EQ(resp.location, "/elsewhere");
  EXPECT_EQ(resp.body, "moved");
}

TEST(RedirectTest, MethodAndBodyFollowGoRules) {
  Seen seen;
  TestServer srv({}, [&](const TestServer::Request& r) {
    seen.Add(r);
    if (r.target == "/303") return Redirect(303, "/done");
    if (r.target == "/307") return Redirect(307, "/done");
    if (r.target == "/nolocation") return Redirect(302, "");
    return Ok("done");
  });
  std::shared_ptr<HttpClient> c = NewClient();
  for (const char* path : {"/303", "/307"}) {
    Request req = Get(srv.url(path));
    req.method = "POST";
    req.body = "payload";
    Response resp;
    ASSERT_TRUE(c->Do(req, &resp).ok()) << path;
    EXPECT_EQ(resp.body, "done");
  }
  std::vector<TestServer::Request> r = seen.Get();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[1].method, "GET");  // after 303
  EXPECT_EQ(r[1].body, "");
  EXPECT_EQ(r[3].method, "POST");  // after 307
  EXPECT_EQ(r[3].body, "payload");
  // A 3xx without Location is the answer.
  Response resp;
  ASSERT_TRUE(c->Do(Get(srv.url("/nolocation")), &resp).ok());
  EXPECT_EQ(resp.status, 302);
  EXPECT_EQ(resp.body, "moved");
}

class RedirectTlsTest : public Certs {};

TEST_F(RedirectTlsTest, HttpToHttps) {
  TestServer secure(Tls(), [](const TestServer::Request& r) {
    return Ok(absl::StrCat("secure ", r.target));
  });
  TestServer plain({}, [&](const TestServer::Request& r) {
    return Redirect(
        308, absl::StrCat("https://localhost:", secure.port(), r.target));
  });
  std::shared_ptr<HttpClient> c = NewClient(TrustingClient());
  Response resp;
  absl::Status s = c->Do(Get(plain.url("/metrics")), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.body, "secure /metrics");
}

// ---------------------------------------------------------------------------
// TLS on the synchronous path.

class TlsExchangeTest : public Certs {};

TEST_F(TlsExchangeTest, LargeBodiesLimitsAndGzip) {
  std::string big;
  for (int i = 0; big.size() < (3 << 20); ++i) {
    absl::StrAppend(&big, "metric_", i, "{a=\"b\"} ", i, "\n");
  }
  TestServer srv(Tls(), [&](const TestServer::Request& r) {
    if (r.target == "/chunked") {
      TestServer::Reply reply;
      reply.raw =
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
      return reply;
    }
    TestServer::Reply reply =
        Ok(r.target == "/gzip" ? testing::Gzip(big) : big);
    if (r.target == "/gzip")
      reply.headers.push_back({"Content-Encoding", "gzip"});
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient(TrustingClient());
  Response resp;
  for (const char* path : {"/plain", "/gzip", "/plain"}) {
    absl::Status s = c->Do(Get(srv.url(path)), &resp);
    ASSERT_TRUE(s.ok()) << path << ": " << s;
    EXPECT_EQ(resp.body.size(), big.size()) << path;
    EXPECT_TRUE(resp.body == big) << path;
  }
  ASSERT_TRUE(c->Do(Get(srv.url("/chunked")), &resp).ok());
  EXPECT_EQ(resp.body, "hello world");
  EXPECT_EQ(c->connections_opened(), 1);
  Request limited = Get(srv.url("/plain"));
  limited.body_size_limit = static_cast<int64_t>(big.size()) - 1;
  absl::Status s = c->Do(limited, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  limited.url = srv.url("/gzip");
  s = c->Do(limited, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST_F(TlsExchangeTest, DeadlineWhileWaitingForTheReply) {
  TestServer srv(Tls(), [](const TestServer::Request&) {
    TestServer::Reply r = Ok("late");
    r.delay = absl::Seconds(3);
    return r;
  });
  std::shared_ptr<HttpClient> c = NewClient(TrustingClient());
  Response resp;
  absl::Time start = absl::Now();
  absl::Status s = c->Do(Get(srv.url("/"), absl::Milliseconds(300)), &resp);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(Msg(s), HasSubstr("reading response"));
  EXPECT_EQ(c->idle_connections(), 0);
}

TEST_F(TlsExchangeTest, ServerClosingIdleConnectionIsRetriedOnce) {
  TestServer srv(Tls(), [](const TestServer::Request&) {
    TestServer::Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    reply.close_after = true;
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient(TrustingClient());
  Response resp;
  for (int i = 0; i < 3; ++i) {
    absl::Status s = c->Do(Get(srv.url("/")), &resp);
    ASSERT_TRUE(s.ok()) << i << ": " << s;
    EXPECT_EQ(resp.body, "ok");
    absl::SleepFor(absl::Milliseconds(20));  // let the close arrive
  }
  EXPECT_EQ(srv.requests(), 3);
}

TEST_F(TlsExchangeTest, TruncatedBodyIsDataLoss) {
  TestServer srv(Tls(), [](const TestServer::Request&) {
    TestServer::Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
    reply.close_after = true;
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient(TrustingClient());
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(resp.body.empty());
}

}  // namespace
}  // namespace vigil::net
