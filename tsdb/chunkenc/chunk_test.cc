#include "tsdb/chunkenc/chunk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tsdb/chunkenc/testdata_gen.h"

namespace vigil::tsdb::chunkenc {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

double FromBits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

std::string Encode(const std::vector<Sample>& samples) {
  ChunkEncoder enc;
  for (const Sample& s : samples) enc.Append(s.t, s.v);
  return std::string(enc.Bytes());
}

// Decodes with Next() and checks every sample bit-exactly.
void ExpectDecodesTo(absl::string_view bytes, const std::vector<Sample>& want) {
  ChunkDecoder dec(bytes);
  ASSERT_EQ(dec.num_samples(), static_cast<int>(want.size()));
  size_t i = 0;
  while (dec.Next()) {
    ASSERT_LT(i, want.size());
    ASSERT_EQ(dec.At().t, want[i].t) << "sample " << i;
    ASSERT_EQ(Bits(dec.At().v), Bits(want[i].v))
        << "sample " << i << ": got " << dec.At().v << " want " << want[i].v;
    ++i;
  }
  ASSERT_TRUE(dec.status().ok()) << dec.status();
  ASSERT_EQ(i, want.size());
}

void ExpectRoundTrip(const std::vector<Sample>& samples) {
  ChunkEncoder enc;
  for (const Sample& s : samples) enc.Append(s.t, s.v);
  ASSERT_EQ(enc.num_samples(), static_cast<int>(samples.size()));
  ASSERT_EQ(enc.size_bytes(), enc.Bytes().size());
  if (!samples.empty()) {
    EXPECT_EQ(enc.min_time(), samples.front().t);
    EXPECT_EQ(enc.max_time(), samples.back().t);
  }
  ExpectDecodesTo(enc.Bytes(), samples);
  // DecodeRange over everything must agree with Next().
  ChunkDecoder dec(enc.Bytes());
  std::vector<Sample> got;
  ASSERT_TRUE(dec.DecodeRange(std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max(), &got)
                  .ok());
  ASSERT_EQ(got.size(), samples.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].t, samples[i].t);
    ASSERT_EQ(Bits(got[i].v), Bits(samples[i].v));
  }
}

std::vector<double> SpecialValues() {
  const double inf = std::numeric_limits<double>::infinity();
  return {0.0,
          -0.0,
          1.0,
          -1.0,
          inf,
          -inf,
          std::numeric_limits<double>::quiet_NaN(),
          -std::numeric_limits<double>::quiet_NaN(),
          FromBits(0x7ff0000000000001ULL),  // signalling NaN
          FromBits(0x7fffffffffffffffULL),
          FromBits(0xfff8000000000abcULL),
          StaleNaN(),
          std::numeric_limits<double>::denorm_min(),
          -std::numeric_limits<double>::denorm_min(),
          std::numeric_limits<double>::min(),
          std::numeric_limits<double>::max(),
          std::numeric_limits<double>::lowest(),
          std::numeric_limits<double>::epsilon(),
          1e-300,
          1e300,
          9.2e18,
          -9.2e18,
          9223372036854775807.0,
          0.1,
          0.30000000000000004,
          123.45,
          1e-22,
          1e22,
          4503599627370496.5,
          9007199254740993.0};
}

// A value drawn from a mixture that exercises every coding path.
double RandomValue(std::mt19937_64& rng, double* walk) {
  std::uniform_int_distribution<int> kind(0, 9);
  const std::vector<double> specials = SpecialValues();
  switch (kind(rng)) {
    case 0:
      return FromBits(rng());  // any bit pattern
    case 1:
      return specials[rng() % specials.size()];
    case 2: {  // decimal with a random scale
      const int scale = static_cast<int>(rng() % 8);
      const int64_t m = static_cast<int64_t>(rng() % 2000000) - 1000000;
      return static_cast<double>(m) / std::pow(10.0, scale);
    }
    case 3:
    case 4:
    case 5:  // counter-like walk in integers
      *walk += static_cast<double>(rng() % 100);
      return *walk;
    case 6:  // repeat
      return *walk;
    case 7:  // large integer
      return static_cast<double>(static_cast<int64_t>(rng() >> 10)) *
             ((rng() & 1) ? 1 : -1);
    case 8:  // decimal walk
      *walk += static_cast<double>(rng() % 1000) / 100;
      return std::round(*walk * 100) / 100;
    default:
      return std::ldexp(static_cast<double>(rng() % 1000),
                        -static_cast<int>(rng() % 1100));
  }
}

