// Misbehaving clients against `vigil serve`: malformed PromQL, bad times,
// huge and corrupt bodies, oversized headers, and slowloris connections
// holding sockets open. Every answer must be a clear error (status, JSON
// errorType, a message naming the problem), and the server must keep
// answering everyone else promptly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/compat/peer_util.h"
#include "server/http/request.h"
#include "server/http/test_client.h"

namespace vigil::compat {
namespace {

using server::http::HttpGet;
using server::http::HttpPost;
using server::http::UrlEncode;

// A raw TCP connection, for requests a well-behaved client cannot send.
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~RawConn() { ::close(fd_); }
  bool ok() const { return ok_; }
  // False once the peer has closed or reset the connection.
  bool Send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(s.size());
  }
  // Reads until the peer closes, `until` appears, or the 10 s timeout.
  std::string Read(const std::string& until = "\r\n\r\n") {
    std::string out;
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, n);
      if (!until.empty() && out.find(until) != std::string::npos) break;
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

class BadRequests : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir();
    port_ = FreePort();
    WriteFile(dir_ + "/empty.yml", "global:\n  scrape_interval: 1h\n");
    vigil_ = std::make_unique<Process>(
        std::vector<std::string>{
            VigilBinary(), "serve", "--config.file=" + dir_ + "/empty.yml",
            "--storage.tsdb.path=" + dir_ + "/data",
            absl::StrCat("--web.listen-address=127.0.0.1:", port_),
            "--web.enable-remote-write-receiver"},
        dir_ + "/vigil.log");
    ASSERT_TRUE(
        WaitUntil([&] { return HttpGet(port_, "/-/ready").status == 200; },
                  absl::Seconds(30)))
        << ReadFile(dir_ + "/vigil.log");
  }
  void TearDown() override {
    if (vigil_ != nullptr) {
      EXPECT_EQ(HttpGet(port_, "/-/healthy").status, 200)
          << "server stopped serving";
      vigil_->Stop();
    }
  }

  // A 400 bad_data JSON answer whose message contains `needle`.
  void ExpectBadData(const std::string& target, const std::string& needle) {
    auto r = HttpGet(port_, target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << target << ": " << r.body;
    EXPECT_EQ(j.value("status", ""), "error") << r.body;
    EXPECT_EQ(j.value("errorType", ""), "bad_data") << r.body;
    EXPECT_TRUE(absl::StrContains(j.value("error", ""), needle))
        << target << ": " << r.body;
  }

  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> vigil_;
};

TEST_F(BadRequests, MalformedPromQLNamesThePosition) {
  ExpectBadData("/api/v1/query?query=" + UrlEncode("sum(up"), "1:");
  ExpectBadData("/api/v1/query?query=" + UrlEncode("rate(up[5x])"), "1:");
  ExpectBadData("/api/v1/query?query=" + UrlEncode("no_such_fn(up)"),
                "no_such_fn");
  ExpectBadData("/api/v1/query?query=" + UrlEncode("up{job=~\"(\"}"), "1:");
  ExpectBadData("/api/v1/query?query=", "");
  ExpectBadData("/api/v1/query_range?query=" + UrlEncode("sum(") +
                    "&start=0&end=10&step=1",
                "1:");
  // A huge, deeply nested expression is an error, not a crash.
  std::string deep(5000, '(');
  auto r = HttpPost(port_, "/api/v1/query",
                    "query=" + UrlEncode(deep + "1" + std::string(5000, ')')));
  EXPECT_TRUE(r.status == 400 || r.status == 200) << r.status << r.body;
}

TEST_F(BadRequests, BadTimesAndStepsAreBadData) {
  ExpectBadData("/api/v1/query?query=up&time=yesterday", "time");
  ExpectBadData("/api/v1/query?query=up&time=1e400", "time");
  ExpectBadData("/api/v1/query_range?query=up&start=abc&end=10&step=1",
                "start");
  ExpectBadData("/api/v1/query_range?query=up&start=0&end=abc&step=1", "end");
  ExpectBadData("/api/v1/query_range?query=up&start=100&end=10&step=1",
                "end timestamp must not be before start time");
  ExpectBadData("/api/v1/query_range?query=up&start=0&end=10&step=0",
                "zero or negative query resolution step widths are not "
                "accepted");
  ExpectBadData("/api/v1/query_range?query=up&start=0&end=100000000&step=1",
                "exceeded maximum resolution of 11,000 points per timeseries");
  ExpectBadData("/api/v1/query?query=up&timeout=forever", "timeout");
  ExpectBadData("/api/v1/series?match[]=" + UrlEncode("{"), "");
  ExpectBadData("/api/v1/series?match[]=up&start=never", "start");
}

TEST_F(BadRequests, HugeAndCorruptBodiesAreRefusedClearly) {
  {
    // Announces 64 MiB: refused from the headers, before the body arrives.
    RawConn c(port_);
    ASSERT_TRUE(c.ok());
    c.Send(
        "POST /api/v1/query HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 67108864\r\n\r\nquery=up&");
    std::string resp = c.Read();
    EXPECT_TRUE(absl::StartsWith(resp, "HTTP/1.1 413")) << resp;
  }
  {
    RawConn c(port_);
    ASSERT_TRUE(c.ok());
    std::string big(2 << 20, 'a');
    c.Send(
        absl::StrCat("GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\n"
                     "X-Big: ",
                     big, "\r\n\r\n"));
    std::string resp = c.Read();
    EXPECT_TRUE(resp.empty() || absl::StartsWith(resp, "HTTP/1.1 431"))
        << resp.substr(0, 200);
  }
  // Remote write: garbage, and a snappy header claiming 4 GiB.
  auto r = HttpPost(port_, "/api/v1/write", std::string(1 << 20, '\x07'),
                    "application/x-protobuf");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "snappy")) << r.body;
  std::string bomb = "\xff\xff\xff\xff\x0f";
  bomb += std::string(100, '\0');
  r = HttpPost(port_, "/api/v1/write", bomb, "application/x-protobuf");
  EXPECT_EQ(r.status, 400) << r.body;
  // A valid snappy block of bytes that are not a WriteRequest.
  std::string not_proto = "\x05\x10\xff\xff\xff\xff\xff";
  r = HttpPost(port_, "/api/v1/write", not_proto, "application/x-protobuf");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(HttpGet(port_, "/api/v1/query?query=1").status, 200);
}

TEST_F(BadRequests, SlowlorisClientsDoNotStarveOthers) {
  // 40 connections that never finish their request headers, plus some
  // that connect and send nothing at all.
  std::vector<std::unique_ptr<RawConn>> slow;
  for (int i = 0; i < 40; ++i) {
    slow.push_back(std::make_unique<RawConn>(port_));
    ASSERT_TRUE(slow.back()->ok());
    if (i % 4 != 0) {
      slow.back()->Send("GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\n");
    }
  }
  const absl::Time start = absl::Now();
  int served = 0;
  while (absl::Now() - start < absl::Seconds(6)) {
    for (auto& c : slow) c->Send("X");  // one header byte at a time
    const absl::Time t = absl::Now();
    auto r = HttpGet(port_, "/api/v1/query?query=1%2B1");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_LT(absl::Now() - t, absl::Seconds(2)) << "request starved";
    EXPECT_EQ(HttpGet(port_, "/-/healthy").status, 200);
    ++served;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_GT(served, 10);
}

}  // namespace
}  // namespace vigil::compat
