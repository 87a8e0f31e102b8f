// Recovery and WAL checkpoints: what a checkpoint leaves to replay, a
// SIGKILL landing inside a checkpoint, and the two-thread series load at
// Open (batches handed from the scanning thread to the building thread).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rocksdb/db.h"
#include "tsdb/db.h"
#include "tsdb/testing/db_test_util.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;
using testing::M;
using testing::Opts;
using testing::TempDir;

Labels SeriesLabels(int s) {
  return *Labels::FromPairs({{"__name__", "m"},
                             {"group", absl::StrCat("g", s % 7)},
                             {"s", absl::StrCat(s)}});
}

double Value(int s, int r) { return r * 10 + s; }

// Appends rounds [from, from + rounds) of `series` series, one commit each.
void Fill(DB* db, int series, int from, int rounds) {
  for (int r = from; r < from + rounds; ++r) {
    auto app = db->NewAppender();
    for (int s = 0; s < series; ++s) {
      ASSERT_TRUE(
          app->Append(0, SeriesLabels(s), int64_t{r} * 15000, Value(s, r))
              .ok());
    }
    ASSERT_TRUE(app->Commit().ok());
  }
}

// The first round a SIGKILL test's child appends: the one after the
// newest round the reopened `db` holds.
int NextRound(DB* db) {
  return db->Stats().head_series == 0
             ? 0
             : static_cast<int>(db->MaxTime() / 15000) + 1;
}

// The child side of the SIGKILL tests: appends rounds of `series` series
// from round `r` on (refs cached, one commit each) and calls `acked(r)`
// after each commit, until the parent kills the process.
template <typename Acked>
[[noreturn]] void AppendRoundsUntilKilled(DB* db, int series, int r,
                                          Acked acked) {
  std::vector<Labels> labels;
  for (int s = 0; s < series; ++s) labels.push_back(SeriesLabels(s));
  std::vector<SeriesRef> refs(series, 0);
  for (;; ++r) {
    auto app = db->NewAppender();
    for (int s = 0; s < series; ++s) {
      auto ref =
          app->Append(refs[s], labels[s], int64_t{r} * 15000, Value(s, r));
      if (!ref.ok()) _exit(4);
      refs[s] = *ref;
    }
    if (!app->Commit().ok()) _exit(5);
    acked(r);
  }
}

// Series -> samples for every series matching `matchers`.
std::map<std::string, std::vector<Sample>> Query(
    DB* db, std::vector<Matcher> matchers) {
  auto q = *db->NewQuerier(std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max());
  auto series = q->Select(SelectHints{}, matchers);
  EXPECT_TRUE(series.ok()) << series.status();
  std::map<std::string, std::vector<Sample>> out;
  if (!series.ok()) return out;
  for (Series& s : *series) {
    std::vector<Sample> buf;
    absl::Status st = s.iterator->ReadAll(&buf);
    EXPECT_TRUE(st.ok()) << st;
    out[s.labels.ToString()] = std::move(buf);
  }
  return out;
}

// Every series holds rounds [0, n) for one n in [at_least, at_most], each
// sample once and in order (after a crash, committed but unacknowledged
// rounds may follow the acknowledged ones).
void ExpectRounds(DB* db, int series, int at_least, int at_most) {
  auto all = Query(db, {M(MatchType::kEqual, "__name__", "m")});
  ASSERT_EQ(all.size(), static_cast<size_t>(series));
  for (int s = 0; s < series; ++s) {
    const auto& v = all[SeriesLabels(s).ToString()];
    ASSERT_GE(v.size(), static_cast<size_t>(at_least)) << "series " << s;
    ASSERT_LE(v.size(), static_cast<size_t>(at_most)) << "series " << s;
    for (size_t r = 0; r < v.size(); ++r) {
      ASSERT_EQ(v[r].t, static_cast<int64_t>(r) * 15000) << "series " << s;
      ASSERT_EQ(v[r].v, Value(s, static_cast<int>(r)))
          << "series " << s << " round " << r;
    }
  }
}

// Every series holds exactly rounds [0, rounds), each sample once.
void ExpectExactly(DB* db, int series, int rounds) {
  ExpectRounds(db, series, rounds, rounds);
}

void ExpectCheckClean(const std::string& dir) {
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& p : report->problems) ADD_FAILURE() << p;
}

