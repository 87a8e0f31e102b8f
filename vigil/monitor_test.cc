#include "vigil/monitor.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/remote/sender/internal/fake_receiver.h"
#include "server/scrape/internal/test_exporter.h"

namespace vigil {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;  // a fixed "now" for fake clocks
constexpr int64_t kMinute = 60'000;

MonitorOptions FakeClockOptions(std::atomic<int64_t>* now) {
  MonitorOptions o;
  o.now_ms = [now] { return now->load(); };
  return o;
}

std::unique_ptr<Monitor> OpenOrDie(const MonitorOptions& o) {
  absl::StatusOr<std::unique_ptr<Monitor>> m = Monitor::Open(o);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

std::string TempDirFor(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/vigil_monitor_", name, "_",
                      getpid());
}

TEST(MonitorTest, InMemoryAppendInstantAndRangeQuery) {
  std::atomic<int64_t> now{kT0};
  auto m = OpenOrDie(FakeClockOptions(&now));
  ASSERT_NE(m, nullptr);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(m->Append({{"__name__", "queue_depth"}, {"queue", "jobs"}},
                          kT0 + i * 15'000, i * 2.0)
                    .ok());
  }
  absl::StatusOr<QueryResult> r = m->Query("queue_depth", kT0 + 9 * 15'000);
  ASSERT_TRUE(r.ok()) << r.status();
  const Vector* v = std::get_if<Vector>(&r->value);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].v, 18.0);
  EXPECT_EQ((*v)[0].metric.Get("queue"), "jobs");

  r = m->Query("sum(queue_depth) * 2", kT0 + 30'000);
  ASSERT_TRUE(r.ok()) << r.status();
  v = std::get_if<Vector>(&r->value);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].v, 8.0);

  r = m->QueryRange("queue_depth", kT0, kT0 + 60'000, absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix* mx = std::get_if<Matrix>(&r->value);
  ASSERT_NE(mx, nullptr);
  ASSERT_EQ(mx->size(), 1u);
  ASSERT_EQ((*mx)[0].points.size(), 3u);
  EXPECT_EQ((*mx)[0].points[0].v, 0.0);
  EXPECT_EQ((*mx)[0].points[1].v, 4.0);
  EXPECT_EQ((*mx)[0].points[2].v, 8.0);

  MonitorStats st = m->Stats();
  EXPECT_EQ(st.head_series, 1);
  EXPECT_EQ(st.samples_appended, 10);
  EXPECT_TRUE(m->Close().ok());
  EXPECT_TRUE(m->Close().ok());
  EXPECT_EQ(m->Query("queue_depth", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MonitorTest, BatchAppenderReusesRefs) {
  std::atomic<int64_t> now{kT0};
  auto m = OpenOrDie(FakeClockOptions(&now));
  ASSERT_NE(m, nullptr);
  absl::StatusOr<Labels> l = MakeLabels({{"__name__", "x"}, {"a", "1"}});
  ASSERT_TRUE(l.ok());
  std::unique_ptr<Appender> app = m->NewAppender();
  absl::StatusOr<SeriesRef> ref = app->Append(0, *l, kT0, 1);
  ASSERT_TRUE(ref.ok());
  ASSERT_TRUE(app->Append(*ref, *l, kT0 + 1000, 2).ok());
  ASSERT_TRUE(app->Commit().ok());
  absl::StatusOr<QueryResult> r = m->Query("x", kT0 + 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Vector>(r->value).at(0).v, 2.0);
  // Out of order is reported, naming the series.
  absl::Status s = m->Append(*l, kT0, 5);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "a=\"1\"")) << s;
}

