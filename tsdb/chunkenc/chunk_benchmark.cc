// Encode/decode throughput and bytes/sample of the chunk codec on realistic
// generated data. Run with:
//   bazel run --config=opt //tsdb/chunkenc:chunk_benchmark
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/chunkenc/testdata_gen.h"

namespace vigil::tsdb::chunkenc {
namespace {

using testdata::Shape;

// Chunks of `chunk_len` samples cut from `series_per_shape` generated day-long
// series of each shape in the mix (or of one shape).
std::vector<std::vector<Sample>> MakeChunks(int shape_or_mix, int chunk_len) {
  std::vector<std::vector<Sample>> series;
  if (shape_or_mix < 0) {
    for (const auto& e : testdata::DefaultMix()) {
      for (auto& s : testdata::GenerateShape(e.shape, e.series, 11)) {
        series.push_back(std::move(s));
      }
    }
  } else {
    series = testdata::GenerateShape(static_cast<Shape>(shape_or_mix), 112, 11);
  }
  std::vector<std::vector<Sample>> chunks;
  for (const auto& s : series) {
    for (size_t off = 0; off < s.size(); off += chunk_len) {
      const size_t end = std::min(s.size(), off + chunk_len);
      chunks.emplace_back(s.begin() + off, s.begin() + end);
    }
  }
  return chunks;
}

const char* Label(int shape_or_mix) {
  return shape_or_mix < 0
             ? "mix"
             : testdata::ShapeName(static_cast<Shape>(shape_or_mix));
}

void BM_Encode(benchmark::State& state) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)),
                                 static_cast<int>(state.range(1)));
  size_t samples = 0, bytes = 0;
  for (auto _ : state) {
    samples = bytes = 0;
    for (const auto& c : chunks) {
      ChunkEncoder enc;
      for (const Sample& s : c) enc.Append(s.t, s.v);
      bytes += enc.size_bytes();
      samples += c.size();
      benchmark::DoNotOptimize(enc.Bytes().data());
    }
  }
  state.SetLabel(Label(static_cast<int>(state.range(0))));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples));
  state.counters["bytes/sample"] =
      static_cast<double>(bytes) / static_cast<double>(samples);
}

void BM_Decode(benchmark::State& state) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)),
                                 static_cast<int>(state.range(1)));
  std::vector<std::string> encoded;
  size_t samples = 0, bytes = 0;
  for (const auto& c : chunks) {
    ChunkEncoder enc;
    for (const Sample& s : c) enc.Append(s.t, s.v);
    encoded.emplace_back(enc.Bytes());
    bytes += enc.size_bytes();
    samples += c.size();
  }
  std::vector<Sample> out;
  for (auto _ : state) {
    for (const auto& e : encoded) {
      out.clear();
      ChunkDecoder dec(e);
      benchmark::DoNotOptimize(
          dec.DecodeRange(INT64_MIN, INT64_MAX, &out).ok());
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetLabel(Label(static_cast<int>(state.range(0))));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples));
  state.counters["bytes/sample"] =
      static_cast<double>(bytes) / static_cast<double>(samples);
}

void BM_DecodeNext(benchmark::State& state) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)), 120);
  std::vector<std::string> encoded;
  size_t samples = 0;
  for (const auto& c : chunks) {
    ChunkEncoder enc;
    for (const Sample& s : c) enc.Append(s.t, s.v);
    encoded.emplace_back(enc.Bytes());
    samples += c.size();
  }
  for (auto _ : state) {
    double sum = 0;
    for (const auto& e : encoded) {
      ChunkDecoder dec(e);
      while (dec.Next()) sum += dec.At().v;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetLabel(Label(static_cast<int>(state.range(0))));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples));
}

// Arguments: shape (-1 = mix, else testdata::Shape), chunk length.
void ShapeArgs(benchmark::internal::Benchmark* b) {
  for (int len : {120, 480}) {
    for (int shape = -1; shape <= static_cast<int>(Shape::kHistogram);
         ++shape) {
      b->Args({shape, len});
    }
  }
}

BENCHMARK(BM_Encode)->Apply(ShapeArgs);
BENCHMARK(BM_Decode)->Apply(ShapeArgs);
BENCHMARK(BM_DecodeNext)->DenseRange(-1, 4);

}  // namespace
}  // namespace vigil::tsdb::chunkenc
