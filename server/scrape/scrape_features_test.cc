// prometheus.yml scrape features end to end, against Prometheus 2.42's
// behaviour: proxy_url, follow_redirects, target_limit through the scrape
// manager; OpenMetrics exemplars and `# EOF`, sample and label limits,
// body_size_limit and honor_timestamps through a scrape loop, with the
// `up` and scrape_samples_* series they leave.
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/internal/test_proxy.h"
#include "server/config/config.h"
#include "server/scrape/internal/fake_appendable.h"
#include "server/scrape/internal/test_exporter.h"
#include "server/scrape/manager.h"
#include "server/scrape/scrape_loop.h"
#include "tsdb/sample.h"

namespace vigil::scrape {
namespace {

using testing::FakeAppendable;
using ::testing::HasSubstr;
using testing::TestExporter;

config::Config Parse(const std::string& yaml) {
  absl::StatusOr<config::Config> c = config::ParseConfig(yaml, "test.yml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : config::Config{};
}

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

std::vector<discovery::TargetGroup> Targets(const std::vector<int>& ports) {
  discovery::TargetGroup g;
  g.source = "0";
  for (int port : ports) {
    g.targets.push_back(L({{"__address__", absl::StrCat("127.0.0.1:", port)}}));
  }
  return {g};
}

// Waits until every active target of `sm` has been scraped at least once
// and returns them.
std::vector<TargetInfo> WaitScraped(const ScrapeManager& sm, size_t n) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::vector<TargetInfo> ts;
  while (absl::Now() < deadline) {
    ts = sm.ActiveTargets();
    bool all = ts.size() == n;
    for (const TargetInfo& t : ts) {
      all = all && t.status.health != TargetHealth::kUnknown;
    }
    if (all) return ts;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ADD_FAILURE() << "targets not scraped in time";
  return ts;
}

std::string Job(const std::string& extra) {
  return absl::StrCat(R"(
scrape_configs:
- job_name: app
  scrape_interval: 100ms
  scrape_timeout: 100ms
)",
                      extra);
}

TEST(ScrapeFeaturesTest, ProxyUrlCarriesScrapesAndAuth) {
  std::string seen_auth;
  std::string seen_target;
  std::mutex mu;
  TestExporter exporter([&](const TestExporter::Request& r) {
    std::lock_guard<std::mutex> l(mu);
    seen_auth = r.Header("authorization");
    seen_target = r.target;
    return TestExporter::Ok("m 1\n");
  });
  net::testing::TestProxy proxy;
  FakeAppendable db;
  ScrapeManager sm(&db);
  ASSERT_TRUE(
      sm.ApplyConfig(Parse(Job(absl::StrCat(
                         "  proxy_url: http://u:p@127.0.0.1:", proxy.port(),
                         "\n  bearer_token: tok\n  params:\n    "
                         "module: [x]\n"))))
          .ok());
  sm.Sync("app", Targets({exporter.port()}));
  std::vector<TargetInfo> ts = WaitScraped(sm, 1);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].status.health, TargetHealth::kUp) << ts[0].status.last_error;
  sm.Stop();
  ASSERT_FALSE(proxy.request_lines().empty());
  EXPECT_EQ(proxy.request_lines()[0],
            absl::StrCat("GET http://127.0.0.1:", exporter.port(),
                         "/metrics?module=x HTTP/1.1"));
  EXPECT_EQ(proxy.authorizations()[0], "Basic dTpw");
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(seen_auth, "Bearer tok");
  EXPECT_EQ(seen_target, "/metrics?module=x");
}

