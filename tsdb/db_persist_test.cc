// Persistence: recovery, checkpoints, crash safety under SIGKILL,
// retention with a fake clock, deletion, snapshots and the checker.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "tsdb/chunk_log.h"
#include "tsdb/db.h"
#include "tsdb/store.h"
#include "tsdb/testing/db_test_util.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;
using testing::M;
using testing::Opts;
using testing::TempDir;

Labels L(std::vector<Label> pairs) {
  return *Labels::FromPairs(std::move(pairs));
}
std::map<std::string, std::vector<Sample>> QueryAll(DB* db, int64_t mint = 0) {
  auto q = *db->NewQuerier(mint, std::numeric_limits<int64_t>::max());
  auto series =
      q->Select(SelectHints{}, {M(MatchType::kRegexMatch, "__name__", ".+")});
  EXPECT_TRUE(series.ok()) << series.status();
  std::map<std::string, std::vector<Sample>> out;
  for (Series& s : *series) {
    std::vector<Sample> buf;
    absl::Status st = s.iterator->ReadAll(&buf);
    EXPECT_TRUE(st.ok()) << st;
    out[s.labels.ToString()] = std::move(buf);
  }
  return out;
}

// Appends `rounds` scrapes of `series` series starting at round `from`.
void Fill(DB* db, int series, int from, int rounds) {
  for (int r = from; r < from + rounds; ++r) {
    auto app = db->NewAppender();
    for (int s = 0; s < series; ++s) {
      ASSERT_TRUE(app->Append(0, L({{"__name__", "m"}, {"s", absl::StrCat(s)}}),
                              int64_t{r} * 15000, r * 10 + s)
                      .ok());
    }
    ASSERT_TRUE(app->Commit().ok());
  }
}

void ExpectFilled(DB* db, int series, int rounds) {
  auto all = QueryAll(db);
  ASSERT_EQ(all.size(), static_cast<size_t>(series));
  for (int s = 0; s < series; ++s) {
    const auto& v = all[absl::StrCat("m{s=\"", s, "\"}")];
    ASSERT_EQ(v.size(), static_cast<size_t>(rounds)) << s;
    for (int r = 0; r < rounds; ++r) {
      ASSERT_EQ(v[r].t, int64_t{r} * 15000);
      ASSERT_EQ(v[r].v, r * 10 + s);
    }
  }
}

TEST(DBPersistTest, ReopenAfterCloseKeepsEverything) {
  const std::string dir = TempDir("reopen");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 20, 0, 500);
    EXPECT_GT(db->Stats().chunks_persisted, 0);
    ASSERT_TRUE(db->Close().ok());
  }
  auto db = *DB::Open(Opts(dir));
  ExpectFilled(db.get(), 20, 500);
  EXPECT_EQ(db->MinTime(), 0);
  EXPECT_EQ(db->MaxTime(), 499 * 15000);
  // Appending continues where it stopped; refs stay stable.
  Fill(db.get(), 20, 500, 10);
  ExpectFilled(db.get(), 20, 510);
  // The checker opens the store read-only, so it works on a live DB.
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& p : report->problems) ADD_FAILURE() << p;
  EXPECT_EQ(report->series, 20);
}

// The first commit of a large target creates all its series at once; their
// definitions are written in several store batches, each series with its
// own labels whatever their number.
TEST(DBPersistTest, ManySeriesCreatedInOneCommitKeepTheirLabels) {
  const std::string dir = TempDir("many_new");
  constexpr int kSeries = 2500;
  auto labels_of = [](int s) {
    std::vector<Label> pairs = {{"__name__", "m"}, {"s", absl::StrCat(s)}};
    for (int i = 0; i < s % 4; ++i) {
      pairs.push_back({absl::StrCat("extra", i), std::string(s % 40, 'v')});
    }
    return L(std::move(pairs));
  };
  {
    auto db = *DB::Open(Opts(dir));
    auto app = db->NewAppender();
    for (int s = 0; s < kSeries; ++s) {
      ASSERT_TRUE(app->Append(0, labels_of(s), 1000, s).ok());
    }
    ASSERT_TRUE(app->Commit().ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& p : report->problems) ADD_FAILURE() << p;
  EXPECT_EQ(report->series, kSeries);
  auto db = *DB::Open(Opts(dir));
  auto all = QueryAll(db.get());
  ASSERT_EQ(all.size(), static_cast<size_t>(kSeries));
  for (int s = 0; s < kSeries; ++s) {
    const auto it = all.find(labels_of(s).ToString());
    ASSERT_NE(it, all.end()) << labels_of(s).ToString();
    ASSERT_EQ(it->second.size(), 1u);
    EXPECT_EQ(it->second[0].v, s);
  }
}

TEST(DBPersistTest, RecoveryReplaysWalWithoutClose) {
  const std::string dir = TempDir("wal");
  const std::string copy = TempDir("wal_copy");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 10, 0, 300);
    // Copy the files while the DB is open, as a crash would leave them.
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  ExpectFilled(db.get(), 10, 300);
}

