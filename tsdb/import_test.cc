#include "tsdb/import.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tsdb/chunk_merger.h"
#include "tsdb/store.h"

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

// Every series matching __name__=~".+" as labels text -> samples.
std::map<std::string, std::vector<Sample>> ReadAll(DB* db) {
  auto q = *db->NewQuerier(std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max());
  auto ss = *q->Select(
      {}, {*Matcher::Create(MatchType::kRegexMatch, "__name__", ".+")});
  std::map<std::string, std::vector<Sample>> out;
  for (auto& s : ss) {
    EXPECT_TRUE(s.iterator->ReadAll(&out[s.labels.ToString()]).ok());
  }
  return out;
}

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Values that stress the encoder: integers, decimals, NaN, infinities,
// negative zero, huge and tiny magnitudes. %.17g round-trips exactly.
double Value(int series, int i) {
  switch ((series + i) % 9) {
    case 0:
      return i * 1.0;
    case 1:
      return 0.1 * i + series;
    case 2:
      return std::nan("");
    case 3:
      return -0.0;
    case 4:
      return 1e300 * (i % 3);
    case 5:
      return -std::numeric_limits<double>::infinity();
    case 6:
      return 5e-324;
    case 7:
      return 123456789.125 - i;
    default:
      return std::sqrt(static_cast<double>(i + series));
  }
}

std::string Line(int series, int64_t t_ms, double v) {
  char value[64];
  std::snprintf(value, sizeof value, "%.17g", v);
  std::string vs = value;
  if (std::isnan(v)) vs = "NaN";
  if (std::isinf(v)) vs = v > 0 ? "+Inf" : "-Inf";
  // OpenMetrics timestamps are seconds; ms precision as a decimal.
  return absl::StrCat("m{s=\"", series, "\",job=\"j\"} ", vs, " ", t_ms / 1000,
                      ".", absl::StrFormat("%03d", t_ms % 1000), "\n");
}

void ExpectSeries(const std::vector<Sample>& got, int series,
                  const std::vector<int64_t>& times) {
  ASSERT_EQ(got.size(), times.size()) << "series " << series;
  for (size_t i = 0; i < times.size(); ++i) {
    ASSERT_EQ(got[i].t, times[i]) << "series " << series << " #" << i;
    ASSERT_EQ(Bits(got[i].v), Bits(Value(series, static_cast<int>(i))))
        << "series " << series << " #" << i;
  }
}

std::string TempDir(const std::string& name) {
  const std::string dir =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/",
                   name, "_", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

// Time-major order (every series at t, then every series at t + 15 s), as
// a dump of many scrapes looks: each series streams through the encoder.
TEST(ImportTest, InterleavedSeriesExact) {
  const std::string dir = TempDir("import_interleaved");
  constexpr int kSeries = 40, kSamples = 2000;
  std::string text = "# TYPE m gauge\n";
  std::vector<int64_t> times;
  for (int i = 0; i < kSamples; ++i) {
    const int64_t t = 1'600'000'000'000 + i * 15'000 + (i % 7);
    times.push_back(t);
    for (int s = 0; s < kSeries; ++s) text += Line(s, t, Value(s, i));
  }
  text += "# EOF\n";
  {
    auto db = Open(dir);
    auto st = ImportOpenMetrics(db.get(), text);
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->series, kSeries);
    EXPECT_EQ(st->samples, kSeries * kSamples);
    EXPECT_EQ(st->duplicates, 0);
  }
  auto db = Open(dir);
  auto all = ReadAll(db.get());
  ASSERT_EQ(all.size(), static_cast<size_t>(kSeries));
  for (int s = 0; s < kSeries; ++s) {
    ExpectSeries(all[absl::StrCat("m{job=\"j\", s=\"", s, "\"}")], s, times);
  }
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
}

