// A differential PromQL suite: the same generated data in Prometheus 2.42
// and Vigil, and several hundred generated queries (every function,
// aggregation, operator and modifier family, over counters with resets,
// gauges with negative and fractional values, histograms, gaps longer than
// the lookback, NaN and ±Inf samples) asked of both as instant queries at
// three times and as range queries. Every answer must match, JSON modulo
// ordering, values to a relative 1e-12; the first differences are printed
// with the query. When victoria-metrics is installed the same requests go
// to it too and its agreement with Prometheus is printed (not asserted).
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/compat/api_compare.h"
#include "server/compat/loaded_peers.h"
#include "server/compat/peer_util.h"
#include "server/http/request.h"
#include "server/http/test_client.h"

namespace vigil::compat {
namespace {

using server::http::HttpGet;
using server::http::UrlEncode;

constexpr int kStep = 15;     // seconds between samples
constexpr int kPoints = 241;  // one hour

// Deterministic pseudo-random numbers (no dependence on the library's
// std::uniform_*_distribution implementation).
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : x_(seed) {}
  uint32_t Next() {
    x_ = x_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(x_ >> 33);
  }
  int Below(int n) {
    return static_cast<int>(Next() % static_cast<uint32_t>(n));
  }

 private:
  uint64_t x_;
};

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrCat(v);
}

// OpenMetrics requires all samples of a family together and each series'
// samples in time order.
std::string Data(int64_t t0) {
  Lcg rng(42);
  std::string out;
  out += "# TYPE http_requests counter\n";
  for (const char* instance : {"a:80", "b:80"}) {
    for (const char* code : {"200", "500"}) {
      for (const char* method : {"get", "post"}) {
        double v = rng.Below(1000);
        const int reset_at = 40 + rng.Below(160);
        for (int i = 0; i < kPoints; ++i) {
          v += code[0] == '2' ? rng.Below(20) : rng.Below(3);
          if (i == reset_at) v = rng.Below(5);
          absl::StrAppend(&out, "http_requests_total{job=\"api\",instance=\"",
                          instance, "\",code=\"", code, "\",method=\"", method,
                          "\"} ", Num(v), " ", t0 + i * kStep, "\n");
        }
      }
    }
  }
  out += "# TYPE temperature gauge\n";
  for (const char* room : {"attic", "cellar", "hall", "lab"}) {
    double v = room[0] == 'c' ? -4.5 : 18.25;
    for (int i = 0; i < kPoints; ++i) {
      v += (rng.Below(9) - 4) * 0.25;
      absl::StrAppend(&out, "temperature{job=\"env\",room=\"", room, "\"} ",
                      Num(v), " ", t0 + i * kStep, "\n");
    }
  }
  out += "# TYPE req_duration_seconds histogram\n";
  const char* les[] = {"0.05", "0.1", "0.5", "1", "+Inf"};
  for (const char* instance : {"a:80", "b:80"}) {
    for (const char* path : {"/", "/api"}) {
      std::vector<std::string> lines[7];
      double buckets[5] = {0, 0, 0, 0, 0};
      double sum = 0;
      for (int i = 0; i < kPoints; ++i) {
        const int64_t t = t0 + i * kStep;
        double in[5];
        for (double& x : in) x = rng.Below(path[1] == 'a' ? 6 : 3);
        double cum = 0;
        for (int b = 0; b < 5; ++b) {
          cum += in[b];
          buckets[b] += cum;
          absl::StrAppend(&out, "req_duration_seconds_bucket{instance=\"",
                          instance, "\",path=\"", path, "\",le=\"", les[b],
                          "\"} ", Num(buckets[b]), " ", t, "\n");
        }
        sum += in[0] * 0.03 + in[1] * 0.07 + in[2] * 0.3 + in[3] * 0.8 +
               in[4] * 2.5;
        absl::StrAppend(&out, "req_duration_seconds_count{instance=\"",
                        instance, "\",path=\"", path, "\"} ", Num(buckets[4]),
                        " ", t, "\n");
        absl::StrAppend(&out, "req_duration_seconds_sum{instance=\"", instance,
                        "\",path=\"", path, "\"} ",
                        Num(std::round(sum * 1000) / 1000), " ", t, "\n");
      }
    }
  }
  // Gaps longer than the 5 m lookback, and sparse samples.
  out += "# TYPE flaky gauge\n";
  for (const char* instance : {"a:80", "b:80"}) {
    for (int i = 0; i < kPoints; ++i) {
      if (instance[0] == 'a' ? (i >= 60 && i < 110) : (i % 12 >= 4)) continue;
      absl::StrAppend(&out, "flaky{instance=\"", instance, "\"} ",
                      Num(i % 7 - 3), " ", t0 + i * kStep, "\n");
    }
  }
  // Special values.
  out += "# TYPE weird gauge\n";
  const double specials[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e308};
  for (int k = 0; k < 6; ++k) {
    for (int i = 0; i < kPoints; ++i) {
      double v = i % 5 == 0 ? specials[k] : (k + 1) * 1.5 + i % 3;
      absl::StrAppend(&out, "weird{kind=\"", k, "\"} ", Num(v), " ",
                      t0 + i * kStep, "\n");
    }
  }
  out += "# EOF\n";
  return out;
}

