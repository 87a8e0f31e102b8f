#include "server/api/metadata_api.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vigil::server::api {
namespace {

using scrape::MetricMetadata;
using tsdb::textparse::MetricType;

scrape::TargetInfo Target(std::vector<tsdb::Label> labels,
                          std::vector<MetricMetadata> metadata) {
  scrape::TargetInfo t;
  t.labels = *tsdb::Labels::FromPairs(std::move(labels));
  t.metadata =
      std::make_shared<const std::vector<MetricMetadata>>(std::move(metadata));
  return t;
}

class MetadataApiTest : public ::testing::Test {
 protected:
  MetadataApiTest() : api_([this] { return targets_; }) {
    // Sorted by metric name, as ScrapeLoop::metadata() returns them.
    targets_.push_back(Target(
        {{"instance", "a:9100"}, {"job", "node"}},
        {{"go_goroutines", MetricType::kGauge, "Goroutines.", ""},
         {"node_cpu_seconds_total", MetricType::kCounter, "CPU seconds.", ""},
         {"up_time", MetricType::kUnknown, "", "seconds"}}));
    targets_.push_back(
        Target({{"instance", "b:9100"}, {"job", "node"}},
               {{"go_goroutines", MetricType::kGauge, "Goroutines.", ""},
                {"node_cpu_seconds_total", MetricType::kCounter,
                 "CPU seconds (new).", ""}}));
    targets_.push_back(Target(
        {{"instance", "c:8080"}, {"job", "app"}},
        {{"go_goroutines", MetricType::kGauge, "Number of goroutines.", ""}}));
    targets_.push_back(Target({{"instance", "d:1"}, {"job", "empty"}}, {}));
  }

  std::string Get(bool targets, http::Params form) {
    http::Request req;
    req.method = "GET";
    req.form = std::move(form);
    http::Response r = targets ? api_.TargetsMetadata(req) : api_.Metadata(req);
    return absl::StrCat(r.status, " ", r.body);
  }

  std::vector<scrape::TargetInfo> targets_;
  MetadataApi api_;
};

TEST_F(MetadataApiTest, MetadataMergesTargetsPerMetric) {
  EXPECT_EQ(
      Get(false, {}),
      "200 {\"status\":\"success\",\"data\":{"
      "\"go_goroutines\":[{\"type\":\"gauge\",\"help\":\"Goroutines.\","
      "\"unit\":\"\"},{\"type\":\"gauge\",\"help\":\"Number of "
      "goroutines.\",\"unit\":\"\"}],"
      "\"node_cpu_seconds_total\":[{\"type\":\"counter\",\"help\":\"CPU "
      "seconds (new).\",\"unit\":\"\"},{\"type\":\"counter\",\"help\":\"CPU "
      "seconds.\",\"unit\":\"\"}],"
      "\"up_time\":[{\"type\":\"unknown\",\"help\":\"\",\"unit\":"
      "\"seconds\"}]}}");
}

TEST_F(MetadataApiTest, MetadataFiltersAndLimits) {
  EXPECT_EQ(Get(false, {{"metric", "up_time"}}),
            "200 {\"status\":\"success\",\"data\":{\"up_time\":[{\"type\":"
            "\"unknown\",\"help\":\"\",\"unit\":\"seconds\"}]}}");
  EXPECT_EQ(Get(false, {{"metric", "nope"}}),
            "200 {\"status\":\"success\",\"data\":{}}");
  EXPECT_EQ(Get(false, {{"limit", "0"}}),
            "200 {\"status\":\"success\",\"data\":{}}");
  std::string one = Get(false, {{"limit", "1"}});
  EXPECT_NE(one.find("go_goroutines"), std::string::npos);
  EXPECT_EQ(one.find("node_cpu"), std::string::npos);
  // One value per metric: the first target's.
  EXPECT_EQ(
      Get(false, {{"limit_per_metric", "1"}, {"metric", "go_goroutines"}}),
      "200 {\"status\":\"success\",\"data\":{\"go_goroutines\":[{"
      "\"type\":\"gauge\",\"help\":\"Goroutines.\",\"unit\":\"\"}]}}");
  // Negative limits mean none.
  EXPECT_EQ(Get(false, {{"limit", "-1"}}), Get(false, {}));
}

TEST_F(MetadataApiTest, BadNumbersAreBadData) {
  EXPECT_EQ(Get(false, {{"limit", "x"}}),
            "400 {\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"limit must be a number\"}");
  EXPECT_EQ(Get(false, {{"limit_per_metric", "1.5"}}),
            "400 {\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"limit_per_metric must be a number\"}");
  EXPECT_EQ(Get(true, {{"limit", ""}}), Get(true, {}));
  EXPECT_EQ(Get(true, {{"limit", "ten"}}),
            "400 {\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"limit must be a number\"}");
}

TEST_F(MetadataApiTest, TargetsMetadataShape) {
  EXPECT_EQ(Get(true, {{"match_target", "{job=\"app\"}"}}),
            "200 {\"status\":\"success\",\"data\":[{\"target\":{\"instance\":"
            "\"c:8080\",\"job\":\"app\"},\"metric\":\"go_goroutines\","
            "\"type\":\"gauge\",\"help\":\"Number of goroutines.\",\"unit\":"
            "\"\"}]}");
  // With metric=, the name is left out.
  EXPECT_EQ(Get(true, {{"match_target", "{job=\"node\"}"},
                       {"metric", "node_cpu_seconds_total"}}),
            "200 {\"status\":\"success\",\"data\":[{\"target\":{\"instance\":"
            "\"a:9100\",\"job\":\"node\"},\"type\":\"counter\",\"help\":\"CPU "
            "seconds.\",\"unit\":\"\"},{\"target\":{\"instance\":\"b:9100\","
            "\"job\":\"node\"},\"type\":\"counter\",\"help\":\"CPU seconds "
            "(new).\",\"unit\":\"\"}]}");
  EXPECT_EQ(Get(true, {{"metric", "nope"}}),
            "200 {\"status\":\"success\",\"data\":[]}");
}

TEST_F(MetadataApiTest, TargetsMetadataMatchersAndLimit) {
  // Regex and negative matchers on target labels.
  std::string r = Get(true, {{"match_target", "{instance=~\"[ab]:.*\"}"},
                             {"metric", "go_goroutines"}});
  EXPECT_NE(r.find("a:9100"), std::string::npos);
  EXPECT_NE(r.find("b:9100"), std::string::npos);
  EXPECT_EQ(r.find("c:8080"), std::string::npos);
  // The limit is checked before each target: the first target's three
  // entries all come out with limit=2, and nothing after.
  std::string l = Get(true, {{"limit", "2"}});
  EXPECT_NE(l.find("up_time"), std::string::npos);
  EXPECT_EQ(l.find("b:9100"), std::string::npos);
  EXPECT_EQ(Get(true, {{"limit", "0"}}),
            "200 {\"status\":\"success\",\"data\":[]}");
  // An invalid selector names the problem.
  std::string bad = Get(true, {{"match_target", "{job=}"}});
  EXPECT_EQ(bad.rfind("400 ", 0), 0u) << bad;
  EXPECT_NE(bad.find("bad_data"), std::string::npos);
}

TEST_F(MetadataApiTest, NoSourceAnswersEmpty) {
  MetadataApi none(nullptr);
  http::Request req;
  EXPECT_EQ(none.Metadata(req).body, "{\"status\":\"success\",\"data\":{}}");
  EXPECT_EQ(none.TargetsMetadata(req).body,
            "{\"status\":\"success\",\"data\":[]}");
}

}  // namespace
}  // namespace vigil::server::api
