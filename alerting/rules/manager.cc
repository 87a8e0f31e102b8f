#include "alerting/rules/manager.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tsdb/matcher.h"
#include "tsdb/sample.h"

namespace vigil::alerting {

int64_t GroupEvalTimestamp(const std::string& file, const std::string& name,
                           int64_t interval_ms, int64_t now_ms) {
  tsdb::Labels l =
      tsdb::Labels::FromSortedUnchecked({{"file", file}, {"name", name}});
  if (file.empty()) l = tsdb::Labels::FromSortedUnchecked({{"name", name}});
  int64_t offset =
      static_cast<int64_t>(l.Hash() % static_cast<uint64_t>(interval_ms));
  int64_t adj = now_ms - offset;
  int64_t base = adj - (((adj % interval_ms) + interval_ms) % interval_ms);
  return base + offset;
}

struct RuleManager::ScheduledGroup {
  GroupSpec spec;
  int64_t interval_ms = 0;
  std::vector<std::unique_ptr<Rule>> rules;
  // Series each rule wrote in its previous evaluation: the ones missing
  // now get a staleness marker.
  std::vector<absl::flat_hash_set<tsdb::Labels>> prev_series;
  int64_t next_eval_ms = 0;
  bool should_restore = false;
  // Prometheus restores after the second evaluation, so that recording
  // rules the alerts depend on have produced fresh values.
  int evals_before_restore = 2;
  int64_t last_evaluation_ms = 0;
  double evaluation_seconds = 0;
  int64_t iterations_total = 0;
  int64_t iterations_missed = 0;
  int64_t evaluation_failures = 0;
};

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

absl::Status WriteSamples(tsdb::Appendable* app, const promql::Vector& v,
                          const std::vector<tsdb::Labels>& stale,
                          int64_t ts_ms) {
  if (app == nullptr || (v.empty() && stale.empty())) return absl::OkStatus();
  std::unique_ptr<tsdb::Appender> a = app->NewAppender();
  for (const promql::VectorSample& s : v) {
    absl::StatusOr<tsdb::SeriesRef> r = a->Append(0, s.metric, ts_ms, s.v);
    // Out-of-order and duplicate samples are counted, not fatal, as in
    // Prometheus; other errors abort the batch.
    if (!r.ok()) {
      tsdb::AppendError k = tsdb::ClassifyAppendError(r.status());
      if (k == tsdb::AppendError::kOther) {
        a->Rollback();
        return r.status();
      }
    }
  }
  for (const tsdb::Labels& l : stale) {
    // Ignored on failure: the series may have been written out of order.
    (void)a->Append(0, l, ts_ms, tsdb::StaleNaN());
  }
  return a->Commit();
}

// Prometheus's RestoreForState for one group.
void RestoreForState(RuleManager* /*unused*/, tsdb::Queryable* q,
                     std::vector<std::unique_ptr<Rule>>& rules, int64_t ts_ms,
                     int64_t outage_tolerance_ms, int64_t grace_ms) {
  std::unique_ptr<tsdb::Querier> querier;
  if (q != nullptr) {
    absl::StatusOr<std::unique_ptr<tsdb::Querier>> qr =
        q->NewQuerier(ts_ms - outage_tolerance_ms, ts_ms);
    if (qr.ok()) querier = *std::move(qr);
  }
  for (auto& rule : rules) {
    auto* ar = dynamic_cast<AlertingRule*>(rule.get());
    if (ar == nullptr) continue;
    int64_t hold = ar->spec().for_ms;
    if (querier == nullptr || hold < grace_ms) {
      // Short `for`s are not worth restoring: they re-fire within the grace
      // period anyway.
      ar->SetRestored(true);
      continue;
    }
    ar->ForEachAlert([&](Alert* a) {
      tsdb::Labels want = AlertingRule::ForStateLabels(*a);
      std::vector<tsdb::Matcher> ms;
      for (const tsdb::Label& l : want) {
        absl::StatusOr<tsdb::Matcher> m =
            tsdb::Matcher::Create(tsdb::MatchType::kEqual, l.name, l.value);
        if (m.ok()) ms.push_back(*std::move(m));
      }
      tsdb::SelectHints hints;
      hints.start = ts_ms - outage_tolerance_ms;
      hints.end = ts_ms;
      absl::StatusOr<std::vector<tsdb::Series>> set =
          querier->Select(hints, ms);
      if (!set.ok()) return;
      for (tsdb::Series& s : *set) {
        if (s.labels.size() != want.size()) continue;
        bool found = false;
        tsdb::Sample last{0, 0};
        while (s.iterator->Next()) {
          last = s.iterator->At();
          found = true;
        }
        if (!found || tsdb::IsStaleNaN(last.v)) return;
        int64_t down_at = (last.t / 1000) * 1000;
        int64_t restored_active_at = static_cast<int64_t>(last.v) * 1000;
        int64_t spent_pending = down_at - restored_active_at;
        int64_t remaining = hold - spent_pending;
        if (remaining <= 0) {
          // Was firing when we went down; the next Eval fires it again if
          // the condition still holds.
        } else if (remaining < grace_ms) {
          restored_active_at = ts_ms + grace_ms - hold;
        } else {
          restored_active_at += ts_ms - down_at;
        }
        a->active_at_ms = restored_active_at;
        return;
      }
    });
    ar->SetRestored(true);
  }
}

}  // namespace

