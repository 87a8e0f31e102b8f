#include "tsdb/chunkenc/range_chunk.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tsdb/chunkenc/decimal.h"
#include "tsdb/chunkenc/testdata_gen.h"

namespace vigil::tsdb::chunkenc {
namespace {

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();

// Bit patterns of values (decimal.h's helpers, shared by the codecs).
double FromBits(uint64_t b) { return BitsDouble(b); }
uint64_t Bits(double d) { return DoubleBits(d); }

std::vector<Sample> Decode(const std::string& bytes, absl::Status* st,
                           int64_t mint = kMinT, int64_t maxt = kMaxT) {
  std::vector<Sample> out;
  *st = RangeChunkDecoder(bytes).DecodeRange(mint, maxt, &out);
  return out;
}

// Encodes, decodes and compares bit for bit; also checks the streaming
// encoder against the batch function and a few windows.
void ExpectRoundTrip(const std::vector<Sample>& in) {
  const std::string bytes = EncodeRangeChunk(in);
  RangeChunkEncoder enc;
  for (const Sample& s : in) enc.Append(s.t, s.v);
  ASSERT_EQ(enc.num_samples(), static_cast<int>(in.size()));
  if (!in.empty()) {
    EXPECT_EQ(enc.min_time(), in.front().t);
    EXPECT_EQ(enc.max_time(), in.back().t);
  }
  ASSERT_EQ(enc.Finish(), bytes);
  EXPECT_EQ(enc.num_samples(), 0);
  absl::Status st;
  const std::vector<Sample> out = Decode(bytes, &st);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(out[i].t, in[i].t) << "sample " << i;
    ASSERT_EQ(Bits(out[i].v), Bits(in[i].v))
        << "sample " << i << " " << in[i].v << " vs " << out[i].v;
  }
}

std::vector<Sample> Regular(int n, int64_t start = 1700000000000,
                            int64_t step = 15000) {
  std::vector<Sample> s;
  for (int i = 0; i < n; ++i) s.push_back({start + i * step, 0});
  return s;
}

TEST(RangeChunkTest, EmptyOneAndTwoSamples) {
  ExpectRoundTrip({});
  ExpectRoundTrip({{1000, 1.5}});
  ExpectRoundTrip({{-5, std::nan("")}});
  ExpectRoundTrip({{1000, 1.5}, {2000, 2.25}});
  ExpectRoundTrip({{kMinT, -0.0}, {kMaxT, FromBits(kStaleNaNBits)}});
  absl::Status st;
  EXPECT_TRUE(Decode(EncodeRangeChunk({}), &st).empty());
  EXPECT_TRUE(st.ok());
}

TEST(RangeChunkTest, BlockBoundaries) {
  for (int n : {31, 32, 33, 34, 64, 65, 66, 97, 480, 481}) {
    std::vector<Sample> s = Regular(n);
    for (int i = 0; i < n; ++i) s[i].v = i * 3;
    ExpectRoundTrip(s);
  }
}

TEST(RangeChunkTest, SpecialFloatsBetweenDecimals) {
  const double specials[] = {
      std::numeric_limits<double>::quiet_NaN(),
      FromBits(0x7ff8000000000123ULL),  // NaN with a payload
      FromBits(0xfff0000000000001ULL),  // negative signalling NaN
      FromBits(kStaleNaNBits),
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      -0.0,
      0.0,
      std::numeric_limits<double>::denorm_min(),
      -std::numeric_limits<double>::denorm_min() * 12345,
      std::numeric_limits<double>::min(),
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::lowest(),
      9.2e18,
      -9.3e18,
      0.1 + 0.2,
  };
  std::vector<Sample> s = Regular(400);
  std::mt19937_64 rng(5);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i].v = (rng() % 7 == 0) ? specials[rng() % std::size(specials)]
                              : static_cast<double>(i) / 4;
  }
  ExpectRoundTrip(s);
  // A stale marker ending an otherwise decimal series.
  std::vector<Sample> c = Regular(100);
  for (size_t i = 0; i < c.size(); ++i) c[i].v = 100 + i * 0.01;
  c.back().v = FromBits(kStaleNaNBits);
  ExpectRoundTrip(c);
  // Only specials.
  std::vector<Sample> only = Regular(std::size(specials) * 5);
  for (size_t i = 0; i < only.size(); ++i) {
    only[i].v = specials[i % std::size(specials)];
  }
  ExpectRoundTrip(only);
}

