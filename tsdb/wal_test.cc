#include "tsdb/wal.h"

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tsdb/crc32c.h"
#include "tsdb/testing/file_util.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  std::string dir =
      absl::StrCat(::testing::TempDir(), "/wal_test_", name, "_", getpid());
  fs::remove_all(dir);
  return dir;
}

// Writes `records` through Wal, starting a new segment before each index in
// `rotate_before`.
void Write(const std::string& dir, const std::vector<std::string>& records,
           const std::vector<size_t>& rotate_before = {}) {
  auto wal = Wal::Open(dir, 1 << 20);
  ASSERT_TRUE(wal.ok()) << wal.status();
  for (size_t i = 0; i < records.size(); ++i) {
    for (size_t r : rotate_before) {
      if (r == i) {
        ASSERT_TRUE((*wal)->Rotate().ok());
      }
    }
    ASSERT_TRUE((*wal)->Append(records[i]).ok());
  }
}

// All records the reader returns (checked like replay does), in order, and
// the number of blocks.
absl::Status ReadAll(const std::string& dir, uint64_t from, size_t max_bytes,
                     std::vector<std::string>* out, int* blocks) {
  WalReader reader(dir, from);
  WalReader::Block b;
  *blocks = 0;
  while (reader.Next(max_bytes, &b)) {
    EXPECT_FALSE(b.records.empty());
    ++*blocks;
    size_t bytes = 0;
    for (size_t i = 0; i < b.records.size(); ++i) {
      const Wal::Record& rec = b.records[i];
      // Never past max_bytes except by the block's last record.
      if (i + 1 < b.records.size()) {
        EXPECT_LT(bytes, max_bytes);
      }
      bytes += rec.payload.size();
      EXPECT_EQ(rec.segment, b.records[0].segment) << "block spans segments";
      bool torn;
      absl::Status st = Wal::CheckRecord(dir, rec, &torn);
      if (!st.ok()) return st;
      if (!torn) out->push_back(std::string(rec.payload));
    }
  }
  return reader.status();
}

std::string LastSegment(const std::string& dir) {
  auto segs = Wal::ListSegments(dir);
  return Wal::SegmentPath(dir, segs->back());
}

TEST(WalReaderTest, ReturnsEveryRecordInOrderInBoundedBlocks) {
  const std::string dir = TempDir("order");
  std::vector<std::string> records;
  for (int i = 0; i < 200; ++i) {
    records.push_back(
        std::string(static_cast<size_t>(i * 7 % 300 + 1), 'a' + i % 26));
  }
  Write(dir, records, {50, 51, 120});
  for (size_t max_bytes :
       {size_t{1}, size_t{100}, size_t{4096}, size_t{1} << 30}) {
    std::vector<std::string> got;
    int blocks = 0;
    ASSERT_TRUE(ReadAll(dir, 0, max_bytes, &got, &blocks).ok());
    EXPECT_EQ(got, records) << max_bytes;
    if (max_bytes == 1) {
      EXPECT_EQ(blocks, 200);
    }
    // Four segments (one per Open/Rotate), one block each at most.
    if (max_bytes == (size_t{1} << 30)) {
      EXPECT_EQ(blocks, 4);
    }
  }
}

TEST(WalReaderTest, StartsAtTheGivenSegmentAndHandlesAnEmptyWal) {
  const std::string dir = TempDir("from");
  std::vector<std::string> got;
  int blocks = 0;
  ASSERT_TRUE(ReadAll(dir, 0, 100, &got, &blocks).ok());  // no directory
  EXPECT_EQ(blocks, 0);
  Write(dir, {"one", "two", "three"}, {1, 2});
  auto segs = Wal::ListSegments(dir);
  ASSERT_EQ(segs->size(), 3u);
  ASSERT_TRUE(ReadAll(dir, (*segs)[1], 100, &got, &blocks).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"two", "three"}));
}

