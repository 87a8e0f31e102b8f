// ConfigToYaml: the effective configuration rendered the way Prometheus 2.42
// renders it on /api/v1/status/config and /config (Go's yaml.v2 marshalling
// of its config structs): field order of the Go structs, omitempty rules,
// secrets as <secret>, bearer_token shown as the `authorization` it is
// converted to, and yaml.v2's choice of plain, single-quoted, double-quoted
// or literal scalars.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"
#include "server/config/config.h"

namespace vigil::config {
namespace {

// Go's url.URL.Redacted, as prometheus/common shows a proxy_url: the
// password of "scheme://user:password@host" becomes "xxxxx".
std::string RedactedUrl(const std::string& url) {
  size_t start = url.find("://");
  if (start == std::string::npos) return url;
  start += 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string::npos) end = url.size();
  size_t at = url.rfind('@', end);
  if (at == std::string::npos || at < start) return url;
  size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return absl::StrCat(url.substr(0, colon + 1), "xxxxx", url.substr(at));
}

constexpr char kSecret[] = "<secret>";

bool IsPrintable(unsigned char c) {
  // libyaml treats bytes >= 0x80 (UTF-8 sequences) as printable here; we
  // only ever see valid UTF-8.
  return c == '\n' || (c >= 0x20 && c != 0x7F);
}

// Would yaml.v2 read `s`, written plain, as something other than a string?
bool ResolvesToNonString(absl::string_view s) {
  static const char* const kWords[] = {
      "",      "~",     "null",  "Null",  "NULL",  "y",    "Y",     "yes",
      "Yes",   "YES",   "n",     "N",     "no",    "No",   "NO",    "true",
      "True",  "TRUE",  "false", "False", "FALSE", "on",   "On",    "ON",
      "off",   "Off",   "OFF",   ".inf",  ".Inf",  ".INF", "+.inf", "+.Inf",
      "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN", ".NAN",  "<<"};
  for (const char* w : kWords) {
    if (s == w) return true;
  }
  if (s.empty()) return true;
  const char c = s[0];
  if (!(absl::ascii_isdigit(c) || c == '+' || c == '-' || c == '.')) {
    return false;
  }
  std::string plain = absl::StrReplaceAll(s, {{"_", ""}});
  static const re2::RE2* const kInt = new re2::RE2(
      R"([-+]?(0[bB][01]+|0[oO]?[0-7]+|0[xX][0-9a-fA-F]+|[0-9]+))");
  static const re2::RE2* const kFloat =
      new re2::RE2(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  static const re2::RE2* const kTimestamp =
      new re2::RE2(R"([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?)");
  static const re2::RE2* const kBase60 =
      new re2::RE2(R"([-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)");
  re2::StringPiece p(plain.data(), plain.size());
  re2::StringPiece raw(s.data(), s.size());
  return re2::RE2::FullMatch(p, *kInt) || re2::RE2::FullMatch(p, *kFloat) ||
         re2::RE2::FullMatch(raw, *kTimestamp) ||
         re2::RE2::FullMatch(raw, *kBase60);
}

// libyaml's test for a plain scalar in block (or, with `flow`, flow) context.
bool PlainAllowed(absl::string_view s, bool flow) {
  if (s.empty()) return false;
  if (absl::StartsWith(s, "---") || absl::StartsWith(s, "...")) return false;
  if (absl::ascii_isspace(s.front()) || absl::ascii_isspace(s.back())) {
    return false;
  }
  const absl::string_view kIndicators = ",[]{}#&*!|>'\"%@`";
  if (kIndicators.find(s[0]) != absl::string_view::npos) return false;
  if ((s[0] == '-' || s[0] == '?' || s[0] == ':') &&
      (s.size() == 1 || s[1] == ' ')) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!IsPrintable(static_cast<unsigned char>(c)) || c == '\n') return false;
    if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
    if (flow && (c == ',' || c == '[' || c == ']' || c == '{' || c == '}' ||
                 c == '?')) {
      return false;
    }
  }
  return true;
}

