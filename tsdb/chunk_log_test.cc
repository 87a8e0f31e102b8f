#include "tsdb/chunk_log.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;

class ChunkLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/chunk_log_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static ChunkPtr MakeChunk(int64_t mint, int64_t maxt, std::string bytes) {
    auto c = std::make_shared<ChunkData>();
    c->min_time = mint;
    c->max_time = maxt;
    c->num_samples = 3;
    c->encoding = ChunkEncoding::kXor;
    c->bytes = std::move(bytes);
    return c;
  }

  std::string dir_;
};

TEST_F(ChunkLogTest, AppendsAndReadsBackChains) {
  auto log = ChunkLog::Open(dir_, 1 << 20);
  ASSERT_TRUE(log.ok()) << log.status();
  ChunkPtr a = MakeChunk(0, 10, "aaaa"), b = MakeChunk(11, 20, "bb"),
           c = MakeChunk(5, 9, std::string("c\0c", 3));
  std::vector<uint64_t> pos;
  ASSERT_TRUE((*log)
                  ->Append({{7, 77, ChunkLog::kNoPosition, a.get()},
                            {7, 77, ChunkLog::kPrevInBatch, b.get()},
                            {8, 88, ChunkLog::kNoPosition, c.get()}},
                           &pos)
                  .ok());
  ASSERT_EQ(pos.size(), 3u);
  ChunkLog::Record r;
  ChunkPtr got;
  bool found;
  ASSERT_TRUE((*log)->Read(pos[1], &r, &got, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(r.ref, 7u);
  EXPECT_EQ(r.series_hash, 77u);
  EXPECT_EQ(r.prev, pos[0]);  // kPrevInBatch resolved
  EXPECT_EQ(got->bytes, "bb");
  EXPECT_EQ(got->min_time, 11);
  EXPECT_EQ(got->max_time, 20);
  EXPECT_EQ(got->num_samples, 3);
  ASSERT_TRUE((*log)->Read(pos[2], &r, &got, &found).ok());
  EXPECT_EQ(got->bytes, std::string("c\0c", 3));
  EXPECT_EQ(r.prev, ChunkLog::kNoPosition);
  // Dropping the mapped pages loses nothing: the next read maps them again.
  (*log)->ReleaseMappedPages();
  ASSERT_TRUE((*log)->Read(pos[1], &r, &got, &found).ok());
  EXPECT_EQ(got->bytes, "bb");
  // A position that is not a record start fails its checksum or fields.
  EXPECT_FALSE((*log)->Read(pos[1] + 1, &r, nullptr, &found).ok());
  // Past the end of what was written.
  absl::Status past = (*log)->Read(pos[2] + 4096, &r, nullptr, &found);
  EXPECT_EQ(past.code(), absl::StatusCode::kDataLoss) << past;
  EXPECT_NE(past.message().find(dir_), std::string::npos) << past;
}

TEST_F(ChunkLogTest, RotatesSegmentsAndReopensWithEveryRecord) {
  std::vector<uint64_t> all;
  {
    auto log = ChunkLog::Open(dir_, 4096);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 200; ++i) {
      ChunkPtr c = MakeChunk(i * 10, i * 10 + 9, std::string(50 + i % 7, 'x'));
      std::vector<uint64_t> pos;
      ASSERT_TRUE(
          (*log)
              ->Append({{1, 5, all.empty() ? 0 : all.back(), c.get()}}, &pos)
              .ok());
      all.push_back(pos[0]);
    }
    EXPECT_GT((*log)->num_segments(), 3);
    EXPECT_GT((*log)->size_bytes(), 200 * 100);
  }
  auto log = ChunkLog::Open(dir_, 4096);
  ASSERT_TRUE(log.ok());
  std::vector<uint64_t> seen;
  ASSERT_TRUE(
      (*log)
          ->ScanExisting([&](const ChunkLog::Record& r,
                             absl::string_view bytes) {
            EXPECT_EQ(bytes.size(), static_cast<size_t>(50 + seen.size() % 7));
            EXPECT_EQ(r.min_time, static_cast<int64_t>(seen.size()) * 10);
            if (!seen.empty()) {
              EXPECT_EQ(r.prev, seen.back());
            }
            seen.push_back(r.pos);
            return absl::OkStatus();
          })
          .ok());
  EXPECT_EQ(seen, all);
  // The chain is readable from its newest record after reopening.
  uint64_t p = all.back();
  int hops = 0;
  while (p != ChunkLog::kNoPosition) {
    ChunkLog::Record r;
    bool found;
    ASSERT_TRUE((*log)->Read(p, &r, nullptr, &found).ok());
    ASSERT_TRUE(found);
    p = r.prev;
    ++hops;
  }
  EXPECT_EQ(hops, 200);
}

TEST_F(ChunkLogTest, TornTailIsDroppedCorruptionInsideIsDataLoss) {
  uint64_t last;
  {
    auto log = ChunkLog::Open(dir_, 1 << 20);
    ASSERT_TRUE(log.ok());
    std::vector<uint64_t> pos;
    ChunkPtr c = MakeChunk(0, 1, "0123456789");
    ASSERT_TRUE(
        (*log)
            ->Append(
                {{1, 1, 0, c.get()}, {2, 2, 0, c.get()}, {3, 3, 0, c.get()}},
                &pos)
            .ok());
    last = pos[2];
  }
  const std::string seg = ChunkLog::SegmentPath(dir_, 1);
  const auto full = fs::file_size(seg);
  // A crash cut the last record short.
  fs::resize_file(seg, full - 3);
  {
    auto log = ChunkLog::Open(dir_, 1 << 20);
    ASSERT_TRUE(log.ok());
    int n = 0;
    ASSERT_TRUE(
        (*log)
            ->ScanExisting([&](const ChunkLog::Record&, absl::string_view) {
              ++n;
              return absl::OkStatus();
            })
            .ok());
    EXPECT_EQ(n, 2);
    ChunkLog::Record r;
    bool found;
    EXPECT_FALSE((*log)->Read(last, &r, nullptr, &found).ok());
  }
  // A flipped byte in the first record, with intact records after it.
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8 + 45 + 2);
    f.put('!');
  }
  auto log = ChunkLog::Open(dir_, 1 << 20);
  ASSERT_TRUE(log.ok());
  absl::Status st =
      (*log)->ScanExisting([](const ChunkLog::Record&, absl::string_view) {
        return absl::OkStatus();
      });
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find(seg), std::string::npos) << st;
  EXPECT_NE(st.message().find("offset 0"), std::string::npos) << st;
}

