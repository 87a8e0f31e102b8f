// The seed's scenario as processes: an exporter whose
// nginx_connections_active the test sets, `vigil serve` scraping it every
// second and evaluating `nginx_connections_active{job="nginx"} >= 100`
// with a short `for`, and a webhook receiver that records every POST with
// its receive time. Shared by the alerting end-to-end test targets.
#ifndef VIGIL_SERVER_E2E_ALERTING_FIXTURE_H_
#define VIGIL_SERVER_E2E_ALERTING_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/e2e/e2e_util.h"

namespace vigil::e2e {

inline constexpr char kVigil[] = "server/vigil";
inline constexpr char kPeer[] = "server/e2e/e2e_peer.py";
inline constexpr char kPython[] = "/usr/bin/python3";
inline constexpr char kExternalUrl[] = "http://vigil.example:9090";
inline constexpr char kAlertName[] = "Nginx 100 active connections";

class AlertingE2ETest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes prometheus.yml (+ rules.yml) with a `for` of `for_s` seconds.
  // `alertmanager_port` > 0 adds an alerting.alertmanagers entry.
  void WritePrometheusConfig(int for_s, int alertmanager_port = 0);
  // alertmanager.yml routing everything to the receiver, grouped by
  // alertname, group_wait/group_interval 1s, send_resolved.
  std::string AlertmanagerYml() const;
  void WriteAlertmanagerConfig();

  void StartExporter();
  void StartReceiver();
  void StopReceiver();
  // Starts vigil with the configuration files and waits for /-/ready.
  // `builtin_routing` adds --alerting.config.file.
  void StartVigil(bool builtin_routing = true);
  // Stops vigil with `sig` and returns its exit status (see Process::Wait).
  int StopVigil(int sig);

  void SetValue(double v);
  // Waits until vigil has stored a scraped sample equal to `v`.
  bool WaitScraped(double v);
  // The state ("pending", "firing") and activeAt of the rule's alert in
  // /api/v1/alerts, or empty when there is none.
  std::pair<std::string, int64_t> AlertState();

  // Parsed webhook bodies received so far with status `status` ("firing",
  // "resolved"); `received` gets their receive times.
  std::vector<nlohmann::ordered_json> Payloads(
      const std::string& status, std::vector<int64_t>* received = nullptr);
  bool WaitPayload(const std::string& status, absl::Duration timeout);

  std::string dir_;
  // Appended to `vigil serve`'s command line by StartVigil.
  std::vector<std::string> extra_vigil_flags_;
  int exporter_port_ = 0;
  int receiver_port_ = 0;
  int vigil_port_ = 0;
  std::string value_file_;
  std::string received_file_;
  std::unique_ptr<Process> exporter_;
  std::unique_ptr<Process> receiver_;
  std::unique_ptr<Process> vigil_;
};

}  // namespace vigil::e2e

#endif  // VIGIL_SERVER_E2E_ALERTING_FIXTURE_H_