// One series spelled several ways (label order, an empty label, which
// means absent) in a repeating order, next to another series.
TEST(ImportTest, SpellingsOfOneSeries) {
  auto db = Open();
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    const int64_t t = 1'000 + i * 15;
    switch (i % 3) {
      case 0:
        absl::StrAppend(&text, "x{a=\"1\",b=\"2\"} ", i, " ", t, "\n");
        break;
      case 1:
        absl::StrAppend(&text, "x{b=\"2\",a=\"1\"} ", i, " ", t, "\n");
        break;
      default:
        absl::StrAppend(&text, "x{b=\"2\",c=\"\",a=\"1\"} ", i, " ", t, "\n");
    }
    absl::StrAppend(&text, "y ", i, " ", t, "\n");
  }
  text += "# EOF\n";
  auto st = ImportOpenMetrics(db.get(), text);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->series, 2);
  for (const char* name : {"x", "y"}) {
    std::vector<Sample> got = Read(db.get(), name);
    ASSERT_EQ(got.size(), 3000u) << name;
    for (int i = 0; i < 3000; ++i) {
      ASSERT_EQ(got[i].t, (1'000 + i * 15) * 1000) << name;
      ASSERT_EQ(got[i].v, i) << name;
    }
  }
}

// One series' lines spread thinly over a large input whose other lines
// belong to other series (so also across any split of the input between
// threads), some of them out of time order.
TEST(ImportTest, OneSeriesSpreadOverWholeFile) {
  auto db = Open();
  std::string text;
  std::vector<int64_t> times;
  constexpr int kSpread = 600;
  for (int i = 0; i < kSpread; ++i) {
    const int64_t t = 1'000'000 + i * 60'000;
    times.push_back(t);
    for (int k = 0; k < 500; ++k) {
      absl::StrAppend(&text, "filler_", k % 50, " ", i * 500 + k, " ",
                      (i * 500 + k) * 10, "\n");
    }
    text += Line(7, t, Value(7, i));
  }
  text += "# EOF\n";
  auto st = ImportOpenMetrics(db.get(), text);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->series, 51);
  auto all = ReadAll(db.get());
  ExpectSeries(all["m{job=\"j\", s=\"7\"}"], 7, times);
  std::vector<Sample> f = Read(db.get(), "filler_3");
  ASSERT_EQ(f.size(), static_cast<size_t>(kSpread * 10));
  for (size_t i = 1; i < f.size(); ++i) ASSERT_LT(f[i - 1].t, f[i].t);
}

// Samples of a series that go back in time are sorted; exact repeats
// anywhere in the input are dropped and counted; a second value at a
// timestamp fails the import.
TEST(ImportTest, UnsortedAndDuplicates) {
  auto db = Open();
  std::string text;
  std::vector<int> order(3000);
  for (int i = 0; i < 3000; ++i) order[i] = i;
  std::mt19937 rng(42);
  std::shuffle(order.begin(), order.end(), rng);
  for (int i : order) {
    text += Line(1, 1'000'000 + i * 1000, Value(1, i));
    if (i % 100 == 0) text += Line(1, 1'000'000 + i * 1000, Value(1, i));
  }
  for (int i = 0; i < 300; ++i) text += Line(2, 5000 + i * 1000, Value(2, i));
  text += Line(2, 5000, Value(2, 0));  // repeat, out of order
  text += "# EOF\n";
  auto st = ImportOpenMetrics(db.get(), text);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->samples, 3300);
  EXPECT_EQ(st->duplicates, 31);
  std::vector<int64_t> times;
  for (int i = 0; i < 3000; ++i) times.push_back(1'000'000 + i * 1000);
  auto all = ReadAll(db.get());
  ExpectSeries(all["m{job=\"j\", s=\"1\"}"], 1, times);

  // A conflicting value: adjacent, and far apart after the series went
  // back in time.
  for (const std::string& bad :
       {Line(3, 1000, 1) + Line(3, 1000, 2) + "# EOF\n",
        Line(3, 1000, 1) + Line(3, 2000, 1) + Line(3, 500, 1) +
            Line(3, 1000, 3) + "# EOF\n"}) {
    auto b = ImportOpenMetrics(db.get(), bad);
    EXPECT_EQ(ClassifyAppendError(b.status()), AppendError::kDuplicate)
        << b.status();
    EXPECT_NE(b.status().message().find("at 1000"), std::string::npos)
        << b.status();
  }
  EXPECT_EQ(ReadAll(db.get()).count("m{job=\"j\", s=\"3\"}"), 0u);
}