std::vector<int64_t> RandomTimestamps(std::mt19937_64& rng, int n) {
  std::vector<int64_t> ts(n);
  int64_t t;
  switch (rng() % 4) {
    case 0:
      t = static_cast<int64_t>(rng() >> 2) - (int64_t{1} << 61);
      break;
    case 1:
      t = -static_cast<int64_t>(rng() % 1000000000);
      break;
    default:
      t = 1700000000000 + static_cast<int64_t>(rng() % 1000000);
  }
  for (int i = 0; i < n; ++i) {
    ts[i] = t;
    int64_t gap;
    switch (rng() % 6) {
      case 0:
        gap = 1;
        break;
      case 1:
        gap = int64_t{1} << 40;
        break;
      case 2:
        gap = 1 + static_cast<int64_t>(rng() % 100000);
        break;
      default:
        gap = 15000 + static_cast<int64_t>(rng() % 5);
    }
    if (t > std::numeric_limits<int64_t>::max() - gap) {
      ts.resize(i + 1);
      break;
    }
    t += gap;
  }
  return ts;
}

TEST(ChunkTest, EmptyChunk) {
  ChunkEncoder enc;
  EXPECT_EQ(enc.num_samples(), 0);
  ChunkDecoder dec(enc.Bytes());
  EXPECT_EQ(dec.num_samples(), 0);
  EXPECT_FALSE(dec.Next());
  EXPECT_FALSE(dec.Seek(0));
  EXPECT_TRUE(dec.status().ok());
  std::vector<Sample> out;
  EXPECT_TRUE(dec.DecodeRange(0, 100, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(ChunkTest, EmptyInputIsDataLoss) {
  ChunkDecoder dec("");
  EXPECT_FALSE(dec.Next());
  EXPECT_EQ(dec.status().code(), absl::StatusCode::kDataLoss);
}

TEST(ChunkTest, SingleSampleEverySpecialValue) {
  for (double v : SpecialValues()) {
    for (int64_t t : {int64_t{0}, int64_t{-1}, int64_t{1700000000000},
                      std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max()}) {
      ExpectRoundTrip({{t, v}});
    }
  }
}

TEST(ChunkTest, SpecialValuesInEveryOrder) {
  const std::vector<double> sv = SpecialValues();
  std::vector<Sample> s;
  int64_t t = 1000;
  for (double a : sv) {
    for (double b : sv) {
      s.push_back({t += 15000, a});
      s.push_back({t += 15000, b});
    }
  }
  ExpectRoundTrip(s);
}

TEST(ChunkTest, StaleMarkerInsideDecimalSeries) {
  std::vector<Sample> s;
  for (int i = 0; i < 100; ++i) {
    s.push_back({i * 15000, i == 50 ? StaleNaN() : i * 1.5});
  }
  ExpectRoundTrip(s);
  s.push_back({100 * 15000, StaleNaN()});
  s.push_back({101 * 15000, StaleNaN()});
  s.push_back({102 * 15000, 7.25});
  ExpectRoundTrip(s);
}

TEST(ChunkTest, ExtremeTimestamps) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  ExpectRoundTrip({{kMin, 1}, {kMax, 2}});
  ExpectRoundTrip({{kMin, 1}, {kMin + 1, 2}, {kMax - 1, 3}, {kMax, 4}});
  ExpectRoundTrip({{-5, 1}, {-4, 1}, {-3, 1}, {0, 1}, {1 << 20, 1}});
  std::vector<Sample> gaps;
  int64_t t = -(int64_t{1} << 50);
  for (int i = 0; i < 200; ++i) {
    gaps.push_back({t, 1.0 * i});
    t += (i % 3 == 0) ? 1 : (int64_t{1} << 40);
  }
  ExpectRoundTrip(gaps);
}

TEST(ChunkTest, DecimalScaleIncreasesMidChunk) {
  ExpectRoundTrip({{1, 5},
                   {2, 6},
                   {3, 6.5},
                   {4, 6.25},
                   {5, 6.125},
                   {6, 1e-10},
                   {7, 3},
                   {8, 0.1},
                   {9, 1e-22},
                   {10, 7}});
}

TEST(ChunkTest, ModeSwitchesBackAndForth) {
  std::vector<Sample> s;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    double v;
    switch ((i / 7) % 4) {
      case 0:
        v = i;
        break;
      case 1:
        v = FromBits(rng());
        break;
      case 2:
        v = i / 100.0;
        break;
      default:
        v = std::sqrt(static_cast<double>(i));
    }
    s.push_back({int64_t{i} * 15000, v});
  }
  ExpectRoundTrip(s);
}

// Residuals of (almost) 64 bits drive the Rice parameter to its maximum.
TEST(ChunkTest, HugeDecimalJumps) {
  std::vector<Sample> s;
  for (int i = 0; i < 300; ++i) {
    const double big = (i % 3 == 0) ? 9.2e18 : -9.1e18;
    s.push_back({i, (i % 2) ? big : static_cast<double>(i)});
  }
  ExpectRoundTrip(s);
  s.clear();
  for (int i = 0; i < 300; ++i) {
    s.push_back({int64_t{i} << 40, (i % 2) ? 9e18 : -9e18 + i});
  }
  ExpectRoundTrip(s);
}

TEST(ChunkTest, RandomSequencesRoundTrip) {
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    std::mt19937_64 rng(seed);
    const int n = static_cast<int>(rng() % 300) + 1;
    std::vector<int64_t> ts = RandomTimestamps(rng, n);
    std::vector<Sample> s;
    double walk = static_cast<double>(rng() % 1000);
    for (int64_t t : ts) s.push_back({t, RandomValue(rng, &walk)});
    SCOPED_TRACE(seed);
    ExpectRoundTrip(s);
    if (HasFatalFailure()) return;
  }
}

