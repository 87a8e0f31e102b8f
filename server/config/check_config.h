// `vigil check config FILE...`: validates Prometheus configuration files the
// way `promtool check config` does, with the same output shape:
//
//   Checking prometheus.yml
//    SUCCESS: 3 rule files found
//    SUCCESS: prometheus.yml is valid prometheus config file syntax
//
// and, on failure, "  FAILED: <error>" on the error stream. Beyond parsing
// it checks that rule files named without a wildcard exist, that
// bearer-token and TLS client files exist, that file_sd files parse, and
// that static and file_sd targets still have a valid address after target
// relabeling. Rule files are not parsed (that is `vigil check rules`).
#ifndef VIGIL_SERVER_CONFIG_CHECK_CONFIG_H_
#define VIGIL_SERVER_CONFIG_CHECK_CONFIG_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/config.h"

namespace vigil::config {

// Returns the process exit code: 0 when every file is valid, 1 otherwise.
// Writes to std::cout / std::cerr.
int RunCheckConfigCommand(const std::vector<std::string>& files);

// As above with explicit streams (for tests and embedding).
int RunCheckConfigCommand(const std::vector<std::string>& files,
                          std::ostream& out, std::ostream& err);

// Checks one file: loads it and runs the extra checks. Returns the rule
// files found (glob-expanded); warnings (e.g. a file_sd glob matching
// nothing) are appended to `*warnings`.
absl::StatusOr<std::vector<std::string>> CheckConfigFile(
    const std::string& path, std::vector<std::string>* warnings);

}  // namespace vigil::config

#endif  // VIGIL_SERVER_CONFIG_CHECK_CONFIG_H_