std::string DoubleQuoted(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          static const char kHex[] = "0123456789ABCDEF";
          out += "\\x";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// A scalar as yaml.v2 writes it (not for multi-line block values, see
// Writer::String).
std::string Quote(absl::string_view s, bool flow = false) {
  const bool special = std::any_of(s.begin(), s.end(), [](char c) {
    return c == '\n' || !IsPrintable(static_cast<unsigned char>(c));
  });
  if (special || ResolvesToNonString(s)) return DoubleQuoted(s);
  if (PlainAllowed(s, flow)) return std::string(s);
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

// units.Base2Bytes's String(): "10MiB", "1KiB512B".
std::string FormatByteSize(int64_t n) {
  static const char* const kUnits[] = {"", "K", "M", "G", "T", "P", "E"};
  std::vector<std::string> parts(7);
  for (int i = 0; i < 7; ++i) {
    if (n % 1024 != 0 || (i == 0 && n == 0)) {
      parts[6 - i] = absl::StrCat(n % 1024, kUnits[i], i == 0 ? "B" : "iB");
    }
    n /= 1024;
    if (n == 0) break;
  }
  return absl::StrJoin(parts, "");
}

// Appends YAML lines at a given indentation.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Raw(int indent, absl::string_view key, absl::string_view value) {
    absl::StrAppend(out_, Pad(indent), Quote(key), ": ", value, "\n");
  }
  void String(int indent, absl::string_view key, absl::string_view value) {
    const bool multiline = value.find('\n') != absl::string_view::npos;
    const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
      return IsPrintable(static_cast<unsigned char>(c));
    });
    if (multiline && printable && !value.empty() && value[0] != ' ') {
      // yaml.v2 uses literal style for multi-line strings.
      absl::string_view body = value;
      const char* chomp = "-";
      if (absl::EndsWith(body, "\n")) {
        body.remove_suffix(1);
        chomp = absl::EndsWith(body, "\n") ? "+" : "";
      }
      absl::StrAppend(out_, Pad(indent), Quote(key), ": |", chomp, "\n");
      for (absl::string_view line : absl::StrSplit(body, '\n')) {
        if (line.empty()) {
          out_->push_back('\n');
        } else {
          absl::StrAppend(out_, Pad(indent + 2), line, "\n");
        }
      }
      return;
    }
    Raw(indent, key, Quote(value));
  }
  void StringIfSet(int indent, absl::string_view key, absl::string_view value) {
    if (!value.empty()) String(indent, key, value);
  }
  void Duration(int indent, absl::string_view key, absl::Duration d) {
    Raw(indent, key, FormatPromDuration(d));
  }
  void Bool(int indent, absl::string_view key, bool b) {
    Raw(indent, key, b ? "true" : "false");
  }
  template <typename Int>
  void IntIfSet(int indent, absl::string_view key, Int v) {
    if (v != 0) Raw(indent, key, absl::StrCat(v));
  }
  void Key(int indent, absl::string_view key) {
    absl::StrAppend(out_, Pad(indent), Quote(key), ":\n");
  }
  void StringList(int indent, absl::string_view key,
                  const std::vector<std::string>& values) {
    Key(indent, key);
    for (const std::string& v : values) {
      absl::StrAppend(out_, Pad(indent), "- ", Quote(v), "\n");
    }
  }
  void FlowList(int indent, absl::string_view key,
                const std::vector<std::string>& values) {
    std::vector<std::string> quoted;
    for (const std::string& v : values) quoted.push_back(Quote(v, true));
    Raw(indent, key, absl::StrCat("[", absl::StrJoin(quoted, ", "), "]"));
  }
  // A list of mappings: `fill` writes one item's fields at `indent + 2`;
  // its first line gets the "- " marker.
  template <typename T, typename Fill>
  void MapList(int indent, absl::string_view key, const std::vector<T>& items,
               Fill fill) {
    if (items.empty()) return;
    Key(indent, key);
    for (const T& item : items) {
      size_t start = out_->size();
      fill(item, indent + 2);
      if (out_->size() > start) {
        out_->replace(start, indent + 2, Pad(indent) + "- ");
      } else {
        absl::StrAppend(out_, Pad(indent), "- {}\n");
      }
    }
  }
  void LabelMap(int indent, absl::string_view key, const tsdb::Labels& ls) {
    if (ls.empty()) return;
    Key(indent, key);
    for (const tsdb::Label& l : ls) String(indent + 2, l.name, l.value);
  }

 private:
  static std::string Pad(int n) { return std::string(n, ' '); }
  std::string* out_;
};

void WriteRelabel(Writer& w, const RelabelConfig& r, int in) {
  if (!r.source_labels.empty())
    w.FlowList(in, "source_labels", r.source_labels);
  w.String(in, "separator", r.separator);
  w.String(in, "regex", r.regex_source);
  w.IntIfSet(in, "modulus", r.modulus);
  w.StringIfSet(in, "target_label", r.target_label);
  w.String(in, "replacement", r.replacement);
  w.Raw(in, "action", RelabelActionName(r.action));
}

void WriteRelabels(Writer& w, absl::string_view key,
                   const std::vector<RelabelConfig>& rs, int in) {
  w.MapList(in, key, rs,
            [&](const RelabelConfig& r, int i) { WriteRelabel(w, r, i); });
}

