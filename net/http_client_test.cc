#include "net/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/internal/test_server.h"

namespace vigil::net {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;

std::shared_ptr<HttpClient> NewClient(ClientOptions o = {}) {
  absl::StatusOr<std::shared_ptr<HttpClient>> c = HttpClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

Request Get(const std::string& url, absl::Duration timeout = absl::Seconds(5),
            int64_t limit = 0) {
  Request r;
  r.url = url;
  r.timeout = timeout;
  r.body_size_limit = limit;
  return r;
}

TestServer::Reply Ok(std::string body) {
  TestServer::Reply r;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "text/plain; version=0.0.4"}};
  return r;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

TEST(HttpClientTest, SendsHeadersAndReusesConnection) {
  absl::Mutex mu;
  std::vector<TestServer::Request> seen;
  TestServer srv({}, [&](const TestServer::Request& r) {
    absl::MutexLock l(&mu);
    seen.push_back(r);
    return Ok("up 1\n");
  });
  ClientOptions o;
  o.auth.username = "admin";
  o.auth.password = "pw";
  std::shared_ptr<HttpClient> c = NewClient(o);
  for (int i = 0; i < 3; ++i) {
    Request req = Get(srv.url("/metrics?x=1"));
    req.headers = {{"Accept", "text/plain"}, {"Authorization", "ignored"}};
    Response resp;
    absl::Status s = c->Do(req, &resp);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.reason, "OK");
    EXPECT_EQ(resp.body, "up 1\n");
    EXPECT_EQ(resp.content_type, "text/plain; version=0.0.4");
  }
  EXPECT_EQ(c->connections_opened(), 1);
  EXPECT_EQ(srv.connections_accepted(), 1);
  EXPECT_EQ(c->idle_connections(), 1);
  absl::MutexLock l(&mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/metrics?x=1");
  EXPECT_EQ(seen[0].Header("accept"), "text/plain");
  EXPECT_EQ(seen[0].Header("accept-encoding"), "gzip");
  EXPECT_EQ(seen[0].Header("user-agent"), "Vigil/0.1.0");
  EXPECT_EQ(seen[0].Header("host"), absl::StrCat("127.0.0.1:", srv.port()));
  EXPECT_EQ(seen[0].Header("authorization"), "Basic YWRtaW46cHc=");
}

TEST(HttpClientTest, PostsBody) {
  TestServer::Request got;
  TestServer srv({}, [&](const TestServer::Request& r) {
    got = r;
    TestServer::Reply reply;
    reply.status = 503;
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Request req = Get(srv.url("/hook"));
  req.method = "POST";
  req.body = "{\"a\":1}";
  req.headers = {{"Content-Type", "application/json"}};
  Response resp;
  ASSERT_TRUE(c->Do(req, &resp).ok());
  EXPECT_EQ(resp.status, 503);  // any status is a successful exchange
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.body, "{\"a\":1}");
  EXPECT_EQ(got.Header("content-type"), "application/json");
  EXPECT_EQ(got.Header("content-length"), "7");
}

TEST(HttpClientTest, CredentialsFileIsReadAtEveryRequest) {
  std::string auth;
  TestServer srv({}, [&](const TestServer::Request& r) {
    auth = r.Header("authorization");
    return Ok("");
  });
  std::string file = testing::TestTmpDir() + "/token";
  std::ofstream(file) << "first\n";
  ClientOptions o;
  o.auth.credentials_file = file;
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  ASSERT_TRUE(c->Do(Get(srv.url("/")), &resp).ok());
  EXPECT_EQ(auth, "Bearer first");
  std::ofstream(file) << "second";
  ASSERT_TRUE(c->Do(Get(srv.url("/")), &resp).ok());
  EXPECT_EQ(auth, "Bearer second");
  unlink(file.c_str());
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(s), HasSubstr(file));
}

TEST(HttpClientTest, ConnectionRefusedNamesUrl) {
  int port;
  {
    TestServer srv({}, [](const TestServer::Request&) { return Ok(""); });
    port = srv.port();
  }
  std::shared_ptr<HttpClient> c = NewClient();
  std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
  Response resp;
  absl::Status s = c->Do(Get(url), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr(absl::StrCat("Get \"", url, "\"")));
  EXPECT_THAT(Msg(s), HasSubstr("connect"));
  EXPECT_EQ(c->Do(Get("ftp://x/"), &resp).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpClientTest, TotalTimeout) {
  TestServer srv({}, [](const TestServer::Request&) {
    TestServer::Reply r = Ok("late");
    r.delay = absl::Seconds(3);
    return r;
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  absl::Time start = absl::Now();
  absl::Status s = c->Do(Get(srv.url("/"), absl::Milliseconds(200)), &resp);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(Msg(s), HasSubstr("reading response"));
  EXPECT_EQ(c->idle_connections(), 0);
}

// A listener that never accepts: TCP connects (the kernel completes the
// handshake into the backlog) but nothing is ever read or written.
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~BlackHole() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

TEST(HttpClientTest, ConnectTimeoutCoversTlsHandshake) {
  BlackHole hole;
  std::shared_ptr<HttpClient> c = NewClient();
  Request req = Get(absl::StrCat("https://127.0.0.1:", hole.port(), "/"),
                    absl::Seconds(10));
  req.connect_timeout = absl::Milliseconds(200);
  Response resp;
  absl::Time start = absl::Now();
  absl::Status s = c->Do(req, &resp);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(Msg(s), HasSubstr("TLS handshake"));
}

TEST(HttpClientTest, BodyLimitRejectsNeverTruncates) {
  std::string big(10000, 'x');
  TestServer srv({}, [&](const TestServer::Request& r) {
    if (r.target == "/chunked") {
      TestServer::Reply reply;
      reply.raw = absl::StrCat(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2710\r\n", big,
          "\r\n0\r\n\r\n");
      return reply;
    }
    return Ok(big);
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/"), absl::Seconds(5), 9999), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(Msg(s), HasSubstr("body size limit exceeded"));
  s = c->Do(Get(srv.url("/chunked"), absl::Seconds(5), 9999), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  ASSERT_TRUE(c->Do(Get(srv.url("/"), absl::Seconds(5), 10000), &resp).ok());
  EXPECT_EQ(resp.body.size(), 10000u);
  ASSERT_TRUE(
      c->Do(Get(srv.url("/chunked"), absl::Seconds(5), 10000), &resp).ok());
  EXPECT_EQ(resp.body, big);
}

TEST(HttpClientTest, TruncatedBodyIsDataLoss) {
  TestServer srv({}, [&](const TestServer::Request&) {
    TestServer::Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
    reply.close_after = true;
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST(HttpClientTest, GzipIsInflatedAndBombRejected) {
  std::string body = "up 1\nfoo{a=\"b\"} 2\n";
  std::string bomb = testing::Gzip(std::string(64 << 20, '\0'));
  ASSERT_LT(bomb.size(), 1u << 20);
  TestServer srv({}, [&](const TestServer::Request& r) {
    TestServer::Reply reply =
        Ok(r.target == "/bomb" ? bomb : testing::Gzip(body));
    reply.headers.push_back({"Content-Encoding", "gzip"});
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  ASSERT_TRUE(c->Do(Get(srv.url("/")), &resp).ok());
  EXPECT_EQ(resp.body, body);
  absl::Status s =
      c->Do(Get(srv.url("/bomb"), absl::Seconds(10), 1 << 20), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(Msg(s), HasSubstr("decompressed"));
  EXPECT_THAT(Msg(s), HasSubstr(srv.url("/bomb")));
  EXPECT_TRUE(resp.body.empty());
}

TEST(HttpClientTest, ServerClosingIdleConnectionIsRetriedOnce) {
  // Every reply claims keep-alive but the server then closes the socket:
  // the next request finds a dead kept-alive connection.
  TestServer srv({}, [&](const TestServer::Request&) {
    TestServer::Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    reply.close_after = true;
    return reply;
  });
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  for (int i = 0; i < 3; ++i) {
    absl::Status s = c->Do(Get(srv.url("/")), &resp);
    ASSERT_TRUE(s.ok()) << i << ": " << s;
    EXPECT_EQ(resp.body, "ok");
    absl::SleepFor(absl::Milliseconds(20));  // let the close arrive
  }
  EXPECT_EQ(srv.requests(), 3);
}

TEST(HttpClientTest, ConcurrentRequestsShareOneBoundedPool) {
  TestServer srv({}, [](const TestServer::Request& r) { return Ok(r.target); });
  ClientOptions o;
  o.max_idle_per_host = 2;
  std::shared_ptr<HttpClient> c = NewClient(o);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string path = absl::StrCat("/t", t, "/", i);
        Response resp;
        absl::Status s = c->Do(Get(srv.url(path)), &resp);
        if (!s.ok() || resp.body != path) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(srv.requests(), 120);
  EXPECT_LE(c->connections_opened(), 120);
  EXPECT_LE(c->idle_connections(), 2);
  c->CloseIdleConnections();
  EXPECT_EQ(c->idle_connections(), 0);
}

// A one-connection server that answers request i with replies[i], each
// piece written after `gap`: a body that arrives in segments, as from a
// slow exporter.
class TricklingServer {
 public:
  TricklingServer(std::vector<std::vector<std::string>> replies,
                  absl::Duration gap)
      : replies_(std::move(replies)), gap_(gap) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 4);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      conn_.store(c);
      for (const std::vector<std::string>& pieces : replies_) {
        // Each request is one small GET: wait for its end.
        std::string got;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = read(c, buf, sizeof(buf));
          if (n <= 0) break;
          got.append(buf, n);
        }
        for (const std::string& p : pieces) {
          absl::SleepFor(gap_);
          if (send(c, p.data(), p.size(), MSG_NOSIGNAL) < 0) break;
        }
      }
      // Held open until the client closes it (or the destructor): a
      // close would wake a client waiting for more bytes than were sent.
      char buf[256];
      while (read(c, buf, sizeof(buf)) > 0) {
      }
      close(c);
    });
  }
  ~TricklingServer() {
    int c = conn_.load();
    if (c >= 0) shutdown(c, SHUT_RDWR);
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const {
    return absl::StrCat("http://127.0.0.1:", port_, "/metrics");
  }

 private:
  std::vector<std::vector<std::string>> replies_;
  std::atomic<int> conn_{-1};
  absl::Duration gap_;
  int fd_;
  int port_;
  std::thread thread_;
};

TEST(HttpClientTest, BodyArrivingInPiecesIsReadWholeOnKeptAliveConnection) {
  // 300 KB, more than one low-water step, with the header and the first
  // body bytes in one segment and a body split mid-way.
  std::string body;
  for (int i = 0; body.size() < 300000; ++i) {
    absl::StrAppend(&body, "metric_", i, "{a=\"b\"} ", i, "\n");
  }
  std::string head = absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n");
  std::vector<std::string> pieces = {
      head + body.substr(0, 10), body.substr(10, 5),
      body.substr(15, 200000 - 15), body.substr(200000, 99990),
      body.substr(299990)};
  // Then a 100 KB body in one piece after its header: its one read waits
  // with the mark at 100 KB.
  std::string third(100000, 'z');
  TricklingServer srv(
      {pieces,
       pieces,
       {"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", third},
       {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}},
      absl::Milliseconds(20));
  std::shared_ptr<HttpClient> c = NewClient();
  for (int i = 0; i < 2; ++i) {
    Response resp;
    resp.body = "stale bytes from an earlier body";
    absl::Status s = c->Do(Get(srv.url()), &resp);
    ASSERT_TRUE(s.ok()) << i << ": " << s;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.content_type, "text/plain; version=0.0.4");
    EXPECT_TRUE(resp.body == body) << i << ": " << resp.body.size();
  }
  // A reply smaller than the last low-water mark, on the same connection:
  // had the mark not been reset, its header would wait for the deadline.
  Response resp;
  ASSERT_TRUE(c->Do(Get(srv.url()), &resp).ok());
  EXPECT_TRUE(resp.body == third) << resp.body.size();
  absl::Status s = c->Do(Get(srv.url(), absl::Seconds(2)), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.body, "ok");
  EXPECT_EQ(c->connections_opened(), 1);
}

TEST(HttpClientTest, DeadlineInTheMiddleOfABody) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
  TricklingServer srv({{head + std::string(1000, 'x'), std::string(1000, 'y')}},
                      absl::Milliseconds(600));
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  absl::Time start = absl::Now();
  absl::Status s = c->Do(Get(srv.url(), absl::Milliseconds(900)), &resp);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(Msg(s), HasSubstr("reading response"));
  EXPECT_TRUE(resp.body.empty());
  EXPECT_EQ(c->idle_connections(), 0);
}

TEST(HttpClientTest, GzipBodyInPiecesAndChunkedAfterIt) {
  std::string body(50000, 'a');
  std::string gz = testing::Gzip(body);
  std::string head = absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ",
      gz.size(), "\r\n\r\n");
  TricklingServer srv({{head + gz.substr(0, 7), gz.substr(7)}},
                      absl::Milliseconds(10));
  std::shared_ptr<HttpClient> c = NewClient();
  Response resp;
  ASSERT_TRUE(c->Do(Get(srv.url()), &resp).ok());
  EXPECT_TRUE(resp.body == body) << resp.body.size();

  TricklingServer chunked(
      {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
        "c\r\n2\r\nde\r\n0\r\n\r\n"}},
      absl::Milliseconds(10));
  ASSERT_TRUE(c->Do(Get(chunked.url()), &resp).ok());
  EXPECT_EQ(resp.body, "abcde");
}

class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<testing::TestCerts> c =
        testing::GenerateTestCerts(testing::TestTmpDir());
    if (c.ok()) {
      certs_ = new testing::TestCerts(*c);
    } else {
      error_ = new std::string(c.status().ToString());
    }
  }
  void SetUp() override {
    if (certs_ == nullptr) GTEST_SKIP() << "no test certificates: " << *error_;
  }
  TestServer::Options ServerOptions(bool require_client_cert = false) {
    TestServer::Options o;
    o.tls = true;
    o.cert_file = certs_->server_cert;
    o.key_file = certs_->server_key;
    if (require_client_cert) o.client_ca_file = certs_->ca_cert;
    return o;
  }
  static TestServer::Reply Hello(const TestServer::Request&) {
    return Ok("hello over tls\n");
  }
  static testing::TestCerts* certs_;
  static std::string* error_;
};
testing::TestCerts* HttpsTest::certs_ = nullptr;
std::string* HttpsTest::error_ = nullptr;

TEST_F(HttpsTest, GetWithCaFileAndKeepAlive) {
  TestServer srv(ServerOptions(), Hello);
  ClientOptions o;
  o.tls.ca_file = certs_->ca_cert;
  std::shared_ptr<HttpClient> c = NewClient(o);
  for (int i = 0; i < 3; ++i) {
    Response resp;
    absl::Status s = c->Do(Get(srv.url("/metrics")), &resp);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "hello over tls\n");
  }
  EXPECT_EQ(c->connections_opened(), 1);
  EXPECT_EQ(srv.connections_accepted(), 1);
  // By name too: the certificate carries DNS:localhost.
  Response resp;
  absl::Status s =
      c->Do(Get(absl::StrCat("https://localhost:", srv.port(), "/")), &resp);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(HttpsTest, UnknownAuthorityFailsClearly) {
  TestServer srv(ServerOptions(), Hello);
  std::shared_ptr<HttpClient> c = NewClient();  // system trust store only
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/metrics")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr(srv.url("/metrics")));
  EXPECT_THAT(Msg(s), HasSubstr("failed to verify certificate"));

  ClientOptions o;
  o.tls.ca_file = certs_->other_ca_cert;
  c = NewClient(o);
  s = c->Do(Get(srv.url("/metrics")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr("failed to verify certificate"));
}

TEST_F(HttpsTest, InsecureSkipVerify) {
  TestServer srv(ServerOptions(), Hello);
  ClientOptions o;
  o.tls.insecure_skip_verify = true;
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.body, "hello over tls\n");
}

TEST_F(HttpsTest, ServerName) {
  TestServer srv(ServerOptions(), Hello);
  ClientOptions o;
  o.tls.ca_file = certs_->ca_cert;
  o.tls.server_name = "wrong.example.com";
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(Msg(s), HasSubstr("failed to verify certificate"));
  EXPECT_THAT(Msg(s), HasSubstr("mismatch"));

  o.tls.server_name = "localhost";
  c = NewClient(o);
  s = c->Do(Get(srv.url("/")), &resp);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(HttpsTest, ClientCertificates) {
  TestServer srv(ServerOptions(/*require_client_cert=*/true), Hello);
  ClientOptions o;
  o.tls.ca_file = certs_->ca_cert;
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s = c->Do(Get(srv.url("/")), &resp);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(Msg(s), HasSubstr(srv.url("/")));

  o.tls.cert_file = certs_->other_cert;  // signed by a CA the server ignores
  o.tls.key_file = certs_->other_key;
  c = NewClient(o);
  EXPECT_FALSE(c->Do(Get(srv.url("/")), &resp).ok());

  o.tls.cert_file = certs_->client_cert;
  o.tls.key_file = certs_->client_key;
  c = NewClient(o);
  s = c->Do(Get(srv.url("/")), &resp);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.body, "hello over tls\n");
}

TEST_F(HttpsTest, MinVersionTls13) {
  TestServer srv(ServerOptions(), Hello);
  ClientOptions o;
  o.tls.ca_file = certs_->ca_cert;
  o.tls.min_version = "TLS13";
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  EXPECT_TRUE(c->Do(Get(srv.url("/")), &resp).ok());
}

TEST_F(HttpsTest, HttpsToPlainServerFails) {
  TestServer srv({}, Hello);
  ClientOptions o;
  o.tls.ca_file = certs_->ca_cert;
  std::shared_ptr<HttpClient> c = NewClient(o);
  Response resp;
  absl::Status s =
      c->Do(Get(absl::StrCat("https://127.0.0.1:", srv.port(), "/"),
                absl::Seconds(5)),
            &resp);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(Msg(s), HasSubstr("TLS handshake"));
}

TEST_F(HttpsTest, CreateRejectsBadFiles) {
  ClientOptions o;
  o.tls.ca_file = certs_->ca_cert + ".missing";
  absl::StatusOr<std::shared_ptr<HttpClient>> c = HttpClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(Msg(c.status()), HasSubstr("ca_file"));
  EXPECT_THAT(Msg(c.status()), HasSubstr(o.tls.ca_file));
}

}  // namespace
}  // namespace vigil::net