RuleManager::RuleManager(RuleManagerOptions options)
    : options_(std::move(options)) {}

RuleManager::~RuleManager() { Stop(); }

absl::Status RuleManager::Update(const std::vector<std::string>& files) {
  std::vector<RuleFile> parsed;
  std::vector<std::string> errors;
  for (const std::string& f : files) {
    absl::StatusOr<RuleFile> rf = LoadRuleFile(f, options_.validator);
    if (!rf.ok()) {
      errors.push_back(std::string(rf.status().message()));
      continue;
    }
    parsed.push_back(*std::move(rf));
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  return UpdateParsed(std::move(parsed));
}

absl::Status RuleManager::UpdateParsed(std::vector<RuleFile> files) {
  std::vector<std::unique_ptr<ScheduledGroup>> fresh;
  for (RuleFile& f : files) {
    for (GroupSpec& g : f.groups) {
      auto sg = std::make_unique<ScheduledGroup>();
      sg->interval_ms =
          g.interval_ms > 0 ? g.interval_ms : options_.evaluation_interval_ms;
      for (const RuleSpec& r : g.rules) {
        if (r.kind == RuleSpec::Kind::kRecord) {
          sg->rules.push_back(std::make_unique<RecordingRule>(r));
        } else {
          absl::StatusOr<std::unique_ptr<AlertingRule>> ar =
              AlertingRule::Create(r);
          if (!ar.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(g.file, ":", r.line, ": group \"", g.name,
                             "\": ", ar.status().message()));
          }
          sg->rules.push_back(*std::move(ar));
        }
      }
      sg->prev_series.resize(sg->rules.size());
      sg->spec = std::move(g);
      fresh.push_back(std::move(sg));
    }
  }
  int64_t now = options_.clock->NowMs();
  absl::MutexLock l(&mu_);
  for (auto& ng : fresh) {
    ScheduledGroup* old = nullptr;
    for (auto& og : groups_) {
      if (og && og->spec.file == ng->spec.file &&
          og->spec.name == ng->spec.name) {
        old = og.get();
        break;
      }
    }
    if (old == nullptr) {
      ng->next_eval_ms = GroupEvalTimestamp(ng->spec.file, ng->spec.name,
                                            ng->interval_ms, now) +
                         ng->interval_ms;
      ng->should_restore = !restored_once_ && options_.queryable != nullptr;
      if (ng->should_restore) {
        // No ALERTS samples until `for` state has been restored.
        for (auto& r : ng->rules) {
          if (auto* ar = dynamic_cast<AlertingRule*>(r.get())) {
            ar->SetRestored(false);
          }
        }
      }
      continue;
    }
    ng->next_eval_ms = old->interval_ms == ng->interval_ms
                           ? old->next_eval_ms
                           : GroupEvalTimestamp(ng->spec.file, ng->spec.name,
                                                ng->interval_ms, now) +
                                 ng->interval_ms;
    ng->should_restore = old->should_restore;
    ng->last_evaluation_ms = old->last_evaluation_ms;
    ng->evaluation_seconds = old->evaluation_seconds;
    ng->iterations_total = old->iterations_total;
    ng->iterations_missed = old->iterations_missed;
    ng->evaluation_failures = old->evaluation_failures;
    // Rules are matched by identical definition, in order, as Prometheus
    // matches them by name and labels.
    std::vector<bool> used(old->rules.size(), false);
    for (size_t i = 0; i < ng->rules.size(); ++i) {
      for (size_t j = 0; j < old->rules.size(); ++j) {
        if (used[j] ||
            !ng->rules[i]->spec().SameDefinition(old->rules[j]->spec())) {
          continue;
        }
        used[j] = true;
        ng->prev_series[i] = std::move(old->prev_series[j]);
        old->prev_series[j].clear();
        auto* na = dynamic_cast<AlertingRule*>(ng->rules[i].get());
        auto* oa = dynamic_cast<AlertingRule*>(old->rules[j].get());
        if (na != nullptr && oa != nullptr) na->TakeStateFrom(oa);
        ng->rules[i]->SetEvalResult(
            old->rules[j]->health() == RuleHealth::kBad
                ? absl::UnknownError(old->rules[j]->last_error())
                : absl::OkStatus(),
            old->rules[j]->last_evaluation_ms(),
            old->rules[j]->evaluation_seconds());
        break;
      }
    }
  }
  // Series of rules that no longer exist get staleness markers now, as
  // Prometheus writes them when a group is removed.
  std::vector<tsdb::Labels> stale;
  for (auto& og : groups_) {
    for (auto& series : og->prev_series) {
      for (const tsdb::Labels& l : series) stale.push_back(l);
    }
  }
  restored_once_ = true;
  groups_ = std::move(fresh);
  if (!stale.empty()) {
    // Best effort: a failure only delays staleness to the lookback window.
    (void)WriteSamples(options_.appendable, {}, stale, now);
  }
  return absl::OkStatus();
}

