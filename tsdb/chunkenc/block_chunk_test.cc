#include "tsdb/chunkenc/block_chunk.h"

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
  BlockChunkEncoder enc;
  for (const Sample& s : samples) enc.Append(s.t, s.v);
  return std::string(enc.Bytes());
}

void ExpectDecodesTo(absl::string_view bytes, const std::vector<Sample>& want) {
  BlockChunkDecoder dec(bytes);
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
  // DecodeRange over everything agrees with Next().
  BlockChunkDecoder dec2(bytes);
  std::vector<Sample> got;
  ASSERT_TRUE(dec2.DecodeRange(std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max(), &got)
                  .ok());
  ASSERT_EQ(got.size(), want.size());
  for (size_t j = 0; j < got.size(); ++j) {
    ASSERT_EQ(got[j].t, want[j].t) << j;
    ASSERT_EQ(Bits(got[j].v), Bits(want[j].v)) << j;
  }
}

// Every prefix the encoder exposes decodes to the samples appended so far
// (the head reads the chunk it is still writing).
void ExpectEveryPrefix(const std::vector<Sample>& samples) {
  BlockChunkEncoder enc;
  std::vector<Sample> so_far;
  for (const Sample& s : samples) {
    enc.Append(s.t, s.v);
    so_far.push_back(s);
    ASSERT_EQ(enc.num_samples(), static_cast<int>(so_far.size()));
    ASSERT_EQ(enc.size_bytes(), enc.Bytes().size());
    ASSERT_EQ(enc.min_time(), so_far.front().t);
    ASSERT_EQ(enc.max_time(), so_far.back().t);
    ASSERT_NO_FATAL_FAILURE(ExpectDecodesTo(enc.Bytes(), so_far))
        << "prefix of " << so_far.size();
  }
}

std::vector<Sample> Regular(int n, double (*f)(int)) {
  std::vector<Sample> s;
  for (int i = 0; i < n; ++i) s.push_back({1700000000000 + i * 15000, f(i)});
  return s;
}

TEST(BlockChunkTest, EmptyChunk) {
  BlockChunkEncoder enc;
  BlockChunkDecoder dec(enc.Bytes());
  EXPECT_EQ(dec.num_samples(), 0);
  EXPECT_FALSE(dec.Next());
  EXPECT_TRUE(dec.status().ok());
}

TEST(BlockChunkTest, EveryPrefixOfSimpleSeries) {
  ExpectEveryPrefix(Regular(70, [](int i) { return 1.0 * i; }));
  ExpectEveryPrefix(Regular(70, [](int) { return 42.0; }));
  ExpectEveryPrefix(Regular(70, [](int i) { return i * 0.01 + 3.5; }));
  ExpectEveryPrefix(Regular(70, [](int i) { return std::sin(i); }));
  ExpectEveryPrefix(
      Regular(70, [](int i) { return i % 7 == 0 ? 1e300 : 0.5; }));
}

TEST(BlockChunkTest, SpecialFloatsRoundTripBitExactly) {
  const double kStale = FromBits(0x7ff0000000000002ULL);
  const std::vector<double> specials = {
      0.0,
      -0.0,
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::quiet_NaN(),
      FromBits(0x7ff8dead0000beefULL),
      FromBits(0xfff0000000000001ULL),
      kStale,
      std::numeric_limits<double>::denorm_min(),
      -std::numeric_limits<double>::denorm_min(),
      std::numeric_limits<double>::min(),
      std::numeric_limits<double>::max(),
      -std::numeric_limits<double>::max(),
      1e22,
      1e23,
      9.2e18,
      -9.3e18,
      0.1,
      123456789.123,
      1.5,
  };
  std::vector<Sample> s;
  int64_t t = 1000;
  // Each special, mixed into decimal runs so mode switches happen inside
  // and between blocks.
  for (int rep = 0; rep < 3; ++rep) {
    for (double v : specials) {
      s.push_back({t += 15000, v});
      s.push_back({t += 15000, 10.25 + rep});
    }
  }
  ExpectEveryPrefix(s);
}