// A head chunk restored at Open is kept as it is (not re-encoded). When a
// newer chunk of the series is sealed and persisted, the restored one must
// become durable with it: recovery treats everything up to the newest
// persisted chunk as durable and skips older head chunks.
TEST(DBPersistTest, RestoredHeadChunkPersistedBeforeNewerChunks) {
  const std::string dir = TempDir("restored");
  const std::string copy = TempDir("restored_copy");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 3, 0, 50);  // all in the open chunk
    ASSERT_TRUE(db->Close().ok());
  }
  {
    auto db = *DB::Open(Opts(dir));
    EXPECT_EQ(db->Stats().recovery_head_chunks, 3);
    ExpectFilled(db.get(), 3, 50);
    // 130 more samples seal a new chunk, which is persisted at once.
    Fill(db.get(), 3, 50, 130);
    EXPECT_GT(db->Stats().chunks_persisted, 0);
    ExpectFilled(db.get(), 3, 180);
    fs::copy(dir, copy, fs::copy_options::recursive);  // kill -9 here
  }
  auto db = *DB::Open(Opts(copy));
  ExpectFilled(db.get(), 3, 180);
  auto report = CheckDataDir(copy);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& p : report->problems) ADD_FAILURE() << p;
}

// Restart twice without appending in between, then crash: the restored
// chunk is written by the checkpoint before its head chunk row is replaced.
TEST(DBPersistTest, RestoredHeadChunkSurvivesCheckpointsAndCrash) {
  const std::string dir = TempDir("restored2");
  const std::string copy = TempDir("restored2_copy");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 4, 0, 30);
    ASSERT_TRUE(db->Close().ok());
  }
  {
    auto db = *DB::Open(Opts(dir));
    ASSERT_TRUE(db->Close().ok());  // checkpoint with only restored chunks
  }
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 4, 30, 20);
    ASSERT_TRUE(db->RunMaintenance().ok());
    Fill(db.get(), 4, 50, 5);
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  ExpectFilled(db.get(), 4, 55);
}

// After a restart the newest value is not decoded; re-sending the same
// sample must still be ignored, and a different value at the same time
// still rejected as a duplicate.
TEST(DBPersistTest, IdenticalResendAfterRestartIsIgnored) {
  const std::string dir = TempDir("resend");
  const Labels l = L({{"__name__", "m"}, {"s", "0"}});
  for (int persisted = 0; persisted < 2; ++persisted) {
    fs::remove_all(dir);
    {
      auto db = *DB::Open(Opts(dir));
      const int n = persisted ? 240 : 50;
      auto app = db->NewAppender();
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(app->Append(0, l, i * 1000, i + 0.5).ok());
      }
      ASSERT_TRUE(app->Commit().ok());
      ASSERT_TRUE(db->Close().ok());
    }
    if (persisted) {
      // The restored head chunk is written to the chunk store by the next
      // checkpoint; after that the newest sample is only in the store.
      auto db = *DB::Open(Opts(dir));
      ASSERT_TRUE(db->Close().ok());
    }
    auto db = *DB::Open(Opts(dir));
    const int64_t last_t = db->MaxTime();
    const double last_v = last_t / 1000 + 0.5;
    auto app = db->NewAppender();
    EXPECT_TRUE(app->Append(0, l, last_t, last_v).ok()) << persisted;
    auto dup = app->Append(0, l, last_t, last_v + 1);
    EXPECT_EQ(ClassifyAppendError(dup.status()), AppendError::kDuplicate)
        << persisted << " " << dup.status();
    auto old = app->Append(0, l, last_t - 1000, 1);
    EXPECT_EQ(ClassifyAppendError(old.status()), AppendError::kOutOfOrder);
    EXPECT_TRUE(app->Append(0, l, last_t + 1000, 7).ok());
    ASSERT_TRUE(app->Commit().ok());
  }
}

