// ClientOptionsFromConfig, and LoadConfigFile's tls_config file checks.
#include "server/config/client_options.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/internal/test_server.h"

namespace vigil::config {
namespace {

using ::testing::HasSubstr;

TEST(ClientOptionsTest, MapsTlsAndAuth) {
  absl::StatusOr<Config> c = ParseConfig(R"(
scrape_configs:
  - job_name: kubelet
    scheme: https
    bearer_token_file: /var/run/token
    tls_config:
      ca_file: /etc/ca.pem
      server_name: kubelet.local
      insecure_skip_verify: true
      min_version: TLS13
    static_configs: [{targets: ["10.0.0.1:10250"]}]
  - job_name: basic
    basic_auth: {username: u, password: p}
    static_configs: [{targets: ["h:1"]}]
  - job_name: authz
    authorization: {type: Token, credentials: abc}
    static_configs: [{targets: ["h:1"]}]
)",
                                         "prometheus.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  net::ClientOptions k = ClientOptionsFromConfig(c->scrape_configs[0]);
  EXPECT_EQ(k.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(k.tls.server_name, "kubelet.local");
  EXPECT_TRUE(k.tls.insecure_skip_verify);
  EXPECT_EQ(k.tls.min_version, "TLS13");
  EXPECT_EQ(k.auth.type, "Bearer");
  EXPECT_EQ(k.auth.credentials_file, "/var/run/token");
  net::ClientOptions b = ClientOptionsFromConfig(c->scrape_configs[1]);
  EXPECT_EQ(b.auth.username, "u");
  EXPECT_EQ(b.auth.password, "p");
  EXPECT_TRUE(b.auth.credentials.empty());
  net::ClientOptions a = ClientOptionsFromConfig(c->scrape_configs[2]);
  EXPECT_EQ(a.auth.type, "Token");
  EXPECT_EQ(a.auth.credentials, "abc");
}

class LoadTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<net::testing::TestCerts> c =
        net::testing::GenerateTestCerts(net::testing::TestTmpDir());
    if (!c.ok()) GTEST_SKIP() << c.status();
    certs_ = *c;
  }
  std::string Write(const std::string& yaml) {
    std::string path = net::testing::TestTmpDir() + "/prometheus.yml";
    std::ofstream(path) << yaml;
    return path;
  }
  net::testing::TestCerts certs_;
};

TEST_F(LoadTlsTest, GoodFilesLoad) {
  std::string path = Write(absl::StrCat(R"(
scrape_configs:
  - job_name: secure
    scheme: https
    tls_config:
      ca_file: )",
                                        certs_.ca_cert, R"(
      cert_file: )",
                                        certs_.client_cert, R"(
      key_file: )",
                                        certs_.client_key, R"(
    static_configs: [{targets: ["127.0.0.1:1"]}]
)"));
  absl::StatusOr<Config> c = LoadConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scrape_configs[0].tls_config.ca_file, certs_.ca_cert);
}

TEST_F(LoadTlsTest, BadFilesNameSectionFieldAndFile) {
  std::string path = Write(absl::StrCat(R"(
scrape_configs:
  - job_name: secure
    tls_config:
      ca_file: )",
                                        certs_.client_key, R"(
    static_configs: [{targets: ["127.0.0.1:1"]}]
)"));
  absl::StatusOr<Config> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("scrape_configs job \"secure\""));
  EXPECT_THAT(msg, HasSubstr(absl::StrCat("ca_file \"", certs_.client_key)));

  path = Write(R"(
alerting:
  alertmanagers:
    - tls_config: {ca_file: /nonexistent/ca.pem}
      static_configs: [{targets: ["127.0.0.1:9093"]}]
)");
  c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("alerting.alertmanagers[0]: tls_config ca_file "
                        "\"/nonexistent/ca.pem\""));

  path = Write(absl::StrCat(R"(
remote_write:
  - url: https://rw.example/api/v1/write
    tls_config:
      cert_file: )",
                            certs_.client_cert, R"(
      key_file: )",
                            certs_.other_key, "\n"));
  c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("remote_write \"https://rw.example/api/v1/write\""));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("does not match"));
}

}  // namespace
}  // namespace vigil::config
