#include "alerting/notifier/nflog.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace vigil::alerting::notifier {
namespace {

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kT0 = 1714152065311;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::remove(path.c_str());
  return path;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(NotificationLogTest, SurvivesSaveAndLoad) {
  std::string path = TempPath("nflog_roundtrip.json");
  {
    NotificationLog log(path, 120 * kHour);
    ASSERT_TRUE(log.Load(kT0).ok());  // no file yet: empty
    EXPECT_EQ(log.size(), 0u);
    // Keys carry the dispatcher's \x01 separators.
    log.Put("{}:{alertname=\"A\"}\x01web\x01webhook0",
            {{1, 0xffffffffffffffffULL}, {7}, kT0});
    log.Put("{}:{alertname=\"B\"}\x01web\x01webhook0", {{2}, {}, kT0 - kHour});
    ASSERT_TRUE(log.SaveIfChanged(kT0).ok());
  }
  NotificationLog log(path, 120 * kHour);
  ASSERT_TRUE(log.Load(kT0).ok());
  ASSERT_EQ(log.size(), 2u);
  const NotificationLog::Entry* a =
      log.Find("{}:{alertname=\"A\"}\x01web\x01webhook0");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->timestamp_ms, kT0);
  EXPECT_TRUE(a->firing.contains(1));
  EXPECT_TRUE(a->firing.contains(0xffffffffffffffffULL));
  EXPECT_TRUE(a->resolved.contains(7));
  EXPECT_EQ(log.Find("nope"), nullptr);
}

TEST(NotificationLogTest, ExpiredEntriesAreDropped) {
  std::string path = TempPath("nflog_expiry.json");
  {
    NotificationLog log(path, 2 * kHour);
    log.Put("old", {{1}, {}, kT0 - 3 * kHour});
    log.Put("new", {{2}, {}, kT0 - kHour});
    ASSERT_TRUE(log.SaveIfChanged(kT0).ok());
    EXPECT_EQ(log.Find("old"), nullptr);  // dropped on save
  }
  NotificationLog log(path, 2 * kHour);
  ASSERT_TRUE(log.Load(kT0 + 90 * 60 * 1000).ok());  // "new" is now 2.5 h old
  EXPECT_EQ(log.size(), 0u);
}

TEST(NotificationLogTest, SavesOnlyAfterAChange) {
  std::string path = TempPath("nflog_changed.json");
  NotificationLog log(path, 120 * kHour);
  ASSERT_TRUE(log.SaveIfChanged(kT0).ok());
  EXPECT_FALSE(std::ifstream(path).good());  // nothing to write
  log.Put("k", {{1}, {}, kT0});
  ASSERT_TRUE(log.SaveIfChanged(kT0).ok());
  EXPECT_TRUE(std::ifstream(path).good());
}

TEST(NotificationLogTest, MalformedFilesAreDataLossNamingTheFile) {
  std::string path = TempPath("nflog_bad.json");
  for (const char* text :
       {"not json", "[]", "{\"entries\": 3}",
        "{\"entries\": [{\"key\": \"k\", \"timestamp_ms\": 1}]}",
        "{\"entries\": [{\"key\": 1, \"timestamp_ms\": 1, \"firing\": [], "
        "\"resolved\": []}]}",
        "{\"entries\": [{\"key\": \"k\", \"timestamp_ms\": 1, \"firing\": "
        "[-1], \"resolved\": []}]}"}) {
    WriteFile(path, text);
    NotificationLog log(path, 120 * kHour);
    absl::Status st = log.Load(kT0);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << text;
    EXPECT_NE(st.message().find(path), std::string::npos) << st;
  }
}

TEST(NotificationLogTest, UnwritableDirectoryIsAnError) {
  NotificationLog log("/nonexistent-dir/nflog.json", 120 * kHour);
  log.Put("k", {{1}, {}, kT0});
  absl::Status st = log.SaveIfChanged(kT0);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent-dir/nflog.json"),
            std::string::npos);
}

}  // namespace
}  // namespace vigil::alerting::notifier