void WriteTls(Writer& w, const TlsConfig& t, int in) {
  if (!t.ca_file.empty() || !t.cert_file.empty() || !t.key_file.empty() ||
      !t.server_name.empty() || t.insecure_skip_verify ||
      !t.min_version.empty()) {
    w.Key(in, "tls_config");
    w.StringIfSet(in + 2, "ca_file", t.ca_file);
    w.StringIfSet(in + 2, "cert_file", t.cert_file);
    w.StringIfSet(in + 2, "key_file", t.key_file);
    w.StringIfSet(in + 2, "server_name", t.server_name);
    w.Bool(in + 2, "insecure_skip_verify", t.insecure_skip_verify);
    w.StringIfSet(in + 2, "min_version", t.min_version);
  }
}

void WriteHttpClient(Writer& w, const HttpClientConfig& h, int in) {
  if (h.basic_auth) {
    w.Key(in, "basic_auth");
    w.String(in + 2, "username", h.basic_auth->username);
    if (!h.basic_auth->password.empty()) {
      w.Raw(in + 2, "password", kSecret);
    }
    w.StringIfSet(in + 2, "password_file", h.basic_auth->password_file);
  }
  // Prometheus turns bearer_token(_file) into an Authorization of type
  // Bearer before showing the config.
  std::optional<Authorization> auth = h.authorization;
  if (!auth && (!h.bearer_token.empty() || !h.bearer_token_file.empty())) {
    auth.emplace();
    auth->credentials = h.bearer_token;
    auth->credentials_file = h.bearer_token_file;
  }
  if (auth) {
    w.Key(in, "authorization");
    w.String(in + 2, "type",
             auth->type.empty() ? std::string("Bearer") : auth->type);
    if (!auth->credentials.empty()) w.Raw(in + 2, "credentials", kSecret);
    w.StringIfSet(in + 2, "credentials_file", auth->credentials_file);
  }
  if (h.oauth2) {
    // As Prometheus 2.42 shows it: an empty secret is null, the file is
    // always there, scopes and endpoint_params only when set.
    const OAuth2& o = *h.oauth2;
    w.Key(in, "oauth2");
    w.String(in + 2, "client_id", o.client_id);
    w.Raw(in + 2, "client_secret", o.client_secret.empty() ? "null" : kSecret);
    w.String(in + 2, "client_secret_file", o.client_secret_file);
    if (!o.scopes.empty()) w.StringList(in + 2, "scopes", o.scopes);
    w.String(in + 2, "token_url", o.token_url);
    if (!o.endpoint_params.empty()) {
      w.Key(in + 2, "endpoint_params");
      for (const auto& [k, v] : o.endpoint_params) w.String(in + 4, k, v);
    }
    w.StringIfSet(in + 2, "proxy_url", RedactedUrl(o.proxy_url));
    WriteTls(w, o.tls_config, in + 2);
  }
  WriteTls(w, h.tls_config, in);
  w.StringIfSet(in, "proxy_url", RedactedUrl(h.proxy_url));
  w.Bool(in, "follow_redirects", h.follow_redirects);
  w.Bool(in, "enable_http2", h.enable_http2);
}

void WriteTargetGroups(Writer& w, const std::vector<discovery::TargetGroup>& gs,
                       int in) {
  w.MapList(in, "static_configs", gs,
            [&](const discovery::TargetGroup& g, int i) {
              std::vector<std::string> targets;
              for (const tsdb::Labels& t : g.targets) {
                targets.emplace_back(t.Get(discovery::kAddressLabel));
              }
              w.StringList(i, "targets", targets);
              w.LabelMap(i, "labels", g.labels);
            });
}

// Service discovery configs come last, grouped by kind in alphabetical
// order, as Prometheus's discovery registry marshals them.
void WriteDiscovery(Writer& w, const std::vector<DNSSDConfig>& dns,
                    const std::vector<FileSDConfig>& files,
                    const std::vector<discovery::TargetGroup>& statics,
                    int in) {
  w.MapList(in, "dns_sd_configs", dns, [&](const DNSSDConfig& d, int i) {
    w.StringList(i, "names", d.names);
    w.Duration(i, "refresh_interval", d.refresh_interval);
    w.String(i, "type", d.type);
    w.Raw(i, "port", absl::StrCat(d.port));
  });
  w.MapList(in, "file_sd_configs", files, [&](const FileSDConfig& f, int i) {
    w.StringList(i, "files", f.files);
    w.Duration(i, "refresh_interval", f.refresh_interval);
  });
  WriteTargetGroups(w, statics, in);
}

}  // namespace

