#include "server/config/config.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/tls.h"
#include "net/url.h"
#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace vigil::config {
namespace {

re2::StringPiece Piece(absl::string_view s) {
  return re2::StringPiece(s.data(), s.size());
}

// ---------------------------------------------------------------------------
// Paths.

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Joins a relative `path` to `dir` as Prometheus's SetDirectory does; absolute
// paths, empty paths and an empty `dir` leave `path` unchanged.
std::string JoinDir(const std::string& dir, const std::string& path) {
  if (dir.empty() || path.empty() || path[0] == '/') return path;
  return dir == "/" ? "/" + path : dir + "/" + path;
}

// Prometheus allows one wildcard, and only in the last path component, in
// rule_files patterns.
const re2::RE2& RuleFilePattern() {
  static const re2::RE2* const kPattern = new re2::RE2(R"(^[^*]*(\*[^/]*)?$)");
  return *kPattern;
}

// file_sd_configs.files: as above, and the extension says the format.
const re2::RE2& FileSDPattern() {
  static const re2::RE2* const kPattern =
      new re2::RE2(R"(^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$)");
  return *kPattern;
}

// ---------------------------------------------------------------------------
// The YAML walker. Every error carries FILE:LINE and the dotted path of the
// element (e.g. "scrape_configs[0].relabel_configs[1].regex").

class Parser {
 public:
  using Handler = std::function<absl::Status(const YAML::Node& value,
                                             const std::string& path)>;
  struct Field {
    const char* name;
    Handler handler;
  };

  Parser(std::string file, std::string dir)
      : file_(std::move(file)), dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }

  absl::Status Error(const YAML::Node& node, const std::string& path,
                     absl::string_view message) const {
    return ErrorAt(node.Mark(), path, message);
  }

