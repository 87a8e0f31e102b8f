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

struct QueryResult {
  Value value;
  std::vector<std::string> warnings;
};

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_VALUE_H_
