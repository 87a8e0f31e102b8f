#include "tsdb/import.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace vigil::tsdb {
namespace {

std::unique_ptr<DB> Open(const std::string& path = "") {
  DBOptions o;
  o.path = path;
  o.retention = absl::ZeroDuration();
  o.maintenance_interval = absl::ZeroDuration();
  return *DB::Open(o);
}

std::vector<Sample> Read(DB* db, const std::string& name) {
  auto q = *db->NewQuerier(std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max());
  auto ss =
      *q->Select({}, {*Matcher::Create(MatchType::kEqual, "__name__", name)});
  std::vector<Sample> out;
  for (auto& s : ss) EXPECT_TRUE(s.iterator->ReadAll(&out).ok());
  return out;
}

TEST(ImportTest, OpenMetricsBackfillOlderThanHead) {
  auto db = Open();
  auto app = db->NewAppender();
  ASSERT_TRUE(
      app->Append(
             0, *Labels::FromPairs({{"__name__", "reqs_total"}, {"job", "a"}}),
             1'700'000'000'000, 99)
          .ok());
  ASSERT_TRUE(app->Commit().ok());
  std::string text =
      "# TYPE reqs counter\n"
      "reqs_total{job=\"a\"} 1 1000.5\n"
      "reqs_total{job=\"a\"} 2 1015\n"
      "reqs_total{job=\"a\"} 2 1015\n"  // identical duplicate
      "reqs_total{job=\"b\"} 5 1000\n";
  for (int i = 0; i < 300; ++i) {
    absl::StrAppend(&text, "other ", i, " ", 2000 + i * 60, "\n");
  }
  text += "# EOF\n";
  auto st = ImportOpenMetrics(db.get(), text);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->series, 3);
  EXPECT_EQ(st->samples, 303);
  EXPECT_EQ(st->duplicates, 1);
  EXPECT_EQ(st->min_time, 1'000'000);
  EXPECT_GE(st->chunks, 5);
  auto a = Read(db.get(), "reqs_total");
  ASSERT_EQ(a.size(), 4u);  // job=a: 1000500, 1015000, head; job=b: 1000000
  auto other = Read(db.get(), "other");
  ASSERT_EQ(other.size(), 300u);
  EXPECT_EQ(other[299].t, (2000 + 299 * 60) * 1000);
  EXPECT_EQ(db->MinTime(), 1'000'000);
}

TEST(ImportTest, AllOrNothing) {
  auto db = Open();
  // Second series has a conflicting duplicate: nothing is written.
  auto st = ImportOpenMetrics(db.get(),
                              "a 1 10\n"
                              "b 1 10\n"
                              "b 2 10\n"
                              "# EOF\n");
  EXPECT_EQ(ClassifyAppendError(st.status()), AppendError::kDuplicate);
  EXPECT_TRUE(Read(db.get(), "a").empty());
  // A parse error names the line.
  st = ImportOpenMetrics(db.get(), "a 1 10\nb{ 1 10\n# EOF\n");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("line 2"), std::string::npos)
      << st.status();
  // Missing timestamp.
  st = ImportOpenMetrics(db.get(), "a 1\n# EOF\n");
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Read(db.get(), "a").empty());
  // Overlap with existing data is refused, atomically.
  ASSERT_TRUE(ImportOpenMetrics(db.get(), "a 1 10\na 2 20\n# EOF\n").ok());
  st = ImportOpenMetrics(db.get(), "c 1 10\na 3 15\n# EOF\n");
  EXPECT_EQ(ClassifyAppendError(st.status()), AppendError::kOutOfOrder);
  EXPECT_TRUE(Read(db.get(), "c").empty());
  EXPECT_EQ(Read(db.get(), "a").size(), 2u);
}

TEST(ImportTest, PersistsAcrossReopen) {
  const std::string dir =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                   "/import_", getpid());
  std::filesystem::remove_all(dir);
  {
    auto db = Open(dir);
    std::string text;
    for (int i = 0; i < 1000; ++i) {
      absl::StrAppend(&text, "m{i=\"", i % 3, "\"} ", i, " ", i * 15, "\n");
    }
    text += "# EOF\n";
    auto st = ImportOpenMetrics(db.get(), text);
    ASSERT_TRUE(st.ok()) << st.status();
    // Live appends continue after the backfilled range.
    auto app = db->NewAppender();
    ASSERT_TRUE(app->Append(0,
                            *Labels::FromPairs({{"__name__", "m"}, {"i", "0"}}),
                            1'000'000'000, 1)
                    .ok());
    ASSERT_TRUE(app->Commit().ok());
  }
  auto db = Open(dir);
  EXPECT_EQ(Read(db.get(), "m").size(), 1001u);
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace vigil::tsdb
