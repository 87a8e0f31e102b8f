// The scrape_config fields users bring from Prometheus 2.42's
// prometheus.yml: what each parses to, its default, and how errors name
// file, line and place.
#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/client_options.h"
#include "server/config/config.h"

namespace vigil::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Config MustParse(absl::string_view yaml) {
  absl::StatusOr<Config> c = ParseConfig(yaml, "prometheus.yml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : Config();
}

std::string ParseError(absl::string_view yaml) {
  absl::StatusOr<Config> c = ParseConfig(yaml, "prometheus.yml");
  EXPECT_FALSE(c.ok()) << "parsed unexpectedly:\n" << yaml;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(ScrapeConfigTest, Defaults) {
  Config c = MustParse("scrape_configs:\n- job_name: a\n");
  const ScrapeConfig& sc = c.scrape_configs[0];
  EXPECT_EQ(sc.metrics_path, "/metrics");
  EXPECT_EQ(sc.scheme, "http");
  EXPECT_TRUE(sc.params.empty());
  EXPECT_FALSE(sc.honor_labels);
  EXPECT_TRUE(sc.honor_timestamps);
  EXPECT_TRUE(sc.follow_redirects);
  EXPECT_TRUE(sc.enable_http2);
  EXPECT_EQ(sc.proxy_url, "");
  EXPECT_EQ(sc.scrape_interval, absl::Minutes(1));
  EXPECT_EQ(sc.scrape_timeout, absl::Seconds(10));
  net::ClientOptions o = ClientOptionsFromConfig(sc);
  EXPECT_TRUE(o.follow_redirects);
  EXPECT_EQ(o.proxy_url, "");
}

TEST(ScrapeConfigTest, EveryHttpAndScrapeFieldParses) {
  Config c = MustParse(R"(
scrape_configs:
- job_name: blackbox
  scrape_interval: 30s
  scrape_timeout: 30s
  metrics_path: /probe
  scheme: https
  params:
    module: [http_2xx]
    target: [a.example, b.example]
  honor_labels: true
  honor_timestamps: false
  proxy_url: http://user:pw@proxy.internal:3128
  follow_redirects: false
  enable_http2: false
  basic_auth:
    username: prom
    password_file: secret.txt
  sample_limit: 100
  label_limit: 30
  label_name_length_limit: 64
  label_value_length_limit: 256
  body_size_limit: 10MB
  target_limit: 5
)");
  const ScrapeConfig& sc = c.scrape_configs[0];
  EXPECT_EQ(sc.scrape_interval, absl::Seconds(30));
  EXPECT_EQ(sc.scrape_timeout, absl::Seconds(30));  // equal is allowed
  EXPECT_EQ(sc.metrics_path, "/probe");
  EXPECT_EQ(sc.scheme, "https");
  EXPECT_THAT(sc.params.at("module"), ElementsAre("http_2xx"));
  EXPECT_THAT(sc.params.at("target"), ElementsAre("a.example", "b.example"));
  EXPECT_TRUE(sc.honor_labels);
  EXPECT_FALSE(sc.honor_timestamps);
  EXPECT_FALSE(sc.follow_redirects);
  EXPECT_FALSE(sc.enable_http2);
  EXPECT_EQ(sc.sample_limit, 100u);
  EXPECT_EQ(sc.label_limit, 30u);
  EXPECT_EQ(sc.label_name_length_limit, 64u);
  EXPECT_EQ(sc.label_value_length_limit, 256u);
  EXPECT_EQ(sc.body_size_limit, 10 << 20);
  EXPECT_EQ(sc.target_limit, 5u);

  net::ClientOptions o = ClientOptionsFromConfig(sc);
  EXPECT_EQ(o.proxy_url, "http://user:pw@proxy.internal:3128");
  EXPECT_FALSE(o.follow_redirects);
  EXPECT_EQ(o.auth.username, "prom");
  EXPECT_EQ(o.auth.password_file, "secret.txt");
}

TEST(ScrapeConfigTest, ShownWithTheProxyPasswordRedacted) {
  // What Prometheus 2.42 shows on /api/v1/status/config for this job.
  Config c = MustParse(R"(
scrape_configs:
- job_name: a
  proxy_url: http://user:pw@proxy.internal:3128/
  follow_redirects: false
  enable_http2: false
)");
  EXPECT_THAT(ConfigToYaml(c),
              HasSubstr("  scheme: http\n"
                        "  proxy_url: http://user:xxxxx@proxy.internal:3128/\n"
                        "  follow_redirects: false\n"
                        "  enable_http2: false\n"));
}

TEST(ScrapeConfigTest, ProxyAndRedirectsReachRemoteWriteAndAlertmanagers) {
  Config c = MustParse(R"(
alerting:
  alertmanagers:
  - proxy_url: http://proxy:3128
    follow_redirects: false
remote_write:
- url: https://rw.example/api/v1/write
  proxy_url: http://proxy:3128
)");
  net::ClientOptions am = ClientOptionsFromConfig(c.alerting.alertmanagers[0]);
  EXPECT_EQ(am.proxy_url, "http://proxy:3128");
  EXPECT_FALSE(am.follow_redirects);
  net::ClientOptions rw = ClientOptionsFromConfig(c.remote_write[0]);
  EXPECT_EQ(rw.proxy_url, "http://proxy:3128");
  EXPECT_TRUE(rw.follow_redirects);
}

TEST(ScrapeConfigTest, TimeoutAboveIntervalIsRejectedNamingTheJob) {
  EXPECT_EQ(ParseError(R"(scrape_configs:
- job_name: slow
  scrape_interval: 10s
  scrape_timeout: 15s
)"),
            "prometheus.yml:2: scrape_configs[0]: scrape timeout 15s greater "
            "than scrape interval 10s for scrape config with job name "
            "\"slow\"");
  // An inherited global timeout is capped by the job's interval instead.
  Config c = MustParse(R"(
global:
  scrape_timeout: 20s
  scrape_interval: 1m
scrape_configs:
- job_name: fast
  scrape_interval: 5s
)");
  EXPECT_EQ(c.scrape_configs[0].scrape_timeout, absl::Seconds(5));
}

TEST(ScrapeConfigTest, ProxyErrorsNameTheLine) {
  EXPECT_EQ(ParseError(R"(scrape_configs:
- job_name: a
  proxy_url: socks5://127.0.0.1:1080
)"),
            "prometheus.yml:3: scrape_configs[0].proxy_url: unsupported "
            "proxy_url \"socks5://127.0.0.1:1080\": Vigil supports "
            "http://[user:password@]host:port proxies");
  EXPECT_EQ(ParseError(R"(scrape_configs:
- job_name: a
  proxy_url: proxy:3128
)"),
            "prometheus.yml:3: scrape_configs[0].proxy_url: invalid "
            "proxy_url \"proxy:3128\": missing scheme");
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  proxy_url: "
                         "https://proxy:3128\n"),
              HasSubstr("unsupported proxy_url"));
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  proxy_url: "
                         "http://:3128\n"),
              HasSubstr("unsupported proxy_url"));
}