// The auto-scaler's scale-up query from the seeds over histogram data:
// 90% of responses under 0.1s, so the ratio 0.9 passes "< 0.99".
TEST(MonitorTest, ScaleUpQueryOverHistogram) {
  std::atomic<int64_t> now{kT0};
  auto m = OpenOrDie(FakeClockOptions(&now));
  ASSERT_NE(m, nullptr);
  std::unique_ptr<Appender> app = m->NewAppender();
  auto bucket = MakeLabels({{"__name__", "http_server_resp_time_bucket"},
                            {"job", "go-demo_main"},
                            {"le", "0.1"}});
  auto inf = MakeLabels({{"__name__", "http_server_resp_time_bucket"},
                         {"job", "go-demo_main"},
                         {"le", "+Inf"}});
  auto count = MakeLabels(
      {{"__name__", "http_server_resp_time_count"}, {"job", "go-demo_main"}});
  auto other = MakeLabels(
      {{"__name__", "http_server_resp_time_count"}, {"job", "other"}});
  ASSERT_TRUE(bucket.ok() && inf.ok() && count.ok() && other.ok());
  const int64_t start = kT0 - 10 * kMinute;
  for (int i = 0; i <= 40; ++i) {
    int64_t t = start + i * 15'000;
    ASSERT_TRUE(app->Append(0, *bucket, t, 9.0 * i).ok());
    ASSERT_TRUE(app->Append(0, *inf, t, 10.0 * i).ok());
    ASSERT_TRUE(app->Append(0, *count, t, 10.0 * i).ok());
    ASSERT_TRUE(app->Append(0, *other, t, 1.0 * i).ok());
  }
  ASSERT_TRUE(app->Commit().ok());
  const char* kQuery =
      "sum(rate(http_server_resp_time_bucket{job=\"go-demo_main\", "
      "le=\"0.1\"}[5m])) / sum(rate(http_server_resp_time_count{job=\"go-"
      "demo_main\"}[5m])) < 0.99";
  absl::StatusOr<QueryResult> r = m->Query(kQuery, kT0);
  ASSERT_TRUE(r.ok()) << r.status();
  const Vector& v = std::get<Vector>(r->value);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NEAR(v[0].v, 0.9, 1e-12);
  EXPECT_TRUE(v[0].metric.empty());
  // The scale-down counterpart does not fire.
  absl::StatusOr<QueryResult> down = m->Query(
      "sum(rate(http_server_resp_time_bucket{job=\"go-demo_main\", "
      "le=\"0.1\"}[5m])) / sum(rate(http_server_resp_time_count{job=\"go-"
      "demo_main\"}[5m])) > 0.999",
      kT0);
  ASSERT_TRUE(down.ok());
  EXPECT_TRUE(std::get<Vector>(down->value).empty());
}

TEST(MonitorTest, AlertRuleWithForGoesPendingFiringResolved) {
  std::atomic<int64_t> now{kT0};
  MonitorOptions o = FakeClockOptions(&now);
  o.evaluation_interval = absl::Minutes(1);
  o.external_url = "http://scaler.example";
  auto m = OpenOrDie(o);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->AddAlertRule("scaling", "HighLoad", "load > 5",
                              absl::Minutes(2), {{"severity", "page"}},
                              {{"summary", "load is {{ $value }}"}})
                  .ok());
  std::vector<AlertEvent> events;
  int id = m->Subscribe([&](const std::vector<AlertEvent>& changed) {
    events.insert(events.end(), changed.begin(), changed.end());
  });
  for (int64_t t = kT0; t <= kT0 + 12 * kMinute; t += 15'000) {
    double v = t <= kT0 + 5 * kMinute ? 10 : 1;
    ASSERT_TRUE(m->Append({{"__name__", "load"}, {"host", "a"}}, t, v).ok());
  }
  std::vector<AlertEvent::Status> seen;
  for (int k = 1; k <= 12; ++k) {
    size_t before = events.size();
    ASSERT_TRUE(m->EvaluateRulesNow(kT0 + k * kMinute).ok());
    for (size_t i = before; i < events.size(); ++i) {
      seen.push_back(events[i].status);
    }
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], AlertEvent::Status::kPending);
  EXPECT_EQ(seen[1], AlertEvent::Status::kFiring);
  EXPECT_EQ(seen[2], AlertEvent::Status::kResolved);
  const AlertEvent& pending = events[0];
  EXPECT_EQ(pending.alert_name, "HighLoad");
  EXPECT_EQ(pending.labels.Get("severity"), "page");
  EXPECT_EQ(pending.labels.Get("host"), "a");
  EXPECT_EQ(pending.annotations.Get("summary"), "load is 10");
  EXPECT_EQ(pending.value, 10);
  EXPECT_EQ(pending.starts_at_ms, 0);
  const AlertEvent& firing = events[1];
  EXPECT_EQ(firing.active_at_ms, pending.active_at_ms);
  EXPECT_GE(firing.starts_at_ms - firing.active_at_ms, 2 * kMinute);
  const AlertEvent& resolved = events[2];
  EXPECT_GT(resolved.ends_at_ms, kT0 + 5 * kMinute);
  EXPECT_EQ(std::string(AlertStatusString(resolved.status)), "resolved");
  // ALERTS series were written like Prometheus does.
  absl::StatusOr<QueryResult> r =
      m->Query("ALERTS{alertname=\"HighLoad\"}", firing.starts_at_ms);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(std::get<Vector>(r->value).size(), 1u);
  EXPECT_EQ(std::get<Vector>(r->value)[0].metric.Get("alertstate"), "firing");

  EXPECT_TRUE(m->Unsubscribe(id));
  EXPECT_FALSE(m->Unsubscribe(id));
  EXPECT_EQ(m->Stats().rules, 1);
}

