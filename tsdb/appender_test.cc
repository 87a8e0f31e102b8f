// The append path's batch bookkeeping: repeats of a series within one batch
// (which switch the appender from its ref bitset to a map mid-batch),
// batches not in ref order, and their WAL replay.
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
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

// Append validates a known ref against the newest timestamp kept in the
// head's slot array, without the series. That value must be right after
// every way a series gets samples: WAL replay, restored head chunks (a
// clean close), a delete that rewrites the series, and a commit of
// another appender.
TEST(AppenderTest, SlotNewestSampleAfterReplayCloseAndDelete) {
  const std::string dir = TempDir("appender_slot");
  const std::string copy = TempDir("appender_slot_copy");
  auto expect_rejections = [](DB* db, int64_t newest, double newest_v) {
    for (int i : {0, 7}) {
      auto app = db->NewAppender();
      auto r = app->Append(0, L(i), newest - 1, 1);
      EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kOutOfOrder)
          << i << " " << r.status();
      r = app->Append(0, L(i), newest, newest_v + 1);
      EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kDuplicate)
          << i << " " << r.status();
      r = app->Append(0, L(i), newest, newest_v);  // identical: ignored
      EXPECT_TRUE(r.ok()) << r.status();
      // A ref reused from a lookup takes the slot path too.
      r = app->Append(*r, Labels(), newest - 5, 1);
      EXPECT_EQ(ClassifyAppendError(r.status()), AppendError::kOutOfOrder)
          << i << " " << r.status();
      ASSERT_TRUE(app->Commit().ok());
    }
  };
  {
    auto db = *DB::Open(Opts(dir));
    for (int k = 0; k <= 130; ++k) {  // past a chunk cut
      auto app = db->NewAppender();
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(app->Append(0, L(i), k * 1000, k).ok());
      }
      ASSERT_TRUE(app->Commit().ok());
    }
    expect_rejections(db.get(), 130000, 130);
    // As a crash leaves them: replayed from the WAL.
    std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  }
  {
    auto db = *DB::Open(Opts(copy));  // WAL replay
    expect_rejections(db.get(), 130000, 130);
  }
  {
    auto db = *DB::Open(Opts(dir));  // after a clean close: head chunks
    expect_rejections(db.get(), 130000, 130);
    // Deleting the newest samples moves the series' newest sample back.
    ASSERT_TRUE(db->DeleteSeries({M(MatchType::kEqual, "__name__", "m")},
                                 100000, 200000)
                    .ok());
    auto app = db->NewAppender();
    for (int i = 0; i < 10; ++i) {
      auto r = app->Append(0, L(i), 100000, 5);
      EXPECT_TRUE(r.ok()) << i << " " << r.status();
    }
    ASSERT_TRUE(app->Commit().ok());
    EXPECT_EQ(Read(db.get(), 3).back().t, 100000);
    expect_rejections(db.get(), 100000, 5);
  }
}

// Two appenders fill batches for the same series at once; each Append
// passes validation against the committed state, and whichever commit
// comes second drops the samples the first one made stale (counted as out
// of order) instead of applying them out of order. The WAL replays the
// same thing.
TEST(AppenderTest, InterleavedAppendersOnOneSeriesDropStaleSamples) {
  const std::string dir = TempDir("appender_interleaved");
  const std::string copy = TempDir("appender_interleaved_copy");
  std::vector<Sample> want;
  {
    auto db = *DB::Open(Opts(dir));
    SeriesRef ref;
    {
      auto app = db->NewAppender();
      ref = *app->Append(0, L(1), 0, 0);
      ASSERT_TRUE(app->Commit().ok());
    }
    auto a = db->NewAppender();
    auto b = db->NewAppender();
    ASSERT_TRUE(a->Append(ref, L(1), 1000, 1).ok());
    ASSERT_TRUE(a->Append(ref, L(1), 3000, 3).ok());
    ASSERT_TRUE(b->Append(ref, L(1), 2000, 20).ok());  // stale once a commits
    ASSERT_TRUE(b->Append(ref, L(1), 3000, 30).ok());  // duplicate t: stale
    ASSERT_TRUE(b->Append(ref, L(1), 4000, 40).ok());
    ASSERT_TRUE(a->Commit().ok());
    ASSERT_TRUE(b->Commit().ok());
    want = {{0, 0}, {1000, 1}, {3000, 3}, {4000, 40}};
    std::vector<Sample> got = Read(db.get(), 1);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(got[k].t, want[k].t);
      EXPECT_EQ(got[k].v, want[k].v);
    }
    EXPECT_EQ(db->Stats().out_of_order, 2);
    std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  std::vector<Sample> got = Read(db.get(), 1);
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(got[k].t, want[k].t);
    EXPECT_EQ(got[k].v, want[k].v);
  }
}

