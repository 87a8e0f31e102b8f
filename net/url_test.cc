#include "net/url.h"

#include "gtest/gtest.h"

namespace vigil::net {
namespace {

TEST(ParseUrlTest, Forms) {
  absl::StatusOr<Url> u = ParseUrl("http://h:9100/metrics?a=b");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "h");
  EXPECT_EQ(u->port, "9100");
  EXPECT_EQ(u->target, "/metrics?a=b");
  EXPECT_EQ(u->HostHeader(), "h:9100");

  u = ParseUrl("HTTPS://[::1]/x#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/x");
  EXPECT_EQ(u->HostPort(), "[::1]:443");
  EXPECT_EQ(u->HostHeader(), "[::1]");

  u = ParseUrl("http://user:pw@h?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "h");
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/?x=1");
  EXPECT_EQ(u->HostHeader(), "h");
}

TEST(ParseUrlTest, ErrorsNameTheUrl) {
  for (const char* bad : {"h:80/x", "http://h:99999/", "ftp://h/", "http:///x",
                          "http://[::1/", "http://h:x/"}) {
    absl::StatusOr<Url> u = ParseUrl(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(u.status().message().find(bad), absl::string_view::npos)
        << u.status();
  }
}

}  // namespace
}  // namespace vigil::net
