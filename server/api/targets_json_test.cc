#include "server/api/targets_json.h"

#include "gtest/gtest.h"

namespace vigil::server::api {
namespace {

TEST(TargetsJsonTest, Shape) {
  scrape::TargetInfo t;
  t.scrape_pool = "node";
  t.scrape_url = "http://a:9100/metrics";
  t.discovered_labels = *tsdb::Labels::FromPairs({{"__address__", "a:9100"}});
  t.labels =
      *tsdb::Labels::FromPairs({{"instance", "a:9100"}, {"job", "node"}});
  t.interval = absl::Seconds(15);
  t.timeout = absl::Seconds(10);
  t.status.health = scrape::TargetHealth::kUp;
  t.status.last_scrape = absl::FromUnixMillis(1500);
  t.status.last_duration = absl::Milliseconds(25);
  scrape::DroppedTargetInfo d;
  d.scrape_pool = "node";
  d.discovered_labels = *tsdb::Labels::FromPairs({{"__address__", "b:1"}});
  std::string out;
  JsonWriter w(&out);
  WriteTargets({t}, {d}, "", &w);
  EXPECT_EQ(out,
            "{\"activeTargets\":[{\"discoveredLabels\":{\"__address__\":"
            "\"a:9100\"},\"labels\":{\"instance\":\"a:9100\",\"job\":"
            "\"node\"},\"scrapePool\":\"node\",\"scrapeUrl\":"
            "\"http://a:9100/metrics\",\"globalUrl\":"
            "\"http://a:9100/metrics\",\"lastError\":\"\",\"lastScrape\":"
            "\"1970-01-01T00:00:01.5Z\",\"lastScrapeDuration\":0.025,"
            "\"health\":\"up\",\"scrapeInterval\":\"15s\",\"scrapeTimeout\":"
            "\"10s\"}],\"droppedTargets\":[{\"discoveredLabels\":{"
            "\"__address__\":\"b:1\"}}]}");
  out.clear();
  JsonWriter w2(&out);
  WriteTargets({t}, {d}, "dropped", &w2);
  EXPECT_EQ(out.find("scrapeUrl"), std::string::npos);
}

}  // namespace
}  // namespace vigil::server::api
