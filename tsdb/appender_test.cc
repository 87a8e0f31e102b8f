// The append path's batch bookkeeping: repeats of a series within one batch
// (which switch the appender from its ref bitset to a map mid-batch),
// batches not in ref order, and their WAL replay.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tsdb/db.h"
#include "tsdb/testing/db_test_util.h"

namespace vigil::tsdb {
namespace {

using testing::M;
using testing::Opts;
using testing::TempDir;

Labels L(int i) {
  return *Labels::FromPairs({{"__name__", "m"}, {"id", absl::StrCat(i)}});
}

// Samples of series id=i.
std::vector<Sample> Read(DB* db, int i) {
  auto q = *db->NewQuerier(0, 1 << 30);
  auto series =
      *q->Select(SelectHints{}, {M(MatchType::kEqual, "id", absl::StrCat(i))});
  std::vector<Sample> out;
  if (series.size() != 1) return out;
  EXPECT_TRUE(series[0].iterator->ReadAll(&out).ok());
  return out;
}

// Appends, in one batch and in reverse ref order, three samples per series
// for 50 series, then a repeat per series that is a duplicate, out of order
// or identical. Returns the refs.
std::vector<SeriesRef> AppendMixedBatch(DB* db) {
  std::vector<SeriesRef> refs(50, 0);
  {
    auto app = db->NewAppender();  // create in id order: ref order = id
    for (int i = 0; i < 50; ++i) refs[i] = *app->Append(0, L(i), 0, 0);
    EXPECT_TRUE(app->Commit().ok());
  }
  auto app = db->NewAppender();
  for (int k = 1; k <= 3; ++k) {
    for (int i = 49; i >= 0; --i) {
      EXPECT_TRUE(app->Append(refs[i], L(i), k * 1000, k + i).ok());
    }
  }
  for (int i = 0; i < 50; ++i) {
    auto r = app->Append(refs[i], L(i), 2000, 99);  // older than 3000
    EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kOutOfOrder) << i;
    r = app->Append(refs[i], L(i), 3000, 99);  // same t, new value
    EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kDuplicate) << i;
    r = app->Append(refs[i], L(i), 3000, 3 + i);  // identical: ignored
    EXPECT_TRUE(r.ok()) << r.status();
  }
  EXPECT_TRUE(app->Commit().ok());
  return refs;
}

void ExpectMixedBatch(DB* db) {
  for (int i = 0; i < 50; ++i) {
    std::vector<Sample> got = Read(db, i);
    ASSERT_EQ(got.size(), 4u) << i;
    for (int k = 0; k <= 3; ++k) {
      EXPECT_EQ(got[k].t, k * 1000) << i;
      EXPECT_EQ(got[k].v, k == 0 ? 0 : k + i) << i;
    }
  }
}

TEST(AppenderTest, RepeatsInUnsortedBatchInMemory) {
  DBOptions o = Opts("");
  auto db = *DB::Open(o);
  AppendMixedBatch(db.get());
  ExpectMixedBatch(db.get());
  EXPECT_EQ(db->Stats().samples_appended, 50 + 150);
}

TEST(AppenderTest, RepeatsInUnsortedBatchReplayFromWal) {
  const std::string dir = TempDir("appender_wal");
  const std::string copy = TempDir("appender_wal_copy");
  {
    auto db = *DB::Open(Opts(dir));
    AppendMixedBatch(db.get());
    ExpectMixedBatch(db.get());
    // Copy the files while the DB is open, as a crash leaves them.
    std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  ExpectMixedBatch(db.get());
}

// A batch far smaller than the head, touching only high refs: the bitset
// is not grown to the ref, the map answers instead.
TEST(AppenderTest, SmallBatchOnHighRefsDetectsRepeats) {
  auto db = *DB::Open(Opts(""));
  std::vector<SeriesRef> refs(200000, 0);
  {
    auto app = db->NewAppender();
    for (int i = 0; i < 200000; ++i) refs[i] = *app->Append(0, L(i), 0, 0);
    ASSERT_TRUE(app->Commit().ok());
  }
  auto app = db->NewAppender();
  ASSERT_TRUE(app->Append(refs[199999], L(199999), 1000, 1).ok());
  auto r = app->Append(refs[199999], L(199999), 500, 1);
  EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kOutOfOrder);
  r = app->Append(refs[199999], L(199999), 1000, 2);
  EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kDuplicate);
  ASSERT_TRUE(app->Append(refs[5], L(5), 1000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(Read(db.get(), 199999).size(), 2u);
}

}  // namespace
}  // namespace vigil::tsdb
