// A real Prometheus 2.42 and `vigil serve` started side by side on the same
// OpenMetrics data (loaded with `promtool tsdb create-blocks-from
// openmetrics` and `vigil import openmetrics`), for tests that compare
// their HTTP answers.
//
//   if (!LoadedPeers::Available()) GTEST_SKIP() << LoadedPeers::kMissing;
//   std::unique_ptr<LoadedPeers> p = LoadedPeers::Start(TestDir(), data);
//   ASSERT_NE(p, nullptr);  // the failure was reported with the logs
//   HttpGet(p->prometheus_port(), "/api/v1/query?query=up");
#ifndef VIGIL_SERVER_COMPAT_LOADED_PEERS_H_
#define VIGIL_SERVER_COMPAT_LOADED_PEERS_H_

#include <memory>
#include <string>

#include "server/compat/peer_util.h"

namespace vigil::compat {

class LoadedPeers {
 public:
  static constexpr char kPrometheus[] = "/usr/bin/prometheus";
  static constexpr char kPromtool[] = "/usr/bin/promtool";
  static constexpr char kMissing[] =
      "/usr/bin/prometheus or /usr/bin/promtool is not installed "
      "(apt-get install prometheus)";

  static bool Available();

  // Writes `openmetrics` under `dir`, loads it into both and waits until
  // both are ready. On failure adds a gtest failure naming the step (with
  // the tool's output or the server's log) and returns null.
  static std::unique_ptr<LoadedPeers> Start(const std::string& dir,
                                            const std::string& openmetrics);

  int prometheus_port() const { return prometheus_port_; }
  int vigil_port() const { return vigil_port_; }

  // SIGTERM both (the destructor SIGKILLs what is still running).
  void Stop();

 private:
  LoadedPeers() = default;

  int prometheus_port_ = 0;
  int vigil_port_ = 0;
  std::unique_ptr<Process> prometheus_;
  std::unique_ptr<Process> vigil_;
};

}  // namespace vigil::compat

#endif  // VIGIL_SERVER_COMPAT_LOADED_PEERS_H_
