#include "alerting/notifier/config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "alerting/rules/rule_file.h"
#include "alerting/template/template.h"
#include "net/tls.h"
#include "yaml-cpp/yaml.h"

namespace vigil::alerting::notifier {

std::string LabelSetString(const tsdb::Labels& labels) {
  std::vector<std::string> parts;
  for (const tsdb::Label& l : labels) {
    parts.push_back(absl::StrCat(l.name, "=", alerting::GoQuote(l.value)));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

std::string MatchersString(const std::vector<tsdb::Matcher>& ms) {
  std::vector<std::string> parts;
  for (const tsdb::Matcher& m : ms) {
    parts.push_back(absl::StrCat(m.name(), tsdb::MatchTypeString(m.type()),
                                 alerting::GoQuote(m.value())));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

bool Route::Matches(const tsdb::Labels& labels) const {
  for (const tsdb::Matcher& m : matchers) {
    if (!m.Matches(labels.Get(m.name()))) return false;
  }
  return true;
}

std::vector<const Route*> Route::Match(const tsdb::Labels& labels) const {
  if (!Matches(labels)) return {};
  std::vector<const Route*> all;
  for (const Route& child : routes) {
    std::vector<const Route*> m = child.Match(labels);
    all.insert(all.end(), m.begin(), m.end());
    if (!m.empty() && !child.continue_matching) break;
  }
  if (all.empty()) all.push_back(this);
  return all;
}

const Receiver* AlertmanagerConfig::FindReceiver(absl::string_view name) const {
  for (const Receiver& r : receivers) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

absl::StatusOr<tsdb::Matcher> ParseMatcher(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  size_t i = 0;
  while (i < s.size() && (absl::ascii_isalnum(s[i]) || s[i] == '_')) ++i;
  std::string name(s.substr(0, i));
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad matcher format: ", s));
  }
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(s.substr(i));
  tsdb::MatchType type;
  if (absl::StartsWith(rest, "=~")) {
    type = tsdb::MatchType::kRegexMatch;
    rest.remove_prefix(2);
  } else if (absl::StartsWith(rest, "!~")) {
    type = tsdb::MatchType::kRegexNoMatch;
    rest.remove_prefix(2);
  } else if (absl::StartsWith(rest, "!=")) {
    type = tsdb::MatchType::kNotEqual;
    rest.remove_prefix(2);
  } else if (absl::StartsWith(rest, "=")) {
    type = tsdb::MatchType::kEqual;
    rest.remove_prefix(1);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad matcher format: ", s));
  }
  rest = absl::StripAsciiWhitespace(rest);
  std::string value;
  if (!rest.empty() && rest[0] == '"') {
    size_t j = 1;
    bool closed = false;
    for (; j < rest.size(); ++j) {
      char c = rest[j];
      if (c == '\\' && j + 1 < rest.size()) {
        char e = rest[++j];
        value += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        continue;
      }
      if (c == '"') {
        closed = true;
        break;
      }
      value += c;
    }
    if (!closed || j + 1 != rest.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad matcher format: ", s));
    }
  } else {
    value = std::string(rest);
  }
  return tsdb::Matcher::Create(type, name, value);
}

absl::StatusOr<std::vector<tsdb::Matcher>> ParseMatcherList(
    absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (!s.empty() && s.front() == '{') {
    if (s.back() != '}') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad matcher format: ", s));
    }
    s = s.substr(1, s.size() - 2);
  }
  std::vector<tsdb::Matcher> out;
  std::string cur;
  bool in_quote = false;
  auto flush = [&]() -> absl::Status {
    if (absl::StripAsciiWhitespace(cur).empty()) return absl::OkStatus();
    absl::StatusOr<tsdb::Matcher> m = ParseMatcher(cur);
    if (!m.ok()) return m.status();
    out.push_back(*std::move(m));
    cur.clear();
    return absl::OkStatus();
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && in_quote && i + 1 < s.size()) {
      cur += c;
      cur += s[++i];
      continue;
    }
    if (c == '"') in_quote = !in_quote;
    if (c == ',' && !in_quote) {
      absl::Status st = flush();
      if (!st.ok()) return st;
      continue;
    }
    cur += c;
  }
  absl::Status st = flush();
  if (!st.ok()) return st;
  return out;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  void Err(const YAML::Node& n, absl::string_view ctx, absl::string_view msg) {
    errors_.push_back(absl::StrCat(file_, ":", n.Mark().line + 1, ": ", ctx,
                                   ctx.empty() ? "" : ": ", msg));
  }
  bool ok() const { return errors_.empty(); }
  absl::Status Status() const {
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

  std::string Str(const YAML::Node& n, absl::string_view ctx,
                  absl::string_view field) {
    if (n.IsNull()) return "";
    if (!n.IsScalar()) {
      Err(n, ctx, absl::StrCat("field \"", field, "\" must be a string"));
      return "";
    }
    return n.Scalar();
  }

  bool Bool(const YAML::Node& n, absl::string_view ctx,
            absl::string_view field) {
    std::string s = absl::AsciiStrToLower(Str(n, ctx, field));
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off" || s.empty()) return false;
    Err(n, ctx, absl::StrCat("field \"", field, "\" must be a boolean"));
    return false;
  }

  int64_t Duration(const YAML::Node& n, absl::string_view ctx,
                   absl::string_view field) {
    absl::StatusOr<int64_t> d = ParsePromDuration(Str(n, ctx, field));
    if (!d.ok()) {
      Err(n, ctx, d.status().message());
      return 0;
    }
    return *d;
  }

  std::vector<std::string> StrList(const YAML::Node& n, absl::string_view ctx,
                                   absl::string_view field) {
    std::vector<std::string> out;
    if (n.IsNull()) return out;
    if (!n.IsSequence()) {
      Err(n, ctx, absl::StrCat("field \"", field, "\" must be a list"));
      return out;
    }
    for (const YAML::Node& e : n) out.push_back(Str(e, ctx, field));
    return out;
  }

  // match / match_re maps (sorted into matchers).
  void MatchMap(const YAML::Node& n, bool regex, absl::string_view ctx,
                std::vector<tsdb::Matcher>* out) {
    if (n.IsNull()) return;
    if (!n.IsMap()) {
      Err(n, ctx, regex ? "match_re must be a map" : "match must be a map");
      return;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      std::string v = Str(kv.second, ctx, k);
      absl::StatusOr<tsdb::Matcher> m = tsdb::Matcher::Create(
          regex ? tsdb::MatchType::kRegexMatch : tsdb::MatchType::kEqual, k, v);
      if (!m.ok()) {
        Err(kv.second, ctx, m.status().message());
        continue;
      }
      out->push_back(*std::move(m));
    }
  }

  void MatcherStrings(const YAML::Node& n, absl::string_view ctx,
                      std::vector<tsdb::Matcher>* out) {
    for (const std::string& s : StrList(n, ctx, "matchers")) {
      absl::StatusOr<std::vector<tsdb::Matcher>> ms = ParseMatcherList(s);
      if (!ms.ok()) {
        Err(n, ctx, ms.status().message());
        continue;
      }
      out->insert(out->end(), ms->begin(), ms->end());
    }
  }

  HTTPClientConfig HTTP(const YAML::Node& n, absl::string_view ctx) {
    HTTPClientConfig h;
    if (n.IsNull()) return h;
    if (!n.IsMap()) {
      Err(n, ctx, "http_config must be a map");
      return h;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (k == "basic_auth") {
        for (const auto& b : v) {
          std::string bk = b.first.Scalar();
          if (bk == "username") {
            h.basic_auth_username = Str(b.second, ctx, bk);
          } else if (bk == "password") {
            h.basic_auth_password = Str(b.second, ctx, bk);
          } else if (bk == "password_file") {
            std::ifstream in(Str(b.second, ctx, bk));
            if (!in) {
              Err(b.second, ctx, "cannot read basic_auth password_file");
            } else {
              std::getline(in, h.basic_auth_password);
            }
          } else {
            Err(b.first, ctx,
                absl::StrCat("unknown field \"", bk, "\" in basic_auth"));
          }
        }
      } else if (k == "bearer_token") {
        h.bearer_token = Str(v, ctx, k);
      } else if (k == "authorization") {
        for (const auto& b : v) {
          std::string bk = b.first.Scalar();
          if (bk == "type") {
            h.authorization_type = Str(b.second, ctx, bk);
          } else if (bk == "credentials") {
            h.bearer_token = Str(b.second, ctx, bk);
          } else {
            Err(b.first, ctx,
                absl::StrCat("unknown field \"", bk, "\" in authorization"));
          }
        }
      } else if (k == "tls_config") {
        TLS(v, ctx, &h.tls);
      } else if (k == "proxy_url") {
        h.proxy_url = Str(v, ctx, k);
        if (!h.proxy_url.empty() && !absl::StartsWith(h.proxy_url, "http://")) {
          Err(v, ctx,
              absl::StrCat("proxy_url \"", h.proxy_url,
                           "\": only http:// proxies are supported"));
        }
      } else if (k == "follow_redirects") {
        h.follow_redirects = Bool(v, ctx, k);
      } else if (k == "enable_http2") {
        // Accepted; delivery speaks HTTP/1.1.
      } else {
        Err(kv.first, ctx,
            absl::StrCat("http_config field \"", k, "\" is not supported"));
      }
    }
    return h;
  }

  // http_config.tls_config; the files must exist and hold PEM data.
  void TLS(const YAML::Node& n, absl::string_view ctx, net::TlsOptions* t) {
    if (n.IsNull()) return;
    if (!n.IsMap()) {
      Err(n, ctx, "tls_config must be a map");
      return;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      if (k == "ca_file") {
        t->ca_file = Str(kv.second, ctx, k);
      } else if (k == "cert_file") {
        t->cert_file = Str(kv.second, ctx, k);
      } else if (k == "key_file") {
        t->key_file = Str(kv.second, ctx, k);
      } else if (k == "server_name") {
        t->server_name = Str(kv.second, ctx, k);
      } else if (k == "insecure_skip_verify") {
        t->insecure_skip_verify = Bool(kv.second, ctx, k);
      } else if (k == "min_version") {
        t->min_version = Str(kv.second, ctx, k);
      } else {
        Err(kv.first, ctx,
            absl::StrCat("unknown field \"", k, "\" in tls_config"));
      }
    }
    if (absl::Status s = net::ValidateTlsOptions(*t); !s.ok()) {
      Err(n, ctx, s.message());
    }
  }

  void ParseRoute(const YAML::Node& n, const Route* parent, Route* r) {
    std::string ctx = "route";
    if (parent != nullptr) {
      r->receiver = parent->receiver;
      r->group_by = parent->group_by;
      r->group_by_all = parent->group_by_all;
      r->group_wait_ms = parent->group_wait_ms;
      r->group_interval_ms = parent->group_interval_ms;
      r->repeat_interval_ms = parent->repeat_interval_ms;
    }
    if (!n.IsMap()) {
      Err(n, ctx, "route must be a map");
      return;
    }
    bool has_group_by = false;
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (k == "receiver") {
        r->receiver = Str(v, ctx, k);
        receiver_refs_.emplace_back(r->receiver, v.Mark().line + 1);
      } else if (k == "group_by") {
        has_group_by = true;
        r->group_by.clear();
        r->group_by_all = false;
        std::set<std::string> seen;
        for (const std::string& g : StrList(v, ctx, k)) {
          if (g == "...") {
            r->group_by_all = true;
            continue;
          }
          if (!seen.insert(g).second) {
            Err(v, ctx,
                absl::StrCat("duplicated label \"", g, "\" in group_by"));
          }
          r->group_by.push_back(g);
        }
        if (r->group_by_all && !r->group_by.empty()) {
          Err(v, ctx,
              "cannot have wildcard group_by (`...`) and other other labels "
              "at the same time");
        }
        std::sort(r->group_by.begin(), r->group_by.end());
      } else if (k == "group_wait") {
        r->group_wait_ms = Duration(v, ctx, k);
      } else if (k == "group_interval") {
        r->group_interval_ms = Duration(v, ctx, k);
        if (r->group_interval_ms == 0)
          Err(v, ctx, "group_interval cannot be zero");
      } else if (k == "repeat_interval") {
        r->repeat_interval_ms = Duration(v, ctx, k);
        if (r->repeat_interval_ms == 0) {
          Err(v, ctx, "repeat_interval cannot be zero");
        }
      } else if (k == "match") {
        MatchMap(v, false, ctx, &r->matchers);
      } else if (k == "match_re") {
        MatchMap(v, true, ctx, &r->matchers);
      } else if (k == "matchers") {
        MatcherStrings(v, ctx, &r->matchers);
      } else if (k == "continue") {
        r->continue_matching = Bool(v, ctx, k);
      } else if (k == "routes") {
        if (!v.IsSequence()) {
          if (!v.IsNull()) Err(v, ctx, "routes must be a list");
          continue;
        }
        // Children are parsed after all of this route's fields (below).
      } else if (k == "mute_time_intervals" || k == "active_time_intervals") {
        if (!v.IsNull() && v.size() > 0) {
          Err(kv.first, ctx, absl::StrCat(k, " are not supported"));
        }
      } else {
        Err(kv.first, ctx, absl::StrCat("unknown field \"", k, "\""));
      }
    }
    (void)has_group_by;
    std::sort(r->matchers.begin(), r->matchers.end(),
              [](const tsdb::Matcher& a, const tsdb::Matcher& b) {
                if (a.name() != b.name()) return a.name() < b.name();
                if (a.value() != b.value()) return a.value() < b.value();
                return a.type() < b.type();
              });
    if (parent == nullptr) {
      if (!r->matchers.empty())
        Err(n, ctx, "root route must not have any matchers");
      if (r->continue_matching)
        Err(n, ctx, "cannot have continue in root route");
      if (r->receiver.empty())
        Err(n, ctx, "root route must specify a default receiver");
      r->key = MatchersString(r->matchers);
    } else {
      r->key = absl::StrCat(parent->key, "/", MatchersString(r->matchers));
    }
    // Re-derive inherited group_wait etc. for children only after this
    // route's own fields are known.
    const YAML::Node routes = n["routes"];
    if (routes && routes.IsSequence()) {
      for (const YAML::Node& c : routes) {
        Route child;
        ParseRoute(c, r, &child);
        r->routes.push_back(std::move(child));
      }
    }
  }

  std::shared_ptr<const Template> Tmpl(const YAML::Node& n,
                                       absl::string_view ctx,
                                       absl::string_view field) {
    std::string s = Str(n, ctx, field);
    absl::StatusOr<Template> t =
        Template::Parse(s, TemplateOptions{}, std::string(field));
    if (!t.ok()) {
      Err(n, ctx, t.status().message());
      return nullptr;
    }
    return std::make_shared<const Template>(*std::move(t));
  }

  void ParseReceiver(const YAML::Node& n, const std::string& global_slack,
                     Receiver* r) {
    std::string ctx = "receiver";
    if (!n.IsMap()) {
      Err(n, ctx, "receiver must be a map");
      return;
    }
    r->name = Str(n["name"], ctx, "name");
    if (r->name.empty()) Err(n, ctx, "missing name in receiver");
    ctx = absl::StrCat("receiver \"", r->name, "\"");
    static const char* const kUnsupported[] = {
        "email_configs",   "pagerduty_configs", "opsgenie_configs",
        "wechat_configs",  "pushover_configs",  "victorops_configs",
        "sns_configs",     "telegram_configs",  "webex_configs",
        "discord_configs", "msteams_configs"};
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (k == "name") continue;
      if (std::find(std::begin(kUnsupported), std::end(kUnsupported), k) !=
          std::end(kUnsupported)) {
        Err(kv.first, ctx,
            absl::StrCat(k,
                         " is not supported (supported receiver types: "
                         "webhook_configs, slack_configs)"));
        continue;
      }
      if (k != "webhook_configs" && k != "slack_configs") {
        Err(kv.first, ctx, absl::StrCat("unknown field \"", k, "\""));
        continue;
      }
      if (!v.IsSequence()) {
        if (!v.IsNull()) Err(v, ctx, absl::StrCat(k, " must be a list"));
        continue;
      }
      for (const YAML::Node& c : v) {
        if (!c.IsMap()) {
          Err(c, ctx, absl::StrCat(k, " entries must be maps"));
          continue;
        }
        if (k == "webhook_configs") {
          WebhookConfig w;
          for (const auto& f : c) {
            std::string fk = f.first.Scalar();
            if (fk == "url") {
              w.url = Str(f.second, ctx, fk);
            } else if (fk == "url_file") {
              std::ifstream in(Str(f.second, ctx, fk));
              std::getline(in, w.url);
            } else if (fk == "send_resolved") {
              w.send_resolved = Bool(f.second, ctx, fk);
            } else if (fk == "max_alerts") {
              w.max_alerts =
                  std::strtoull(Str(f.second, ctx, fk).c_str(), nullptr, 10);
            } else if (fk == "http_config") {
              w.http = HTTP(f.second, ctx);
            } else {
              Err(f.first, ctx,
                  absl::StrCat("unknown field \"", fk, "\" in webhook_config"));
            }
          }
          if (w.url.empty()) {
            Err(c, ctx, "one of url or url_file must be configured");
          } else if (!absl::StartsWith(w.url, "http://") &&
                     !absl::StartsWith(w.url, "https://")) {
            Err(c, ctx,
                absl::StrCat("unsupported scheme in webhook url \"", w.url,
                             "\""));
          }
          r->webhooks.push_back(std::move(w));
        } else {
          SlackConfig s;
          for (const auto& f : c) {
            std::string fk = f.first.Scalar();
            const YAML::Node& fv = f.second;
            if (fk == "send_resolved") {
              s.send_resolved = Bool(fv, ctx, fk);
            } else if (fk == "api_url") {
              s.api_url = Str(fv, ctx, fk);
            } else if (fk == "http_config") {
              s.http = HTTP(fv, ctx);
            } else if (fk == "channel") {
              s.channel = Tmpl(fv, ctx, fk);
            } else if (fk == "username") {
              s.username = Tmpl(fv, ctx, fk);
            } else if (fk == "color") {
              s.color = Tmpl(fv, ctx, fk);
            } else if (fk == "title") {
              s.title = Tmpl(fv, ctx, fk);
            } else if (fk == "title_link") {
              s.title_link = Tmpl(fv, ctx, fk);
            } else if (fk == "pretext") {
              s.pretext = Tmpl(fv, ctx, fk);
            } else if (fk == "text") {
              s.text = Tmpl(fv, ctx, fk);
            } else if (fk == "fallback") {
              s.fallback = Tmpl(fv, ctx, fk);
            } else if (fk == "footer") {
              s.footer = Tmpl(fv, ctx, fk);
            } else if (fk == "icon_emoji") {
              s.icon_emoji = Tmpl(fv, ctx, fk);
            } else if (fk == "icon_url") {
              s.icon_url = Tmpl(fv, ctx, fk);
            } else if (fk == "short_fields" || fk == "link_names" ||
                       fk == "mrkdwn_in") {
              // Formatting hints without effect on our payload.
            } else {
              Err(f.first, ctx,
                  absl::StrCat("slack_config field \"", fk,
                               "\" is not supported"));
            }
          }
          if (s.api_url.empty()) s.api_url = global_slack;
          if (s.api_url.empty()) Err(c, ctx, "no global Slack API URL set");
          r->slacks.push_back(std::move(s));
        }
      }
    }
  }

  void CheckReceiverRefs(const AlertmanagerConfig& c, const YAML::Node& root) {
    for (const auto& [name, line] : receiver_refs_) {
      if (c.FindReceiver(name) == nullptr) {
        errors_.push_back(absl::StrCat(file_, ":", line,
                                       ": route: undefined receiver \"", name,
                                       "\" used in route"));
      }
    }
  }

  std::string file_;
  std::vector<std::string> errors_;
  std::vector<std::pair<std::string, int>> receiver_refs_;
};

}  // namespace

absl::StatusOr<AlertmanagerConfig> ParseAlertmanagerConfig(
    absl::string_view content, absl::string_view filename) {
  Parser p{std::string(filename)};
  AlertmanagerConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(content));
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ": configuration must be a YAML map"));
    }
    // Global first: receivers inherit slack_api_url from it.
    const YAML::Node global = root["global"];
    if (global && global.IsMap()) {
      for (const auto& kv : global) {
        std::string k = kv.first.Scalar();
        if (k == "resolve_timeout") {
          c.resolve_timeout_ms = p.Duration(kv.second, "global", k);
        } else if (k == "slack_api_url") {
          c.slack_api_url = p.Str(kv.second, "global", k);
        } else if (k == "http_config" || absl::StartsWith(k, "smtp_") ||
                   absl::StartsWith(k, "pagerduty_") ||
                   absl::StartsWith(k, "opsgenie_") ||
                   absl::StartsWith(k, "wechat_") ||
                   absl::StartsWith(k, "victorops_") ||
                   absl::StartsWith(k, "telegram_") ||
                   absl::StartsWith(k, "webex_") || k == "slack_api_url_file") {
          // Defaults for receiver types or transports we do not use.
        } else {
          p.Err(kv.first, "global", absl::StrCat("unknown field \"", k, "\""));
        }
      }
    }
    bool has_route = false;
    for (const auto& kv : root) {
      std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (k == "global") continue;
      if (k == "route") {
        has_route = true;
        p.ParseRoute(v, nullptr, &c.route);
      } else if (k == "receivers") {
        if (!v.IsSequence()) {
          p.Err(v, "", "receivers must be a list");
          continue;
        }
        std::set<std::string> names;
        for (const YAML::Node& rn : v) {
          Receiver r;
          p.ParseReceiver(rn, c.slack_api_url, &r);
          if (!r.name.empty() && !names.insert(r.name).second) {
            p.Err(rn, "",
                  absl::StrCat("notification config name \"", r.name,
                               "\" is not unique"));
          }
          c.receivers.push_back(std::move(r));
        }
      } else if (k == "inhibit_rules") {
        if (!v.IsSequence()) {
          if (!v.IsNull()) p.Err(v, "", "inhibit_rules must be a list");
          continue;
        }
        for (const YAML::Node& in : v) {
          InhibitRule ir;
          for (const auto& f : in) {
            std::string fk = f.first.Scalar();
            if (fk == "source_match") {
              p.MatchMap(f.second, false, "inhibit_rule", &ir.source);
            } else if (fk == "source_match_re") {
              p.MatchMap(f.second, true, "inhibit_rule", &ir.source);
            } else if (fk == "source_matchers") {
              p.MatcherStrings(f.second, "inhibit_rule", &ir.source);
            } else if (fk == "target_match") {
              p.MatchMap(f.second, false, "inhibit_rule", &ir.target);
            } else if (fk == "target_match_re") {
              p.MatchMap(f.second, true, "inhibit_rule", &ir.target);
            } else if (fk == "target_matchers") {
              p.MatcherStrings(f.second, "inhibit_rule", &ir.target);
            } else if (fk == "equal") {
              ir.equal = p.StrList(f.second, "inhibit_rule", fk);
            } else {
              p.Err(f.first, "inhibit_rule",
                    absl::StrCat("unknown field \"", fk, "\""));
            }
          }
          c.inhibit_rules.push_back(std::move(ir));
        }
      } else if (k == "templates") {
        if (v.IsSequence() && v.size() > 0) {
          p.Err(kv.first, "",
                "templates files are not supported (define/template actions "
                "are not implemented)");
        }
      } else if (k == "mute_time_intervals" || k == "time_intervals") {
        if (v.IsSequence() && v.size() > 0) {
          p.Err(kv.first, "", absl::StrCat(k, " are not supported"));
        }
      } else {
        p.Err(kv.first, "", absl::StrCat("unknown field \"", k, "\""));
      }
    }
    if (!has_route) {
      p.Err(root, "", "no routes provided");
    }
    p.CheckReceiverRefs(c, root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":", e.mark.line + 1, ": yaml: ", e.msg));
  }
  if (!p.ok()) return p.Status();
  return c;
}

absl::StatusOr<AlertmanagerConfig> LoadAlertmanagerConfig(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read file"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseAlertmanagerConfig(ss.str(), path);
}

}  // namespace vigil::alerting::notifier
