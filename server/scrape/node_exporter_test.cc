// Integration test: scrape a real prometheus-node-exporter into the real
// in-memory TSDB. Skipped (with a message) when the exporter cannot start.
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/scrape/scrape_loop.h"
#include "tsdb/db.h"
#include "tsdb/matcher.h"
#include "tsdb/sample.h"

extern char** environ;

namespace vigil::scrape {
namespace {

constexpr char kExporter[] = "/usr/bin/prometheus-node-exporter";

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class NodeExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kExporter, X_OK) != 0) {
      GTEST_SKIP() << kExporter << " is not installed";
    }
    port_ = FreePort();
    std::string listen = absl::StrCat("--web.listen-address=127.0.0.1:", port_);
    std::vector<char*> argv = {const_cast<char*>(kExporter),
                               const_cast<char*>(listen.c_str()), nullptr};
    if (posix_spawn(&pid_, kExporter, nullptr, nullptr, argv.data(), environ) !=
        0) {
      pid_ = 0;
      GTEST_SKIP() << "cannot start " << kExporter;
    }
    url_ = absl::StrCat("http://127.0.0.1:", port_, "/metrics");
    HttpScraper probe(url_, "", 0, {});
    ScrapeBody body;
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (probe.Scrape(absl::Seconds(2), &body).ok()) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
    GTEST_SKIP() << kExporter << " did not answer on " << url_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }

  pid_t pid_ = 0;
  int port_ = 0;
  std::string url_;
};

TEST_F(NodeExporterTest, ScrapesIntoTsdb) {
  absl::StatusOr<std::unique_ptr<tsdb::DB>> db =
      tsdb::DB::Open(tsdb::DBOptions{});
  ASSERT_TRUE(db.ok()) << db.status();
  tsdb::Labels target = *tsdb::Labels::FromPairs(
      {{"job", "node"}, {"instance", absl::StrCat("127.0.0.1:", port_)}});
  ScrapeOptions o;
  o.interval = absl::Seconds(15);
  o.timeout = absl::Seconds(10);
  ScrapeLoop loop(
      db->get(),
      std::make_unique<HttpScraper>(
          url_,
          AcceptHeader({"OpenMetricsText1.0.0", "OpenMetricsText0.0.1",
                        "PrometheusText0.0.4"}),
          0, std::vector<std::pair<std::string, std::string>>{}),
      target, o);
  absl::Time t0 = absl::Now() - absl::Seconds(30);
  absl::Status s = loop.ScrapeOnce(t0);
  ASSERT_TRUE(s.ok()) << s;
  ScrapeReport first = loop.last_report();
  EXPECT_GT(first.samples_scraped, 200u);
  EXPECT_EQ(first.samples_post_relabel, first.samples_scraped);
  EXPECT_EQ(first.series_added, first.samples_scraped);

  for (int i = 1; i <= 2; ++i) {
    s = loop.ScrapeOnce(t0 + i * absl::Seconds(15));
    ASSERT_TRUE(s.ok()) << s;
  }
  ScrapeReport third = loop.last_report();
  // The exporter's series set is essentially steady: almost everything is a
  // cache hit.
  EXPECT_LT(third.series_added, 20u);
  EXPECT_GT(loop.counters().cache_hits.load(), first.samples_scraped);
  EXPECT_EQ(loop.status().health, TargetHealth::kUp);
  EXPECT_EQ(loop.counters().out_of_order.load(), 0u);

  absl::StatusOr<std::unique_ptr<tsdb::Querier>> q = (*db)->NewQuerier(
      absl::ToUnixMillis(t0) - 1, absl::ToUnixMillis(absl::Now()) + 1);
  ASSERT_TRUE(q.ok()) << q.status();
  tsdb::SelectHints hints;
  hints.start = absl::ToUnixMillis(t0) - 1;
  hints.end = absl::ToUnixMillis(absl::Now()) + 1;
  std::vector<tsdb::Matcher> ms = {
      *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "__name__", "up"),
      *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "job", "node")};
  absl::StatusOr<std::vector<tsdb::Series>> up = (*q)->Select(hints, ms);
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_EQ(up->size(), 1u);
  std::vector<tsdb::Sample> samples;
  ASSERT_TRUE((*up)[0].iterator->ReadAll(&samples).ok());
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[2].v, 1.0);

  ms = {*tsdb::Matcher::Create(tsdb::MatchType::kRegexMatch, "__name__",
                               "node_.*")};
  absl::StatusOr<std::vector<tsdb::Series>> node = (*q)->Select(hints, ms);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_GT(node->size(), 100u);
  for (const tsdb::Series& series : *node) {
    EXPECT_EQ(series.labels.Get("job"), "node");
  }

  loop.Stop(/*write_stale_markers=*/true);
  std::printf("node_exporter: %llu samples per scrape\n",
              static_cast<unsigned long long>(third.samples_scraped));
}

}  // namespace
}  // namespace vigil::scrape