// Several appenders write the same series concurrently with interleaved
// timestamps. Whatever each commit got applied, the WAL must replay to
// exactly the samples readers saw (same order in WAL and memory).
TEST(DBPersistTest, ConcurrentSameSeriesAppendersReplayExactly) {
  const std::string dir = TempDir("same_series");
  const std::string copy = TempDir("same_series_copy");
  constexpr int kThreads = 4, kCommits = 300;
  std::map<std::string, std::vector<Sample>> before;
  {
    auto db = *DB::Open(Opts(dir));
    std::atomic<int64_t> clock{1};
    std::vector<std::thread> threads;
    for (int w = 0; w < kThreads; ++w) {
      threads.emplace_back([&] {
        for (int c = 0; c < kCommits; ++c) {
          auto app = db->NewAppender();
          // Reserve timestamps, then append them after a pause so commits
          // of different threads overlap with older timestamps.
          const int64_t t = clock.fetch_add(2);
          for (int s = 0; s < 3; ++s) {
            (void)app->Append(
                0, L({{"__name__", "shared"}, {"s", absl::StrCat(s)}}), t,
                static_cast<double>(t));
            (void)app->Append(
                0, L({{"__name__", "shared"}, {"s", absl::StrCat(s)}}), t + 1,
                static_cast<double>(t + 1));
          }
          if (c % 7 == 0) std::this_thread::yield();
          ASSERT_TRUE(app->Commit().ok());
        }
      });
    }
    for (auto& t : threads) t.join();
    before = QueryAll(db.get());
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  ASSERT_EQ(before.size(), 3u);
  auto db = *DB::Open(Opts(copy));
  auto after = QueryAll(db.get());
  ASSERT_EQ(after.size(), before.size());
  for (auto& [l, v] : before) {
    const auto& w = after[l];
    ASSERT_EQ(w.size(), v.size()) << l;
    for (size_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(w[i].t, v[i].t) << l << " " << i;
      ASSERT_EQ(w[i].v, v[i].v) << l << " " << i;
    }
  }
}

// Series scraped together must not all seal their chunks in one commit
// (that commit would write every series' chunk at once).
TEST(DBPersistTest, ChunkCutsAreSpreadOverCommits) {
  const std::string dir = TempDir("jitter");
  auto db = *DB::Open(Opts(dir));
  constexpr int kSeries = 200;
  int64_t max_per_commit = 0;
  // 140 rounds: past the latest first cut (135 samples), before the
  // earliest second one (208).
  for (int r = 0; r < 140; ++r) {
    const int64_t before = db->Stats().chunks_persisted;
    Fill(db.get(), kSeries, r, 1);
    max_per_commit =
        std::max(max_per_commit, db->Stats().chunks_persisted - before);
  }
  EXPECT_EQ(db->Stats().chunks_persisted, kSeries);  // one cut per series
  EXPECT_LE(max_per_commit, kSeries / 4);
  ExpectFilled(db.get(), kSeries, 140);
}

TEST(DBPersistTest, CheckpointTruncatesWalAndRecovers) {
  const std::string dir = TempDir("ckpt");
  const std::string copy = TempDir("ckpt_copy");
  DBOptions o = Opts(dir);
  // ~7.7 KB of WAL (~5 bytes a sample) over several segments.
  o.wal_segment_bytes = 1024;
  o.wal_checkpoint_bytes = 2048;
  {
    auto db = *DB::Open(o);
    Fill(db.get(), 10, 0, 150);
    const int64_t before = db->Stats().wal_bytes;
    ASSERT_TRUE(db->RunMaintenance().ok());
    EXPECT_EQ(db->Stats().wal_checkpoints, 1);
    EXPECT_LT(db->Stats().wal_bytes, before);
    Fill(db.get(), 10, 150, 50);
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  o.path = copy;
  auto db = *DB::Open(o);
  ExpectFilled(db.get(), 10, 200);
}

// A child appends batches and reports each acknowledged one through a
// pipe; the parent kills it with SIGKILL at random points, several times,
// then checks that every acknowledged sample is there.
TEST(DBPersistTest, SurvivesSigkillAtRandomPoints) {
#if defined(__SANITIZE_THREAD__)
  // The child is forked from a process with threads, which TSan does not
  // support; the plain and ASan runs cover this test.
  GTEST_SKIP() << "fork of a multi-threaded process under ThreadSanitizer";
#endif
  const std::string dir = TempDir("crash");
  constexpr int kSeries = 50;
  std::mt19937 rng(42);
  int acked = 0;  // rounds [0, acked) are acknowledged
  for (int attempt = 0; attempt < 6; ++attempt) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      DBOptions o = Opts(dir);
      o.wal_segment_bytes = 16 << 10;
      o.wal_checkpoint_bytes = 64 << 10;
      o.maintenance_interval = absl::Milliseconds(20);
      auto db = DB::Open(o);
      if (!db.ok()) _exit(3);
      // Resume after the newest committed round.
      int r = (*db)->MaxTime() == 0 && (*db)->Stats().head_series == 0
                  ? 0
                  : static_cast<int>((*db)->MaxTime() / 15000) + 1;
      for (;; ++r) {
        auto app = (*db)->NewAppender();
        for (int s = 0; s < kSeries; ++s) {
          if (!app->Append(0, L({{"__name__", "m"}, {"s", absl::StrCat(s)}}),
                           int64_t{r} * 15000, r * 10 + s)
                   .ok()) {
            _exit(4);
          }
        }
        if (!app->Commit().ok()) _exit(5);
        int32_t n = r;
        if (write(fds[1], &n, sizeof n) != sizeof n) _exit(6);
      }
    }
    close(fds[1]);
    std::uniform_int_distribution<int> delay_ms(50, 400);
    // Start the clock once the child has opened the DB and committed a
    // round, so a slow machine still kills it mid-stream.
    int32_t n;
    ASSERT_EQ(read(fds[0], &n, sizeof n), static_cast<ssize_t>(sizeof n));
    ASSERT_GE(n, acked) << "acknowledged round lost";
    acked = n + 1;
    const auto deadline = absl::Now() + absl::Milliseconds(delay_ms(rng));
    while (absl::Now() < deadline && read(fds[0], &n, sizeof n) == sizeof n) {
      // A round may be committed and its ack lost to the kill; never may
      // an acknowledged round be missing when the child resumes.
      ASSERT_GE(n, acked) << "acknowledged round lost";
      acked = n + 1;
    }
    kill(pid, SIGKILL);
    // Drain what was acknowledged before the kill landed.
    while (read(fds[0], &n, sizeof n) == sizeof n) acked = n + 1;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
  }
  ASSERT_GE(acked, 6);
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& p : report->problems) ADD_FAILURE() << p;
  auto db = DB::Open(Opts(dir));
  ASSERT_TRUE(db.ok()) << db.status();
  auto all = QueryAll(db->get());
  ASSERT_EQ(all.size(), static_cast<size_t>(kSeries));
  for (int s = 0; s < kSeries; ++s) {
    const auto& v = all[absl::StrCat("m{s=\"", s, "\"}")];
    ASSERT_GE(v.size(), static_cast<size_t>(acked)) << s;
    for (int r = 0; r < static_cast<int>(v.size()); ++r) {
      ASSERT_EQ(v[r].t, int64_t{r} * 15000);
      ASSERT_EQ(v[r].v, r * 10 + s);
    }
  }
}

