// The complete example of docs/embedding.md: an auto-scaler that keeps
// Vigil in-process. It appends a response-time histogram (a real one would
// call AddScrapeTarget or ApplyConfig and Start()), asks the scale-up
// question in PromQL, and gets scale-up alerts through a callback.
//
// Run: bazel run //vigil:example_embed   (exits 0 when everything worked)
#include <cstdio>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/time/clock.h"
#include "vigil/monitor.h"

namespace {

constexpr char kScaleUp[] =
    "sum(rate(http_server_resp_time_bucket{job=\"go-demo_main\", "
    "le=\"0.1\"}[5m])) / sum(rate(http_server_resp_time_count{job=\"go-demo_"
    "main\"}[5m])) < 0.99";

int Fail(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  vigil::MonitorOptions options;  // in memory; set data_dir to persist
  options.evaluation_interval = absl::Seconds(15);
  absl::StatusOr<std::unique_ptr<vigil::Monitor>> opened =
      vigil::Monitor::Open(options);
  if (!opened.ok()) return Fail("open", opened.status());
  vigil::Monitor& monitor = **opened;

  // 1. Data: 10 minutes of a histogram where 90% of requests take < 0.1s.
  const int64_t now = absl::ToUnixMillis(absl::Now());
  const int64_t start = now - 10 * 60'000;
  std::unique_ptr<vigil::Appender> app = monitor.NewAppender();
  auto bucket = vigil::MakeLabels({{"__name__", "http_server_resp_time_bucket"},
                                   {"job", "go-demo_main"},
                                   {"le", "0.1"}});
  auto count = vigil::MakeLabels(
      {{"__name__", "http_server_resp_time_count"}, {"job", "go-demo_main"}});
  if (!bucket.ok()) return Fail("labels", bucket.status());
  if (!count.ok()) return Fail("labels", count.status());
  vigil::SeriesRef bucket_ref = 0, count_ref = 0;
  for (int i = 0; i <= 40; ++i) {
    const int64_t t = start + i * 15'000;
    absl::StatusOr<vigil::SeriesRef> r =
        app->Append(bucket_ref, *bucket, t, 9.0 * i);
    if (!r.ok()) return Fail("append", r.status());
    bucket_ref = *r;
    r = app->Append(count_ref, *count, t, 10.0 * i);
    if (!r.ok()) return Fail("append", r.status());
    count_ref = *r;
  }
  if (absl::Status s = app->Commit(); !s.ok()) return Fail("commit", s);

  // 2. Ask the question directly.
  absl::StatusOr<vigil::QueryResult> result = monitor.Query(kScaleUp, now);
  if (!result.ok()) return Fail("query", result.status());
  const vigil::Vector& v = std::get<vigil::Vector>(result->value);
  if (v.size() != 1) return Fail("query", absl::InternalError("no result"));
  std::printf("fast-response ratio: %.3f (below 0.99: scale up)\n", v[0].v);

  // 3. Or let a rule decide and call back.
  absl::Status s = monitor.AddAlertRule(
      "autoscaler", "ScaleUp", kScaleUp, absl::ZeroDuration(),
      {{"service", "go-demo"}},
      {{"summary",
        "only {{ $value | humanizePercentage }} of requests are fast"}});
  if (!s.ok()) return Fail("rule", s);
  int fired = 0;
  monitor.Subscribe([&fired](const std::vector<vigil::AlertEvent>& events) {
    for (const vigil::AlertEvent& e : events) {
      std::printf("alert %s is %s: %s\n", e.alert_name.c_str(),
                  vigil::AlertStatusString(e.status),
                  std::string(e.annotations.Get("summary")).c_str());
      if (e.status == vigil::AlertEvent::Status::kFiring) ++fired;
    }
  });
  // Deterministic evaluation; a service would call monitor.Start() instead.
  for (int64_t t = now - 30'000; t <= now + 15'000 && fired == 0; t += 15'000) {
    if (absl::Status es = monitor.EvaluateRulesNow(t); !es.ok()) {
      return Fail("evaluate", es);
    }
  }
  if (fired == 0) return Fail("alerts", absl::InternalError("never fired"));
  return monitor.Close().ok() ? 0 : 1;
}
