#include "server/api/rules_json.h"

#include <charconv>
#include <cmath>

#include "absl/time/time.h"
#include "promql/parser/parser.h"

namespace vigil::server::api {
namespace {

void WritePairs(const std::vector<std::pair<std::string, std::string>>& kv,
                JsonWriter* w) {
  // Go marshals labels sorted by name.
  std::vector<std::pair<std::string, std::string>> sorted = kv;
  std::sort(sorted.begin(), sorted.end());
  w->BeginObject();
  for (const auto& [k, v] : sorted) {
    w->Key(k);
    w->String(v);
  }
  w->EndObject();
}

std::string CanonicalQuery(const std::string& expr) {
  absl::StatusOr<promql::ExprPtr> e = promql::ParseExpr(expr);
  return e.ok() ? promql::FormatExpr(**e) : expr;
}

void WriteAlert(const alerting::Alert& a, JsonWriter* w) {
  w->BeginObject();
  w->Key("labels");
  w->LabelSet(a.labels);
  w->Key("annotations");
  w->LabelSet(a.annotations);
  w->Key("state");
  w->String(alerting::AlertStateString(a.state));
  w->Key("activeAt");
  w->String(FormatRfc3339Nano(a.active_at_ms));
  w->Key("value");
  std::string v;
  AppendGoFloatE(&v, a.value);
  w->String(v);
  w->EndObject();
}

}  // namespace

void AppendGoFloatE(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  // C++'s shortest scientific form matches Go's: at least two exponent
  // digits, explicit sign.
  char buf[64];
  auto r =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  out->append(buf, r.ptr - buf);
}

std::string FormatRfc3339Nano(int64_t ms) {
  if (ms == 0) return "0001-01-01T00:00:00Z";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

void WriteRuleGroups(const std::vector<alerting::GroupStatus>& groups,
                     const std::string& type, JsonWriter* w) {
  w->BeginObject();
  w->Key("groups");
  w->BeginArray();
  for (const alerting::GroupStatus& g : groups) {
    w->BeginObject();
    w->Key("name");
    w->String(g.name);
    w->Key("file");
    w->String(g.file);
    w->Key("rules");
    w->BeginArray();
    for (const alerting::RuleStatus& r : g.rules) {
      bool alerting_rule = r.spec.kind == alerting::RuleSpec::Kind::kAlert;
      if ((type == "alert" && !alerting_rule) ||
          (type == "record" && alerting_rule)) {
        continue;
      }
      w->BeginObject();
      if (alerting_rule) {
        w->Key("state");
        w->String(alerting::AlertStateString(r.state));
      }
      w->Key("name");
      w->String(r.spec.name);
      w->Key("query");
      w->String(CanonicalQuery(r.spec.expr));
      if (alerting_rule) {
        w->Key("duration");
        w->Double(static_cast<double>(r.spec.for_ms) / 1000);
        w->Key("labels");
        WritePairs(r.spec.labels, w);
        w->Key("annotations");
        WritePairs(r.spec.annotations, w);
        w->Key("alerts");
        w->BeginArray();
        for (const alerting::Alert& a : r.alerts) {
          if (a.state == alerting::AlertState::kInactive) continue;
          WriteAlert(a, w);
        }
        w->EndArray();
      } else if (!r.spec.labels.empty()) {
        w->Key("labels");
        WritePairs(r.spec.labels, w);
      }
      w->Key("health");
      w->String(alerting::RuleHealthString(r.health));
      if (!r.last_error.empty()) {
        w->Key("lastError");
        w->String(r.last_error);
      }
      w->Key("evaluationTime");
      w->Double(r.evaluation_seconds);
      w->Key("lastEvaluation");
      w->String(FormatRfc3339Nano(r.last_evaluation_ms));
      w->Key("type");
      w->String(alerting_rule ? "alerting" : "recording");
      w->EndObject();
    }
    w->EndArray();
    w->Key("interval");
    w->Double(static_cast<double>(g.interval_ms) / 1000);
    w->Key("limit");
    w->Int(g.limit);
    w->Key("evaluationTime");
    w->Double(g.evaluation_seconds);
    w->Key("lastEvaluation");
    w->String(FormatRfc3339Nano(g.last_evaluation_ms));
    w->EndObject();
  }
  w->EndArray();
  w->EndObject();
}

void WriteAlerts(const std::vector<alerting::Alert>& alerts, JsonWriter* w) {
  w->BeginObject();
  w->Key("alerts");
  w->BeginArray();
  for (const alerting::Alert& a : alerts) {
    if (a.state == alerting::AlertState::kInactive) continue;
    WriteAlert(a, w);
  }
  w->EndArray();
  w->EndObject();
}

}  // namespace vigil::server::api
