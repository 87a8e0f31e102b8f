// The DB's WAL records end to end: what a kill -9 leaves (the directory
// copied while the DB is open) replays exactly, in the current record
// format and in the first one, with unsorted batches, torn tails and
// corruption.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tsdb/db.h"
#include "tsdb/testing/db_test_util.h"
#include "tsdb/testing/file_util.h"
#include "tsdb/wal.h"
#include "tsdb/wal_record.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;
using testing::FlipByte;
using testing::M;
using testing::Opts;
using testing::TempDir;

Labels SeriesLabels(int s) {
  return *Labels::FromPairs({{"__name__", "m"}, {"s", absl::StrCat(s)}});
}

// Series labels -> samples (values compared by their bits).
using Contents =
    std::map<std::string, std::vector<std::pair<int64_t, uint64_t>>>;

Contents Dump(DB* db) {
  auto q = *db->NewQuerier(std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max());
  auto series =
      q->Select(SelectHints{}, {M(MatchType::kEqual, "__name__", "m")});
  EXPECT_TRUE(series.ok()) << series.status();
  Contents out;
  if (!series.ok()) return out;
  for (Series& s : *series) {
    std::vector<Sample> buf;
    EXPECT_TRUE(s.iterator->ReadAll(&buf).ok());
    auto& v = out[s.labels.ToString()];
    for (const Sample& x : buf) v.emplace_back(x.t, ValueBits(x.v));
  }
  return out;
}

// Scrape-like rounds: every series once per commit, refs cached.
void Fill(DB* db, int series, int from, int rounds) {
  std::vector<SeriesRef> refs(series, 0);
  for (int r = from; r < from + rounds; ++r) {
    auto app = db->NewAppender();
    for (int s = 0; s < series; ++s) {
      // Integers, fractions, a full-mantissa value and zero.
      const double v = s % 4 == 0   ? r * 0.1
                       : s % 4 == 1 ? 0.0
                                    : static_cast<double>(r * 1000 + s);
      auto ref = app->Append(refs[s], SeriesLabels(s),
                             1763791200000 + int64_t{r} * 15000, v);
      ASSERT_TRUE(ref.ok()) << ref.status();
      refs[s] = *ref;
    }
    ASSERT_TRUE(app->Commit().ok());
  }
}

// A kill -9 image of `dir`: its copy while the DB is still open.
std::string CrashCopy(const std::string& dir, const std::string& name) {
  const std::string copy = TempDir(name);
  fs::copy(dir, copy, fs::copy_options::recursive);
  return copy;
}

struct RawRecord {
  std::string file;
  size_t offset;  // of the header
  std::string payload;
};

// Every record of every WAL segment of `dir`, framed by hand.
std::vector<RawRecord> RawRecords(const std::string& dir) {
  std::vector<RawRecord> out;
  // (Not `for (... : *ListSegments(...))`: the StatusOr would die before
  // the loop.)
  const std::vector<uint64_t> segments = *Wal::ListSegments(dir + "/wal");
  for (uint64_t n : segments) {
    const std::string file = Wal::SegmentPath(dir + "/wal", n);
    std::ifstream f(file, std::ios::binary);
    std::string d;
    d.assign(std::istreambuf_iterator<char>(f),
             std::istreambuf_iterator<char>());
    for (size_t pos = 0; pos + 8 <= d.size();) {
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i) {
        len |= static_cast<uint32_t>(static_cast<uint8_t>(d[pos + i]))
               << (8 * i);
      }
      out.push_back({file, pos, d.substr(pos + 8, len)});
      pos += 8 + len;
    }
  }
  return out;
}

