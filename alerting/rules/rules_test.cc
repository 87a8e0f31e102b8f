#include <climits>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "alerting/clock.h"
#include "alerting/rules/manager.h"
#include "alerting/rules/rule.h"
#include "gtest/gtest.h"
#include "promql/testing/test_storage.h"
#include "tsdb/sample.h"

namespace vigil::alerting {
namespace {

constexpr int64_t kT0 = 1714152000000;  // 2024-04-26T17:20:00Z
constexpr int64_t kMin = 60000;

tsdb::Labels L(std::vector<tsdb::Label> p) {
  return *tsdb::Labels::FromPairs(std::move(p));
}

// Every sample stored for exactly `labels`, oldest first, read through the
// storage's public Querier as the rule manager's restore does.
std::vector<tsdb::Sample> SamplesOf(tsdb::Queryable& q,
                                    const tsdb::Labels& labels) {
  std::vector<tsdb::Matcher> ms;
  for (const tsdb::Label& l : labels) {
    ms.push_back(*tsdb::Matcher::Create(
        tsdb::MatchType::kEqual, std::string(l.name), std::string(l.value)));
  }
  auto querier = q.NewQuerier(INT64_MIN, INT64_MAX);
  EXPECT_TRUE(querier.ok()) << querier.status();
  tsdb::SelectHints hints;
  hints.start = INT64_MIN;
  hints.end = INT64_MAX;
  auto series = (*querier)->Select(hints, ms);
  EXPECT_TRUE(series.ok()) << series.status();
  std::vector<tsdb::Sample> out;
  for (tsdb::Series& s : *series) {
    if (s.labels != labels) continue;  // a superset of the labels
    while (s.iterator->Next()) out.push_back(s.iterator->At());
  }
  return out;
}

// The sample a query at `t` sees for `labels` (5m lookback, staleness
// markers hide the series), if any.
std::optional<tsdb::Sample> Latest(tsdb::Queryable& q,
                                   const tsdb::Labels& labels, int64_t t) {
  std::optional<tsdb::Sample> best;
  for (const tsdb::Sample& s : SamplesOf(q, labels)) {
    if (s.t <= t && s.t > t - 300000) best = s;
  }
  if (best && tsdb::IsStaleNaN(best->v)) return std::nullopt;
  return best;
}

class RulesTest : public ::testing::Test {
 protected:
  // Fake engine: expressions map to functions of the evaluation time.
  std::map<std::string, std::function<promql::Vector(int64_t)>> exprs_;
  FakeClock clock_{kT0};
  promql::testing::TestStorage storage_;
  std::vector<std::vector<Alert>> sent_;
  std::vector<Alert> changed_;
  bool restore_ = false;

  RuleManagerOptions Options() {
    RuleManagerOptions o;
    o.query = [this](absl::string_view q,
                     int64_t t) -> absl::StatusOr<promql::Vector> {
      auto it = exprs_.find(std::string(q));
      if (it == exprs_.end()) {
        return absl::InvalidArgumentError("unknown expression");
      }
      return it->second(t);
    };
    o.appendable = &storage_;
    o.queryable = restore_ ? &storage_ : nullptr;
    o.clock = &clock_;
    o.notify = [this](const std::vector<Alert>& a) { sent_.push_back(a); };
    o.external_url = "http://prometheus:9090";
    return o;
  }

  std::unique_ptr<RuleManager> Manager(const std::string& yaml) {
    auto m = std::make_unique<RuleManager>(Options());
    absl::StatusOr<RuleFile> f = ParseRuleFile(yaml, "rules.yml", nullptr);
    EXPECT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE(m->UpdateParsed({*f}).ok());
    m->OnAlertsChanged([this](const std::vector<Alert>& a) {
      changed_.insert(changed_.end(), a.begin(), a.end());
    });
    return m;
  }

  // Moves the clock to the next evaluation slot of `group` and evaluates.
  int64_t Step(RuleManager* m, const std::string& group = "g",
               int64_t interval = kMin) {
    int64_t next =
        GroupEvalTimestamp("rules.yml", group, interval, clock_.NowMs()) +
        interval;
    clock_.SetMs(next);
    m->EvaluateDue();
    return next;
  }

