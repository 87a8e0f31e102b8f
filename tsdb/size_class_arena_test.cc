#include "tsdb/size_class_arena.h"

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

using testing::AdvisedHuge;
using testing::SmapsOf;

constexpr size_t kPage = SizeClassArena::kPageBytes;

TEST(SizeClassArenaTest, BlockSizesAreClassesThatHoldTheRequest) {
  size_t previous = 0;
  for (size_t n = 1; n <= SizeClassArena::kMaxBlockBytes + 40; ++n) {
    const size_t size = SizeClassArena::BlockSize(n);
    ASSERT_GE(size, n);
    ASSERT_EQ(size % SizeClassArena::kAlign, 0u) << n;
    ASSERT_GE(size, previous) << n;
    if (n <= SizeClassArena::kMaxBlockBytes) {
      // A page holds its blocks with little left over.
      ASSERT_LE(kPage % size, kPage / 40) << size;
      // And the class is not far above the request.
      ASSERT_LE(size, n + n / 3 + 16) << n;
    }
    previous = size;
  }
  EXPECT_EQ(SizeClassArena::BlockSize(SizeClassArena::kMaxBlockBytes + 1),
            SizeClassArena::kMaxBlockBytes + 16);
}

TEST(SizeClassArenaTest, BlocksAreAlignedDistinctAndWritable) {
  SizeClassArena arena;
  testing::LiveBlocks live;
  std::vector<std::pair<char*, size_t>> blocks;
  for (int i = 0; i < 20000; ++i) {  // every class, ~12 MB
    const size_t bytes =
        1 + (static_cast<size_t>(i) * 37) % SizeClassArena::kMaxBlockBytes;
    const size_t size = SizeClassArena::BlockSize(bytes);
    char* p = static_cast<char*>(arena.Allocate(bytes));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % SizeClassArena::kAlign, 0u);
    // Within one page.
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) / kPage,
              (reinterpret_cast<uintptr_t>(p) + size - 1) / kPage);
    std::memset(p, i & 0xff, size);
    ASSERT_TRUE(live.Add(p, size)) << i;
    blocks.emplace_back(p, bytes);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& [p, bytes] = blocks[i];
    const size_t size = SizeClassArena::BlockSize(bytes);
    ASSERT_EQ(static_cast<unsigned char>(p[0]), i & 0xff) << i;
    ASSERT_EQ(static_cast<unsigned char>(p[size - 1]), i & 0xff) << i;
  }
  EXPECT_EQ(arena.GetStats().blocks_in_use, 20000);
  for (const auto& [p, bytes] : blocks) arena.Free(p, bytes);
  SizeClassArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.blocks_in_use, 0);
  EXPECT_EQ(st.pages_in_use, 0);
  EXPECT_GT(st.pages_free, 0);
}

TEST(SizeClassArenaTest, AFreedBlockIsReusedByItsClass) {
  SizeClassArena arena;
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(arena.Allocate(100));
  arena.Free(blocks[500], 100);
  // 112 is 100's class: the same block comes back.
  EXPECT_EQ(arena.Allocate(112), blocks[500]);
  // Another class does not take it.
  arena.Free(blocks[500], 112);
  void* other = arena.Allocate(200);
  EXPECT_NE(other, blocks[500]);
  EXPECT_EQ(arena.Allocate(97), blocks[500]);
  arena.Free(other, 200);
  for (void* p : blocks) arena.Free(p, 100);
  EXPECT_EQ(arena.GetStats().blocks_in_use, 0);
}