  absl::Status ErrorAt(const YAML::Mark& mark, const std::string& path,
                       absl::string_view message) const {
    std::string where = file_;
    if (mark.line >= 0) absl::StrAppend(&where, ":", mark.line + 1);
    if (path.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", path, ": ", message));
  }

  // Walks a mapping and dispatches each key to its handler. Unknown keys and
  // duplicate keys are errors (yaml.UnmarshalStrict's behaviour). A null
  // value leaves the field at its default. A null mapping is empty.
  absl::Status Mapping(const YAML::Node& node, const std::string& path,
                       std::initializer_list<Field> fields) const {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) {
      return Error(node, path,
                   absl::StrCat("expected a mapping, got ", KindName(node)));
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // yaml-cpp iterators yield proxies: copy the (cheap) node handles.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        return Error(key, path, "mapping keys must be strings");
      }
      const std::string& name = key.Scalar();
      const Field* field = nullptr;
      for (const Field& f : fields) {
        if (name == f.name) {
          field = &f;
          break;
        }
      }
      if (field == nullptr) {
        if (absl::EndsWith(name, "_sd_configs")) {
          return Error(key, path,
                       absl::StrCat("\"", name,
                                    "\" is not supported by Vigil (supported: "
                                    "static_configs, file_sd_configs, "
                                    "dns_sd_configs)"));
        }
        return ErrorAt(
            key.Mark(), "",
            absl::StrCat("unknown field \"", name, "\" in ",
                         path.empty() ? "the top-level config" : path));
      }
      if (!seen.insert(name).second) {
        return ErrorAt(
            key.Mark(), "",
            absl::StrCat("field \"", name, "\" already set in ",
                         path.empty() ? "the top-level config" : path));
      }
      if (value.IsNull()) continue;
      std::string sub = path.empty() ? name : absl::StrCat(path, ".", name);
      if (absl::Status s = field->handler(value, sub); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Calls `fn` for each element of a sequence; null is an empty sequence.
  absl::Status Sequence(
      const YAML::Node& node, const std::string& path,
      const std::function<absl::Status(const YAML::Node&, const std::string&)>&
          fn) const {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsSequence()) {
      return Error(node, path,
                   absl::StrCat("expected a list, got ", KindName(node)));
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node element = node[i];
      if (absl::Status s = fn(element, absl::StrCat(path, "[", i, "]"));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status String(const YAML::Node& node, const std::string& path,
                      std::string* out) const {
    if (!node.IsScalar()) {
      return Error(node, path,
                   absl::StrCat("expected a string, got ", KindName(node)));
    }
    *out = node.Scalar();
    return absl::OkStatus();
  }

  // A string naming a file: relative paths are made relative to the config
  // file's directory, as Prometheus does.
  absl::Status FilePath(const YAML::Node& node, const std::string& path,
                        std::string* out) const {
    if (absl::Status s = String(node, path, out); !s.ok()) return s;
    *out = JoinDir(dir_, *out);
    return absl::OkStatus();
  }

  absl::Status StringList(const YAML::Node& node, const std::string& path,
                          std::vector<std::string>* out) const {
    out->clear();
    return Sequence(node, path, [&](const YAML::Node& n, const std::string& p) {
      std::string s;
      if (absl::Status st = String(n, p, &s); !st.ok()) {
        return st;
      }
      out->push_back(std::move(s));
      return absl::OkStatus();
    });
  }

  absl::Status Bool(const YAML::Node& node, const std::string& path,
                    bool* out) const {
    std::string s;
    if (absl::Status st = String(node, path, &s); !st.ok()) return st;
    // YAML 1.1 booleans, as accepted by Go's yaml.v2.
    static const char* const kTrue[] = {"true", "True", "TRUE", "yes",
                                        "Yes",  "YES",  "on",   "On",
                                        "ON",   "y",    "Y"};
    static const char* const kFalse[] = {"false", "False", "FALSE", "no",
                                         "No",    "NO",    "off",   "Off",
                                         "OFF",   "n",     "N"};
    for (const char* t : kTrue) {
      if (s == t) {
        *out = true;
        return absl::OkStatus();
      }
    }
    for (const char* f : kFalse) {
      if (s == f) {
        *out = false;
        return absl::OkStatus();
      }
    }
    return Error(node, path, absl::StrCat("invalid boolean \"", s, "\""));
  }

  template <typename Int>
  absl::Status Integer(const YAML::Node& node, const std::string& path,
                       Int* out) const {
    std::string s;
    if (absl::Status st = String(node, path, &s); !st.ok()) return st;
    Int v;
    if (!absl::SimpleAtoi(s, &v)) {
      return Error(node, path,
                   absl::StrCat("invalid ",
                                std::is_signed<Int>::value ? "" : "unsigned ",
                                "integer \"", s, "\""));
    }
    *out = v;
    return absl::OkStatus();
  }

  absl::Status Duration(const YAML::Node& node, const std::string& path,
                        absl::Duration* out) const {
    std::string s;
    if (absl::Status st = String(node, path, &s); !st.ok()) return st;
    absl::StatusOr<absl::Duration> d = ParsePromDuration(s);
    if (!d.ok()) return Error(node, path, d.status().message());
    *out = *d;
    return absl::OkStatus();
  }

  absl::Status Size(const YAML::Node& node, const std::string& path,
                    int64_t* out) const {
    std::string s;
    if (absl::Status st = String(node, path, &s); !st.ok()) return st;
    absl::StatusOr<int64_t> v = ParseByteSize(s);
    if (!v.ok()) return Error(node, path, v.status().message());
    *out = *v;
    return absl::OkStatus();
  }

  // A mapping of label names to values, validated like model.LabelSet.
  absl::Status LabelSet(const YAML::Node& node, const std::string& path,
                        tsdb::Labels* out) const {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) {
      return Error(node, path,
                   absl::StrCat("expected a mapping, got ", KindName(node)));
    }
    std::vector<tsdb::Label> pairs;
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string name, value;
      if (absl::Status s = String(it->first, path, &name); !s.ok()) return s;
      if (!tsdb::IsValidLabelName(name)) {
        return Error(it->first, path,
                     absl::StrCat("\"", name, "\" is not a valid label name"));
      }
      if (!seen.insert(name).second) {
        return Error(it->first, path,
                     absl::StrCat("label \"", name, "\" already set"));
      }
      if (!it->second.IsNull()) {
        if (absl::Status s = String(it->second, path + "." + name, &value);
            !s.ok()) {
          return s;
        }
      }
      pairs.push_back({std::move(name), std::move(value)});
    }
    absl::StatusOr<tsdb::Labels> labels = tsdb::Labels::FromPairs(pairs);
    if (!labels.ok()) return Error(node, path, labels.status().message());
    *out = *std::move(labels);
    return absl::OkStatus();
  }

  static const char* KindName(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return "a scalar";
      case YAML::NodeType::Null:
        return "null";
      default:
        return "nothing";
    }
  }

 private:
  std::string file_;
  std::string dir_;
};

// ---------------------------------------------------------------------------
// Section parsers.

absl::Status ParseBasicAuth(const Parser& p, const YAML::Node& node,
                            const std::string& path, BasicAuth* out) {
  return p.Mapping(
      node, path,
      {{"username",
        [&](auto& v, auto& q) { return p.String(v, q, &out->username); }},
       {"password",
        [&](auto& v, auto& q) { return p.String(v, q, &out->password); }},
       {"password_file", [&](auto& v, auto& q) {
          return p.FilePath(v, q, &out->password_file);
        }}});
}

absl::Status ParseAuthorization(const Parser& p, const YAML::Node& node,
                                const std::string& path, Authorization* out) {
  return p.Mapping(
      node, path,
      {{"type", [&](auto& v, auto& q) { return p.String(v, q, &out->type); }},
       {"credentials",
        [&](auto& v, auto& q) { return p.String(v, q, &out->credentials); }},
       {"credentials_file", [&](auto& v, auto& q) {
          return p.FilePath(v, q, &out->credentials_file);
        }}});
}

absl::Status ParseTlsConfig(const Parser& p, const YAML::Node& node,
                            const std::string& path, TlsConfig* out) {
  std::string& min_version = out->min_version;
  return p.Mapping(
      node, path,
      {{"ca_file",
        [&](auto& v, auto& q) { return p.FilePath(v, q, &out->ca_file); }},
       {"cert_file",
        [&](auto& v, auto& q) { return p.FilePath(v, q, &out->cert_file); }},
       {"key_file",
        [&](auto& v, auto& q) { return p.FilePath(v, q, &out->key_file); }},
       {"server_name",
        [&](auto& v, auto& q) { return p.String(v, q, &out->server_name); }},
       {"insecure_skip_verify",
        [&](auto& v, auto& q) {
          return p.Bool(v, q, &out->insecure_skip_verify);
        }},
       {"min_version", [&](auto& v, auto& q) {
          if (absl::Status s = p.String(v, q, &min_version); !s.ok()) return s;
          if (min_version != "TLS10" && min_version != "TLS11" &&
              min_version != "TLS12" && min_version != "TLS13") {
            return p.Error(
                v, q,
                absl::StrCat("unknown TLS version \"", min_version, "\""));
          }
          return absl::OkStatus();
        }}});
}

absl::Status ParseProxyUrl(const Parser& p, const YAML::Node& v,
                           const std::string& q, std::string* out) {
  if (absl::Status s = p.String(v, q, out); !s.ok()) return s;
  if (out->empty()) return absl::OkStatus();
  if (!absl::StrContains(*out, "://")) {
    return p.Error(
        v, q, absl::StrCat("invalid proxy_url \"", *out, "\": missing scheme"));
  }
  // Go would also take https:// and socks5:// proxies; Vigil's client goes
  // through plain HTTP proxies only (https targets are tunnelled with
  // CONNECT), so say so at load time rather than at the first scrape.
  absl::StatusOr<net::Url> u = net::ParseUrl(*out);
  if (!u.ok() || u->scheme != "http") {
    return p.Error(v, q,
                   absl::StrCat("unsupported proxy_url \"", *out,
                                "\": Vigil supports "
                                "http://[user:password@]host:port proxies"));
  }
  return absl::OkStatus();
}

absl::Status ParseOAuth2(const Parser& p, const YAML::Node& node,
                         const std::string& path, OAuth2* out) {
  return p.Mapping(
      node, path,
      {{"client_id",
        [&](auto& v, auto& q) { return p.String(v, q, &out->client_id); }},
       {"client_secret",
        [&](auto& v, auto& q) { return p.String(v, q, &out->client_secret); }},
       {"client_secret_file",
        [&](auto& v, auto& q) {
          return p.FilePath(v, q, &out->client_secret_file);
        }},
       {"scopes",
        [&](auto& v, auto& q) { return p.StringList(v, q, &out->scopes); }},
       {"token_url",
        [&](auto& v, auto& q) { return p.String(v, q, &out->token_url); }},
       {"endpoint_params",
        [&](auto& v, auto& q) {
          if (!v.IsMap()) {
            return p.Error(
                v, q,
                absl::StrCat("expected a mapping, got ", Parser::KindName(v)));
          }
          for (auto it = v.begin(); it != v.end(); ++it) {
            std::string key, value;
            if (absl::Status s = p.String(it->first, q, &key); !s.ok()) {
              return s;
            }
            if (!it->second.IsNull()) {
              if (absl::Status s = p.String(it->second, q + "." + key, &value);
                  !s.ok()) {
                return s;
              }
            }
            out->endpoint_params[key] = std::move(value);
          }
          return absl::OkStatus();
        }},
       {"tls_config",
        [&](auto& v, auto& q) {
          return ParseTlsConfig(p, v, q, &out->tls_config);
        }},
       {"proxy_url", [&](auto& v, auto& q) {
          return ParseProxyUrl(p, v, q, &out->proxy_url);
        }}});
}

// Fields Prometheus 2.43 added to the HTTP client config (prometheus/common
// 0.40+). Prometheus 2.42 rejects them as unknown fields; Vigil does too,
// saying why, so a config that works here also loads in 2.42.
Parser::Handler NewerThan242(const Parser& p) {
  return [&p](const YAML::Node& v, const std::string& q) {
    std::string field = q.substr(q.rfind('.') + 1);
    return p.Error(v, q,
                   absl::StrCat("field ", field,
                                " is not supported: it was added in "
                                "Prometheus 2.43 and Vigil follows 2.42's "
                                "configuration (use proxy_url)"));
  };
}

// The HTTP client fields shared by scrape, alertmanager and remote-write
// configs, to be spliced into their field tables.
std::vector<Parser::Field> HttpClientFields(const Parser& p,
                                            HttpClientConfig* out) {
  return {
      {"basic_auth",
       [&p, out](auto& v, auto& q) {
         out->basic_auth.emplace();
         return ParseBasicAuth(p, v, q, &*out->basic_auth);
       }},
      {"authorization",
       [&p, out](auto& v, auto& q) {
         out->authorization.emplace();
         return ParseAuthorization(p, v, q, &*out->authorization);
       }},
      {"bearer_token",
       [&p, out](auto& v, auto& q) {
         return p.String(v, q, &out->bearer_token);
       }},
      {"bearer_token_file",
       [&p, out](auto& v, auto& q) {
         return p.FilePath(v, q, &out->bearer_token_file);
       }},
      {"tls_config",
       [&p, out](auto& v, auto& q) {
         return ParseTlsConfig(p, v, q, &out->tls_config);
       }},
      {"proxy_url",
       [&p, out](auto& v, auto& q) {
         return ParseProxyUrl(p, v, q, &out->proxy_url);
       }},
      {"follow_redirects",
       [&p, out](auto& v, auto& q) {
         return p.Bool(v, q, &out->follow_redirects);
       }},
      {"enable_http2",
       [&p, out](auto& v, auto& q) {
         return p.Bool(v, q, &out->enable_http2);
       }},
      {"oauth2",
       [&p, out](auto& v, auto& q) {
         out->oauth2.emplace();
         return ParseOAuth2(p, v, q, &*out->oauth2);
       }},
      {"no_proxy", NewerThan242(p)},
      {"proxy_from_environment", NewerThan242(p)},
      {"proxy_connect_header", NewerThan242(p)},
  };
}

// common/config.HTTPClientConfig.Validate.
absl::Status ValidateHttpClient(const Parser& p, const YAML::Node& node,
                                const std::string& path, HttpClientConfig* c) {
  if (!c->bearer_token.empty() && !c->bearer_token_file.empty()) {
    return p.Error(node, path,
                   "at most one of bearer_token & bearer_token_file must be "
                   "configured");
  }
  if ((c->basic_auth || c->oauth2) &&
      (!c->bearer_token.empty() || !c->bearer_token_file.empty())) {
    return p.Error(node, path,
                   "at most one of basic_auth, oauth2, bearer_token & "
                   "bearer_token_file must be configured");
  }
  if (c->basic_auth && !c->basic_auth->password.empty() &&
      !c->basic_auth->password_file.empty()) {
    return p.Error(node, path,
                   "at most one of basic_auth password & password_file must "
                   "be configured");
  }
  if (c->authorization) {
    if (!c->bearer_token.empty() || !c->bearer_token_file.empty()) {
      return p.Error(node, path,
                     "authorization is not compatible with bearer_token & "
                     "bearer_token_file");
    }
    if (!c->authorization->credentials.empty() &&
        !c->authorization->credentials_file.empty()) {
      return p.Error(node, path,
                     "at most one of authorization credentials & "
                     "credentials_file must be configured");
    }
    std::string type(absl::StripAsciiWhitespace(c->authorization->type));
    if (type.empty()) type = "Bearer";
    if (absl::AsciiStrToLower(type) == "basic") {
      return p.Error(node, path,
                     "authorization type cannot be set to \"basic\", use "
                     "\"basic_auth\" instead");
    }
    c->authorization->type = type;
    if (c->basic_auth || c->oauth2) {
      return p.Error(node, path,
                     "at most one of basic_auth, oauth2 & authorization must "
                     "be configured");
    }
  }
  if (c->oauth2) {
    const OAuth2& o = *c->oauth2;
    if (c->basic_auth) {
      return p.Error(node, path,
                     "at most one of basic_auth, oauth2 & authorization must "
                     "be configured");
    }
    if (o.client_id.empty()) {
      return p.Error(node, path, "oauth2 client_id must be configured");
    }
    if (o.client_secret.empty() && o.client_secret_file.empty()) {
      return p.Error(node, path,
                     "either oauth2 client_secret or client_secret_file must "
                     "be configured");
    }
    if (o.token_url.empty()) {
      return p.Error(node, path, "oauth2 token_url must be configured");
    }
    if (!o.client_secret.empty() && !o.client_secret_file.empty()) {
      return p.Error(node, path,
                     "at most one of oauth2 client_secret & client_secret_file "
                     "must be configured");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseRelabelConfig(const Parser& p, const YAML::Node& node,
                                const std::string& path, RelabelConfig* out) {
  if (node.IsNull()) {
    return p.Error(node, path, "empty or null relabeling rule");
  }
  bool regex_given = false;
  absl::Status st = p.Mapping(
      node, path,
      {{"source_labels",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.StringList(v, q, &out->source_labels);
              !s.ok()) {
            return s;
          }
          for (const std::string& name : out->source_labels) {
            if (!tsdb::IsValidLabelName(name)) {
              return p.Error(
                  v, q,
                  absl::StrCat("\"", name, "\" is not a valid label name"));
            }
          }
          return absl::OkStatus();
        }},
       {"separator",
        [&](auto& v, auto& q) { return p.String(v, q, &out->separator); }},
       {"regex",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.String(v, q, &out->regex_source); !s.ok()) {
            return s;
          }
          regex_given = true;
          if (absl::Status s = out->Compile(); !s.ok()) {
            return p.Error(v, q, s.message());
          }
          return absl::OkStatus();
        }},
       {"modulus",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->modulus); }},
       {"target_label",
        [&](auto& v, auto& q) { return p.String(v, q, &out->target_label); }},
       {"replacement",
        [&](auto& v, auto& q) { return p.String(v, q, &out->replacement); }},
       {"action", [&](auto& v, auto& q) {
          std::string a;
          if (absl::Status s = p.String(v, q, &a); !s.ok()) return s;
          if (a.empty()) {
            return p.Error(v, q, "relabel action cannot be empty");
          }
          absl::StatusOr<RelabelAction> action = ParseRelabelAction(a);
          if (!action.ok()) return p.Error(v, q, action.status().message());
          out->action = *action;
          return absl::OkStatus();
        }}});
  if (!st.ok()) return st;
  if (out->regex == nullptr) {
    if (absl::Status s = out->Compile(); !s.ok()) {
      return p.Error(node, path, s.message());
    }
  }
  if (absl::Status s = out->Validate(); !s.ok()) {
    return p.Error(node, path, s.message());
  }
  // Prometheus rejects any explicit regex here, even one equal to the
  // default, which Validate() cannot tell apart.
  if (regex_given && (out->action == RelabelAction::kKeepEqual ||
                      out->action == RelabelAction::kDropEqual)) {
    return p.Error(node, path,
                   absl::StrCat(RelabelActionName(out->action),
                                " action requires only 'source_labels' and "
                                "`target_label`, and no other fields"));
  }
  return absl::OkStatus();
}

