#include "net/oauth2.h"

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/http_client.h"
#include "net/internal/test_server.h"

namespace vigil::net {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;

// A token endpoint and a resource server that records the Authorization
// headers it gets.
class OAuth2Test : public ::testing::Test {
 protected:
  OAuth2Test()
      : token_srv_({},
                   [this](const TestServer::Request& r) {
                     absl::MutexLock l(&mu_);
                     token_requests_.push_back(r);
                     return token_reply_(r);
                   }),
        resource_({}, [this](const TestServer::Request& r) {
          absl::MutexLock l(&mu_);
          resource_auth_.push_back(r.Header("authorization"));
          TestServer::Reply reply;
          reply.body = "up 1\n";
          return reply;
        }) {}

  static TestServer::Reply Json(int status, const std::string& body) {
    TestServer::Reply r;
    r.status = status;
    r.body = body;
    r.headers = {{"Content-Type", "application/json"}};
    return r;
  }

  ClientOptions Options() {
    OAuth2Options o;
    o.client_id = "my id";
    o.client_secret = "s3cret";
    o.scopes = {"read", "write"};
    o.token_url = token_srv_.url("/token");
    o.endpoint_params = {{"audience", "vigil"}};
    ClientOptions c;
    c.oauth2 = o;
    return c;
  }

  absl::Status Get(HttpClient* c) {
    Request req;
    req.url = resource_.url("/metrics");
    Response resp;
    return c->Do(req, &resp);
  }

  void SetTokenReply(
      std::function<TestServer::Reply(const TestServer::Request&)> f) {
    absl::MutexLock l(&mu_);
    token_reply_ = std::move(f);
  }

  absl::Mutex mu_;
  std::function<TestServer::Reply(const TestServer::Request&)> token_reply_ =
      [](const TestServer::Request&) {
        return Json(200, R"({"access_token":"tok-1","token_type":"bearer",)"
                         R"("expires_in":3600})");
      };
  std::vector<TestServer::Request> token_requests_;
  std::vector<std::string> resource_auth_;
  TestServer token_srv_;
  TestServer resource_;
};

TEST_F(OAuth2Test, TokenIsFetchedOnceAndSentAsBearer) {
  std::shared_ptr<HttpClient> c = *HttpClient::Create(Options());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Get(c.get()).ok());
  absl::MutexLock l(&mu_);
  ASSERT_EQ(token_requests_.size(), 1u);
  const TestServer::Request& t = token_requests_[0];
  EXPECT_EQ(t.method, "POST");
  EXPECT_EQ(t.Header("content-type"), "application/x-www-form-urlencoded");
  // Go's header style: both parts query-escaped, then Basic.
  EXPECT_EQ(t.Header("authorization"),
            absl::StrCat("Basic ", absl::Base64Escape("my+id:s3cret")));
  EXPECT_EQ(t.body,
            "audience=vigil&grant_type=client_credentials&scope=read+write");
  EXPECT_EQ(resource_auth_, std::vector<std::string>(3, "Bearer tok-1"));
}

TEST_F(OAuth2Test, CredentialsGoInTheBodyWhenTheHeaderIsRefused) {
  SetTokenReply([](const TestServer::Request& r) {
    if (!r.Header("authorization").empty()) {
      return Json(401, R"({"error":"invalid_client"})");
    }
    // expires within the 10 s margin: every request fetches again.
    return Json(200, R"({"access_token":"tok-2","expires_in":"5"})");
  });
  std::shared_ptr<HttpClient> c = *HttpClient::Create(Options());
  ASSERT_TRUE(Get(c.get()).ok());
  ASSERT_TRUE(Get(c.get()).ok());
  absl::MutexLock l(&mu_);
  // header (refused), body; then the body style straight away.
  ASSERT_EQ(token_requests_.size(), 3u);
  EXPECT_THAT(token_requests_[1].body, HasSubstr("client_id=my+id"));
  EXPECT_THAT(token_requests_[1].body, HasSubstr("client_secret=s3cret"));
  EXPECT_EQ(token_requests_[2].Header("authorization"), "");
  EXPECT_EQ(resource_auth_, std::vector<std::string>(2, "Bearer tok-2"));
}

TEST_F(OAuth2Test, TokenErrorsNameStatusBodyAndRequest) {
  SetTokenReply([](const TestServer::Request&) {
    return Json(400, R"({"error":"invalid_scope"})");
  });
  std::shared_ptr<HttpClient> c = *HttpClient::Create(Options());
  absl::Status s = Get(c.get());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("Get \"", resource_.url("/metrics"),
                                     "\": oauth2: cannot fetch token: 400 "
                                     "Bad Request\nResponse: "
                                     "{\"error\":\"invalid_scope\"}")));
  {
    absl::MutexLock l(&mu_);
    EXPECT_TRUE(resource_auth_.empty());
  }
  SetTokenReply([](const TestServer::Request&) {
    return Json(200, R"({"token_type":"bearer"})");
  });
  s = Get(c.get());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("oauth2: server response missing access_token"));
}

TEST_F(OAuth2Test, ChangedSecretFileFetchesANewToken) {
  const std::string file = testing::TestTmpDir() + "/oauth2_secret";
  std::ofstream(file) << "first\n";
  ClientOptions o = Options();
  o.oauth2->client_secret.clear();
  o.oauth2->client_secret_file = file;
  std::shared_ptr<HttpClient> c = *HttpClient::Create(o);
  ASSERT_TRUE(Get(c.get()).ok());
  ASSERT_TRUE(Get(c.get()).ok());
  std::ofstream(file) << "second\n";
  ASSERT_TRUE(Get(c.get()).ok());
  absl::MutexLock l(&mu_);
  ASSERT_EQ(token_requests_.size(), 2u);
  EXPECT_EQ(token_requests_[1].Header("authorization"),
            absl::StrCat("Basic ", absl::Base64Escape("my+id:second")));
}

TEST_F(OAuth2Test, FormEncodedTokenResponse) {
  SetTokenReply([](const TestServer::Request&) {
    TestServer::Reply r;
    r.body = "access_token=a%2Bb&token_type=mac&expires_in=3600";
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    return r;
  });
  std::shared_ptr<HttpClient> c = *HttpClient::Create(Options());
  ASSERT_TRUE(Get(c.get()).ok());
  absl::MutexLock l(&mu_);
  EXPECT_EQ(resource_auth_, std::vector<std::string>{"MAC a+b"});
}

}  // namespace
}  // namespace vigil::net
