// Deterministic tests of the scaler: samples are appended at simulated
// times and rules evaluated with EvaluateRulesNow, so every decision time is
// known exactly.
#include "examples/scaler/scaler.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vigil/monitor.h"

namespace vigil::scaler {
namespace {

using Action = Decision::Action;

constexpr int64_t kStep = 10'000;  // evaluation interval, ms
constexpr int64_t kT0 = 1'700'000'000'000;

// Latency of every request in a phase (seconds).
constexpr double kFast = 0.01;    // within 0.025: scale down
constexpr double kMedium = 0.05;  // within 0.1, not 0.025: leave alone
constexpr double kSlow = 0.5;     // beyond 0.1: scale up

// Drives a Monitor with a simulated service of one replica exposing
// http_server_resp_time for job "go-demo_main".
class SimulatedService {
 public:
  explicit SimulatedService(Monitor* m, std::string job = "go-demo_main")
      : m_(m), job_(std::move(job)) {}

  // Appends one scrape's worth of counters after 100 requests of `latency`.
  void Scrape(int64_t t, double latency) {
    count_ += 100;
    sum_ += 100 * latency;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (latency <= kBounds[i]) buckets_[i] += 100;
    }
    for (size_t i = 0; i < kBounds.size(); ++i) {
      ASSERT_TRUE(m_->Append({{"__name__", "http_server_resp_time_bucket"},
                              {"job", job_},
                              {"le", kNames[i]}},
                             t, buckets_[i])
                      .ok());
    }
    ASSERT_TRUE(m_->Append({{"__name__", "http_server_resp_time_bucket"},
                            {"job", job_},
                            {"le", "+Inf"}},
                           t, count_)
                    .ok());
    ASSERT_TRUE(
        m_->Append({{"__name__", "http_server_resp_time_count"}, {"job", job_}},
                   t, count_)
            .ok());
    ASSERT_TRUE(
        m_->Append({{"__name__", "http_server_resp_time_sum"}, {"job", job_}},
                   t, sum_)
            .ok());
  }

 private:
  static constexpr std::array<double, 4> kBounds = {0.025, 0.05, 0.1, 0.5};
  static constexpr std::array<const char*, 4> kNames = {"0.025", "0.05", "0.1",
                                                        "0.5"};
  Monitor* m_;
  std::string job_;
  double count_ = 0, sum_ = 0;
  std::array<double, 4> buckets_ = {0, 0, 0, 0};
};

class ScalerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MonitorOptions mo;
    mo.evaluation_interval = absl::Milliseconds(kStep);
    mo.now_ms = [this] { return now_; };
    auto m = Monitor::Open(mo);
    ASSERT_TRUE(m.ok()) << m.status();
    monitor_ = *std::move(m);
    options_.service = "go-demo_main";
    options_.min_replicas = 1;
    options_.max_replicas = 4;
    options_.initial_replicas = 2;
    options_.cooldown = absl::Minutes(1);
    options_.window = absl::Minutes(1);
    options_.scale_command = "docker service scale {service}={replicas}";
  }

  void MakeScaler() {
    auto s = Scaler::Create(monitor_.get(), options_,
                            [this](const std::string& cmd) {
                              commands_.push_back(cmd);
                              return command_status_;
                            });
    ASSERT_TRUE(s.ok()) << s.status();
    scaler_ = *std::move(s);
  }

  // Runs `steps` evaluation intervals of a phase; returns the decisions
  // reported in it.
  std::vector<Decision> Run(SimulatedService* svc, double latency, int steps) {
    std::vector<Decision> out;
    for (int i = 0; i < steps; ++i) {
      now_ += kStep;
      svc->Scrape(now_, latency);
      EXPECT_TRUE(monitor_->EvaluateRulesNow(now_).ok());
      std::optional<Decision> d = scaler_->Tick(now_);
      if (d.has_value()) out.push_back(*d);
    }
    return out;
  }

  int64_t now_ = kT0;
  ScalerOptions options_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<Scaler> scaler_;
  std::vector<std::string> commands_;
  absl::Status command_status_ = absl::OkStatus();
};

std::vector<Action> Actions(const std::vector<Decision>& ds) {
  std::vector<Action> out;
  for (const Decision& d : ds) out.push_back(d.action);
  return out;
}