ChunkPtr OneSampleChunk(int64_t t) {
  HeadChunkEncoder enc;
  enc.Append(t, 1);
  auto c = std::make_shared<ChunkData>();
  c->encoding = kHeadChunkEncoding;
  c->min_time = c->max_time = t;
  c->num_samples = 1;
  c->bytes = std::string(enc.Bytes());
  return c;
}

TEST(DBPersistTest, RetentionByTimeWithFakeClock) {
  const std::string dir = TempDir("retention");
  std::atomic<int64_t> now{0};
  DBOptions o = Opts(dir);
  o.retention = absl::Hours(6);
  o.now_ms = [&] { return now.load(); };
  auto db = *DB::Open(o);
  now = 24 * 3600 * 1000;
  // One sample per 10 minutes over a day, two series; one stops early.
  for (int64_t t = 0; t < 24 * 3600 * 1000; t += 600 * 1000) {
    ASSERT_TRUE(
        db->ImportChunk(L({{"__name__", "a"}}), OneSampleChunk(t)).ok());
  }
  auto app = db->NewAppender();
  ASSERT_TRUE(app->Append(0, L({{"__name__", "old"}}), 3600 * 1000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  ASSERT_TRUE(db->RunMaintenance().ok());
  const int64_t cutoff = 18 * 3600 * 1000;
  auto all = QueryAll(db.get());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_GE(all["a"].front().t, cutoff);
  EXPECT_EQ(db->MinTime(), cutoff);
  EXPECT_EQ(db->Stats().retention_deletions, 1);
  EXPECT_GE(db->Stats().compactions, 1);
  // Appends older than the cutoff are out of bounds.
  auto app2 = db->NewAppender();
  EXPECT_EQ(
      ClassifyAppendError(
          app2->Append(0, L({{"__name__", "b"}}), cutoff - 1, 1).status()),
      AppendError::kOutOfBounds);
  // Survives reopening.
  ASSERT_TRUE(db->Close().ok());
  db = *DB::Open(o);
  all = QueryAll(db.get());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_GE(all["a"].front().t, cutoff);
}

TEST(DBPersistTest, DeleteSeriesSurvivesReopen) {
  const std::string dir = TempDir("delete");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 3, 0, 400);
    ASSERT_TRUE(db->DeleteSeries({M(MatchType::kEqual, "s", "1")}, 15000 * 100,
                                 15000 * 199)
                    .ok());
    ASSERT_TRUE(
        db->DeleteSeries({M(MatchType::kEqual, "s", "2")}, 0, 1LL << 62).ok());
    auto all = QueryAll(db.get());
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all["m{s=\"1\"}"].size(), 300u);
    ASSERT_TRUE(db->CleanTombstones().ok());
  }
  auto db = *DB::Open(Opts(dir));
  auto all = QueryAll(db.get());
  ASSERT_EQ(all.size(), 2u);
  const auto& v = all["m{s=\"1\"}"];
  ASSERT_EQ(v.size(), 300u);
  EXPECT_EQ(v[99].t, 15000 * 99);
  EXPECT_EQ(v[100].t, 15000 * 200);
  EXPECT_EQ(all["m{s=\"0\"}"].size(), 400u);
}

