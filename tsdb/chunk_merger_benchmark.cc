// CPU per sample of the chunk merger's decode + re-encode, which sets
// DBOptions::chunk_merge_samples_per_round.
//   bazel run -c opt //tsdb:chunk_merger_benchmark
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "tsdb/chunk_merger.h"

namespace vigil::tsdb {
namespace {

// One 2 h range at 15 s as the head cuts it (four chunks of 120): a
// counter with Poisson-like increments and slightly late scrapes.
std::vector<ChunkPtr> HeadChunks(int series) {
  std::vector<ChunkPtr> out;
  HeadChunkEncoder enc;
  double v = 1000.0 * series;
  uint64_t x = 88172645463325252ULL + series;
  for (int i = 0; i < 480; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v += static_cast<double>(x % 40);
    const int64_t t = int64_t{i} * 15'000 + static_cast<int64_t>(x % 3);
    if (enc.num_samples() >= 120) {
      out.push_back(ChunkOf(enc));
      enc = HeadChunkEncoder();
    }
    enc.Append(t, v);
  }
  out.push_back(ChunkOf(enc));
  return out;
}

void BM_MergeRangeChunks(benchmark::State& state) {
  std::vector<std::vector<ChunkPtr>> ranges;
  for (int s = 0; s < 256; ++s) ranges.push_back(HeadChunks(s));
  size_t i = 0;
  for (auto _ : state) {
    auto merged = MergeRangeChunks(ranges[i++ % ranges.size()]);
    benchmark::DoNotOptimize(merged);
  }
  state.SetItemsProcessed(state.iterations() * 480);
}
BENCHMARK(BM_MergeRangeChunks);

}  // namespace
}  // namespace vigil::tsdb
