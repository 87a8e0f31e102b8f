// Encode/decode throughput and bytes/sample of the chunk codec on realistic
// generated data. Run with:
//   bazel run --config=opt //tsdb/chunkenc:chunk_benchmark
#include <cstring>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/chunkenc/range_chunk.h"
#include "tsdb/chunkenc/testdata_gen.h"

namespace vigil::tsdb::chunkenc {
namespace {

using testdata::Shape;

// Chunks of `chunk_len` samples cut from `series_per_shape` generated day-long
// series of each shape in the mix (or of one shape).
std::vector<std::vector<Sample>> MakeChunks(int shape_or_mix, int chunk_len) {
  std::vector<std::vector<Sample>> series;
  if (shape_or_mix == -3) {
    // -3: the comparison harness's data (histograms + node_cpu counters),
    // in its proportions (3,000 histogram series : 192 cpu series).
    series =
        testdata::GenerateHarness(16, 15, testdata::kSamplesPerDay + 1, 11);
  } else if (shape_or_mix < 0) {
    // -1: the mix; -2: the mix with twice the usual share of late scrapes.
    const double jitter = shape_or_mix == -2 ? 0.10 : 0.05;
    for (const auto& e : testdata::DefaultMix()) {
      for (auto& s : testdata::GenerateShape(
               e.shape, e.series, 11, testdata::kSamplesPerDay,
               testdata::kDefaultStartMs, jitter)) {
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

// Size the same chunk would have in Prometheus's XOR chunk format
// (delta-of-delta timestamps in 1/14/17/20/64-bit buckets, Gorilla XOR
// values), for comparison. Computed, not encoded.
size_t VarintBytes(uint64_t x) {
  size_t n = 1;
  while (x >= 0x80) {
    x >>= 7;
    ++n;
  }
  return n;
}

size_t PrometheusXorBytes(const std::vector<Sample>& c) {
  if (c.empty()) return 2;
  size_t bits = 0;
  const uint64_t t0 = static_cast<uint64_t>(c[0].t);
  bits += 8 * VarintBytes((t0 << 1) ^ static_cast<uint64_t>(c[0].t >> 63));
  bits += 64;
  int lead = -1, trail = 0;
  uint64_t prev_bits;
  std::memcpy(&prev_bits, &c[0].v, 8);
  int64_t prev_dt = 0;
  for (size_t i = 1; i < c.size(); ++i) {
    const int64_t dt = c[i].t - c[i - 1].t;
    if (i == 1) {
      bits += 8 * VarintBytes(static_cast<uint64_t>(dt));
    } else {
      const int64_t dod = dt - prev_dt;
      if (dod == 0) {
        bits += 1;
      } else if (dod >= -8191 && dod <= 8192) {
        bits += 2 + 14;
      } else if (dod >= -65535 && dod <= 65536) {
        bits += 3 + 17;
      } else if (dod >= -524287 && dod <= 524288) {
        bits += 4 + 20;
      } else {
        bits += 4 + 64;
      }
    }
    prev_dt = dt;
    uint64_t b;
    std::memcpy(&b, &c[i].v, 8);
    const uint64_t x = b ^ prev_bits;
    prev_bits = b;
    if (x == 0) {
      bits += 1;
      continue;
    }
    int l = __builtin_clzll(x), t = __builtin_ctzll(x);
    if (l > 31) l = 31;
    if (lead >= 0 && l >= lead && t >= trail) {
      bits += 2 + (64 - lead - trail);
    } else {
      bits += 2 + 5 + 6 + (64 - l - t);
      lead = l;
      trail = t;
    }
  }
  return 2 + (bits + 7) / 8;
}

const char* Label(int shape_or_mix) {
  if (shape_or_mix == -3) return "harness";
  if (shape_or_mix == -2) return "mix_jitter10";
  return shape_or_mix < 0
             ? "mix"
             : testdata::ShapeName(static_cast<Shape>(shape_or_mix));
}

// Labels a benchmark with its data and reports samples per second, samples
// per iteration and encoded bytes per sample.
void ReportSamples(benchmark::State& state, size_t samples, size_t bytes) {
  state.SetLabel(Label(static_cast<int>(state.range(0))));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples));
  state.counters["samples_per_iter"] = static_cast<double>(samples);
  state.counters["bytes/sample"] =
      static_cast<double>(bytes) / static_cast<double>(samples);
}

template <class Enc>
void BM_Encode(benchmark::State& state) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)),
                                 static_cast<int>(state.range(1)));
  size_t samples = 0, bytes = 0, prom_bytes = 0;
  for (const auto& c : chunks) prom_bytes += PrometheusXorBytes(c);
  for (auto _ : state) {
    samples = bytes = 0;
    for (const auto& c : chunks) {
      Enc enc;
      for (const Sample& s : c) enc.Append(s.t, s.v);
      bytes += enc.size_bytes();
      samples += c.size();
      benchmark::DoNotOptimize(enc.Bytes().data());
    }
  }
  ReportSamples(state, samples, bytes);
  state.counters["prom_xor_bytes/sample"] =
      static_cast<double>(prom_bytes) / static_cast<double>(samples);
}

