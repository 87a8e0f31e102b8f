#include "server/api/api.h"

#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "alerting/alerting.h"
#include "promql/parser/parser.h"
#include "server/api/params.h"
#include "server/api/silences_api.h"
#include "server/metrics/registry.h"
#include "tsdb/sample.h"

namespace vigil::server::api {
namespace {

using http::Request;
using http::Response;

// Prometheus caps range queries at this many steps.
constexpr int64_t kMaxPointsPerSeries = 11000;

Response InvalidParam(absl::string_view param, absl::string_view message) {
  return ErrorResponse(
      "bad_data", absl::StrCat("invalid parameter \"", param, "\": ", message));
}

// Optional time parameter: absent or empty gives `def`.
absl::StatusOr<int64_t> TimeParam(const Request& req, absl::string_view name,
                                  int64_t def) {
  absl::string_view v = req.FormValue(name);
  if (v.empty()) return def;
  return ParseTimeParam(v);
}

}  // namespace

void WriteQueryResult(const promql::Value& value, JsonWriter* w) {
  w->BeginObject();
  w->Key("resultType");
  if (const auto* vec = std::get_if<promql::Vector>(&value)) {
    w->String("vector");
    w->Key("result");
    w->BeginArray();
    for (const promql::VectorSample& s : *vec) {
      w->BeginObject();
      w->Key("metric");
      w->LabelSet(s.metric);
      w->Key("value");
      w->BeginArray();
      w->Timestamp(s.t);
      w->SampleValue(s.v);
      w->EndArray();
      w->EndObject();
    }
    w->EndArray();
  } else if (const auto* mat = std::get_if<promql::Matrix>(&value)) {
    w->String("matrix");
    w->Key("result");
    w->BeginArray();
    std::string* out = w->out();
    for (const promql::MatrixSeries& s : *mat) {
      w->BeginObject();
      w->Key("metric");
      w->LabelSet(s.metric);
      w->Key("values");
      // Points are the bulk of a range result: the writer opens and closes
      // the array (so it knows a value followed the key) and the points
      // are appended directly.
      w->BeginArray();
      // ~30 bytes a point for typical values; growing by doubling instead
      // would copy the body several times.
      out->reserve(out->size() + 32 * s.points.size());
      bool first = true;
      for (const tsdb::Sample& p : s.points) {
        if (!first) out->push_back(',');
        first = false;
        AppendPoint(out, p.t, p.v);
      }
      w->EndArray();
      w->EndObject();
    }
    w->EndArray();
  } else if (const auto* sc = std::get_if<promql::Scalar>(&value)) {
    w->String("scalar");
    w->Key("result");
    w->BeginArray();
    w->Timestamp(sc->t);
    w->SampleValue(sc->v);
    w->EndArray();
  } else if (const auto* str = std::get_if<promql::String>(&value)) {
    w->String("string");
    w->Key("result");
    w->BeginArray();
    w->Timestamp(str->t);
    w->String(str->v);
    w->EndArray();
  }
  w->EndObject();
}

namespace {

Response QueryError(const absl::Status& s) {
  absl::string_view type = ErrorTypeFor(s);
  if (type == "bad_data") return InvalidParam("query", s.message());
  return ErrorResponse(type, s.message());
}

// Parses every match[] value. Returns the matcher sets or an error response.
absl::StatusOr<std::vector<std::vector<tsdb::Matcher>>> ParseMatches(
    const std::vector<std::string>& selectors) {
  std::vector<std::vector<tsdb::Matcher>> out;
  for (const std::string& s : selectors) {
    absl::StatusOr<std::vector<tsdb::Matcher>> m =
        promql::ParseMetricSelector(s);
    if (!m.ok()) return m.status();
    out.push_back(*std::move(m));
  }
  return out;
}

Response Unavailable(absl::string_view what) {
  return ErrorResponse("unavailable", absl::StrCat(what, " is not available"));
}

std::string FormatRfc3339(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

}  // namespace

Response SuccessResponse(absl::string_view data_json,
                         const std::vector<std::string>& warnings) {
  std::string out;
  out.reserve(data_json.size() + 64);
  out.append("{\"status\":\"success\",\"data\":");
  out.append(data_json.data(), data_json.size());
  if (!warnings.empty()) {
    out.append(",\"warnings\":[");
    for (size_t i = 0; i < warnings.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(&out, warnings[i]);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return Response::Json(200, std::move(out));
}

namespace {

// SuccessResponse for a query result, written straight into the response
// body (a range result is megabytes; no second copy of it).
Response QuerySuccessResponse(const promql::QueryResult& r) {
  std::string out = "{\"status\":\"success\",\"data\":";
  JsonWriter w(&out);
  WriteQueryResult(r.value, &w);
  if (!r.warnings.empty()) {
    out.append(",\"warnings\":[");
    for (size_t i = 0; i < r.warnings.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(&out, r.warnings[i]);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return Response::Json(200, std::move(out));
}

}  // namespace

Response ErrorResponse(absl::string_view error_type,
                       absl::string_view message) {
  int code = 500;
  if (error_type == "bad_data") {
    code = 400;
  } else if (error_type == "execution") {
    code = 422;
  } else if (error_type == "canceled" || error_type == "timeout" ||
             error_type == "unavailable") {
    code = 503;
  } else if (error_type == "not_found") {
    code = 404;
  }
  std::string out = "{\"status\":\"error\",\"errorType\":";
  AppendJsonString(&out, error_type);
  out.append(",\"error\":");
  AppendJsonString(&out, message);
  out.push_back('}');
  return Response::Json(code, std::move(out));
}

absl::string_view ErrorTypeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return "bad_data";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout";
    case absl::StatusCode::kCancelled:
      return "canceled";
    case absl::StatusCode::kUnavailable:
      return "unavailable";
    case absl::StatusCode::kNotFound:
      return "not_found";
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
      return "internal";
    default:
      return "execution";
  }
}

Api::Api(ApiOptions options, tsdb::Queryable* queryable, QueryRunner* runner,
         ApiHooks hooks)
    : options_(std::move(options)),
      queryable_(queryable),
      runner_(runner),
      hooks_(std::move(hooks)),
      start_time_ms_(absl::ToUnixMillis(absl::Now())) {}

int64_t Api::Now() const {
  return options_.now_ms ? options_.now_ms() : absl::ToUnixMillis(absl::Now());
}

bool Api::Ready() const { return !hooks_.ready || hooks_.ready(); }

void Api::Register(http::Router* router) {
  // Endpoints that need storage answer 503 until it is ready, as Prometheus
  // does while replaying its WAL.
  auto ready = [this](Response (Api::*fn)(const Request&)) {
    return [this, fn](const Request& req) {
      if (!Ready()) return Response::Text(503, "Service Unavailable");
      return (this->*fn)(req);
    };
  };
  auto plain = [this](Response (Api::*fn)(const Request&)) {
    return [this, fn](const Request& req) { return (this->*fn)(req); };
  };
  for (const char* m : {"GET", "POST"}) {
    router->Handle(m, "/api/v1/query", ready(&Api::Query));
    router->Handle(m, "/api/v1/query_range", ready(&Api::QueryRange));
    router->Handle(m, "/api/v1/series", ready(&Api::Series));
    router->Handle(m, "/api/v1/labels", ready(&Api::LabelNames));
    router->Handle(m, "/api/v1/format_query", plain(&Api::FormatQuery));
  }
  router->Handle("GET", "/api/v1/label/:name/values", ready(&Api::LabelValues));
  router->Handle("GET", "/federate", ready(&Api::Federate));
  router->Handle("GET", "/api/v1/status/buildinfo",
                 plain(&Api::BuildInfoHandler));
  router->Handle("GET", "/api/v1/status/runtimeinfo", plain(&Api::RuntimeInfo));
  router->Handle("GET", "/api/v1/status/flags", plain(&Api::Flags));
  router->Handle("GET", "/api/v1/status/config", plain(&Api::Config));
  router->Handle("GET", "/api/v1/status/tsdb", ready(&Api::TsdbStatus));
  router->Handle("GET", "/api/v1/targets", [this](const Request& req) {
    return FromHook(req, hooks_.targets,
                    "{\"activeTargets\":[],\"droppedTargets\":[]}");
  });
  router->Handle("GET", "/api/v1/rules", [this](const Request& req) {
    return FromHook(req, hooks_.rules, "{\"groups\":[]}");
  });
  router->Handle("GET", "/api/v1/alerts", [this](const Request& req) {
    return FromHook(req, hooks_.alerts, "{\"alerts\":[]}");
  });
  router->Handle("GET", "/api/v1/metadata", [this](const Request& req) {
    return FromHook(req, hooks_.metadata, "{}");
  });
  if (hooks_.alerting) {
    AlertmanagerApiInfo am;
    am.version = options_.build_info.version;
    am.revision = options_.build_info.revision;
    am.branch = options_.build_info.branch;
    am.build_user = options_.build_info.build_user;
    am.build_date = options_.build_info.build_date;
    am.go_version = options_.build_info.compiler;
    am.now_ms = options_.now_ms;
    RegisterAlertmanagerApi(router, hooks_.alerting, std::move(am));
  }
  // Endpoints for features Vigil does not have (exemplars, target metadata,
  // WAL replay progress) answer with Prometheus's
  // empty shapes so dashboards and clients keep working.
  for (const char* m : {"GET", "POST"}) {
    router->Handle(m, "/api/v1/query_exemplars",
                   [](const Request&) { return SuccessResponse("[]"); });
  }
  router->Handle("GET", "/api/v1/targets/metadata",
                 [](const Request&) { return SuccessResponse("[]"); });
  router->Handle("GET", "/api/v1/alertmanagers", [this](const Request&) {
    // The alerts URLs forwarded to now (relabel_configs applied), and the
    // discovered ones relabeling dropped.
    alerting::AlertingService* svc =
        hooks_.alerting ? hooks_.alerting() : nullptr;
    auto append_urls = [](std::string* data,
                          const std::vector<std::string>& urls) {
      bool first = true;
      for (const std::string& url : urls) {
        *data += first ? "{\"url\":" : ",{\"url\":";
        first = false;
        AppendJsonString(data, url);
        *data += '}';
      }
    };
    std::string data = "{\"activeAlertmanagers\":[";
    if (svc != nullptr) append_urls(&data, svc->alertmanager_urls());
    data += "],\"droppedAlertmanagers\":[";
    if (svc != nullptr) append_urls(&data, svc->dropped_alertmanager_urls());
    data += "]}";
    return SuccessResponse(data);
  });
  router->Handle("GET", "/api/v1/status/walreplay", [](const Request&) {
    return SuccessResponse("{\"min\":0,\"max\":0,\"current\":0}");
  });
  for (const char* m : {"POST", "PUT"}) {
    router->Handle(m, "/api/v1/admin/tsdb/delete_series",
                   ready(&Api::DeleteSeries));
    router->Handle(m, "/api/v1/admin/tsdb/clean_tombstones",
                   ready(&Api::CleanTombstones));
    router->Handle(m, "/api/v1/admin/tsdb/snapshot", ready(&Api::Snapshot));
    router->Handle(m, "/-/reload", [this](const Request& req) {
      return Lifecycle(req, /*quit=*/false);
    });
    router->Handle(m, "/-/quit", [this](const Request& req) {
      return Lifecycle(req, /*quit=*/true);
    });
  }
  router->Handle("", "/-/healthy", [](const Request&) {
    return Response::Text(200, "Vigil Server is Healthy.\n");
  });
  router->Handle("", "/-/ready", [this](const Request&) {
    if (!Ready()) return Response::Text(503, "Service Unavailable");
    return Response::Text(200, "Vigil Server is Ready.\n");
  });
  router->Handle("GET", "/metrics", [this](const Request&) {
    Response r = Response::Text(
        200, hooks_.metrics_text ? hooks_.metrics_text() : std::string());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
}

Response Api::Query(const Request& req) {
  if (runner_ == nullptr) return Unavailable("query engine");
  absl::StatusOr<int64_t> t = TimeParam(req, "time", Now());
  if (!t.ok()) return InvalidParam("time", t.status().message());
  int64_t timeout = 0;
  if (!req.FormValue("timeout").empty()) {
    absl::StatusOr<int64_t> d = ParseDurationParam(req.FormValue("timeout"));
    if (!d.ok()) return InvalidParam("timeout", d.status().message());
    timeout = *d;
  }
  absl::StatusOr<promql::QueryResult> r =
      runner_->Instant(req.FormValue("query"), *t, timeout);
  if (!r.ok()) return QueryError(r.status());
  return QuerySuccessResponse(*r);
}

Response Api::QueryRange(const Request& req) {
  if (runner_ == nullptr) return Unavailable("query engine");
  absl::StatusOr<int64_t> start = ParseTimeParam(req.FormValue("start"));
  if (!start.ok()) return InvalidParam("start", start.status().message());
  absl::StatusOr<int64_t> end = ParseTimeParam(req.FormValue("end"));
  if (!end.ok()) return InvalidParam("end", end.status().message());
  if (*end < *start) {
    return InvalidParam("end", "end timestamp must not be before start time");
  }
  absl::StatusOr<int64_t> step = ParseDurationParam(req.FormValue("step"));
  if (!step.ok()) return InvalidParam("step", step.status().message());
  if (*step <= 0) {
    return InvalidParam("step",
                        "zero or negative query resolution step widths are "
                        "not accepted. Try a positive integer");
  }
  if ((*end - *start) / *step > kMaxPointsPerSeries) {
    return ErrorResponse(
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try "
        "decreasing the query resolution (?step=XX)");
  }
  int64_t timeout = 0;
  if (!req.FormValue("timeout").empty()) {
    absl::StatusOr<int64_t> d = ParseDurationParam(req.FormValue("timeout"));
    if (!d.ok()) return InvalidParam("timeout", d.status().message());
    timeout = *d;
  }
  absl::StatusOr<promql::QueryResult> r =
      runner_->Range(req.FormValue("query"), *start, *end, *step, timeout);
  if (!r.ok()) return QueryError(r.status());
  return QuerySuccessResponse(*r);
}

Response Api::Series(const Request& req) {
  if (queryable_ == nullptr) return Unavailable("storage");
  std::vector<std::string> matches = req.FormValues("match[]");
  if (matches.empty()) {
    return ErrorResponse("bad_data", "no match[] parameter provided");
  }
  absl::StatusOr<int64_t> start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam("start", start.status().message());
  absl::StatusOr<int64_t> end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam("end", end.status().message());
  auto sets = ParseMatches(matches);
  if (!sets.ok()) return ErrorResponse("bad_data", sets.status().message());
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> q =
      queryable_->NewQuerier(*start, *end);
  if (!q.ok())
    return ErrorResponse(ErrorTypeFor(q.status()), q.status().message());
  tsdb::SelectHints hints;
  hints.start = *start;
  hints.end = *end;
  hints.func = "series";  // lets storage skip reading samples
  std::vector<tsdb::Labels> all;
  for (const auto& set : *sets) {
    absl::StatusOr<std::vector<tsdb::Series>> s = (*q)->Select(hints, set);
    if (!s.ok()) {
      return ErrorResponse(ErrorTypeFor(s.status()), s.status().message());
    }
    for (tsdb::Series& x : *s) all.push_back(std::move(x.labels));
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::string data;
  JsonWriter w(&data);
  w.BeginArray();
  for (const tsdb::Labels& l : all) w.LabelSet(l);
  w.EndArray();
  return SuccessResponse(data);
}

Response Api::LabelNames(const Request& req) {
  if (queryable_ == nullptr) return Unavailable("storage");
  absl::StatusOr<int64_t> start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam("start", start.status().message());
  absl::StatusOr<int64_t> end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam("end", end.status().message());
  auto sets = ParseMatches(req.FormValues("match[]"));
  if (!sets.ok()) return ErrorResponse("bad_data", sets.status().message());
  int64_t limit = 0;
  if (!req.FormValue("limit").empty() &&
      (!absl::SimpleAtoi(req.FormValue("limit"), &limit) || limit < 0)) {
    return InvalidParam("limit", "cannot parse \"" +
                                     std::string(req.FormValue("limit")) +
                                     "\" to a valid limit");
  }
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> q =
      queryable_->NewQuerier(*start, *end);
  if (!q.ok())
    return ErrorResponse(ErrorTypeFor(q.status()), q.status().message());
  std::set<std::string> names;
  if (sets->empty()) sets->emplace_back();
  for (const auto& set : *sets) {
    absl::StatusOr<std::vector<std::string>> n = (*q)->LabelNames(set);
    if (!n.ok()) {
      return ErrorResponse(ErrorTypeFor(n.status()), n.status().message());
    }
    names.insert(n->begin(), n->end());
  }
  std::string data;
  JsonWriter w(&data);
  w.BeginArray();
  int64_t n = 0;
  for (const std::string& name : names) {
    if (limit > 0 && n++ >= limit) break;
    w.String(name);
  }
  w.EndArray();
  return SuccessResponse(data);
}

Response Api::LabelValues(const Request& req) {
  if (queryable_ == nullptr) return Unavailable("storage");
  std::string name(req.PathParam("name"));
  if (!tsdb::IsValidLabelName(name)) {
    return ErrorResponse("bad_data",
                         absl::StrCat("invalid label name: \"", name, "\""));
  }
  absl::StatusOr<int64_t> start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam("start", start.status().message());
  absl::StatusOr<int64_t> end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam("end", end.status().message());
  auto sets = ParseMatches(req.FormValues("match[]"));
  if (!sets.ok()) return ErrorResponse("bad_data", sets.status().message());
  int64_t limit = 0;
  if (!req.FormValue("limit").empty() &&
      (!absl::SimpleAtoi(req.FormValue("limit"), &limit) || limit < 0)) {
    return InvalidParam("limit", "cannot parse \"" +
                                     std::string(req.FormValue("limit")) +
                                     "\" to a valid limit");
  }
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> q =
      queryable_->NewQuerier(*start, *end);
  if (!q.ok())
    return ErrorResponse(ErrorTypeFor(q.status()), q.status().message());
  std::set<std::string> values;
  if (sets->empty()) sets->emplace_back();
  for (const auto& set : *sets) {
    absl::StatusOr<std::vector<std::string>> v = (*q)->LabelValues(name, set);
    if (!v.ok()) {
      return ErrorResponse(ErrorTypeFor(v.status()), v.status().message());
    }
    values.insert(v->begin(), v->end());
  }
  std::string data;
  JsonWriter w(&data);
  w.BeginArray();
  int64_t n = 0;
  for (const std::string& v : values) {
    if (limit > 0 && n++ >= limit) break;
    w.String(v);
  }
  w.EndArray();
  return SuccessResponse(data);
}

Response Api::FormatQuery(const Request& req) {
  absl::StatusOr<promql::ExprPtr> e = promql::ParseExpr(req.FormValue("query"));
  if (!e.ok()) return InvalidParam("query", e.status().message());
  std::string data;
  AppendJsonString(&data, promql::FormatExpr(**e));
  return SuccessResponse(data);
}

Response Api::Federate(const Request& req) {
  if (queryable_ == nullptr) return Unavailable("storage");
  auto sets = ParseMatches(req.FormValues("match[]"));
  if (!sets.ok()) {
    return Response::Text(400, std::string(sets.status().message()) + "\n");
  }
  int64_t now = Now();
  int64_t mint = now - options_.lookback_delta_ms;
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> q =
      queryable_->NewQuerier(mint, now);
  if (!q.ok()) return Response::Text(500, std::string(q.status().message()));
  tsdb::SelectHints hints;
  hints.start = mint;
  hints.end = now;
  hints.func = "federate";
  std::map<tsdb::Labels, tsdb::Sample> latest;
  std::vector<tsdb::Sample> buf;
  for (const auto& set : *sets) {
    absl::StatusOr<std::vector<tsdb::Series>> s = (*q)->Select(hints, set);
    if (!s.ok()) return Response::Text(500, std::string(s.status().message()));
    for (tsdb::Series& x : *s) {
      if (latest.count(x.labels)) continue;
      buf.clear();
      absl::Status st = x.iterator->ReadAll(&buf);
      if (!st.ok()) return Response::Text(500, std::string(st.message()));
      // The newest sample in (now - lookback, now]; a staleness marker
      // means the series has ended.
      while (!buf.empty() && buf.back().t > now) buf.pop_back();
      if (buf.empty() || buf.back().t <= mint ||
          tsdb::IsStaleNaN(buf.back().v)) {
        continue;
      }
      tsdb::LabelsBuilder b(x.labels);
      for (const auto& [k, v] : options_.external_labels) {
        if (b.Get(k).empty()) b.Set(k, v);
      }
      latest.emplace(b.Build(), buf.back());
    }
  }
  // Group by metric name, one "# TYPE name untyped" line per name.
  std::vector<std::pair<const tsdb::Labels*, tsdb::Sample>> rows;
  for (const auto& [l, s] : latest) rows.emplace_back(&l, s);
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.first->MetricName() < b.first->MetricName();
  });
  std::string out;
  absl::string_view current;
  bool have_current = false;
  for (const auto& [l, s] : rows) {
    absl::string_view name = l->MetricName();
    if (!have_current || name != current) {
      absl::StrAppend(&out, "# TYPE ", name, " untyped\n");
      current = name;
      have_current = true;
    }
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const tsdb::Label& x : *l) {
      if (x.name != tsdb::kMetricName) pairs.emplace_back(x.name, x.value);
    }
    // AppendSample ends the line; we need the timestamp before the newline.
    metrics::AppendSample(&out, name, pairs, s.v);
    out.pop_back();
    absl::StrAppend(&out, " ", s.t, "\n");
  }
  Response r = Response::Text(200, std::move(out));
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

Response Api::BuildInfoHandler(const Request&) {
  const BuildInfo& b = options_.build_info;
  std::string data;
  JsonWriter w(&data);
  w.BeginObject();
  w.Key("version");
  w.String(b.version);
  w.Key("revision");
  w.String(b.revision);
  w.Key("branch");
  w.String(b.branch);
  w.Key("buildUser");
  w.String(b.build_user);
  w.Key("buildDate");
  w.String(b.build_date);
  w.Key("goVersion");
  w.String(b.compiler);
  w.EndObject();
  return SuccessResponse(data);
}

Response Api::RuntimeInfo(const Request&) {
  std::string data;
  JsonWriter w(&data);
  char cwd[4096];
  w.BeginObject();
  w.Key("startTime");
  w.String(FormatRfc3339(start_time_ms_));
  w.Key("CWD");
  w.String(getcwd(cwd, sizeof cwd) != nullptr ? cwd : "<unknown>");
  w.Key("reloadConfigSuccess");
  w.Bool(hooks_.last_reload_successful ? hooks_.last_reload_successful()
                                       : true);
  w.Key("lastConfigTime");
  w.String(FormatRfc3339(start_time_ms_));
  w.Key("corruptionCount");
  w.Int(0);
  w.Key("goroutineCount");
  w.Int(0);
  w.Key("GOMAXPROCS");
  w.Int(static_cast<int64_t>(std::thread::hardware_concurrency()));
  w.Key("GOGC");
  w.String("");
  w.Key("GODEBUG");
  w.String("");
  w.Key("storageRetention");
  w.String(options_.storage_retention);
  w.EndObject();
  return SuccessResponse(data);
}

Response Api::Flags(const Request&) {
  std::string data;
  JsonWriter w(&data);
  w.BeginObject();
  for (const auto& [k, v] : options_.flags) {
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
  return SuccessResponse(data);
}

Response Api::Config(const Request&) {
  std::string data;
  JsonWriter w(&data);
  w.BeginObject();
  w.Key("yaml");
  w.String(hooks_.config_yaml ? hooks_.config_yaml() : std::string());
  w.EndObject();
  return SuccessResponse(data);
}

Response Api::TsdbStatus(const Request& req) {
  if (!hooks_.tsdb_status) return Unavailable("TSDB status");
  int64_t limit = 10;
  if (!req.FormValue("limit").empty() &&
      (!absl::SimpleAtoi(req.FormValue("limit"), &limit) || limit <= 0)) {
    return ErrorResponse("bad_data", "limit must be a positive number");
  }
  absl::StatusOr<TsdbStatusData> st =
      hooks_.tsdb_status(static_cast<int>(limit));
  if (!st.ok()) {
    return ErrorResponse("internal", absl::StrCat("error getting head stats: ",
                                                  st.status().message()));
  }
  std::string data;
  JsonWriter w(&data);
  auto entries = [&](const char* key,
                     const std::vector<TsdbStatusData::Entry>& list) {
    w.Key(key);
    w.BeginArray();
    for (const auto& e : list) {
      w.BeginObject();
      w.Key("name");
      w.String(e.name);
      w.Key("value");
      w.Int(e.value);
      w.EndObject();
    }
    w.EndArray();
  };
  w.BeginObject();
  w.Key("headStats");
  w.BeginObject();
  w.Key("numSeries");
  w.Int(st->num_series);
  w.Key("numLabelPairs");
  w.Int(st->num_label_pairs);
  w.Key("chunkCount");
  w.Int(st->chunk_count);
  w.Key("minTime");
  w.Int(st->min_time);
  w.Key("maxTime");
  w.Int(st->max_time);
  w.EndObject();
  entries("seriesCountByMetricName", st->series_count_by_metric_name);
  entries("labelValueCountByLabelName", st->label_value_count_by_label_name);
  entries("memoryInBytesByLabelName", st->memory_in_bytes_by_label_name);
  entries("seriesCountByLabelValuePair", st->series_count_by_label_value_pair);
  w.EndObject();
  return SuccessResponse(data);
}

Response Api::DeleteSeries(const Request& req) {
  if (!options_.enable_admin_api) {
    return ErrorResponse("unavailable", "admin APIs disabled");
  }
  if (!hooks_.delete_series) return Unavailable("series deletion");
  std::vector<std::string> matches = req.FormValues("match[]");
  if (matches.empty()) {
    return ErrorResponse("bad_data", "no match[] parameter provided");
  }
  absl::StatusOr<int64_t> start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam("start", start.status().message());
  absl::StatusOr<int64_t> end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam("end", end.status().message());
  auto sets = ParseMatches(matches);
  if (!sets.ok()) return ErrorResponse("bad_data", sets.status().message());
  for (const auto& set : *sets) {
    absl::Status s = hooks_.delete_series(set, *start, *end);
    if (!s.ok()) return ErrorResponse("internal", s.message());
  }
  Response r;
  r.status = 204;
  r.content_type = "application/json";
  return r;
}

Response Api::CleanTombstones(const Request&) {
  if (!options_.enable_admin_api) {
    return ErrorResponse("unavailable", "admin APIs disabled");
  }
  if (!hooks_.clean_tombstones) return Unavailable("tombstone cleaning");
  absl::Status s = hooks_.clean_tombstones();
  if (!s.ok()) return ErrorResponse("internal", s.message());
  Response r;
  r.status = 204;
  r.content_type = "application/json";
  return r;
}

Response Api::Snapshot(const Request& req) {
  if (!options_.enable_admin_api) {
    return ErrorResponse("unavailable", "admin APIs disabled");
  }
  if (!hooks_.snapshot) return Unavailable("snapshots");
  bool skip_head = false;
  absl::string_view sh = req.FormValue("skip_head");
  if (!sh.empty()) {
    if (sh == "true" || sh == "1" || sh == "t" || sh == "T" || sh == "TRUE" ||
        sh == "True") {
      skip_head = true;
    } else if (!(sh == "false" || sh == "0" || sh == "f" || sh == "F" ||
                 sh == "FALSE" || sh == "False")) {
      return ErrorResponse(
          "bad_data",
          absl::StrCat("unable to parse boolean 'skip_head' argument: ",
                       "strconv.ParseBool: parsing \"", sh,
                       "\": invalid syntax"));
    }
  }
  absl::StatusOr<std::string> name = hooks_.snapshot(skip_head);
  if (!name.ok()) {
    return ErrorResponse(
        "internal", absl::StrCat("create snapshot: ", name.status().message()));
  }
  std::string data = "{\"name\":";
  AppendJsonString(&data, *name);
  data.push_back('}');
  return SuccessResponse(data);
}

Response Api::Lifecycle(const Request&, bool quit) {
  if (!options_.enable_lifecycle) {
    return Response::Text(403, "Lifecycle API is not enabled.");
  }
  if (quit) {
    if (!hooks_.quit) return Response::Text(503, "quit is not available\n");
    hooks_.quit();
    return Response::Text(200, "Requesting termination... Goodbye!");
  }
  if (!hooks_.reload) return Response::Text(503, "reload is not available\n");
  absl::Status s = hooks_.reload();
  if (!s.ok()) {
    return Response::Text(
        500, absl::StrCat("failed to reload config: ", s.message(), "\n"));
  }
  return Response::Text(200, "");
}

Response Api::FromHook(
    const Request& req,
    const std::function<void(const Request&, JsonWriter*)>& hook,
    absl::string_view empty_json) {
  if (!hook) return SuccessResponse(empty_json);
  std::string data;
  JsonWriter w(&data);
  hook(req, &w);
  return SuccessResponse(data);
}

}  // namespace vigil::server::api
