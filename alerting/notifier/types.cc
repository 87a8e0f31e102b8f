#include "alerting/notifier/types.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting::notifier {

uint64_t Fingerprint(const tsdb::Labels& labels) {
  constexpr uint64_t kOffset = 14695981039346656037ULL;
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t h = kOffset;
  auto add = [&](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= kPrime;
    }
  };
  auto add_byte = [&](unsigned char c) {
    h ^= c;
    h *= kPrime;
  };
  // tsdb::Labels is sorted by name already.
  for (const tsdb::Label& l : labels) {
    add(l.name);
    add_byte(0xff);
    add(l.value);
    add_byte(0xff);
  }
  return h;
}

std::string FingerprintString(const tsdb::Labels& labels) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(Fingerprint(labels)));
  return buf;
}

std::string FormatRFC3339(int64_t unix_ms) {
  if (unix_ms == 0) return "0001-01-01T00:00:00Z";
  int ms = 0;
  std::string out = FormatUTCSeconds(unix_ms, 'T', &ms);
  return out + GoFraction(ms) + "Z";
}

std::string FormatRFC3339Millis(int64_t unix_ms) {
  if (unix_ms == 0) return "0001-01-01T00:00:00.000Z";
  int ms = 0;
  std::string out = FormatUTCSeconds(unix_ms, 'T', &ms);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", ms);
  return out + frac;
}

bool ParseRFC3339(const std::string& s, int64_t* unix_ms) {
  int y, mo, d, h, mi, sec;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                  &sec, &n) != 6) {
    return false;
  }
  size_t p = n;
  int64_t ms = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int digits = 0;
    while (p < s.size() && isdigit(static_cast<unsigned char>(s[p]))) {
      if (digits < 3) ms = ms * 10 + (s[p] - '0');
      ++digits;
      ++p;
    }
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  int64_t offset_s = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh, om;
    if (std::sscanf(s.c_str() + p + 1, "%2d:%2d", &oh, &om) != 2) return false;
    offset_s = (oh * 3600 + om * 60) * (s[p] == '+' ? 1 : -1);
    p += 6;
  } else {
    return false;
  }
  if (p != s.size()) return false;
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  if (y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && sec == 0 && ms == 0) {
    *unix_ms = 0;  // Go's zero time
    return true;
  }
  *unix_ms = secs * 1000 + ms;
  return true;
}

bool AlertLess(const Alert& a, const Alert& b) {
  for (const char* key : {"job", "instance"}) {
    bool ai = a.labels.Has(key), bi = b.labels.Has(key);
    if (!ai && !bi) continue;
    if (!ai) return false;
    if (!bi) return true;
    absl::string_view av = a.labels.Get(key), bv = b.labels.Get(key);
    if (av != bv) return av < bv;
  }
  return a.labels < b.labels;
}

namespace {

tsdb::Labels Common(const std::vector<TemplateAlert>& alerts,
                    bool annotations) {
  if (alerts.empty()) return tsdb::Labels();
  const tsdb::Labels& first =
      annotations ? alerts[0].annotations : alerts[0].labels;
  std::vector<tsdb::Label> out;
  for (const tsdb::Label& l : first) {
    bool all = true;
    for (size_t i = 1; i < alerts.size() && all; ++i) {
      const tsdb::Labels& other =
          annotations ? alerts[i].annotations : alerts[i].labels;
      if (!other.Has(l.name) || other.Get(l.name) != l.value) all = false;
    }
    if (all) out.push_back(l);
  }
  return tsdb::Labels::FromSortedUnchecked(std::move(out));
}

}  // namespace

TemplateData BuildTemplateData(const std::string& receiver,
                               const tsdb::Labels& group_labels,
                               const std::vector<Alert>& alerts,
                               const std::string& external_url,
                               int64_t now_ms) {
  TemplateData d;
  d.receiver = receiver;
  d.group_labels = group_labels;
  d.external_url = external_url;
  d.status = "resolved";
  for (const Alert& a : alerts) {
    TemplateAlert t;
    bool resolved = a.Resolved(now_ms);
    t.status = resolved ? "resolved" : "firing";
    if (!resolved) d.status = "firing";
    t.labels = a.labels;
    t.annotations = a.annotations;
    t.starts_at_ms = a.starts_at_ms;
    // Alertmanager hides an end time that has not been reached yet.
    t.ends_at_ms = resolved ? a.ends_at_ms : 0;
    t.generator_url = a.generator_url;
    t.fingerprint = FingerprintString(a.labels);
    d.alerts.push_back(std::move(t));
  }
  d.common_labels = Common(d.alerts, false);
  d.common_annotations = Common(d.alerts, true);
  return d;
}

namespace {

TemplateValue LabelsValue(const tsdb::Labels& l) {
  TemplateValue::Map m;
  for (const tsdb::Label& x : l) m[x.name] = TemplateValue::String(x.value);
  return TemplateValue::FromMap(std::move(m));
}

void AppendLabelsJSON(const tsdb::Labels& l, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const tsdb::Label& x : l) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, GoJSONString(x.name), ":", GoJSONString(x.value));
  }
  out->push_back('}');
}

}  // namespace

