// The PromQL evaluator behind Engine: walks an already parsed and
// type-checked expression over a set of evaluation steps and reads samples
// through tsdb::Queryable only.
//
// Evaluation is series-at-a-time: every node produces, for each output
// series, a dense array with one value per step (a reserved NaN bit pattern
// marks "no sample at this step"). Selectors read each series once and slide
// their lookback/range windows across all steps with two indices; binary
// operators and aggregations precompute matching signatures and group ids
// once per series instead of once per step. An instant query is a range
// evaluation with a single step.
//
// Engine is the public entry point; this header exists so the evaluator can
// be tested on hand-built syntax trees and reused by callers that keep parsed
// expressions (the rule engine).
#ifndef VIGIL_PROMQL_EVALUATOR_H_
#define VIGIL_PROMQL_EVALUATOR_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "promql/engine.h"
#include "promql/parser/ast.h"
#include "promql/value.h"
#include "tsdb/querier.h"

namespace vigil::promql {

struct EvalParams {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  // 0 for an instant query (start == end); > 0 for a range query.
  int64_t step_ms = 0;
  int64_t lookback_ms = 5 * 60 * 1000;
  int64_t max_samples = 50'000'000;
  int64_t default_evaluation_interval_ms = 60 * 1000;
  int64_t max_points_per_series = 11'000;
  absl::Time deadline = absl::InfiniteFuture();
  const std::atomic<bool>* cancelled = nullptr;
  // Worker threads for per-series work; 1 disables parallelism.
  int max_threads = 1;
  // sum/avg/count/group/min/max/stddev/stdvar directly over a range
  // function of a selector fold each group's series as they are computed
  // instead of materialising the function's whole output first. Same
  // results either way; off only to compare the two paths in tests.
  bool fuse_aggregations = true;
};

// Evaluates `expr`. An instant query returns the expression's own type
// (Vector, Scalar, String or, for a range selector or subquery, Matrix); a
// range query returns a Matrix sorted by labels. `stats` may be null.
// Invalid parameters are InvalidArgument; errors found while evaluating a
// valid expression (Prometheus's "execution" errors) are
// FailedPrecondition; DeadlineExceeded, Cancelled and ResourceExhausted
// report the query timeout, cancellation and --query.max-samples.
absl::StatusOr<QueryResult> Evaluate(const Expr& expr, const EvalParams& params,
                                     tsdb::Queryable* storage,
                                     QueryStats* stats);

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_EVALUATOR_H_