  // A series that exists while *on is true.
  std::function<promql::Vector(int64_t)> While(const bool* on, tsdb::Labels l,
                                               double v) {
    return [on, l, v](int64_t t) {
      promql::Vector out;
      if (*on) out.push_back({l, t, v});
      return out;
    };
  }
};

const char kNginxRules[] = R"(
groups:
  - name: g
    rules:
      - alert: Nginx 100 active connections
        for: 1m
        expr: nginx_connections_active{job="nginx"} >= 100
        labels:
          severity: critical
        annotations:
          title: Nginx 100 active connections on {{ $labels.instance }}
          value: '{{ $value }}'
)";

TEST_F(RulesTest, PendingThenFiringThenResolvedAndRetained) {
  bool on = true;
  tsdb::Labels series = L({{"__name__", "nginx_connections_active"},
                           {"instance", "192.168.121.174:9113"},
                           {"job", "nginx"}});
  exprs_["nginx_connections_active{job=\"nginx\"} >= 100"] =
      While(&on, series, 150);
  auto m = Manager(kNginxRules);

  int64_t t1 = Step(m.get());
  std::vector<Alert> alerts = m->Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].state, AlertState::kPending);
  EXPECT_EQ(alerts[0].active_at_ms, t1);
  EXPECT_EQ(alerts[0].labels.ToString(),
            "{alertname=\"Nginx 100 active connections\", "
            "instance=\"192.168.121.174:9113\", job=\"nginx\", "
            "severity=\"critical\"}");
  EXPECT_EQ(alerts[0].annotations.Get("title"),
            "Nginx 100 active connections on 192.168.121.174:9113");
  EXPECT_EQ(alerts[0].annotations.Get("value"), "150");
  EXPECT_TRUE(sent_.empty());  // pending alerts are never sent
  tsdb::Labels alerts_pending =
      L({{"__name__", "ALERTS"},
         {"alertname", "Nginx 100 active connections"},
         {"alertstate", "pending"},
         {"instance", "192.168.121.174:9113"},
         {"job", "nginx"},
         {"severity", "critical"}});
  ASSERT_TRUE(Latest(storage_, alerts_pending, t1).has_value());
  tsdb::Labels for_state = L({{"__name__", "ALERTS_FOR_STATE"},
                              {"alertname", "Nginx 100 active connections"},
                              {"instance", "192.168.121.174:9113"},
                              {"job", "nginx"},
                              {"severity", "critical"}});
  EXPECT_EQ(Latest(storage_, for_state, t1)->v, static_cast<double>(t1 / 1000));

  int64_t t2 = Step(m.get());
  alerts = m->Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].state, AlertState::kFiring);
  EXPECT_EQ(alerts[0].fired_at_ms, t2);
  ASSERT_EQ(sent_.size(), 1u);
  ASSERT_EQ(sent_[0].size(), 1u);
  EXPECT_EQ(sent_[0][0].starts_at_ms, t2);
  EXPECT_EQ(sent_[0][0].ends_at_ms, t2 + 4 * kMin);
  EXPECT_EQ(sent_[0][0].generator_url,
            "http://prometheus:9090/graph?g0.expr=nginx_connections_active%"
            "7Bjob%3D%22nginx%22%7D+%3E%3D+100&g0.tab=1");
  // The pending ALERTS series went stale when the alert started firing.
  std::vector<tsdb::Sample> pend = SamplesOf(storage_, alerts_pending);
  ASSERT_FALSE(pend.empty());
  EXPECT_TRUE(tsdb::IsStaleNaN(pend.back().v));

  Step(m.get());  // resend delay (1m) not exceeded yet
  EXPECT_EQ(sent_.size(), 1u);
  Step(m.get());
  EXPECT_EQ(sent_.size(), 2u);

  on = false;
  int64_t t5 = Step(m.get());
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sent_[2][0].state, AlertState::kInactive);
  EXPECT_EQ(sent_[2][0].ends_at_ms, t5);
  EXPECT_EQ(sent_[2][0].starts_at_ms, t2);
  EXPECT_TRUE(m->Alerts().empty());  // resolved alerts are not listed
  ASSERT_EQ(m->Groups()[0].rules[0].alerts.size(), 1u);  // but retained

  // Re-sent as resolved while retained (15m), then dropped.
  size_t before = sent_.size();
  for (int i = 0; i < 16; ++i) Step(m.get());
  EXPECT_GT(sent_.size(), before + 5);
  EXPECT_TRUE(m->Groups()[0].rules[0].alerts.empty());
  EXPECT_EQ(m->Groups()[0].rules[0].health, RuleHealth::kGood);
}

TEST_F(RulesTest, PendingAlertsThatVanishAreDropped) {
  bool on = true;
  exprs_["up == 0"] = While(&on, L({{"job", "a"}}), 0);
  auto m = Manager(R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
)");
  Step(m.get());
  Step(m.get());
  on = false;
  Step(m.get());
  EXPECT_TRUE(m->Groups()[0].rules[0].alerts.empty());
  EXPECT_TRUE(sent_.empty());
  ASSERT_EQ(changed_.size(), 2u);
  EXPECT_EQ(changed_[0].state, AlertState::kPending);
  EXPECT_EQ(changed_[1].state, AlertState::kInactive);
  EXPECT_EQ(changed_[1].labels.Get("alertname"), "Down");
}