TEST(BlockChunkTest, ExtremeTimestamps) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  ExpectEveryPrefix({{kMin, 1},
                     {kMin + 1, 2},
                     {-1, 3},
                     {0, 4},
                     {1, 5},
                     {kMax - 1, 6},
                     {kMax, 7}});
  ExpectEveryPrefix({{kMin, 1}, {kMax, 2}});
  ExpectEveryPrefix({{-5, 1}});
  std::vector<Sample> s;
  for (int i = 0; i < 50; ++i) s.push_back({-1000000 + i * 7, 1.0 * i});
  ExpectEveryPrefix(s);
}

TEST(BlockChunkTest, JitterGapsAndIntervalChanges) {
  std::vector<Sample> s;
  int64_t t = 1700000000000;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    int64_t step = 15000;
    if (i % 13 == 5) step += 17;              // late scrape
    if (i % 29 == 11) step -= 9;              // early
    if (i == 100) step = 3600000;             // gap
    if (i >= 200) step = 1000 + (rng() % 3);  // faster, irregular
    t += step;
    s.push_back({t, static_cast<double>(i * 3)});
  }
  ExpectEveryPrefix(s);
}

TEST(BlockChunkTest, GeneratedShapesRoundTrip) {
  for (int shape = 0; shape <= static_cast<int>(testdata::Shape::kHistogram);
       ++shape) {
    const auto series = testdata::GenerateShape(
        static_cast<testdata::Shape>(shape), 14, 3, 600);
    for (const auto& s : series) {
      ASSERT_NO_FATAL_FAILURE(ExpectDecodesTo(Encode(s), s))
          << testdata::ShapeName(static_cast<testdata::Shape>(shape));
    }
    ASSERT_NO_FATAL_FAILURE(
        ExpectEveryPrefix({series[0].begin(), series[0].begin() + 130}));
  }
}

TEST(BlockChunkTest, RandomSequencesRoundTrip) {
  std::mt19937_64 rng(12345);
  for (int iter = 0; iter < 300; ++iter) {
    const int n = 1 + static_cast<int>(rng() % 100);
    std::vector<Sample> s;
    int64_t t = static_cast<int64_t>(rng());
    const int style = static_cast<int>(rng() % 5);
    double x = 0;
    for (int i = 0; i < n; ++i) {
      const uint64_t step =
          1 + (rng() % (iter % 3 == 0 ? 3 : uint64_t{1} << (rng() % 40)));
      // Wrapping arithmetic: t may be negative.
      if (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) -
              static_cast<uint64_t>(t) <
          step) {
        break;
      }
      t += static_cast<int64_t>(step);
      switch (style) {
        case 0:  // random bits: every kind of float
          x = FromBits(rng());
          break;
        case 1:  // decimals with random scales
          x = static_cast<double>(static_cast<int64_t>(rng() % 100000) -
                                  50000) /
              std::pow(10.0, static_cast<double>(rng() % 6));
          break;
        case 2:  // counter with resets
          x = (rng() % 50 == 0) ? 0 : x + static_cast<double>(rng() % 1000);
          break;
        case 3:  // huge integers near the decimal limit
          x = static_cast<double>(static_cast<int64_t>(rng() >> 1)) *
              ((rng() & 1) ? 1 : -1);
          break;
        default:  // repeated values with rare changes
          if (rng() % 10 == 0) x = FromBits(rng() & 0xfff0ffffffffffffULL);
          break;
      }
      s.push_back({t, x});
    }
    ASSERT_NO_FATAL_FAILURE(ExpectDecodesTo(Encode(s), s)) << "iter " << iter;
    if (iter % 25 == 0) {
      ASSERT_NO_FATAL_FAILURE(ExpectEveryPrefix(s));
    }
  }
}

TEST(BlockChunkTest, HeaderWidensPast32767Samples) {
  std::vector<Sample> s;
  for (int i = 0; i < 40000; ++i) {
    s.push_back({int64_t{i} * 15000 + (i % 17 == 3 ? 5 : 0), i * 0.5});
  }
  ExpectDecodesTo(Encode(s), s);
}