TEST(WalReaderTest, TornTailIsSkippedButCorruptionInTheMiddleIsDataLoss) {
  const std::string dir = TempDir("torn");
  Write(dir, {"first record", "second record", "third record"});
  const std::string seg = LastSegment(dir);
  const auto size = fs::file_size(seg);
  // A last record cut anywhere (header or payload) ends the segment.
  for (uintmax_t cut :
       {uintmax_t{1}, uintmax_t{5}, uintmax_t{12}, uintmax_t{19}}) {
    const std::string copy = TempDir("torn_copy");
    fs::copy(dir, copy);
    fs::resize_file(Wal::SegmentPath(copy, *Wal::ListSegments(copy)->begin()),
                    size - cut);
    std::vector<std::string> got;
    int blocks = 0;
    ASSERT_TRUE(ReadAll(copy, 0, 1 << 20, &got, &blocks).ok()) << cut;
    EXPECT_EQ(got, (std::vector<std::string>{"first record", "second record"}))
        << cut;
    std::vector<std::string> replayed;
    ASSERT_TRUE(Wal::Replay(copy, 0, [&](absl::string_view r) {
                  replayed.push_back(std::string(r));
                  return absl::OkStatus();
                }).ok());
    EXPECT_EQ(replayed, got);
  }
  // A flipped byte in the last record's payload: torn, skipped.
  auto flip = [](const std::string& file, uintmax_t at) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c;
    f.read(&c, 1);
    c ^= 0x01;
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  };
  {
    const std::string copy = TempDir("torn_last");
    fs::copy(dir, copy);
    flip(LastSegment(copy), size - 2);
    std::vector<std::string> got;
    int blocks = 0;
    ASSERT_TRUE(ReadAll(copy, 0, 1 << 20, &got, &blocks).ok());
    EXPECT_EQ(got.size(), 2u);
  }
  // The same in the first record, followed by more: DataLoss naming the
  // segment and the record's offset (0).
  {
    const std::string copy = TempDir("corrupt");
    fs::copy(dir, copy);
    const std::string file = LastSegment(copy);
    flip(file, 10);
    std::vector<std::string> got;
    int blocks = 0;
    absl::Status st = ReadAll(copy, 0, 1 << 20, &got, &blocks);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(st.message().find(file + " offset 0"), std::string::npos) << st;
    st = Wal::Replay(copy, 0,
                     [](absl::string_view) { return absl::OkStatus(); });
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  }
}

std::string ReadBytes(const std::string& file) {
  std::ifstream f(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

uint32_t Fixed32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  }
  return v;
}

uint32_t ZlibCrc(absl::string_view s) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// Type 0x01 records keep zlib's CRC-32 (WAL directories written before
// CRC-32C must replay); every other record gets CRC-32C.
TEST(WalTest, ChecksumIsChosenByTheRecordsFirstByte) {
  const std::string dir = TempDir("crc_type");
  const std::string old_type = std::string("\x01") + "old samples";
  const std::string new_type = std::string("\x02") + "new samples";
  Write(dir, {old_type, new_type, ""});
  const std::string seg = ReadBytes(LastSegment(dir));
  ASSERT_EQ(seg.size(), 3 * 8 + old_type.size() + new_type.size());
  EXPECT_EQ(Fixed32(seg, 4), ZlibCrc(old_type));
  const size_t second = 8 + old_type.size();
  EXPECT_EQ(Fixed32(seg, second + 4), Crc32c(new_type));
  EXPECT_EQ(Fixed32(seg, second + 8 + new_type.size() + 4), 0u);
  std::vector<std::string> got;
  int blocks = 0;
  ASSERT_TRUE(ReadAll(dir, 0, 1 << 20, &got, &blocks).ok());
  EXPECT_EQ(got, (std::vector<std::string>{old_type, new_type, ""}));

  // A type byte flipped between 0x01 and 0x02 (0x03 mask) fails whichever
  // checksum the new type selects: DataLoss in the middle of the segment.
  for (size_t at : {size_t{8}, second + 8}) {
    const std::string copy = TempDir("crc_type_flip");
    fs::copy(dir, copy);
    testing::FlipByte(LastSegment(copy), static_cast<size_t>(at), 0x03);
    absl::Status st = ReadAll(copy, 0, 1 << 20, &got, &blocks);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << at;
  }
}

// A segment written by the first WAL version (type 0x01 records with
// zlib's CRC-32), laid out by hand: it replays, and its torn tail is
// skipped.
TEST(WalTest, ReplaysASegmentOfTheFirstFormat) {
  const std::string dir = TempDir("v1_segment");
  fs::create_directories(dir);
  std::string seg;
  const std::vector<std::string> records = {
      std::string("\x01\x01\x80\x01") + std::string(8, '\0'),
      std::string("\x01\x02\x80\x01") + std::string(8, '\x11')};
  for (const std::string& r : records) {
    for (uint32_t v : {static_cast<uint32_t>(r.size()), ZlibCrc(r)}) {
      for (int i = 0; i < 4; ++i)
        seg.push_back(static_cast<char>(v >> (8 * i)));
    }
    seg += r;
  }
  {
    std::ofstream f(Wal::SegmentPath(dir, 1), std::ios::binary);
    f << seg << std::string("\x20\0\0\0\1\2", 6);  // a torn header
  }
  std::vector<std::string> replayed;
  ASSERT_TRUE(Wal::Replay(dir, 0, [&](absl::string_view r) {
                replayed.push_back(std::string(r));
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(replayed, records);
  // A new Wal opened on it starts a fresh segment in the new format.
  Write(dir, {"\x02more"});
  replayed.clear();
  ASSERT_TRUE(Wal::Replay(dir, 0, [&](absl::string_view r) {
                replayed.push_back(std::string(r));
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(replayed.size(), 3u);
}

}  // namespace
}  // namespace vigil::tsdb
