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

// A large commit (beyond the size whose series the commit keeps in cache),
// with some series repeated several times in it, in an order that is not
// by ref: every sample is applied once, in order, and replays the same.
TEST(AppenderTest, LargeUnsortedBatchWithRepeatsReplaysExactly) {
  const std::string dir = TempDir("appender_blocks");
  const std::string copy = TempDir("appender_blocks_copy");
  constexpr int kSeries = 9000;  // > 8,192
  auto expect = [&](DB* db) {
    for (int i : {0, 1, 2047, 2048, 2049, 4095, 4096, 8999}) {
      std::vector<Sample> got = Read(db, i);
      const size_t want = i % 3 == 0 ? 4 : 2;
      ASSERT_EQ(got.size(), want) << i;
      for (size_t k = 0; k < got.size(); ++k) {
        EXPECT_EQ(got[k].t, static_cast<int64_t>(k) * 1000) << i;
        EXPECT_EQ(got[k].v, i + static_cast<double>(k)) << i;
      }
    }
  };
  {
    auto db = *DB::Open(Opts(dir));
    std::vector<SeriesRef> refs(kSeries, 0);
    auto app = db->NewAppender();
    for (int i = 0; i < kSeries; ++i) refs[i] = *app->Append(0, L(i), 0, i);
    ASSERT_TRUE(app->Commit().ok());
    app = db->NewAppender();
    // Every series once in reverse ref order, then every third series
    // twice more: the sorted batch has runs of 3 samples per such series.
    for (int i = kSeries - 1; i >= 0; --i) {
      ASSERT_TRUE(app->Append(refs[i], L(i), 1000, i + 1).ok());
    }
    for (int k = 2; k <= 3; ++k) {
      for (int i = 0; i < kSeries; i += 3) {
        ASSERT_TRUE(app->Append(refs[i], L(i), k * 1000, i + k).ok());
      }
    }
    ASSERT_TRUE(app->Commit().ok());
    EXPECT_EQ(db->Stats().samples_appended, kSeries * 2 + 2 * (kSeries / 3));
    expect(db.get());
    std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  expect(db.get());
}

// Appenders on one thread reuse their buffers: a batch that switched to
// map mode and was rolled back must not leave repeats or rejections behind
// for the next batch, on the same DB or another one.
TEST(AppenderTest, BuffersReusedAfterRollbackAndAcrossDBs) {
  auto db1 = *DB::Open(Opts(""));
  auto db2 = *DB::Open(Opts(""));
  std::vector<SeriesRef> refs(100, 0);
  {
    auto app = db1->NewAppender();
    for (int i = 0; i < 100; ++i) refs[i] = *app->Append(0, L(i), 0, 0);
    ASSERT_TRUE(app->Commit().ok());
  }
  {
    auto app = db1->NewAppender();
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(app->Append(refs[i], L(i), 1000, 1).ok());
      ASSERT_TRUE(app->Append(refs[i], L(i), 2000, 2).ok());  // repeat
    }
    app->Rollback();
  }
  for (int round = 1; round <= 3; ++round) {
    auto app = db1->NewAppender();
    auto other = db2->NewAppender();  // a second live appender on the thread
    for (int i = 0; i < 100; ++i) {
      auto r = app->Append(refs[i], L(i), round * 1000, round);
      ASSERT_TRUE(r.ok()) << round << " " << i << " " << r.status();
      ASSERT_TRUE(other->Append(0, L(i), round * 1000, round).ok());
    }
    ASSERT_TRUE(other->Commit().ok());
    ASSERT_TRUE(app->Commit().ok());
  }
  for (DB* db : {db1.get(), db2.get()}) {
    for (int i : {0, 63, 64, 99}) {
      std::vector<Sample> got = Read(db, i);
      ASSERT_EQ(got.size(), db == db1.get() ? 4u : 3u) << i;
      EXPECT_EQ(got.back().t, 3000);
      EXPECT_EQ(got.back().v, 3);
    }
  }
}

}  // namespace
}  // namespace vigil::tsdb