// Inputs over a few MB are parsed as pieces on several threads; a series
// whose samples are in several pieces is joined: in order, going back in
// time, repeated or conflicting across the seam.
TEST(ImportTest, SeriesAcrossPieces) {
  std::string filler;
  for (int i = 0; filler.size() < (size_t{6} << 20); ++i) {
    absl::StrAppend(&filler, "filler{k=\"", i % 10, "\"} ", i, " ", 1000 + i,
                    "\n");
  }
  std::vector<int64_t> times;
  std::string head, tail;
  for (int i = 0; i < 400; ++i) times.push_back(5'000'000 + i * 1000);
  // Samples 200..399 first, then 0..199 at the end, then a repeat.
  for (int i = 200; i < 400; ++i) head += Line(1, times[i], Value(1, i));
  for (int i = 0; i < 200; ++i) tail += Line(1, times[i], Value(1, i));
  tail += Line(1, times[250], Value(1, 250));
  // Series 2 is in order across the seam.
  for (int i = 0; i < 300; ++i) head += Line(2, times[i], Value(2, i));
  for (int i = 300; i < 400; ++i) tail += Line(2, times[i], Value(2, i));
  {
    auto db = Open();
    auto st = ImportOpenMetrics(db.get(), head + filler + tail + "# EOF\n");
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->duplicates, 1);
    EXPECT_EQ(st->series, 12);
    auto all = ReadAll(db.get());
    ExpectSeries(all["m{job=\"j\", s=\"1\"}"], 1, times);
    ExpectSeries(all["m{job=\"j\", s=\"2\"}"], 2, times);
    std::vector<Sample> f = Read(db.get(), "filler");
    int64_t n = 0;
    for (const auto& [labels, samples] : all) {
      if (labels.find("filler") != std::string::npos) n += samples.size();
    }
    EXPECT_EQ(static_cast<size_t>(n), f.size());
    EXPECT_EQ(st->samples, n + 800);
  }
  {
    auto db = Open();
    auto st = ImportOpenMetrics(
        db.get(), head + filler + Line(2, times[10], 42) + "# EOF\n");
    EXPECT_EQ(ClassifyAppendError(st.status()), AppendError::kDuplicate)
        << st.status();
    // "# EOF" before the end, far from it.
    st = ImportOpenMetrics(db.get(), head + "# EOF\n" + filler + "# EOF\n");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.status().message().find("line 502: unexpected content"),
              std::string::npos)
        << st.status();
    EXPECT_TRUE(ReadAll(db.get()).empty());
  }
}

// A malformed line at the end of a large input (parsed after most of the
// data was already encoded) names its line and leaves the stored data as
// it was, also after reopening.
TEST(ImportTest, MalformedLineNearEndOfBigInputLeavesDbUntouched) {
  const std::string dir = TempDir("import_malformed");
  {
    auto db = Open(dir);
    ASSERT_TRUE(
        ImportOpenMetrics(db.get(), Line(0, 1000, Value(0, 0)) + "# EOF\n")
            .ok());
  }
  std::string text;
  int lines = 0;
  for (int i = 0; i < 100'000; ++i) {
    text += Line(i % 100, 10'000'000 + (i / 100) * 15'000, 1.5);
    ++lines;
  }
  std::string good = text;
  text += "m{s=\"1\"} 1 5\n";
  text += "m{s=\"1\",} 2 x6\n";  // bad timestamp: line lines + 2
  text += "m{s=\"1\"} 3 7\n# EOF\n";
  {
    auto db = Open(dir);
    auto st = ImportOpenMetrics(db.get(), text);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(st.status().message().find(absl::StrCat("line ", lines + 2, ":")),
              std::string::npos)
        << st.status();
    // Missing "# EOF" is also a whole-input error, reported at its end.
    st = ImportOpenMetrics(db.get(), good);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.status().message().find(absl::StrCat("line ", lines + 1, ":")),
              std::string::npos)
        << st.status();
    EXPECT_EQ(ReadAll(db.get()).size(), 1u);
  }
  auto db = Open(dir);
  auto all = ReadAll(db.get());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all.begin()->second.size(), 1u);
  for (const auto& e : std::filesystem::directory_iterator(dir + "/rocksdb")) {
    EXPECT_EQ(e.path().filename().string().find("vigil-bulk-"),
              std::string::npos)
        << e.path();
  }
}

