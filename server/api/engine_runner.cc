#include "server/api/engine_runner.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"

namespace vigil::server::api {

EngineRunner::EngineRunner(promql::Engine* engine, int max_concurrency,
                           metrics::Registry* registry)
    : engine_(engine), max_concurrency_(std::max(1, max_concurrency)) {
  if (registry != nullptr) {
    auto* h = registry->NewHistogram("vigil_engine_query_duration_seconds",
                                     "Query evaluation time, by query type.",
                                     {"type"});
    instant_duration_ = h->WithLabels({"instant"});
    range_duration_ = h->WithLabels({"range"});
    queries_running_ =
        registry
            ->NewGauge("vigil_engine_queries",
                       "The current number of queries being executed.")
            ->WithLabels({});
    registry
        ->NewGauge("vigil_engine_queries_concurrent_max",
                   "The max number of concurrent queries.")
        ->WithLabels({})
        ->Set(max_concurrency_);
    queries_failed_ = registry
                          ->NewCounter("vigil_engine_query_failures_total",
                                       "Queries that ended with an error.")
                          ->WithLabels({});
  }
}

absl::StatusOr<promql::QueryResult> EngineRunner::Instant(
    absl::string_view query, int64_t time_ms, int64_t timeout_ms) {
  return Execute(
      [&](const promql::QueryContext& ctx) {
        return engine_->InstantQuery(query, time_ms, ctx);
      },
      timeout_ms, instant_duration_);
}

absl::StatusOr<promql::QueryResult> EngineRunner::Range(absl::string_view query,
                                                        int64_t start_ms,
                                                        int64_t end_ms,
                                                        int64_t step_ms,
                                                        int64_t timeout_ms) {
  return Execute(
      [&](const promql::QueryContext& ctx) {
        return engine_->RangeQuery(query, start_ms, end_ms, step_ms, ctx);
      },
      timeout_ms, range_duration_);
}

absl::StatusOr<promql::QueryResult> EngineRunner::Execute(
    const Run& run, int64_t timeout_ms, metrics::Histogram* duration) {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](EngineRunner* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
          return r->running_ < r->max_concurrency_;
        },
        this));
    ++running_;
  }
  if (queries_running_ != nullptr) queries_running_->Add(1);
  absl::Time start = absl::Now();

  // A request timeout shorter than the engine's own is enforced by a
  // watchdog that cancels the query; the engine's timeout covers the rest.
  std::atomic<bool> cancelled{false};
  std::atomic<bool> timed_out{false};
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  bool done = false;
  std::thread watchdog;
  int64_t engine_timeout_ms =
      absl::ToInt64Milliseconds(engine_->options().timeout);
  if (timeout_ms > 0 && timeout_ms < engine_timeout_ms) {
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lock(wd_mu);
      if (!wd_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                          [&] { return done; })) {
        timed_out.store(true);
        cancelled.store(true);
      }
    });
  }
  promql::QueryContext ctx;
  ctx.cancelled = &cancelled;
  absl::StatusOr<promql::QueryResult> result = run(ctx);
  if (watchdog.joinable()) {
    {
      std::lock_guard<std::mutex> lock(wd_mu);
      done = true;
    }
    wd_cv.notify_all();
    watchdog.join();
  }
  if (!result.ok() && timed_out.load() &&
      result.status().code() == absl::StatusCode::kCancelled) {
    result =
        absl::DeadlineExceededError("query timed out in expression evaluation");
  }

  if (duration != nullptr) {
    duration->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  if (queries_running_ != nullptr) queries_running_->Add(-1);
  if (!result.ok() && queries_failed_ != nullptr) queries_failed_->Inc();
  {
    absl::MutexLock lock(&mu_);
    --running_;
  }
  return result;
}

}  // namespace vigil::server::api
