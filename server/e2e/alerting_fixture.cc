#include "server/e2e/alerting_fixture.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "server/http/test_client.h"

namespace vigil::e2e {

using server::http::HttpGet;

void AlertingE2ETest::SetUp() {
  for (const char* f : {kVigil, kPeer, kPython}) {
    ASSERT_EQ(access(f, R_OK), 0) << f << " is missing";
  }
  dir_ = TestDir();
  value_file_ = dir_ + "/value";
  received_file_ = dir_ + "/received.jsonl";
  exporter_port_ = FreePort();
  receiver_port_ = FreePort();
  vigil_port_ = FreePort();
  ASSERT_NE(exporter_port_, 0);
  WriteAlertmanagerConfig();
}

void AlertingE2ETest::TearDown() {
  // Graceful first, so a failing test still shows vigil's shutdown log.
  if (vigil_ != nullptr && vigil_->running()) StopVigil(SIGTERM);
  vigil_.reset();
  receiver_.reset();
  exporter_.reset();
  if (HasFailure()) {
    std::fprintf(stderr, "---- vigil.log\n%s\n---- received.jsonl\n%s\n",
                 ReadFile(dir_ + "/vigil.log").c_str(),
                 ReadFile(received_file_).c_str());
  }
}

void AlertingE2ETest::WritePrometheusConfig(int for_s, int alertmanager_port) {
  std::string cfg = absl::StrCat(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  evaluation_interval: 1s\n"
      "rule_files:\n"
      "  - ",
      dir_,
      "/rules.yml\n"
      "scrape_configs:\n"
      "  - job_name: nginx\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:",
      exporter_port_, "']\n");
  if (alertmanager_port > 0) {
    absl::StrAppend(&cfg,
                    "alerting:\n"
                    "  alertmanagers:\n"
                    "    - static_configs:\n"
                    "        - targets: ['127.0.0.1:",
                    alertmanager_port, "']\n");
  }
  WriteFile(dir_ + "/prometheus.yml", cfg);
  // The seed's rule (S0), with a `for` short enough for a test.
  WriteFile(
      dir_ + "/rules.yml",
      absl::StrCat("groups:\n"
                   "  - name: nginx\n"
                   "    rules:\n"
                   "      - alert: ",
                   kAlertName,
                   "\n"
                   "        expr: nginx_connections_active{job=\"nginx\"} "
                   ">= 100\n"
                   "        for: ",
                   for_s,
                   "s\n"
                   "        labels:\n"
                   "          severity: critical\n"
                   "        annotations:\n"
                   "          title: 'Nginx 100 active connections on "
                   "{{ $labels.instance }}'\n"
                   "          description: 'The Nginx on instance "
                   "{{ $labels.instance }} has seen {{ $value }} active "
                   "connections.'\n"));
}

std::string AlertingE2ETest::AlertmanagerYml() const {
  return absl::StrCat(
      "route:\n"
      "  receiver: webhook\n"
      "  group_by: [alertname]\n"
      "  group_wait: 1s\n"
      "  group_interval: 1s\n"
      "  repeat_interval: 1h\n"
      "receivers:\n"
      "  - name: webhook\n"
      "    webhook_configs:\n"
      "      - url: http://127.0.0.1:",
      receiver_port_,
      "/alert\n"
      "        send_resolved: true\n");
}

void AlertingE2ETest::WriteAlertmanagerConfig() {
  WriteFile(dir_ + "/alertmanager.yml", AlertmanagerYml());
}

void AlertingE2ETest::StartExporter() {
  exporter_ = std::make_unique<Process>(
      std::vector<std::string>{kPython, kPeer, "exporter",
                               absl::StrCat(exporter_port_), value_file_},
      dir_ + "/exporter.log");
  ASSERT_TRUE(WaitUntil(
      [&] { return HttpGet(exporter_port_, "/metrics").status == 200; },
      absl::Seconds(10)))
      << ReadFile(dir_ + "/exporter.log");
}

void AlertingE2ETest::StartReceiver() {
  std::string log = dir_ + "/receiver.log";
  WriteFile(log, "");
  receiver_ = std::make_unique<Process>(
      std::vector<std::string>{kPython, kPeer, "receiver",
                               absl::StrCat(receiver_port_), received_file_},
      log);
  ASSERT_TRUE(WaitUntil(
      [&] { return ReadFile(log).find("ready") != std::string::npos; },
      absl::Seconds(10)))
      << ReadFile(log);
}

void AlertingE2ETest::StopReceiver() {
  receiver_->Signal(SIGKILL);
  receiver_->Wait(absl::Seconds(5));
  receiver_.reset();
}

void AlertingE2ETest::StartVigil(bool builtin_routing) {
  std::vector<std::string> args = {
      kVigil,
      "serve",
      absl::StrCat("--web.listen-address=127.0.0.1:", vigil_port_),
      "--storage.tsdb.path=" + dir_ + "/data",
      "--config.file=" + dir_ + "/prometheus.yml",
      absl::StrCat("--web.external-url=", kExternalUrl)};
  if (builtin_routing) {
    args.push_back("--alerting.config.file=" + dir_ + "/alertmanager.yml");
  }
  args.insert(args.end(), extra_vigil_flags_.begin(), extra_vigil_flags_.end());
  vigil_ = std::make_unique<Process>(args, dir_ + "/vigil.log");
  ASSERT_TRUE(WaitUntil(
      [&] {
        return HttpGet(vigil_port_, "/-/ready").status == 200 ||
               vigil_->Wait(absl::ZeroDuration()) != -1;
      },
      absl::Seconds(20)));
  ASSERT_TRUE(vigil_->running()) << ReadFile(dir_ + "/vigil.log");
}

int AlertingE2ETest::StopVigil(int sig) {
  vigil_->Signal(sig);
  return vigil_->Wait(absl::Seconds(20));
}

void AlertingE2ETest::SetValue(double v) {
  WriteFile(value_file_, absl::StrCat(v, "\n"));
}

bool AlertingE2ETest::WaitScraped(double v) {
  std::string want = absl::StrCat("\"", v, "\"]");
  return WaitUntil(
      [&] {
        auto r = HttpGet(vigil_port_,
                         "/api/v1/query?query=nginx_connections_active");
        return r.status == 200 && r.body.find(want) != std::string::npos;
      },
      absl::Seconds(15), absl::Milliseconds(100));
}

std::pair<std::string, int64_t> AlertingE2ETest::AlertState() {
  auto r = HttpGet(vigil_port_, "/api/v1/alerts");
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("data")) return {"", 0};
  for (const auto& a : j["data"]["alerts"]) {
    if (a["labels"].value("alertname", "") != kAlertName) continue;
    return {a.value("state", ""), ParseTimeMs(a.value("activeAt", ""))};
  }
  return {"", 0};
}

std::vector<nlohmann::ordered_json> AlertingE2ETest::Payloads(
    const std::string& status, std::vector<int64_t>* received) {
  std::vector<nlohmann::ordered_json> out;
  for (const Received& r : ReadReceived(received_file_)) {
    auto j = nlohmann::ordered_json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != status) continue;
    out.push_back(std::move(j));
    if (received != nullptr) received->push_back(r.t_ms);
  }
  return out;
}

bool AlertingE2ETest::WaitPayload(const std::string& status,
                                  absl::Duration timeout) {
  return WaitUntil([&] { return !Payloads(status).empty(); }, timeout,
                   absl::Milliseconds(50));
}

}  // namespace vigil::e2e
