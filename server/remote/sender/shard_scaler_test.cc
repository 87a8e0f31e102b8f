#include "server/remote/sender/shard_scaler.h"

#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace vigil::server::remote::sender {
namespace {

constexpr absl::Duration kInterval = absl::Seconds(10);

TEST(EwmaRateTest, FirstIntervalWithEventsSetsTheRateThenSmooths) {
  EwmaRate r(0.2, kInterval);
  r.Tick();  // nothing yet: stays uninitialised
  EXPECT_EQ(r.rate(), 0);
  r.Add(1000);
  r.Tick();
  EXPECT_DOUBLE_EQ(r.rate(), 100);
  r.Add(2000);
  r.Tick();  // 100 + 0.2 * (200 - 100)
  EXPECT_DOUBLE_EQ(r.rate(), 120);
  r.Tick();  // an empty interval pulls it down: 120 + 0.2 * (0 - 120)
  EXPECT_DOUBLE_EQ(r.rate(), 96);
}

// Drives a scaler with a fake clock: each Step is one update interval in
// which `in` samples arrived and `out` were sent in sends that took `busy`
// in total, the last one finishing `since_send` before the update.
class ScalerTest : public ::testing::Test {
 protected:
  ShardScaler::Decision Step(ShardScaler* s, int current, int64_t in,
                             int64_t out, absl::Duration busy,
                             double delay_seconds = 0,
                             absl::Duration since_send = absl::Seconds(1),
                             int64_t dropped = 0) {
    now_ += kInterval;
    s->SamplesIn(in);
    s->SamplesDropped(dropped);
    if (out > 0) s->BatchDone(out, busy, now_ - since_send);
    return s->Update(current, 1000 + delay_seconds, 1000, now_);
  }

