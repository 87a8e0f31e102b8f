// End to end over TLS: a ScrapeManager configured from prometheus.yml with
// `scheme: https` and a tls_config scrapes a local https exporter (with a
// client certificate required), and a job without the CA reports the
// certificate error on its target.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/internal/test_server.h"
#include "server/scrape/internal/fake_appendable.h"
#include "server/scrape/manager.h"

namespace vigil::scrape {
namespace {

using testing::FakeAppendable;
using ::testing::HasSubstr;

class HttpsScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<net::testing::TestCerts> c =
        net::testing::GenerateTestCerts(net::testing::TestTmpDir());
    if (!c.ok()) GTEST_SKIP() << c.status();
    certs_ = *c;
  }

  std::vector<discovery::TargetGroup> Group(int port) {
    discovery::TargetGroup g;
    g.source = "0";
    g.targets.push_back(*tsdb::Labels::FromPairs(
        {{"__address__", absl::StrCat("127.0.0.1:", port)}}));
    return {g};
  }

  // Waits until the job's only target has health `want`.
  TargetInfo WaitHealth(const ScrapeManager& sm, const std::string& job,
                        TargetHealth want) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    TargetInfo last;
    while (absl::Now() < deadline) {
      for (const TargetInfo& t : sm.ActiveTargets()) {
        if (t.scrape_pool != job) continue;
        last = t;
        if (t.status.health == want) return t;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << job << " never became " << TargetHealthName(want)
                  << "; last error: " << last.status.last_error;
    return last;
  }

  net::testing::TestCerts certs_;
  FakeAppendable db_;
};

TEST_F(HttpsScrapeTest, ScrapesHttpsTargetWithTlsConfig) {
  net::testing::TestServer::Options so;
  so.tls = true;
  so.cert_file = certs_.server_cert;
  so.key_file = certs_.server_key;
  so.client_ca_file = certs_.ca_cert;  // mutual TLS, as kubelets do
  net::testing::TestServer srv(
      so, [](const net::testing::TestServer::Request& r) {
        net::testing::TestServer::Reply reply;
        reply.body = r.target == "/metrics" ? "tls_metric{a=\"b\"} 42\n" : "";
        reply.status = r.target == "/metrics" ? 200 : 404;
        reply.headers = {{"Content-Type", "text/plain; version=0.0.4"}};
        return reply;
      });
  absl::StatusOr<config::Config> cfg = config::ParseConfig(
      absl::StrCat(R"(
scrape_configs:
  - job_name: secure
    scheme: https
    scrape_interval: 100ms
    scrape_timeout: 90ms
    tls_config:
      ca_file: )",
                   certs_.ca_cert, "\n      cert_file: ", certs_.client_cert,
                   "\n      key_file: ", certs_.client_key, R"(
  - job_name: no_ca
    scheme: https
    scrape_interval: 100ms
    scrape_timeout: 90ms
)"),
      "prometheus.yml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(*cfg).ok());
  sm.Sync("secure", Group(srv.port()));
  sm.Sync("no_ca", Group(srv.port()));

  TargetInfo ok = WaitHealth(sm, "secure", TargetHealth::kUp);
  EXPECT_EQ(ok.scrape_url, srv.url("/metrics"));
  std::string series =
      absl::StrCat("tls_metric{a=\"b\", instance=\"127.0.0.1:", srv.port(),
                   "\", job=\"secure\"}");
  std::vector<tsdb::Sample> s = db_.Samples(series);
  ASSERT_FALSE(s.empty()) << series;
  EXPECT_EQ(s[0].v, 42);

  TargetInfo bad = WaitHealth(sm, "no_ca", TargetHealth::kDown);
  EXPECT_THAT(bad.status.last_error, HasSubstr("failed to verify certificate"));
  EXPECT_THAT(bad.status.last_error, HasSubstr(srv.url("/metrics")));
  sm.Stop();
}

TEST_F(HttpsScrapeTest, ApplyConfigRejectsUnreadableTlsFiles) {
  absl::StatusOr<config::Config> cfg = config::ParseConfig(R"(
scrape_configs:
  - job_name: broken
    scheme: https
    tls_config:
      ca_file: /nonexistent/ca.pem
)",
                                                           "prometheus.yml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ScrapeManager sm(&db_);
  absl::Status st = sm.ApplyConfig(*cfg);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("job \"broken\""));
  EXPECT_THAT(std::string(st.message()), HasSubstr("/nonexistent/ca.pem"));
}

}  // namespace
}  // namespace vigil::scrape