// Buffers of many series grow in step, each freeing its smaller block for
// a larger one: the emptied pages of the small classes carry the larger
// ones, so the arena holds about what is live, not every generation.
TEST(SizeClassArenaTest, BuffersGrowingInStepReuseEmptiedPages) {
  SizeClassArena arena;
  constexpr int kBuffers = 20000;
  std::vector<void*> buffers(kBuffers, nullptr);
  std::vector<size_t> caps(kBuffers, 0);
  size_t cap = 24;
  for (int generation = 0; generation < 14; ++generation) {
    for (int i = 0; i < kBuffers; ++i) {
      void* p = arena.Allocate(cap);
      std::memset(p, generation, SizeClassArena::BlockSize(cap));
      arena.Free(buffers[i], caps[i]);
      buffers[i] = p;
      caps[i] = cap;
    }
    const SizeClassArena::Stats st = arena.GetStats();
    const size_t size = SizeClassArena::BlockSize(cap);
    const int64_t live_pages = (kBuffers + kPage / size - 1) / (kPage / size);
    // At most a page per class beyond what is live: the previous
    // generation's pages went back to the pool (or carry this one).
    EXPECT_LE(st.pages_in_use, live_pages + 1) << "cap " << cap;
    EXPECT_LE(st.pages_in_use + st.pages_free,
              live_pages + live_pages / 20 + 30)
        << "cap " << cap;
    cap = cap + cap / 4;
  }
  for (int i = 0; i < kBuffers; ++i) {
    ASSERT_EQ(static_cast<char*>(buffers[i])[0], 13) << i;
    arena.Free(buffers[i], caps[i]);
  }
  EXPECT_EQ(arena.GetStats().pages_in_use, 0);
}

TEST(SizeClassArenaTest, BigBlocksComeFromTheHeap) {
  SizeClassArena arena;
  const size_t big = SizeClassArena::kMaxBlockBytes + 1;
  char* p = static_cast<char*>(arena.Allocate(big));
  std::memset(p, 7, SizeClassArena::BlockSize(big));
  SizeClassArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.large_in_use, 1);
  EXPECT_EQ(st.slabs, 0);
  arena.Free(p, big);
  EXPECT_EQ(arena.GetStats().large_in_use, 0);
  arena.Free(nullptr, 16);  // ignored, like delete nullptr
}

// A small arena keeps its 4 KiB pages; a slab whose pages have all been
// handed out is advised for huge pages and collapsed into one.
TEST(SizeClassArenaTest, OnlyFullSlabsBecomeHugePages) {
  SizeClassArena arena;
  std::vector<void*> blocks = {arena.Allocate(64)};
  const bool smaps = !SmapsOf(blocks[0]).empty();
  EXPECT_FALSE(AdvisedHuge(blocks[0]));
  while (arena.GetStats().slabs < 3) blocks.push_back(arena.Allocate(64));
  SizeClassArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.full_slabs, 2);
  if (smaps) {
    EXPECT_TRUE(AdvisedHuge(blocks[0]));
    EXPECT_FALSE(AdvisedHuge(blocks.back()));
  }
  if (st.collapsed > 0 && smaps) {
    EXPECT_GE(std::stol(SmapsOf(blocks[0])["AnonHugePages"]), 2048)
        << SmapsOf(blocks[0])["AnonHugePages"];
  }
  for (void* p : blocks) arena.Free(p, 64);
}

TEST(SizeClassArenaTest, ConcurrentAllocateAndFree) {
  SizeClassArena arena;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&arena, t] {
      std::vector<std::pair<uint64_t*, size_t>> mine;
      for (int i = 0; i < 20000; ++i) {
        const size_t bytes = 16 + static_cast<size_t>((i * 7 + t) % 300);
        auto* p = static_cast<uint64_t*>(arena.Allocate(bytes));
        p[0] = static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(i);
        mine.emplace_back(p, bytes);
        if (i % 3 == 2) {  // churn: free an older one
          const size_t k = mine.size() / 2;
          auto [old, old_bytes] = mine[k];
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
          arena.Free(old, old_bytes);
        }
      }
      for (auto [p, bytes] : mine) {
        ASSERT_EQ(p[0] >> 32, static_cast<uint64_t>(t));
        arena.Free(p, bytes);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  SizeClassArena::Stats st = arena.GetStats();
  EXPECT_EQ(st.blocks_in_use, 0);
  EXPECT_EQ(st.pages_in_use, 0);
}

}  // namespace
}  // namespace vigil::tsdb
