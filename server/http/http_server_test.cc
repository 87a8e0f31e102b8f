#include "server/http/http_server.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/http/router.h"

namespace vigil::server::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                  static_cast<unsigned short>(port)));
  }
  void Send(const std::string& raw) { net::write(socket_, net::buffer(raw)); }
  // Reads one response; returns status 0 on EOF/error.
  bhttp::response<bhttp::string_body> Read() {
    bhttp::response<bhttp::string_body> res;
    beast::error_code ec;
    bhttp::read(socket_, buffer_, res, ec);
    if (ec) res.result(0);
    return res;
  }
  bhttp::response<bhttp::string_body> Get(const std::string& target) {
    Send(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\n\r\n"));
    return Read();
  }
  // True when the server closed the connection.
  bool ClosedByPeer() {
    char c;
    beast::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions opts = {}) {
    router_.Handle("GET", "/hello", [](const Request& r) {
      return Response::Text(200, "hello");
    });
    router_.Handle("GET", "/label/:name/values", [](const Request& r) {
      return Response::Text(200, std::string(r.PathParam("name")));
    });
    router_.Handle("", "/form", [](const Request& r) {
      std::string out;
      for (const auto& [k, v] : r.form) absl::StrAppend(&out, k, "=", v, ";");
      return Response::Text(200, out);
    });
    router_.Handle("GET", "/slow", [this](const Request& r) {
      in_slow_.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return Response::Text(200, "slow done");
    });
    opts.listen_address = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(
        opts, [this](Request* r) { return router_.Dispatch(r); });
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(2));
  }

  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<bool> in_slow_{false};
};

TEST_F(HttpServerTest, ServesAndRoutes) {
  StartServer();
  Client c(server_->port());
  auto res = c.Get("/hello");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "hello");
  res = c.Get("/label/job/values");
  EXPECT_EQ(res.body(), "job");
  res = c.Get("/nope");
  EXPECT_EQ(res.result_int(), 404);
}

TEST_F(HttpServerTest, WrongMethodIs405) {
  StartServer();
  Client c(server_->port());
  c.Send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 405);
}

TEST_F(HttpServerTest, KeepAliveReusesConnection) {
  StartServer();
  Client c(server_->port());
  for (int i = 0; i < 5; ++i) {
    auto res = c.Get("/hello");
    ASSERT_EQ(res.result_int(), 200) << i;
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(server_->active_connections(), 1);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  StartServer();
  Client c(server_->port());
  c.Send(
      "GET /label/a/values HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /label/b/values HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /label/c/values HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(c.Read().body(), "a");
  EXPECT_EQ(c.Read().body(), "b");
  auto last = c.Read();
  EXPECT_EQ(last.body(), "c");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(HttpServerTest, FormParamsFromQueryAndBody) {
  StartServer();
  Client c(server_->port());
  std::string body = "query=up%7Bjob%3D%22x%22%7D&match%5B%5D=a+b";
  c.Send(absl::StrCat(
      "POST /form?time=10 HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ",
      body.size(), "\r\n\r\n", body));
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "query=up{job=\"x\"};match[]=a b;time=10;");
}

TEST_F(HttpServerTest, BadEscapeIs400) {
  StartServer();
  Client c(server_->port());
  EXPECT_EQ(c.Get("/form?a=%zz").result_int(), 400);
}

TEST_F(HttpServerTest, OversizeBodyIs413) {
  HttpServerOptions opts;
  opts.max_body_bytes = 1024;
  StartServer(opts);
  Client c(server_->port());
  c.Send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 413);
}

TEST_F(HttpServerTest, OversizeChunkedBodyIs413) {
  HttpServerOptions opts;
  opts.max_body_bytes = 16;
  StartServer(opts);
  Client c(server_->port());
  c.Send(
      "POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 413);
}

TEST_F(HttpServerTest, OversizeHeaderIs431) {
  HttpServerOptions opts;
  opts.max_header_bytes = 512;
  StartServer(opts);
  Client c(server_->port());
  c.Send(absl::StrCat("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ",
                      std::string(2000, 'a'), "\r\n\r\n"));
  EXPECT_EQ(c.Read().result_int(), 431);
}

TEST_F(HttpServerTest, SlowClientTimesOutWhileOthersAreServed) {
  HttpServerOptions opts;
  opts.threads = 1;  // one thread: a blocking read would starve everyone
  opts.read_timeout = absl::Milliseconds(300);
  StartServer(opts);
  Client slow(server_->port());
  slow.Send("GET /hello HTTP/1.1\r\nHo");  // never finishes its header
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    Client fast(server_->port());
    EXPECT_EQ(fast.Get("/hello").result_int(), 200);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(250));
  EXPECT_TRUE(slow.ClosedByPeer());
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(250));
}

TEST_F(HttpServerTest, ConnectionLimitRefusesWith503) {
  HttpServerOptions opts;
  opts.max_connections = 2;
  StartServer(opts);
  Client a(server_->port());
  Client b(server_->port());
  ASSERT_EQ(a.Get("/hello").result_int(), 200);
  ASSERT_EQ(b.Get("/hello").result_int(), 200);
  Client c(server_->port());
  EXPECT_EQ(c.Get("/hello").result_int(), 503);
}

TEST_F(HttpServerTest, GracefulShutdownFinishesInFlight) {
  StartServer();
  Client c(server_->port());
  Client idle(server_->port());
  ASSERT_EQ(idle.Get("/hello").result_int(), 200);
  c.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!in_slow_.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::thread stopper([this] { server_->Shutdown(absl::Seconds(5)); });
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "slow done");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(idle.ClosedByPeer());
  stopper.join();
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(HttpServerTest, BindFailureNamesAddress) {
  HttpServer s(HttpServerOptions{"256.1.1.1:80"},
               [](Request*) { return Response(); });
  absl::Status st = s.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("256.1.1.1:80"), std::string::npos);
}

TEST(RouterTest, RoutePrefix) {
  Router r("/prom/");
  r.Handle("GET", "/-/healthy",
           [](const Request&) { return Response::Text(200, "ok"); });
  Request req;
  req.method = "GET";
  req.path = "/prom/-/healthy";
  EXPECT_EQ(r.Dispatch(&req).status, 200);
  req.path = "/-/healthy";
  EXPECT_EQ(r.Dispatch(&req).status, 404);
  req.path = "/promx/-/healthy";
  EXPECT_EQ(r.Dispatch(&req).status, 404);
}

TEST(UrlTest, ParseAndEncodeRoundTrip) {
  std::string s = "a b&c=d/é";
  auto p = ParseUrlEncoded("x=" + UrlEncode(s));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].second, s);
  EXPECT_FALSE(ParseUrlEncoded("x=%4").ok());
}

}  // namespace
}  // namespace vigil::server::http
