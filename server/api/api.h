// The Prometheus-compatible HTTP API (v1) and the /-/ lifecycle endpoints.
// Responses match Prometheus 2.42 byte for byte where clients could care:
// the {"status","data","errorType","error","warnings"} envelope, result
// shapes, value/timestamp encoding, error types and HTTP status codes.
//
//   Api api(options, &db, &runner, hooks);
//   http::Router router(flags.route_prefix);
//   api.Register(&router);
//
// The API reads series through tsdb::Queryable and evaluates PromQL through
// QueryRunner; everything else it reports (targets, rules, config, tsdb
// status, lifecycle) comes from optional hooks, so it can be tested with
// fakes and wired to components as they land. A hook left empty yields
// Prometheus's "nothing here" answer (empty lists), never a fake success
// for an action.
//
// Thread-safety: handlers run concurrently; hooks must be thread-safe.
#ifndef VIGIL_SERVER_API_API_H_
#define VIGIL_SERVER_API_API_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "promql/value.h"
#include "server/api/json_writer.h"
#include "server/http/request.h"
#include "server/http/router.h"
#include "tsdb/matcher.h"
#include "tsdb/querier.h"

namespace vigil::alerting {
class AlertingService;
}  // namespace vigil::alerting

namespace vigil::server::api {

// Evaluates PromQL for the query endpoints. Error codes as in
// promql/engine.h (InvalidArgument -> bad_data, DeadlineExceeded -> timeout,
// Cancelled -> canceled, others -> execution).
class QueryRunner {
 public:
  virtual ~QueryRunner() = default;
  // `timeout_ms` <= 0 means the engine's default.
  virtual absl::StatusOr<promql::QueryResult> Instant(absl::string_view query,
                                                      int64_t time_ms,
                                                      int64_t timeout_ms) = 0;
  virtual absl::StatusOr<promql::QueryResult> Range(absl::string_view query,
                                                    int64_t start_ms,
                                                    int64_t end_ms,
                                                    int64_t step_ms,
                                                    int64_t timeout_ms) = 0;
};

struct BuildInfo {
  std::string version = "0.1.0";
  std::string revision = "unknown";
  std::string branch = "main";
  std::string build_user = "unknown";
  std::string build_date = "unknown";
  std::string compiler = "unknown";  // reported as goVersion
};

// /api/v1/status/tsdb, in Prometheus's units.
struct TsdbStatusData {
  struct Entry {
    std::string name;
    int64_t value = 0;
  };
  int64_t num_series = 0;
  int64_t num_label_pairs = 0;
  int64_t chunk_count = 0;
  int64_t min_time = 0;  // ms
  int64_t max_time = 0;  // ms
  std::vector<Entry> series_count_by_metric_name;
  std::vector<Entry> label_value_count_by_label_name;
  std::vector<Entry> memory_in_bytes_by_label_name;
  std::vector<Entry> series_count_by_label_value_pair;
};

struct ApiOptions {
  bool enable_lifecycle = false;
  bool enable_admin_api = false;
  BuildInfo build_info;
  // Every command-line flag and value, for /api/v1/status/flags.
  std::map<std::string, std::string> flags;
  std::string storage_retention = "15d";
  // /federate returns the newest sample no older than this.
  int64_t lookback_delta_ms = 5 * 60 * 1000;
  // Added to every /federate series that lacks them.
  std::vector<std::pair<std::string, std::string>> external_labels;
  // Clock (ms since epoch) for defaults such as an absent `time`.
  std::function<int64_t()> now_ms;
};

// Optional connections to the rest of the server.
struct ApiHooks {
  // /-/ready and the query endpoints answer 503 until this returns true.
  // Unset: always ready.
  std::function<bool()> ready;
  // /-/reload (with --web.enable-lifecycle) and SIGHUP.
  std::function<absl::Status()> reload;
  // /-/quit: asks the server to shut down (returns at once).
  std::function<void()> quit;
  // The loaded configuration as YAML text.
  std::function<std::string()> config_yaml;
  // Reload state for runtimeinfo.
  std::function<bool()> last_reload_successful;
  std::function<absl::StatusOr<TsdbStatusData>(int limit)> tsdb_status;
  // Admin API (with --web.enable-admin-api).
  std::function<absl::Status(absl::Span<const tsdb::Matcher>, int64_t mint,
                             int64_t maxt)>
      delete_series;
  std::function<absl::Status()> clean_tombstones;
  // Returns the snapshot's directory name (relative to <data>/snapshots).
  std::function<absl::StatusOr<std::string>(bool skip_head)> snapshot;
  // Write the "data" value of /api/v1/targets, /rules, /alerts,
  // /metadata. `req` carries the filters (state, type, metric, limit).
  std::function<void(const http::Request& req, JsonWriter* w)> targets;
  std::function<void(const http::Request& req, JsonWriter* w)> rules;
  std::function<void(const http::Request& req, JsonWriter* w)> alerts;
  std::function<void(const http::Request& req, JsonWriter* w)> metadata;
  // /metrics body (text format 0.0.4).
  std::function<std::string()> metrics_text;
  // The alerting service whose built-in Alertmanager serves Alertmanager's
  // API v2 (/api/v2/silences, /silence/{id}, /alerts, /status; see
  // server/api/silences_api.h). Unset: those paths are not served.
  std::function<alerting::AlertingService*()> alerting;
};

class Api {
 public:
  // `queryable` and `runner` must outlive the Api; either may be null, in
  // which case endpoints needing it answer 503 "unavailable".
  Api(ApiOptions options, tsdb::Queryable* queryable, QueryRunner* runner,
      ApiHooks hooks);