// The adaptive codec's bytes for `samples`, appended one at a time.
std::string EncodeAdaptive(absl::Span<const Sample> samples) {
  ChunkEncoder enc;
  for (const Sample& s : samples) enc.Append(s.t, s.v);
  return std::string(enc.Bytes());
}

// DecodeRange throughput over chunks made by `encode`, decoded by a `Dec`
// (both codecs' decoders take the bytes and decode a time window).
template <class Dec>
void DecodeChunks(benchmark::State& state,
                  std::string (*encode)(absl::Span<const Sample>)) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)),
                                 static_cast<int>(state.range(1)));
  std::vector<std::string> encoded;
  size_t samples = 0, bytes = 0;
  for (const auto& c : chunks) {
    encoded.push_back(encode(c));
    bytes += encoded.back().size();
    samples += c.size();
  }
  std::vector<Sample> out;
  for (auto _ : state) {
    for (const auto& e : encoded) {
      out.clear();
      benchmark::DoNotOptimize(
          Dec(e).DecodeRange(INT64_MIN, INT64_MAX, &out).ok());
      benchmark::DoNotOptimize(out.data());
    }
  }
  ReportSamples(state, samples, bytes);
}

void BM_Decode(benchmark::State& state) {
  DecodeChunks<ChunkDecoder>(state, EncodeAdaptive);
}

template <class Enc, class Dec>
void BM_DecodeNext(benchmark::State& state) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)), 120);
  std::vector<std::string> encoded;
  size_t samples = 0;
  for (const auto& c : chunks) {
    Enc enc;
    for (const Sample& s : c) enc.Append(s.t, s.v);
    encoded.emplace_back(enc.Bytes());
    samples += c.size();
  }
  for (auto _ : state) {
    double sum = 0;
    for (const auto& e : encoded) {
      Dec dec(e);
      while (dec.Next()) sum += dec.At().v;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetLabel(Label(static_cast<int>(state.range(0))));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples));
}

// The range codec (range_chunk.h) encodes whole chunks: EncodeRangeChunk
// over each chunk's samples, and RangeChunkDecoder::DecodeRange.
void BM_EncodeRange(benchmark::State& state) {
  const auto chunks = MakeChunks(static_cast<int>(state.range(0)),
                                 static_cast<int>(state.range(1)));
  size_t samples = 0, bytes = 0;
  for (auto _ : state) {
    samples = bytes = 0;
    for (const auto& c : chunks) {
      const std::string b = EncodeRangeChunk(c);
      bytes += b.size();
      samples += c.size();
      benchmark::DoNotOptimize(b.data());
    }
  }
  ReportSamples(state, samples, bytes);
}

void BM_DecodeRange(benchmark::State& state) {
  DecodeChunks<RangeChunkDecoder>(state, EncodeRangeChunk);
}

// Arguments: shape (-1 = mix, -2 = mix with 10% late scrapes, -3 = the
// comparison harness's data, else testdata::Shape), chunk length.
void ShapeArgs(benchmark::internal::Benchmark* b) {
  for (int len : {120, 480}) {
    for (int shape = -3; shape <= static_cast<int>(Shape::kHistogram);
         ++shape) {
      b->Args({shape, len});
    }
  }
}

// BM_Encode/BM_Decode: the adaptive codec (chunk.h); BM_*Range: the range
// codec (range_chunk.h).
BENCHMARK_TEMPLATE(BM_Encode, ChunkEncoder)->Apply(ShapeArgs);
BENCHMARK(BM_Decode)->Apply(ShapeArgs);
BENCHMARK(BM_EncodeRange)->Apply(ShapeArgs);
BENCHMARK(BM_DecodeRange)->Apply(ShapeArgs);
BENCHMARK_TEMPLATE(BM_DecodeNext, ChunkEncoder, ChunkDecoder)
    ->DenseRange(-3, 4);

}  // namespace
}  // namespace vigil::tsdb::chunkenc
