// A blocking HTTP/1.1 client for tests: one request per call on a fresh
// connection to 127.0.0.1.
//
//   TestResponse r = HttpGet(port, "/api/v1/query?query=up");
//   EXPECT_EQ(r.status, 200);
#ifndef VIGIL_SERVER_HTTP_TEST_CLIENT_H_
#define VIGIL_SERVER_HTTP_TEST_CLIENT_H_

#include <string>

namespace vigil::server::http {

struct TestResponse {
  int status = 0;  // 0 when the connection failed
  std::string content_type;
  std::string body;
};

TestResponse HttpGet(int port, const std::string& target);
// POST with a body and a content type (form-encoded by default).
TestResponse HttpPost(
    int port, const std::string& target, const std::string& body,
    const std::string& content_type = "application/x-www-form-urlencoded");

}  // namespace vigil::server::http

#endif  // VIGIL_SERVER_HTTP_TEST_CLIENT_H_