TEST(DBWalTest, ScrapeRecordsAreCompactAndReplayExactly) {
  const std::string dir = TempDir("dbwal_scrape");
  constexpr int kSeries = 300;
  auto db = *DB::Open(Opts(dir));
  Fill(db.get(), kSeries, 0, 5);
  const Contents want = Dump(db.get());
  const std::string copy = CrashCopy(dir, "dbwal_scrape_copy");
  const std::vector<RawRecord> recs = RawRecords(copy);
  ASSERT_EQ(recs.size(), 5u);
  for (const RawRecord& r : recs) {
    EXPECT_EQ(r.payload[0], kWalSamplesV2);
    // A header byte and 1-8 value bytes a sample (the first sample also
    // carries its ref and time); the first format took ~17.
    EXPECT_LT(r.payload.size(), size_t{7} * kSeries);
  }
  auto reopened = *DB::Open(Opts(copy));
  EXPECT_EQ(reopened->Stats().recovery_wal_samples, 5 * kSeries);
  EXPECT_EQ(Dump(reopened.get()), want);
}

// Appends out of ref order, several samples of one series per batch,
// ugly values: the commit sorts the batch by ref (stably), and replay
// rebuilds exactly what memory held.
TEST(DBWalTest, UnsortedBatchesWithRepeatsReplayExactly) {
  const std::string dir = TempDir("dbwal_unsorted");
  auto db = *DB::Open(Opts(dir));
  constexpr int kSeries = 50;
  const double kValues[] = {0.0,
                            -0.0,
                            1.0,
                            0.1,
                            -1e300,
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::infinity(),
                            std::nan("")};
  for (int batch = 0; batch < 4; ++batch) {
    auto app = db->NewAppender();
    for (int k = 0; k < 3; ++k) {
      for (int s = kSeries - 1; s >= 0; --s) {
        const int64_t t = int64_t{batch} * 100000 + k * 1000 + (s % 3);
        ASSERT_TRUE(
            app->Append(0, SeriesLabels(s), t, kValues[(s + k + batch) % 8])
                .ok());
      }
    }
    ASSERT_TRUE(app->Commit().ok());
  }
  const Contents want = Dump(db.get());
  ASSERT_EQ(want.size(), static_cast<size_t>(kSeries));
  EXPECT_EQ(want.begin()->second.size(), 12u);
  const std::string copy = CrashCopy(dir, "dbwal_unsorted_copy");
  auto reopened = *DB::Open(Opts(copy));
  EXPECT_EQ(reopened->Stats().recovery_wal_samples, 4 * 3 * kSeries);
  EXPECT_EQ(Dump(reopened.get()), want);
}

// A data directory whose WAL was written before type 0x02 records (type
// 0x01 records checksummed with zlib's CRC-32) replays to the same
// contents; the reopened DB then appends new-format records after them.
TEST(DBWalTest, ReplaysAWalWrittenInTheFirstFormat) {
  const std::string dir = TempDir("dbwal_v1");
  constexpr int kSeries = 120;
  auto db = *DB::Open(Opts(dir));
  Fill(db.get(), kSeries, 0, 4);
  const Contents want = Dump(db.get());
  const std::string copy = CrashCopy(dir, "dbwal_v1_copy");
  // Rewrite every segment of the copy in the first format.
  int64_t samples = 0;
  std::map<std::string, std::string> segments;  // file -> new contents
  for (const RawRecord& r : RawRecords(copy)) {
    std::string& out = segments[r.file];
    std::string v1(1, kWalSamplesV1);
    auto varint = [&](uint64_t x) {
      while (x >= 0x80) {
        v1.push_back(static_cast<char>(x | 0x80));
        x >>= 7;
      }
      v1.push_back(static_cast<char>(x));
    };
    absl::Status d = ForEachWalSample(r.payload, [&](uint64_t ref, int64_t t,
                                                     double v) {
      ++samples;
      varint(ref);
      varint((static_cast<uint64_t>(t) << 1) ^ static_cast<uint64_t>(t >> 63));
      const uint64_t bits = ValueBits(v);
      for (int i = 0; i < 8; ++i) {
        v1.push_back(static_cast<char>(bits >> (8 * i)));
      }
    });
    ASSERT_TRUE(d.ok()) << d;
    const uint32_t crc = static_cast<uint32_t>(
        crc32_z(0, reinterpret_cast<const Bytef*>(v1.data()), v1.size()));
    for (uint32_t x : {static_cast<uint32_t>(v1.size()), crc}) {
      for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(x >> (8 * i)));
    }
    out += v1;
  }
  for (const auto& [file, contents] : segments) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
  }
  ASSERT_EQ(samples, 4 * kSeries);
  for (const RawRecord& r : RawRecords(copy)) {
    ASSERT_EQ(r.payload[0], kWalSamplesV1);
  }
  {
    auto reopened = *DB::Open(Opts(copy));
    EXPECT_EQ(reopened->Stats().recovery_wal_samples, 4 * kSeries);
    EXPECT_EQ(Dump(reopened.get()), want);
    // Mixed: more rounds in the new format after the old records, then a
    // crash again.
    Fill(reopened.get(), kSeries, 4, 2);
    const Contents want2 = Dump(reopened.get());
    const std::string copy2 = CrashCopy(copy, "dbwal_v1_copy2");
    auto again = *DB::Open(Opts(copy2));
    EXPECT_EQ(Dump(again.get()), want2);
  }
}

