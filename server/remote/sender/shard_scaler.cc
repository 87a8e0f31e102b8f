#include "server/remote/sender/shard_scaler.h"

#include <algorithm>
#include <cmath>

namespace vigil::server::remote::sender {
namespace {

constexpr double kEwmaWeight = 0.2;
// Allow 30 % too many or too few shards before changing the count.
constexpr double kShardTolerance = 0.3;
// Fraction of the backlog to catch up on per second.
constexpr double kBacklogCatchup = 0.05;
// Do not scale down while further behind than this (seconds).
constexpr double kMaxDelayForScaleDown = 10.0;

}  // namespace

EwmaRate::EwmaRate(double alpha, absl::Duration interval)
    : alpha_(alpha), interval_seconds_(absl::ToDoubleSeconds(interval)) {}

void EwmaRate::Tick() {
  const int64_t n = new_events_.exchange(0, std::memory_order_relaxed);
  const double instant = static_cast<double>(n) / interval_seconds_;
  if (init_) {
    rate_ += alpha_ * (instant - rate_);
  } else if (n > 0) {
    init_ = true;
    rate_ = instant;
  }
}

ShardScaler::ShardScaler(Options options)
    : options_(options),
      in_(kEwmaWeight, options.update_interval),
      out_(kEwmaWeight, options.update_interval),
      dropped_(kEwmaWeight, options.update_interval),
      out_nanos_(kEwmaWeight, options.update_interval) {}

void ShardScaler::BatchDone(int64_t samples, absl::Duration took,
                            absl::Time now) {
  out_.Add(samples);
  out_nanos_.Add(absl::ToInt64Nanoseconds(took));
  last_send_unix_nanos_.store(absl::ToUnixNanos(now),
                              std::memory_order_relaxed);
}

ShardScaler::Decision ShardScaler::Update(int current,
                                          double highest_received_seconds,
                                          double highest_sent_seconds,
                                          absl::Time now) {
  in_.Tick();
  out_.Tick();
  dropped_.Tick();
  out_nanos_.Tick();
  Decision d;
  d.shards = current;
  d.desired = desired_;

  const double in = in_.rate();
  const double out = out_.rate();
  if (out <= 0) return d;
  const double kept = out / (dropped_.rate() + out);
  const double busy = out_nanos_.rate() / 1e9;
  const double delay = highest_received_seconds - highest_sent_seconds;
  const double backlog = delay * in * kept;
  const double time_per_sample = busy / out;
  desired_ = time_per_sample * (in * kept + kBacklogCatchup * backlog);
  d.desired = desired_;

  if (desired_ >= current * (1 - kShardTolerance) &&
      desired_ <= current * (1 + kShardTolerance)) {
    return d;
  }
  // Beyond INT_MAX the clamp below decides anyway.
  int n = desired_ >= options_.max_shards
              ? options_.max_shards
              : static_cast<int>(std::ceil(desired_));
  if (n < current && delay > kMaxDelayForScaleDown) return d;
  const int hi = std::max(1, options_.max_shards);
  n = std::clamp(n, std::min(std::max(1, options_.min_shards), hi), hi);
  if (n == current) return d;
  const absl::Time last_send = absl::FromUnixNanos(
      last_send_unix_nanos_.load(std::memory_order_relaxed));
  if (last_send < now - 2 * options_.batch_send_deadline) {
    d.skipped_not_sending = true;
    return d;
  }
  d.shards = n;
  d.reshard = true;
  return d;
}

}  // namespace vigil::server::remote::sender
