#include "alerting/rules/engine_query.h"

#include "alerting/clock.h"
#include "alerting/rules/manager.h"
#include "gtest/gtest.h"
#include "promql/engine.h"
#include "promql/testing/test_storage.h"

namespace vigil::alerting {
namespace {

constexpr int64_t kT0 = 1714152000000;
constexpr int64_t kMin = 60000;

tsdb::Labels L(std::vector<tsdb::Label> p) {
  return *tsdb::Labels::FromPairs(std::move(p));
}

// Rules evaluated by the real PromQL engine over storage the rules also
// write to: recording-rule output feeds a later alerting rule, and ALERTS
// is queryable afterwards.
TEST(EngineQueryTest, SeedRulesAgainstRealEngine) {
  promql::testing::TestStorage st;
  tsdb::Labels conn = L({{"__name__", "nginx_connections_active"},
                         {"instance", "192.168.121.174:9113"},
                         {"job", "nginx"}});
  for (int64_t t = kT0 - 10 * kMin; t <= kT0 + 10 * kMin; t += 15000) {
    st.Add(conn, t, 150);
  }
  promql::Engine engine(promql::EngineOptions{}, &st);
  FakeClock clock(kT0);
  RuleManagerOptions o;
  o.query = EngineQueryFunc(&engine);
  o.appendable = &st;
  o.clock = &clock;
  RuleManager m(o);
  absl::StatusOr<RuleFile> extra = ParseRuleFile(R"(
groups:
  - name: rec
    rules:
      - record: job:nginx_connections_active:sum
        expr: sum by (job) (nginx_connections_active)
      - alert: JobBusy
        expr: job:nginx_connections_active:sum > 100
        annotations:
          summary: '{{ $labels.job }} has {{ $value }} connections'
)",
                                                 "extra.yml", nullptr);
  ASSERT_TRUE(extra.ok()) << extra.status();
  absl::StatusOr<RuleFile> nginx =
      LoadRuleFile("testdata/rules/nginx.yml", nullptr);
  ASSERT_TRUE(nginx.ok());
  ASSERT_TRUE(m.UpdateParsed({*nginx, *extra}).ok());
  for (int i = 0; i < 3; ++i) {
    clock.AdvanceMs(kMin);
    m.EvaluateDue();
  }
  std::vector<Alert> alerts = m.Alerts();
  ASSERT_EQ(alerts.size(), 2u);
  for (const Alert& a : alerts) {
    EXPECT_EQ(a.state, AlertState::kFiring) << a.labels.ToString();
  }
  std::vector<GroupStatus> gs = m.Groups();
  for (const GroupStatus& g : gs) {
    for (const RuleStatus& r : g.rules) {
      EXPECT_EQ(r.health, RuleHealth::kGood) << r.last_error;
    }
  }
  absl::StatusOr<promql::QueryResult> q =
      engine.InstantQuery("ALERTS{alertstate=\"firing\"}", clock.NowMs());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(std::get<promql::Vector>(q->value).size(), 2u);
  // Scalars are wrapped; strings are rejected.
  QueryFunc f = EngineQueryFunc(&engine);
  absl::StatusOr<promql::Vector> s = f("1 + 1", kT0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[0].v, 2);
  EXPECT_FALSE(f("\"x\"", kT0).ok());
}

}  // namespace
}  // namespace vigil::alerting