TemplateValue ToTemplateValue(const TemplateData& d) {
  TemplateValue::List alerts;
  for (const TemplateAlert& a : d.alerts) {
    TemplateValue::Map m;
    m["Status"] = TemplateValue::String(a.status);
    m["Labels"] = LabelsValue(a.labels);
    m["Annotations"] = LabelsValue(a.annotations);
    m["StartsAt"] = TemplateValue::String(FormatGoTime(a.starts_at_ms));
    m["EndsAt"] = TemplateValue::String(a.ends_at_ms == 0
                                            ? "0001-01-01 00:00:00 +0000 UTC"
                                            : FormatGoTime(a.ends_at_ms));
    m["GeneratorURL"] = TemplateValue::String(a.generator_url);
    m["Fingerprint"] = TemplateValue::String(a.fingerprint);
    alerts.push_back(TemplateValue::FromStruct(std::move(m)));
  }
  TemplateValue::Map m;
  m["Receiver"] = TemplateValue::String(d.receiver);
  m["Status"] = TemplateValue::String(d.status);
  m["Alerts"] = TemplateValue::FromList(std::move(alerts));
  m["GroupLabels"] = LabelsValue(d.group_labels);
  m["CommonLabels"] = LabelsValue(d.common_labels);
  m["CommonAnnotations"] = LabelsValue(d.common_annotations);
  m["ExternalURL"] = TemplateValue::String(d.external_url);
  return TemplateValue::FromStruct(std::move(m));
}

std::string GoJSONString(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
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
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
      case '>':
      case '&': {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
        break;
      }
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (c == 0xe2 && i + 2 < s.size() &&
                   static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) == 0xa8 ||
                    static_cast<unsigned char>(s[i + 2]) == 0xa9)) {
          // U+2028 / U+2029, escaped by Go for JavaScript safety.
          out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028"
                                                              : "\\u2029";
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string WebhookJSON(const TemplateData& d, const std::string& group_key,
                        uint64_t truncated_alerts) {
  std::string out;
  out.reserve(512 + d.alerts.size() * 512);
  absl::StrAppend(&out, "{\"receiver\":", GoJSONString(d.receiver),
                  ",\"status\":", GoJSONString(d.status), ",\"alerts\":[");
  for (size_t i = 0; i < d.alerts.size(); ++i) {
    const TemplateAlert& a = d.alerts[i];
    if (i > 0) out += ',';
    absl::StrAppend(&out, "{\"status\":", GoJSONString(a.status),
                    ",\"labels\":");
    AppendLabelsJSON(a.labels, &out);
    out += ",\"annotations\":";
    AppendLabelsJSON(a.annotations, &out);
    absl::StrAppend(&out, ",\"startsAt\":\"", FormatRFC3339(a.starts_at_ms),
                    "\",\"endsAt\":\"", FormatRFC3339(a.ends_at_ms),
                    "\",\"generatorURL\":", GoJSONString(a.generator_url),
                    ",\"fingerprint\":", GoJSONString(a.fingerprint), "}");
  }
  out += "],\"groupLabels\":";
  AppendLabelsJSON(d.group_labels, &out);
  out += ",\"commonLabels\":";
  AppendLabelsJSON(d.common_labels, &out);
  out += ",\"commonAnnotations\":";
  AppendLabelsJSON(d.common_annotations, &out);
  absl::StrAppend(&out, ",\"externalURL\":", GoJSONString(d.external_url),
                  ",\"version\":\"4\",\"groupKey\":", GoJSONString(group_key),
                  ",\"truncatedAlerts\":", truncated_alerts, "}\n");
  return out;
}

absl::StatusOr<std::vector<Alert>> ParsePostableAlerts(
    const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InvalidArgumentError("alerts body must be a JSON array");
  }
  std::vector<Alert> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& e = j[i];
    auto bad = [i](absl::string_view msg) {
      return absl::InvalidArgumentError(absl::StrCat("alert ", i, ": ", msg));
    };
    if (!e.is_object()) return bad("must be an object");
    Alert a;
    for (const char* field : {"labels", "annotations"}) {
      if (!e.contains(field)) continue;
      if (!e[field].is_object())
        return bad(absl::StrCat(field, " must be a map"));
      std::vector<tsdb::Label> pairs;
      for (auto it = e[field].begin(); it != e[field].end(); ++it) {
        if (!it.value().is_string()) {
          return bad(absl::StrCat(field, " values must be strings"));
        }
        pairs.push_back({it.key(), it.value().get<std::string>()});
      }
      absl::StatusOr<tsdb::Labels> l =
          tsdb::Labels::FromPairs(std::move(pairs));
      if (!l.ok()) return bad(l.status().message());
      (std::string(field) == "labels" ? a.labels : a.annotations) = *l;
    }
    if (a.labels.empty()) return bad("at least one label pair required");
    for (auto [field, dst] :
         {std::pair<const char*, int64_t*>{"startsAt", &a.starts_at_ms},
          {"endsAt", &a.ends_at_ms}}) {
      if (!e.contains(field) || e[field].is_null()) continue;
      if (!e[field].is_string() ||
          !ParseRFC3339(e[field].get<std::string>(), dst)) {
        return bad(absl::StrCat(field, " is not an RFC 3339 time"));
      }
    }
    if (e.contains("generatorURL") && e["generatorURL"].is_string()) {
      a.generator_url = e["generatorURL"].get<std::string>();
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace vigil::alerting::notifier