TEST(BlockChunkTest, SeekAndDecodeRange) {
  auto s = Regular(100, [](int i) { return i * 1.5; });
  const std::string b = Encode(s);
  BlockChunkDecoder dec(b);
  ASSERT_TRUE(dec.Seek(s[37].t - 1));
  EXPECT_EQ(dec.At().t, s[37].t);
  ASSERT_TRUE(dec.Seek(s[37].t));  // no move when already there
  EXPECT_EQ(dec.At().t, s[37].t);
  ASSERT_TRUE(dec.Next());
  EXPECT_EQ(dec.At().t, s[38].t);
  std::vector<Sample> out;
  ASSERT_TRUE(dec.DecodeRange(s[40].t, s[60].t, &out).ok());
  ASSERT_EQ(out.size(), 21u);
  EXPECT_EQ(out.front().t, s[40].t);
  EXPECT_EQ(out.back().t, s[60].t);
  BlockChunkDecoder dec2(b);
  EXPECT_FALSE(dec2.Seek(s.back().t + 1));
  EXPECT_TRUE(dec2.status().ok());
}

// Every truncation ends in DataLoss (the header still declares all
// samples), and random corruption never reads out of bounds (run under
// --config=asan) and ends in OK or DataLoss.
TEST(BlockChunkTest, TruncatedAndCorruptInput) {
  std::vector<Sample> s =
      testdata::GenerateShape(testdata::Shape::kHistogram, 1, 5, 120)[0];
  s[50].v = std::numeric_limits<double>::quiet_NaN();
  const std::string b = Encode(s);
  for (size_t len = 0; len < b.size(); ++len) {
    // Own the bytes so ASan sees reads past the truncated end.
    std::vector<char> copy(b.begin(), b.begin() + static_cast<long>(len));
    BlockChunkDecoder dec(absl::string_view(copy.data(), copy.size()));
    std::vector<Sample> out;
    const absl::Status st =
        dec.DecodeRange(std::numeric_limits<int64_t>::min(),
                        std::numeric_limits<int64_t>::max(), &out);
    if (len + 1 == b.size() && st.ok()) {
      // The last byte may hold only padding bits of the final block.
      continue;
    }
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << "len " << len;
  }
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<char> c(b.begin(), b.end());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      c[rng() % c.size()] ^= static_cast<char>(1 << (rng() % 8));
    }
    if (iter % 2 == 0) c.resize(rng() % c.size());
    BlockChunkDecoder dec(absl::string_view(c.data(), c.size()));
    if (iter % 3 == 0) {
      int n = 0;
      while (dec.Next()) ++n;
      EXPECT_LE(n, dec.num_samples());
    } else {
      std::vector<Sample> out;
      const absl::Status st =
          dec.DecodeRange(std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max(), &out);
      EXPECT_TRUE(st.ok() || st.code() == absl::StatusCode::kDataLoss) << st;
      for (size_t j = 1; j < out.size(); ++j) {
        ASSERT_LT(out[j - 1].t, out[j].t) << "iter " << iter;
      }
    }
    EXPECT_TRUE(dec.status().ok() ||
                dec.status().code() == absl::StatusCode::kDataLoss);
  }
  // Random bytes, including huge declared counts.
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<char> c(rng() % 64);
    for (char& x : c) x = static_cast<char>(rng());
    BlockChunkDecoder dec(absl::string_view(c.data(), c.size()));
    int n = 0;
    while (dec.Next() && n < 100000) ++n;
  }
}

// Size on the realistic mix at the chunk length the head writes: a guard
// against regressions of the encoder's parameter choice.
TEST(BlockChunkTest, SizeOnRealisticMix) {
  size_t bytes = 0, samples = 0;
  for (const auto& e : testdata::DefaultMix()) {
    for (const auto& s : testdata::GenerateShape(e.shape, e.series, 11, 1200)) {
      for (size_t off = 0; off < s.size(); off += 120) {
        const size_t end = std::min(s.size(), off + 120);
        bytes += Encode({s.begin() + static_cast<long>(off),
                         s.begin() + static_cast<long>(end)})
                     .size();
        samples += end - off;
      }
    }
  }
  const double per_sample =
      static_cast<double>(bytes) / static_cast<double>(samples);
  RecordProperty("bytes_per_sample", std::to_string(per_sample));
  EXPECT_LT(per_sample, 1.2);
}

}  // namespace
}  // namespace vigil::tsdb::chunkenc