// Regression: Stats() took the configuration lock that EvaluateRulesNow
// holds, so calling it from an alert callback deadlocked.
TEST(MonitorTest, CallbackMayQueryStatsAndUnsubscribe) {
  std::atomic<int64_t> now{kT0};
  auto m = OpenOrDie(FakeClockOptions(&now));
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(
      m->AddAlertRule("g", "Up", "vector(1)", absl::ZeroDuration()).ok());
  int calls = 0;
  int id = 0;
  id = m->Subscribe([&](const std::vector<AlertEvent>& events) {
    ++calls;
    EXPECT_EQ(events.at(0).status, AlertEvent::Status::kFiring);
    EXPECT_EQ(m->Stats().rules, 1);
    EXPECT_TRUE(m->Query("vector(2)", kT0).ok());
    EXPECT_EQ(m->Alerts().size(), 1u);
    EXPECT_TRUE(m->Unsubscribe(id));
  });
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(m->EvaluateRulesNow(kT0 + k * kMinute).ok());
  }
  EXPECT_EQ(calls, 1);
}

TEST(MonitorTest, RecordingRuleFromYamlText) {
  std::atomic<int64_t> now{kT0};
  auto m = OpenOrDie(FakeClockOptions(&now));
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->LoadRules(R"(groups:
  - name: rec
    interval: 1m
    rules:
      - record: job:load:sum
        expr: sum by (job) (load)
)",
                           "rec.yml")
                  .ok());
  for (int64_t t = kT0; t <= kT0 + 3 * kMinute; t += 15'000) {
    ASSERT_TRUE(
        m->Append({{"__name__", "load"}, {"job", "a"}, {"i", "1"}}, t, 2).ok());
    ASSERT_TRUE(
        m->Append({{"__name__", "load"}, {"job", "a"}, {"i", "2"}}, t, 3).ok());
  }
  ASSERT_TRUE(m->EvaluateRulesNow(kT0 + kMinute).ok());
  ASSERT_TRUE(m->EvaluateRulesNow(kT0 + 2 * kMinute).ok());
  absl::StatusOr<QueryResult> r = m->Query("job:load:sum", kT0 + 2 * kMinute);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(std::get<Vector>(r->value).size(), 1u);
  EXPECT_EQ(std::get<Vector>(r->value)[0].v, 5.0);
}

TEST(MonitorTest, OnDiskReopenKeepsData) {
  std::atomic<int64_t> now{kT0};
  MonitorOptions o = FakeClockOptions(&now);
  o.data_dir = TempDirFor("reopen");
  {
    auto m = OpenOrDie(o);
    ASSERT_NE(m, nullptr);
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(
          m->Append({{"__name__", "persisted"}}, kT0 - 100'000 + i * 1000, i)
              .ok());
    }
    ASSERT_TRUE(m->Close().ok());
  }
  auto m = OpenOrDie(o);
  ASSERT_NE(m, nullptr);
  absl::StatusOr<QueryResult> r = m->Query("persisted", kT0 - 1000);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(std::get<Vector>(r->value).size(), 1u);
  EXPECT_EQ(std::get<Vector>(r->value)[0].v, 99.0);
  r = m->Query("count_over_time(persisted[5m])", kT0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Vector>(r->value).at(0).v, 100.0);
}

