#include "server/remote/sender/batch.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"
#include "tsdb/labels.h"
#include "tsdb/sample.h"

namespace vigil::server::remote::sender {
namespace {

tsdb::Labels L(std::vector<tsdb::Label> p) {
  return *tsdb::Labels::FromPairs(std::move(p));
}

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

TEST(BatchTest, RoundTripKeepsSeriesOnceAndValuesBitExact) {
  BatchEncoder enc;
  tsdb::Labels a = L({{"__name__", "up"}, {"job", "a"}});
  tsdb::Labels b = L({{"__name__", "up"}, {"job", "b"}});
  enc.Add(7, a, 1000, 1);
  enc.Add(9, b, 1000, std::numeric_limits<double>::quiet_NaN());
  enc.Add(7, a, 2000, tsdb::StaleNaN());
  enc.Add(9, b, -5, -0.0);
  EXPECT_EQ(enc.num_samples(), 4);
  EXPECT_EQ(enc.max_timestamp(), 2000);
  std::string rec = enc.Finish();
  EXPECT_TRUE(enc.empty());

  absl::StatusOr<DecodedBatch> d = DecodeBatch(rec);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->series.size(), 2u);
  EXPECT_EQ(d->series[0], a);
  EXPECT_EQ(d->series[1], b);
  ASSERT_EQ(d->samples.size(), 4u);
  EXPECT_EQ(d->samples[0].series, 0u);
  EXPECT_EQ(d->samples[1].series, 1u);
  EXPECT_TRUE(std::isnan(d->samples[1].v));
  EXPECT_FALSE(tsdb::IsStaleNaN(d->samples[1].v));
  EXPECT_TRUE(tsdb::IsStaleNaN(d->samples[2].v));
  EXPECT_EQ(d->samples[3].t, -5);
  EXPECT_EQ(Bits(d->samples[3].v), Bits(-0.0));
}

TEST(BatchTest, RefZeroSamplesAreNotMerged) {
  BatchEncoder enc;
  enc.Add(0, L({{"a", "1"}}), 1, 1);
  enc.Add(0, L({{"a", "2"}}), 1, 2);
  absl::StatusOr<DecodedBatch> d = DecodeBatch(enc.Finish());
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->series.size(), 2u);
  EXPECT_EQ(d->series[1].Get("a"), "2");
}

TEST(BatchTest, EncoderIsReusableAfterFinish) {
  BatchEncoder enc;
  enc.Add(1, L({{"a", "1"}}), 1, 1);
  (void)enc.Finish();
  enc.Add(1, L({{"a", "x"}}), 2, 2);
  absl::StatusOr<DecodedBatch> d = DecodeBatch(enc.Finish());
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->series.size(), 1u);
  EXPECT_EQ(d->series[0].Get("a"), "x");
  EXPECT_EQ(d->samples.size(), 1u);
}

TEST(BatchTest, CorruptRecordsAreDataLossNotCrashes) {
  BatchEncoder enc;
  enc.Add(1, L({{"__name__", "m"}, {"x", "y"}}), 1, 1);
  enc.Add(2, L({{"__name__", "n"}}), 1, 1);
  std::string rec = enc.Finish();
  EXPECT_EQ(DecodeBatch("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBatch("\x02").status().code(), absl::StatusCode::kDataLoss);
  // Every truncation fails cleanly.
  for (size_t n = 0; n < rec.size(); ++n) {
    EXPECT_FALSE(DecodeBatch(rec.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeBatch(rec + "x").ok());
  // A huge sample count must not allocate.
  std::string huge = "\x01\x00\xff\xff\xff\xff\x0f";
  huge[1] = 0;
  EXPECT_FALSE(DecodeBatch(huge).ok());
}

}  // namespace
}  // namespace vigil::server::remote::sender