TEST(DBPersistTest, SnapshotOpensAsDataDir) {
  const std::string dir = TempDir("snap");
  const std::string snap = TempDir("snap_copy");
  auto db = *DB::Open(Opts(dir));
  Fill(db.get(), 5, 0, 300);
  ASSERT_TRUE(db->Snapshot(snap).ok());
  EXPECT_FALSE(db->Snapshot(snap).ok());  // exists
  Fill(db.get(), 5, 300, 10);
  auto copy = *DB::Open(Opts(snap));
  ExpectFilled(copy.get(), 5, 300);
}

// Overwrites one stored value through RocksDB directly.
void Corrupt(const std::string& dir, const std::string& cf_name,
             const std::string& key, const std::string& value) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* n :
       {"default", "series", "seriesmeta", "chunks", "headchunks"}) {
    cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir + "/rocksdb", cfs,
                                &handles, &raw)
                  .ok());
  for (auto* h : handles) {
    if (h->GetName() == cf_name) {
      ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), h, key, value).ok());
    }
  }
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

std::string BE64(uint64_t v) {
  std::string k;
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(v >> (8 * i)));
  return k;
}

TEST(DBPersistTest, CorruptChunkIsReportedWithItsKey) {
  const std::string dir = TempDir("corrupt");
  {
    auto db = *DB::Open(Opts(dir));
    // 5 h: the first two chunk ranges close and go from the head chunk log
    // to the store, one chunk each.
    Fill(db.get(), 2, 0, 1200);
    ASSERT_TRUE(db->MergeChunks().ok());
  }
  auto good = CheckDataDir(dir);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(good->ok());
  EXPECT_EQ(good->series, 2);
  EXPECT_GT(good->chunks, 2);
  EXPECT_FALSE(CheckDataDir(dir + "/nonexistent").ok());

  // The first chunk of series 1 (min time 0): keep the header, break the
  // checksum.
  const std::string key = BE64(1) + BE64(uint64_t{1} << 63);
  {
    auto store = ChunkStore::Open(dir + "/rocksdb");
    ASSERT_TRUE(store.ok()) << store.status();
    std::vector<ChunkPtr> chunks;
    ASSERT_TRUE((*store)->ReadChunks(1, 0, 0, &chunks).ok());
    ASSERT_EQ(chunks.size(), 1u);
    std::string v = EncodeChunkValue(*chunks[0]);
    v.back() ^= 0x55;
    ASSERT_TRUE((*store)->Close().ok());
    Corrupt(dir, "chunks", key, v);
  }
  auto bad = CheckDataDir(dir);
  ASSERT_TRUE(bad.ok()) << bad.status();
  ASSERT_FALSE(bad->ok());
  EXPECT_NE(bad->problems[0].find("chunks key 0000000000000001"),
            std::string::npos)
      << bad->problems[0];
  // The DB refuses to serve the broken series instead of returning wrong
  // samples; the error names the key.
  auto db = *DB::Open(Opts(dir));
  auto q = *db->NewQuerier(0, 1 << 30);
  auto ss = q->Select({}, {M(MatchType::kEqual, "s", "0")});
  // Persisted chunks are read when the series is iterated (so queries read
  // series in parallel): the error comes from Select or from the iterator.
  absl::Status st = ss.status();
  if (ss.ok()) {
    ASSERT_EQ(ss->size(), 1u);
    std::vector<Sample> samples;
    st = (*ss)[0].iterator->ReadAll(&samples);
  }
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("chunks key 0000000000000001"), std::string::npos)
      << st;
}