TEST(ScrapeConfigTest, ProxyFieldsOfPrometheus243AreRejected) {
  for (const char* field :
       {"no_proxy: localhost", "proxy_from_environment: true",
        "proxy_connect_header: {X-Foo: [bar]}"}) {
    std::string yaml = absl::StrCat(
        "scrape_configs:\n- job_name: a\n  proxy_url: http://p:3128\n  ", field,
        "\n");
    std::string name =
        std::string(field).substr(0, std::string(field).find(':'));
    EXPECT_EQ(ParseError(yaml),
              absl::StrCat("prometheus.yml:4: scrape_configs[0].", name,
                           ": field ", name,
                           " is not supported: it was added in Prometheus "
                           "2.43 and Vigil follows 2.42's configuration (use "
                           "proxy_url)"));
  }
  // The same in the other HTTP client sections.
  EXPECT_THAT(ParseError("remote_write:\n- url: http://x/\n  no_proxy: a\n"),
              HasSubstr("prometheus.yml:3: remote_write[0].no_proxy"));
  EXPECT_THAT(ParseError("alerting:\n  alertmanagers:\n  - "
                         "proxy_from_environment: true\n"),
              HasSubstr("proxy_from_environment is not supported"));
}

TEST(ScrapeConfigTest, AuthConflictsAndUnsupportedAuth) {
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  authorization: "
                         "{credentials: x}\n  bearer_token: y\n"),
              HasSubstr("authorization is not compatible with bearer_token"));
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  authorization: "
                         "{credentials: x}\n  basic_auth: {username: u}\n"),
              HasSubstr("at most one of basic_auth, oauth2 & authorization"));
  // Prometheus 2.42's (common 0.39's) words for oauth2 mistakes.
  const struct {
    const char* oauth2;
    const char* error;
  } oauth2_cases[] = {
      {"client_id: x\n    token_url: http://t",
       "either oauth2 client_secret or client_secret_file must be "
       "configured"},
      {"client_secret: y\n    token_url: http://t",
       "oauth2 client_id must be configured"},
      {"client_id: x\n    client_secret: y",
       "oauth2 token_url must be configured"},
      {"client_id: x\n    client_secret: y\n    client_secret_file: f\n    "
       "token_url: http://t",
       "at most one of oauth2 client_secret & client_secret_file must be "
       "configured"},
      {"client_id: x\n    client_secret: y\n    token_url: http://t\n    "
       "scope: [a]",
       "prometheus.yml:7: unknown field \"scope\" in "
       "scrape_configs[0].oauth2"},
      {"client_id: x\n    client_secret: y\n    token_url: http://t\n    "
       "proxy_url: socks5://p:1",
       "prometheus.yml:7: scrape_configs[0].oauth2.proxy_url: unsupported"},
  };
  for (const auto& c : oauth2_cases) {
    EXPECT_THAT(ParseError(absl::StrCat("scrape_configs:\n- job_name: a\n  "
                                        "oauth2:\n    ",
                                        c.oauth2, "\n")),
                HasSubstr(c.error))
        << c.oauth2;
  }
  EXPECT_THAT(
      ParseError("scrape_configs:\n- job_name: a\n  basic_auth: {username: "
                 "u}\n  oauth2: {client_id: x, client_secret: y, token_url: "
                 "'http://t'}\n"),
      HasSubstr("at most one of basic_auth, oauth2 & authorization must be "
                "configured"));
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  bearer_token: b\n  "
                         "oauth2: {client_id: x, client_secret: y, token_url: "
                         "'http://t'}\n"),
              HasSubstr("at most one of basic_auth, oauth2, bearer_token & "
                        "bearer_token_file must be configured"));
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  enable_http2: "
                         "sometimes\n"),
              HasSubstr("prometheus.yml:3: scrape_configs[0].enable_http2: "
                        "invalid boolean \"sometimes\""));
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  "
                         "follow_redirects: [yes]\n"),
              HasSubstr("scrape_configs[0].follow_redirects: expected a "
                        "string, got a list"));
}

