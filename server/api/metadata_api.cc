#include "server/api/metadata_api.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "promql/parser/parser.h"
#include "server/api/api.h"
#include "server/api/json_writer.h"
#include "tsdb/matcher.h"

namespace vigil::server::api {
namespace {

using http::Request;
using http::Response;
using scrape::MetricMetadata;

// Prometheus's strconv.Atoi-based integer parameters: absent means -1 (no
// limit); anything but an integer is bad_data "<name> must be a number".
bool IntParam(const Request& req, absl::string_view name, int64_t* out,
              Response* error) {
  *out = -1;
  absl::string_view s = req.FormValue(name);
  if (s.empty()) return true;
  if (!absl::SimpleAtoi(s, out)) {
    *error = ErrorResponse("bad_data", absl::StrCat(name, " must be a number"));
    return false;
  }
  return true;
}

// One metadata value, ordered so a metric's list comes out deterministic
// (Prometheus returns it in Go map order).
using MetaKey = std::tuple<std::string, std::string, std::string>;

MetaKey KeyOf(const MetricMetadata& m) {
  return MetaKey{std::string(tsdb::textparse::MetricTypeName(m.type)), m.help,
                 m.unit};
}

const MetricMetadata* Find(const std::vector<MetricMetadata>& list,
                           absl::string_view metric) {
  auto it =
      std::lower_bound(list.begin(), list.end(), metric,
                       [](const MetricMetadata& m, absl::string_view name) {
                         return absl::string_view(m.metric) < name;
                       });
  if (it == list.end() || it->metric != metric) return nullptr;
  return &*it;
}

void WriteMeta(const MetricMetadata& m, JsonWriter* w) {
  w->Key("type");
  w->String(tsdb::textparse::MetricTypeName(m.type));
  w->Key("help");
  w->String(m.help);
  w->Key("unit");
  w->String(m.unit);
}

bool MatchesTarget(const tsdb::Labels& labels,
                   const std::vector<tsdb::Matcher>& matchers) {
  for (const tsdb::Matcher& m : matchers) {
    if (!m.Matches(labels.Get(m.name()))) return false;
  }
  return true;
}

}  // namespace

MetadataApi::MetadataApi(ActiveTargetsFn targets)
    : targets_(std::move(targets)) {}

void MetadataApi::Register(http::Router* router) {
  router->Handle("GET", "/api/v1/metadata",
                 [this](const Request& req) { return Metadata(req); });
  router->Handle("GET", "/api/v1/targets/metadata",
                 [this](const Request& req) { return TargetsMetadata(req); });
}

Response MetadataApi::Metadata(const Request& req) const {
  Response error;
  int64_t limit, limit_per_metric;
  if (!IntParam(req, "limit", &limit, &error) ||
      !IntParam(req, "limit_per_metric", &limit_per_metric, &error)) {
    return error;
  }
  const std::string metric(req.FormValue("metric"));
  std::map<std::string, std::map<MetaKey, const MetricMetadata*>> metrics;
  std::vector<scrape::TargetInfo> targets =
      targets_ ? targets_() : std::vector<scrape::TargetInfo>();
  auto add = [&](const MetricMetadata& m) {
    auto it = metrics.find(m.metric);
    if (limit_per_metric > 0 && it != metrics.end() &&
        static_cast<int64_t>(it->second.size()) >= limit_per_metric) {
      return;
    }
    if (it == metrics.end())
      it = metrics.emplace(m.metric, std::map<MetaKey, const MetricMetadata*>())
               .first;
    it->second.emplace(KeyOf(m), &m);
  };
  for (const scrape::TargetInfo& t : targets) {
    if (t.metadata == nullptr) continue;
    if (metric.empty()) {
      for (const MetricMetadata& m : *t.metadata) add(m);
    } else if (const MetricMetadata* m = Find(*t.metadata, metric)) {
      add(*m);
    }
  }
  std::string data;
  JsonWriter w(&data);
  w.BeginObject();
  int64_t n = 0;
  for (const auto& [name, set] : metrics) {
    if (limit >= 0 && n >= limit) break;
    ++n;
    w.Key(name);
    w.BeginArray();
    for (const auto& [key, m] : set) {
      w.BeginObject();
      WriteMeta(*m, &w);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return SuccessResponse(data);
}

Response MetadataApi::TargetsMetadata(const Request& req) const {
  Response error;
  int64_t limit;
  if (!IntParam(req, "limit", &limit, &error)) return error;
  const absl::string_view match_target = req.FormValue("match_target");
  std::vector<tsdb::Matcher> matchers;
  if (!match_target.empty()) {
    absl::StatusOr<std::vector<tsdb::Matcher>> m =
        promql::ParseMetricSelector(match_target);
    if (!m.ok()) return ErrorResponse("bad_data", m.status().message());
    matchers = *std::move(m);
  }
  const std::string metric(req.FormValue("metric"));
  std::vector<scrape::TargetInfo> targets =
      targets_ ? targets_() : std::vector<scrape::TargetInfo>();
  std::string data;
  JsonWriter w(&data);
  w.BeginArray();
  int64_t n = 0;
  auto write = [&](const scrape::TargetInfo& t, const MetricMetadata& m,
                   bool with_name) {
    w.BeginObject();
    w.Key("target");
    w.LabelSet(t.labels);
    if (with_name) {
      w.Key("metric");
      w.String(m.metric);
    }
    WriteMeta(m, &w);
    w.EndObject();
    ++n;
  };
  for (const scrape::TargetInfo& t : targets) {
    // As Prometheus: the limit is checked per target, so the last target's
    // list is never cut short.
    if (limit >= 0 && n >= limit) break;
    if (!matchers.empty() && !MatchesTarget(t.labels, matchers)) continue;
    if (t.metadata == nullptr) continue;
    if (metric.empty()) {
      for (const MetricMetadata& m : *t.metadata) write(t, m, true);
    } else if (const MetricMetadata* m = Find(*t.metadata, metric)) {
      write(t, *m, false);
    }
  }
  w.EndArray();
  return SuccessResponse(data);
}

}  // namespace vigil::server::api