void RuleManager::SetExternalLabels(std::map<std::string, std::string> labels) {
  absl::MutexLock l(&mu_);
  options_.external_labels = std::move(labels);
}

void RuleManager::EvaluateDue() {
  std::vector<std::pair<NotifyFunc, std::vector<Alert>>> notifications;
  std::vector<Alert> changed;
  std::vector<AlertsChangedFunc> listeners;
  {
    absl::MutexLock l(&mu_);
    int64_t now = options_.clock->NowMs();
    EvalContext ctx{options_.query, options_.external_labels,
                    options_.external_url};
    for (auto& gp : groups_) {
      ScheduledGroup& g = *gp;
      if (now < g.next_eval_ms) continue;
      int64_t missed = (now - g.next_eval_ms) / g.interval_ms;
      int64_t ts = g.next_eval_ms + missed * g.interval_ms;
      g.iterations_missed += missed;
      g.next_eval_ms = ts + g.interval_ms;
      ++g.iterations_total;
      auto group_start = std::chrono::steady_clock::now();
      for (size_t i = 0; i < g.rules.size(); ++i) {
        Rule& rule = *g.rules[i];
        auto* ar = dynamic_cast<AlertingRule*>(&rule);
        absl::flat_hash_map<tsdb::Labels, AlertState> before;
        if (ar != nullptr) {
          ar->ForEachAlert(
              [&](Alert* a) { before.emplace(a->labels, a->state); });
        }
        auto start = std::chrono::steady_clock::now();
        absl::StatusOr<promql::Vector> out = rule.Eval(ctx, ts, g.spec.limit);
        absl::Status status = out.status();
        if (out.ok()) {
          absl::flat_hash_set<tsdb::Labels> now_series;
          now_series.reserve(out->size());
          for (const promql::VectorSample& s : *out)
            now_series.insert(s.metric);
          std::vector<tsdb::Labels> stale;
          for (const tsdb::Labels& p : g.prev_series[i]) {
            if (!now_series.contains(p)) stale.push_back(p);
          }
          absl::Status ws = WriteSamples(options_.appendable, *out, stale, ts);
          if (!ws.ok()) status = ws;
          g.prev_series[i] = std::move(now_series);
        }
        if (!status.ok()) ++g.evaluation_failures;
        rule.SetEvalResult(status, ts, SecondsSince(start));
        if (ar == nullptr || !out.ok()) continue;
        // State transitions for embedders.
        absl::flat_hash_set<tsdb::Labels> seen;
        ar->ForEachAlert([&](Alert* a) {
          seen.insert(a->labels);
          auto it = before.find(a->labels);
          if (it == before.end() || it->second != a->state) {
            changed.push_back(*a);
          }
        });
        for (const auto& [labels, state] : before) {
          if (!seen.contains(labels) && state == AlertState::kPending) {
            Alert gone;
            gone.labels = labels;
            gone.state = AlertState::kInactive;
            changed.push_back(std::move(gone));
          }
        }
        if (options_.notify) {
          std::vector<Alert> send =
              ar->AlertsToSend(ts, options_.resend_delay_ms, g.interval_ms,
                               options_.external_url);
          if (!send.empty()) {
            notifications.emplace_back(options_.notify, std::move(send));
          }
        }
      }
      if (g.should_restore && --g.evals_before_restore <= 0) {
        RestoreForState(this, options_.queryable, g.rules, now,
                        options_.outage_tolerance_ms,
                        options_.for_grace_period_ms);
        g.should_restore = false;
      }
      g.last_evaluation_ms = ts;
      g.evaluation_seconds = SecondsSince(group_start);
    }
    listeners = listeners_;
  }
  for (auto& [fn, alerts] : notifications) fn(alerts);
  if (!changed.empty()) {
    for (const AlertsChangedFunc& f : listeners) f(changed);
  }
}