// Backfill older than stored data of the same series, after a reopen;
// overlapping the stored range is refused as a whole.
TEST(ImportTest, OlderThanStoredDataPersisted) {
  const std::string dir = TempDir("import_older");
  {
    auto db = Open(dir);
    auto app = db->NewAppender();
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(
          app->Append(0,
                      *Labels::FromPairs(
                          {{"__name__", "m"}, {"job", "j"}, {"s", "0"}}),
                      1'700'000'000'000 + i * 15'000, i)
              .ok());
    }
    ASSERT_TRUE(app->Commit().ok());
  }
  {
    auto db = Open(dir);
    std::string text;
    std::vector<int64_t> times;
    for (int i = 0; i < 5000; ++i)
      text += Line(0, 1'000'000'000 + i * 15'000, i);
    text += "# EOF\n";
    auto st = ImportOpenMetrics(db.get(), text);
    ASSERT_TRUE(st.ok()) << st.status();
    auto bad = ImportOpenMetrics(
        db.get(), Line(9, 1000, 1) + Line(0, 1'700'000'000'000, 3) + "# EOF\n");
    EXPECT_EQ(ClassifyAppendError(bad.status()), AppendError::kOutOfOrder);
  }
  auto db = Open(dir);
  auto all = ReadAll(db.get());
  ASSERT_EQ(all.size(), 1u);
  const std::vector<Sample>& got = all.begin()->second;
  ASSERT_EQ(got.size(), 5500u);
  EXPECT_EQ(got.front().t, 1'000'000'000);
  EXPECT_EQ(got[4999].v, 4999);
  EXPECT_EQ(got[5000].t, 1'700'000'000'000);
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
}

// kill -9 at random points of an import into a store: afterwards the
// store holds all of the imported samples or none, and checks clean.
TEST(ImportTest, SigkillLeavesAllOrNothing) {
#if defined(__SANITIZE_THREAD__)
  // The child is forked from a process with threads, which TSan does not
  // support; the plain and ASan runs cover this test.
  GTEST_SKIP() << "fork of a multi-threaded process under ThreadSanitizer";
#endif
  std::string text;
  constexpr int kSeries = 100, kSamples = 600;
  for (int s = 0; s < kSeries; ++s) {
    for (int i = 0; i < kSamples; ++i) text += Line(s, 1000 + i * 15000, i);
  }
  text += "# EOF\n";
  std::mt19937 rng(7);
  int all = 0, none = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const std::string dir = TempDir(absl::StrCat("import_kill", attempt));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto db = Open(dir);
      char c = 'o';
      if (write(fds[1], &c, 1) != 1) _exit(3);
      if (!ImportOpenMetrics(db.get(), text).ok()) _exit(4);
      c = 'd';
      if (write(fds[1], &c, 1) != 1) _exit(5);
      pause();
      _exit(0);
    }
    close(fds[1]);
    char c;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    std::uniform_int_distribution<int> delay_ms(0, 1500);
    absl::SleepFor(absl::Milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child failed: " << status;
    const bool done = read(fds[0], &c, 1) == 1;
    close(fds[0]);
    auto report = CheckDataDir(dir);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok());
    auto db = Open(dir);
    int64_t n = 0;
    for (const auto& [labels, samples] : ReadAll(db.get())) n += samples.size();
    if (done) {
      EXPECT_EQ(n, kSeries * kSamples);
    }
    ASSERT_TRUE(n == 0 || n == kSeries * kSamples) << "partial import: " << n;
    (n == 0 ? none : all) += 1;
  }
  std::printf("killed before the import was visible: %d, after: %d\n", none,
              all);
}

