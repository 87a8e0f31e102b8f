#include "alerting/notifier/forwarder.h"

#include <cstdio>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vigil::alerting::notifier {
namespace {

// strfmt.DateTime as go-openapi writes it: always milliseconds.
std::string DateTime(int64_t ms) {
  int64_t secs = ms / 1000;
  int frac = static_cast<int>(ms % 1000);
  time_t tt = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, frac);
  return buf;
}

void AppendLabels(const tsdb::Labels& l, std::string* out) {
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

std::string AlertsURL(absl::string_view base) {
  while (absl::EndsWith(base, "/")) base.remove_suffix(1);
  return absl::StrCat(base, "/api/v2/alerts");
}

Forwarder::Forwarder(ForwarderOptions options, DeliveryQueue* queue)
    : options_(std::move(options)), queue_(queue) {}

std::string Forwarder::AlertsJSON(const std::vector<Alert>& alerts) {
  std::string out = "[";
  for (size_t i = 0; i < alerts.size(); ++i) {
    const Alert& a = alerts[i];
    if (i > 0) out += ',';
    out += "{\"annotations\":";
    AppendLabels(a.annotations, &out);
    if (a.ends_at_ms != 0) {
      absl::StrAppend(&out, ",\"endsAt\":\"", DateTime(a.ends_at_ms), "\"");
    }
    if (a.starts_at_ms != 0) {
      absl::StrAppend(&out, ",\"startsAt\":\"", DateTime(a.starts_at_ms), "\"");
    }
    absl::StrAppend(&out, ",\"generatorURL\":", GoJSONString(a.generator_url),
                    ",\"labels\":");
    AppendLabels(a.labels, &out);
    out += '}';
  }
  return out + "]";
}

int Forwarder::Send(const std::vector<Alert>& alerts) {
  if (alerts.empty()) return 0;
  std::vector<Alert> labelled = alerts;
  if (!options_.external_labels.empty()) {
    for (Alert& a : labelled) {
      tsdb::LabelsBuilder b(a.labels);
      for (const auto& [k, v] : options_.external_labels) {
        if (!a.labels.Has(k)) b.Set(k, v);
      }
      a.labels = b.Build();
    }
  }
  int n = 0;
  for (size_t start = 0; start < labelled.size(); start += options_.max_batch) {
    size_t end = std::min(labelled.size(), start + options_.max_batch);
    std::string body = AlertsJSON(
        std::vector<Alert>(labelled.begin() + start, labelled.begin() + end));
    for (const std::string& url : options_.alertmanagers) {
      HttpRequest req;
      req.url = url;
      if (auto e = options_.endpoints.find(url);
          e != options_.endpoints.end()) {
        req.client = e->second.client;
        req.timeout = e->second.timeout;
      }
      req.body = body;
      if (queue_->Enqueue(std::move(req))) ++n;
    }
  }
  return n;
}

}  // namespace vigil::alerting::notifier