TEST(ScalerExprTest, RulesAreTheSeedsShortcutExpansions) {
  ScalerOptions o;
  o.service = "my-service";
  // E31 and E32 of the seeds, verbatim.
  EXPECT_EQ(ScaleUpExpr(o),
            "sum(rate(http_server_resp_time_bucket{job=\"my-service\", "
            "le=\"0.1\"}[5m])) / "
            "sum(rate(http_server_resp_time_count{job=\"my-service\"}[5m])) "
            "< 0.99");
  EXPECT_EQ(ScaleDownExpr(o),
            "sum(rate(http_server_resp_time_bucket{job=\"my-service\", "
            "le=\"0.025\"}[5m])) / "
            "sum(rate(http_server_resp_time_count{job=\"my-service\"}[5m])) "
            "> 0.75");
  o.job = "other";
  o.window = absl::Milliseconds(1500);
  EXPECT_NE(ScaleUpExpr(o).find("{job=\"other\", le=\"0.1\"}[1500ms]"),
            std::string::npos);
}

TEST_F(ScalerTest, FullLoopUpCooldownMaxDownMin) {
  MakeScaler();
  SimulatedService svc(monitor_.get());

  // Medium latency: neither rule fires.
  EXPECT_TRUE(Run(&svc, kMedium, 12).empty());
  EXPECT_EQ(scaler_->replicas(), 2);

  // Slow: scale up at once, wait out the cool-down, scale up to the max,
  // then refuse once (not on every tick).
  const int64_t slow_start = now_;
  std::vector<Decision> ds = Run(&svc, kSlow, 20);
  ASSERT_EQ(Actions(ds),
            (std::vector<Action>{Action::kScaleUp, Action::kCooldown,
                                 Action::kScaleUp, Action::kAtMax}));
  EXPECT_EQ(ds[0].from, 2);
  EXPECT_EQ(ds[0].to, 3);
  // One slow interval pulls the 1m ratio below 0.99; the group's
  // evaluation slot (offset within the interval, as in Prometheus) may add
  // one more.
  EXPECT_GT(ds[0].time_ms, slow_start);
  EXPECT_LE(ds[0].time_ms, slow_start + 2 * kStep);
  EXPECT_EQ(ds[1].time_ms, ds[0].time_ms + kStep);
  EXPECT_EQ(ds[2].time_ms, ds[0].time_ms + 60'000);  // exactly the cool-down
  EXPECT_EQ(ds[2].to, 4);
  EXPECT_EQ(ds[3].from, 4);
  EXPECT_EQ(ds[3].to, 4);
  EXPECT_EQ(scaler_->replicas(), 4);

  // Fast: once the window no longer holds slow requests, scale down step by
  // step with the cool-down between steps, and stop at the minimum.
  ds = Run(&svc, kFast, 40);
  ASSERT_EQ(Actions(ds),
            (std::vector<Action>{Action::kScaleDown, Action::kCooldown,
                                 Action::kScaleDown, Action::kCooldown,
                                 Action::kScaleDown, Action::kAtMin}));
  EXPECT_EQ(ds[0].to, 3);
  EXPECT_EQ(ds[2].to, 2);
  EXPECT_EQ(ds[4].to, 1);
  EXPECT_EQ(ds[2].time_ms - ds[0].time_ms, 60'000);
  EXPECT_EQ(ds[4].time_ms - ds[2].time_ms, 60'000);
  EXPECT_EQ(scaler_->replicas(), 1);

  // Medium again: the down alert resolves; nothing more happens.
  EXPECT_TRUE(Run(&svc, kMedium, 12).empty());
  EXPECT_EQ(scaler_->replicas(), 1);

  EXPECT_EQ(commands_,
            (std::vector<std::string>{"docker service scale go-demo_main=3",
                                      "docker service scale go-demo_main=4",
                                      "docker service scale go-demo_main=3",
                                      "docker service scale go-demo_main=2",
                                      "docker service scale go-demo_main=1"}));
  EXPECT_EQ(scaler_->decisions().size(), 10u);
}

TEST_F(ScalerTest, AlertsCarryTheShortcutLabels) {
  MakeScaler();
  SimulatedService svc(monitor_.get());
  Run(&svc, kSlow, 3);
  std::vector<AlertEvent> alerts = monitor_->Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].status, AlertEvent::Status::kFiring);
  EXPECT_EQ(alerts[0].alert_name, "godemo_main_resp_time_above");
  EXPECT_EQ(alerts[0].labels.Get("scale"), "up");
  EXPECT_EQ(alerts[0].labels.Get("type"), "service");
  EXPECT_EQ(alerts[0].labels.Get("receiver"), "system");
  EXPECT_EQ(alerts[0].labels.Get("service"), "go-demo_main");
  EXPECT_EQ(alerts[0].annotations.Get("summary"),
            "Response time of the service go-demo_main is above 0.1");
}

TEST_F(ScalerTest, DryRunRunsNothingButFollowsTheDecisions) {
  options_.dry_run = true;
  MakeScaler();
  SimulatedService svc(monitor_.get());
  std::vector<Decision> ds = Run(&svc, kSlow, 3);
  ASSERT_FALSE(ds.empty());
  EXPECT_EQ(ds[0].action, Action::kScaleUp);
  EXPECT_TRUE(ds[0].dry_run);
  EXPECT_EQ(ds[0].command, "docker service scale go-demo_main=3");
  EXPECT_NE(FormatDecision(ds[0]).find("dry_run=true"), std::string::npos);
  EXPECT_TRUE(commands_.empty());
  EXPECT_EQ(scaler_->replicas(), 3);
}

TEST_F(ScalerTest, FailedCommandKeepsTheCountAndStillCoolsDown) {
  command_status_ = absl::InternalError("docker: no such service");
  MakeScaler();
  SimulatedService svc(monitor_.get());
  std::vector<Decision> ds = Run(&svc, kSlow, 4);
  ASSERT_EQ(Actions(ds),
            (std::vector<Action>{Action::kScaleUp, Action::kCooldown}));
  EXPECT_FALSE(ds[0].status.ok());
  EXPECT_NE(FormatDecision(ds[0]).find("error=\"docker: no such service\""),
            std::string::npos);
  EXPECT_EQ(scaler_->replicas(), 2);
  EXPECT_EQ(commands_.size(), 1u);
}

TEST_F(ScalerTest, IgnoresOtherServicesAlerts) {
  MakeScaler();
  // Another service's slow histogram; our job has no data at all.
  SimulatedService other(monitor_.get(), "other");
  EXPECT_TRUE(Run(&other, kSlow, 10).empty());
  // And an alert labelled for another service with scale=up.
  ASSERT_TRUE(monitor_
                  ->AddAlertRule("x", "OtherUp", "vector(1)",
                                 absl::ZeroDuration(),
                                 {{"service", "other"}, {"scale", "up"}})
                  .ok());
  EXPECT_TRUE(Run(&other, kSlow, 3).empty());
  EXPECT_TRUE(commands_.empty());
}

TEST_F(ScalerTest, StepStopsAtTheBound) {
  options_.scale_up_by = 5;
  MakeScaler();
  SimulatedService svc(monitor_.get());
  std::vector<Decision> ds = Run(&svc, kSlow, 3);
  ASSERT_FALSE(ds.empty());
  EXPECT_EQ(ds[0].to, 4);
}

TEST_F(ScalerTest, RejectsBadOptions) {
  struct Case {
    void (*mutate)(ScalerOptions*);
    const char* want;
  } cases[] = {
      {[](ScalerOptions* o) { o->service = ""; }, "service must be"},
      {[](ScalerOptions* o) { o->service = "a;rm -rf /"; }, "service must be"},
      {[](ScalerOptions* o) { o->min_replicas = 5; }, "min_replicas (5)"},
      {[](ScalerOptions* o) { o->scale_up_by = 0; }, "steps must be positive"},
      {[](ScalerOptions* o) { o->window = absl::ZeroDuration(); },
       "window must be positive"},
      {[](ScalerOptions* o) { o->up_le = "0.1\"} or vector(1"; },
       "bucket bounds must be numbers"},
  };
  for (const Case& c : cases) {
    ScalerOptions o = options_;
    c.mutate(&o);
    auto s = Scaler::Create(monitor_.get(), o);
    ASSERT_FALSE(s.ok()) << c.want;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.want), absl::string_view::npos)
        << s.status();
  }
}

TEST(RunShellCommandTest, ReportsExitStatus) {
  EXPECT_TRUE(RunShellCommand("true").ok());
  absl::Status s = RunShellCommand("exit 3");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("exited with status 3"), absl::string_view::npos)
      << s;
}

}  // namespace
}  // namespace vigil::scaler
