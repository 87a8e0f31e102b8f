#include "server/default_config.h"

#include "absl/strings/str_cat.h"

namespace vigil::server {

std::string DefaultConfigYaml(absl::string_view listen_address) {
  std::string target(listen_address);
  size_t colon = target.rfind(':');
  std::string host = colon == std::string::npos ? "" : target.substr(0, colon);
  std::string port =
      colon == std::string::npos ? target : target.substr(colon + 1);
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "localhost";
  return absl::StrCat(
      "# Built-in configuration of `vigil serve` (no --config.file given).\n"
      "global:\n"
      "  scrape_interval: 15s\n"
      "  evaluation_interval: 15s\n"
      "scrape_configs:\n"
      "  - job_name: vigil\n"
      "    scrape_interval: 15s\n"
      "    static_configs:\n"
      "      - targets: ['",
      host, ":", port, "']\n");
}

const char kDefaultRulesYaml[] =
    "groups:\n"
    "  - name: vigil-self\n"
    "    interval: 15s\n"
    "    rules:\n"
    "      - record: job:up:sum\n"
    "        expr: sum by (job) (up)\n"
    "      - alert: TargetDown\n"
    "        expr: up == 0\n"
    "        for: 1m\n"
    "        labels:\n"
    "          severity: warning\n"
    "        annotations:\n"
    "          summary: \"Target {{ $labels.instance }} of job "
    "{{ $labels.job }} is down\"\n";

}  // namespace vigil::server
