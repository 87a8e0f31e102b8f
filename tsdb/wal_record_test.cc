#include "tsdb/wal_record.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/base/casts.h"
#include "gtest/gtest.h"
#include "tsdb/sample.h"

namespace vigil::tsdb {
namespace {

struct Sample {
  uint64_t ref;
  int64_t t;
  uint64_t bits;  // compared bitwise: NaN payloads and -0.0 must survive
  bool operator==(const Sample& o) const {
    return ref == o.ref && t == o.t && bits == o.bits;
  }
};

std::string Encode(const std::vector<Sample>& samples) {
  std::string buf(WalSamplesEncoder::MaxBytes(samples.size()), '\xAA');
  WalSamplesEncoder enc(buf.data());
  for (const Sample& s : samples)
    enc.Add(s.ref, s.t, absl::bit_cast<double>(s.bits));
  buf.resize(enc.size());
  return buf;
}

absl::Status Decode(absl::string_view rec, std::vector<Sample>* out) {
  out->clear();
  return ForEachWalSample(rec, [&](uint64_t ref, int64_t t, double v) {
    out->push_back({ref, t, ValueBits(v)});
  });
}

// The first format, as DB::CommitSamples wrote it until 2026-11-22.
std::string EncodeV1(const std::vector<Sample>& samples) {
  std::string out(1, kWalSamplesV1);
  auto varint = [&](uint64_t x) {
    while (x >= 0x80) {
      out.push_back(static_cast<char>(x | 0x80));
      x >>= 7;
    }
    out.push_back(static_cast<char>(x));
  };
  for (const Sample& s : samples) {
    varint(s.ref);
    varint((static_cast<uint64_t>(s.t) << 1) ^
           static_cast<uint64_t>(s.t >> 63));
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<char>(s.bits >> (8 * i)));
  }
  return out;
}

TEST(WalRecordTest, ScrapeTakesOneHeaderByteAndTheValuesSignificantBytes) {
  // 1,000 series with consecutive refs, one timestamp, counter-like
  // values: after the first sample, 1 byte of header and no time.
  std::vector<Sample> scrape;
  size_t value_bytes = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    const double v = static_cast<double>(i * 37 % 5000);
    scrape.push_back({i + 1, int64_t{1763791200000}, ValueBits(v)});
    const uint64_t b = ValueBits(v);
    value_bytes += b == 0 ? 1 : 8 - __builtin_ctzll(b) / 8;
  }
  const std::string rec = Encode(scrape);
  // Type byte, the first sample's time (6 bytes), then 1 + value bytes.
  EXPECT_EQ(rec.size(), 1 + 6 + 1000 + value_bytes);
  EXPECT_LT(rec.size(), 5 * scrape.size());
  EXPECT_GT(EncodeV1(scrape).size(), 15 * scrape.size());
  std::vector<Sample> got;
  ASSERT_TRUE(Decode(rec, &got).ok());
  EXPECT_EQ(got, scrape);
}

TEST(WalRecordTest, RoundTripsUglySamplesInAnyOrder) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  std::vector<Sample> s = {
      {5, 1000, ValueBits(1.5)},
      {3, 1000, ValueBits(2.0)},   // ref goes down
      {3, 2000, ValueBits(-0.0)},  // repeat of a ref, sign bit only
      {3, 2000, ValueBits(0.0)},   // zero: one byte
      {0, kMin, ValueBits(std::numeric_limits<double>::quiet_NaN())},
      {uint64_t{1} << 40, kMax, 0x7ff0000000000002},  // stale-NaN-like
      {7, kMin, ValueBits(std::numeric_limits<double>::denorm_min())},
      {7, -1, ValueBits(0.1)},  // all 8 bytes significant
      {6, 0, ValueBits(-std::numeric_limits<double>::infinity())},
      {(uint64_t{1} << 32) - 1, 1, 0xFFFFFFFFFFFFFFFF},
      {0, 1, 0x0100000000000000},
      {0, 1, 0x0000000000000001},
  };
  std::vector<Sample> got;
  ASSERT_TRUE(Decode(Encode(s), &got).ok());
  EXPECT_EQ(got, s);
  ASSERT_TRUE(Decode(Encode({}), &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST(WalRecordTest, RandomBatchesRoundTrip) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::vector<Sample> s(rng() % 300);
    for (Sample& x : s) {
      x.ref = rng() % 4 == 0 ? rng() >> 32 : rng() % 1000;
      x.t = rng() % 3 == 0 ? static_cast<int64_t>(rng())
                           : static_cast<int64_t>(rng() % 100000);
      // Any bits, or bits with trailing zero bytes of every length.
      x.bits = rng() << (8 * (rng() % 8));
      if (rng() % 10 == 0) x.bits = 0;
    }
    std::vector<Sample> got;
    ASSERT_TRUE(Decode(Encode(s), &got).ok()) << round;
    ASSERT_EQ(got, s) << round;
  }
}

TEST(WalRecordTest, ReadsTheFirstFormat) {
  const std::vector<Sample> s = {{1, 1763791200000, ValueBits(42.0)},
                                 {2, 1763791200000, ValueBits(0.1)},
                                 {2, -5, ValueBits(-0.0)},
                                 {300000, 0, 0x7ff0000000000002}};
  std::vector<Sample> got;
  ASSERT_TRUE(Decode(EncodeV1(s), &got).ok());
  EXPECT_EQ(got, s);
  // A v1 record cut inside a sample.
  std::string cut = EncodeV1(s);
  cut.resize(cut.size() - 3);
  EXPECT_EQ(Decode(cut, &got).code(), absl::StatusCode::kDataLoss);
}

// A record cut at any byte either ends at a sample boundary (and yields
// exactly the samples before the cut) or is DataLoss after yielding only
// whole samples that were written: never a made-up sample.
TEST(WalRecordTest, TruncatedRecordsYieldOnlyWrittenSamplesOrDataLoss) {
  std::vector<Sample> s;
  for (uint64_t i = 0; i < 40; ++i) {
    s.push_back({i * 3, static_cast<int64_t>(i / 4) * 15000 + 1763791200000,
                 ValueBits(i % 5 == 0 ? 0.1 * static_cast<double>(i)
                                      : static_cast<double>(i))});
  }
  const std::string rec = Encode(s);
  size_t boundaries = 0;
  for (size_t len = 1; len < rec.size(); ++len) {
    std::vector<Sample> got;
    absl::Status st = Decode(absl::string_view(rec.data(), len), &got);
    ASSERT_LE(got.size(), s.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], s[i]) << len;
    if (st.ok()) {
      // Exactly the prefix that fits.
      std::vector<Sample> prefix(s.begin(), s.begin() + got.size());
      EXPECT_EQ(Encode(prefix).size(), len);
      ++boundaries;
    } else {
      EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    }
  }
  EXPECT_EQ(boundaries, s.size());  // the empty record and 39 more
}

TEST(WalRecordTest, UnknownTypeAndEmptyRecordAreDataLoss) {
  std::vector<Sample> got;
  EXPECT_EQ(Decode("", &got).code(), absl::StatusCode::kDataLoss);
  absl::Status st = Decode(absl::string_view("\x07\x01\x02", 3), &got);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("unknown WAL record type 7"), std::string::npos)
      << st;
  // A varint that never ends.
  st = Decode(
      absl::string_view("\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12),
      &got);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vigil::tsdb