// A record cut by the crash (the last one) is skipped: its commit was not
// acknowledged. A damaged record followed by more is DataLoss naming the
// segment file and the record's offset, also when only its type byte
// changed (0x02 read as 0x01 fails the zlib checksum).
TEST(DBWalTest, TornTailIsSkippedAndCorruptionFailsOpen) {
  const std::string dir = TempDir("dbwal_torn");
  constexpr int kSeries = 64;
  auto db = *DB::Open(Opts(dir));
  Fill(db.get(), kSeries, 0, 3);
  const Contents three = Dump(db.get());
  const std::string base = CrashCopy(dir, "dbwal_torn_base");
  const std::vector<RawRecord> recs = RawRecords(base);
  ASSERT_EQ(recs.size(), 3u);
  const RawRecord& last = recs[2];
  const size_t last_end = last.offset + 8 + last.payload.size();
  // The expected contents with only the first two rounds.
  Contents two = three;
  for (auto& [name, samples] : two) samples.resize(2);

  for (size_t cut :
       {size_t{1}, size_t{7}, last.payload.size(), last.payload.size() + 5}) {
    const std::string copy = CrashCopy(base, "dbwal_torn_cut");
    fs::resize_file(copy + last.file.substr(base.size()), last_end - cut);
    auto reopened = DB::Open(Opts(copy));
    ASSERT_TRUE(reopened.ok()) << cut << " " << reopened.status();
    EXPECT_EQ(Dump(reopened->get()), two) << cut;
  }
  {
    // A flipped byte inside the last record: torn, skipped.
    const std::string copy = CrashCopy(base, "dbwal_torn_flip_last");
    FlipByte(copy + last.file.substr(base.size()), last_end - 3, 0x10);
    auto reopened = DB::Open(Opts(copy));
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_EQ(Dump(reopened->get()), two);
  }
  for (size_t delta : {size_t{8}, size_t{8 + 20}}) {
    // The middle record's type byte (0x02 -> 0x01), or a byte of its
    // samples: DataLoss at its offset.
    const std::string copy = CrashCopy(base, "dbwal_torn_corrupt");
    const std::string file = copy + recs[1].file.substr(base.size());
    FlipByte(file, recs[1].offset + delta, delta == 8 ? 0x03 : 0x01);
    auto reopened = DB::Open(Opts(copy));
    ASSERT_FALSE(reopened.ok()) << delta;
    EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(reopened.status().message().find(
                  absl::StrCat(file, " offset ", recs[1].offset)),
              std::string::npos)
        << reopened.status();
  }
}

}  // namespace
}  // namespace vigil::tsdb
