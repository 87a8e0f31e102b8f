// A real Prometheus 2.42 scrapes itself (and node-exporter when installed)
// every second and remote-writes into `vigil serve
// --web.enable-remote-write-receiver`. After ~20 s the raw samples of a few
// series, read back with the same range-vector query on both, must be equal.
#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/compat/api_compare.h"
#include "server/compat/peer_util.h"
#include "server/http/request.h"
#include "server/http/test_client.h"

namespace vigil::compat {
namespace {

using server::http::HttpGet;
using server::http::UrlEncode;

const char kPrometheus[] = "/usr/bin/prometheus";
const char kNodeExporter[] = "/usr/bin/prometheus-node-exporter";

bool Ready(int port) { return HttpGet(port, "/-/ready").status == 200; }

nlohmann::json Query(int port, const std::string& q, double t) {
  auto r = HttpGet(port, absl::StrCat("/api/v1/query?query=", UrlEncode(q),
                                      "&time=", absl::StrFormat("%.3f", t)));
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return j;
}

TEST(PrometheusRemoteWrite, VigilHoldsWhatPrometheusHolds) {
  if (!HavePeer(kPrometheus)) {
    GTEST_SKIP() << kPrometheus << " is not installed (apt-get install "
                 << "prometheus)";
  }
  const std::string dir = TestDir();
  const int vport = FreePort();
  const int pport = FreePort();
  WriteFile(dir + "/vigil.yml", "global:\n  scrape_interval: 1h\n");
  Process vigil({VigilBinary(), "serve", "--config.file=" + dir + "/vigil.yml",
                 "--storage.tsdb.path=" + dir + "/vigil-data",
                 absl::StrCat("--web.listen-address=127.0.0.1:", vport),
                 "--web.enable-remote-write-receiver"},
                dir + "/vigil.log");
  ASSERT_TRUE(WaitUntil([&] { return Ready(vport); }, absl::Seconds(30)))
      << ReadFile(dir + "/vigil.log");

  std::unique_ptr<Process> node;
  int nport = 0;
  std::string targets = absl::StrCat("'127.0.0.1:", pport, "'");
  if (HavePeer(kNodeExporter)) {
    nport = FreePort();
    node = std::make_unique<Process>(
        std::vector<std::string>{
            kNodeExporter,
            absl::StrCat("--web.listen-address=127.0.0.1:", nport)},
        dir + "/node.log");
    absl::StrAppend(&targets, ", '127.0.0.1:", nport, "'");
  }
  WriteFile(dir + "/prometheus.yml",
            absl::StrCat("global:\n"
                         "  scrape_interval: 1s\n"
                         "  evaluation_interval: 1s\n"
                         "scrape_configs:\n"
                         "  - job_name: compat\n"
                         "    static_configs:\n"
                         "      - targets: [",
                         targets,
                         "]\n"
                         "remote_write:\n"
                         "  - url: http://127.0.0.1:",
                         vport,
                         "/api/v1/write\n"
                         "    queue_config:\n"
                         "      batch_send_deadline: 200ms\n"
                         "      min_backoff: 50ms\n"));
  Process prom({kPrometheus, "--config.file=" + dir + "/prometheus.yml",
                "--storage.tsdb.path=" + dir + "/prom-data",
                absl::StrCat("--web.listen-address=127.0.0.1:", pport)},
               dir + "/prometheus.log");
  ASSERT_TRUE(WaitUntil([&] { return Ready(pport); }, absl::Seconds(30)))
      << ReadFile(dir + "/prometheus.log");

  // Prometheus waits ~5 s before its first scrape; then ~15 scrapes.
  absl::SleepFor(absl::Seconds(20));
  const double t = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()) - 3;
  std::vector<std::string> queries = {
      "up[30s]",
      "scrape_samples_scraped[30s]",
      "scrape_duration_seconds[30s]",
      "prometheus_http_requests_total[30s]",
      "count_over_time(up[30s])",
  };
  if (node != nullptr) {
    queries.push_back("node_cpu_seconds_total[30s]");
    queries.push_back("node_memory_MemAvailable_bytes[30s]");
  }
  // Remote write lags by its batch deadline: wait until Vigil has caught up
  // with the first query at `t`, then compare all.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Query(pport, "count(up[30s])", t) ==
               Query(vport, "count(up[30s])", t);
      },
      absl::Seconds(15)))
      << Query(pport, "count_over_time(up[30s])", t).dump() << "\n"
      << Query(vport, "count_over_time(up[30s])", t).dump() << "\n"
      << ReadFile(dir + "/vigil.log");
  for (const std::string& q : queries) {
    std::string target = absl::StrCat("/api/v1/query?query=", UrlEncode(q),
                                      "&time=", absl::StrFormat("%.3f", t));
    auto a = HttpGet(pport, target);
    auto b = HttpGet(vport, target);
    nlohmann::json ja = nlohmann::json::parse(a.body, nullptr, false);
    ASSERT_FALSE(ja.is_discarded()) << a.body;
    EXPECT_GT(ja["data"]["result"].size(), 0u) << q;
    EXPECT_EQ(CompareApi(a.status, a.body, b.status, b.body), "") << q;
  }
  // Prometheus's own view of the sender: nothing failed or dropped.
  nlohmann::json failed = Query(
      pport, "sum(prometheus_remote_storage_samples_failed_total)", t + 3);
  ASSERT_EQ(failed["data"]["result"].size(), 1u) << failed.dump();
  EXPECT_EQ(failed["data"]["result"][0]["value"][1], "0") << failed.dump();

  prom.Stop();
  if (node != nullptr) node->Stop();
  vigil.Stop();
}

}  // namespace
}  // namespace vigil::compat