TEST(ChunkTest, RandomBitPatternsRoundTrip) {
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    std::mt19937_64 rng(seed + 100000);
    std::vector<Sample> s;
    const int n = static_cast<int>(rng() % 200) + 1;
    for (int i = 0; i < n; ++i) {
      s.push_back({int64_t{i} * 15000, FromBits(rng())});
    }
    SCOPED_TRACE(seed);
    ExpectRoundTrip(s);
    if (HasFatalFailure()) return;
  }
}

TEST(ChunkTest, RealisticDataRoundTripsAndCompresses) {
  using testdata::Shape;
  size_t bytes = 0, samples = 0;
  for (Shape shape :
       {Shape::kCounterInt, Shape::kCounterCpu, Shape::kGaugeDecimal,
        Shape::kGaugeMemory, Shape::kHistogram}) {
    for (const auto& series : testdata::GenerateShape(shape, 14, 3, 960)) {
      for (size_t off = 0; off < series.size(); off += 120) {
        std::vector<Sample> chunk(series.begin() + off,
                                  series.begin() + off + 120);
        ExpectRoundTrip(chunk);
        if (HasFatalFailure()) return;
        bytes += Encode(chunk).size();
        samples += chunk.size();
      }
    }
  }
  // Prometheus XOR needs ~2.7 B/sample on this data; the exact figures are
  // tracked by chunk_benchmark.
  EXPECT_LT(static_cast<double>(bytes) / samples, 1.0);
}

TEST(ChunkTest, LargeChunkWidensHeader) {
  ChunkEncoder enc;
  std::vector<Sample> s;
  for (int i = 0; i < 40000; ++i) {
    s.push_back({int64_t{i} * 1000, static_cast<double>(i % 17)});
    enc.Append(s.back().t, s.back().v);
    if (i == 32766 || i == 32767 || i == 32768) {
      ExpectDecodesTo(enc.Bytes(), s);
    }
  }
  ExpectDecodesTo(enc.Bytes(), s);
}

TEST(ChunkTest, DecodesPrefixWhileEncoderContinues) {
  std::mt19937_64 rng(42);
  ChunkEncoder enc;
  std::vector<Sample> s;
  double walk = 0;
  int64_t t = 1700000000000;
  for (int i = 0; i < 500; ++i) {
    t += 1 + static_cast<int64_t>(rng() % 30000);
    s.push_back({t, RandomValue(rng, &walk)});
    enc.Append(s.back().t, s.back().v);
    // A snapshot of the bytes decodes to exactly what was appended so far.
    const std::string snapshot(enc.Bytes());
    ExpectDecodesTo(snapshot, s);
    if (HasFatalFailure()) return;
  }
}

