// `vigil serve` stopped and restarted (SIGTERM, SIGKILL) while an alert is
// pending: the alert still fires, once, on time after the restart. Restarted
// while it fires: the receiver is not told again (the built-in routing's
// notification log persists under the storage directory, as Alertmanager's
// nflog does).
//
// Prometheus 2.42 semantics: an alert whose `for` is shorter than
// --rules.alert.for-grace-period (10m) is not restored from
// ALERTS_FOR_STATE; it waits its whole `for` again after the restart.
// Longer `for`s are restored: the time pending before the restart counts.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/e2e/alerting_fixture.h"

namespace vigil::e2e {
namespace {

constexpr int64_t kSlackMs = 1500;
constexpr int64_t kForMs = 4000;
constexpr int64_t kEvalIntervalMs = 1000;
constexpr int64_t kGroupWaitMs = 1000;

class RestartE2ETest : public AlertingE2ETest {
 protected:
  std::pair<std::string, int64_t> WaitAlert() {
    std::pair<std::string, int64_t> s;
    EXPECT_TRUE(WaitUntil(
        [&] {
          s = AlertState();
          return !s.first.empty();
        },
        absl::Seconds(10), absl::Milliseconds(50)));
    return s;
  }

  void RestartWhilePending(int sig) {
    WritePrometheusConfig(kForMs / 1000);
    SetValue(5);
    StartExporter();
    StartReceiver();
    StartVigil();
    ASSERT_TRUE(WaitScraped(5));
    SetValue(150);
    std::pair<std::string, int64_t> before = WaitAlert();
    ASSERT_EQ(before.first, "pending");
    // Half-way through `for`.
    absl::SleepFor(absl::Milliseconds(
        std::max<int64_t>(0, before.second + kForMs / 2 - NowMs())));
    ASSERT_EQ(AlertState().first, "pending");
    const int64_t down = NowMs();
    EXPECT_EQ(StopVigil(sig), sig == SIGTERM ? 0 : 128 + sig);
    StartVigil();
    const int64_t up = NowMs();
    ASSERT_LT(up - down, 10000) << "restart took too long to mean anything";

    std::pair<std::string, int64_t> after = WaitAlert();
    ASSERT_EQ(after.first, "pending");
    EXPECT_GE(after.second, down);
    ASSERT_TRUE(WaitPayload("firing", absl::Seconds(20)));
    std::vector<int64_t> at;
    std::vector<nlohmann::ordered_json> firing = Payloads("firing", &at);
    ASSERT_EQ(firing.size(), 1u);
    EXPECT_EQ(firing[0]["alerts"][0]["labels"]["alertname"], kAlertName);
    EXPECT_EQ(firing[0]["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    EXPECT_GE(at[0], up);
    EXPECT_GE(at[0], after.second + kForMs);
    EXPECT_LE(at[0], after.second + kForMs + kEvalIntervalMs + kGroupWaitMs +
                         kSlackMs);
    // Still exactly one firing notification a group_interval later.
    absl::SleepFor(absl::Milliseconds(1500));
    EXPECT_EQ(Payloads("firing").size(), 1u);
    EXPECT_EQ(AlertState().first, "firing");
  }
};

TEST_F(RestartE2ETest, RestartWhileFiringDoesNotNotifyAgain) {
  WritePrometheusConfig(kForMs / 1000);
  SetValue(150);
  StartExporter();
  StartReceiver();
  StartVigil();
  ASSERT_TRUE(WaitPayload("firing", absl::Seconds(20)));
  ASSERT_EQ(Payloads("firing").size(), 1u);
  EXPECT_EQ(StopVigil(SIGTERM), 0);
  StartVigil();
  // Pending again for `for` (shorter than the grace period), then firing.
  ASSERT_TRUE(WaitUntil([&] { return AlertState().first == "firing"; },
                        absl::Seconds(20), absl::Milliseconds(50)));
  // Several group_intervals (1 s) after it fires again: still one firing
  // notification, since repeat_interval (1 h) has not passed.
  absl::SleepFor(absl::Milliseconds(kGroupWaitMs + 3 * kEvalIntervalMs));
  EXPECT_EQ(Payloads("firing").size(), 1u);
  EXPECT_EQ(Payloads("resolved").size(), 0u);
}

// With --rules.alert.for-grace-period=1s a `for: 6s` alert is restored from
// ALERTS_FOR_STATE: stopped 3 s into `for`, it keeps those 3 s (fails with
// the default 10m grace period, under which it starts over).
TEST_F(RestartE2ETest, ForStateIsRestoredBeyondTheGracePeriod) {
  constexpr int64_t kLongForMs = 6000;
  extra_vigil_flags_ = {"--rules.alert.for-grace-period=1s"};
  WritePrometheusConfig(kLongForMs / 1000);
  SetValue(5);
  StartExporter();
  StartReceiver();
  StartVigil();
  ASSERT_TRUE(WaitScraped(5));
  SetValue(150);
  std::pair<std::string, int64_t> before = WaitAlert();
  ASSERT_EQ(before.first, "pending");
  absl::SleepFor(absl::Milliseconds(
      std::max<int64_t>(0, before.second + kLongForMs / 2 - NowMs())));
  ASSERT_EQ(AlertState().first, "pending");
  const int64_t pending_before_stop = NowMs() - before.second;
  EXPECT_EQ(StopVigil(SIGTERM), 0);
  StartVigil();
  // As in Prometheus, `for` state is restored after the second evaluation
  // following the start (the first one may lack fresh data), so the alert
  // first shows up unrestored, active since the first evaluation. Restored,
  // it counts as active since its old start shifted by the outage, about
  // 3 s before the restore; unrestored it would stay at that first
  // evaluation. Both are judged from the moment the restarted server first
  // shows the alert (`seen`), so a slow start (sanitizers) does not matter.
  std::pair<std::string, int64_t> first = WaitAlert();
  const int64_t seen = NowMs();
  ASSERT_FALSE(first.first.empty());
  absl::SleepFor(absl::Milliseconds(3500));
  const int64_t later = NowMs();
  std::pair<std::string, int64_t> after = AlertState();
  ASSERT_FALSE(after.first.empty());
  EXPECT_LT(after.second, later - 4500)
      << "pending " << pending_before_stop << " ms before the stop; first "
      << "activeAt " << first.second - seen << " ms after seen, restored "
      << after.second - later << " ms after the second look";
  ASSERT_TRUE(WaitPayload("firing", absl::Seconds(20)));
  std::vector<int64_t> at;
  ASSERT_EQ(Payloads("firing", &at).size(), 1u);
  // (Restored, it fires about 3 s + group_wait after the restore; the
  // activeAt check above is what tells restored from not, without racing
  // the evaluation and flush ticks.)
  EXPECT_GE(at[0], seen + 1000);  // never sooner than the grace period
}

TEST_F(RestartE2ETest, SigtermWhilePendingFiresOnceAfterRestart) {
  RestartWhilePending(SIGTERM);
}

TEST_F(RestartE2ETest, SigkillWhilePendingFiresOnceAfterRestart) {
  RestartWhilePending(SIGKILL);
}

}  // namespace
}  // namespace vigil::e2e
