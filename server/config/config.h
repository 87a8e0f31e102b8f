// Vigil's `prometheus.yml`: the same file format and the same strict
// semantics as Prometheus 2.42. Unknown or misspelt fields, duplicate keys,
// bad durations/sizes/regexes/label names and inconsistent settings are
// errors that name the file, the line and the place:
//
//   prometheus.yml:14: unknown field "scrape_intervall" in scrape_configs[0]
//
// Where Prometheus accepts a value that can only fail later, Vigil rejects it
// at load time: a scheme other than http/https, a remote_write url without
// http(s)://host, a proxy_url that is not http://[user:pass@]host[:port]
// (Vigil tunnels through plain HTTP proxies only), non-positive queue_config
// sizes or min_shards > max_shards, an alertmanager api_version other than
// v1/v2. Sections Vigil has no use for (remote_read, storage, tracing) are
// accepted unvalidated; unsupported discovery mechanisms (*_sd_configs other
// than static/file/dns), sigv4 and azuread are errors saying so, as
// are no_proxy, proxy_from_environment and proxy_connect_header (added in
// Prometheus 2.43; 2.42 rejects them as unknown fields).
// A field given as null keeps its default (Go's yaml.v2 would zero it).
//
// Defaults are Prometheus's and are filled in by the parser, so consumers
// never see "unset" values: every ScrapeConfig has its interval, timeout and
// protocols resolved against `global`.
//
//   absl::StatusOr<Config> cfg = LoadConfigFile("/etc/vigil/prometheus.yml");
//   if (!cfg.ok()) return cfg.status();
//   for (const ScrapeConfig& sc : cfg->scrape_configs) StartJob(sc);
#ifndef VIGIL_SERVER_CONFIG_CONFIG_H_
#define VIGIL_SERVER_CONFIG_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/config/relabel.h"
#include "server/discovery/target_group.h"
#include "tsdb/labels.h"

namespace vigil::config {

// Scrape protocol names accepted in `scrape_protocols`, in Prometheus's
// default negotiation order (the Accept header is built from this order).
inline constexpr char kOpenMetricsText1_0_0[] = "OpenMetricsText1.0.0";
inline constexpr char kOpenMetricsText0_0_1[] = "OpenMetricsText0.0.1";
inline constexpr char kPrometheusText0_0_4[] = "PrometheusText0.0.4";
inline constexpr char kPrometheusProto[] = "PrometheusProto";
std::vector<std::string> DefaultScrapeProtocols();

struct BasicAuth {
  std::string username;
  std::string password;
  std::string password_file;
};

// `authorization: {type: Bearer, credentials: ..., credentials_file: ...}`.
struct Authorization {
  std::string type = "Bearer";
  std::string credentials;
  std::string credentials_file;
};

struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  bool insecure_skip_verify = false;
  // "TLS10", "TLS11", "TLS12" or "TLS13"; empty means TLS12.
  std::string min_version;
};

// `oauth2`: OAuth 2.0 client credentials (prometheus/common's OAuth2).
struct OAuth2 {
  std::string client_id;
  std::string client_secret;
  std::string client_secret_file;
  std::vector<std::string> scopes;
  std::string token_url;
  std::map<std::string, std::string> endpoint_params;
  TlsConfig tls_config;  // for the token endpoint
  std::string proxy_url;
};

// HTTP client settings shared by scrape, alertmanager and remote-write
// configs (Prometheus's common/config.HTTPClientConfig). At most one of
// basic_auth, authorization, oauth2, bearer_token, bearer_token_file is
// set.
struct HttpClientConfig {
  std::optional<BasicAuth> basic_auth;
  std::optional<Authorization> authorization;
  std::optional<OAuth2> oauth2;
  std::string bearer_token;
  std::string bearer_token_file;
  TlsConfig tls_config;
  std::string proxy_url;
  bool follow_redirects = true;
  bool enable_http2 = true;
};

struct FileSDConfig {
  // Glob patterns; each must end in .json, .yml or .yaml. Relative patterns
  // are relative to the config file's directory (resolved by the parser).
  std::vector<std::string> files;
  absl::Duration refresh_interval = absl::Minutes(5);
};

struct DNSSDConfig {
  std::vector<std::string> names;
  // "SRV" (default), "A", "AAAA" or "MX"; upper-cased by the parser.
  std::string type = "SRV";
  // Required for every type except SRV (SRV records carry their own port).
  int port = 0;
  absl::Duration refresh_interval = absl::Seconds(30);
};

struct GlobalConfig {
  absl::Duration scrape_interval = absl::Minutes(1);
  absl::Duration scrape_timeout = absl::Seconds(10);
  absl::Duration evaluation_interval = absl::Minutes(1);
  tsdb::Labels external_labels;
  std::vector<std::string> scrape_protocols = DefaultScrapeProtocols();
};

