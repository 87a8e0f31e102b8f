#include "server/scrape/manager.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scrape/internal/fake_appendable.h"
#include "server/scrape/internal/test_exporter.h"
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

const char kJob[] = R"(
scrape_configs:
  - job_name: node
    scrape_interval: 15s
    scrape_timeout: 5s
    params:
      module: [http_2xx]
    relabel_configs:
      - source_labels: [__meta_kind]
        regex: skip
        action: drop
      - source_labels: [__meta_zone]
        target_label: zone
)";

TEST(PopulateTargetTest, DefaultsPortInstanceAndUrl) {
  config::Config c = Parse(kJob);
  const config::ScrapeConfig& sc = c.scrape_configs[0];
  absl::StatusOr<PopulatedTarget> t =
      PopulateTarget(sc, L({{"__address__", "host1"}, {"__meta_zone", "eu"}}),
                     L({{"team", "a"}}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->dropped);
  EXPECT_EQ(t->labels.ToString(),
            "{instance=\"host1:80\", job=\"node\", team=\"a\", zone=\"eu\"}");
  EXPECT_EQ(t->url, "http://host1:80/metrics?module=http_2xx");
  EXPECT_EQ(t->interval, absl::Seconds(15));
  EXPECT_EQ(t->timeout, absl::Seconds(5));
  EXPECT_EQ(t->discovered_labels.Get("__meta_zone"), "eu");
  EXPECT_EQ(t->discovered_labels.Get("__param_module"), "http_2xx");
  EXPECT_EQ(t->discovered_labels.Get("__scrape_interval__"), "15s");
  EXPECT_EQ(t->relabeled.Get("__meta_zone"), "");
}

TEST(PopulateTargetTest, TargetLabelsOverrideGroupLabelsAndParams) {
  config::Config c = Parse(kJob);
  absl::StatusOr<PopulatedTarget> t =
      PopulateTarget(c.scrape_configs[0],
                     L({{"__address__", "[::1]:9100"},
                        {"team", "mine"},
                        {"instance", "custom"},
                        {"__param_module", "a b&c"},
                        {"__metrics_path__", "/probe"}}),
                     L({{"team", "group"}}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->labels.Get("team"), "mine");
  EXPECT_EQ(t->labels.Get("instance"), "custom");
  EXPECT_EQ(t->url, "http://[::1]:9100/probe?module=a+b%26c");
}

TEST(PopulateTargetTest, DroppedAndInvalid) {
  config::Config c = Parse(kJob);
  const config::ScrapeConfig& sc = c.scrape_configs[0];
  absl::StatusOr<PopulatedTarget> t = PopulateTarget(
      sc, L({{"__address__", "h"}, {"__meta_kind", "skip"}}), tsdb::Labels());
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->dropped);
  t = PopulateTarget(sc, L({{"x", "y"}}), tsdb::Labels());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("no address"));
  t = PopulateTarget(sc, L({{"__address__", "h/x"}}), tsdb::Labels());
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("not a valid hostname"));
  t = PopulateTarget(sc,
                     L({{"__address__", "h"}, {"__scrape_timeout__", "1m"}}),
                     tsdb::Labels());
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("scrape timeout cannot be greater"));
}

TEST(AuthHeadersTest, Forms) {
  config::HttpClientConfig c;
  c.basic_auth = config::BasicAuth{"user", "pass", ""};
  auto h = AuthHeaders(c);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].second, "Basic dXNlcjpwYXNz");

  config::HttpClientConfig b;
  std::string path = absl::StrCat(::testing::TempDir(), "/token");
  std::ofstream(path) << "secret\n";
  b.bearer_token_file = path;
  h = AuthHeaders(b);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)[0].second, "Bearer secret");

  b.bearer_token_file = "/nonexistent/token";
  h = AuthHeaders(b);
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("/nonexistent"));
}

// --- Manager against live exporters ---------------------------------------

class ManagerTest : public ::testing::Test {
 protected:
  ManagerTest()
      : srv_([this](const TestExporter::Request& r) {
          absl::MutexLock l(&mu_);
          ++requests_;
          return TestExporter::Ok(body_);
        }) {}

  std::string Yaml(const std::string& timeout = "150ms") {
    return absl::StrCat(R"(
scrape_configs:
  - job_name: app
    scrape_interval: 200ms
    scrape_timeout: )",
                        timeout, "\n");
  }
  std::vector<discovery::TargetGroup> Group() {
    discovery::TargetGroup g;
    g.source = "0";
    g.targets.push_back(
        L({{"__address__", absl::StrCat("127.0.0.1:", srv_.port())}}));
    return {g};
  }
  std::string Series(const std::string& name) {
    return absl::StrCat(name, "{instance=\"127.0.0.1:", srv_.port(),
                        "\", job=\"app\"}");
  }
  // Waits until the exporter has served `n` more requests.
  void WaitRequests(int n) {
    int target;
    {
      absl::MutexLock l(&mu_);
      target = requests_ + n;
    }
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      {
        absl::MutexLock l(&mu_);
        if (requests_ >= target) return;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    FAIL() << "exporter not scraped in time";
  }

  absl::Mutex mu_;
  int requests_ = 0;
  std::string body_ = "m 1\n";
  TestExporter srv_;
  FakeAppendable db_;
};

