#include "alerting/rules/api_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting {

using Json = nlohmann::ordered_json;

std::string FormatFloatE(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string s(buf, r.ptr);  // e.g. "1.2e+02", "1e+00", "1.5e-07"
  // Go pads the exponent to at least two digits, as to_chars does.
  return s;
}

std::string FormatRFC3339Millis(int64_t unix_ms) {
  int64_t secs = unix_ms / 1000;
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  time_t tt = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  std::string out = buf;
  if (ms != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", ms);
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

namespace {

Json LabelsJSON(const tsdb::Labels& l) {
  Json j = Json::object();
  for (const tsdb::Label& x : l) j[x.name] = x.value;
  return j;
}

Json PairsJSON(const std::vector<std::pair<std::string, std::string>>& kv) {
  Json j = Json::object();
  // Prometheus prints labels.Labels, which are sorted by name.
  std::vector<std::pair<std::string, std::string>> sorted = kv;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [k, v] : sorted) j[k] = v;
  return j;
}

Json AlertJSON(const Alert& a) {
  Json j = Json::object();
  j["labels"] = LabelsJSON(a.labels);
  j["annotations"] = LabelsJSON(a.annotations);
  j["state"] = AlertStateString(a.state);
  j["activeAt"] = FormatRFC3339Millis(a.active_at_ms);
  if (a.keep_firing_since_ms != 0) {
    j["keepFiringSince"] = FormatRFC3339Millis(a.keep_firing_since_ms);
  }
  j["value"] = FormatFloatE(a.value);
  return j;
}

std::string Timestamp(int64_t ms) {
  // Go's zero time for never-evaluated rules.
  return ms == 0 ? "0001-01-01T00:00:00Z" : FormatRFC3339Millis(ms);
}

}  // namespace

std::string RulesAPIData(const std::vector<GroupStatus>& groups,
                         const std::string& type) {
  Json gs = Json::array();
  for (const GroupStatus& g : groups) {
    Json rules = Json::array();
    for (const RuleStatus& r : g.rules) {
      bool alerting = r.spec.kind == RuleSpec::Kind::kAlert;
      if (type == "alert" && !alerting) continue;
      if (type == "record" && alerting) continue;
      Json j = Json::object();
      if (alerting) {
        j["state"] = AlertStateString(r.state);
        j["name"] = r.spec.name;
        j["query"] = r.spec.expr;
        j["duration"] = r.spec.for_ms / 1000.0;
        j["keepFiringFor"] = r.spec.keep_firing_for_ms / 1000.0;
        j["labels"] = PairsJSON(r.spec.labels);
        j["annotations"] = PairsJSON(r.spec.annotations);
        Json alerts = Json::array();
        for (const Alert& a : r.alerts) {
          if (a.state != AlertState::kInactive) alerts.push_back(AlertJSON(a));
        }
        j["alerts"] = alerts;
        j["health"] = RuleHealthString(r.health);
        if (!r.last_error.empty()) j["lastError"] = r.last_error;
        j["evaluationTime"] = r.evaluation_seconds;
        j["lastEvaluation"] = Timestamp(r.last_evaluation_ms);
        j["type"] = "alerting";
      } else {
        j["name"] = r.spec.name;
        j["query"] = r.spec.expr;
        j["labels"] = PairsJSON(r.spec.labels);
        j["health"] = RuleHealthString(r.health);
        if (!r.last_error.empty()) j["lastError"] = r.last_error;
        j["evaluationTime"] = r.evaluation_seconds;
        j["lastEvaluation"] = Timestamp(r.last_evaluation_ms);
        j["type"] = "recording";
      }
      rules.push_back(std::move(j));
    }
    Json jg = Json::object();
    jg["name"] = g.name;
    jg["file"] = g.file;
    jg["rules"] = rules;
    jg["interval"] = g.interval_ms / 1000.0;
    jg["limit"] = g.limit;
    jg["evaluationTime"] = g.evaluation_seconds;
    jg["lastEvaluation"] = Timestamp(g.last_evaluation_ms);
    gs.push_back(std::move(jg));
  }
  Json data = Json::object();
  data["groups"] = gs;
  return data.dump();
}

std::string AlertsAPIData(const std::vector<Alert>& alerts) {
  Json arr = Json::array();
  for (const Alert& a : alerts) {
    if (a.state != AlertState::kInactive) arr.push_back(AlertJSON(a));
  }
  Json data = Json::object();
  data["alerts"] = arr;
  return data.dump();
}

std::string RuleManagerMetricsText(const std::vector<GroupStatus>& groups) {
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
  };
  const Metric kMetrics[] = {
      {"prometheus_rule_evaluations_total", "counter",
       "The total number of rule evaluations."},
      {"prometheus_rule_evaluation_failures_total", "counter",
       "The total number of rule evaluation failures."},
      {"prometheus_rule_group_iterations_total", "counter",
       "The total number of scheduled rule group evaluations, whether "
       "executed or missed."},
      {"prometheus_rule_group_iterations_missed_total", "counter",
       "The total number of rule group evaluations missed due to slow rule "
       "group evaluation."},
      {"prometheus_rule_group_interval_seconds", "gauge",
       "The interval of a rule group."},
      {"prometheus_rule_group_last_duration_seconds", "gauge",
       "The duration of the last rule group evaluation."},
      {"prometheus_rule_group_last_evaluation_timestamp_seconds", "gauge",
       "The timestamp of the last rule group evaluation in seconds."},
      {"prometheus_rule_group_rules", "gauge", "The number of rules."},
  };
  std::string out;
  for (size_t i = 0; i < sizeof(kMetrics) / sizeof(kMetrics[0]); ++i) {
    const Metric& m = kMetrics[i];
    absl::StrAppend(&out, "# HELP ", m.name, " ", m.help, "\n# TYPE ", m.name,
                    " ", m.type, "\n");
    for (const GroupStatus& g : groups) {
      double v = 0;
      int64_t rules = static_cast<int64_t>(g.rules.size());
      switch (i) {
        case 0:
          v = static_cast<double>(g.iterations_total * rules);
          break;
        case 1:
          v = static_cast<double>(g.evaluation_failures);
          break;
        case 2:
          v = static_cast<double>(g.iterations_total + g.iterations_missed);
          break;
        case 3:
          v = static_cast<double>(g.iterations_missed);
          break;
        case 4:
          v = g.interval_ms / 1000.0;
          break;
        case 5:
          v = g.evaluation_seconds;
          break;
        case 6:
          v = g.last_evaluation_ms / 1000.0;
          break;
        case 7:
          v = static_cast<double>(rules);
          break;
      }
      std::string label = g.file + ";" + g.name;
      std::string escaped;
      for (char c : label) {
        if (c == '\\' || c == '"') escaped += '\\';
        if (c == '\n') {
          escaped += "\\n";
          continue;
        }
        escaped += c;
      }
      char num[64];
      std::snprintf(num, sizeof num, "%.17g", v);
      absl::StrAppend(&out, m.name, "{rule_group=\"", escaped, "\"} ", num,
                      "\n");
    }
  }
  return out;
}

}  // namespace vigil::alerting