  static ShardScaler::Options Opts(int min_shards, int max_shards) {
    ShardScaler::Options o;
    o.min_shards = min_shards;
    o.max_shards = max_shards;
    o.batch_send_deadline = absl::Seconds(5);
    o.update_interval = kInterval;
    return o;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

TEST_F(ScalerTest, NothingSentKeepsTheCount) {
  ShardScaler s(Opts(1, 10));
  ShardScaler::Decision d = Step(&s, 3, 100000, 0, absl::ZeroDuration());
  EXPECT_FALSE(d.reshard);
  EXPECT_EQ(d.shards, 3);
  EXPECT_EQ(d.desired, 0);
}

TEST_F(ScalerTest, ScalesUpToTimePerSampleTimesIncomingRate) {
  ShardScaler s(Opts(1, 200));
  // 1000 samples/s in; 1000 sent in 10 s of sending: 10 ms per sample,
  // so 10 shards keep up.
  ShardScaler::Decision d = Step(&s, 1, 10000, 1000, absl::Seconds(10));
  EXPECT_DOUBLE_EQ(d.desired, 10);
  EXPECT_TRUE(d.reshard);
  EXPECT_EQ(d.shards, 10);
}

TEST_F(ScalerTest, WithinThirtyPercentNothingChanges) {
  for (auto [current, busy_ms, want] :
       std::vector<std::tuple<int, int, int>>{{10, 12'000, 10},
                                              {10, 12'900, 10},
                                              {10, 13'500, 14},
                                              {10, 7'100, 10},
                                              {10, 6'500, 7}}) {
    ShardScaler s(Opts(1, 200));
    ShardScaler::Decision d =
        Step(&s, current, 10000, 1000, absl::Milliseconds(busy_ms));
    EXPECT_EQ(d.shards, want) << "busy " << busy_ms << " ms";
    EXPECT_EQ(d.reshard, want != current) << "busy " << busy_ms << " ms";
  }
}

TEST_F(ScalerTest, ClampedToMinAndMaxShards) {
  ShardScaler up(Opts(1, 4));
  EXPECT_EQ(Step(&up, 1, 10000, 1000, absl::Seconds(10)).shards, 4);
  ShardScaler down(Opts(2, 8));
  // 0.1 shards would do.
  ShardScaler::Decision d = Step(&down, 8, 10000, 10000, absl::Seconds(1));
  EXPECT_DOUBLE_EQ(d.desired, 0.1);
  EXPECT_EQ(d.shards, 2);
  // Already at the bound: no reshard.
  ShardScaler at_max(Opts(1, 4));
  ShardScaler::Decision m = Step(&at_max, 4, 10000, 1000, absl::Seconds(10));
  EXPECT_FALSE(m.reshard);
  EXPECT_EQ(m.shards, 4);
  // min_shards above max_shards: max wins, as the fixed count did.
  ShardScaler odd(Opts(6, 3));
  EXPECT_EQ(Step(&odd, 1, 10000, 1000, absl::Seconds(10)).shards, 3);
}

TEST_F(ScalerTest, BacklogAddsFivePercentPerSecond) {
  ShardScaler s(Opts(1, 1000));
  // 100 samples/s in, 1 ms per sample, 200 s behind: the backlog is
  // 20000 samples, 1000/s of catch-up, so (100 + 1000) * 1 ms = 1.1.
  ShardScaler::Decision d =
      Step(&s, 4, 1000, 10000, absl::Seconds(10), /*delay_seconds=*/200);
  EXPECT_DOUBLE_EQ(d.desired, 1.1);
  // ... but more than 10 s behind it does not scale down.
  EXPECT_FALSE(d.reshard);
  EXPECT_EQ(d.shards, 4);
}

TEST_F(ScalerTest, ScalesDownWhenCaughtUp) {
  ShardScaler s(Opts(1, 1000));
  ShardScaler::Decision d =
      Step(&s, 4, 1000, 10000, absl::Seconds(10), /*delay_seconds=*/9);
  // (100 + 0.05 * 9 * 100) * 1 ms = 0.145
  EXPECT_NEAR(d.desired, 0.145, 1e-12);
  EXPECT_TRUE(d.reshard);
  EXPECT_EQ(d.shards, 1);
}

TEST_F(ScalerTest, DroppedSamplesAreNotWorkToSend) {
  ShardScaler s(Opts(1, 200));
  // Half of what comes in is relabeled away: 500/s to send at 10 ms.
  ShardScaler::Decision d =
      Step(&s, 1, 10000, 1000, absl::Seconds(10), 0, absl::Seconds(1),
           /*dropped=*/1000);
  EXPECT_DOUBLE_EQ(d.desired, 5);
  EXPECT_EQ(d.shards, 5);
}

TEST_F(ScalerTest, NoReshardWhileTheRemoteIsNotAnswering) {
  ShardScaler s(Opts(1, 200));
  // The last send finished 11 s ago, beyond 2 x batch_send_deadline.
  ShardScaler::Decision d =
      Step(&s, 1, 10000, 1000, absl::Seconds(10), 0, absl::Seconds(11));
  EXPECT_DOUBLE_EQ(d.desired, 10);
  EXPECT_TRUE(d.skipped_not_sending);
  EXPECT_FALSE(d.reshard);
  EXPECT_EQ(d.shards, 1);
  // Sends resume: the EWMA still wants more shards.
  d = Step(&s, 1, 10000, 1000, absl::Seconds(10));
  EXPECT_TRUE(d.reshard);
  EXPECT_EQ(d.shards, 10);
}

TEST_F(ScalerTest, RatesAreSmoothedAcrossIntervals) {
  ShardScaler s(Opts(1, 200));
  ASSERT_EQ(Step(&s, 1, 10000, 1000, absl::Seconds(10)).shards, 10);
  // A burst interval: in jumps to 5000/s; the EWMA moves a fifth of the
  // way (in 1800/s; out and busy unchanged): desired 18, beyond 13.
  ShardScaler::Decision d = Step(&s, 10, 50000, 1000, absl::Seconds(10));
  EXPECT_DOUBLE_EQ(d.desired, 18);
  EXPECT_EQ(d.shards, 18);
  // A quiet interval with sends still at 10 ms/sample: in decays to
  // 1440/s -> 14.4, within 30 % of 18: unchanged.
  d = Step(&s, 18, 0, 1000, absl::Seconds(10));
  EXPECT_NEAR(d.desired, 14.4, 1e-9);
  EXPECT_FALSE(d.reshard);
}

}  // namespace
}  // namespace vigil::server::remote::sender
