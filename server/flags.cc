#include "server/flags.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/duration.h"

namespace vigil::server {
namespace {

enum class Kind { kString, kBool, kDuration, kInt, kBytes, kEnum };

struct FlagSpec {
  const char* name;
  const char* default_value;
  Kind kind;
  const char* help;
  const char* choices = "";  // for kEnum: "a|b|c"
};

constexpr FlagSpec kFlags[] = {
    {"config.file", "", Kind::kString,
     "Configuration file path (default: embedded config scraping itself)."},
    {"storage.tsdb.path", "data/", Kind::kString,
     "Base path for metrics storage."},
    {"storage.tsdb.retention.time", "15d", Kind::kDuration,
     "How long to retain samples in storage."},
    {"storage.tsdb.retention.size", "0B", Kind::kBytes,
     "Maximum number of bytes that can be stored for blocks (0 = no limit)."},
    {"web.listen-address", "0.0.0.0:9090", Kind::kString,
     "Address to listen on for UI, API, and telemetry."},
    {"web.external-url", "", Kind::kString,
     "The URL under which Vigil is externally reachable."},
    {"web.route-prefix", "", Kind::kString,
     "Prefix for the internal routes of web endpoints (default: path of "
     "--web.external-url)."},
    {"web.enable-lifecycle", "false", Kind::kBool,
     "Enable shutdown and reload via HTTP request."},
    {"web.enable-admin-api", "false", Kind::kBool,
     "Enable API endpoints for admin control actions."},
    {"web.enable-remote-write-receiver", "false", Kind::kBool,
     "Enable API endpoint accepting remote write requests."},
    {"query.timeout", "2m", Kind::kDuration,
     "Maximum time a query may take before being aborted."},
    {"query.max-samples", "50000000", Kind::kInt,
     "Maximum number of samples a single query can load into memory."},
    {"query.max-concurrency", "20", Kind::kInt,
     "Maximum number of queries executed concurrently."},
    {"query.lookback-delta", "5m", Kind::kDuration,
     "How far back to look for samples of an instant vector selector."},
    {"rules.alert.for-outage-tolerance", "1h", Kind::kDuration,
     "Max time to tolerate outage for restoring \"for\" state of alerts."},
    {"rules.alert.for-grace-period", "10m", Kind::kDuration,
     "Minimum duration between alert and restored \"for\" state. This is "
     "maintained only for alerts with configured \"for\" time greater "
     "than grace period."},
    {"rules.alert.resend-delay", "1m", Kind::kDuration,
     "Minimum amount of time to wait before resending an alert to "
     "Alertmanager."},
    {"log.level", "info", Kind::kEnum,
     "Only log messages with the given severity or above.",
     "debug|info|warn|error"},
    {"log.format", "logfmt", Kind::kEnum, "Output format of log messages.",
     "logfmt|json"},
    {"alerting.config.file", "", Kind::kString,
     "Alertmanager-style routing configuration file for built-in alert "
     "delivery."},
};

const FlagSpec* FindFlag(absl::string_view name) {
  for (const FlagSpec& f : kFlags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

absl::Status Invalid(absl::string_view flag, absl::string_view value,
                     absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("flag --", flag, ": invalid value \"", value, "\": ", why));
}

absl::Status Validate(const FlagSpec& f, const std::string& v) {
  switch (f.kind) {
    case Kind::kString:
      return absl::OkStatus();
    case Kind::kBool:
      if (v == "true" || v == "false") return absl::OkStatus();
      return Invalid(f.name, v, "want true or false");
    case Kind::kDuration: {
      absl::StatusOr<int64_t> d = ParsePromDuration(v);
      if (!d.ok()) return Invalid(f.name, v, d.status().message());
      return absl::OkStatus();
    }
    case Kind::kInt: {
      int64_t n;
      if (!absl::SimpleAtoi(v, &n) || n < 0) {
        return Invalid(f.name, v, "want a non-negative integer");
      }
      return absl::OkStatus();
    }
    case Kind::kBytes: {
      absl::StatusOr<int64_t> b = ParseByteSize(v);
      if (!b.ok()) return Invalid(f.name, v, b.status().message());
      return absl::OkStatus();
    }
    case Kind::kEnum:
      for (absl::string_view c : absl::StrSplit(f.choices, '|')) {
        if (c == v) return absl::OkStatus();
      }
      return Invalid(f.name, v, absl::StrCat("want one of ", f.choices));
  }
  return absl::OkStatus();
}

// Path part of an external URL: "http://h:9090/prom/" -> "/prom".
std::string PathOf(absl::string_view url) {
  size_t scheme = url.find("://");
  if (scheme != absl::string_view::npos) {
    url = url.substr(scheme + 3);
    size_t slash = url.find('/');
    url = slash == absl::string_view::npos ? absl::string_view()
                                           : url.substr(slash);
  }
  std::string p(url);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

absl::StatusOr<ServeFlags> ParseServeFlags(
    const std::vector<std::string>& args) {
  std::map<std::string, std::string> values;
  for (const FlagSpec& f : kFlags) values[f.name] = f.default_value;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\""));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const FlagSpec* f = FindFlag(name);
    if (f == nullptr && absl::StartsWith(name, "no-") && !has_value) {
      // kingpin's negated booleans: --no-web.enable-lifecycle.
      const FlagSpec* neg = FindFlag(name.substr(3));
      if (neg != nullptr && neg->kind == Kind::kBool) {
        values[neg->name] = "false";
        continue;
      }
    }
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (f->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value"));
      }
    }
    absl::Status s = Validate(*f, value);
    if (!s.ok()) return s;
    values[f->name] = value;
  }

