// Runs PromQL test scripts in Prometheus's .test text format against a fresh
// in-memory TestStorage and a real Engine:
//
//   # comment
//   load 5m
//     http_requests{job="api"}  0+10x10  1 2 _ stale  -2+4x3  1x5  _x3
//   eval instant at 50m sum by (job) (http_requests)
//     {job="api"} 100
//   eval_ordered instant at 50m sort(http_requests)
//   eval_fail instant at 0m label_replace(x, "!", "", "", "")
//   eval range from 0m to 10m step 5m rate(http_requests[5m])
//     {job="api"} _ 0.03 0.03
//   clear
//
// `a+bxn` expands to n+1 values a, a+b, ...; `axn` repeats a n+1 times;
// `_` skips a slot, `_xn` skips n; `stale` writes a staleness marker.
// Sample i of a load block is at i*interval. Expected values compare with
// relative tolerance 1e-6 (NaN equals NaN). Every passing-form instant eval
// is re-run as a range query from t-1m to t+1m at 1m step and the point at t
// is compared too, as Prometheus's harness does. `eval range` (the syntax
// of newer Prometheus versions) checks a whole range query: expected series
// use the load value syntax, point k at start + k*step, `_` for no point.
#ifndef VIGIL_PROMQL_TESTING_SCRIPT_RUNNER_H_
#define VIGIL_PROMQL_TESTING_SCRIPT_RUNNER_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/labels.h"
#include "tsdb/querier.h"
#include "tsdb/sample.h"

namespace vigil::promql::testing {

struct ScriptResult {
  int passed = 0;
  int failed = 0;
  // One line per failure: "file:line: <what>".
  std::vector<std::string> failures;
};

// Where a script's `load` blocks go. The default is a TestStorage; tests
// can run the same scripts against the real tsdb::DB.
class ScriptStorage {
 public:
  virtual ~ScriptStorage() = default;
  // Must stay the same object for the storage's lifetime (across Clear()).
  virtual tsdb::Queryable* queryable() = 0;
  // Adds one load block: series with samples in increasing time order.
  virtual absl::Status Load(
      const std::vector<std::pair<tsdb::Labels, std::vector<tsdb::Sample>>>&
          series) = 0;
  // Drops all data (`clear`).
  virtual absl::Status Clear() = 0;
};
using ScriptStorageFactory = std::function<std::unique_ptr<ScriptStorage>()>;

// Runs one script. `name` prefixes failure lines. Never fails as a whole:
// malformed lines count as failed evals with their line number. A null
// factory uses a TestStorage.
ScriptResult RunScript(absl::string_view name, absl::string_view text,
                       const ScriptStorageFactory& storage = nullptr);

// Reads and runs a file. Fails only when the file cannot be read.
absl::StatusOr<ScriptResult> RunScriptFile(
    const std::string& path, const ScriptStorageFactory& storage = nullptr);

// `vigil test promql FILE...`: runs every file, prints one line per failing
// eval and a final "N passed, M failed" to `out`. Returns 0 when all passed,
// 1 otherwise (including unreadable files).
int RunPromqlTestCommand(const std::vector<std::string>& files,
                         std::ostream& out);
int RunPromqlTestCommand(const std::vector<std::string>& files);

}  // namespace vigil::promql::testing

#endif  // VIGIL_PROMQL_TESTING_SCRIPT_RUNNER_H_