std::string ConfigToYaml(const Config& cfg) {
  std::string out;
  Writer w(&out);
  const GlobalConfig& g = cfg.global;
  w.Key(0, "global");
  w.Duration(2, "scrape_interval", g.scrape_interval);
  w.Duration(2, "scrape_timeout", g.scrape_timeout);
  // Not a Prometheus 2.42 field: shown only when set to a non-default.
  if (g.scrape_protocols != DefaultScrapeProtocols()) {
    w.StringList(2, "scrape_protocols", g.scrape_protocols);
  }
  w.Duration(2, "evaluation_interval", g.evaluation_interval);
  w.LabelMap(2, "external_labels", g.external_labels);

  const AlertingConfig& a = cfg.alerting;
  if (!a.alert_relabel_configs.empty() || !a.alertmanagers.empty()) {
    w.Key(0, "alerting");
    WriteRelabels(w, "alert_relabel_configs", a.alert_relabel_configs, 2);
    w.MapList(2, "alertmanagers", a.alertmanagers,
              [&](const AlertmanagerConfig& am, int i) {
                WriteHttpClient(w, am, i);
                w.String(i, "scheme", am.scheme);
                w.StringIfSet(i, "path_prefix", am.path_prefix);
                w.Duration(i, "timeout", am.timeout);
                w.String(i, "api_version", am.api_version);
                WriteRelabels(w, "relabel_configs", am.relabel_configs, i);
                WriteDiscovery(w, am.dns_sd_configs, am.file_sd_configs,
                               am.static_configs, i);
              });
  }
  if (!cfg.rule_files.empty()) w.StringList(0, "rule_files", cfg.rule_files);

  w.MapList(
      0, "scrape_configs", cfg.scrape_configs,
      [&](const ScrapeConfig& sc, int i) {
        w.String(i, "job_name", sc.job_name);
        if (sc.honor_labels) w.Bool(i, "honor_labels", true);
        w.Bool(i, "honor_timestamps", sc.honor_timestamps);
        if (!sc.params.empty()) {
          w.Key(i, "params");
          for (const auto& [k, vs] : sc.params) {
            w.StringList(i + 2, k, vs);
          }
        }
        w.Duration(i, "scrape_interval", sc.scrape_interval);
        w.Duration(i, "scrape_timeout", sc.scrape_timeout);
        if (sc.scrape_protocols != g.scrape_protocols) {
          w.StringList(i, "scrape_protocols", sc.scrape_protocols);
        }
        w.String(i, "metrics_path", sc.metrics_path);
        w.String(i, "scheme", sc.scheme);
        if (sc.body_size_limit != 0) {
          w.Raw(i, "body_size_limit", FormatByteSize(sc.body_size_limit));
        }
        w.IntIfSet(i, "sample_limit", sc.sample_limit);
        w.IntIfSet(i, "target_limit", sc.target_limit);
        w.IntIfSet(i, "label_limit", sc.label_limit);
        w.IntIfSet(i, "label_name_length_limit", sc.label_name_length_limit);
        w.IntIfSet(i, "label_value_length_limit", sc.label_value_length_limit);
        WriteHttpClient(w, sc, i);
        WriteRelabels(w, "relabel_configs", sc.relabel_configs, i);
        WriteRelabels(w, "metric_relabel_configs", sc.metric_relabel_configs,
                      i);
        WriteDiscovery(w, sc.dns_sd_configs, sc.file_sd_configs,
                       sc.static_configs, i);
      });

  w.MapList(0, "remote_write", cfg.remote_write,
            [&](const RemoteWriteConfig& rw, int i) {
              w.String(i, "url", rw.url);
              w.Duration(i, "remote_timeout", rw.remote_timeout);
              if (!rw.headers.empty()) {
                w.Key(i, "headers");
                for (const auto& [k, v] : rw.headers) w.String(i + 2, k, v);
              }
              WriteRelabels(w, "write_relabel_configs",
                            rw.write_relabel_configs, i);
              w.StringIfSet(i, "name", rw.name);
              if (rw.send_exemplars) w.Bool(i, "send_exemplars", true);
              if (rw.send_native_histograms) {
                w.Bool(i, "send_native_histograms", true);
              }
              WriteHttpClient(w, rw, i);
              const QueueConfig& q = rw.queue_config;
              w.Key(i, "queue_config");
              w.Raw(i + 2, "capacity", absl::StrCat(q.capacity));
              w.Raw(i + 2, "max_shards", absl::StrCat(q.max_shards));
              w.Raw(i + 2, "min_shards", absl::StrCat(q.min_shards));
              w.Raw(i + 2, "max_samples_per_send",
                    absl::StrCat(q.max_samples_per_send));
              w.Duration(i + 2, "batch_send_deadline", q.batch_send_deadline);
              w.Duration(i + 2, "min_backoff", q.min_backoff);
              w.Duration(i + 2, "max_backoff", q.max_backoff);
              if (q.retry_on_http_429) w.Bool(i + 2, "retry_on_http_429", true);
              const MetadataConfig& m = rw.metadata_config;
              w.Key(i, "metadata_config");
              w.Bool(i + 2, "send", m.send);
              w.Duration(i + 2, "send_interval", m.send_interval);
              w.Raw(i + 2, "max_samples_per_send",
                    absl::StrCat(m.max_samples_per_send));
            });
  return out;
}

}  // namespace vigil::config
