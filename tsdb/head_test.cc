#include "tsdb/head.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vigil::tsdb {
namespace {

Labels SeriesLabels(int i) {
  return *Labels::FromPairs({{"__name__", "m"},
                             {"instance", absl::StrCat("host-", i % 13)},
                             {"s", absl::StrCat(i)}});
}

// What the commit's apply pass prefetches and reads for the usual sample
// (series start through the encoder's hot state) must fit 3 cache lines
// at any 16-byte alignment malloc gives the object: 144 bytes.
TEST(MemSeriesLayoutTest, AppendedToStateSpansThreeCacheLines) {
  Head head;
  for (int i = 0; i < 64; ++i) {
    MemSeries* s = head.GetOrCreate(SeriesLabels(i)).first;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(s);
    const uintptr_t end = reinterpret_cast<uintptr_t>(s->open.HotStateEnd());
    EXPECT_LE(end - begin, 144u);
    EXPECT_LE((end - 1) / 64 - begin / 64 + 1, 3u) << "series " << i;
  }
  EXPECT_LE(sizeof(MemSeries), 256u);  // (the chunk log added 16 bytes)
}

// min_time is only read when the open chunk is empty: it must still be
// the series' first sample after chunks are cut, and cuts happen at the
// series' own SamplesPerChunk.
TEST(MemSeriesLayoutTest, MinTimeAndChunkCutsAfterTheFieldsMoved)
ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Head head;
  MemSeries* s = head.GetOrCreate(SeriesLabels(1)).first;
  EXPECT_EQ(s->samples_per_chunk, SamplesPerChunk(s->hash));
  EXPECT_EQ(s->min_time, std::numeric_limits<int64_t>::max());
  std::vector<ChunkPtr> sealed;
  for (int i = 0; i < 300; ++i) {
    SeriesLockGuard l(&s->mu);
    ChunkPtr c;
    head.AppendLocked(s, 1000 + int64_t{i} * 15, i * 1.5, &c);
    if (c != nullptr) sealed.push_back(c);
    ASSERT_EQ(s->min_time, 1000) << i;
    ASSERT_EQ(static_cast<int64_t>(s->max_time), 1000 + int64_t{i} * 15);
  }
  ASSERT_EQ(sealed.size(), 2u);
  EXPECT_EQ(sealed[0]->num_samples, s->samples_per_chunk);
  EXPECT_EQ(sealed[1]->num_samples, s->samples_per_chunk);
  EXPECT_EQ(sealed[0]->min_time, 1000);
}

// A chunk is cut where a sample crosses into the next 2 h range, also for
// negative times and at the ends of the int64 range, and not before.
TEST(MemSeriesLayoutTest, ChunksAreCutAtRangeBoundaries)
ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const std::vector<std::vector<int64_t>> cases = {
      // times, then where cuts are expected is derived from ChunkRangeStart
      {0, 1, kChunkRangeMs - 1, kChunkRangeMs, kChunkRangeMs + 5},
      {-kChunkRangeMs - 1, -kChunkRangeMs, -1, 0, 3 * kChunkRangeMs},
      // (Not kMin itself: ChunkRangeStart would overflow below it.)
      {kMin / 2, kMin / 2 + 1, -5, kMax - kChunkRangeMs, kMax - 1, kMax},
  };
  int series = 100;
  for (const auto& times : cases) {
    Head head;
    MemSeries* s = head.GetOrCreate(SeriesLabels(series++)).first;
    int cuts = 0, want = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      if (i > 0 && ChunkRangeStart(times[i]) != ChunkRangeStart(times[i - 1])) {
        ++want;
      }
      SeriesLockGuard l(&s->mu);
      ChunkPtr c;
      head.AppendLocked(s, times[i], 1.0, &c);
      if (c != nullptr) {
        ++cuts;
        EXPECT_EQ(ChunkRangeStart(c->max_time), ChunkRangeStart(c->min_time));
        EXPECT_NE(ChunkRangeStart(c->max_time), ChunkRangeStart(times[i]));
      }
    }
    EXPECT_EQ(cuts, want) << times[0];
    EXPECT_EQ(s->min_time, times[0]);
  }
}

}  // namespace
}  // namespace vigil::tsdb