std::vector<std::string> Expressions() {
  std::vector<std::string> e;
  const std::vector<std::string> counters = {
      "http_requests_total", "http_requests_total{code=\"500\"}",
      "http_requests_total{method=~\"p.*\",code!=\"500\"}",
      "req_duration_seconds_count"};
  const std::vector<std::string> gauges = {"temperature", "flaky", "weird",
                                           "temperature{room!~\"c.*\"}"};
  const std::vector<std::string> windows = {"1m", "5m", "13m"};
  for (const char* f : {"rate", "irate", "increase", "resets", "changes"}) {
    for (const std::string& s : counters) {
      for (const std::string& w : windows) {
        e.push_back(absl::StrCat(f, "(", s, "[", w, "])"));
      }
    }
  }
  for (const char* f :
       {"delta", "idelta", "deriv", "avg_over_time", "min_over_time",
        "max_over_time", "sum_over_time", "count_over_time", "last_over_time",
        "stddev_over_time", "stdvar_over_time", "present_over_time",
        "absent_over_time", "changes"}) {
    for (const std::string& s : gauges) {
      for (const char* w : {"1m", "5m"}) {
        e.push_back(absl::StrCat(f, "(", s, "[", w, "])"));
      }
    }
  }
  for (const std::string& s : gauges) {
    e.push_back(absl::StrCat("quantile_over_time(0.75, ", s, "[5m])"));
    e.push_back(absl::StrCat("quantile_over_time(0, ", s, "[2m])"));
    e.push_back(absl::StrCat("predict_linear(", s, "[5m], 600)"));
    e.push_back(absl::StrCat("holt_winters(", s, "[5m], 0.5, 0.3)"));
  }
  for (const char* f :
       {"abs",         "ceil",        "floor",         "round",
        "exp",         "ln",          "log2",          "log10",
        "sqrt",        "sgn",         "timestamp",     "sin",
        "cos",         "tan",         "asin",          "acos",
        "atan",        "sinh",        "cosh",          "tanh",
        "asinh",       "acosh",       "atanh",         "deg",
        "rad",         "minute",      "hour",          "day_of_month",
        "day_of_week", "day_of_year", "days_in_month", "month",
        "year"}) {
    for (const char* s : {"temperature", "weird"}) {
      e.push_back(absl::StrCat(f, "(", s, ")"));
    }
  }
  for (const char* s : {"temperature", "weird", "flaky"}) {
    e.push_back(absl::StrCat("round(", s, ", 0.5)"));
    e.push_back(absl::StrCat("clamp(", s, ", -1, 20)"));
    e.push_back(absl::StrCat("clamp_min(", s, ", 19)"));
    e.push_back(absl::StrCat("clamp_max(", s, ", 2)"));
    e.push_back(absl::StrCat("clamp(", s, ", 5, 1)"));
    e.push_back(absl::StrCat("-", s));
    e.push_back(absl::StrCat(s, " ^ 2"));
    e.push_back(absl::StrCat(s, " % 3"));
    e.push_back(absl::StrCat("2 ^ ", s));
    e.push_back(absl::StrCat(s, " / 0"));
    e.push_back(absl::StrCat(s, " > 1"));
    e.push_back(absl::StrCat(s, " >= bool 19"));
    e.push_back(absl::StrCat(s, " == bool ", s));
    e.push_back(absl::StrCat("sort(", s, ")"));
    e.push_back(absl::StrCat("sort_desc(", s, ")"));
  }
  for (const char* agg :
       {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"}) {
    e.push_back(absl::StrCat(agg, "(temperature)"));
    e.push_back(absl::StrCat(agg, "(weird)"));
    e.push_back(
        absl::StrCat(agg, " by (code) (rate(http_requests_total[5m]))"));
    e.push_back(
        absl::StrCat(agg, " without (instance, method) (http_requests_total)"));
    e.push_back(absl::StrCat(agg, "(flaky) by (instance)"));
  }
  for (const char* k : {"1", "2", "10"}) {
    e.push_back(absl::StrCat("topk(", k, ", temperature)"));
    e.push_back(absl::StrCat("bottomk(", k, ", weird)"));
    e.push_back(absl::StrCat("topk by (code) (", k,
                             ", rate(http_requests_total[5m]))"));
  }
  for (const char* q : {"0", "0.25", "0.5", "0.99", "1", "-1", "2"}) {
    e.push_back(absl::StrCat("quantile(", q, ", temperature)"));
    e.push_back(absl::StrCat("quantile by (code) (", q,
                             ", rate(http_requests_total[5m]))"));
    e.push_back(
        absl::StrCat("histogram_quantile(", q,
                     ", sum by (le) (rate(req_duration_seconds_bucket[5m])))"));
    e.push_back(absl::StrCat("histogram_quantile(", q,
                             ", rate(req_duration_seconds_bucket[1m]))"));
  }
  e.push_back("topk(scalar(weird{kind=\"0\"}), temperature)");
  e.push_back("bottomk(-1, temperature)");
  // Errors found while evaluating: the same status and errorType.
  e.push_back("http_requests_total + on (code) http_requests_total");
  e.push_back("temperature / on (job) group_left temperature");
  e.push_back("holt_winters(temperature[5m], 2, 0.5)");
  e.push_back("label_replace(temperature, \"1bad\", \"x\", \"room\", \".*\")");
  e.push_back("label_replace(temperature, \"r\", \"x\", \"room\", \"(\")");
  e.push_back("count_values(\"1bad\", temperature)");
  e.push_back(
      "rate(http_requests_total[5m]) or "
      "label_replace(rate(http_requests_total[5m]), \"code\", \"200\", "
      "\"code\", \".*\")");
  e.push_back("count_values(\"value\", round(temperature))");
  e.push_back("count_values by (room) (\"v\", ceil(temperature))");
  e.push_back(
      "histogram_quantile(0.9, sum by (le, path) "
      "(increase(req_duration_seconds_bucket[10m])))");
  e.push_back(
      "sum(rate(req_duration_seconds_bucket{le=\"0.1\"}[5m])) / "
      "sum(rate(req_duration_seconds_count[5m]))");
  e.push_back(
      "sum by (path) (rate(req_duration_seconds_sum[5m])) / sum by (path) "
      "(rate(req_duration_seconds_count[5m]))");
  // Vector matching.
  e.push_back(
      "rate(http_requests_total[5m]) / ignoring(code) group_left "
      "sum without (code) (rate(http_requests_total[5m]))");
  e.push_back(
      "sum by (instance, code) (rate(http_requests_total[5m])) / on "
      "(instance) group_left sum by (instance) "
      "(rate(http_requests_total[5m]))");
  e.push_back(
      "sum by (instance) (rate(http_requests_total[5m])) * on (instance) "
      "group_right sum by (instance, path) "
      "(rate(req_duration_seconds_count[5m]))");
  e.push_back("http_requests_total and on (instance) flaky");
  e.push_back("http_requests_total unless on (instance) flaky");
  e.push_back("flaky or temperature");
  e.push_back("temperature > on (job) group_left vector(20)");
  e.push_back(
      "req_duration_seconds_count > bool on (instance, path) "
      "req_duration_seconds_count offset 5m");
  // Modifiers, subqueries, scalars.
  e.push_back("temperature offset 10m");
  e.push_back("temperature offset -5m");
  e.push_back("rate(http_requests_total[5m] offset 3m)");
  e.push_back("temperature @ end()");
  e.push_back("temperature @ start()");
  e.push_back("max_over_time(rate(http_requests_total[1m])[10m:1m])");
  e.push_back("avg_over_time(temperature[15m:45s])");
  e.push_back("min_over_time(deriv(temperature[3m])[20m:2m] offset 1m)");
  e.push_back("scalar(sum(temperature))");
  e.push_back("scalar(temperature)");
  e.push_back("vector(time())");
  e.push_back("time() - timestamp(flaky)");
  e.push_back("absent(nonexistent)");
  e.push_back("absent(temperature{room=\"attic\"})");
  e.push_back("absent_over_time(flaky{instance=\"a:80\"}[2m])");
  e.push_back(
      "label_replace(temperature, \"floor\", \"$1\", \"room\", \"(.).*\")");
  e.push_back(
      "label_join(http_requests_total, \"key\", \"-\", \"code\", "
      "\"method\", \"instance\")");
  e.push_back("{__name__=~\"temp.*|flaky\"}");
  e.push_back("{job=\"env\", room=~\"a.*|h.*\"}");
  e.push_back("http_requests_total{code=~\"2..\", method!~\"g.*\"}");
  e.push_back("sum(temperature) + 2 * 3 ^ 2 ^ 0.5 - 1");
  e.push_back("1 / 0 + -1 / 0");
  e.push_back("-2 ^ 2");
  e.push_back("(temperature + 1) * 2 - temperature / 4");
  return e;
}

// Every expression as instant queries at three times and as range queries
// at two steps (one not dividing the sample interval).
std::vector<std::string> Targets(int64_t t0) {
  const int64_t end = t0 + (kPoints - 1) * kStep;
  std::vector<std::string> targets;
  for (const std::string& expr : Expressions()) {
    const std::string q = UrlEncode(expr);
    for (int64_t t : {t0 + 1200, t0 + 2707, end}) {
      targets.push_back(absl::StrCat("/api/v1/query?query=", q, "&time=", t));
    }
    targets.push_back(absl::StrCat("/api/v1/query_range?query=", q,
                                   "&start=", t0, "&end=", end, "&step=60"));
    targets.push_back(absl::StrCat("/api/v1/query_range?query=", q, "&start=",
                                   t0 + 7, "&end=", end, "&step=37"));
  }
  return targets;
}

// The same data for VictoriaMetrics's /api/v1/import/prometheus: text
// exposition lines with millisecond timestamps.
std::string VictoriaMetricsImport(const std::string& openmetrics) {
  std::string out;
  size_t pos = 0;
  while (pos < openmetrics.size()) {
    size_t nl = openmetrics.find('\n', pos);
    if (nl == std::string::npos) nl = openmetrics.size();
    const std::string line = openmetrics.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    absl::StrAppend(&out, line, "000\n");  // seconds -> milliseconds
  }
  return out;
}

TEST(Differential, GeneratedQueriesGivePrometheusAnswers) {
  if (!LoadedPeers::Available()) GTEST_SKIP() << LoadedPeers::kMissing;
  // Three hours back, on a minute boundary: inside both retentions and
  // away from Prometheus's head.
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const int64_t t0 = (now - 3 * 3600) / 60 * 60;
  std::unique_ptr<LoadedPeers> peers = LoadedPeers::Start(TestDir(), Data(t0));
  ASSERT_NE(peers, nullptr);

  const std::vector<std::string> targets = Targets(t0);
  int mismatches = 0;
  int with_data = 0;
  for (const std::string& target : targets) {
    auto a = HttpGet(peers->prometheus_port(), target);
    auto b = HttpGet(peers->vigil_port(), target);
    nlohmann::json j = nlohmann::json::parse(a.body, nullptr, false);
    if (a.status == 200 && !j.is_discarded() && j["data"].is_object() &&
        !j["data"]["result"].empty()) {
      ++with_data;
    }
    std::string diff = CompareApi(a.status, a.body, b.status, b.body);
    if (diff.empty()) continue;
    if (++mismatches <= 60) {
      ADD_FAILURE() << target << "\n"
                    << diff << "\nprometheus: " << a.body.substr(0, 400)
                    << "\nvigil:      " << b.body.substr(0, 400);
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << targets.size() << " requests";
  // Guard against a vacuous pass (data not loaded, everything empty).
  EXPECT_GT(with_data, static_cast<int>(targets.size()) * 3 / 4);
  std::printf("%zu requests, %d with data, %d mismatches\n", targets.size(),
              with_data, mismatches);

  // The same requests to VictoriaMetrics 1.79, for the record: how often a
  // PromQL-compatible peer gives Prometheus's answers (not asserted).
  const char kVictoriaMetrics[] = "/usr/bin/victoria-metrics";
  if (HavePeer(kVictoriaMetrics)) {
    const std::string dir = TestDir() + "-vm";
    const int vm_port = FreePort();
    Process vm({kVictoriaMetrics, "-storageDataPath=" + dir,
                absl::StrCat("-httpListenAddr=127.0.0.1:", vm_port),
                "-retentionPeriod=100y", "-search.disableCache",
                "-search.latencyOffset=0s", "-loggerLevel=ERROR"},
               dir + ".log");
    ASSERT_TRUE(
        WaitUntil([&] { return HttpGet(vm_port, "/health").status == 200; },
                  absl::Seconds(30)))
        << ReadFile(dir + ".log");
    ASSERT_EQ(
        server::http::HttpPost(vm_port, "/api/v1/import/prometheus",
                               VictoriaMetricsImport(Data(t0)), "text/plain")
            .status,
        204);
    ASSERT_EQ(HttpGet(vm_port, "/internal/force_flush").status, 200);
    int vm_same = 0;
    for (const std::string& target : targets) {
      auto a = HttpGet(peers->prometheus_port(), target);
      auto b = HttpGet(vm_port, target);
      // With the 1e-6 tolerance of PromQL test scripts.
      if (CompareApi(a.status, a.body, b.status, b.body, 1e-6).empty()) {
        ++vm_same;
      }
    }
    std::printf(
        "victoria-metrics: %d of %zu requests match Prometheus (%.0f%%)\n",
        vm_same, targets.size(), 100.0 * vm_same / targets.size());
    ::testing::Test::RecordProperty("victoria_metrics_matching", vm_same);
    vm.Stop();
  }
  peers->Stop();
}

}  // namespace
}  // namespace vigil::compat