void RuleManager::Start() {
  {
    absl::MutexLock l(&run_mu_);
    if (thread_.joinable()) return;
    stop_ = false;
  }
  thread_ = std::thread([this] {
    while (true) {
      EvaluateDue();
      int64_t next = INT64_MAX;
      {
        absl::MutexLock l(&mu_);
        for (auto& g : groups_) next = std::min(next, g->next_eval_ms);
      }
      int64_t wait_ms =
          next == INT64_MAX ? 1000 : next - options_.clock->NowMs();
      wait_ms = std::clamp<int64_t>(wait_ms, 1, 1000);
      absl::MutexLock l(&run_mu_);
      auto stopped = [this]()
                         ABSL_SHARED_LOCKS_REQUIRED(run_mu_) { return stop_; };
      run_mu_.AwaitWithTimeout(absl::Condition(&stopped),
                               absl::Milliseconds(wait_ms));
      if (stop_) return;
    }
  });
}

void RuleManager::Stop() {
  {
    absl::MutexLock l(&run_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RuleManager::OnAlertsChanged(AlertsChangedFunc f) {
  absl::MutexLock l(&mu_);
  listeners_.push_back(std::move(f));
}

std::vector<GroupStatus> RuleManager::Groups() const {
  absl::MutexLock l(&mu_);
  std::vector<GroupStatus> out;
  for (const auto& gp : groups_) {
    const ScheduledGroup& g = *gp;
    GroupStatus gs;
    gs.name = g.spec.name;
    gs.file = g.spec.file;
    gs.interval_ms = g.interval_ms;
    gs.limit = g.spec.limit;
    gs.last_evaluation_ms = g.last_evaluation_ms;
    gs.evaluation_seconds = g.evaluation_seconds;
    gs.iterations_total = g.iterations_total;
    gs.iterations_missed = g.iterations_missed;
    gs.evaluation_failures = g.evaluation_failures;
    for (const auto& r : g.rules) {
      RuleStatus rs;
      rs.spec = r->spec();
      rs.health = r->health();
      rs.last_error = r->last_error();
      rs.last_evaluation_ms = r->last_evaluation_ms();
      rs.evaluation_seconds = r->evaluation_seconds();
      if (auto* ar = dynamic_cast<const AlertingRule*>(r.get())) {
        rs.state = ar->State();
        rs.alerts = ar->ActiveAlerts();
      }
      gs.rules.push_back(std::move(rs));
    }
    out.push_back(std::move(gs));
  }
  return out;
}

std::vector<Alert> RuleManager::Alerts() const {
  absl::MutexLock l(&mu_);
  std::vector<Alert> out;
  for (const auto& g : groups_) {
    for (const auto& r : g->rules) {
      if (auto* ar = dynamic_cast<const AlertingRule*>(r.get())) {
        for (Alert& a : ar->ActiveAlerts()) {
          // /api/v1/alerts lists pending and firing alerts only.
          if (a.state != AlertState::kInactive) out.push_back(std::move(a));
        }
      }
    }
  }
  return out;
}

size_t RuleManager::RuleCount() const {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& g : groups_) n += g->rules.size();
  return n;
}

}  // namespace vigil::alerting