// A crash right after a checkpoint: the WAL before it is gone and nothing
// is left to replay; every sample comes back from the head chunks and the
// persisted chunks (RocksDB replays its own WAL for the head chunk rows).
TEST(DBRecoveryTest, CrashRightAfterCheckpointReplaysNothing) {
  const std::string dir = TempDir("rec_ckpt_exact");
  const std::string copy = TempDir("rec_ckpt_exact_copy");
  constexpr int kSeries = 40;
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), kSeries, 0, 150);  // one sealed chunk + an open one each
    const int64_t wal_before = db->Stats().wal_bytes;
    ASSERT_TRUE(db->RunMaintenance().ok());  // wal_bytes > 0: not due yet
    EXPECT_EQ(db->Stats().wal_checkpoints, 0);
    ASSERT_GT(wal_before, 0);
  }
  // Reopen with a tiny threshold so maintenance checkpoints, then copy the
  // directory with the DB still open: what kill -9 leaves.
  {
    DBOptions o = Opts(dir);
    o.wal_checkpoint_bytes = 1;
    auto db = *DB::Open(o);
    Fill(db.get(), kSeries, 150, 20);
    ASSERT_TRUE(db->RunMaintenance().ok());
    EXPECT_EQ(db->Stats().wal_checkpoints, 1);
    EXPECT_EQ(db->Stats().wal_bytes, 0);  // only the fresh, empty segment
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  auto db = *DB::Open(Opts(copy));
  EXPECT_EQ(db->Stats().recovery_wal_samples, 0);
  EXPECT_EQ(db->Stats().recovery_head_chunks, kSeries);
  ExpectExactly(db.get(), kSeries, 170);
  ExpectCheckClean(copy);
}

// Samples committed after a checkpoint are the only ones replayed, and
// each exactly once, also across two checkpoints and a restart between.
TEST(DBRecoveryTest, ReplayAfterCheckpointCoversOnlyLaterSamples) {
  const std::string dir = TempDir("rec_ckpt_later");
  const std::string copy = TempDir("rec_ckpt_later_copy");
  constexpr int kSeries = 25;
  DBOptions o = Opts(dir);
  o.wal_segment_bytes = 4096;
  o.wal_checkpoint_bytes = 1;
  {
    auto db = *DB::Open(o);
    Fill(db.get(), kSeries, 0, 100);
    ASSERT_TRUE(db->RunMaintenance().ok());
    Fill(db.get(), kSeries, 100, 60);  // seals chunks after the checkpoint
    ASSERT_TRUE(db->RunMaintenance().ok());
    EXPECT_EQ(db->Stats().wal_checkpoints, 2);
    Fill(db.get(), kSeries, 160, 7);
    fs::copy(dir, copy, fs::copy_options::recursive);
  }
  {
    DBOptions oc = o;
    oc.path = copy;
    auto db = *DB::Open(oc);
    EXPECT_EQ(db->Stats().recovery_wal_samples, kSeries * 7);
    ExpectExactly(db.get(), kSeries, 167);
    // Crash again after more samples and another checkpoint.
    Fill(db.get(), kSeries, 167, 3);
    ASSERT_TRUE(db->RunMaintenance().ok());
    Fill(db.get(), kSeries, 170, 2);
    const std::string copy2 = copy + "_2";
    fs::remove_all(copy2);
    fs::copy(copy, copy2, fs::copy_options::recursive);
    db.reset();
    oc.path = copy2;
    auto db2 = *DB::Open(oc);
    EXPECT_EQ(db2->Stats().recovery_wal_samples, kSeries * 2);
    ExpectExactly(db2.get(), kSeries, 172);
    ExpectCheckClean(copy2);
  }
}

