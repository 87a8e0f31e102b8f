#include "server/api/silences_api.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "alerting/notifier/config.h"
#include "alerting/notifier/dispatcher.h"
#include "alerting/notifier/silences.h"
#include "alerting/notifier/types.h"
#include "re2/re2.h"
#include "server/api/json_writer.h"

namespace vigil::server::api {
namespace {

using alerting::notifier::Dispatcher;
using alerting::notifier::FormatRFC3339Millis;
using alerting::notifier::Silence;
using alerting::notifier::Silences;
using alerting::notifier::SilenceState;
using http::Request;
using http::Response;

// Alertmanager answers errors of its handlers with a bare JSON string.
Response JsonStringError(int status, absl::string_view message) {
  std::string body;
  AppendJsonString(&body, message);
  body.push_back('\n');
  return Response::Json(status, std::move(body));
}

// ... and errors of its Swagger request validation with {code, message}.
Response SwaggerError(int status, int code, absl::string_view message) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject();
  w.Key("code");
  w.Int(code);
  w.Key("message");
  w.String(message);
  w.EndObject();
  body.push_back('\n');
  return Response::Json(status, std::move(body));
}

Response NotEnabled() {
  return Response::Text(
      404,
      "Alertmanager API v2 needs the built-in Alertmanager: start vigil "
      "serve with --alerting.config.file=alertmanager.yml\n");
}

bool IsUUID(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = s[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

void WriteSilence(const Silence& s, SilenceState state, JsonWriter* w) {
  bool regex = false, equal = true;
  w->BeginObject();
  w->Key("id");
  w->String(s.id);
  w->Key("status");
  w->BeginObject();
  w->Key("state");
  w->String(alerting::notifier::SilenceStateString(state));
  w->EndObject();
  w->Key("updatedAt");
  w->String(FormatRFC3339Millis(s.updated_at_ms));
  w->Key("comment");
  w->String(s.comment);
  w->Key("createdBy");
  w->String(s.created_by);
  w->Key("endsAt");
  w->String(FormatRFC3339Millis(s.ends_at_ms));
  w->Key("matchers");
  w->BeginArray();
  for (const tsdb::Matcher& m : s.matchers) {
    regex = m.type() == tsdb::MatchType::kRegexMatch ||
            m.type() == tsdb::MatchType::kRegexNoMatch;
    equal = m.type() == tsdb::MatchType::kEqual ||
            m.type() == tsdb::MatchType::kRegexMatch;
    w->BeginObject();
    w->Key("isEqual");
    w->Bool(equal);
    w->Key("isRegex");
    w->Bool(regex);
    w->Key("name");
    w->String(m.name());
    w->Key("value");
    w->String(m.value());
    w->EndObject();
  }
  w->EndArray();
  w->Key("startsAt");
  w->String(FormatRFC3339Millis(s.starts_at_ms));
  w->EndObject();
}

// Alertmanager's order: active (soonest end first), pending (soonest start
// first), expired (latest end first).
int StateRank(SilenceState s) {
  switch (s) {
    case SilenceState::kActive:
      return 0;
    case SilenceState::kPending:
      return 1;
    case SilenceState::kExpired:
      return 2;
  }
  return 3;
}

// Alertmanager's filter for silences: every filter matcher must match the
// value the silence has for that label name (an absent name reads as "";
// a filter for "" is satisfied by absence, a negative one by presence).
bool SilenceMatchesFilter(const Silence& s,
                          const std::vector<tsdb::Matcher>& filter) {
  for (const tsdb::Matcher& f : filter) {
    const tsdb::Matcher* have = nullptr;
    for (const tsdb::Matcher& m : s.matchers) {
      if (m.name() == f.name()) have = &m;
    }
    bool negative = f.type() == tsdb::MatchType::kNotEqual ||
                    f.type() == tsdb::MatchType::kRegexNoMatch;
    if (f.value().empty() && (negative ? have != nullptr : have == nullptr)) {
      continue;
    }
    if (!f.Matches(have != nullptr ? have->value() : "")) return false;
  }
  return true;
}

absl::StatusOr<std::vector<tsdb::Matcher>> ParseFilter(const Request& req) {
  std::vector<tsdb::Matcher> out;
  for (const std::string& f : req.FormValues("filter")) {
    absl::StatusOr<tsdb::Matcher> m = alerting::notifier::ParseMatcher(f);
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad matcher format: ", f));
    }
    out.push_back(*std::move(m));
  }
  return out;
}

bool BoolParam(const Request& req, absl::string_view name) {
  return req.FormValue(name) != "false";
}

class AlertmanagerApi {
 public:
  AlertmanagerApi(std::function<alerting::AlertingService*()> service,
                  AlertmanagerApiInfo info)
      : service_(std::move(service)),
        info_(std::move(info)),
        start_ms_(Now()) {}

  int64_t Now() const {
    return info_.now_ms ? info_.now_ms() : absl::ToUnixMillis(absl::Now());
  }

  // Null when the built-in Alertmanager is not running.
  alerting::AlertingService* Service() const {
    alerting::AlertingService* s = service_ ? service_() : nullptr;
    if (s == nullptr || s->silences() == nullptr ||
        s->dispatcher() == nullptr) {
      return nullptr;
    }
    return s;
  }

  Response ListSilences(const Request& req) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    absl::StatusOr<std::vector<tsdb::Matcher>> filter = ParseFilter(req);
    if (!filter.ok()) return JsonStringError(400, filter.status().message());
    Silences* silences = svc->silences();
    std::vector<std::pair<Silence, SilenceState>> list;
    for (Silence& s : silences->List()) {
      if (!SilenceMatchesFilter(s, *filter)) continue;
      SilenceState st = silences->State(s);
      list.emplace_back(std::move(s), st);
    }
    std::stable_sort(list.begin(), list.end(),
                     [](const auto& a, const auto& b) {
                       if (a.second != b.second) {
                         return StateRank(a.second) < StateRank(b.second);
                       }
                       switch (a.second) {
                         case SilenceState::kActive:
                           return a.first.ends_at_ms < b.first.ends_at_ms;
                         case SilenceState::kPending:
                           return a.first.starts_at_ms < b.first.starts_at_ms;
                         case SilenceState::kExpired:
                           return a.first.ends_at_ms > b.first.ends_at_ms;
                       }
                       return false;
                     });
    std::string body;
    JsonWriter w(&body);
    w.BeginArray();
    for (const auto& [s, st] : list) WriteSilence(s, st, &w);
    w.EndArray();
    body.push_back('\n');
    return Response::Json(200, std::move(body));
  }

  // Alertmanager's Swagger validation error for a malformed {id}.
  static Response BadSilenceIdInPath(const std::string& id) {
    return SwaggerError(
        422, 601,
        absl::StrCat("silenceID in path must be of type uuid: \"", id, "\""));
  }

  Response GetSilence(const Request& req) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    std::string id(req.PathParam("id"));
    if (!IsUUID(id)) return BadSilenceIdInPath(id);
    absl::StatusOr<Silence> s = svc->silences()->Get(id);
    if (!s.ok()) return Response::Json(404, "");
    std::string body;
    JsonWriter w(&body);
    WriteSilence(*s, svc->silences()->State(*s), &w);
    body.push_back('\n');
    return Response::Json(200, std::move(body));
  }