// Regular, constant stretches are folded into run codes that the encoder
// rewrites in place; every intermediate state must decode exactly.
TEST(ChunkTest, RunsDecodeAtEveryPrefix) {
  std::mt19937_64 rng(4242);
  for (int trial = 0; trial < 20; ++trial) {
    ChunkEncoder enc;
    std::vector<Sample> s;
    int64_t t = 1700000000000;
    double v = 42;
    for (int i = 0; i < 300; ++i) {
      t += 15000 + ((rng() % 10 == 0) ? static_cast<int64_t>(rng() % 5) : 0);
      switch (rng() % 12) {
        case 0:
          v += 1;
          break;
        case 1:
          v = StaleNaN();
          break;
        case 2:
          v = 0.25 * static_cast<double>(rng() % 8);
          break;
        default:
          break;  // unchanged: run candidates
      }
      s.push_back({t, v});
      enc.Append(t, v);
      ExpectDecodesTo(std::string(enc.Bytes()), s);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(ChunkTest, ConstantRegularChunkIsTiny) {
  ChunkEncoder enc;
  for (int i = 0; i < 120; ++i) enc.Append(1700000000000 + i * 15000, 1.0);
  EXPECT_LE(enc.size_bytes(), 16u);
  ChunkEncoder counter;
  for (int i = 0; i < 120; ++i) {
    counter.Append(1700000000000 + i * 15000, 1000 + i * 7.5);
  }
  EXPECT_LE(counter.size_bytes(), 28u);
}

TEST(ChunkTest, SeekSemantics) {
  std::vector<Sample> s;
  for (int i = 0; i < 100; ++i) s.push_back({1000 + i * 10, i * 0.5});
  const std::string bytes = Encode(s);
  {
    ChunkDecoder dec(bytes);
    ASSERT_TRUE(dec.Seek(0));  // before the first sample
    EXPECT_EQ(dec.At().t, 1000);
    ASSERT_TRUE(dec.Seek(1000));  // stays on the current sample
    EXPECT_EQ(dec.At().t, 1000);
    ASSERT_TRUE(dec.Seek(1055));  // between samples: next one
    EXPECT_EQ(dec.At().t, 1060);
    EXPECT_EQ(dec.At().v, 3.0);
    ASSERT_TRUE(dec.Seek(1010));  // never backwards
    EXPECT_EQ(dec.At().t, 1060);
    ASSERT_TRUE(dec.Next());
    EXPECT_EQ(dec.At().t, 1070);
    ASSERT_TRUE(dec.Seek(1990));  // exactly the last sample
    EXPECT_EQ(dec.At().t, 1990);
    EXPECT_FALSE(dec.Seek(1991));
    EXPECT_FALSE(dec.Next());
    EXPECT_TRUE(dec.status().ok());
  }
  {
    ChunkDecoder dec(bytes);
    EXPECT_FALSE(dec.Seek(5000));  // past the end
    EXPECT_TRUE(dec.status().ok());
  }
}

TEST(ChunkTest, DecodeRangeSelectsWindowFromCurrentPosition) {
  std::vector<Sample> s;
  for (int i = 0; i < 100; ++i) s.push_back({i * 10, i * 1.0});
  const std::string bytes = Encode(s);
  {
    ChunkDecoder dec(bytes);
    std::vector<Sample> out;
    ASSERT_TRUE(dec.DecodeRange(95, 200, &out).ok());
    ASSERT_EQ(out.size(), 11u);  // both ends inclusive
    EXPECT_EQ(out.front().t, 100);
    EXPECT_EQ(out.back().t, 200);
    // Stops after maxt: the first sample past it is current.
    out.clear();
    ChunkDecoder dec2(bytes);
    ASSERT_TRUE(dec2.DecodeRange(0, 45, &out).ok());
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(dec2.At().t, 50);
  }
  {
    // Samples already consumed by Next() are not repeated.
    ChunkDecoder dec(bytes);
    ASSERT_TRUE(dec.Next());
    ASSERT_TRUE(dec.Next());
    std::vector<Sample> out;
    ASSERT_TRUE(dec.DecodeRange(0, 1000000, &out).ok());
    ASSERT_EQ(out.size(), 98u);
    EXPECT_EQ(out.front().t, 20);
  }
}

// Every proper prefix of a chunk either fails with DataLoss or, when the
// cut falls in trailing padding, decodes the full correct sample list; it
// never yields a wrong sample.
TEST(ChunkTest, TruncationAtEveryByteIsDetected) {
  for (uint64_t seed = 0; seed < 100; ++seed) {
    std::mt19937_64 rng(seed + 5000);
    const int n = static_cast<int>(rng() % 150) + 1;
    std::vector<Sample> s;
    double walk = 0;
    for (int64_t t : RandomTimestamps(rng, n)) {
      s.push_back({t, RandomValue(rng, &walk)});
    }
    const std::string bytes = Encode(s);
    for (size_t len = 0; len < bytes.size(); ++len) {
      const std::string cut = bytes.substr(0, len);  // exact-size buffer
      ChunkDecoder dec(cut);
      size_t i = 0;
      while (dec.Next()) {
        ASSERT_LT(i, s.size());
        ASSERT_EQ(dec.At().t, s[i].t) << "seed " << seed << " len " << len;
        ASSERT_EQ(Bits(dec.At().v), Bits(s[i].v));
        ++i;
      }
      if (dec.status().ok()) {
        ASSERT_EQ(i, s.size()) << "seed " << seed << " len " << len;
      } else {
        ASSERT_EQ(dec.status().code(), absl::StatusCode::kDataLoss);
      }
      std::vector<Sample> out;
      ChunkDecoder dec2(cut);
      absl::Status st =
          dec2.DecodeRange(std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max(), &out);
      ASSERT_EQ(st.ok(), dec.status().ok());
      ASSERT_EQ(out.size(), i);
    }
  }
}

TEST(ChunkTest, CorruptedBytesNeverCrash) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed + 9000);
    const int n = static_cast<int>(rng() % 150) + 1;
    std::vector<Sample> s;
    double walk = 0;
    for (int64_t t : RandomTimestamps(rng, n)) {
      s.push_back({t, RandomValue(rng, &walk)});
    }
    const std::string bytes = Encode(s);
    for (int trial = 0; trial < 30; ++trial) {
      std::string bad = bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
      ChunkDecoder dec(bad);
      int count = 0;
      while (dec.Next()) {
        (void)dec.At();
        ++count;
      }
      EXPECT_LE(count, dec.num_samples());
      ChunkDecoder dec2(bad);
      std::vector<Sample> out;
      (void)dec2.DecodeRange(0, std::numeric_limits<int64_t>::max(), &out);
      ChunkDecoder dec3(bad);
      (void)dec3.Seek(static_cast<int64_t>(rng()));
    }
  }
}