TEST(MonitorTest, ScrapesLocalExporterThroughAddScrapeTarget) {
  scrape::testing::TestExporter exporter(
      [](const scrape::testing::TestExporter::Request&) {
        return scrape::testing::TestExporter::Ok(
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total{code=\"200\"} 42\n");
      });
  auto m = OpenOrDie(MonitorOptions{});
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->AddScrapeTarget("demo",
                                 absl::StrCat("127.0.0.1:", exporter.port()),
                                 absl::Milliseconds(200), {{"team", "infra"}})
                  .ok());
  ASSERT_TRUE(m->Start().ok());
  EXPECT_EQ(m->Start().code(), absl::StatusCode::kFailedPrecondition);
  bool found = false;
  for (int i = 0; i < 100 && !found; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    absl::StatusOr<QueryResult> r =
        m->Query("demo_requests_total", absl::ToUnixMillis(absl::Now()));
    ASSERT_TRUE(r.ok()) << r.status();
    const Vector& v = std::get<Vector>(r->value);
    if (v.size() == 1) {
      found = true;
      EXPECT_EQ(v[0].v, 42.0);
      EXPECT_EQ(v[0].metric.Get("job"), "demo");
      EXPECT_EQ(v[0].metric.Get("team"), "infra");
      EXPECT_EQ(v[0].metric.Get("code"), "200");
    }
  }
  EXPECT_TRUE(found);
  absl::StatusOr<QueryResult> up =
      m->Query("up{job=\"demo\"}", absl::ToUnixMillis(absl::Now()));
  ASSERT_TRUE(up.ok());
  ASSERT_EQ(std::get<Vector>(up->value).size(), 1u);
  EXPECT_EQ(std::get<Vector>(up->value)[0].v, 1.0);
  EXPECT_EQ(m->Stats().scrape_targets, 1);
  // While started, the background owns the rule schedule.
  EXPECT_EQ(m->EvaluateRulesNow(0).code(),
            absl::StatusCode::kFailedPrecondition);
  m->Stop();
  m->Stop();
  EXPECT_TRUE(m->EvaluateRulesNow(absl::ToUnixMillis(absl::Now())).ok());
}

TEST(MonitorTest, ErrorsNameThePlace) {
  auto m = OpenOrDie(MonitorOptions{});
  ASSERT_NE(m, nullptr);
  absl::Status s = m->Query("sum(rate(x[5m]", 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "query \"sum(rate(x[5m]\"")) << s;

  s = m->QueryRange("x", 0, 1000, absl::ZeroDuration()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  s = m->LoadRules(
      "groups:\n  - name: g\n    rules:\n      - alert: A\n"
      "        expresion: up == 0\n",
      "bad.yml");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "bad.yml:")) << s;

  s = m->LoadRules(
      "groups:\n  - name: g\n    rules:\n      - alert: A\n"
      "        expr: up ==\n",
      "bad_expr.yml");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "bad_expr.yml:")) << s;

  s = m->AddAlertRule("g", "Broken", "rate(x[5m]", absl::ZeroDuration());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "Broken")) << s;

  s = m->ApplyConfig("global:\n  scrape_interval: banana\n");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "<config>")) << s;

  s = m->Append({{"__name__", "x"}, {"bad-name", "v"}}, 0, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  s = m->AddScrapeTarget("j", "", absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->RemoveScrapeTarget("nope").code(), absl::StatusCode::kNotFound);
  // Failed loads changed nothing.
  EXPECT_EQ(m->Stats().rules, 0);
}

