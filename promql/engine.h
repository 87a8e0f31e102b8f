// The PromQL engine: evaluates queries with Prometheus 2.x semantics against
// any tsdb::Queryable. Thread-safe: one Engine serves many concurrent
// queries; parsed expressions are cached for rules that run every interval.
//
//   Engine engine(EngineOptions{}, &db);
//   absl::StatusOr<QueryResult> r = engine.InstantQuery(
//       "sum(rate(http_requests_total[5m])) by (job)", now_ms);
//
// Errors use canonical codes the HTTP API maps to Prometheus's errorType:
//   InvalidArgument  -> bad_data   (parse and type errors, bad parameters)
//   DeadlineExceeded -> timeout    (EngineOptions::timeout)
//   Cancelled        -> canceled   (QueryContext::cancelled)
//   ResourceExhausted-> execution  (max_samples exceeded)
//   anything else    -> execution / internal
#ifndef VIGIL_PROMQL_ENGINE_H_
#define VIGIL_PROMQL_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "promql/value.h"
#include "tsdb/querier.h"

namespace vigil::promql {

struct EngineOptions {
  absl::Duration lookback_delta = absl::Minutes(5);
  absl::Duration timeout = absl::Minutes(2);
  // Most samples one query may hold in memory at once.
  int64_t max_samples = 50'000'000;
  // Subquery step when the query gives none.
  absl::Duration default_evaluation_interval = absl::Minutes(1);
  // Range queries may return at most this many points per series.
  int64_t max_points_per_series = 11'000;
  // Entries in the parsed-expression cache.
  int parse_cache_size = 1024;
};

struct QueryContext {
  // When non-null and set to true, the query stops with Cancelled.
  const std::atomic<bool>* cancelled = nullptr;
};

class Engine {
 public:
  // `storage` must outlive the engine.
  Engine(EngineOptions options, tsdb::Queryable* storage);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Evaluates `query` at `time_ms`.
  absl::StatusOr<QueryResult> InstantQuery(absl::string_view query,
                                           int64_t time_ms,
                                           const QueryContext& ctx = {});

  // Evaluates `query` at start, start+step, ... <= end. The result is a
  // Matrix (or a Scalar/String turned into a one-series Matrix, as
  // Prometheus does). step must be > 0 and (end-start)/step + 1 must not
  // exceed max_points_per_series.
  absl::StatusOr<QueryResult> RangeQuery(absl::string_view query,
                                         int64_t start_ms, int64_t end_ms,
                                         int64_t step_ms,
                                         const QueryContext& ctx = {});

  const EngineOptions& options() const { return options_; }

 private:
  class Impl;
  EngineOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_ENGINE_H_
