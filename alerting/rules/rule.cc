#include "alerting/rules/rule.h"

#include <algorithm>
#include <cstdio>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "net/url.h"

namespace vigil::alerting {

const char* AlertStateString(AlertState s) {
  switch (s) {
    case AlertState::kInactive:
      return "inactive";
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
  }
  return "unknown";
}

const char* RuleHealthString(RuleHealth h) {
  switch (h) {
    case RuleHealth::kUnknown:
      return "unknown";
    case RuleHealth::kGood:
      return "ok";
    case RuleHealth::kBad:
      return "err";
  }
  return "unknown";
}

std::string GeneratorURL(absl::string_view external_url,
                         absl::string_view expr) {
  return absl::StrCat(external_url, "/graph?g0.expr=", net::QueryEscape(expr),
                      "&g0.tab=1");
}

// ---------------------------------------------------------------------------

absl::StatusOr<promql::Vector> RecordingRule::Eval(const EvalContext& ctx,
                                                   int64_t ts_ms,
                                                   int64_t limit) {
  absl::StatusOr<promql::Vector> res = ctx.query(spec_.expr, ts_ms);
  if (!res.ok()) return res.status();
  promql::Vector out = *std::move(res);
  absl::flat_hash_set<tsdb::Labels> seen;
  seen.reserve(out.size());
  for (promql::VectorSample& s : out) {
    tsdb::LabelsBuilder b(s.metric);
    b.Set(tsdb::kMetricName, spec_.name);
    for (const auto& [k, v] : spec_.labels) b.Set(k, v);
    s.metric = b.Build();
    s.t = ts_ms;
    if (!seen.insert(s.metric).second) {
      return absl::InvalidArgumentError(
          "vector contains metrics with the same labelset after applying rule "
          "labels");
    }
  }
  if (limit > 0 && static_cast<int64_t>(out.size()) > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "exceeded limit of ", limit, " with ", out.size(), " series"));
  }
  return out;
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<AlertingRule>> AlertingRule::Create(
    RuleSpec spec) {
  std::unique_ptr<AlertingRule> r(new AlertingRule(std::move(spec)));
  TemplateOptions opts = RuleTemplateOptions();
  std::string tname = absl::StrCat("__alert_", r->spec_.name);
  for (const auto& [k, v] : r->spec_.labels) {
    absl::StatusOr<Template> t = Template::Parse(v, opts, tname);
    if (!t.ok()) return t.status();
    r->label_templates_.emplace_back(k, *std::move(t));
  }
  for (const auto& [k, v] : r->spec_.annotations) {
    absl::StatusOr<Template> t = Template::Parse(v, opts, tname);
    if (!t.ok()) return t.status();
    r->annotation_templates_.emplace_back(k, *std::move(t));
  }
  return r;
}

std::string AlertingRule::Expand(const Template& t,
                                 const TemplateValue& data) const {
  absl::StatusOr<std::string> s = t.Execute(data);
  if (!s.ok()) {
    // Prometheus puts the error into the text rather than dropping the alert.
    return absl::StrCat("<error expanding template: ", s.status().message(),
                        ">");
  }
  return *std::move(s);
}

tsdb::Labels AlertingRule::ForStateLabels(const Alert& a) {
  tsdb::LabelsBuilder b(a.labels);
  b.Set(tsdb::kMetricName, "ALERTS_FOR_STATE");
  return b.Build();
}