// A child appends while another thread checkpoints in a loop and tells the
// parent each time a checkpoint starts; the parent SIGKILLs it a random
// few hundred microseconds later, so most kills land inside a checkpoint
// (between head chunk batches, before or after the WAL pointer moves, or
// while old segments are deleted). Every acknowledged round must survive,
// each sample once.
TEST(DBRecoveryTest, SigkillDuringCheckpoint) {
#if defined(__SANITIZE_THREAD__)
  // The child is forked from a process with threads, which TSan does not
  // support; the plain and ASan runs cover this test.
  GTEST_SKIP() << "fork of a multi-threaded process under ThreadSanitizer";
#endif
  const std::string dir = TempDir("rec_kill_ckpt");
  // More than one head chunk batch (4096 series) per checkpoint.
  constexpr int kSeries = 5000;
  std::mt19937 rng(7);
  int acked = 0;  // rounds [0, acked) are acknowledged
  for (int attempt = 0; attempt < 4; ++attempt) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      DBOptions o = Opts(dir);
      o.wal_segment_bytes = 64 << 10;
      o.wal_checkpoint_bytes = 1;
      auto db = DB::Open(o);
      if (!db.ok()) _exit(3);
      int r = NextRound(db->get());
      absl::Mutex write_mu;  // one writer on the pipe at a time
      auto report = [&](int32_t msg) {
        absl::MutexLock l(&write_mu);
        if (write(fds[1], &msg, sizeof msg) != sizeof msg) _exit(6);
      };
      std::thread checkpointer([&] {
        for (;;) {
          report(-1);  // a checkpoint starts now
          if (!(*db)->RunMaintenance().ok()) _exit(7);
          absl::SleepFor(absl::Milliseconds(1));
        }
      });
      checkpointer.detach();
      AppendRoundsUntilKilled(db->get(), kSeries, r, report);
    }
    close(fds[1]);
    // Wait for two acknowledged rounds of this child, then for the next
    // checkpoint start, then kill after a random short delay.
    int32_t n;
    int rounds_seen = 0;
    bool in_checkpoint = false;
    while (read(fds[0], &n, sizeof n) == sizeof n) {
      if (n >= 0) {
        ASSERT_GE(n, acked) << "acknowledged round lost";
        acked = n + 1;
        ++rounds_seen;
      } else if (rounds_seen >= 2) {
        in_checkpoint = true;
        break;
      }
    }
    ASSERT_TRUE(in_checkpoint) << "child died before a checkpoint";
    std::uniform_int_distribution<int> delay_us(0, 3000);
    absl::SleepFor(absl::Microseconds(delay_us(rng)));
    kill(pid, SIGKILL);
    while (read(fds[0], &n, sizeof n) == sizeof n) {
      if (n >= 0) acked = n + 1;
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
  }
  ExpectCheckClean(dir);
  auto db = DB::Open(Opts(dir));
  ASSERT_TRUE(db.ok()) << db.status();
  ExpectRounds(db->get(), kSeries, acked, std::numeric_limits<int>::max());
}

// More series than the scan-to-build queue holds (8 batches of 4096): the
// scanner blocks and resumes, and the head, index and refs come back
// complete.
TEST(DBRecoveryTest, ManySeriesComeBackThroughTheBatchQueue) {
  const std::string dir = TempDir("rec_many");
  constexpr int kSeries = 34000;
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), kSeries, 0, 2);
    ASSERT_TRUE(db->Close().ok());
  }
  auto db = *DB::Open(Opts(dir));
  EXPECT_EQ(db->Stats().head_series, kSeries);
  ExpectExactly(db.get(), kSeries, 2);
  // The index is complete: one group holds every 7th series.
  auto g3 = Query(db.get(), {M(MatchType::kEqual, "group", "g3")});
  EXPECT_EQ(g3.size(), static_cast<size_t>((kSeries - 3 + 6) / 7));
  auto one = Query(db.get(), {M(MatchType::kEqual, "s", "33999")});
  EXPECT_EQ(one.size(), 1u);
  // A new series gets a ref above every recovered one, so it does not
  // collide with an existing series.
  auto app = db->NewAppender();
  auto ref = app->Append(
      0, *Labels::FromPairs({{"__name__", "m"}, {"s", "new"}}), 45000, 1);
  ASSERT_TRUE(ref.ok());
  EXPECT_GT(*ref, static_cast<SeriesRef>(kSeries));
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(Query(db.get(), {M(MatchType::kEqual, "__name__", "m")}).size(),
            static_cast<size_t>(kSeries + 1));
}