TEST_F(RulesTest, ForZeroFiresImmediately) {
  bool on = true;
  exprs_["up == 0"] = While(&on, L({{"job", "a"}}), 0);
  auto m = Manager(R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
)");
  Step(m.get());
  ASSERT_EQ(m->Alerts().size(), 1u);
  EXPECT_EQ(m->Alerts()[0].state, AlertState::kFiring);
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(RulesTest, KeepFiringFor) {
  bool on = true;
  exprs_["up == 0"] = While(&on, L({{"job", "a"}}), 0);
  auto m = Manager(R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        keep_firing_for: 2m
)");
  Step(m.get());
  on = false;
  Step(m.get());  // vanished: keeps firing (0 < 2m)
  EXPECT_EQ(m->Alerts()[0].state, AlertState::kFiring);
  Step(m.get());  // 1m < 2m
  EXPECT_EQ(m->Alerts()[0].state, AlertState::kFiring);
  on = true;
  Step(m.get());  // back: keep_firing_since resets
  on = false;
  Step(m.get());
  Step(m.get());
  EXPECT_EQ(m->Alerts().size(), 1u);
  int64_t t = Step(m.get());  // 2m since vanished: resolved
  EXPECT_TRUE(m->Alerts().empty());
  EXPECT_EQ(m->Groups()[0].rules[0].alerts[0].resolved_at_ms, t);
}

TEST_F(RulesTest, RecordingRuleOutputVisibleToLaterRules) {
  tsdb::Labels rec = L({{"__name__", "job:x:sum"}, {"team", "a"}});
  exprs_["sum(x)"] = [](int64_t t) {
    return promql::Vector{{tsdb::Labels(), t, 5}};
  };
  exprs_["job:x:sum > 1"] = [this, rec](int64_t t) {
    promql::Vector out;
    std::optional<tsdb::Sample> s = Latest(storage_, rec, t);
    if (s && s->t == t && s->v > 1) out.push_back({rec, t, s->v});
    return out;
  };
  auto m = Manager(R"(
groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum(x)
        labels:
          team: a
      - alert: XHigh
        expr: job:x:sum > 1
)");
  int64_t t = Step(m.get());
  ASSERT_EQ(m->Alerts().size(), 1u);
  EXPECT_EQ(m->Alerts()[0].labels.ToString(),
            "{alertname=\"XHigh\", team=\"a\"}");
  EXPECT_EQ(Latest(storage_, rec, t)->v, 5);
}

TEST_F(RulesTest, LimitAndQueryErrorsMarkRuleUnhealthy) {
  exprs_["two"] = [](int64_t t) {
    return promql::Vector{{L({{"a", "1"}}), t, 1}, {L({{"a", "2"}}), t, 1}};
  };
  auto m = Manager(R"(
groups:
  - name: g
    limit: 1
    rules:
      - alert: Two
        expr: two
      - alert: Broken
        expr: nosuchexpr
      - record: rec
        expr: two
)");
  Step(m.get());
  std::vector<GroupStatus> gs = m->Groups();
  ASSERT_EQ(gs[0].rules.size(), 3u);
  EXPECT_EQ(gs[0].rules[0].health, RuleHealth::kBad);
  EXPECT_EQ(gs[0].rules[0].last_error, "exceeded limit of 1 with 2 alerts");
  EXPECT_TRUE(gs[0].rules[0].alerts.empty());
  EXPECT_EQ(gs[0].rules[1].health, RuleHealth::kBad);
  EXPECT_EQ(gs[0].rules[1].last_error, "unknown expression");
  EXPECT_EQ(gs[0].rules[2].last_error, "exceeded limit of 1 with 2 series");
  EXPECT_EQ(gs[0].evaluation_failures, 3);
  EXPECT_EQ(gs[0].iterations_total, 1);
}

TEST_F(RulesTest, DuplicateLabelsetAfterAlertLabelsIsAnError) {
  exprs_["x"] = [](int64_t t) {
    return promql::Vector{{L({{"__name__", "a"}}), t, 1},
                          {L({{"__name__", "b"}}), t, 1}};
  };
  auto m = Manager(R"(
groups:
  - name: g
    rules:
      - alert: X
        expr: x
)");
  Step(m.get());
  EXPECT_EQ(m->Groups()[0].rules[0].last_error,
            "vector contains metrics with the same labelset after applying "
            "alert labels");
}

TEST_F(RulesTest, MissedIterationsAreCounted) {
  exprs_["x"] = [](int64_t) { return promql::Vector{}; };
  auto m =
      Manager("groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n");
  Step(m.get());
  clock_.AdvanceMs(5 * kMin + 10);
  m->EvaluateDue();
  GroupStatus g = m->Groups()[0];
  EXPECT_EQ(g.iterations_total, 2);
  EXPECT_EQ(g.iterations_missed, 4);
}

TEST_F(RulesTest, ReloadKeepsStateOfUnchangedRules) {
  bool on = true;
  exprs_["up == 0"] = While(&on, L({{"job", "a"}}), 0);
  exprs_["up == 2"] = While(&on, L({{"job", "b"}}), 2);
  const char kV1[] = R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 10m
      - alert: Other
        expr: up == 2
        for: 10m
)";
  auto m = Manager(kV1);
  int64_t t1 = Step(m.get());
  Step(m.get());
  absl::StatusOr<RuleFile> f = ParseRuleFile(R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 10m
      - alert: Other
        expr: up == 2
        for: 20m
)",
                                             "rules.yml", nullptr);
  ASSERT_TRUE(m->UpdateParsed({*f}).ok());
  Step(m.get());
  std::vector<GroupStatus> gs = m->Groups();
  EXPECT_EQ(gs[0].rules[0].alerts[0].active_at_ms, t1);  // kept
  EXPECT_GT(gs[0].rules[1].alerts[0].active_at_ms, t1);  // changed: reset
  EXPECT_EQ(gs[0].iterations_total, 3);
}