TEST_F(ManagerTest, ScrapesDiscoveredTargetsAndReportsThem) {
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml())).ok());
  sm.Sync("app", Group());
  sm.Sync("not_configured", Group());  // kept, unused
  WaitRequests(2);
  std::vector<TargetInfo> ts = sm.ActiveTargets();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].scrape_pool, "app");
  EXPECT_EQ(ts[0].scrape_url, srv_.url("/metrics"));
  EXPECT_EQ(ts[0].discovered_labels.Get("__address__"),
            absl::StrCat("127.0.0.1:", srv_.port()));
  EXPECT_EQ(ts[0].labels.Get("job"), "app");
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (sm.ActiveTargets()[0].status.health != TargetHealth::kUp &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(sm.ActiveTargets()[0].status.health, TargetHealth::kUp);
  EXPECT_GE(sm.Stats().scrapes, 1u);
  EXPECT_EQ(sm.Stats().active_targets, 1u);
  sm.Stop();
  std::vector<tsdb::Sample> m = db_.Samples(Series("m"));
  ASSERT_GE(m.size(), 2u);
  EXPECT_TRUE(tsdb::IsStaleNaN(m.back().v));
}

TEST_F(ManagerTest, ActiveTargetsCarryScrapedMetadata) {
  {
    absl::MutexLock l(&mu_);
    body_ = "# HELP m A metric.\n# TYPE m gauge\nm 1\n";
  }
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml())).ok());
  ASSERT_TRUE(sm.ActiveTargets().empty());
  sm.Sync("app", Group());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sm.ActiveTargets()[0].metadata->empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  std::vector<TargetInfo> ts = sm.ActiveTargets();
  ASSERT_EQ(ts.size(), 1u);
  ASSERT_EQ(ts[0].metadata->size(), 1u);
  const MetricMetadata& m = (*ts[0].metadata)[0];
  EXPECT_EQ(m.metric, "m");
  EXPECT_EQ(m.type, tsdb::textparse::MetricType::kGauge);
  EXPECT_EQ(m.help, "A metric.");
  sm.Stop();
}

TEST_F(ManagerTest, UnchangedReloadKeepsLoopRunning) {
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml())).ok());
  sm.Sync("app", Group());
  WaitRequests(2);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml())).ok());
  sm.Sync("app", Group());
  WaitRequests(2);
  // Same loop, same keep-alive connection; no staleness written.
  EXPECT_EQ(srv_.connections_accepted(), 1);
  for (const tsdb::Sample& s : db_.Samples(Series("m"))) {
    EXPECT_FALSE(tsdb::IsStaleNaN(s.v));
  }
  EXPECT_EQ(sm.Stats().reloads, 2u);
}

TEST_F(ManagerTest, ChangedConfigReplacesLoopWithoutStaleness) {
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml("150ms"))).ok());
  sm.Sync("app", Group());
  WaitRequests(2);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml("100ms"))).ok());
  WaitRequests(2);
  EXPECT_EQ(srv_.connections_accepted(), 2);
  for (const tsdb::Sample& s : db_.Samples(Series("m"))) {
    EXPECT_FALSE(tsdb::IsStaleNaN(s.v));
  }
  EXPECT_EQ(sm.ActiveTargets()[0].timeout, absl::Milliseconds(100));
}

TEST_F(ManagerTest, RemovedTargetAndJobGetStaleMarkers) {
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(Parse(Yaml())).ok());
  sm.Sync("app", Group());
  WaitRequests(2);
  sm.Sync("app", {});
  EXPECT_TRUE(sm.ActiveTargets().empty());
  std::vector<tsdb::Sample> m = db_.Samples(Series("m"));
  ASSERT_FALSE(m.empty());
  EXPECT_TRUE(tsdb::IsStaleNaN(m.back().v));
  std::vector<tsdb::Sample> up = db_.Samples(Series("up"));
  ASSERT_FALSE(up.empty());
  EXPECT_TRUE(tsdb::IsStaleNaN(up.back().v));

  // Back again, then the whole job goes away.
  sm.Sync("app", Group());
  WaitRequests(2);
  ASSERT_EQ(sm.ActiveTargets().size(), 1u);
  ASSERT_TRUE(sm.ApplyConfig(Parse("scrape_configs: []\n")).ok());
  EXPECT_TRUE(sm.ActiveTargets().empty());
  m = db_.Samples(Series("m"));
  EXPECT_TRUE(tsdb::IsStaleNaN(m.back().v));
}

TEST_F(ManagerTest, DroppedTargetsAndErrorsAreReported) {
  ScrapeManager sm(&db_);
  ASSERT_TRUE(sm.ApplyConfig(Parse(R"(
scrape_configs:
  - job_name: app
    scrape_interval: 1h
    relabel_configs:
      - source_labels: [drop]
        regex: yes
        action: drop
)"))
                  .ok());
  discovery::TargetGroup g;
  g.targets.push_back(L({{"__address__", "a:1"}, {"drop", "yes"}}));
  g.targets.push_back(L({{"__address__", "b/x"}}));
  g.targets.push_back(L({{"__address__", "c:1"}}));
  g.targets.push_back(L({{"__address__", "c:1"}}));  // duplicate collapses
  sm.Sync("app", {g});
  EXPECT_EQ(sm.ActiveTargets().size(), 1u);
  ASSERT_EQ(sm.DroppedTargets().size(), 1u);
  EXPECT_EQ(sm.DroppedTargets()[0].discovered_labels.Get("drop"), "yes");
  ASSERT_EQ(sm.TargetErrors()["app"].size(), 1u);
  EXPECT_THAT(sm.TargetErrors()["app"][0], HasSubstr("not a valid hostname"));
  ScrapeManagerStats st = sm.Stats();
  EXPECT_EQ(st.dropped_targets, 1u);
  EXPECT_EQ(st.target_errors, 1u);
}

TEST_F(ManagerTest, UnreadableAuthFileRejectsConfig) {
  ScrapeManager sm(&db_);
  absl::Status s = sm.ApplyConfig(Parse(R"(
scrape_configs:
  - job_name: app
    bearer_token_file: /nonexistent/token
)"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("job \"app\""));
}

}  // namespace
}  // namespace vigil::scrape
