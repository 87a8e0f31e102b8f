// Checks, from outside the Vigil workspace, that the public API links and
// behaves: samples in, PromQL out, alert callbacks.
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "vigil/monitor.h"

namespace {

TEST(ExternalWorkspaceTest, AppendQueryAndAlert) {
  vigil::MonitorOptions options;
  options.evaluation_interval = absl::Seconds(10);
  // Simulated time: rule schedules and retention follow this clock.
  constexpr int64_t t0 = 1'700'000'000'000;
  int64_t now = t0;
  options.now_ms = [&now] { return now; };
  auto m = vigil::Monitor::Open(options);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->AddAlertRule("queues", "QueueTooDeep",
                                 "sum(queue_depth) > 100", absl::Seconds(20),
                                 {{"severity", "page"}})
                  .ok());
  std::vector<vigil::AlertEvent> seen;
  (*m)->Subscribe([&](const std::vector<vigil::AlertEvent>& events) {
    seen.insert(seen.end(), events.begin(), events.end());
  });
  for (int i = 0; i < 10; ++i) {
    const int64_t t = now = t0 + i * 10'000;
    ASSERT_TRUE(
        (*m)->Append({{"__name__", "queue_depth"}, {"queue", "a"}}, t, 30.0 * i)
            .ok());
    ASSERT_TRUE((*m)->EvaluateRulesNow(t).ok());
  }
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front().status, vigil::AlertEvent::Status::kPending);
  EXPECT_EQ(seen.back().status, vigil::AlertEvent::Status::kFiring);
  EXPECT_EQ(seen.back().labels.Get("severity"), "page");

  auto r = (*m)->Query("sum(queue_depth)", t0 + 50'000);
  ASSERT_TRUE(r.ok()) << r.status();
  const vigil::Vector* v = std::get_if<vigil::Vector>(&r->value);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].v, 150);

  // Errors name the expression and the place.
  auto bad = (*m)->Query("sum(queue_depth", t0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("sum(queue_depth"),
            absl::string_view::npos);
}

}  // namespace
