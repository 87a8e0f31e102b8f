// Command-line flags of `vigil serve`, named like Prometheus's where the
// meaning is the same. Both "--flag=value" and "--flag value" work; boolean
// flags may omit the value ("--web.enable-lifecycle"); unknown flags and bad
// values are errors naming the flag.
//
//   absl::StatusOr<ServeFlags> f = ParseServeFlags({"--web.listen-address",
//                                                   "127.0.0.1:9091"});
//   f->listen_address;   // "127.0.0.1:9091"
//   f->values;           // every flag as text, for /api/v1/status/flags
#ifndef VIGIL_SERVER_FLAGS_H_
#define VIGIL_SERVER_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vigil::server {

struct ServeFlags {
  std::string config_file;  // "" = embedded default config
  std::string storage_tsdb_path = "data/";
  int64_t retention_time_ms = 15LL * 24 * 3600 * 1000;
  int64_t retention_size_bytes = 0;  // 0 = unlimited
  std::string listen_address = "0.0.0.0:9090";
  std::string external_url;
  std::string route_prefix;  // derived from external_url when unset
  bool enable_lifecycle = false;
  bool enable_admin_api = false;
  bool enable_remote_write_receiver = false;
  int64_t query_timeout_ms = 2 * 60 * 1000;
  int64_t query_max_samples = 50'000'000;
  int query_max_concurrency = 20;
  int64_t query_lookback_delta_ms = 5 * 60 * 1000;
  int64_t for_outage_tolerance_ms = 3600 * 1000;
  int64_t for_grace_period_ms = 10 * 60 * 1000;
  int64_t resend_delay_ms = 60 * 1000;
  std::string log_level = "info";     // debug|info|warn|error
  std::string log_format = "logfmt";  // logfmt|json
  std::string alerting_config_file;

  // Every known flag (without "--") and its effective value as text, as
  // /api/v1/status/flags reports them.
  std::map<std::string, std::string> values;
};

// Parses the arguments after "serve". Returns InvalidArgument on unknown
// flags, missing values, bad values and positional arguments.
absl::StatusOr<ServeFlags> ParseServeFlags(
    const std::vector<std::string>& args);

// Help text for `vigil serve --help`.
std::string ServeUsage();

}  // namespace vigil::server

#endif  // VIGIL_SERVER_FLAGS_H_