absl::Status ParseRelabelConfigs(const Parser& p, const YAML::Node& node,
                                 const std::string& path,
                                 std::vector<RelabelConfig>* out) {
  return p.Sequence(node, path, [&](const YAML::Node& n, const std::string& q) {
    out->emplace_back();
    return ParseRelabelConfig(p, n, q, &out->back());
  });
}

// One static_configs entry: {targets: [...], labels: {...}}.
absl::Status ParseTargetGroup(const Parser& p, const YAML::Node& node,
                              const std::string& path,
                              discovery::TargetGroup* out) {
  if (node.IsNull()) return p.Error(node, path, "empty or null target group");
  std::vector<std::string> targets;
  absl::Status st = p.Mapping(
      node, path,
      {{"targets",
        [&](auto& v, auto& q) { return p.StringList(v, q, &targets); }},
       {"labels",
        [&](auto& v, auto& q) { return p.LabelSet(v, q, &out->labels); }}});
  if (!st.ok()) return st;
  for (std::string& t : targets) {
    out->targets.push_back(tsdb::Labels::FromSortedUnchecked(
        {tsdb::Label{discovery::kAddressLabel, std::move(t)}}));
  }
  return absl::OkStatus();
}

absl::Status ParseStaticConfigs(const Parser& p, const YAML::Node& node,
                                const std::string& path,
                                std::vector<discovery::TargetGroup>* out) {
  return p.Sequence(node, path, [&](const YAML::Node& n, const std::string& q) {
    discovery::TargetGroup g;
    g.source = absl::StrCat(out->size());
    if (absl::Status s = ParseTargetGroup(p, n, q, &g); !s.ok()) {
      return s;
    }
    out->push_back(std::move(g));
    return absl::OkStatus();
  });
}