// A bad series definition far into the scan fails Open with DataLoss
// naming the key; the building thread stops cleanly (no hang, no crash).
TEST(DBRecoveryTest, CorruptSeriesInALaterBatchFailsOpen) {
  const std::string dir = TempDir("rec_corrupt_late");
  constexpr int kSeries = 38000;
  {
    auto db = *DB::Open(Opts(dir));
    Fill(db.get(), kSeries, 0, 1);
    ASSERT_TRUE(db->Close().ok());
  }
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(),
                                                dir + "/rocksdb", &names)
                    .ok());
    for (const std::string& n : names) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir + "/rocksdb", cfs,
                                  &handles, &raw)
                    .ok());
    rocksdb::ColumnFamilyHandle* series = nullptr;
    for (auto* h : handles) {
      if (h->GetName() == "series") series = h;
    }
    ASSERT_NE(series, nullptr);
    // Ref 36000 = 0x0000000000008ca0, in the 9th batch of 4096 (past
    // what the queue holds).
    const std::string key("\0\0\0\0\0\0\x8c\xa0", 8);
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), series, key, "garbage").ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto db = DB::Open(Opts(dir));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(db.status().message().find("series key 0000000000008ca0"),
            std::string::npos)
      << db.status();
}

// Recovery reuses a neighbour's symbol ids and postings lists when a label
// pair repeats at the same position (Head::CreateBatch). Neighbours with
// different label sets (names missing, shifted positions, equal values
// under different names) must still index each series under exactly its
// own pairs.
TEST(DBRecoveryTest, NeighboursWithDifferentLabelSetsKeepTheirPostings) {
  const std::string dir = TempDir("rec_neighbours");
  constexpr int kSeries = 6000;  // two batches of 4096
  std::mt19937 rng(5);
  std::vector<Labels> sets;
  std::map<std::pair<std::string, std::string>, int> expected;
  for (int i = 0; i < kSeries; ++i) {
    std::vector<Label> pairs = {{"__name__", i % 3 == 0 ? "m" : "n"},
                                {"id", absl::StrCat(i)}};
    for (int k = 0; k < 5; ++k) {
      if (rng() % 2 == 0) continue;
      // Values shared between names ("v1" under a and under b).
      pairs.push_back({std::string(1, static_cast<char>('a' + k)),
                       absl::StrCat("v", rng() % 3)});
    }
    std::sort(pairs.begin(), pairs.end(),
              [](const Label& x, const Label& y) { return x.name < y.name; });
    for (const Label& l : pairs) ++expected[{l.name, l.value}];
    sets.push_back(Labels::FromSortedUnchecked(pairs));
  }
  {
    auto db = *DB::Open(Opts(dir));
    auto app = db->NewAppender();
    for (const Labels& l : sets) ASSERT_TRUE(app->Append(0, l, 1000, 1).ok());
    ASSERT_TRUE(app->Commit().ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto db = *DB::Open(Opts(dir));
  ASSERT_EQ(db->Stats().head_series, kSeries);
  auto q = *db->NewQuerier(0, 2000);
  for (const auto& [pair, count] : expected) {
    if (pair.first == "id") continue;  // one each; checked below
    auto got = q->Select(SelectHints{},
                         {M(MatchType::kEqual, pair.first, pair.second)});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), static_cast<size_t>(count))
        << pair.first << "=" << pair.second;
    for (const Series& s : *got) {
      EXPECT_EQ(s.labels.Get(pair.first), pair.second) << s.labels.ToString();
    }
  }
  for (int i = 0; i < kSeries; i += 97) {
    auto got =
        q->Select(SelectHints{}, {M(MatchType::kEqual, "id", absl::StrCat(i))});
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].labels, sets[i]);
  }
}

// The WAL tail bound (docs/storage.md, "Bounding the WAL tail"): commits
// wake the maintenance thread once the WAL passes the checkpoint trigger,
// so under continuous writes the WAL (what a crash leaves to replay) stays
// near wal_checkpoint_bytes. No periodic maintenance round runs here (the
// interval is an hour): before, the WAL grew until the next round.
constexpr int kTailSeries = 300;
constexpr int64_t kTailCheckpointBytes = 16 << 10;
// Generous against a slow checkpoint under a sanitizer: the whole WAL
// written below is ~20x kTailCheckpointBytes.
constexpr int64_t kTailBound = 4 * kTailCheckpointBytes;
// A sample of these rounds (integral values from 0 to ~3,300) takes at
// least 3 bytes in a WAL record (type 0x02, docs/storage.md), so replayed
// samples x 3 bound the replayed bytes from below.
constexpr int64_t kMinSampleBytes = 3;