  // Adds every endpoint to `router`.
  void Register(http::Router* router);

  // Handlers, public for tests that bypass HTTP.
  http::Response Query(const http::Request& req);
  http::Response QueryRange(const http::Request& req);
  http::Response Series(const http::Request& req);
  http::Response LabelNames(const http::Request& req);
  http::Response LabelValues(const http::Request& req);
  http::Response FormatQuery(const http::Request& req);
  http::Response Federate(const http::Request& req);

 private:
  int64_t Now() const;
  bool Ready() const;
  http::Response BuildInfoHandler(const http::Request& req);
  http::Response RuntimeInfo(const http::Request& req);
  http::Response Flags(const http::Request& req);
  http::Response Config(const http::Request& req);
  http::Response TsdbStatus(const http::Request& req);
  http::Response DeleteSeries(const http::Request& req);
  http::Response CleanTombstones(const http::Request& req);
  http::Response Snapshot(const http::Request& req);
  http::Response Lifecycle(const http::Request& req, bool quit);
  http::Response FromHook(
      const http::Request& req,
      const std::function<void(const http::Request&, JsonWriter*)>& hook,
      absl::string_view empty_json);

  const ApiOptions options_;
  tsdb::Queryable* const queryable_;
  QueryRunner* const runner_;
  const ApiHooks hooks_;
  const int64_t start_time_ms_;
};

// Envelope helpers, exposed for other API modules (remote write, rules).
// {"status":"success","data":<data_json>[,"warnings":[...]]}
http::Response SuccessResponse(absl::string_view data_json,
                               const std::vector<std::string>& warnings = {});
// {"status":"error","errorType":"<type>","error":"<message>"} with the HTTP
// status Prometheus uses for that type (bad_data 400, execution 422,
// canceled/timeout/unavailable 503, not_found 404, internal 500).
http::Response ErrorResponse(absl::string_view error_type,
                             absl::string_view message);
// Writes {"resultType":...,"result":...} for a query result (the "data" of
// /api/v1/query and /api/v1/query_range).
void WriteQueryResult(const promql::Value& value, JsonWriter* w);
// Maps an engine/storage status to errorType as promql/engine.h describes.
absl::string_view ErrorTypeFor(const absl::Status& status);

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_API_H_