// Without a WAL a commit also locks all of its series before applying any
// sample (in ref order, whatever order the batch came in): threads whose
// batches visit the same series in opposite orders, some with repeats,
// must neither deadlock nor apply a series' samples out of order; every
// sample is applied, rejected or dropped as stale (timestamps are unique).
TEST(AppenderTest, InMemoryBatchesInOppositeRefOrdersDoNotDeadlock) {
  auto db = *DB::Open(Opts(""));
  constexpr int kSeries = 64;
  std::vector<SeriesRef> refs(kSeries);
  {
    auto app = db->NewAppender();
    for (int i = 0; i < kSeries; ++i) refs[i] = *app->Append(0, L(i), 0, 0);
    ASSERT_TRUE(app->Commit().ok());
  }
  std::atomic<int64_t> clock{1};
  std::atomic<int64_t> attempted{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 3; ++th) {
    threads.emplace_back([&, th] {
      for (int c = 0; c < 200; ++c) {
        auto app = db->NewAppender();
        const int64_t t = clock.fetch_add(2);
        for (int k = 0; k < kSeries; ++k) {
          const int i =
              th == 1 ? kSeries - 1 - k : (th == 2 ? (k * 7) % kSeries : k);
          // Rejected (out of order) here or dropped as stale by the
          // commit: either way counted in out_of_order.
          (void)app->Append(refs[i], L(i), t, static_cast<double>(t));
          attempted.fetch_add(1);
          // A second, newer sample of some series in the same batch.
          if (i % 5 == 0) {
            (void)app->Append(refs[i], L(i), t + 1, static_cast<double>(t + 1));
            attempted.fetch_add(1);
          }
        }
        EXPECT_TRUE(app->Commit().ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  int64_t stored = 0;
  for (int i = 0; i < kSeries; ++i) {
    std::vector<Sample> got = Read(db.get(), i);
    ASSERT_FALSE(got.empty());
    for (size_t k = 1; k < got.size(); ++k) {
      ASSERT_LT(got[k - 1].t, got[k].t) << i;
    }
    for (const Sample& x : got) ASSERT_EQ(x.v, x.t);
    stored += static_cast<int64_t>(got.size()) - 1;  // minus the t=0 sample
  }
  const DBStats st = db->Stats();
  EXPECT_EQ(st.samples_appended - kSeries, stored);
  EXPECT_EQ(stored + st.out_of_order, attempted.load());
  EXPECT_EQ(st.duplicate, 0);
}

// Threads append to the same series concurrently, each acknowledging
// samples from its own timestamp sequence; what a reader sees and what
// the WAL replays hold every applied sample once, increasing, and every
// committed sample that was not dropped as stale.
TEST(AppenderTest, RacingAppendersReplayExactlyWhatWasApplied) {
  const std::string dir = TempDir("appender_racing");
  const std::string copy = TempDir("appender_racing_copy");
  constexpr int kThreads = 4;
  constexpr int kSeries = 16;
  std::vector<std::vector<Sample>> seen(kSeries);
  {
    auto db = *DB::Open(Opts(dir));
    std::atomic<int64_t> clock{1};
    std::vector<std::thread> threads;
    for (int th = 0; th < kThreads; ++th) {
      threads.emplace_back([&] {
        for (int c = 0; c < 300; ++c) {
          auto app = db->NewAppender();
          const int64_t t = clock.fetch_add(1);
          for (int i = 0; i < kSeries; ++i) {
            auto r = app->Append(0, L(i), t, static_cast<double>(t));
            // Validation may already see a newer commit: a clean rejection.
            if (!r.ok()) {
              EXPECT_EQ(ClassifyAppendError(r.status()),
                        AppendError::kOutOfOrder)
                  << r.status();
            }
          }
          EXPECT_TRUE(app->Commit().ok());
        }
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kSeries; ++i) {
      seen[i] = Read(db.get(), i);
      ASSERT_FALSE(seen[i].empty());
      for (size_t k = 1; k < seen[i].size(); ++k) {
        ASSERT_LT(seen[i][k - 1].t, seen[i][k].t) << i;
      }
      for (const Sample& x : seen[i]) ASSERT_EQ(x.v, x.t);
    }
    std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  for (int i = 0; i < kSeries; ++i) {
    std::vector<Sample> got = Read(db.get(), i);
    ASSERT_EQ(got.size(), seen[i].size()) << i;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].t, seen[i][k].t) << i;
    }
  }
}

}  // namespace
}  // namespace vigil::tsdb