struct ScrapeConfig : HttpClientConfig {
  std::string job_name;
  // Resolved against GlobalConfig by the parser: never zero.
  absl::Duration scrape_interval;
  absl::Duration scrape_timeout;
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  // Zero means "no limit" for all limits below.
  uint64_t sample_limit = 0;
  uint64_t target_limit = 0;
  uint64_t label_limit = 0;
  uint64_t label_name_length_limit = 0;
  uint64_t label_value_length_limit = 0;
  int64_t body_size_limit = 0;  // bytes
  // Resolved against GlobalConfig by the parser: never empty.
  std::vector<std::string> scrape_protocols;

  std::vector<discovery::TargetGroup> static_configs;
  std::vector<FileSDConfig> file_sd_configs;
  std::vector<DNSSDConfig> dns_sd_configs;
  std::vector<RelabelConfig> relabel_configs;
  std::vector<RelabelConfig> metric_relabel_configs;
};

struct AlertmanagerConfig : HttpClientConfig {
  std::vector<discovery::TargetGroup> static_configs;
  std::vector<FileSDConfig> file_sd_configs;
  std::vector<DNSSDConfig> dns_sd_configs;
  std::vector<RelabelConfig> relabel_configs;
  std::string scheme = "http";
  std::string path_prefix;
  absl::Duration timeout = absl::Seconds(10);
  std::string api_version = "v2";  // "v1" or "v2"
};

struct AlertingConfig {
  std::vector<RelabelConfig> alert_relabel_configs;
  std::vector<AlertmanagerConfig> alertmanagers;
};

struct QueueConfig {
  int capacity = 2500;
  int max_shards = 200;
  int min_shards = 1;
  int max_samples_per_send = 500;
  absl::Duration batch_send_deadline = absl::Seconds(5);
  absl::Duration min_backoff = absl::Milliseconds(30);
  absl::Duration max_backoff = absl::Seconds(5);
  bool retry_on_http_429 = false;
};

struct MetadataConfig {
  bool send = true;
  absl::Duration send_interval = absl::Minutes(1);
  int max_samples_per_send = 500;
};

struct RemoteWriteConfig : HttpClientConfig {
  std::string url;
  std::string name;
  absl::Duration remote_timeout = absl::Seconds(30);
  std::map<std::string, std::string> headers;
  std::vector<RelabelConfig> write_relabel_configs;
  bool send_exemplars = false;
  bool send_native_histograms = false;
  QueueConfig queue_config;
  MetadataConfig metadata_config;
};

struct Config {
  GlobalConfig global;
  // As written in the file; see ResolveRuleFiles().
  std::vector<std::string> rule_files;
  std::vector<ScrapeConfig> scrape_configs;
  AlertingConfig alerting;
  std::vector<RemoteWriteConfig> remote_write;

  // The YAML text the config was parsed from (shown on /config) and the file
  // it came from ("" when parsed from a string).
  std::string source_text;
  std::string source_path;
};

// Parses and validates `yaml`. `filename` is used in error messages and to
// resolve relative file_sd paths; it need not exist. An empty document
// yields the default config.
absl::StatusOr<Config> ParseConfig(absl::string_view yaml,
                                   const std::string& filename);

// Reads and parses `path`. NotFound/PermissionDenied etc. name the file.
// Also checks every tls_config's files (they must exist and hold PEM data
// of the right kind, see net::ValidateTlsOptions); errors name the file,
// the section and the field.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Expands the `rule_files` globs, relative ones against the directory of
// `config.source_path`, into a sorted, de-duplicated list of existing files.
// A pattern matching nothing is not an error (as in Prometheus); a malformed
// pattern is InvalidArgument naming it.
absl::StatusOr<std::vector<std::string>> ResolveRuleFiles(const Config& config);

// The effective config as YAML, exactly as Prometheus 2.42 shows it on
// /api/v1/status/config and /config: defaults filled in, Go field order,
// secrets replaced by "<secret>", bearer_token shown as `authorization`.
std::string ConfigToYaml(const Config& config);

// Prometheus duration syntax: "0", or a sequence of <int><unit> with units
// y, w, d, h, m, s, ms in that order ("1m30s", "2w", "100ms"). A year is 365
// days. InvalidArgument naming the text otherwise.
absl::StatusOr<absl::Duration> ParsePromDuration(absl::string_view text);
// Formats like Prometheus: "1m30s", "2w", "0s", "100ms".
std::string FormatPromDuration(absl::Duration d);

// Sizes as Prometheus's body_size_limit: "0" or <int><unit> with units B,
// KB, KiB, MB, MiB, GB, GiB, TB, TiB, PB, PiB, EB, EiB (all powers of 1024),
// possibly repeated ("1GB512MB").
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

}  // namespace vigil::config

#endif  // VIGIL_SERVER_CONFIG_CONFIG_H_