// Prometheus's CheckTargetAddress, applied only when no relabeling could
// repair the address: a URL in `targets` is a common mistake.
absl::Status CheckStaticTargets(const Parser& p, const YAML::Node& node,
                                const std::string& path,
                                const std::vector<discovery::TargetGroup>& gs) {
  for (const discovery::TargetGroup& g : gs) {
    for (const tsdb::Labels& t : g.targets) {
      absl::string_view addr = t.Get(discovery::kAddressLabel);
      if (absl::StrContains(addr, "/")) {
        return p.Error(node, path,
                       absl::StrCat("\"", addr, "\" is not a valid hostname"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseFileSDConfigs(const Parser& p, const YAML::Node& node,
                                const std::string& path,
                                std::vector<FileSDConfig>* out) {
  return p.Sequence(node, path, [&](const YAML::Node& n, const std::string& q) {
    FileSDConfig c;
    absl::Status st = p.Mapping(
        n, q,
        {{"files",
          [&](auto& v, auto& r) { return p.StringList(v, r, &c.files); }},
         {"refresh_interval", [&](auto& v, auto& r) {
            return p.Duration(v, r, &c.refresh_interval);
          }}});
    if (!st.ok()) return st;
    if (c.files.empty()) {
      return p.Error(n, q,
                     "file service discovery config must contain at least "
                     "one path name");
    }
    for (std::string& f : c.files) {
      if (!re2::RE2::FullMatch(Piece(f), FileSDPattern())) {
        return p.Error(n, q,
                       absl::StrCat("path name \"", f,
                                    "\" is not valid for file discovery"));
      }
      f = JoinDir(p.dir(), f);
    }
    if (c.refresh_interval <= absl::ZeroDuration()) {
      c.refresh_interval = absl::Minutes(5);
    }
    out->push_back(std::move(c));
    return absl::OkStatus();
  });
}

absl::Status ParseDNSSDConfigs(const Parser& p, const YAML::Node& node,
                               const std::string& path,
                               std::vector<DNSSDConfig>* out) {
  return p.Sequence(node, path, [&](const YAML::Node& n, const std::string& q) {
    DNSSDConfig c;
    absl::Status st = p.Mapping(
        n, q,
        {{"names",
          [&](auto& v, auto& r) { return p.StringList(v, r, &c.names); }},
         {"type", [&](auto& v, auto& r) { return p.String(v, r, &c.type); }},
         {"port",
          [&](auto& v, auto& r) {
            if (absl::Status s = p.Integer(v, r, &c.port); !s.ok()) {
              return s;
            }
            if (c.port < 0 || c.port > 65535) {
              return p.Error(
                  v, r, absl::StrCat("port ", c.port, " out of range 0-65535"));
            }
            return absl::OkStatus();
          }},
         {"refresh_interval", [&](auto& v, auto& r) {
            return p.Duration(v, r, &c.refresh_interval);
          }}});
    if (!st.ok()) return st;
    if (c.names.empty()) {
      return p.Error(n, q,
                     "DNS-SD config must contain at least one SRV record "
                     "name");
    }
    c.type = absl::AsciiStrToUpper(c.type);
    if (c.type == "A" || c.type == "AAAA" || c.type == "MX") {
      if (c.port == 0) {
        return p.Error(n, q,
                       "a port is required in DNS-SD configs for all "
                       "record types except SRV");
      }
    } else if (c.type != "SRV") {
      return p.Error(n, q,
                     absl::StrCat("invalid DNS-SD records type ", c.type));
    }
    if (c.refresh_interval <= absl::ZeroDuration()) {
      c.refresh_interval = absl::Seconds(30);
    }
    out->push_back(std::move(c));
    return absl::OkStatus();
  });
}

absl::Status ValidateScrapeProtocols(const Parser& p, const YAML::Node& node,
                                     const std::string& path,
                                     const std::vector<std::string>& protos) {
  if (protos.empty()) {
    return p.Error(node, path, "scrape_protocols cannot be empty");
  }
  std::set<std::string> seen;
  const std::vector<std::string> supported = {
      kPrometheusProto, kOpenMetricsText0_0_1, kOpenMetricsText1_0_0,
      kPrometheusText0_0_4};
  for (const std::string& proto : protos) {
    if (std::find(supported.begin(), supported.end(), proto) ==
        supported.end()) {
      return p.Error(
          node, path,
          absl::StrCat("unknown scrape protocol ", proto, ", supported: [",
                       absl::StrJoin(supported, " "), "]"));
    }
    if (!seen.insert(absl::AsciiStrToLower(proto)).second) {
      return p.Error(node, path,
                     absl::StrCat("duplicated protocol in scrape_protocols, "
                                  "got [",
                                  absl::StrJoin(protos, " "), "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseGlobal(const Parser& p, const YAML::Node& node,
                         const std::string& path, GlobalConfig* out) {
  absl::Duration interval = absl::ZeroDuration();
  absl::Duration timeout = absl::ZeroDuration();
  absl::Duration eval = absl::ZeroDuration();
  std::vector<std::string> protocols;
  absl::Status st = p.Mapping(
      node, path,
      {{"scrape_interval",
        [&](auto& v, auto& q) { return p.Duration(v, q, &interval); }},
       {"scrape_timeout",
        [&](auto& v, auto& q) { return p.Duration(v, q, &timeout); }},
       {"evaluation_interval",
        [&](auto& v, auto& q) { return p.Duration(v, q, &eval); }},
       {"external_labels",
        [&](auto& v, auto& q) {
          return p.LabelSet(v, q, &out->external_labels);
        }},
       {"query_log_file",
        [&](auto& v, auto& q) {
          std::string ignored;
          return p.String(v, q, &ignored);
        }},
       {"scrape_protocols", [&](auto& v, auto& q) {
          if (absl::Status s = p.StringList(v, q, &protocols); !s.ok()) {
            return s;
          }
          return ValidateScrapeProtocols(p, v, q, protocols);
        }}});
  if (!st.ok()) return st;

  // Prometheus's GlobalConfig.UnmarshalYAML: zero means "use the default";
  // an unset timeout is capped by the interval.
  if (interval == absl::ZeroDuration()) interval = absl::Minutes(1);
  if (timeout > interval) {
    return p.Error(
        node, path,
        absl::StrCat("global scrape timeout ", FormatPromDuration(timeout),
                     " greater than scrape interval ",
                     FormatPromDuration(interval)));
  }
  if (timeout == absl::ZeroDuration()) {
    timeout = std::min(absl::Seconds(10), interval);
  }
  if (eval == absl::ZeroDuration()) eval = absl::Minutes(1);
  out->scrape_interval = interval;
  out->scrape_timeout = timeout;
  out->evaluation_interval = eval;
  if (!protocols.empty()) out->scrape_protocols = std::move(protocols);
  return absl::OkStatus();
}

absl::Status ParseScrapeConfig(const Parser& p, const YAML::Node& node,
                               const std::string& path,
                               const GlobalConfig& global, ScrapeConfig* out) {
  if (node.IsNull()) {
    return p.Error(node, path, "empty or null scrape config section");
  }
  std::vector<Parser::Field> http = HttpClientFields(p, out);
  out->scrape_interval = absl::ZeroDuration();
  out->scrape_timeout = absl::ZeroDuration();
  std::optional<YAML::Node> static_node;
  absl::Status st = p.Mapping(
      node, path,
      {{"job_name",
        [&](auto& v, auto& q) { return p.String(v, q, &out->job_name); }},
       {"scrape_interval",
        [&](auto& v, auto& q) {
          return p.Duration(v, q, &out->scrape_interval);
        }},
       {"scrape_timeout",
        [&](auto& v, auto& q) {
          return p.Duration(v, q, &out->scrape_timeout);
        }},
       {"metrics_path",
        [&](auto& v, auto& q) { return p.String(v, q, &out->metrics_path); }},
       {"scheme",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.String(v, q, &out->scheme); !s.ok()) return s;
          if (out->scheme != "http" && out->scheme != "https") {
            return p.Error(v, q,
                           absl::StrCat("invalid scheme \"", out->scheme,
                                        "\": must be \"http\" or \"https\""));
          }
          return absl::OkStatus();
        }},
       {"params",
        [&](auto& v, auto& q) {
          if (!v.IsMap()) {
            return p.Error(v, q,
                           absl::StrCat("expected a mapping, got ",
                                        Parser::KindName(v)));
          }
          for (auto it = v.begin(); it != v.end(); ++it) {
            std::string key;
            if (absl::Status s = p.String(it->first, q, &key); !s.ok()) {
              return s;
            }
            std::vector<std::string> values;
            if (absl::Status s =
                    p.StringList(it->second, q + "." + key, &values);
                !s.ok()) {
              return s;
            }
            out->params[key] = std::move(values);
          }
          return absl::OkStatus();
        }},
       {"honor_labels",
        [&](auto& v, auto& q) { return p.Bool(v, q, &out->honor_labels); }},
       {"honor_timestamps",
        [&](auto& v, auto& q) {
          return p.Bool(v, q, &out->honor_timestamps);
        }},
       {"sample_limit",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->sample_limit); }},
       {"target_limit",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->target_limit); }},
       {"label_limit",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->label_limit); }},
       {"label_name_length_limit",
        [&](auto& v, auto& q) {
          return p.Integer(v, q, &out->label_name_length_limit);
        }},
       {"label_value_length_limit",
        [&](auto& v, auto& q) {
          return p.Integer(v, q, &out->label_value_length_limit);
        }},
       {"body_size_limit",
        [&](auto& v, auto& q) { return p.Size(v, q, &out->body_size_limit); }},
       {"scrape_protocols",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.StringList(v, q, &out->scrape_protocols);
              !s.ok()) {
            return s;
          }
          return ValidateScrapeProtocols(p, v, q, out->scrape_protocols);
        }},
       {"static_configs",
        [&](auto& v, auto& q) {
          static_node = v;
          return ParseStaticConfigs(p, v, q, &out->static_configs);
        }},
       {"file_sd_configs",
        [&](auto& v, auto& q) {
          return ParseFileSDConfigs(p, v, q, &out->file_sd_configs);
        }},
       {"dns_sd_configs",
        [&](auto& v, auto& q) {
          return ParseDNSSDConfigs(p, v, q, &out->dns_sd_configs);
        }},
       {"relabel_configs",
        [&](auto& v, auto& q) {
          return ParseRelabelConfigs(p, v, q, &out->relabel_configs);
        }},
       {"metric_relabel_configs",
        [&](auto& v, auto& q) {
          return ParseRelabelConfigs(p, v, q, &out->metric_relabel_configs);
        }},
       // HTTP client fields, spliced in by name.
       {"basic_auth", http[0].handler},
       {"authorization", http[1].handler},
       {"bearer_token", http[2].handler},
       {"bearer_token_file", http[3].handler},
       {"tls_config", http[4].handler},
       {"proxy_url", http[5].handler},
       {"follow_redirects", http[6].handler},
       {"enable_http2", http[7].handler},
       {"oauth2", http[8].handler},
       {"no_proxy", http[9].handler},
       {"proxy_from_environment", http[10].handler},
       {"proxy_connect_header", http[11].handler}});
  if (!st.ok()) return st;

  if (out->job_name.empty()) return p.Error(node, path, "job_name is empty");
  if (absl::Status s = ValidateHttpClient(p, node, path, out); !s.ok()) {
    return s;
  }
  // ScrapeConfig.Validate: inherit from global, and an unset timeout is
  // capped by this job's interval.
  if (out->scrape_interval == absl::ZeroDuration()) {
    out->scrape_interval = global.scrape_interval;
  }
  if (out->scrape_timeout > out->scrape_interval) {
    return p.Error(
        node, path,
        absl::StrCat("scrape timeout ", FormatPromDuration(out->scrape_timeout),
                     " greater than scrape interval ",
                     FormatPromDuration(out->scrape_interval),
                     " for scrape config with job name \"", out->job_name,
                     "\""));
  }
  if (out->scrape_timeout == absl::ZeroDuration()) {
    out->scrape_timeout = std::min(global.scrape_timeout, out->scrape_interval);
  }
  if (out->scrape_protocols.empty()) {
    out->scrape_protocols = global.scrape_protocols;
  }
  if (out->relabel_configs.empty() && static_node.has_value()) {
    if (absl::Status s = CheckStaticTargets(
            p, *static_node, path + ".static_configs", out->static_configs);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAlertmanagerConfig(const Parser& p, const YAML::Node& node,
                                     const std::string& path,
                                     AlertmanagerConfig* out) {
  if (node.IsNull()) {
    return p.Error(node, path, "empty or null alert manager config");
  }
  std::vector<Parser::Field> http = HttpClientFields(p, out);
  std::optional<YAML::Node> static_node;
  absl::Status st = p.Mapping(
      node, path,
      {{"static_configs",
        [&](auto& v, auto& q) {
          static_node = v;
          return ParseStaticConfigs(p, v, q, &out->static_configs);
        }},
       {"file_sd_configs",
        [&](auto& v, auto& q) {
          return ParseFileSDConfigs(p, v, q, &out->file_sd_configs);
        }},
       {"dns_sd_configs",
        [&](auto& v, auto& q) {
          return ParseDNSSDConfigs(p, v, q, &out->dns_sd_configs);
        }},
       {"relabel_configs",
        [&](auto& v, auto& q) {
          return ParseRelabelConfigs(p, v, q, &out->relabel_configs);
        }},
       {"scheme",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.String(v, q, &out->scheme); !s.ok()) return s;
          if (out->scheme != "http" && out->scheme != "https") {
            return p.Error(v, q,
                           absl::StrCat("invalid scheme \"", out->scheme,
                                        "\": must be \"http\" or \"https\""));
          }
          return absl::OkStatus();
        }},
       {"path_prefix",
        [&](auto& v, auto& q) { return p.String(v, q, &out->path_prefix); }},
       {"timeout",
        [&](auto& v, auto& q) { return p.Duration(v, q, &out->timeout); }},
       {"api_version",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.String(v, q, &out->api_version); !s.ok()) {
            return s;
          }
          if (out->api_version != "v1" && out->api_version != "v2") {
            return p.Error(v, q,
                           absl::StrCat("expected Alertmanager api version to "
                                        "be one of [v1 v2] but got ",
                                        out->api_version));
          }
          return absl::OkStatus();
        }},
       {"basic_auth", http[0].handler},
       {"authorization", http[1].handler},
       {"bearer_token", http[2].handler},
       {"bearer_token_file", http[3].handler},
       {"tls_config", http[4].handler},
       {"proxy_url", http[5].handler},
       {"follow_redirects", http[6].handler},
       {"enable_http2", http[7].handler},
       {"oauth2", http[8].handler},
       {"no_proxy", http[9].handler},
       {"proxy_from_environment", http[10].handler},
       {"proxy_connect_header", http[11].handler}});
  if (!st.ok()) return st;
  if (absl::Status s = ValidateHttpClient(p, node, path, out); !s.ok()) {
    return s;
  }
  if (out->timeout == absl::ZeroDuration()) out->timeout = absl::Seconds(10);
  if (out->relabel_configs.empty() && static_node.has_value()) {
    return CheckStaticTargets(p, *static_node, path + ".static_configs",
                              out->static_configs);
  }
  return absl::OkStatus();
}