TEST(RangeChunkTest, ScaleChangesResetsAndHugeIntegers) {
  std::vector<Sample> s = Regular(500);
  for (size_t i = 0; i < s.size(); ++i) {
    const int phase = static_cast<int>(i / 50);
    switch (phase % 5) {
      case 0:
        s[i].v = static_cast<double>(i * 1000);  // integer counter
        break;
      case 1:
        s[i].v = i * 0.001 + 5;  // three decimals (as parsed)
        break;
      case 2:
        s[i].v = (i % 2) ? 12.5 : 7;  // scale flips inside a block
        break;
      case 3:
        // Beyond 2^53 and near the int64 limits.
        s[i].v = (i % 3 == 0)   ? 9.2e18 - 4096.0 * i
                 : (i % 3 == 1) ? -9.1e18
                                : 1e17 + 2 * i;
        break;
      case 4:
        s[i].v = static_cast<double>(i % 7);  // counter resets
        break;
    }
  }
  ExpectRoundTrip(s);
  // Values that parse with 22 decimals and tiny magnitudes.
  std::vector<Sample> tiny = Regular(100);
  for (size_t i = 0; i < tiny.size(); ++i) tiny[i].v = (i + 1) * 1e-22;
  ExpectRoundTrip(tiny);
  // Multiples of a power of two (memory gauges) with a shift.
  std::vector<Sample> mem = Regular(300);
  for (size_t i = 0; i < mem.size(); ++i) {
    mem[i].v = 4096.0 * (1000000 + static_cast<double>((i * 7919) % 513));
  }
  ExpectRoundTrip(mem);
}

TEST(RangeChunkTest, TimestampGapsJitterAndExtremes) {
  std::mt19937_64 rng(9);
  std::vector<Sample> s;
  int64_t t = 1700000000000;
  for (int i = 0; i < 700; ++i) {
    int64_t step = 15000;
    const int r = static_cast<int>(rng() % 20);
    if (r == 0) step += 3 + rng() % 25;           // late scrape
    if (r == 1) step = 1;                         // tiny step
    if (r == 2) step = 3600000 + rng() % 100000;  // gap
    if (r == 3) step = 1 + rng() % 60000;         // interval change
    t += step;
    s.push_back({t, static_cast<double>(i)});
  }
  ExpectRoundTrip(s);
  // Extreme timestamps and jumps across the whole int64 range.
  ExpectRoundTrip({{kMinT, 1},
                   {kMinT + 1, 2},
                   {-1, 3},
                   {0, 4},
                   {1, 5},
                   {kMaxT - 1, 6},
                   {kMaxT, 7}});
  std::vector<Sample> e;
  for (int i = 0; i < 100; ++i) e.push_back({kMinT + i * 7, 1.0 * i});
  for (int i = 0; i < 100; ++i) e.push_back({kMaxT - 1000 + i * 7, 2.0 * i});
  ExpectRoundTrip(e);
}

TEST(RangeChunkTest, RandomSequences) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 300; ++iter) {
    const int n = 1 + static_cast<int>(rng() % 600);
    const int kind = iter % 4;
    const int scale = static_cast<int>(rng() % 6);
    std::vector<Sample> s;
    int64_t t = static_cast<int64_t>(rng());
    if (t > kMaxT / 2) t = kMaxT / 2;
    for (int i = 0; i < n; ++i) {
      t += 1 + static_cast<int64_t>(rng() % (iter % 2 ? 1000000 : 30));
      double v;
      switch (kind) {
        case 0:
          v = FromBits(rng());  // any bit pattern
          break;
        case 1:
          v = std::round((static_cast<int64_t>(rng() % 2000001) - 1000000) *
                         std::pow(10.0, scale)) /
              std::pow(10.0, scale);
          v = static_cast<double>(static_cast<int64_t>(rng() % 100000)) /
              std::pow(10.0, scale);
          break;
        case 2:
          v = static_cast<double>(static_cast<int64_t>(rng()) >>
                                  (rng() % 64));  // huge integers
          break;
        default:
          v = (rng() % 10 == 0) ? FromBits(rng())
                                : static_cast<double>(i * (rng() % 5));
      }
      s.push_back({t, v});
    }
    ExpectRoundTrip(s);
  }
}

TEST(RangeChunkTest, LongChunkUsesFourByteHeader) {
  std::vector<Sample> s = Regular(40000, 0, 10);
  for (size_t i = 0; i < s.size(); ++i) s[i].v = static_cast<double>(i / 3);
  ExpectRoundTrip(s);
  const std::string bytes = EncodeRangeChunk(s);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]) & 0x80, 0x80);
}

TEST(RangeChunkTest, GeneratedDataRoundTripsAt480) {
  for (const auto& series :
       {testdata::GenerateHarness(2, 4, 2000, 3),
        testdata::GenerateShape(testdata::Shape::kCounterInt, 4, 1, 2000),
        testdata::GenerateShape(testdata::Shape::kGaugeDecimal, 6, 2, 2000),
        testdata::GenerateShape(testdata::Shape::kGaugeMemory, 4, 3, 2000),
        testdata::GenerateShape(testdata::Shape::kHistogram, 1, 4, 2000)}) {
    for (const auto& s : series) {
      for (size_t off = 0; off < s.size(); off += 480) {
        ExpectRoundTrip(std::vector<Sample>(
            s.begin() + off, s.begin() + std::min(s.size(), off + 480)));
      }
    }
  }
}