// DecodeRange runs its own copy of the decoding loop (state in locals);
// on corrupt input it must stop at the same sample with the same error as
// Next().
TEST(ChunkTest, DecodeRangeAgreesWithNextOnCorruptInput) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed + 7000);
    const int n = static_cast<int>(rng() % 200) + 1;
    std::vector<Sample> s;
    double walk = 0;
    for (int64_t t : RandomTimestamps(rng, n)) {
      s.push_back({t, RandomValue(rng, &walk)});
    }
    const std::string bytes = Encode(s);
    for (int trial = 0; trial < 30; ++trial) {
      std::string bad = bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
      if (trial % 3 == 0) bad.resize(rng() % (bad.size() + 1));
      ChunkDecoder dec(bad);
      std::vector<Sample> want;
      while (dec.Next()) want.push_back(dec.At());
      ChunkDecoder dec2(bad);
      std::vector<Sample> got;
      const absl::Status st =
          dec2.DecodeRange(std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max(), &got);
      ASSERT_EQ(st, dec.status()) << "seed " << seed << " trial " << trial;
      ASSERT_EQ(got.size(), want.size()) << "seed " << seed;
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].t, want[i].t) << "seed " << seed << " sample " << i;
        ASSERT_EQ(Bits(got[i].v), Bits(want[i].v))
            << "seed " << seed << " sample " << i;
      }
      ASSERT_FALSE(dec2.Next());
    }
  }
}

// The bytes of a fixed data set are pinned: decoder speed work must not
// change the format (a change needs a new chunk encoding, see
// docs/format/chunk_encoding.md).
TEST(ChunkTest, EncodingIsStable) {
  using testdata::Shape;
  uint64_t hash = 14695981039346656037ull;  // FNV-1a over all chunks
  size_t total = 0;
  auto add = [&](const std::string& b) {
    for (unsigned char ch : b) hash = (hash ^ ch) * 1099511628211ull;
    total += b.size();
  };
  for (Shape shape :
       {Shape::kCounterInt, Shape::kCounterCpu, Shape::kGaugeDecimal,
        Shape::kGaugeMemory, Shape::kHistogram}) {
    for (const auto& series : testdata::GenerateShape(shape, 14, 3, 480)) {
      add(Encode(series));
    }
  }
  std::vector<Sample> special;
  int64_t t = 1000;
  for (double v : SpecialValues()) {
    special.push_back({t, v});
    t += 15000;
  }
  add(Encode(special));
  EXPECT_EQ(total, 21207u);
  EXPECT_EQ(hash, 2230009909875995727ull);
}

