// The smallest useful program on Vigil from another workspace: keep a
// queue's depth in memory, ask PromQL about it, and get called when an
// alert fires. Prints what happened; exits non-zero if anything failed.
#include <cstdio>
#include <memory>
#include <vector>

#include "vigil/monitor.h"

int main() {
  vigil::MonitorOptions options;  // in memory
  options.evaluation_interval = absl::Seconds(10);
  // Simulated time: rule schedules and retention follow this clock.
  constexpr int64_t t0 = 1'700'000'000'000;
  int64_t now = t0;
  options.now_ms = [&now] { return now; };
  absl::StatusOr<std::unique_ptr<vigil::Monitor>> m =
      vigil::Monitor::Open(options);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
    return 1;
  }
  absl::Status s = (*m)->AddAlertRule(
      "queues", "QueueTooDeep", "max(queue_depth) > 100", absl::ZeroDuration());
  int fired = 0;
  (*m)->Subscribe([&](const std::vector<vigil::AlertEvent>& events) {
    for (const vigil::AlertEvent& e : events) {
      std::printf("%s %s value=%g\n", e.alert_name.c_str(),
                  vigil::AlertStatusString(e.status), e.value);
      if (e.status == vigil::AlertEvent::Status::kFiring) ++fired;
    }
  });
  for (int i = 0; s.ok() && i < 10; ++i) {
    const int64_t t = now = t0 + i * 10'000;
    s = (*m)->Append({{"__name__", "queue_depth"}, {"queue", "jobs"}}, t,
                     40.0 * i);
    if (s.ok()) s = (*m)->EvaluateRulesNow(t);
  }
  absl::StatusOr<vigil::QueryResult> r =
      (*m)->Query("max_over_time(queue_depth[1m])", t0 + 50'000);
  if (!s.ok() || !r.ok()) {
    std::fprintf(stderr, "%s\n", (!s.ok() ? s : r.status()).ToString().c_str());
    return 1;
  }
  const vigil::Vector* v = std::get_if<vigil::Vector>(&r->value);
  if (v == nullptr || v->size() != 1) return 1;
  std::printf("max depth in the last minute: %g\n", (*v)[0].v);
  return fired == 1 ? 0 : 1;
}