absl::StatusOr<promql::Vector> AlertingRule::Eval(const EvalContext& ctx,
                                                  int64_t ts_ms,
                                                  int64_t limit) {
  absl::StatusOr<promql::Vector> res = ctx.query(spec_.expr, ts_ms);
  if (!res.ok()) return res.status();

  // New alert candidates, keyed by their final label set.
  absl::flat_hash_map<tsdb::Labels, Alert> current;
  current.reserve(res->size());
  for (const promql::VectorSample& s : *res) {
    std::map<std::string, std::string> l;
    for (const tsdb::Label& x : s.metric) l[x.name] = x.value;
    TemplateValue data =
        RuleTemplateData(l, s.v, ctx.external_labels, ctx.external_url);
    tsdb::LabelsBuilder lb(s.metric);
    lb.Del(tsdb::kMetricName);
    for (const auto& [k, t] : label_templates_) lb.Set(k, Expand(t, data));
    lb.Set("alertname", spec_.name);
    tsdb::LabelsBuilder ab;
    for (const auto& [k, t] : annotation_templates_) {
      ab.Set(k, Expand(t, data));
    }
    Alert a;
    a.labels = lb.Build();
    a.annotations = ab.Build();
    a.active_at_ms = ts_ms;
    a.state = AlertState::kPending;
    a.value = s.v;
    tsdb::Labels key = a.labels;
    if (!current.emplace(std::move(key), std::move(a)).second) {
      return absl::InvalidArgumentError(
          "vector contains metrics with the same labelset after applying "
          "alert labels");
    }
  }

  for (auto& [k, a] : current) {
    auto it = active_.find(k);
    if (it != active_.end() && it->second.state != AlertState::kInactive) {
      it->second.value = a.value;
      it->second.annotations = a.annotations;
      continue;
    }
    active_[k] = std::move(a);
  }

  promql::Vector out;
  int64_t num_active = 0;
  std::vector<tsdb::Labels> to_delete;
  for (auto& [k, a] : active_) {
    if (!current.contains(k)) {
      bool keep_firing = false;
      if (a.state == AlertState::kFiring && spec_.keep_firing_for_ms > 0) {
        if (a.keep_firing_since_ms == 0) a.keep_firing_since_ms = ts_ms;
        if (ts_ms - a.keep_firing_since_ms < spec_.keep_firing_for_ms) {
          keep_firing = true;
        }
      }
      // Pending alerts that vanish are dropped; resolved ones are kept for
      // kResolvedRetentionMs so receivers keep hearing they are resolved.
      if (a.state == AlertState::kPending ||
          (a.resolved_at_ms != 0 &&
           ts_ms - a.resolved_at_ms > kResolvedRetentionMs)) {
        to_delete.push_back(k);
      }
      if (a.state != AlertState::kInactive && !keep_firing) {
        a.state = AlertState::kInactive;
        a.resolved_at_ms = ts_ms;
      }
      if (!keep_firing) continue;
    } else {
      a.keep_firing_since_ms = 0;
    }
    ++num_active;
    if (a.state == AlertState::kPending &&
        ts_ms - a.active_at_ms >= spec_.for_ms) {
      a.state = AlertState::kFiring;
      a.fired_at_ms = ts_ms;
    }
    if (restored_) {
      tsdb::LabelsBuilder b(a.labels);
      b.Set(tsdb::kMetricName, "ALERTS");
      b.Set("alertstate", AlertStateString(a.state));
      out.push_back({b.Build(), ts_ms, 1.0});
      out.push_back({ForStateLabels(a), ts_ms,
                     static_cast<double>(a.active_at_ms / 1000)});
    }
  }
  for (const tsdb::Labels& k : to_delete) active_.erase(k);
  if (limit > 0 && num_active > limit) {
    active_.clear();
    return absl::ResourceExhaustedError(absl::StrCat(
        "exceeded limit of ", limit, " with ", num_active, " alerts"));
  }
  return out;
}

std::vector<Alert> AlertingRule::AlertsToSend(int64_t ts_ms,
                                              int64_t resend_delay_ms,
                                              int64_t interval_ms,
                                              const std::string& external_url) {
  std::vector<Alert> out;
  std::string url;
  for (auto& [k, a] : active_) {
    if (a.state == AlertState::kPending) continue;
    bool needs = a.resolved_at_ms > a.last_sent_at_ms ||
                 a.last_sent_at_ms + resend_delay_ms < ts_ms;
    if (!needs) continue;
    a.last_sent_at_ms = ts_ms;
    // Allow for two missed evaluations or Alertmanager send failures.
    a.valid_until_ms = ts_ms + 4 * std::max(resend_delay_ms, interval_ms);
    Alert copy = a;
    copy.starts_at_ms = a.fired_at_ms;
    copy.ends_at_ms =
        a.resolved_at_ms != 0 ? a.resolved_at_ms : a.valid_until_ms;
    if (url.empty()) url = GeneratorURL(external_url, spec_.expr);
    copy.generator_url = url;
    out.push_back(std::move(copy));
  }
  std::sort(out.begin(), out.end(),
            [](const Alert& x, const Alert& y) { return x.labels < y.labels; });
  return out;
}

std::vector<Alert> AlertingRule::ActiveAlerts() const {
  std::vector<Alert> out;
  out.reserve(active_.size());
  for (const auto& [k, a] : active_) out.push_back(a);
  std::sort(out.begin(), out.end(),
            [](const Alert& x, const Alert& y) { return x.labels < y.labels; });
  return out;
}

AlertState AlertingRule::State() const {
  AlertState s = AlertState::kInactive;
  for (const auto& [k, a] : active_) {
    if (a.state == AlertState::kFiring) return AlertState::kFiring;
    if (a.state == AlertState::kPending) s = AlertState::kPending;
  }
  return s;
}

void AlertingRule::TakeStateFrom(AlertingRule* old) {
  active_ = std::move(old->active_);
  old->active_.clear();
  restored_ = old->restored_;
}

}  // namespace vigil::alerting
