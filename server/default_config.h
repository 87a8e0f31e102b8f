// The configuration `vigil serve` runs with when no --config.file is given:
// scrape Vigil itself every 15s and evaluate a small built-in rule file
// (a recording rule and an alert on `up == 0` for 1m), so a bare
// `vigil serve` is immediately useful and self-monitoring.
#ifndef VIGIL_SERVER_DEFAULT_CONFIG_H_
#define VIGIL_SERVER_DEFAULT_CONFIG_H_

#include <string>

#include "absl/strings/string_view.h"

namespace vigil::server {

// prometheus.yml text whose only job ("vigil") scrapes `listen_address`
// (0.0.0.0 and an empty host become localhost).
std::string DefaultConfigYaml(absl::string_view listen_address);

// Name under which the embedded rule file is reported (/api/v1/rules "file").
inline constexpr absl::string_view kDefaultRulesName =
    "<embedded>/vigil.rules.yml";

// The embedded rule file (Prometheus rule file syntax).
extern const char kDefaultRulesYaml[];

}  // namespace vigil::server

#endif  // VIGIL_SERVER_DEFAULT_CONFIG_H_