TEST_F(ChunkLogTest, DeletesOnlyClosedSegmentsWhoseChunksAllEnded) {
  auto log = ChunkLog::Open(dir_, 4096);
  ASSERT_TRUE(log.ok());
  std::vector<uint64_t> first, second;
  ChunkPtr old_chunk = MakeChunk(0, 100, std::string(3000, 'o'));
  ChunkPtr late = MakeChunk(50, 60, "late");
  ChunkPtr new_chunk = MakeChunk(1000, 1100, std::string(3000, 'n'));
  ASSERT_TRUE((*log)->Append({{1, 1, 0, old_chunk.get()}}, &first).ok());
  // Fills segment 2 with a new chunk and a late old one.
  ASSERT_TRUE(
      (*log)
          ->Append({{1, 1, 0, new_chunk.get()}, {2, 2, 0, late.get()}}, &second)
          .ok());
  ASSERT_EQ(first[0] >> 32, 1u);
  ASSERT_EQ(second[0] >> 32, 2u);
  ASSERT_TRUE((*log)->DeleteSegmentsEndingBefore(500, ~uint64_t{0}).ok());
  ChunkLog::Record r;
  bool found;
  ASSERT_TRUE((*log)->Read(first[0], &r, nullptr, &found).ok());
  EXPECT_FALSE(found);
  // Segment 2 holds a chunk ending at 1100 and is the one being written.
  ASSERT_TRUE((*log)->Read(second[1], &r, nullptr, &found).ok());
  EXPECT_TRUE(found);
  ASSERT_TRUE((*log)->DeleteSegmentsEndingBefore(2000, ~uint64_t{0}).ok());
  ASSERT_TRUE((*log)->Read(second[1], &r, nullptr, &found).ok());
  EXPECT_TRUE(found);  // still the active segment
  ASSERT_TRUE((*log)->Rotate().ok());
  ASSERT_TRUE((*log)->DeleteSegmentsEndingBefore(2000, ~uint64_t{0}).ok());
  ASSERT_TRUE((*log)->Read(second[1], &r, nullptr, &found).ok());
  EXPECT_FALSE(found);
  EXPECT_EQ((*log)->size_bytes(), 0);
}

TEST_F(ChunkLogTest, SegmentsFromBeforeOpenAreKeptUntilScanned) {
  {
    auto log = ChunkLog::Open(dir_, 1 << 20);
    ASSERT_TRUE(log.ok());
    std::vector<uint64_t> pos;
    ChunkPtr c = MakeChunk(0, 1, "x");
    ASSERT_TRUE((*log)->Append({{1, 1, 0, c.get()}}, &pos).ok());
  }
  auto log = ChunkLog::Open(dir_, 1 << 20);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->DeleteSegmentsEndingBefore(100, ~uint64_t{0}).ok());
  EXPECT_TRUE(fs::exists(ChunkLog::SegmentPath(dir_, 1)));
  ASSERT_TRUE(
      (*log)
          ->ScanExisting([](const ChunkLog::Record&, absl::string_view) {
            return absl::OkStatus();
          })
          .ok());
  ASSERT_TRUE((*log)->DeleteSegmentsEndingBefore(100, ~uint64_t{0}).ok());
  EXPECT_FALSE(fs::exists(ChunkLog::SegmentPath(dir_, 1)));
}

TEST_F(ChunkLogTest, RejectsBadSegmentSizesAndOversizedChunks) {
  EXPECT_FALSE(ChunkLog::Open(dir_, 100).ok());
  auto log = ChunkLog::Open(dir_, 4096);
  ASSERT_TRUE(log.ok());
  ChunkPtr huge = MakeChunk(0, 1, std::string(5000, 'h'));
  std::vector<uint64_t> pos;
  EXPECT_EQ((*log)->Append({{1, 1, 0, huge.get()}}, &pos).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vigil::tsdb