// The bytes after every Append (not only the final ones: the head hands
// out snapshots of open chunks, and runs are counted in place) on series
// that exercise the encoder's fast paths and their edges: runs of both
// streams up to and past their 255-sample limit, runs broken by jitter,
// gaps and staleness markers, counters whose predicted mantissa is right
// or off by one, decimals at several scales and shifts, mantissas near
// 2^53 (where several integers give the same double), float mode, and the
// header widening at 32768 samples with runs open. Pinned with the encoder
// before its fast paths were written; decoders and stored data depend on
// the bytes, so they must never change.
TEST(ChunkTest, EncodingIsStableAfterEveryAppend) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a over all snapshots
  size_t total = 0;
  auto add_snapshots = [&](const std::vector<Sample>& series) {
    ChunkEncoder enc;
    for (const Sample& s : series) {
      enc.Append(s.t, s.v);
      for (unsigned char ch : enc.Bytes()) {
        hash = (hash ^ ch) * 1099511628211ull;
      }
      total += enc.Bytes().size();
    }
  };
  auto add_final = [&](const std::vector<Sample>& series) {
    const std::string b = Encode(series);
    for (unsigned char ch : b) hash = (hash ^ ch) * 1099511628211ull;
    total += b.size();
  };
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u01(0, 1);
  // db_benchmark's BM_AppendScrape values: exact counters, some at scale 1.
  for (int series = 0; series < 21; ++series) {
    std::vector<Sample> s;
    for (int round = 0; round < 300; ++round) {
      const double v =
          static_cast<double>(round * (series % 7 + 1)) + (series % 3) * 0.5;
      int64_t t = int64_t{round} * 15000;
      if (series % 4 == 1 && u01(rng) < 0.03) t += 7;  // late scrape
      if (series % 5 == 2 && round == 150) continue;   // missed scrape
      s.push_back({t, v});
    }
    add_snapshots(s);
  }
  // Constants, staleness markers inside runs, float mode, page counts,
  // values near 2^53 and mantissas that need more scale mid-run.
  const double stale = FromBits(0x7ff0000000000002ull);
  for (int kind = 0; kind < 8; ++kind) {
    std::vector<Sample> s;
    double v = 0;
    for (int i = 0; i < 700; ++i) {
      const int64_t t = 1000 + int64_t{i} * 10000;
      switch (kind) {
        case 0:
          v = 42;
          break;
        case 1:
          v = i % 97 == 50 ? stale : 3.25;
          break;
        case 2:
          v = 0.1 * i + 1e-7 * (i % 3);
          break;
        case 3:
          v = static_cast<double>((1000 + i / 3) * 4096);
          break;
        case 4:
          v = 9007199254740000.0 + 2.0 * i;
          break;
        case 5:
          v = 4503599627370496.0 * 3 + 8.0 * (i / 2);
          break;
        case 6:
          v = i < 300 ? 1.5 * i : 1.25 * i + 0.001 * (i % 7);
          break;
        case 7:
          v = u01(rng) < 0.9 ? v + 1 : v + 1000 * u01(rng);
          break;
      }
      s.push_back({t, v});
    }
    add_snapshots(s);
  }
  // The generated shapes with 10% late scrapes, whole-chunk only.
  for (const auto& e : testdata::DefaultMix()) {
    for (auto& s : testdata::GenerateShape(e.shape, e.series / 4 + 1, 5, 480,
                                           testdata::kDefaultStartMs, 0.10)) {
      add_final(s);
    }
  }
  for (const auto& s : testdata::GenerateHarness(2, 4, 480, 7)) add_final(s);
  // Header widening with both runs open, then a break of both runs.
  {
    std::vector<Sample> s;
    for (int i = 0; i < 33000; ++i) {
      s.push_back({int64_t{i} * 1000 + (i == 32900 ? 3 : 0),
                   i < 32950 ? 7.0 : 8.0 + i});
    }
    ChunkEncoder enc;
    for (size_t i = 0; i < s.size(); ++i) {
      enc.Append(s[i].t, s[i].v);
      if (i >= 32760 && i <= 32780) {
        for (unsigned char ch : enc.Bytes()) {
          hash = (hash ^ ch) * 1099511628211ull;
        }
      }
    }
    ExpectDecodesTo(enc.Bytes(), s);
    add_final(s);
  }
  EXPECT_EQ(total, 3290907u);
  EXPECT_EQ(hash, 9640948844040288607ull);
}