TEST(MonitorTest, ApplyConfigLoadsScrapeJobsAndRuleFiles) {
  std::string dir = TempDirFor("cfg");
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  std::string rules = absl::StrCat(dir, "/rules.yml");
  FILE* f = fopen(rules.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs(
      "groups:\n  - name: g\n    rules:\n      - alert: Down\n"
      "        expr: up == 0\n",
      f);
  fclose(f);
  auto m = OpenOrDie(MonitorOptions{});
  ASSERT_NE(m, nullptr);
  absl::Status s = m->ApplyConfig(absl::StrCat(
      "global:\n  evaluation_interval: 30s\nrule_files:\n  - ", rules,
      "\nscrape_configs:\n  - job_name: node\n    static_configs:\n"
      "      - targets: ['127.0.0.1:1']\n"));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(m->Stats().rules, 1);
}

// Grouped notifications with fake times: group_wait, grouping by labels,
// matchers, repeat_interval, resolved notifications and the webhook fields.
TEST(MonitorTest, GroupedNotificationsFollowAlertmanagerTiming) {
  std::atomic<int64_t> now{kT0};
  MonitorOptions o = FakeClockOptions(&now);
  o.evaluation_interval = absl::Seconds(10);
  o.external_url = "http://vigil.example:9090";
  o.external_labels = {{"cluster", "c1"}};
  std::unique_ptr<Monitor> m = OpenOrDie(o);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->LoadRules(R"(groups:
  - name: scaling
    interval: 10s
    rules:
      - alert: Scale
        expr: signal > 0
        labels: {receiver: system}
        annotations: {summary: "scale {{ $labels.scale }} {{ $labels.service }}"}
)",
                           "scaling.yml")
                  .ok());

  NotificationOptions no;
  no.receiver = "scaler";
  no.group_by = {"service", "scale"};
  no.matchers = {"scale=~\"up|down\""};
  no.group_wait = absl::Seconds(30);
  no.group_interval = absl::Minutes(1);
  no.repeat_interval = absl::Minutes(5);
  struct Got {
    int64_t t;
    GroupNotification n;
  };
  std::vector<Got> got;
  absl::StatusOr<int> id =
      m->SubscribeNotifications(no, [&](const GroupNotification& n) {
        got.push_back({now.load(), n});
      });
  ASSERT_TRUE(id.ok()) << id.status();

  // Three series: scale=up and scale=down fire, scale=no is filtered out by
  // the matcher. "up" stops after 8 minutes.
  auto step = [&](int64_t t) {
    now = t;
    for (const char* scale : {"up", "down", "no"}) {
      double v = 1;
      if (std::string(scale) == "up" && t >= kT0 + 8 * kMinute) v = 0;
      ASSERT_TRUE(
          m->Append(
               {{"__name__", "signal"}, {"service", "api"}, {"scale", scale}},
               t, v)
              .ok());
    }
    ASSERT_TRUE(m->EvaluateRulesNow(t).ok());
  };
  for (int64_t t = kT0; t <= kT0 + 12 * kMinute; t += 10'000) step(t);

  std::string trace;
  for (const Got& g : got) {
    absl::StrAppend(&trace, (g.t - kT0) / 1000, "s ", g.n.group_key, " ",
                    g.n.status, "\n");
  }
  std::vector<Got> up, down;
  for (const Got& g : got) {
    EXPECT_EQ(g.n.group_labels.Get("service"), "api") << trace;
    (g.n.group_labels.Get("scale") == "up" ? up : down).push_back(g);
    EXPECT_NE(g.n.group_labels.Get("scale"), "no") << trace;
  }
  // Firing at once (for 0) after the first evaluation; notified after
  // group_wait; again only after repeat_interval; "up" resolves at 8m and
  // is notified at the next group_interval flush.
  ASSERT_GE(up.size(), 3u) << trace;
  ASSERT_GE(down.size(), 2u) << trace;
  const int64_t first = up[0].t - kT0;
  EXPECT_GE(first, 30'000) << trace;
  EXPECT_LE(first, 50'000) << trace;
  EXPECT_EQ(down[0].t, up[0].t) << trace;
  EXPECT_GE(up[1].t - up[0].t, 5 * kMinute) << trace;
  EXPECT_LE(up[1].t - up[0].t, 6 * kMinute) << trace;
  EXPECT_EQ(up[1].n.status, "firing") << trace;
  const Got& resolved = up.back();
  EXPECT_EQ(resolved.n.status, "resolved") << trace;
  EXPECT_GE(resolved.t - kT0, 8 * kMinute) << trace;
  EXPECT_LE(resolved.t - kT0, 9 * kMinute + 10'000) << trace;
  for (const Got& g : down) EXPECT_EQ(g.n.status, "firing") << trace;

  // The payload of the first notification, field by field.
  const GroupNotification& n = up[0].n;
  EXPECT_EQ(n.receiver, "scaler");
  EXPECT_EQ(n.external_url, "http://vigil.example:9090");
  EXPECT_EQ(n.group_key, "{}:{scale=\"up\", service=\"api\"}");
  EXPECT_EQ(n.truncated_alerts, 0u);
  EXPECT_EQ(n.common_labels.Get("cluster"), "c1");
  EXPECT_EQ(n.common_labels.Get("alertname"), "Scale");
  EXPECT_EQ(n.common_annotations.Get("summary"), "scale up api");
  ASSERT_EQ(n.alerts.size(), 1u);
  const NotifiedAlert& a = n.alerts[0];
  EXPECT_EQ(a.status, "firing");
  EXPECT_EQ(a.labels.Get("receiver"), "system");
  EXPECT_EQ(a.labels.Get("cluster"), "c1");
  EXPECT_GE(a.starts_at_ms, kT0);
  EXPECT_EQ(a.ends_at_ms, 0);  // Go's zero time in the webhook
  EXPECT_EQ(a.fingerprint.size(), 16u);
  EXPECT_TRUE(absl::StartsWith(a.generator_url,
                               "http://vigil.example:9090/graph?g0.expr="))
      << a.generator_url;
  ASSERT_EQ(resolved.n.alerts.size(), 1u);
  EXPECT_EQ(resolved.n.alerts[0].status, "resolved");
  EXPECT_GE(resolved.n.alerts[0].ends_at_ms, kT0 + 8 * kMinute);

  // After unsubscribing nothing more arrives.
  EXPECT_TRUE(m->UnsubscribeNotifications(*id));
  EXPECT_FALSE(m->UnsubscribeNotifications(*id));
  size_t before = got.size();
  for (int64_t t = kT0 + 12 * kMinute + 10'000; t <= kT0 + 20 * kMinute;
       t += 10'000) {
    step(t);
  }
  EXPECT_EQ(got.size(), before);
}

TEST(MonitorTest, SubscribeNotificationsRejectsBadOptions) {
  std::unique_ptr<Monitor> m = OpenOrDie(MonitorOptions());
  ASSERT_NE(m, nullptr);
  NotificationOptions no;
  no.matchers = {"scale=~\"(\""};
  absl::StatusOr<int> id = m->SubscribeNotifications(no, nullptr);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("matcher"), absl::string_view::npos)
      << id.status();
  no.matchers.clear();
  no.group_interval = absl::ZeroDuration();
  EXPECT_EQ(m->SubscribeNotifications(no, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Background mode: the dispatcher's own thread delivers, and Stop() stops
// it; a callback may unsubscribe itself.
TEST(MonitorTest, NotificationsInBackgroundAndSelfUnsubscribe) {
  MonitorOptions o;
  o.evaluation_interval = absl::Milliseconds(100);
  std::unique_ptr<Monitor> m = OpenOrDie(o);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->AddAlertRule("g", "Always", "vector(1)", absl::ZeroDuration(),
                              {{"team", "a"}})
                  .ok());
  NotificationOptions no;
  no.group_wait = absl::Milliseconds(50);
  no.group_interval = absl::Milliseconds(100);
  no.repeat_interval = absl::Milliseconds(100);
  std::atomic<int> calls{0};
  std::atomic<int> my_id{-1};
  Monitor* mp = m.get();
  absl::StatusOr<int> id =
      m->SubscribeNotifications(no, [&](const GroupNotification& n) {
        EXPECT_EQ(n.alerts.size(), 1u);
        if (calls.fetch_add(1) == 0) {
          while (my_id.load() < 0) {
          }
          EXPECT_TRUE(mp->UnsubscribeNotifications(my_id.load()));
        }
      });
  ASSERT_TRUE(id.ok());
  my_id = *id;
  ASSERT_TRUE(m->Start().ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (calls.load() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(500));
  m->Stop();
  EXPECT_EQ(calls.load(), 1);
}

TEST(MonitorTest, RemoteWriteStreamsAppendedSamplesAcrossConfigChanges) {
  // Within retention of the wall clock.
  const int64_t t0 = absl::ToUnixMillis(absl::Now());
  server::remote::sender::testing::FakeReceiver receiver;
  const std::string rw_config = absl::StrCat(
      "global:\n"
      "  external_labels:\n"
      "    site: europe\n"
      "remote_write:\n"
      "  - url: ",
      receiver.url(),
      "\n"
      "    name: central\n"
      "    queue_config:\n"
      "      batch_send_deadline: 50ms\n");
  MonitorOptions o;
  o.data_dir = TempDirFor("remote_write");
  std::unique_ptr<Monitor> m = OpenOrDie(o);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->ApplyConfig(rw_config).ok());
  // Appended before Start(): queued, sent once started.
  ASSERT_TRUE(m->Append({{"__name__", "queue_depth"}}, t0, 1).ok());
  ASSERT_TRUE(m->Start().ok());
  std::unique_ptr<Appender> app = m->NewAppender();
  ASSERT_TRUE(
      app->Append(0, *MakeLabels({{"__name__", "queue_depth"}}), t0 + 1000, 2)
          .ok());
  ASSERT_TRUE(app->Commit().ok());
  // A rolled-back batch is not forwarded.
  app = m->NewAppender();
  ASSERT_TRUE(
      app->Append(0, *MakeLabels({{"__name__", "rolled_back"}}), t0 + 1000, 9)
          .ok());
  app->Rollback();
  // Rejected by storage (out of order): not forwarded either.
  EXPECT_FALSE(m->Append({{"__name__", "queue_depth"}}, t0 + 500, 3).ok());
  ASSERT_TRUE(receiver.WaitForSamples(2, absl::Seconds(20)));
  std::vector<server::remote::sender::testing::FakeReceiver::Got> got =
      receiver.samples();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].series, "{__name__=\"queue_depth\", site=\"europe\"}");
  EXPECT_EQ(got[0].t, t0);
  EXPECT_EQ(got[0].v, 1);
  EXPECT_EQ(got[1].t, t0 + 1000);
  EXPECT_EQ(got[1].v, 2);

  // Without remote_write nothing more is sent.
  ASSERT_TRUE(m->ApplyConfig("global:\n  scrape_interval: 15s\n").ok());
  ASSERT_TRUE(m->Append({{"__name__", "queue_depth"}}, t0 + 2000, 4).ok());
  // Back on: the new external label applies to what is appended now.
  absl::Status back_on =
      m->ApplyConfig(absl::StrReplaceAll(rw_config, {{"europe", "usa"}}));
  ASSERT_TRUE(back_on.ok()) << back_on;
  ASSERT_TRUE(m->Append({{"__name__", "queue_depth"}}, t0 + 3000, 5).ok());
  ASSERT_TRUE(receiver.WaitForSamples(3, absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(200));  // nothing unexpected follows
  got = receiver.samples();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].series, "{__name__=\"queue_depth\", site=\"usa\"}");
  EXPECT_EQ(got[2].t, t0 + 3000);
  EXPECT_EQ(got[2].v, 5);
  ASSERT_TRUE(m->Close().ok());
}

TEST(MonitorTest, RemoteWriteQueueThatCannotOpenFailsApplyConfig) {
  // Within retention of the wall clock.
  const int64_t t0 = absl::ToUnixMillis(absl::Now());
  server::remote::sender::testing::FakeReceiver receiver;
  MonitorOptions o;
  o.data_dir = TempDirFor("remote_write_bad_dir");
  std::unique_ptr<Monitor> m = OpenOrDie(o);
  ASSERT_NE(m, nullptr);
  // The queues' parent directory is a plain file.
  FILE* f = fopen((o.data_dir + "/remote_write").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  absl::Status s = m->ApplyConfig(
      absl::StrCat("remote_write:\n  - url: ", receiver.url(), "\n"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("remote_write"), absl::string_view::npos) << s;
  // Still usable, and nothing is streamed.
  ASSERT_TRUE(m->Start().ok());
  EXPECT_TRUE(m->Append({{"__name__", "x"}}, t0, 1).ok());
  EXPECT_FALSE(receiver.WaitForSamples(1, absl::Milliseconds(300)));
  ASSERT_TRUE(m->Close().ok());
}

// remote_write's metadata_config: the scrape targets' TYPE/HELP/UNIT
// reach the destination while the Monitor runs.
TEST(MonitorTest, RemoteWriteSendsScrapedMetadata) {
  scrape::testing::TestExporter exporter(
      [](const scrape::testing::TestExporter::Request&) {
        return scrape::testing::TestExporter::Ok(
            "# HELP demo_requests_total Requests served.\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total 42\n");
      });
  server::remote::sender::testing::FakeReceiver receiver;
  auto m = OpenOrDie(MonitorOptions{});
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(
      m->ApplyConfig(absl::StrCat("remote_write:\n  - url: ", receiver.url(),
                                  "\n    metadata_config:\n"
                                  "      send_interval: 200ms\n"))
          .ok());
  ASSERT_TRUE(m->AddScrapeTarget("demo",
                                 absl::StrCat("127.0.0.1:", exporter.port()),
                                 absl::Milliseconds(100))
                  .ok());
  ASSERT_TRUE(m->Start().ok());
  bool found = false;
  for (int i = 0; i < 100 && !found; ++i) {
    for (const auto& md : receiver.metadata()) {
      if (md.family == "demo_requests_total") {
        found = true;
        EXPECT_EQ(md.type, 1);  // COUNTER
        EXPECT_EQ(md.help, "Requests served.");
      }
    }
    if (!found) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(m->Close().ok());
}

}  // namespace
}  // namespace vigil