TEST(ScrapeConfigTest, OAuth2ParsesAndShowsAsPrometheus242) {
  Config c = MustParse(R"(scrape_configs:
- job_name: a
  oauth2:
    client_id: myid
    client_secret: mysecret
    scopes: [read, write]
    token_url: http://127.0.0.1:1/token
    endpoint_params:
      audience: x
- job_name: b
  oauth2:
    client_id: myid
    client_secret_file: /etc/secret
    token_url: http://127.0.0.1:1/token
    tls_config:
      insecure_skip_verify: true
    proxy_url: http://u:p@proxy:3128
)");
  net::ClientOptions o = ClientOptionsFromConfig(c.scrape_configs[0]);
  ASSERT_TRUE(o.oauth2.has_value());
  EXPECT_EQ(o.oauth2->client_id, "myid");
  EXPECT_EQ(o.oauth2->client_secret, "mysecret");
  EXPECT_THAT(o.oauth2->scopes, ElementsAre("read", "write"));
  EXPECT_EQ(o.oauth2->token_url, "http://127.0.0.1:1/token");
  EXPECT_EQ(o.oauth2->endpoint_params.at("audience"), "x");
  EXPECT_TRUE(o.auth.credentials.empty());
  o = ClientOptionsFromConfig(c.scrape_configs[1]);
  EXPECT_EQ(o.oauth2->client_secret_file, "/etc/secret");
  EXPECT_TRUE(o.oauth2->tls.insecure_skip_verify);
  EXPECT_EQ(o.oauth2->proxy_url, "http://u:p@proxy:3128");
  // Prometheus 2.42's /api/v1/status/config for the same file.
  const std::string yaml = ConfigToYaml(c);
  EXPECT_THAT(yaml, HasSubstr(R"(  scheme: http
  oauth2:
    client_id: myid
    client_secret: <secret>
    client_secret_file: ""
    scopes:
    - read
    - write
    token_url: http://127.0.0.1:1/token
    endpoint_params:
      audience: x
  follow_redirects: true
)"));
  EXPECT_THAT(yaml, HasSubstr(R"(  scheme: http
  oauth2:
    client_id: myid
    client_secret: null
    client_secret_file: /etc/secret
    token_url: http://127.0.0.1:1/token
    proxy_url: http://u:xxxxx@proxy:3128
    tls_config:
      insecure_skip_verify: true
  follow_redirects: true
)"));
}

TEST(ScrapeConfigTest, LoadChecksTheOAuth2TokenEndpointsTlsFiles) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  const std::string path = dir + "/oauth2_tls.yml";
  std::ofstream(path) << "scrape_configs:\n- job_name: a\n  oauth2:\n"
                         "    client_id: x\n    client_secret: y\n"
                         "    token_url: https://auth/token\n"
                         "    tls_config:\n      ca_file: missing-ca.pem\n";
  absl::StatusOr<Config> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("scrape_configs job \"a\" oauth2: tls_config ca_file "
                        "\"" +
                        dir + "/missing-ca.pem\""));
}

TEST(ScrapeConfigTest, BadParamsAndLimits) {
  EXPECT_THAT(ParseError("scrape_configs:\n- job_name: a\n  params: x\n"),
              HasSubstr("prometheus.yml:3: scrape_configs[0].params: expected "
                        "a mapping"));
  EXPECT_THAT(
      ParseError("scrape_configs:\n- job_name: a\n  params:\n    module: 3\n"),
      HasSubstr("scrape_configs[0].params.module: expected a list"));
  EXPECT_THAT(
      ParseError("scrape_configs:\n- job_name: a\n  target_limit: many\n"),
      HasSubstr("prometheus.yml:3: scrape_configs[0].target_limit: invalid "
                "unsigned integer \"many\""));
  EXPECT_THAT(
      ParseError("scrape_configs:\n- job_name: a\n  label_limit: -3\n"),
      HasSubstr("scrape_configs[0].label_limit: invalid unsigned integer"));
  EXPECT_THAT(
      ParseError("scrape_configs:\n- job_name: a\n  metrics_path: [a]\n"),
      HasSubstr("scrape_configs[0].metrics_path: expected a string"));
}

}  // namespace
}  // namespace vigil::config