TEST(ScrapeFeaturesTest, OAuth2TokenIsFetchedAndSent) {
  std::mutex mu;
  std::vector<std::string> seen_auth;
  int token_requests = 0;
  TestExporter exporter([&](const TestExporter::Request& r) {
    std::lock_guard<std::mutex> l(mu);
    if (r.target == "/token") {
      ++token_requests;
      return TestExporter::Ok(
          R"({"access_token":"abc","token_type":"bearer","expires_in":3600})",
          "application/json");
    }
    seen_auth.push_back(r.Header("authorization"));
    return TestExporter::Ok("m 1\n");
  });
  FakeAppendable db;
  ScrapeManager sm(&db);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Job(absl::StrCat(
                                 "  oauth2:\n    client_id: id\n    "
                                 "client_secret: secret\n    token_url: ",
                                 exporter.url("/token"), "\n"))))
                  .ok());
  sm.Sync("app", Targets({exporter.port()}));
  std::vector<TargetInfo> ts = WaitScraped(sm, 1);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].status.health, TargetHealth::kUp) << ts[0].status.last_error;
  sm.Stop();
  std::lock_guard<std::mutex> l(mu);
  ASSERT_FALSE(seen_auth.empty());
  EXPECT_EQ(seen_auth[0], "Bearer abc");
  EXPECT_EQ(token_requests, 1);
}

TEST(ScrapeFeaturesTest, RedirectsFollowedUnlessDisabled) {
  TestExporter exporter([&](const TestExporter::Request& r) {
    if (r.target == "/metrics") {
      TestExporter::Reply reply;
      reply.bytes =
          "HTTP/1.1 302 Found\r\nLocation: /real/metrics\r\n"
          "Content-Length: 0\r\n\r\n";
      return reply;
    }
    return TestExporter::Ok("m 1\n");
  });
  for (bool follow : {true, false}) {
    FakeAppendable db;
    ScrapeManager sm(&db);
    ASSERT_TRUE(sm.ApplyConfig(Parse(Job(follow ? ""
                                                : "  follow_redirects: "
                                                  "false\n")))
                    .ok());
    sm.Sync("app", Targets({exporter.port()}));
    std::vector<TargetInfo> ts = WaitScraped(sm, 1);
    ASSERT_EQ(ts.size(), 1u);
    if (follow) {
      EXPECT_EQ(ts[0].status.health, TargetHealth::kUp)
          << ts[0].status.last_error;
    } else {
      EXPECT_EQ(ts[0].status.health, TargetHealth::kDown);
      EXPECT_EQ(ts[0].status.last_error,
                "server returned HTTP status 302 Found");
    }
    sm.Stop();
  }
}

TEST(ScrapeFeaturesTest, TargetLimitFailsEveryTargetOfTheJob) {
  TestExporter a(
      [](const TestExporter::Request&) { return TestExporter::Ok("m 1\n"); });
  TestExporter b(
      [](const TestExporter::Request&) { return TestExporter::Ok("m 1\n"); });
  TestExporter c(
      [](const TestExporter::Request&) { return TestExporter::Ok("m 1\n"); });
  FakeAppendable db;
  ScrapeManager sm(&db);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Job("  target_limit: 2\n"))).ok());
  sm.Sync("app", Targets({a.port(), b.port(), c.port()}));
  std::vector<TargetInfo> ts = WaitScraped(sm, 3);
  for (const TargetInfo& t : ts) {
    EXPECT_EQ(t.status.health, TargetHealth::kDown);
    EXPECT_EQ(t.status.last_error,
              "target_limit exceeded (number of targets: 3, limit: 2)");
  }
  EXPECT_EQ(a.requests() + b.requests() + c.requests(), 0);
  const std::string up_a =
      absl::StrCat("up{instance=\"127.0.0.1:", a.port(), "\", job=\"app\"}");
  ASSERT_FALSE(db.Samples(up_a).empty());
  EXPECT_EQ(db.Samples(up_a).back().v, 0.0);

  // Back within the limit: the remaining targets are scraped again.
  sm.Sync("app", Targets({a.port(), b.port()}));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline &&
         (a.requests() == 0 || b.requests() == 0 ||
          sm.ActiveTargets()[0].status.health != TargetHealth::kUp)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ts = sm.ActiveTargets();
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[0].status.health, TargetHealth::kUp) << ts[0].status.last_error;
  EXPECT_GT(a.requests(), 0);
  sm.Stop();
}