TEST(DBPersistTest, CorruptSeriesFailsOpenNamingTheKey) {
  const std::string dir = TempDir("corrupt_series");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 2, 0, 10);
  }
  Corrupt(dir, "series", BE64(2), "garbage");
  auto db = DB::Open(Opts(dir));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(db.status().message().find("series key 0000000000000002"),
            std::string::npos)
      << db.status();
}

// Sealed chunks wait in the head chunk log until their range closes; the
// merger then moves them to the store and deletes the segments that held
// only moved chunks. Queries see every sample at every stage, and so does
// a reopened DB.
TEST(DBPersistTest, HeadChunkLogMovesClosedRangesAndDropsSegments) {
  const std::string dir = TempDir("chunk_log_moves");
  DBOptions o = Opts(dir);
  o.chunk_log_segment_bytes = 8 << 10;  // several segments
  auto count_segments = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir + "/chunks_head")) {
      n += e.is_regular_file();
    }
    return n;
  };
  constexpr int kSeries = 30;
  constexpr int kRounds = 9 * 240 + 1;  // 9 h at 15 s
  {
    auto db = *DB::Open(o);
    Fill(db.get(), kSeries, 0, kRounds);
    const DBStats before = db->Stats();
    EXPECT_GT(before.chunks_persisted, kSeries * 17);
    EXPECT_EQ(before.chunk_merges, 0);
    const int segments = count_segments();
    EXPECT_GE(segments, 4);
    ExpectFilled(db.get(), kSeries, kRounds);
    ASSERT_TRUE(db->MergeChunks().ok());
    // [0, 8 h) is closed: one merged chunk per series and range.
    const DBStats after = db->Stats();
    EXPECT_EQ(after.chunk_merges, kSeries * 4);
    EXPECT_GE(after.chunks_moved, kSeries * 4);
    EXPECT_LT(count_segments(), segments);
    EXPECT_GT(before.chunk_log_bytes, 0);
    EXPECT_LT(after.chunk_log_bytes, before.chunk_log_bytes);
    EXPECT_GE(after.disk_bytes, after.chunk_log_bytes);
    ExpectFilled(db.get(), kSeries, kRounds);
  }
  auto db = *DB::Open(o);
  ExpectFilled(db.get(), kSeries, kRounds);
  ASSERT_TRUE(db->MergeChunks().ok());
  EXPECT_EQ(db->Stats().chunk_merges, 0);     // nothing moved twice
  Fill(db.get(), kSeries, kRounds, 4 * 240);  // 4 h more: [8 h, 12 h) close
  ASSERT_TRUE(db->MergeChunks().ok());
  EXPECT_EQ(db->Stats().chunk_merges, kSeries * 2);
  ExpectFilled(db.get(), kSeries, kRounds + 4 * 240);
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok());
}