TEST(ChunkTest, CorruptedSampleCountNeverOverAllocates) {
  std::string bytes = Encode({{1, 1}, {2, 2}});
  bytes[0] = static_cast<char>(0xff);
  bytes.insert(2, 2, '\xff');
  ChunkDecoder dec(bytes);
  EXPECT_GT(dec.num_samples(), 1000000);
  std::vector<Sample> out;
  EXPECT_EQ(dec.DecodeRange(0, 100, &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_LT(out.capacity(), 1000u);
}

// Scraped-looking decimal series: regular timestamps with runs of every
// length (broken by jitter, gaps and interval changes), counters, gauges
// and constant stretches, plus the rare codes (stale markers, more
// decimals, huge jumps, NaN, a switch to float mode and back). DecodeRange
// decodes them in its own loop with the state in locals (the one any
// faster decode path must replace); it must give exactly the samples
// Next() gives, for every window, also on corrupted copies.
TEST(ChunkTest, DecodeRangeMatchesNextOnScrapedDecimalSeries) {
  for (uint64_t seed = 0; seed < 400; ++seed) {
    std::mt19937_64 rng(seed + 91000);
    const int n = 2 + static_cast<int>(rng() % 700);
    std::vector<Sample> s;
    int64_t t = 1'700'000'000'000 + static_cast<int64_t>(rng() % 100000);
    int64_t step =
        (rng() % 2) ? 15000 : 1000 + static_cast<int64_t>(rng() % 60000);
    double v = static_cast<double>(rng() % 1000000);
    const int kind =
        static_cast<int>(rng() % 4);  // counter, gauge, flat, mixed
    const int rare = 5 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) {
      const uint64_t r = rng();
      if (r % rare == 0) {
        t += 1 + static_cast<int64_t>(rng() % 50);  // late scrape
      } else if (r % (rare * 3) == 1) {
        step = 1000 + static_cast<int64_t>(rng() % 60000);  // new interval
      } else if (r % (rare * 5) == 2) {
        t += step * static_cast<int64_t>(rng() % 20);  // gap
      }
      t += step;
      switch (kind == 3 ? static_cast<int>(rng() % 3) : kind) {
        case 0:
          v += static_cast<double>(rng() % 700);
          break;
        case 1:
          v = static_cast<double>(static_cast<int64_t>(v) +
                                  static_cast<int64_t>(rng() % 201) - 100);
          break;
        default:
          if (rng() % 17 == 0) v += 1;
          break;
      }
      double out = v;
      const uint64_t q = rng() % (rare * 4);
      if (q == 0) out = FromBits(0x7ff0000000000002ull);  // stale marker
      if (q == 1) out = v + 0.25;                         // more decimals
      if (q == 2) out = v * 1e12;                         // huge jump
      if (q == 3) out = std::nan("");
      if (q == 4) out = v + 1.0 / 3;  // not decimal: exception or float mode
      if (q == 5) v = 0;              // counter reset
      s.push_back({t, out});
    }
    const std::string bytes = Encode(s);
    std::vector<std::string> inputs = {bytes};
    for (int trial = 0; trial < 4; ++trial) {
      std::string bad = bytes;
      bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
      if (trial % 2 == 0) bad.resize(rng() % (bad.size() + 1));
      inputs.push_back(bad);
    }
    for (size_t in = 0; in < inputs.size(); ++in) {
      ChunkDecoder dec(inputs[in]);
      std::vector<Sample> all;
      while (dec.Next()) all.push_back(dec.At());
      if (in == 0) {
        ASSERT_TRUE(dec.status().ok()) << "seed " << seed;
        ASSERT_EQ(all.size(), s.size()) << "seed " << seed;
      }
      for (int w = 0; w < 4; ++w) {
        int64_t mint = std::numeric_limits<int64_t>::min();
        int64_t maxt = std::numeric_limits<int64_t>::max();
        if (w > 0 && !s.empty()) {
          mint = s[rng() % s.size()].t - static_cast<int64_t>(rng() % 2);
          maxt = w == 1 ? maxt : s[rng() % s.size()].t + (w == 2 ? 0 : 1);
        }
        std::vector<Sample> want;
        for (const Sample& x : all) {
          if (x.t > maxt) break;
          if (x.t >= mint) want.push_back(x);
        }
        ChunkDecoder dec2(inputs[in]);
        std::vector<Sample> got;
        const absl::Status st = dec2.DecodeRange(mint, maxt, &got);
        // Corrupt timestamps need not increase: DecodeRange stops at the
        // first one past maxt, and an error beyond it goes unseen.
        const bool stopped_early =
            std::any_of(all.begin(), all.end(), [&](const Sample& x) {
              return x.t > maxt;
            });  // error may lie beyond
        if (!stopped_early) {
          ASSERT_EQ(st, dec.status())
              << "seed " << seed << " input " << in << " window " << w;
        }
        ASSERT_EQ(got.size(), want.size())
            << "seed " << seed << " input " << in << " window " << w;
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(got[i].t, want[i].t) << "seed " << seed << " i " << i;
          ASSERT_EQ(Bits(got[i].v), Bits(want[i].v))
              << "seed " << seed << " i " << i;
        }
      }
    }
  }
}

