#include "server/metrics/registry.h"

#include <cmath>
#include <limits>
#include <thread>

#include "gtest/gtest.h"

namespace vigil::server::metrics {
namespace {

std::string Fmt(double v) {
  std::string s;
  AppendTextFloat(&s, v);
  return s;
}

TEST(TextFloatTest, MatchesGoFormatFloatG) {
  EXPECT_EQ(Fmt(0), "0");
  EXPECT_EQ(Fmt(1), "1");
  EXPECT_EQ(Fmt(-1.5), "-1.5");
  EXPECT_EQ(Fmt(0.1), "0.1");
  EXPECT_EQ(Fmt(123456), "123456");
  EXPECT_EQ(Fmt(1e6), "1e+06");
  EXPECT_EQ(Fmt(1234567), "1.234567e+06");
  EXPECT_EQ(Fmt(1.7e9), "1.7e+09");
  EXPECT_EQ(Fmt(0.0001), "0.0001");
  EXPECT_EQ(Fmt(0.00001), "1e-05");
  EXPECT_EQ(Fmt(1e100), "1e+100");
  EXPECT_EQ(Fmt(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(Fmt(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Fmt(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(RegistryTest, RendersCountersGaugesHistograms) {
  Registry reg;
  auto* c = reg.NewCounter("req_total", "Requests.", {"code"});
  c->WithLabels({"200"})->Inc();
  c->WithLabels({"200"})->Inc(2);
  c->WithLabels({"5\"00"})->Inc();
  reg.NewGauge("up_gauge", "A gauge.")->WithLabels({})->Set(3.5);
  auto* h = reg.NewHistogram("lat_seconds", "Latency.", {}, {0.1, 1});
  h->WithLabels({})->Observe(0.05);
  h->WithLabels({})->Observe(0.5);
  h->WithLabels({})->Observe(5);
  reg.AddCollector([](std::string* out) {
    AppendHeader(out, "x", "X.", "gauge");
    AppendSample(out, "x", {{"a", "b"}}, 1);
  });
  EXPECT_EQ(reg.Render(),
            "# HELP req_total Requests.\n# TYPE req_total counter\n"
            "req_total{code=\"200\"} 3\nreq_total{code=\"5\\\"00\"} 1\n"
            "# HELP up_gauge A gauge.\n# TYPE up_gauge gauge\nup_gauge 3.5\n"
            "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"0.1\"} 1\n"
            "lat_seconds_bucket{le=\"1\"} 2\n"
            "lat_seconds_bucket{le=\"+Inf\"} 3\n"
            "lat_seconds_sum 5.55\nlat_seconds_count 3\n"
            "# HELP x X.\n# TYPE x gauge\nx{a=\"b\"} 1\n");
}

TEST(RegistryTest, ConcurrentIncrementsAreNotLost) {
  Registry reg;
  Counter* c = reg.NewCounter("c_total", "C.")->WithLabels({});
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([c] {
      for (int j = 0; j < 10000; ++j) c->Inc();
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c->Value(), 40000);
}

TEST(ProcessCollectorTest, ExposesProcessMetrics) {
  Registry reg;
  RegisterProcessCollector(&reg);
  std::string text = reg.Render();
  for (const char* name :
       {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
        "process_start_time_seconds ", "process_open_fds "}) {
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace vigil::server::metrics