// ---------------------------------------------------------------------------
// One scrape loop against a test exporter, scraped on demand.

class LoopTest : public ::testing::Test {
 protected:
  LoopTest()
      : exporter_([this](const TestExporter::Request&) {
          std::lock_guard<std::mutex> l(mu_);
          return reply_;
        }) {}

  void Reply(TestExporter::Reply r) {
    std::lock_guard<std::mutex> l(mu_);
    reply_ = std::move(r);
  }

  std::unique_ptr<ScrapeLoop> Loop(ScrapeOptions o) {
    o.interval = absl::Seconds(15);
    o.timeout = absl::Seconds(5);
    auto scraper = std::make_unique<HttpScraper>(
        exporter_.url("/metrics"),
        AcceptHeader(config::DefaultScrapeProtocols()), o.body_size_limit,
        std::vector<std::pair<std::string, std::string>>{});
    return std::make_unique<ScrapeLoop>(&db_, std::move(scraper),
                                        L({{"instance", "t"}, {"job", "j"}}),
                                        std::move(o));
  }

  // The last value of a report series ("up", "scrape_samples_scraped").
  double Last(const std::string& name) {
    std::vector<tsdb::Sample> s =
        db_.Samples(absl::StrCat(name, "{instance=\"t\", job=\"j\"}"));
    return s.empty() ? -1 : s.back().v;
  }

  std::mutex mu_;
  TestExporter::Reply reply_;
  TestExporter exporter_;
  FakeAppendable db_;
  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
};

constexpr char kOpenMetrics[] =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

TEST_F(LoopTest, OpenMetricsExemplarsAreSkipped) {
  Reply(TestExporter::Ok(
      "# TYPE http_requests counter\n"
      "http_requests_total{code=\"200\"} 10 # {trace_id=\"abc\"} 1.0 "
      "1700000000.5\n"
      "# TYPE latency histogram\n"
      "latency_bucket{le=\"0.1\"} 3 # {trace_id=\"def\"} 0.05\n"
      "latency_bucket{le=\"+Inf\"} 4\n"
      "latency_count 4\nlatency_sum 0.3\n"
      "# EOF\n",
      kOpenMetrics));
  std::unique_ptr<ScrapeLoop> loop = Loop({});
  absl::Status s = loop->ScrapeOnce(t0_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Last("up"), 1);
  EXPECT_EQ(Last("scrape_samples_scraped"), 5);
  std::vector<tsdb::Sample> v = db_.Samples(
      "http_requests_total{code=\"200\", instance=\"t\", job=\"j\"}");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].v, 10);
}

TEST_F(LoopTest, OpenMetricsWithoutEofFails) {
  Reply(TestExporter::Ok("# TYPE a gauge\na 1\n", kOpenMetrics));
  std::unique_ptr<ScrapeLoop> loop = Loop({});
  absl::Status s = loop->ScrapeOnce(t0_);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("# EOF"));
  EXPECT_EQ(Last("up"), 0);
  EXPECT_TRUE(db_.Samples("a{instance=\"t\", job=\"j\"}").empty());
  // Anything after # EOF is an error too.
  Reply(TestExporter::Ok("a 1\n# EOF\nb 2\n", kOpenMetrics));
  EXPECT_FALSE(loop->ScrapeOnce(t0_ + absl::Seconds(15)).ok());
  EXPECT_EQ(Last("up"), 0);
}