TEST(ImportTest, FromFile) {
  const std::string dir = TempDir("import_file");
  const std::string file = dir + ".om";
  {
    std::ofstream out(file);
    for (int i = 0; i < 1000; ++i) out << Line(i % 4, 5000 + i * 1000, 2.5);
    out << "# EOF\n";
  }
  auto db = Open(dir);
  auto st = ImportOpenMetricsFile(db.get(), file);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->samples, 1000);
  EXPECT_EQ(st->series, 4);
  EXPECT_EQ(ImportOpenMetricsFile(db.get(), dir + ".missing").status().code(),
            absl::StatusCode::kNotFound);
  auto runs = db->ChunkSortedRuns();
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(*runs, 1);  // a bulk load into an empty store needs no compaction
  std::filesystem::remove(file);
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

// Imported chunks cover a whole closed 2 h range (one chunk per series per
// range at a 15 s scrape), never span a range boundary, and hold at most
// kMaxSamplesPerRangeChunk samples (a 1 s scrape: 7,200 samples per
// range); the newest, still open range is cut like the head cuts it
// (OpenRangesStart). Samples, NaN and stale markers included, come back
// bit for bit.
TEST(ImportTest, OneChunkPerRangeWithinTheCap) {
  const std::string dir = TempDir("import_layout");
  constexpr uint64_t kStaleNaN = 0x7ff0000000000002ULL;
  double stale;
  std::memcpy(&stale, &kStaleNaN, sizeof stale);
  // Series 0: 15 s for 6 h starting 37 s before a range boundary (so the
  // first and last ranges are partial). Series 1: 1 s for 2.5 h. Series 2:
  // one sample.
  const int64_t start = 3 * kChunkRangeMs - 37'000;
  std::map<int, std::vector<Sample>> want;
  for (int64_t t = start; t < start + 6 * 3'600'000; t += 15'000) {
    const int i = static_cast<int>(want[0].size());
    want[0].push_back(Sample{t, i % 50 == 7 ? stale : Value(0, i)});
  }
  for (int64_t t = start; t < start + 9'000'000; t += 1'000) {
    want[1].push_back(Sample{t, Value(1, static_cast<int>(want[1].size()))});
  }
  want[2].push_back(Sample{start + 5, std::nan("")});
  std::string text;
  for (auto& [series, samples] : want) {
    for (const Sample& s : samples) {
      if (Bits(s.v) == kStaleNaN) {
        // The exposition formats cannot spell the stale marker; it is
        // written below through the bulk path.
        continue;
      }
      text += Line(series, s.t, s.v);
    }
  }
  {
    auto db = Open(dir);
    auto st = ImportOpenMetrics(db.get(), text + "# EOF\n");
    ASSERT_TRUE(st.ok()) << st.status();
  }
  // What the text import wrote, read back from the store.
  std::map<SeriesRef, std::vector<ChunkPtr>> chunks;
  {
    auto store = ChunkStore::Open(dir + "/rocksdb", /*read_only=*/true);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)
                    ->ForEachChunk([&](SeriesRef ref, ChunkPtr c) {
                      chunks[ref].push_back(std::move(c));
                      return absl::OkStatus();
                    })
                    .ok());
  }
  ASSERT_EQ(chunks.size(), 3u);
  // The newest sample is series 0's at 6 ranges - 52 s: ranges from 5 on
  // are open (the default chunk_merge_delay is 1 h).
  const int64_t open_from = 5 * kChunkRangeMs;
  EXPECT_EQ(OpenRangesStart(6 * kChunkRangeMs - 52'000, absl::Hours(1)),
            open_from);
  std::vector<size_t> counts;
  for (auto& [ref, cs] : chunks) {
    counts.push_back(cs.size());
    for (const ChunkPtr& c : cs) {
      EXPECT_EQ(ChunkRangeStart(c->min_time), ChunkRangeStart(c->max_time));
      EXPECT_LE(c->num_samples, c->min_time >= open_from
                                    ? kSamplesPerChunk
                                    : kMaxSamplesPerRangeChunk);
      // Closed ranges are written whole in the range encoding; open ones
      // as the head writes them.
      EXPECT_EQ(c->encoding, c->min_time >= open_from ? kHeadChunkEncoding
                                                      : ChunkEncoding::kRange);
    }
    // Within one range, only the last chunk may be short of the cap.
    for (size_t i = 0; i + 1 < cs.size(); ++i) {
      if (ChunkRangeStart(cs[i]->min_time) ==
          ChunkRangeStart(cs[i + 1]->min_time)) {
        EXPECT_EQ(cs[i]->num_samples, cs[i]->min_time >= open_from
                                          ? kSamplesPerChunk
                                          : kMaxSamplesPerRangeChunk);
      }
    }
  }
  std::sort(counts.begin(), counts.end());
  // One sample: 1 chunk. 15 s over 6 h from 37 s before a boundary: 3
  // samples, two whole ranges of 480, then 477 in the open range, cut at
  // 120: 1 + 1 + 1 + 4 = 7. 1 s over 2.5 h: 37 samples, 7,200 (15 chunks
  // at the cap of 480), the remaining 1,763 (4 chunks) = 20.
  static_assert(kMaxSamplesPerRangeChunk == 480, "update the counts below");
  static_assert(kSamplesPerChunk == 120, "update the counts below");
  EXPECT_EQ(counts, (std::vector<size_t>{1, 7, 20}));

  // The stale markers: through the bulk path, as the importer hands
  // chunks to it, into a fresh directory.
  const std::string dir2 = TempDir("import_layout_stale");
  auto db = Open(dir2);
  std::vector<std::pair<Labels, std::vector<ChunkPtr>>> batch;
  for (auto& [series, samples] : want) {
    Labels labels = *Labels::FromPairs(
        {{"__name__", "m"}, {"job", "j"}, {"s", absl::StrCat(series)}});
    std::vector<ChunkPtr> cs;
    HeadChunkEncoder enc;
    for (const Sample& s : samples) {
      if (enc.num_samples() > 0 &&
          (enc.num_samples() >= kMaxSamplesPerRangeChunk ||
           ChunkRangeStart(s.t) != ChunkRangeStart(enc.min_time()))) {
        cs.push_back(ChunkOf(enc));
        enc = HeadChunkEncoder();
      }
      enc.Append(s.t, s.v);
    }
    cs.push_back(ChunkOf(enc));
    batch.emplace_back(std::move(labels), std::move(cs));
  }
  ASSERT_TRUE(db->ImportSeriesBulk(batch).ok());
  auto all = ReadAll(db.get());
  for (auto& [series, samples] : want) {
    const std::vector<Sample>& got =
        all[absl::StrCat("m{job=\"j\", s=\"", series, "\"}")];
    ASSERT_EQ(got.size(), samples.size()) << series;
    for (size_t i = 0; i < samples.size(); ++i) {
      ASSERT_EQ(got[i].t, samples[i].t) << series << " #" << i;
      ASSERT_EQ(Bits(got[i].v), Bits(samples[i].v)) << series << " #" << i;
    }
  }
  // And the text import's samples (no stale markers there).
  auto db1 = Open(dir);
  auto imported = ReadAll(db1.get());
  for (auto& [series, samples] : want) {
    std::vector<Sample> expect;
    for (const Sample& s : samples) {
      if (Bits(s.v) != kStaleNaN) expect.push_back(s);
    }
    const std::vector<Sample>& got =
        imported[absl::StrCat("m{job=\"j\", s=\"", series, "\"}")];
    ASSERT_EQ(got.size(), expect.size()) << series;
    for (size_t i = 0; i < expect.size(); ++i) {
      ASSERT_EQ(got[i].t, expect[i].t) << series << " #" << i;
      ASSERT_EQ(Bits(got[i].v), Bits(expect[i].v)) << series << " #" << i;
    }
  }
  auto report = CheckDataDir(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace vigil::tsdb
