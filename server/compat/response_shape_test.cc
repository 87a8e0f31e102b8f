// The same data loaded into Prometheus 2.42 (`promtool tsdb
// create-blocks-from openmetrics`) and Vigil (`vigil import openmetrics`);
// the same queries and metadata requests against both must return the same
// JSON modulo ordering (vector, matrix, scalar and string results, series,
// labels, label values, and the status/errorType of error answers).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
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

constexpr int kPoints = 61;  // 15 minutes at 15 s

// Counters (one with a reset), gauges with fractional values and a
// histogram, grouped by family as OpenMetrics requires.
std::string OpenMetricsData(int64_t t0) {
  std::string out;
  out += "# HELP http_requests Requests.\n# TYPE http_requests counter\n";
  const char* series[] = {"code=\"200\",method=\"get\"",
                          "code=\"500\",method=\"get\"",
                          "code=\"200\",method=\"post\""};
  for (int s = 0; s < 3; ++s) {
    double v = 0;
    for (int i = 0; i < kPoints; ++i) {
      v += (s + 1) * 3 + (i % 4);
      if (s == 1 && i == 30) v = 2;  // counter reset
      absl::StrAppend(&out, "http_requests_total{", series[s], "} ", v, " ",
                      t0 + i * 15, "\n");
    }
  }
  out += "# HELP temperature Degrees.\n# TYPE temperature gauge\n";
  for (const char* room : {"a", "b", "c"}) {
    for (int i = 0; i < kPoints; ++i) {
      double v = 19.5 + (room[0] - 'a') + 0.25 * (i % 9);
      absl::StrAppend(&out, "temperature{room=\"", room, "\"} ", v, " ",
                      t0 + i * 15, "\n");
    }
  }
  out +=
      "# HELP req_duration_seconds Latency.\n"
      "# TYPE req_duration_seconds histogram\n";
  for (const char* path : {"/", "/api"}) {
    double b1 = 0, b2 = 0, b3 = 0, count = 0, sum = 0;
    for (int i = 0; i < kPoints; ++i) {
      double fast = 3 + i % 3, mid = 2 + i % 2, slow = 1;
      if (path[1] == 'a') slow = 2;
      b1 += fast;
      b2 += fast + mid;
      b3 += fast + mid + slow;
      count += fast + mid + slow;
      sum += fast * 0.05 + mid * 0.3 + slow * 0.8;
      const int64_t t = t0 + i * 15;
      absl::StrAppend(&out, "req_duration_seconds_bucket{path=\"", path,
                      "\",le=\"0.1\"} ", b1, " ", t, "\n");
      absl::StrAppend(&out, "req_duration_seconds_bucket{path=\"", path,
                      "\",le=\"0.5\"} ", b2, " ", t, "\n");
      absl::StrAppend(&out, "req_duration_seconds_bucket{path=\"", path,
                      "\",le=\"1.0\"} ", b3, " ", t, "\n");
      absl::StrAppend(&out, "req_duration_seconds_bucket{path=\"", path,
                      "\",le=\"+Inf\"} ", count, " ", t, "\n");
      absl::StrAppend(&out, "req_duration_seconds_count{path=\"", path, "\"} ",
                      count, " ", t, "\n");
      absl::StrAppend(&out, "req_duration_seconds_sum{path=\"", path, "\"} ",
                      absl::StrFormat("%.3f", sum), " ", t, "\n");
    }
  }
  out += "# EOF\n";
  return out;
}

TEST(ResponseShape, SameJsonAsPrometheusForTheSameData) {
  if (!LoadedPeers::Available()) GTEST_SKIP() << LoadedPeers::kMissing;
  // Two hours back, on a 15 s boundary: inside both default retentions and
  // away from Prometheus's head.
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const int64_t t0 = (now - 2 * 3600) / 60 * 60;
  std::unique_ptr<LoadedPeers> peers =
      LoadedPeers::Start(TestDir(), OpenMetricsData(t0));
  ASSERT_NE(peers, nullptr);
  const int pport = peers->prometheus_port();
  const int vport = peers->vigil_port();

  const int64_t t = t0 + 600;
  const std::string at = absl::StrCat("&time=", t);
  const std::string range =
      absl::StrCat("&start=", t0, "&end=", t0 + 900, "&step=60");
  const std::string span = absl::StrCat("&start=", t0, "&end=", t0 + 900);
  auto q = [&](const std::string& expr) {
    return absl::StrCat("/api/v1/query?query=", UrlEncode(expr), at);
  };
  auto qr = [&](const std::string& expr) {
    return absl::StrCat("/api/v1/query_range?query=", UrlEncode(expr), range);
  };
  const std::vector<std::string> targets = {
      // vectors
      q("temperature"),
      q("rate(http_requests_total[5m])"),
      q("sum by (code) (rate(http_requests_total[5m]))"),
      q("histogram_quantile(0.9, sum by (le) "
        "(rate(req_duration_seconds_bucket[5m])))"),
      q("topk(2, temperature)"),
      q("temperature > 21"),
      q("absent(nonexistent_metric)"),
      q("label_replace(temperature, \"r\", \"$1\", \"room\", \"(.*)\")"),
      q("resets(http_requests_total[15m])"),
      // scalar, string, matrix
      q("scalar(sum(temperature))"),
      q("\"hello\""),
      q("temperature[1m]"),
      // range queries
      qr("avg(temperature)"),
      qr("rate(http_requests_total[2m])"),
      qr("increase(req_duration_seconds_count[5m])"),
      // metadata
      absl::StrCat("/api/v1/series?match[]=temperature", span),
      absl::StrCat("/api/v1/series?match[]=",
                   UrlEncode("{__name__=~\"http.*\", code=\"200\"}"), span),
      absl::StrCat("/api/v1/labels?", span.substr(1)),
      absl::StrCat("/api/v1/label/__name__/values?", span.substr(1)),
      absl::StrCat("/api/v1/label/room/values?", span.substr(1)),
      // errors
      q("sum(temperature"),
      q("no_such_function(temperature)"),
      "/api/v1/query?query=temperature&time=yesterday",
      absl::StrCat("/api/v1/query_range?query=temperature&start=", t0 + 900,
                   "&end=", t0, "&step=60"),
      absl::StrCat("/api/v1/query_range?query=temperature&start=", t0,
                   "&end=", t0 + 900, "&step=0"),
      "/api/v1/query",
  };
  int compared = 0;
  for (const std::string& target : targets) {
    auto a = HttpGet(pport, target);
    auto b = HttpGet(vport, target);
    // Guard against a vacuous pass (e.g. blocks not loaded): every
    // successful answer here carries data.
    if (a.status == 200) {
      nlohmann::json j = nlohmann::json::parse(a.body, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << a.body;
      const nlohmann::json& d = j["data"];
      EXPECT_FALSE(d.is_object() ? d["result"].empty() : d.empty())
          << target << ": " << a.body;
    }
    EXPECT_EQ(CompareApi(a.status, a.body, b.status, b.body), "")
        << target << "\nprometheus: " << a.body.substr(0, 500)
        << "\nvigil:      " << b.body.substr(0, 500);
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(targets.size()));
  peers->Stop();
}

}  // namespace
}  // namespace vigil::compat
