#include "server/compat/loaded_peers.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/http/test_client.h"

namespace vigil::compat {
namespace {

bool Ready(int port) {
  return server::http::HttpGet(port, "/-/ready").status == 200;
}

}  // namespace

bool LoadedPeers::Available() {
  return HavePeer(kPrometheus) && HavePeer(kPromtool);
}

std::unique_ptr<LoadedPeers> LoadedPeers::Start(
    const std::string& dir, const std::string& openmetrics) {
  const std::string data = dir + "/data.om";
  WriteFile(data, openmetrics);
  int rc = 0;
  std::string out = RunCommand(
      absl::StrCat(kPromtool, " tsdb create-blocks-from openmetrics ", data,
                   " ", dir, "/prom-data 2>&1"),
      &rc);
  if (rc != 0) {
    ADD_FAILURE() << "promtool tsdb create-blocks-from openmetrics: " << out;
    return nullptr;
  }
  out =
      RunCommand(absl::StrCat(VigilBinary(), " import openmetrics ", data,
                              " --storage.tsdb.path=", dir, "/vigil-data 2>&1"),
                 &rc);
  if (rc != 0) {
    ADD_FAILURE() << "vigil import openmetrics: " << out;
    return nullptr;
  }
  // No scrape jobs: only the loaded data is queried.
  WriteFile(dir + "/empty.yml", "global:\n  scrape_interval: 1h\n");
  std::unique_ptr<LoadedPeers> p(new LoadedPeers);
  p->prometheus_port_ = FreePort();
  p->vigil_port_ = FreePort();
  p->prometheus_ = std::make_unique<Process>(
      std::vector<std::string>{
          kPrometheus, "--config.file=" + dir + "/empty.yml",
          "--storage.tsdb.path=" + dir + "/prom-data",
          "--storage.tsdb.retention.time=100y",
          absl::StrCat("--web.listen-address=127.0.0.1:", p->prometheus_port_)},
      dir + "/prometheus.log");
  p->vigil_ = std::make_unique<Process>(
      std::vector<std::string>{
          VigilBinary(), "serve", "--config.file=" + dir + "/empty.yml",
          "--storage.tsdb.path=" + dir + "/vigil-data",
          "--storage.tsdb.retention.time=100y",
          absl::StrCat("--web.listen-address=127.0.0.1:", p->vigil_port_)},
      dir + "/vigil.log");
  const int pport = p->prometheus_port_, vport = p->vigil_port_;
  if (!WaitUntil([&] { return Ready(pport); }, absl::Seconds(40))) {
    ADD_FAILURE() << "prometheus not ready: "
                  << ReadFile(dir + "/prometheus.log");
    return nullptr;
  }
  if (!WaitUntil([&] { return Ready(vport); }, absl::Seconds(40))) {
    ADD_FAILURE() << "vigil not ready: " << ReadFile(dir + "/vigil.log");
    return nullptr;
  }
  return p;
}

void LoadedPeers::Stop() {
  if (prometheus_) prometheus_->Stop();
  if (vigil_) vigil_->Stop();
}

}  // namespace vigil::compat