// The comparison harness's data (histogram buckets, _sum, _count and
// node_cpu counters, exactly on the grid) is what DecodeRange's inner loop
// is specialised for. Every prefix the encoder exposes, every window and
// every truncation must decode as Next() does, and after a DecodeRange that
// stopped at maxt, Next() must continue from the same state.
TEST(ChunkTest, DecodeRangeMatchesNextOnHarnessDataAtEveryPrefix) {
  std::mt19937_64 rng(4242);
  for (int len : {120, 700}) {
    for (const auto& series : testdata::GenerateHarness(2, 4, len, 9)) {
      ChunkEncoder enc;
      for (size_t p = 0; p < series.size(); ++p) {
        enc.Append(series[p].t, series[p].v);
        // Long chunks (decoded partly in place, partly from the padded
        // tail copy): a sample of their prefixes.
        if (p > 130 && p % 37 != 0 && p + 1 != series.size()) continue;
        const std::string bytes(enc.Bytes());
        ChunkDecoder ref(bytes);
        std::vector<Sample> all;
        while (ref.Next()) all.push_back(ref.At());
        ASSERT_TRUE(ref.status().ok()) << ref.status();
        ASSERT_EQ(all.size(), p + 1);
        for (size_t i = 0; i <= p; ++i) {
          ASSERT_EQ(all[i].t, series[i].t) << i;
          ASSERT_EQ(Bits(all[i].v), Bits(series[i].v)) << i;
        }
        // Whole range, then a random window followed by Next().
        ChunkDecoder dec(bytes);
        std::vector<Sample> got;
        ASSERT_TRUE(dec.DecodeRange(std::numeric_limits<int64_t>::min(),
                                    std::numeric_limits<int64_t>::max(), &got)
                        .ok());
        ASSERT_EQ(got.size(), all.size());
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(got[i].t, all[i].t);
          ASSERT_EQ(Bits(got[i].v), Bits(all[i].v)) << "prefix " << p;
        }
        const size_t a = rng() % (p + 1), b = a + rng() % (p + 1 - a);
        const int64_t mint = all[a].t - static_cast<int64_t>(rng() % 2);
        const int64_t maxt = all[b].t + static_cast<int64_t>(rng() % 2);
        ChunkDecoder win(bytes);
        got.clear();
        ASSERT_TRUE(win.DecodeRange(mint, maxt, &got).ok());
        size_t next = 0;
        for (const Sample& x : all) {
          if (x.t > maxt) break;
          ++next;
        }
        ASSERT_EQ(got.size(), next - a) << "prefix " << p;
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(got[i].t, all[a + i].t);
          ASSERT_EQ(Bits(got[i].v), Bits(all[a + i].v));
        }
        // The sample past maxt (if any) is current; Next() continues.
        if (next < all.size()) {
          ASSERT_EQ(win.At().t, all[next].t);
          ASSERT_EQ(Bits(win.At().v), Bits(all[next].v));
          for (size_t i = next + 1; i < all.size(); ++i) {
            ASSERT_TRUE(win.Next()) << "prefix " << p << " sample " << i;
            ASSERT_EQ(win.At().t, all[i].t);
            ASSERT_EQ(Bits(win.At().v), Bits(all[i].v));
          }
        }
        ASSERT_FALSE(win.Next());
        ASSERT_TRUE(win.status().ok());
      }
      // Truncated and corrupted copies of the whole chunk.
      const std::string bytes(enc.Bytes());
      for (size_t cut = 0; cut <= bytes.size() + 40; ++cut) {
        std::string bad = bytes.substr(0, std::min(cut, bytes.size()));
        if (cut > bytes.size()) {
          bad = bytes;
          for (int f = 0; f < 3; ++f) {
            bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
          }
        }
        ChunkDecoder ref(bad);
        std::vector<Sample> want;
        while (ref.Next()) want.push_back(ref.At());
        ChunkDecoder dec(bad);
        std::vector<Sample> got;
        const absl::Status st =
            dec.DecodeRange(std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(), &got);
        ASSERT_EQ(st, ref.status()) << "cut " << cut;
        ASSERT_EQ(got.size(), want.size()) << "cut " << cut;
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(got[i].t, want[i].t);
          ASSERT_EQ(Bits(got[i].v), Bits(want[i].v));
        }
      }
    }
  }
}

}  // namespace
}  // namespace vigil::tsdb::chunkenc