TEST(RangeChunkTest, WindowsAgreeWithFullDecode) {
  std::mt19937_64 rng(3);
  auto series =
      testdata::GenerateShape(testdata::Shape::kCounterCpu, 2, 7, 480);
  series.push_back(Regular(200));
  for (size_t i = 0; i < series.back().size(); ++i) {
    series.back()[i].v = (i % 9 == 0) ? FromBits(rng()) : i * 0.5;
  }
  for (const auto& s : series) {
    const std::string bytes = EncodeRangeChunk(s);
    for (int iter = 0; iter < 200; ++iter) {
      int64_t a = s[rng() % s.size()].t + static_cast<int64_t>(rng() % 3) - 1;
      int64_t b = s[rng() % s.size()].t + static_cast<int64_t>(rng() % 3) - 1;
      if (iter == 0) a = kMinT;
      if (iter == 1) b = kMaxT;
      if (a > b) std::swap(a, b);
      absl::Status st;
      const std::vector<Sample> got = Decode(bytes, &st, a, b);
      ASSERT_TRUE(st.ok()) << st;
      std::vector<Sample> want;
      for (const Sample& x : s) {
        if (x.t >= a && x.t <= b) want.push_back(x);
      }
      ASSERT_EQ(got.size(), want.size()) << a << " " << b;
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].t, want[i].t);
        ASSERT_EQ(Bits(got[i].v), Bits(want[i].v));
      }
    }
  }
}

std::vector<std::string> SomeChunks() {
  std::vector<std::string> chunks;
  auto h = testdata::GenerateHarness(1, 1, 480, 1);
  for (const auto& s : h) chunks.push_back(EncodeRangeChunk(s));
  auto mix = testdata::GenerateShape(testdata::Shape::kGaugeMemory, 2, 1, 300);
  for (const auto& s : mix) chunks.push_back(EncodeRangeChunk(s));
  std::mt19937_64 rng(8);
  std::vector<Sample> f = Regular(150);
  for (auto& x : f) x.v = FromBits(rng());
  f[3].t += 7;
  chunks.push_back(EncodeRangeChunk(f));
  chunks.push_back(EncodeRangeChunk({{5, 1}}));
  chunks.push_back(EncodeRangeChunk({{5, 1}, {9, 2}}));
  return chunks;
}

TEST(RangeChunkTest, EveryTruncationIsDataLoss) {
  for (const std::string& bytes : SomeChunks()) {
    for (size_t len = 0; len < bytes.size(); ++len) {
      absl::Status st;
      Decode(bytes.substr(0, len), &st);
      ASSERT_TRUE(absl::IsDataLoss(st))
          << "length " << len << " of " << bytes.size() << ": " << st;
    }
  }
}

// Corrupt input must not crash or read out of bounds (ASan/UBSan runs
// check the latter); what decodes must still be in time order.
void ExpectSafe(const std::string& bytes) {
  std::vector<Sample> out;
  absl::Status st = RangeChunkDecoder(bytes).DecodeRange(kMinT, kMaxT, &out);
  EXPECT_TRUE(st.ok() || absl::IsDataLoss(st)) << st;
  for (size_t i = 1; i < out.size(); ++i) {
    ASSERT_LT(out[i - 1].t, out[i].t) << i;
  }
}

TEST(RangeChunkTest, BitFlipsAndRandomBytesNeverCrash) {
  std::mt19937_64 rng(77);
  const std::vector<std::string> chunks = SomeChunks();
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b = chunks[rng() % chunks.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t bit = rng() % (b.size() * 8);
      b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
    }
    if (rng() % 3 == 0) b.resize(rng() % (b.size() + 1));
    ExpectSafe(b);
  }
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b(rng() % 600, '\0');
    for (char& c : b) c = static_cast<char>(rng());
    if (iter % 2 == 0 && b.size() >= 2) b[0] &= 0x7f;  // plausible count
    if (iter % 4 == 0 && b.size() >= 2) b[0] = 0, b[1] = 40;
    ExpectSafe(b);
  }
}

TEST(RangeChunkTest, CountBeyondDataIsDataLossWithoutWork) {
  std::string b = EncodeRangeChunk({{5, 1}, {9, 2}});
  b[0] = static_cast<char>(0x7f);
  b[1] = static_cast<char>(0xff);
  absl::Status st;
  Decode(b, &st);
  EXPECT_TRUE(absl::IsDataLoss(st)) << st;
}

// FNV-1a of the encoded bytes of fixed inputs: the format must not change
// silently (stored chunks would decode differently).
TEST(RangeChunkTest, EncodingIsStable) {
  uint64_t h = 1469598103934665603ULL;
  auto series = testdata::GenerateHarness(1, 2, 480, 17);
  auto mix =
      testdata::GenerateShape(testdata::Shape::kGaugeDecimal, 3, 17, 480);
  series.insert(series.end(), mix.begin(), mix.end());
  std::vector<Sample> f = Regular(100);
  std::mt19937_64 rng(17);
  for (auto& x : f) x.v = FromBits(rng());
  series.push_back(f);
  size_t total = 0;
  for (const auto& s : series) {
    for (unsigned char c : EncodeRangeChunk(s)) {
      h = (h ^ c) * 1099511628211ULL;
      ++total;
    }
  }
  EXPECT_EQ(h, 18421732510071876371u) << "bytes " << total;
}

}  // namespace
}  // namespace vigil::tsdb::chunkenc
