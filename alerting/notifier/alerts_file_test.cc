#include "alerting/notifier/alerts_file.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::alerting::notifier {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(AlertsFileTest, RoundTrip) {
  const std::string path = TempPath("roundtrip_alerts.json");
  Alert a;
  a.labels = *tsdb::Labels::FromPairs(
      {{"alertname", "HighLatency"}, {"instance", "a:1"}, {"le", "0.1"}});
  a.annotations = *tsdb::Labels::FromPairs(
      {{"summary", "p99 \"above\" 1s\nline two"}, {"unicode", "é ✓"}});
  a.starts_at_ms = 1714152065311;
  a.ends_at_ms = 1714152305311;
  a.updated_at_ms = 1714152070000;
  a.generator_url = "http://vigil:9090/graph?g0.expr=x&g0.tab=1";
  Alert b;
  b.labels = *tsdb::Labels::FromPairs({{"alertname", "Other"}});
  ASSERT_TRUE(SaveAlertsFile(path, {a, b}).ok());
  absl::StatusOr<std::vector<Alert>> got = LoadAlertsFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  const Alert& g = (*got)[0];
  EXPECT_EQ(g.labels, a.labels);
  EXPECT_EQ(g.annotations, a.annotations);
  EXPECT_EQ(g.starts_at_ms, a.starts_at_ms);
  EXPECT_EQ(g.ends_at_ms, a.ends_at_ms);
  EXPECT_EQ(g.updated_at_ms, a.updated_at_ms);
  EXPECT_EQ(g.generator_url, a.generator_url);
  EXPECT_EQ((*got)[1].labels, b.labels);
  EXPECT_TRUE((*got)[1].annotations.empty());
}

TEST(AlertsFileTest, MissingFileHoldsNoAlerts) {
  absl::StatusOr<std::vector<Alert>> got =
      LoadAlertsFile(TempPath("never_written_alerts.json"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
}

TEST(AlertsFileTest, MalformedFilesNameTheFileTheEntryAndTheReason) {
  const std::string path = TempPath("bad_alerts.json");
  const std::string good =
      R"({"labels":{"alertname":"A"},"annotations":{},"starts_at_ms":1,)"
      R"("ends_at_ms":2,"updated_at_ms":1,"generator_url":""})";
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"not json", "is not a JSON object with \"alerts\""},
      {R"({"alerts":{}})", "is not a JSON object with \"alerts\""},
      {R"({"alerts":[)" + good + R"(,7]})", "alert 1: not an object"},
      {R"({"alerts":[{"labels":{},"annotations":{}}]})",
       "alert 0: \"labels\" is empty"},
      {R"({"alerts":[{"labels":{"0bad":"x"},"annotations":{}}]})",
       "alert 0: \"labels\": "},
      {R"({"alerts":[{"labels":{"a":1},"annotations":{}}]})",
       "\"labels\".a is not a string"},
      {R"({"alerts":[{"labels":{"a":"x"},"annotations":{},)"
       R"("starts_at_ms":"1"}]})",
       "alert 0: \"starts_at_ms\" must be an integer"},
      {R"({"alerts":[{"labels":{"a":"x"},"annotations":{},"starts_at_ms":1,)"
       R"("ends_at_ms":2,"updated_at_ms":1}]})",
       "\"generator_url\" must be a string"},
  };
  for (const Case& c : cases) {
    Write(path, c.text);
    absl::StatusOr<std::vector<Alert>> got = LoadAlertsFile(path);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(path));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.want))
        << c.text;
  }
}

}  // namespace
}  // namespace vigil::alerting::notifier
