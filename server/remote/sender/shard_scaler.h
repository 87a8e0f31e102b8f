// How many shards a remote_write destination should run, recomputed every
// update interval (10 s) the way Prometheus's queue manager does it
// (storage/remote/queue_manager.go, calculateDesiredShards and
// shouldReshard), so `min_shards`/`max_shards` mean the same thing here:
//
//   in       = EWMA rate of samples committed for the destination
//   out      = EWMA rate of samples whose send finished (sent or rejected)
//   dropped  = EWMA rate of samples dropped by write_relabel_configs
//   kept     = out / (out + dropped)
//   busy     = EWMA rate of time spent in sends, retries included (s/s)
//   delay    = newest committed timestamp - newest sent timestamp (s)
//   backlog  = delay * in * kept                    (samples behind)
//   desired  = busy / out * (in * kept + 0.05 * backlog)
//
// i.e. the shards needed to send what comes in at the observed time per
// sample, plus 5 % of the backlog per second to catch up. The count
// changes only when
//   - `out` is positive (something was sent this interval),
//   - desired is outside [0.7, 1.3] x the current count (damping),
//   - not scaling down while more than 10 s behind,
//   - a send finished within the last 2 x batch_send_deadline (a failing,
//     backing-off remote is not helped by more shards),
// and the new count is ceil(desired) clamped to [min_shards, max_shards].
// The EWMA weight is 0.2 per interval; the first interval with events
// initialises a rate.
//
// Time is passed in, so the calculation is testable with a fake clock.
//
// Thread-safety: the counters (SamplesIn, SamplesDropped, BatchDone) from
// any thread; Update() from one thread at a time.
#ifndef VIGIL_SERVER_REMOTE_SENDER_SHARD_SCALER_H_
#define VIGIL_SERVER_REMOTE_SENDER_SHARD_SCALER_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace vigil::server::remote::sender {

// An exponentially weighted moving average of events per second, ticked
// once per interval.
class EwmaRate {
 public:
  EwmaRate(double alpha, absl::Duration interval);

  void Add(int64_t n) { new_events_.fetch_add(n, std::memory_order_relaxed); }
  // Folds the events since the last Tick into the rate.
  void Tick();
  double rate() const { return rate_; }

 private:
  const double alpha_;
  const double interval_seconds_;
  std::atomic<int64_t> new_events_{0};
  double rate_ = 0;
  bool init_ = false;
};

class ShardScaler {
 public:
  struct Options {
    int min_shards = 1;
    int max_shards = 200;
    absl::Duration batch_send_deadline = absl::Seconds(5);
    absl::Duration update_interval = absl::Seconds(10);
  };

  struct Decision {
    // The count to run: the current one unless a reshard is due.
    int shards = 0;
    bool reshard = false;
    // The unrounded estimate (for ..._shards_desired); unchanged from the
    // previous Update when nothing was sent this interval.
    double desired = 0;
    // The estimate asked for a different count but the last finished send
    // is too old (the remote is failing).
    bool skipped_not_sending = false;
  };

  explicit ShardScaler(Options options);

  void SamplesIn(int64_t n) { in_.Add(n); }
  void SamplesDropped(int64_t n) { dropped_.Add(n); }
  // A send of `samples` finished (sent, or rejected for good) after
  // `took`, retries and backoff included, at `now`.
  void BatchDone(int64_t samples, absl::Duration took, absl::Time now);

  // Once per update interval. `current` is the running shard count;
  // timestamps in seconds.
  Decision Update(int current, double highest_received_seconds,
                  double highest_sent_seconds, absl::Time now);

 private:
  const Options options_;
  EwmaRate in_;
  EwmaRate out_;
  EwmaRate dropped_;
  EwmaRate out_nanos_;  // time spent sending
  std::atomic<int64_t> last_send_unix_nanos_{0};
  double desired_ = 0;
};

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_SHARD_SCALER_H_