absl::Status ParseAlerting(const Parser& p, const YAML::Node& node,
                           const std::string& path, AlertingConfig* out) {
  return p.Mapping(
      node, path,
      {{"alert_relabel_configs",
        [&](auto& v, auto& q) {
          return ParseRelabelConfigs(p, v, q, &out->alert_relabel_configs);
        }},
       {"alertmanagers", [&](auto& v, auto& q) {
          return p.Sequence(v, q,
                            [&](const YAML::Node& n, const std::string& r) {
                              out->alertmanagers.emplace_back();
                              return ParseAlertmanagerConfig(
                                  p, n, r, &out->alertmanagers.back());
                            });
        }}});
}

// Headers a remote-write config must not override (lower case).
bool IsReservedHeader(absl::string_view lower) {
  static const char* const kReserved[] = {
      "host",
      "authorization",
      "content-encoding",
      "content-length",
      "content-type",
      "user-agent",
      "connection",
      "keep-alive",
      "proxy-authenticate",
      "proxy-authorization",
      "www-authenticate",
      "accept-encoding",
      "x-prometheus-remote-write-version",
      "x-prometheus-remote-read-version",
  };
  for (const char* r : kReserved) {
    if (lower == r) return true;
  }
  return false;
}

absl::Status ParseQueueConfig(const Parser& p, const YAML::Node& node,
                              const std::string& path, QueueConfig* out) {
  absl::Status st = p.Mapping(
      node, path,
      {{"capacity",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->capacity); }},
       {"max_shards",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->max_shards); }},
       {"min_shards",
        [&](auto& v, auto& q) { return p.Integer(v, q, &out->min_shards); }},
       {"max_samples_per_send",
        [&](auto& v, auto& q) {
          return p.Integer(v, q, &out->max_samples_per_send);
        }},
       {"batch_send_deadline",
        [&](auto& v, auto& q) {
          return p.Duration(v, q, &out->batch_send_deadline);
        }},
       {"min_backoff",
        [&](auto& v, auto& q) { return p.Duration(v, q, &out->min_backoff); }},
       {"max_backoff",
        [&](auto& v, auto& q) { return p.Duration(v, q, &out->max_backoff); }},
       {"retry_on_http_429", [&](auto& v, auto& q) {
          return p.Bool(v, q, &out->retry_on_http_429);
        }}});
  if (!st.ok()) return st;
  if (out->capacity <= 0 || out->max_shards <= 0 || out->min_shards <= 0 ||
      out->max_samples_per_send <= 0) {
    return p.Error(node, path,
                   "capacity, max_shards, min_shards and max_samples_per_send "
                   "must be positive");
  }
  if (out->min_shards > out->max_shards) {
    return p.Error(node, path,
                   absl::StrCat("min_shards ", out->min_shards,
                                " greater than max_shards ", out->max_shards));
  }
  if (out->min_backoff > out->max_backoff) {
    return p.Error(node, path, "min_backoff greater than max_backoff");
  }
  return absl::OkStatus();
}