DBOptions TailOptions(const std::string& dir) {
  DBOptions o = Opts(dir);
  o.wal_segment_bytes = 4 << 10;
  o.wal_checkpoint_bytes = kTailCheckpointBytes;
  o.maintenance_interval = absl::Hours(1);
  return o;
}

// Keeps a tail test's writer from outrunning the checkpoint thread: once
// the WAL passes twice the checkpoint size, waits for a commit-triggered
// checkpoint to shrink it, and returns false if none did within 5 s
// (nothing else runs one: maintenance is an hour away). Without the wait
// the bound depended on the scheduler: on a loaded machine the writer
// appended hundreds of KB while the checkpoint thread waited for a core.
bool PaceToCheckpoints(DB* db) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (db->Stats().wal_bytes > 2 * kTailCheckpointBytes) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(DBRecoveryTest, CommitsTriggerCheckpointsThatBoundTheWalTail) {
  const std::string dir = TempDir("rec_tail_bound");
  constexpr int kRounds = 300;
  auto db = *DB::Open(TailOptions(dir));
  int64_t max_wal = 0;
  for (int r = 0; r < kRounds; ++r) {
    Fill(db.get(), kTailSeries, r, 1);
    max_wal = std::max(max_wal, db->Stats().wal_bytes);
    ASSERT_TRUE(PaceToCheckpoints(db.get()))
        << "no checkpoint shrank the WAL after round " << r;
  }
  // ~0.35 MB of WAL in all (~4 bytes per sample), ~20x the checkpoint size.
  EXPECT_GE(db->Stats().wal_checkpoints, 8);
  EXPECT_LE(max_wal, kTailBound) << db->Stats().wal_checkpoints;
  ASSERT_TRUE(db->Close().ok());
  auto reopened = *DB::Open(Opts(dir));
  ExpectExactly(reopened.get(), kTailSeries, kRounds);
}

// kill -9 at random points of a writer whose checkpoints only commits
// trigger: every acknowledged round comes back exactly once, and the
// replayed tail is within the bound.
TEST(DBRecoveryTest, SigkillAtRandomPointsReplaysABoundedTailExactlyOnce) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "fork of a multi-threaded process under ThreadSanitizer";
#endif
  const std::string dir = TempDir("rec_tail_kill");
  std::mt19937 rng(11);
  int acked = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto db = DB::Open(TailOptions(dir));
      if (!db.ok()) _exit(3);
      int r = NextRound(db->get());
      const int32_t replayed =
          static_cast<int32_t>((*db)->Stats().recovery_wal_samples);
      if (write(fds[1], &replayed, sizeof replayed) != sizeof replayed) {
        _exit(6);
      }
      AppendRoundsUntilKilled(db->get(), kTailSeries, r, [&](int32_t round) {
        if (write(fds[1], &round, sizeof round) != sizeof round) _exit(6);
        if (!PaceToCheckpoints(db->get())) _exit(7);  // no checkpoint ran
      });
    }
    close(fds[1]);
    int32_t replayed = -1;
    ASSERT_EQ(read(fds[0], &replayed, sizeof replayed), sizeof replayed);
    if (attempt > 0) {
      // Each sample takes more than 11 bytes of WAL here.
      EXPECT_LE(int64_t{replayed} * kMinSampleBytes, kTailBound)
          << "attempt " << attempt;
    }
    // Kill after 20-120 more acknowledged rounds (several checkpoints).
    std::uniform_int_distribution<int> rounds(20, 120);
    const int target = acked + rounds(rng);
    int32_t n;
    while (acked < target && read(fds[0], &n, sizeof n) == sizeof n) {
      ASSERT_GE(n, acked) << "acknowledged round lost";
      acked = n + 1;
    }
    std::uniform_int_distribution<int> delay_us(0, 2000);
    absl::SleepFor(absl::Microseconds(delay_us(rng)));
    kill(pid, SIGKILL);
    while (read(fds[0], &n, sizeof n) == sizeof n) acked = n + 1;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
  }
  ExpectCheckClean(dir);
  auto db = DB::Open(TailOptions(dir));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_LE((*db)->Stats().recovery_wal_samples * kMinSampleBytes, kTailBound);
  ExpectRounds(db->get(), kTailSeries, acked, std::numeric_limits<int>::max());
}

}  // namespace
}  // namespace vigil::tsdb