// WAL replay seals many chunks of each series and logs them in batches
// that interleave series: every chunk is logged once. (A crash copy whose
// head chunk log is gone stands for a WAL whose chunks were never logged.)
TEST(DBPersistTest, ReplayLogsEachSealedChunkOnce) {
  const std::string dir = TempDir("replay_logs_once");
  const std::string copy = TempDir("replay_logs_once_copy");
  constexpr int kSeries = 10;
  constexpr int kRounds = 1000;  // ~9 sealed chunks per series
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), kSeries, 0, kRounds);
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  fs::remove_all(copy + "/chunks_head");
  {
    auto db = *DB::Open(Opts(copy));
    EXPECT_EQ(db->Stats().recovery_wal_samples, kSeries * kRounds);
    ExpectFilled(db.get(), kSeries, kRounds);
  }
  std::map<std::pair<SeriesRef, int64_t>, int> logged;
  ASSERT_TRUE(
      ChunkLog::ScanDir(copy + "/chunks_head", [&](const ChunkLog::Record& r,
                                                   absl::string_view) {
        ++logged[{r.ref, r.min_time}];
        return absl::OkStatus();
      }).ok());
  EXPECT_GE(logged.size(), static_cast<size_t>(kSeries * 8));
  for (const auto& [key, n] : logged) {
    EXPECT_EQ(n, 1) << "ref " << key.first << " chunk at " << key.second;
  }
}

// A damaged record inside a head chunk log segment fails Open with the
// file and offset instead of serving a series with a hole, and the checker
// reports it.
TEST(DBPersistTest, CorruptChunkLogRecordFailsOpenNamingTheSegment) {
  const std::string dir = TempDir("corrupt_chunk_log");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 3, 0, 700);  // 5 or 6 sealed chunks per series
  }
  const std::string seg = dir + "/chunks_head/00000001";
  ASSERT_GT(fs::file_size(seg), 1000u);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);  // inside the first record's chunk bytes
    f.put('\x5a');
  }
  auto db = DB::Open(Opts(dir));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss) << db.status();
  EXPECT_NE(db.status().message().find(seg), std::string::npos) << db.status();
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_FALSE(report->ok());
  EXPECT_NE(report->problems[0].find(seg), std::string::npos)
      << report->problems[0];
}