absl::Status ParseRemoteWrite(const Parser& p, const YAML::Node& node,
                              const std::string& path, RemoteWriteConfig* out) {
  if (node.IsNull()) {
    return p.Error(node, path, "empty or null remote write config section");
  }
  std::vector<Parser::Field> http = HttpClientFields(p, out);
  absl::Status st = p.Mapping(
      node, path,
      {{"url",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.String(v, q, &out->url); !s.ok()) return s;
          size_t sep = out->url.find("://");
          if (sep == std::string::npos || sep == 0 ||
              sep + 3 >= out->url.size()) {
            return p.Error(v, q,
                           absl::StrCat("invalid URL \"", out->url, "\""));
          }
          std::string scheme = absl::AsciiStrToLower(out->url.substr(0, sep));
          if (scheme != "http" && scheme != "https") {
            return p.Error(v, q,
                           absl::StrCat("unsupported URL scheme \"", scheme,
                                        "\" in \"", out->url, "\""));
          }
          return absl::OkStatus();
        }},
       {"name", [&](auto& v, auto& q) { return p.String(v, q, &out->name); }},
       {"remote_timeout",
        [&](auto& v, auto& q) {
          return p.Duration(v, q, &out->remote_timeout);
        }},
       {"headers",
        [&](auto& v, auto& q) {
          if (!v.IsMap()) {
            return p.Error(
                v, q,
                absl::StrCat("expected a mapping, got ", Parser::KindName(v)));
          }
          for (auto it = v.begin(); it != v.end(); ++it) {
            std::string key, value;
            if (absl::Status s = p.String(it->first, q, &key); !s.ok()) {
              return s;
            }
            if (absl::Status s = p.String(it->second, q + "." + key, &value);
                !s.ok()) {
              return s;
            }
            std::string lower = absl::AsciiStrToLower(key);
            if (lower == "authorization") {
              return p.Error(it->first, q,
                             "authorization header must be changed via the "
                             "basic_auth, authorization, oauth2, or sigv4 "
                             "parameter");
            }
            if (IsReservedHeader(lower)) {
              return p.Error(it->first, q,
                             absl::StrCat(key,
                                          " is a reserved header. It must not "
                                          "be changed"));
            }
            out->headers[key] = value;
          }
          return absl::OkStatus();
        }},
       {"write_relabel_configs",
        [&](auto& v, auto& q) {
          return ParseRelabelConfigs(p, v, q, &out->write_relabel_configs);
        }},
       {"send_exemplars",
        [&](auto& v, auto& q) { return p.Bool(v, q, &out->send_exemplars); }},
       {"sigv4",
        [&](auto& v, auto& q) {
          return p.Error(v, q, "sigv4 is not supported by Vigil");
        }},
       {"azuread",
        [&](auto& v, auto& q) {
          return p.Error(v, q, "azuread is not supported by Vigil");
        }},
       {"send_native_histograms",
        [&](auto& v, auto& q) {
          return p.Bool(v, q, &out->send_native_histograms);
        }},
       {"queue_config",
        [&](auto& v, auto& q) {
          return ParseQueueConfig(p, v, q, &out->queue_config);
        }},
       {"metadata_config",
        [&](auto& v, auto& q) {
          absl::Status ms = p.Mapping(
              v, q,
              {{"send",
                [&](auto& w, auto& r) {
                  return p.Bool(w, r, &out->metadata_config.send);
                }},
               {"send_interval",
                [&](auto& w, auto& r) {
                  return p.Duration(w, r, &out->metadata_config.send_interval);
                }},
               {"max_samples_per_send", [&](auto& w, auto& r) {
                  return p.Integer(w, r,
                                   &out->metadata_config.max_samples_per_send);
                }}});
          if (!ms.ok()) return ms;
          // Prometheus accepts these and then panics (a zero ticker) or
          // never finishes a send (batches of zero): reject them here.
          const MetadataConfig& m = out->metadata_config;
          if (m.send && m.send_interval <= absl::ZeroDuration()) {
            return p.Error(v, q,
                           "send_interval must be positive when send is true");
          }
          if (m.max_samples_per_send <= 0) {
            return p.Error(
                v, q,
                absl::StrCat("max_samples_per_send must be positive, "
                             "got ",
                             m.max_samples_per_send));
          }
          return absl::OkStatus();
        }},
       {"basic_auth", http[0].handler},
       {"authorization", http[1].handler},
       {"bearer_token", http[2].handler},
       {"bearer_token_file", http[3].handler},
       {"tls_config", http[4].handler},
       {"proxy_url", http[5].handler},
       {"follow_redirects", http[6].handler},
       {"enable_http2", http[7].handler},
       {"oauth2", http[8].handler},
       {"no_proxy", http[9].handler},
       {"proxy_from_environment", http[10].handler},
       {"proxy_connect_header", http[11].handler}});
  if (!st.ok()) return st;
  if (out->url.empty()) {
    return p.Error(node, path, "url for remote_write is empty");
  }
  if (out->remote_timeout == absl::ZeroDuration()) {
    out->remote_timeout = absl::Seconds(30);
  }
  return ValidateHttpClient(p, node, path, out);
}

