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
  EXPECT_EQ(u->userinfo, "user:pw");
  EXPECT_EQ(ParseUrl("http://h/a@b")->userinfo, "");
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

// Expected strings are what Go's url.QueryEscape returns for the same input.
TEST(QueryEscapeTest, MatchesGo) {
  EXPECT_EQ(QueryEscape("nginx_connections_active{job=\"nginx\"} >= 100"),
            "nginx_connections_active%7Bjob%3D%22nginx%22%7D+%3E%3D+100");
  EXPECT_EQ(QueryEscape("a~b.c-d_e09AZ"), "a~b.c-d_e09AZ");
  EXPECT_EQ(QueryEscape("a/b?c&d=e+f%"), "a%2Fb%3Fc%26d%3De%2Bf%25");
  EXPECT_EQ(QueryEscape(""), "");
  // Bytes of multi-byte UTF-8 and control characters are escaped one by one.
  EXPECT_EQ(QueryEscape("\xc3\xa9\n\x7f"), "%C3%A9%0A%7F");
  EXPECT_EQ(QueryEscape(absl::string_view("\0x", 2)), "%00x");
}

}  // namespace
}  // namespace vigil::net