TEST_F(LoopTest, SampleLimitFailsTheScrapeAndReportsTheCount) {
  Reply(TestExporter::Ok("a 1\nb 2\nc 3\n"));
  ScrapeOptions o;
  o.sample_limit = 2;
  std::unique_ptr<ScrapeLoop> loop = Loop(o);
  absl::Status s = loop->ScrapeOnce(t0_);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("sample limit exceeded"));
  EXPECT_EQ(Last("up"), 0);
  EXPECT_EQ(Last("scrape_samples_scraped"), 3);
  EXPECT_TRUE(db_.Samples("a{instance=\"t\", job=\"j\"}").empty());
  EXPECT_EQ(loop->counters().sample_limit_exceeded.load(), 1u);
  // Within the limit again: up.
  Reply(TestExporter::Ok("a 1\nb 2\n"));
  ASSERT_TRUE(loop->ScrapeOnce(t0_ + absl::Seconds(15)).ok());
  EXPECT_EQ(Last("up"), 1);
  EXPECT_EQ(Last("scrape_samples_scraped"), 2);
}

TEST_F(LoopTest, LabelLimits) {
  struct Case {
    const char* body;
    ScrapeOptions options;
    const char* error;
  };
  ScrapeOptions count, name, value;
  count.label_limit = 2;  // __name__, job and instance count too
  name.label_name_length_limit = 5;
  value.label_value_length_limit = 3;
  const Case cases[] = {
      {"m{a=\"1\"} 1\n", count,
       "label_limit exceeded (metric: m, number of "
       "labels: 4, limit: 2)"},
      {"m{longname=\"1\"} 1\n", name, "label_name_length_limit exceeded"},
      {"m{a=\"long\"} 1\n", value, "label_value_length_limit exceeded"},
  };
  for (const Case& c : cases) {
    Reply(TestExporter::Ok(c.body));
    std::unique_ptr<ScrapeLoop> loop = Loop(c.options);
    absl::Status s = loop->ScrapeOnce(t0_);
    EXPECT_FALSE(s.ok()) << c.body;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.error));
    EXPECT_EQ(Last("up"), 0) << c.body;
  }
}

TEST_F(LoopTest, BodySizeLimit) {
  Reply(TestExporter::Ok(std::string(2000, '#') + "\nm 1\n"));
  ScrapeOptions o;
  o.body_size_limit = 1000;
  std::unique_ptr<ScrapeLoop> loop = Loop(o);
  absl::Status s = loop->ScrapeOnce(t0_);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("body size limit exceeded"));
  EXPECT_EQ(Last("up"), 0);
}

TEST_F(LoopTest, HonorLabels) {
  Reply(TestExporter::Ok("m{job=\"other\"} 1\n"));
  for (bool honor : {false, true}) {
    ScrapeOptions o;
    o.honor_labels = honor;
    std::unique_ptr<ScrapeLoop> loop = Loop(o);
    ASSERT_TRUE(loop->ScrapeOnce(t0_ + absl::Seconds(honor ? 15 : 0)).ok());
  }
  // Without honor_labels the target's labels win and the exposed ones
  // become exported_*; with it the exposed job wins and the target adds
  // what the exposition lacks.
  EXPECT_EQ(db_.Samples("m{exported_job=\"other\", instance=\"t\", job=\"j\"}")
                .size(),
            1u);
  EXPECT_EQ(db_.Samples("m{instance=\"t\", job=\"other\"}").size(), 1u);
}

TEST_F(LoopTest, HonorTimestamps) {
  Reply(TestExporter::Ok("m 1 1600000000000\n"));
  for (bool honor : {true, false}) {
    ScrapeOptions o;
    o.honor_timestamps = honor;
    std::unique_ptr<ScrapeLoop> loop = Loop(o);
    ASSERT_TRUE(loop->ScrapeOnce(t0_ + absl::Seconds(honor ? 0 : 30)).ok());
  }
  std::vector<tsdb::Sample> v = db_.Samples("m{instance=\"t\", job=\"j\"}");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].t, 1600000000000);
  EXPECT_EQ(v[1].t, absl::ToUnixMillis(t0_ + absl::Seconds(30)));
}

}  // namespace
}  // namespace vigil::scrape
