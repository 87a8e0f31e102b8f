// alertmanager.yml, parsed unchanged: global (resolve_timeout,
// slack_api_url), the route tree (receiver, group_by incl. '...',
// group_wait, group_interval, repeat_interval, match, match_re, matchers,
// continue, routes), receivers with webhook_configs and slack_configs, and
// inhibit_rules. Any other receiver type is a load-time error naming it;
// unknown fields are errors (Alertmanager parses strictly too). Errors read
// `alertmanager.yml:12: route: unknown field "recevier"`.
#ifndef VIGIL_ALERTING_NOTIFIER_CONFIG_H_
#define VIGIL_ALERTING_NOTIFIER_CONFIG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "alerting/template/template.h"
#include "net/tls.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"

namespace vigil::alerting::notifier {

struct HTTPClientConfig {
  std::string basic_auth_username;
  std::string basic_auth_password;
  std::string bearer_token;  // also from authorization.credentials
  std::string authorization_type = "Bearer";
  // tls_config; its files are checked when the config is loaded.
  net::TlsOptions tls;
  // "http://[user:pass@]host[:port]" (empty: direct).
  std::string proxy_url;
  bool follow_redirects = true;
};

struct WebhookConfig {
  std::string url;
  bool send_resolved = true;
  uint64_t max_alerts = 0;  // 0: all
  HTTPClientConfig http;
};

struct SlackConfig {
  bool send_resolved = false;
  std::string api_url;
  HTTPClientConfig http;
  // Templated fields; unset ones use Alertmanager's defaults.
  std::shared_ptr<const Template> channel, username, color, title, title_link,
      pretext, text, fallback, footer, icon_emoji, icon_url;
};

struct Receiver {
  std::string name;
  std::vector<WebhookConfig> webhooks;
  std::vector<SlackConfig> slacks;
};

struct Route {
  std::string receiver;
  std::vector<std::string> group_by;  // sorted, unique
  bool group_by_all = false;          // group_by: ['...']
  int64_t group_wait_ms = 30'000;
  int64_t group_interval_ms = 300'000;
  int64_t repeat_interval_ms = 4 * 3'600'000;
  std::vector<tsdb::Matcher> matchers;  // sorted by name, value
  bool continue_matching = false;
  std::vector<Route> routes;
  // Alertmanager's route key: "{}" for the root, "{}/{a=\"b\"}" below.
  std::string key;

  // The routes an alert goes to, depth-first, honouring `continue`.
  std::vector<const Route*> Match(const tsdb::Labels& labels) const;
  bool Matches(const tsdb::Labels& labels) const;
};

struct InhibitRule {
  std::vector<tsdb::Matcher> source;
  std::vector<tsdb::Matcher> target;
  std::vector<std::string> equal;
};

struct AlertmanagerConfig {
  int64_t resolve_timeout_ms = 300'000;
  std::string slack_api_url;
  Route route;
  std::vector<Receiver> receivers;
  std::vector<InhibitRule> inhibit_rules;

  const Receiver* FindReceiver(absl::string_view name) const;
};

absl::StatusOr<AlertmanagerConfig> ParseAlertmanagerConfig(
    absl::string_view content, absl::string_view filename);
absl::StatusOr<AlertmanagerConfig> LoadAlertmanagerConfig(
    const std::string& path);

// Parses one matcher in Alertmanager's syntax: `name="value"`,
// `name=~"re"`, `name!=value` (quotes optional). Also accepts a braced,
// comma-separated list via ParseMatcherList.
absl::StatusOr<tsdb::Matcher> ParseMatcher(absl::string_view s);
absl::StatusOr<std::vector<tsdb::Matcher>> ParseMatcherList(
    absl::string_view s);

// `{a="b", c="d"}` as Alertmanager prints a LabelSet.
std::string LabelSetString(const tsdb::Labels& labels);
// `{a="b",c=~"d"}` as Alertmanager prints Matchers.
std::string MatchersString(const std::vector<tsdb::Matcher>& ms);

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_CONFIG_H_
