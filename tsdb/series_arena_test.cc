#include "tsdb/series_arena.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tsdb/testing/live_blocks.h"
#include "tsdb/testing/smaps.h"

namespace vigil::tsdb {
namespace {

constexpr size_t kSeriesBytes = 296;  // a MemSeries with 5 label pairs

using testing::AdvisedHuge;
using testing::SmapsOf;

TEST(SeriesArenaTest, BlocksAreAlignedDistinctAndWritable) {
  SeriesArena arena;
  testing::LiveBlocks live;
  std::vector<std::pair<char*, size_t>> blocks;
  for (int i = 0; i < 20000; ++i) {  // mixed sizes, ~3 slabs
    const size_t bytes = kSeriesBytes + 8 * (i % 3);
    char* p = static_cast<char*>(arena.Allocate(bytes));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % SeriesArena::kAlign, 0u);
    std::memset(p, i & 0xff, bytes);
    ASSERT_TRUE(live.Add(p, bytes)) << i;
    blocks.emplace_back(p, bytes);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& [p, bytes] = blocks[i];
    ASSERT_EQ(static_cast<unsigned char>(p[bytes - 1]), i & 0xff) << i;
  }
  SeriesArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.blocks_in_use, 20000);
  // ~6.1 MB of blocks share slabs whatever their size.
  EXPECT_EQ(st.slabs, 3);
  for (const auto& [p, bytes] : blocks) arena.Free(p, bytes);
  EXPECT_EQ(arena.GetStats().blocks_in_use, 0);
}

TEST(SeriesArenaTest, FreedBlocksAreReusedForTheSameSize) {
  SeriesArena arena;
  std::vector<void*> first;
  for (int i = 0; i < 1000; ++i) first.push_back(arena.Allocate(kSeriesBytes));
  const int64_t slabs = arena.GetStats().slabs;
  std::set<void*> freed(first.begin(), first.end());
  for (void* p : first) arena.Free(p, kSeriesBytes);
  // Another size does not take those blocks.
  void* other = arena.Allocate(2 * kSeriesBytes);
  EXPECT_EQ(freed.count(other), 0u);
  // Sizes that round to the same 16 bytes do.
  for (int i = 0; i < 1000; ++i) {
    void* p = arena.Allocate(kSeriesBytes - 4 * (i % 2));
    EXPECT_EQ(freed.count(p), 1u) << i;
  }
  EXPECT_EQ(arena.GetStats().slabs, slabs);
  arena.Free(other, 2 * kSeriesBytes);
}

TEST(SeriesArenaTest, BigBlocksComeFromTheHeap) {
  SeriesArena arena;
  const size_t big = SeriesArena::kMaxBlockBytes + 1;
  char* p = static_cast<char*>(arena.Allocate(big));
  std::memset(p, 7, big);
  SeriesArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.large_in_use, 1);
  EXPECT_EQ(st.slabs, 0);
  arena.Free(p, big);
  EXPECT_EQ(arena.GetStats().large_in_use, 0);
  arena.Free(nullptr, 16);  // ignored, like delete nullptr
}

// A small head keeps its 4 KiB pages; a slab that fills up is advised for
// huge pages and collapsed into one, the slab being filled is not.
TEST(SeriesArenaTest, OnlyFullSlabsBecomeHugePages) {
  SeriesArena arena;
  std::vector<void*> blocks = {arena.Allocate(kSeriesBytes)};
  const bool smaps = !SmapsOf(blocks[0]).empty();
  EXPECT_EQ(arena.GetStats().full_slabs, 0);
  EXPECT_FALSE(AdvisedHuge(blocks[0]));
  while (arena.GetStats().slabs < 3) {
    blocks.push_back(arena.Allocate(kSeriesBytes));
  }
  SeriesArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.full_slabs, 2);
  EXPECT_EQ(blocks.size(), 2 * (SeriesArena::kSlabBytes / 304) + 1);
  if (smaps) {
    EXPECT_TRUE(AdvisedHuge(blocks[0]));
    EXPECT_FALSE(AdvisedHuge(blocks.back()));
  }
  if (st.collapsed > 0 && smaps) {
    // (Mappings next to each other merge, so this counts both full slabs
    // when they are adjacent.)
    EXPECT_GE(std::stol(SmapsOf(blocks[0])["AnonHugePages"]), 2048)
        << SmapsOf(blocks[0])["AnonHugePages"];
  }
  // The contents survive the collapse.
  for (size_t i = 0; i + 1 < blocks.size(); ++i) {
    ASSERT_EQ(static_cast<char*>(blocks[i])[0], 0) << i;
  }
  for (void* p : blocks) arena.Free(p, kSeriesBytes);
}

TEST(SeriesArenaTest, ConcurrentAllocateAndFree) {
  SeriesArena arena;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&arena, t] {
      std::vector<uint64_t*> mine;
      const size_t bytes = kSeriesBytes + 16 * static_cast<size_t>(t % 2);
      for (int i = 0; i < 20000; ++i) {
        auto* p = static_cast<uint64_t*>(arena.Allocate(bytes));
        p[0] = static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(i);
        mine.push_back(p);
        if (i % 3 == 2) {  // churn: free an older one
          const size_t k = mine.size() / 2;
          uint64_t* old = mine[k];
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
          arena.Free(old, bytes);
        }
      }
      for (uint64_t* p : mine) {
        ASSERT_EQ(p[0] >> 32, static_cast<uint64_t>(t));
        arena.Free(p, bytes);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(arena.GetStats().blocks_in_use, 0);
}

}  // namespace
}  // namespace vigil::tsdb