TEST_F(RulesTest, RemovedRuleSeriesGetStalenessMarkers) {
  exprs_["x"] = [](int64_t t) {
    return promql::Vector{{L({{"job", "a"}}), t, 1}};
  };
  auto m =
      Manager("groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n");
  Step(m.get());
  tsdb::Labels series = L({{"__name__", "r"}, {"job", "a"}});
  ASSERT_EQ(SamplesOf(storage_, series).size(), 1u);
  clock_.AdvanceMs(1000);
  ASSERT_TRUE(m->UpdateParsed({}).ok());
  std::vector<tsdb::Sample> s = SamplesOf(storage_, series);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(tsdb::IsStaleNaN(s[1].v));
}

TEST_F(RulesTest, RestartRestoresForStateOfLongPendingAlert) {
  bool on = true;
  exprs_["up == 0"] = While(&on, L({{"job", "a"}}), 0);
  const char kRules[] = R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 30m
)";
  restore_ = true;
  int64_t t1, last;
  {
    auto m = Manager(kRules);
    t1 = Step(m.get());
    for (int i = 0; i < 9; ++i) last = Step(m.get());
    EXPECT_EQ(m->Alerts()[0].state, AlertState::kPending);
  }
  // Down for 3 minutes, then a fresh manager over the same storage.
  clock_.SetMs(last + 3 * kMin - 1);
  auto m2 = Manager(kRules);
  Step(m2.get());
  int64_t ts = Step(m2.get());  // restored after the second evaluation
  std::vector<Alert> a = m2->Alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].state, AlertState::kPending);
  // Pending time before the crash counts; the outage does not.
  int64_t expected = t1 + (ts - last);
  EXPECT_NEAR(static_cast<double>(a[0].active_at_ms),
              static_cast<double>(expected), 1000.0);
  // Fires 30m of pending time after t1, not 30m after the restart.
  int fired_after = 0;
  while (m2->Alerts()[0].state != AlertState::kFiring && fired_after < 60) {
    Step(m2.get());
    ++fired_after;
  }
  EXPECT_EQ(fired_after, 21);  // 30m - 9m pending before the crash
}

TEST_F(RulesTest, RestartWithShortRemainingUsesGracePeriod) {
  bool on = true;
  exprs_["up == 0"] = While(&on, L({{"job", "a"}}), 0);
  const char kRules[] = R"(
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 15m
)";
  restore_ = true;
  int64_t last = 0;
  {
    auto m = Manager(kRules);
    for (int i = 0; i < 10; ++i) last = Step(m.get());
  }
  clock_.SetMs(last + kMin);
  auto m2 = Manager(kRules);
  Step(m2.get());
  int64_t ts = Step(m2.get());
  // 9m spent of 15m: 6m remain < 10m grace, so it fires 10m after restore.
  EXPECT_EQ(m2->Alerts()[0].active_at_ms, ts + 10 * kMin - 15 * kMin);
}

TEST_F(RulesTest, GroupEvalTimestampIsStable) {
  int64_t a = GroupEvalTimestamp("f", "g", kMin, kT0);
  EXPECT_LE(a, kT0);
  EXPECT_GT(a, kT0 - kMin);
  EXPECT_EQ(GroupEvalTimestamp("f", "g", kMin, kT0 + 7 * kMin), a + 7 * kMin);
  EXPECT_EQ(GroupEvalTimestamp("f", "g", kMin, a), a);
}

}  // namespace
}  // namespace vigil::alerting
