// The time source of the rule engine and the notification dispatcher. Tests
// inject a FakeClock so that `for`, group_wait, repeat_interval and friends
// run in simulated time.
#ifndef VIGIL_ALERTING_CLOCK_H_
#define VIGIL_ALERTING_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace vigil::alerting {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
};

class RealClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // A process-wide instance; never destroyed.
  static Clock* Get() {
    static RealClock* const kClock = new RealClock();
    return kClock;
  }
};

// Thread-safe manual clock.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 0) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void SetMs(int64_t now_ms) { now_ms_.store(now_ms); }
  void AdvanceMs(int64_t delta_ms) { now_ms_.fetch_add(delta_ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_CLOCK_H_