  ServeFlags out;
  auto dur = [&](const char* n) { return *ParsePromDuration(values[n]); };
  auto num = [&](const char* n) {
    int64_t v = 0;
    (void)absl::SimpleAtoi(values[n], &v);
    return v;
  };
  out.config_file = values["config.file"];
  out.storage_tsdb_path = values["storage.tsdb.path"];
  out.retention_time_ms = dur("storage.tsdb.retention.time");
  out.retention_size_bytes =
      *ParseByteSize(values["storage.tsdb.retention.size"]);
  out.listen_address = values["web.listen-address"];
  out.external_url = values["web.external-url"];
  out.route_prefix = values["web.route-prefix"];
  if (out.route_prefix.empty()) out.route_prefix = PathOf(out.external_url);
  if (out.external_url.empty()) {
    // As Prometheus: the machine's hostname with the listen port.
    std::string host = out.listen_address;
    std::string port;
    size_t colon = host.rfind(':');
    if (colon != std::string::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty() || host == "0.0.0.0" || host == "[::]") {
      char name[256] = {0};
      host = gethostname(name, sizeof name - 1) == 0 && name[0] != '\0'
                 ? name
                 : "localhost";
    }
    out.external_url = absl::StrCat("http://", host, port.empty() ? "" : ":",
                                    port, out.route_prefix);
  }
  // As Prometheus, the external URL carries no trailing slash: links such
  // as an alert's generatorURL append "/graph?..." to it.
  while (absl::EndsWith(out.external_url, "/")) out.external_url.pop_back();
  out.enable_lifecycle = values["web.enable-lifecycle"] == "true";
  out.enable_admin_api = values["web.enable-admin-api"] == "true";
  out.enable_remote_write_receiver =
      values["web.enable-remote-write-receiver"] == "true";
  out.query_timeout_ms = dur("query.timeout");
  out.query_max_samples = num("query.max-samples");
  out.query_max_concurrency = static_cast<int>(num("query.max-concurrency"));
  if (out.query_max_concurrency < 1) {
    return absl::InvalidArgumentError(
        "flag --query.max-concurrency: must be at least 1");
  }
  out.query_lookback_delta_ms = dur("query.lookback-delta");
  out.for_outage_tolerance_ms = dur("rules.alert.for-outage-tolerance");
  out.for_grace_period_ms = dur("rules.alert.for-grace-period");
  out.resend_delay_ms = dur("rules.alert.resend-delay");
  out.log_level = values["log.level"];
  out.log_format = values["log.format"];
  out.alerting_config_file = values["alerting.config.file"];
  out.values = std::move(values);
  return out;
}

std::string ServeUsage() {
  std::string out =
      "usage: vigil serve [<flags>]\n\nRun the Vigil server.\n\nFlags:\n";
  for (const FlagSpec& f : kFlags) {
    std::string left = absl::StrCat("  --", f.name);
    if (f.kind != Kind::kBool) absl::StrAppend(&left, "=VALUE");
    if (left.size() < 44) left.resize(44, ' ');
    absl::StrAppend(&out, left, " ", f.help);
    if (f.default_value[0] != '\0' && f.kind != Kind::kBool) {
      absl::StrAppend(&out, " (default: ", f.default_value, ")");
    }
    out.push_back('\n');
  }
  return out;
}

}  // namespace vigil::server
