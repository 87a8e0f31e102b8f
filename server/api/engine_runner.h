// QueryRunner over the PromQL engine, adding what the HTTP API needs on top
// of promql::Engine: a per-request timeout shorter than the engine's
// (Prometheus's `timeout` parameter), a cap on concurrently executing
// queries (--query.max-concurrency; excess requests wait their turn), and
// query duration metrics.
//
//   promql::Engine engine(opts, &db);
//   EngineRunner runner(&engine, /*max_concurrency=*/20, &registry);
//   Api api(api_opts, &db, &runner, hooks);
#ifndef VIGIL_SERVER_API_ENGINE_RUNNER_H_
#define VIGIL_SERVER_API_ENGINE_RUNNER_H_

#include <cstdint>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "promql/engine.h"
#include "server/api/api.h"
#include "server/metrics/registry.h"

namespace vigil::server::api {

class EngineRunner : public QueryRunner {
 public:
  // `engine` must outlive the runner; `registry` may be null.
  EngineRunner(promql::Engine* engine, int max_concurrency,
               metrics::Registry* registry);

  absl::StatusOr<promql::QueryResult> Instant(absl::string_view query,
                                              int64_t time_ms,
                                              int64_t timeout_ms) override;
  absl::StatusOr<promql::QueryResult> Range(absl::string_view query,
                                            int64_t start_ms, int64_t end_ms,
                                            int64_t step_ms,
                                            int64_t timeout_ms) override;

 private:
  using Run = std::function<absl::StatusOr<promql::QueryResult>(
      const promql::QueryContext&)>;
  absl::StatusOr<promql::QueryResult> Execute(const Run& run,
                                              int64_t timeout_ms,
                                              metrics::Histogram* duration);

  promql::Engine* const engine_;
  const int max_concurrency_;
  absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  metrics::Histogram* instant_duration_ = nullptr;
  metrics::Histogram* range_duration_ = nullptr;
  metrics::Gauge* queries_running_ = nullptr;
  metrics::Counter* queries_failed_ = nullptr;
};

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_ENGINE_RUNNER_H_