  Response PostSilence(const Request& req) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    absl::StatusOr<Silence> s = Silences::ParsePostable(req.body);
    if (!s.ok()) {
      absl::string_view msg = s.status().message();
      // Field-level problems are Swagger validation errors in Alertmanager.
      if (absl::StartsWith(msg, "silence invalid")) {
        return JsonStringError(400, msg);
      }
      return SwaggerError(400, 400, msg);
    }
    if (s->starts_at_ms >= s->ends_at_ms) {
      return JsonStringError(
          400, "Failed to create silence: start time must be before end time");
    }
    if (s->ends_at_ms < Now()) {
      return JsonStringError(
          400, "Failed to create silence: end time can't be in the past");
    }
    absl::StatusOr<std::string> id = svc->silences()->Set(*std::move(s));
    if (!id.ok()) {
      if (id.status().code() == absl::StatusCode::kNotFound) {
        return JsonStringError(404, id.status().message());
      }
      if (id.status().code() == absl::StatusCode::kInvalidArgument) {
        return JsonStringError(400, id.status().message());
      }
      return JsonStringError(500, id.status().message());
    }
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    w.Key("silenceID");
    w.String(*id);
    w.EndObject();
    body.push_back('\n');
    return Response::Json(200, std::move(body));
  }

  Response DeleteSilence(const Request& req) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    std::string id(req.PathParam("id"));
    if (!IsUUID(id)) return BadSilenceIdInPath(id);
    absl::Status st = svc->silences()->Expire(id);
    // Alertmanager 0.25 answers an unknown id with 500 "silence not found".
    if (!st.ok()) return JsonStringError(500, st.message());
    return Response::Json(200, "");
  }

  Response ListAlerts(const Request& req) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    absl::StatusOr<std::vector<tsdb::Matcher>> filter = ParseFilter(req);
    if (!filter.ok()) return JsonStringError(400, filter.status().message());
    std::unique_ptr<re2::RE2> receiver;
    std::string receiver_re(req.FormValue("receiver"));
    if (!receiver_re.empty()) {
      receiver = std::make_unique<re2::RE2>("^(?:" + receiver_re + ")$",
                                            re2::RE2::Quiet);
      if (!receiver->ok()) {
        return JsonStringError(400,
                               absl::StrCat("failed to parse receiver param: ",
                                            receiver->error()));
      }
    }
    bool want_active = BoolParam(req, "active");
    bool want_silenced = BoolParam(req, "silenced");
    bool want_inhibited = BoolParam(req, "inhibited");
    int64_t now = Now();
    Dispatcher* d = svc->dispatcher();
    struct Row {
      std::string fingerprint;
      alerting::notifier::Alert alert;
      Dispatcher::AlertStatus status;
      std::vector<std::string> silenced_by;
    };
    std::vector<Row> rows;
    for (alerting::notifier::Alert& a : d->Alerts()) {
      if (a.Resolved(now)) continue;
      bool match = true;
      for (const tsdb::Matcher& m : *filter) {
        if (!m.Matches(a.labels.Get(m.name()))) match = false;
      }
      if (!match) continue;
      Row r;
      r.status = d->Status(a.labels);
      if (receiver != nullptr &&
          std::none_of(r.status.receivers.begin(), r.status.receivers.end(),
                       [&](const std::string& name) {
                         return re2::RE2::FullMatch(
                             re2::StringPiece(name.data(), name.size()),
                             *receiver);
                       })) {
        continue;
      }
      r.silenced_by = svc->silences()->MutedBy(a.labels);
      bool silenced = !r.silenced_by.empty();
      bool inhibited = !r.status.inhibited_by.empty();
      if (!want_silenced && silenced) continue;
      if (!want_inhibited && inhibited) continue;
      if (!want_active && !silenced && !inhibited) continue;
      r.fingerprint = alerting::notifier::FingerprintString(a.labels);
      r.alert = std::move(a);
      rows.push_back(std::move(r));
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return a.fingerprint < b.fingerprint;
    });
    std::string body;
    JsonWriter w(&body);
    w.BeginArray();
    for (const Row& r : rows) {
      const alerting::notifier::Alert& a = r.alert;
      w.BeginObject();
      w.Key("annotations");
      w.LabelSet(a.annotations);
      w.Key("endsAt");
      w.String(FormatRFC3339Millis(a.ends_at_ms));
      w.Key("fingerprint");
      w.String(r.fingerprint);
      w.Key("receivers");
      w.BeginArray();
      for (const std::string& name : r.status.receivers) {
        w.BeginObject();
        w.Key("name");
        w.String(name);
        w.EndObject();
      }
      w.EndArray();
      w.Key("startsAt");
      w.String(FormatRFC3339Millis(a.starts_at_ms));
      w.Key("status");
      w.BeginObject();
      w.Key("inhibitedBy");
      w.BeginArray();
      if (!r.status.inhibited_by.empty()) w.String(r.status.inhibited_by);
      w.EndArray();
      w.Key("silencedBy");
      w.BeginArray();
      for (const std::string& id : r.silenced_by) w.String(id);
      w.EndArray();
      w.Key("state");
      w.String(r.silenced_by.empty() && r.status.inhibited_by.empty()
                   ? "active"
                   : "suppressed");
      w.EndObject();
      w.Key("updatedAt");
      w.String(FormatRFC3339Millis(a.updated_at_ms != 0 ? a.updated_at_ms
                                                        : a.starts_at_ms));
      if (!a.generator_url.empty()) {
        w.Key("generatorURL");
        w.String(a.generator_url);
      }
      w.Key("labels");
      w.LabelSet(a.labels);
      w.EndObject();
    }
    w.EndArray();
    body.push_back('\n');
    return Response::Json(200, std::move(body));
  }

  Response PostAlerts(const Request& req) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    absl::StatusOr<std::vector<alerting::notifier::Alert>> alerts =
        alerting::notifier::ParsePostableAlerts(req.body);
    if (!alerts.ok()) return JsonStringError(400, alerts.status().message());
    svc->dispatcher()->Add(*alerts);
    return Response::Json(200, "");
  }

  Response Status(const Request&) {
    alerting::AlertingService* svc = Service();
    if (svc == nullptr) return NotEnabled();
    std::string config;
    {
      std::ifstream in(svc->alertmanager_config_file());
      std::stringstream ss;
      ss << in.rdbuf();
      config = ss.str();
    }
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    w.Key("cluster");
    w.BeginObject();
    w.Key("peers");
    w.BeginArray();
    w.EndArray();
    w.Key("status");
    w.String("disabled");
    w.EndObject();
    w.Key("config");
    w.BeginObject();
    w.Key("original");
    w.String(config);
    w.EndObject();
    w.Key("uptime");
    w.String(FormatRFC3339Millis(start_ms_));
    w.Key("versionInfo");
    w.BeginObject();
    for (auto [k, v] :
         {std::pair<const char*, const std::string*>{"branch", &info_.branch},
          {"buildDate", &info_.build_date},
          {"buildUser", &info_.build_user},
          {"goVersion", &info_.go_version},
          {"revision", &info_.revision},
          {"version", &info_.version}}) {
      w.Key(k);
      w.String(*v);
    }
    w.EndObject();
    w.EndObject();
    body.push_back('\n');
    return Response::Json(200, std::move(body));
  }

 private:
  const std::function<alerting::AlertingService*()> service_;
  const AlertmanagerApiInfo info_;
  const int64_t start_ms_;
};

}  // namespace

void RegisterAlertmanagerApi(
    http::Router* router, std::function<alerting::AlertingService*()> service,
    AlertmanagerApiInfo info) {
  auto api =
      std::make_shared<AlertmanagerApi>(std::move(service), std::move(info));
  router->Handle("GET", "/api/v2/silences",
                 [api](const Request& r) { return api->ListSilences(r); });
  router->Handle("POST", "/api/v2/silences",
                 [api](const Request& r) { return api->PostSilence(r); });
  router->Handle("GET", "/api/v2/silence/:id",
                 [api](const Request& r) { return api->GetSilence(r); });
  router->Handle("DELETE", "/api/v2/silence/:id",
                 [api](const Request& r) { return api->DeleteSilence(r); });
  router->Handle("GET", "/api/v2/alerts",
                 [api](const Request& r) { return api->ListAlerts(r); });
  router->Handle("POST", "/api/v2/alerts",
                 [api](const Request& r) { return api->PostAlerts(r); });
  router->Handle("GET", "/api/v2/status",
                 [api](const Request& r) { return api->Status(r); });
}

}  // namespace vigil::server::api
