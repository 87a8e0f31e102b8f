// Typed PromQL results: what Engine::InstantQuery/RangeQuery return, and
// what the HTTP API serialises.
#ifndef VIGIL_PROMQL_VALUE_H_
#define VIGIL_PROMQL_VALUE_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "tsdb/labels.h"
#include "tsdb/sample.h"

namespace vigil::promql {

struct Scalar {
  int64_t t = 0;
  double v = 0;
};

struct String {
  int64_t t = 0;
  std::string v;
};

// One element of an instant vector.
struct VectorSample {
  tsdb::Labels metric;
  int64_t t = 0;
  double v = 0;
};
using Vector = std::vector<VectorSample>;

// One series of a range result (range query output or range-vector literal).
struct MatrixSeries {
  tsdb::Labels metric;
  std::vector<tsdb::Sample> points;  // increasing t
};
using Matrix = std::vector<MatrixSeries>;

using Value = std::variant<Scalar, Vector, Matrix, String>;

// "scalar", "vector", "matrix", "string" as in the HTTP API's resultType.
const char* ResultTypeName(const Value& v);

// What a query cost; returned with every result (Prometheus's stats=all
// subset that matters for capacity planning).
struct QueryStats {
  // Most samples (points) held in memory at once, counted like
  // EngineOptions::max_samples.
  int64_t peak_samples = 0;
  // Samples read from storage (decoded), over all selectors.
  int64_t total_samples = 0;
  // Series read from storage, over all selectors.
  int64_t series_selected = 0;
};

struct QueryResult {
  Value value;
  // Non-fatal problems (the HTTP API's "warnings"); the value is still valid.
  std::vector<std::string> warnings;
  QueryStats stats;
};

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_VALUE_H_