TEST(DBPersistTest, CorruptWalRecordFailsOpenNamingTheSegment) {
  const std::string dir = TempDir("corrupt_wal");
  const std::string copy = TempDir("corrupt_wal_copy");
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), 5, 0, 20);
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  const std::string copy2 = TempDir("torn_wal");
  fs::copy(copy, copy2, fs::copy_options::recursive);
  // Flip a byte in the middle of the (only) non-empty segment.
  std::string seg;
  for (const auto& e : fs::directory_iterator(copy + "/wal")) {
    if (fs::file_size(e.path()) > 0) seg = e.path().string();
  }
  ASSERT_FALSE(seg.empty());
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(seg) / 2));
    char c;
    f.read(&c, 1);
    c ^= 0x20;
    f.seekp(static_cast<std::streamoff>(fs::file_size(seg) / 2));
    f.write(&c, 1);
  }
  auto db = DB::Open(Opts(copy));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(db.status().message().find(seg), std::string::npos) << db.status();
  // A torn tail (truncated last record) is not corruption.
  for (const auto& e : fs::directory_iterator(copy2 + "/wal")) {
    if (fs::file_size(e.path()) > 0) {
      fs::resize_file(e.path(), fs::file_size(e.path()) - 3);
    }
  }
  auto db2 = DB::Open(Opts(copy2));
  ASSERT_TRUE(db2.ok()) << db2.status();
  ExpectFilled(db2->get(), 5, 19);
}

TEST(DBPersistTest, ConcurrentAppendQueryAndCheckpoint) {
  const std::string dir = TempDir("concurrent");
  DBOptions o = Opts(dir);
  o.wal_segment_bytes = 8 << 10;
  o.wal_checkpoint_bytes = 32 << 10;
  o.maintenance_interval = absl::Milliseconds(5);
  constexpr int kWriters = 3, kSeries = 50, kRounds = 120;
  {
    auto db = *DB::Open(o);
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w] {
        std::vector<SeriesRef> refs(kSeries, 0);
        for (int r = 0; r < kRounds; ++r) {
          auto app = db->NewAppender();
          for (int s = 0; s < kSeries; ++s) {
            auto ref = app->Append(refs[s],
                                   L({{"__name__", "c"},
                                      {"w", absl::StrCat(w)},
                                      {"s", absl::StrCat(s)}}),
                                   int64_t{r} * 1000, r);
            ASSERT_TRUE(ref.ok()) << ref.status();
            refs[s] = *ref;
          }
          ASSERT_TRUE(app->Commit().ok());
        }
      });
    }
    threads.emplace_back([&] {
      while (!done.load()) {
        for (auto& [l, v] : QueryAll(db.get())) {
          for (size_t i = 0; i < v.size(); ++i) {
            ASSERT_EQ(v[i].t, static_cast<int64_t>(i) * 1000) << l;
          }
        }
      }
    });
    for (int w = 0; w < kWriters; ++w) threads[w].join();
    done = true;
    threads.back().join();
    EXPECT_GT(db->Stats().wal_checkpoints, 0);
  }
  auto db = *DB::Open(o);
  auto all = QueryAll(db.get());
  ASSERT_EQ(all.size(), static_cast<size_t>(kWriters * kSeries));
  for (auto& [l, v] : all) ASSERT_EQ(v.size(), size_t{kRounds}) << l;
}

TEST(DBPersistTest, CardinalityStats) {
  auto db = *DB::Open(Opts(TempDir("card")));
  auto app = db->NewAppender();
  ASSERT_TRUE(app->Append(0, L({{"__name__", "a"}, {"job", "x"}}), 1, 1).ok());
  ASSERT_TRUE(app->Append(0, L({{"__name__", "a"}, {"job", "y"}}), 1, 1).ok());
  ASSERT_TRUE(app->Append(0, L({{"__name__", "b"}, {"job", "x"}}), 1, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  TsdbStatus st = db->CardinalityStats(10);
  EXPECT_EQ(st.num_series, 3);
  EXPECT_EQ(st.num_label_pairs, 4);
  ASSERT_EQ(st.series_count_by_metric_name.size(), 2u);
  EXPECT_EQ(st.series_count_by_metric_name[0], (TsdbStatus::Entry{"a", 2}));
  EXPECT_EQ(st.label_value_count_by_label_name[0],
            (TsdbStatus::Entry{"__name__", 2}));
  EXPECT_EQ(st.series_count_by_label_value_pair[0],
            (TsdbStatus::Entry{"__name__=a", 2}));
  EXPECT_EQ(st.series_count_by_label_value_pair[1],
            (TsdbStatus::Entry{"job=x", 2}));
  EXPECT_EQ(db->CardinalityStats(1).series_count_by_metric_name.size(), 1u);
}

}  // namespace
}  // namespace vigil::tsdb