absl::Status ParseRoot(const Parser& p, const YAML::Node& root, Config* cfg) {
  // `global` must be parsed before scrape configs, which inherit from it,
  // whatever the key order in the file.
  std::optional<YAML::Node> scrape_node;
  std::string scrape_path;
  absl::Status st = p.Mapping(
      root, "",
      {{"global",
        [&](auto& v, auto& q) { return ParseGlobal(p, v, q, &cfg->global); }},
       {"rule_files",
        [&](auto& v, auto& q) {
          if (absl::Status s = p.StringList(v, q, &cfg->rule_files); !s.ok()) {
            return s;
          }
          for (const std::string& rf : cfg->rule_files) {
            if (!re2::RE2::FullMatch(Piece(rf), RuleFilePattern())) {
              return p.Error(
                  v, q, absl::StrCat("invalid rule file path \"", rf, "\""));
            }
          }
          return absl::OkStatus();
        }},
       {"scrape_configs",
        [&](auto& v, auto& q) {
          scrape_node = v;
          scrape_path = q;
          return absl::OkStatus();
        }},
       {"alerting",
        [&](auto& v, auto& q) {
          return ParseAlerting(p, v, q, &cfg->alerting);
        }},
       {"remote_write",
        [&](auto& v, auto& q) {
          return p.Sequence(
              v, q, [&](const YAML::Node& n, const std::string& r) {
                cfg->remote_write.emplace_back();
                return ParseRemoteWrite(p, n, r, &cfg->remote_write.back());
              });
        }},
       // Recognised Prometheus sections Vigil has no use for. They are
       // accepted (so a Prometheus config loads) but not validated.
       {"remote_read", [](auto&, auto&) { return absl::OkStatus(); }},
       {"storage", [](auto&, auto&) { return absl::OkStatus(); }},
       {"tracing", [](auto&, auto&) { return absl::OkStatus(); }}});
  if (!st.ok()) return st;

  if (scrape_node.has_value()) {
    std::map<std::string, int> jobs;
    st = p.Sequence(
        *scrape_node, scrape_path,
        [&](const YAML::Node& n, const std::string& q) {
          ScrapeConfig sc;
          if (absl::Status s = ParseScrapeConfig(p, n, q, cfg->global, &sc);
              !s.ok()) {
            return s;
          }
          if (!jobs.emplace(sc.job_name, 0).second) {
            return p.Error(n, q,
                           absl::StrCat("found multiple scrape configs with "
                                        "job name \"",
                                        sc.job_name, "\""));
          }
          cfg->scrape_configs.push_back(std::move(sc));
          return absl::OkStatus();
        });
    if (!st.ok()) return st;
  }

  std::set<std::string> rw_names;
  for (size_t i = 0; i < cfg->remote_write.size(); ++i) {
    const std::string& name = cfg->remote_write[i].name;
    if (!name.empty() && !rw_names.insert(name).second) {
      return p.ErrorAt(YAML::Mark::null_mark(),
                       absl::StrCat("remote_write[", i, "]"),
                       absl::StrCat("found multiple remote write configs with "
                                    "job name \"",
                                    name, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> DefaultScrapeProtocols() {
  return {kOpenMetricsText1_0_0, kOpenMetricsText0_0_1, kPrometheusText0_0_4};
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml,
                                   const std::string& filename) {
  const std::string file = filename.empty() ? "<config>" : filename;
  Config cfg;
  cfg.source_text = std::string(yaml);
  cfg.source_path = filename;

  YAML::Node root;
  try {
    root = YAML::Load(cfg.source_text);
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0) {
      absl::StrAppend(&where, ":", e.mark.line + 1, ":", e.mark.column + 1);
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": YAML syntax error: ", e.msg));
  }

  Parser parser(file, filename.empty() ? "" : DirName(filename));
  try {
    if (absl::Status s = ParseRoot(parser, root, &cfg); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws only on misuse; report rather than crash.
    return absl::InternalError(absl::StrCat(file, ": ", e.what()));
  }
  return cfg;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string msg = absl::StrCat("cannot read config file \"", path,
                                   "\": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<Config> cfg = ParseConfig(buf.str(), path);
  if (!cfg.ok()) return cfg;
  // Files named by tls_config are checked here rather than in ParseConfig,
  // which also parses configs held in memory (tests, embedding) whose
  // files need not exist.
  auto check = [&](const TlsConfig& t, const std::string& where) {
    net::TlsOptions o;
    o.ca_file = t.ca_file;
    o.cert_file = t.cert_file;
    o.key_file = t.key_file;
    o.min_version = t.min_version;
    absl::Status s = net::ValidateTlsOptions(o);
    if (s.ok()) return s;
    return absl::Status(s.code(),
                        absl::StrCat(path, ": ", where, ": ", s.message()));
  };
  // The client's own tls_config and its oauth2 token endpoint's.
  auto check_client = [&](const HttpClientConfig& h, const std::string& where) {
    absl::Status s = check(h.tls_config, where);
    if (s.ok() && h.oauth2) {
      s = check(h.oauth2->tls_config, absl::StrCat(where, " oauth2"));
    }
    return s;
  };
  for (const ScrapeConfig& sc : cfg->scrape_configs) {
    absl::Status s = check_client(
        sc, absl::StrCat("scrape_configs job \"", sc.job_name, "\""));
    if (!s.ok()) return s;
  }
  for (size_t i = 0; i < cfg->alerting.alertmanagers.size(); ++i) {
    absl::Status s =
        check_client(cfg->alerting.alertmanagers[i],
                     absl::StrCat("alerting.alertmanagers[", i, "]"));
    if (!s.ok()) return s;
  }
  for (const RemoteWriteConfig& rw : cfg->remote_write) {
    absl::Status s =
        check_client(rw, absl::StrCat("remote_write \"", rw.url, "\""));
    if (!s.ok()) return s;
  }
  return cfg;
}

absl::StatusOr<std::vector<std::string>> ResolveRuleFiles(
    const Config& config) {
  const std::string dir = DirName(config.source_path);
  std::vector<std::string> out;
  for (const std::string& pattern : config.rule_files) {
    if (!re2::RE2::FullMatch(Piece(pattern), RuleFilePattern()) ||
        std::count(pattern.begin(), pattern.end(), '[') !=
            std::count(pattern.begin(), pattern.end(), ']')) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid rule file pattern \"", pattern, "\""));
    }
    std::string full = JoinDir(dir, pattern);
    glob_t g;
    // Like Go's filepath.Glob, unreadable directories just match nothing.
    int rc = glob(full.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    } else if (rc == GLOB_NOSPACE) {
      globfree(&g);
      return absl::InvalidArgumentError(
          absl::StrCat("cannot expand rule file pattern \"", full, "\""));
    }
    globfree(&g);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// Durations and sizes.

absl::StatusOr<absl::Duration> ParsePromDuration(absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError("empty duration string");
  }
  if (text == "0") return absl::ZeroDuration();
  static const re2::RE2* const kPattern = new re2::RE2(
      "^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
      "(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$");
  re2::StringPiece g[7];
  if (!re2::RE2::FullMatch(Piece(text), *kPattern, &g[0], &g[1], &g[2], &g[3],
                           &g[4], &g[5], &g[6])) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid duration string: \"", text, "\""));
  }
  static constexpr int64_t kUnitMs[7] = {int64_t{365} * 24 * 3600 * 1000,
                                         int64_t{7} * 24 * 3600 * 1000,
                                         int64_t{24} * 3600 * 1000,
                                         int64_t{3600} * 1000,
                                         int64_t{60} * 1000,
                                         int64_t{1000},
                                         int64_t{1}};
  int64_t total = 0;
  for (int i = 0; i < 7; ++i) {
    if (g[i].data() == nullptr || g[i].empty()) continue;
    uint64_t v;
    if (!absl::SimpleAtoi(absl::string_view(g[i].data(), g[i].size()), &v) ||
        v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() /
                                  kUnitMs[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("duration out of range: \"", text, "\""));
    }
    int64_t add = static_cast<int64_t>(v) * kUnitMs[i];
    if (total > std::numeric_limits<int64_t>::max() - add) {
      return absl::InvalidArgumentError(
          absl::StrCat("duration out of range: \"", text, "\""));
    }
    total += add;
  }
  return absl::Milliseconds(total);
}

std::string FormatPromDuration(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  struct Unit {
    const char* name;
    int64_t mult;
    bool exact;
  };
  // Years and weeks only when exact: "90d" reads better than "12w6d".
  static constexpr Unit kUnits[] = {
      {"y", int64_t{365} * 24 * 3600 * 1000, true},
      {"w", int64_t{7} * 24 * 3600 * 1000, true},
      {"d", int64_t{24} * 3600 * 1000, false},
      {"h", int64_t{3600} * 1000, false},
      {"m", int64_t{60} * 1000, false},
      {"s", 1000, false},
      {"ms", 1, false}};
  for (const Unit& u : kUnits) {
    if (u.exact && ms % u.mult != 0) continue;
    int64_t v = ms / u.mult;
    if (v > 0) {
      absl::StrAppend(&out, v, u.name);
      ms -= v * u.mult;
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  auto bad = [&text]() {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid size: \"", text,
                     "\" (expected e.g. \"512MB\", \"1GiB\" or \"0\")"));
  };
  if (text == "0") return 0;
  if (text.empty()) return bad();
  // Two unit families, tried one after the other as alecthomas/units does:
  // IEC names (KiB, MiB, ...) and the legacy names (KB, MB, ...), both
  // powers of 1024; "B" belongs to both.
  static const char* const kIec[] = {"B",   "KiB", "MiB", "GiB",
                                     "TiB", "PiB", "EiB"};
  static const char* const kLegacy[] = {"B",  "KB", "MB", "GB",
                                        "TB", "PB", "EB"};
  for (const char* const* family : {kIec, kLegacy}) {
    absl::string_view s = text;
    long double total = 0;
    bool ok = true;
    while (!s.empty() && ok) {
      size_t i = 0;
      while (i < s.size() && (absl::ascii_isdigit(s[i]) || s[i] == '.')) ++i;
      if (i == 0) {
        ok = false;
        break;
      }
      double num;
      if (!absl::SimpleAtod(s.substr(0, i), &num)) {
        ok = false;
        break;
      }
      size_t j = i;
      while (j < s.size() && absl::ascii_isalpha(s[j])) ++j;
      absl::string_view unit = s.substr(i, j - i);
      int power = -1;
      for (int k = 0; k < 7; ++k) {
        if (unit == family[k]) power = k;
      }
      if (power < 0) {
        ok = false;
        break;
      }
      total += static_cast<long double>(num) * std::pow(1024.0L, power);
      s.remove_prefix(j);
    }
    if (!ok) continue;
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("size out of range: \"", text, "\""));
    }
    return static_cast<int64_t>(total);
  }
  return bad();
}

}  // namespace vigil::config
