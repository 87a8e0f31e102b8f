#include "alerting/notifier/dispatcher.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "alerting/notifier/alerts_file.h"
#include "net/url.h"

namespace vigil::alerting::notifier {

struct Dispatcher::Group {
  const Route* route = nullptr;
  tsdb::Labels labels;
  std::string key;
  absl::flat_hash_map<uint64_t, Alert> alerts;
  int64_t next_flush_ms = 0;
  bool has_flushed = false;
};

namespace {

// Alertmanager's Alert.Merge: `b` is the newer update of `a`.
Alert Merge(const Alert& a, const Alert& b, int64_t now) {
  if (b.updated_at_ms < a.updated_at_ms) return Merge(b, a, now);
  Alert res = b;
  if (a.starts_at_ms < b.starts_at_ms) res.starts_at_ms = a.starts_at_ms;
  if (b.Resolved(now)) {
    if (a.Resolved(now) && a.ends_at_ms > b.ends_at_ms) {
      res.ends_at_ms = a.ends_at_ms;
    }
  } else if (a.ends_at_ms > b.ends_at_ms && !a.Resolved(now)) {
    res.ends_at_ms = a.ends_at_ms;
  }
  return res;
}

}  // namespace

std::string DefaultSlackTitle(const TemplateData& d) {
  int firing = 0;
  for (const TemplateAlert& a : d.alerts) firing += a.status == "firing";
  std::string out = absl::StrCat("[", absl::AsciiStrToUpper(d.status));
  if (d.status == "firing") absl::StrAppend(&out, ":", firing);
  out += "] ";
  std::vector<std::string> vals;
  for (const tsdb::Label& l : d.group_labels) vals.push_back(l.value);
  absl::StrAppend(&out, absl::StrJoin(vals, " "), " ");
  if (d.common_labels.size() > d.group_labels.size()) {
    std::vector<std::string> rest;
    for (const tsdb::Label& l : d.common_labels) {
      if (!d.group_labels.Has(l.name)) rest.push_back(l.value);
    }
    absl::StrAppend(&out, "(", absl::StrJoin(rest, " "), ")");
  }
  return out;
}

absl::StatusOr<std::string> SlackJSON(const SlackConfig& c,
                                      const TemplateData& d) {
  TemplateValue data = ToTemplateValue(d);
  auto render = [&](const std::shared_ptr<const Template>& t,
                    const std::string& def) -> absl::StatusOr<std::string> {
    if (t == nullptr) return def;
    return t->Execute(data);
  };
  std::string default_title = DefaultSlackTitle(d);
  std::string default_link = absl::StrCat(
      d.external_url, "/#/alerts?receiver=", net::QueryEscape(d.receiver));
  struct Field {
    const char* name;
    const std::shared_ptr<const Template>* t;
    std::string def;
    std::string value;
  };
  Field top[] = {{"channel", &c.channel, "", ""},
                 {"username", &c.username, "Alertmanager", ""},
                 {"icon_emoji", &c.icon_emoji, "", ""},
                 {"icon_url", &c.icon_url, "", ""}};
  Field att[] = {
      {"title", &c.title, default_title, ""},
      {"title_link", &c.title_link, default_link, ""},
      {"pretext", &c.pretext, "", ""},
      {"text", &c.text, "", ""},
      {"fallback", &c.fallback, default_title + " | " + default_link, ""},
      {"footer", &c.footer, "", ""},
      {"color", &c.color, d.status == "firing" ? "danger" : "good", ""}};
  for (Field* f : {top, top + 1, top + 2, top + 3}) {
    absl::StatusOr<std::string> v = render(*f->t, f->def);
    if (!v.ok()) return v.status();
    f->value = *v;
  }
  for (Field& f : att) {
    absl::StatusOr<std::string> v = render(*f.t, f.def);
    if (!v.ok()) return v.status();
    f.value = *v;
  }
  std::string out = "{";
  bool first = true;
  for (const Field& f : top) {
    if (f.value.empty()) continue;
    if (!first) out += ',';
    first = false;
    absl::StrAppend(&out, GoJSONString(f.name), ":", GoJSONString(f.value));
  }
  if (!first) out += ',';
  out += "\"attachments\":[{";
  first = true;
  for (const Field& f : att) {
    if (f.value.empty()) continue;
    if (!first) out += ',';
    first = false;
    absl::StrAppend(&out, GoJSONString(f.name), ":", GoJSONString(f.value));
  }
  if (!first) out += ',';
  out += "\"mrkdwn_in\":[\"fallback\",\"pretext\",\"text\"]}]}\n";
  return out;
}

Dispatcher::Dispatcher(AlertmanagerConfig config, DispatcherOptions options)
    : options_(std::move(options)),
      config_(std::move(config)),
      nflog_(options_.nflog_file, options_.nflog_retention_ms) {}

absl::Status Dispatcher::LoadNotificationLog() {
  absl::MutexLock l(&mu_);
  return nflog_.Load(options_.clock->NowMs());
}

absl::Status Dispatcher::LoadAlerts() {
  if (options_.alerts_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<Alert>> loaded =
      LoadAlertsFile(options_.alerts_file);
  if (!loaded.ok()) return loaded.status();
  absl::MutexLock l(&mu_);
  const int64_t now = options_.clock->NowMs();
  for (Alert& a : *loaded) {
    // A zero range cannot come from Add; treat it as already resolved.
    if (a.ends_at_ms == 0) a.ends_at_ms = a.starts_at_ms;
    uint64_t fp = Fingerprint(a.labels);
    if (alerts_.contains(fp)) continue;
    ++stats_.alerts_restored;
    // Resolved ones too: their group's first flush tells receivers that
    // heard they fired (the notification log knows) that they resolved.
    RouteLocked(a, now);
    alerts_.emplace(fp, std::move(a));
  }
  return absl::OkStatus();
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::ApplyConfig(AlertmanagerConfig config) {
  absl::MutexLock l(&mu_);
  config_ = std::move(config);
  groups_.clear();
  int64_t now = options_.clock->NowMs();
  for (const auto& [fp, a] : alerts_) {
    if (!a.Resolved(now)) RouteLocked(a, now);
  }
}

void Dispatcher::Add(const std::vector<Alert>& alerts) {
  absl::MutexLock l(&mu_);
  int64_t now = options_.clock->NowMs();
  for (Alert a : alerts) {
    ++stats_.alerts_received;
    a.updated_at_ms = now;
    if (a.starts_at_ms == 0) {
      a.starts_at_ms = a.ends_at_ms != 0 ? a.ends_at_ms : now;
    }
    if (a.ends_at_ms == 0) a.ends_at_ms = now + config_.resolve_timeout_ms;
    uint64_t fp = Fingerprint(a.labels);
    auto it = alerts_.find(fp);
    if (it != alerts_.end()) {
      // Merge only when the activity ranges overlap; otherwise this is a
      // new occurrence that replaces the old one.
      const Alert& old = it->second;
      if ((a.ends_at_ms > old.starts_at_ms && a.ends_at_ms < old.ends_at_ms) ||
          (a.starts_at_ms > old.starts_at_ms &&
           a.starts_at_ms < old.ends_at_ms)) {
        a = Merge(old, a, now);
      }
    }
    alerts_[fp] = a;
    alerts_changed_ = true;
    RouteLocked(a, now);
  }
}

void Dispatcher::RouteLocked(const Alert& a, int64_t now) {
  for (const Route* r : config_.route.Match(a.labels)) {
    tsdb::LabelsBuilder b;
    if (r->group_by_all) {
      b.Reset(a.labels);
    } else {
      for (const std::string& name : r->group_by) {
        b.Set(name, a.labels.Get(name));
      }
    }
    tsdb::Labels gl = b.Build();
    std::string key = absl::StrCat(r->key, ":", LabelSetString(gl));
    // Two routes may share a key (identical matchers); include the receiver
    // in the map key so they still aggregate separately.
    std::string map_key = absl::StrCat(key, "\x01", r->receiver);
    auto it = groups_.find(map_key);
    if (it == groups_.end()) {
      auto g = std::make_unique<Group>();
      g->route = r;
      g->labels = gl;
      g->key = key;
      g->next_flush_ms = now + r->group_wait_ms;
      it = groups_.emplace(map_key, std::move(g)).first;
    }
    Group& g = *it->second;
    uint64_t fp = Fingerprint(a.labels);
    g.alerts[fp] = a;
    // An alert older than group_wait is notified right away.
    if (!g.has_flushed && a.starts_at_ms + r->group_wait_ms < now) {
      g.next_flush_ms = now;
    }
  }
}

bool Dispatcher::InhibitedLocked(const tsdb::Labels& labels, int64_t now,
                                 uint64_t* by) const {
  for (const InhibitRule& r : config_.inhibit_rules) {
    auto matches = [](const std::vector<tsdb::Matcher>& ms,
                      const tsdb::Labels& l) {
      for (const tsdb::Matcher& m : ms) {
        if (!m.Matches(l.Get(m.name()))) return false;
      }
      return true;
    };
    if (!matches(r.target, labels)) continue;
    bool self_is_source = matches(r.source, labels);
    for (const auto& [fp, src] : alerts_) {
      if (src.Resolved(now) || !matches(r.source, src.labels)) continue;
      bool equal = true;
      for (const std::string& e : r.equal) {
        if (src.labels.Get(e) != labels.Get(e)) {
          equal = false;
          break;
        }
      }
      if (!equal) continue;
      // An alert matching both sides cannot inhibit another such alert.
      if (self_is_source && matches(r.target, src.labels)) continue;
      if (by != nullptr) *by = fp;
      return true;
    }
  }
  return false;
}

bool Dispatcher::Inhibited(const tsdb::Labels& labels) const {
  absl::MutexLock l(&mu_);
  return InhibitedLocked(labels, options_.clock->NowMs());
}

Dispatcher::AlertStatus Dispatcher::Status(const tsdb::Labels& labels) const {
  absl::MutexLock l(&mu_);
  AlertStatus st;
  for (const Route* r : config_.route.Match(labels)) {
    if (std::find(st.receivers.begin(), st.receivers.end(), r->receiver) ==
        st.receivers.end()) {
      st.receivers.push_back(r->receiver);
    }
  }
  uint64_t by = 0;
  if (InhibitedLocked(labels, options_.clock->NowMs(), &by)) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(by));
    st.inhibited_by = buf;
  }
  return st;
}

void Dispatcher::FlushLocked(Group* g, int64_t now,
                             std::vector<Notification>* out) {
  if (g->alerts.empty()) return;
  std::vector<Alert> all;
  for (auto& [fp, a] : g->alerts) {
    Alert copy = a;
    if (!copy.Resolved(now)) copy.ends_at_ms = 0;  // not resolving later
    all.push_back(std::move(copy));
  }
  std::stable_sort(all.begin(), all.end(), AlertLess);
  // Mute stages: inhibition, then silences.
  std::vector<Alert> alerts;
  for (Alert& a : all) {
    if (InhibitedLocked(a.labels, now)) {
      ++stats_.alerts_inhibited;
      continue;
    }
    if (options_.silences != nullptr && options_.silences->Mutes(a.labels)) {
      ++stats_.alerts_silenced;
      continue;
    }
    alerts.push_back(a);
  }
  const Receiver* recv = config_.FindReceiver(g->route->receiver);
  if (!alerts.empty() && recv != nullptr) {
    absl::flat_hash_set<uint64_t> firing, resolved;
    for (const Alert& a : alerts) {
      (a.Resolved(now) ? resolved : firing).insert(Fingerprint(a.labels));
    }
    auto integrate = [&](const char* kind, int idx, bool send_resolved,
                         auto make) {
      std::string log_key =
          absl::StrCat(g->key, "\x01", recv->name, "\x01", kind, idx);
      const NotificationLog::Entry* e = nflog_.Find(log_key);
      bool needs;
      if (e == nullptr) {
        needs = !firing.empty();
      } else {
        bool firing_subset = true;
        for (uint64_t f : firing) {
          if (!e->firing.contains(f)) firing_subset = false;
        }
        bool resolved_subset = true;
        for (uint64_t r : resolved) {
          if (!e->resolved.contains(r)) resolved_subset = false;
        }
        if (!firing_subset) {
          needs = true;
        } else if (firing.empty()) {
          needs = !e->firing.empty();
        } else if (send_resolved && !resolved_subset) {
          needs = true;
        } else {
          needs = e->timestamp_ms < now - g->route->repeat_interval_ms;
        }
      }
      if (!needs) return;
      std::vector<Alert> to_send;
      for (const Alert& a : alerts) {
        if (send_resolved || !a.Resolved(now)) to_send.push_back(a);
      }
      if (!to_send.empty()) {
        Notification n = make(to_send);
        n.receiver = recv->name;
        n.integration = kind;
        n.index = idx;
        n.group_key = g->key;
        for (const Alert& a : to_send) {
          (a.Resolved(now) ? n.num_resolved : n.num_firing) += 1;
        }
        out->push_back(std::move(n));
        ++stats_.notifications;
      }
      // Logged even when nothing was sent (only resolved alerts and
      // send_resolved false), so the next flush compares against it.
      nflog_.Put(log_key, {firing, resolved, now});
    };
    for (size_t i = 0; i < recv->webhooks.size(); ++i) {
      const WebhookConfig& w = recv->webhooks[i];
      integrate("webhook", static_cast<int>(i), w.send_resolved,
                [&](std::vector<Alert> send) {
                  uint64_t truncated = 0;
                  if (w.max_alerts > 0 && send.size() > w.max_alerts) {
                    truncated = send.size() - w.max_alerts;
                    send.resize(w.max_alerts);
                  }
                  TemplateData d = BuildTemplateData(
                      recv->name, g->labels, send, options_.external_url, now);
                  Notification n;
                  n.url = w.url;
                  n.http = w.http;
                  n.body = WebhookJSON(d, g->key, truncated);
                  return n;
                });
    }
    for (size_t i = 0; i < recv->slacks.size(); ++i) {
      const SlackConfig& s = recv->slacks[i];
      integrate("slack", static_cast<int>(i), s.send_resolved,
                [&](std::vector<Alert> send) {
                  TemplateData d = BuildTemplateData(
                      recv->name, g->labels, send, options_.external_url, now);
                  Notification n;
                  n.url = s.api_url;
                  n.http = s.http;
                  absl::StatusOr<std::string> body = SlackJSON(s, d);
                  // A template that fails at runtime still notifies, with
                  // the error visible in the message.
                  n.body = body.ok()
                               ? *body
                               : absl::StrCat("{\"text\":",
                                              GoJSONString(std::string(
                                                  body.status().message())),
                                              "}\n");
                  return n;
                });
    }
  }
  // Resolved alerts leave the group once notified (or muted: Alertmanager
  // treats a fully muted flush as successful too).
  for (auto it = g->alerts.begin(); it != g->alerts.end();) {
    if (it->second.Resolved(now)) {
      g->alerts.erase(it++);
    } else {
      ++it;
    }
  }
}

void Dispatcher::Tick() {
  std::vector<Notification> out;
  {
    absl::MutexLock l(&mu_);
    int64_t now = options_.clock->NowMs();
    for (auto it = groups_.begin(); it != groups_.end();) {
      Group& g = *it->second;
      if (now >= g.next_flush_ms) {
        // Keep the group's cadence even when ticks are late.
        g.next_flush_ms += g.route->group_interval_ms;
        if (g.next_flush_ms <= now) {
          g.next_flush_ms = now + g.route->group_interval_ms;
        }
        g.has_flushed = true;
        FlushLocked(&g, now, &out);
      }
      if (g.alerts.empty()) {
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
    // Written before the notifications go out (as the log is updated when a
    // notification is handed over): a crash in between loses a notification
    // rather than repeating one.
    if (absl::Status st = nflog_.SaveIfChanged(now); !st.ok()) {
      ++stats_.nflog_save_failures;
      std::fprintf(stderr, "notifier: %s\n", std::string(st.message()).c_str());
    }
    // Forget resolved alerts no group holds any more.
    for (auto it = alerts_.begin(); it != alerts_.end();) {
      if (it->second.Resolved(now) &&
          now - it->second.ends_at_ms > config_.resolve_timeout_ms) {
        alerts_.erase(it++);
        alerts_changed_ = true;
      } else {
        ++it;
      }
    }
    if (alerts_changed_ && !options_.alerts_file.empty()) {
      std::vector<Alert> all;
      all.reserve(alerts_.size());
      for (const auto& [fp, a] : alerts_) all.push_back(a);
      std::sort(all.begin(), all.end(), AlertLess);
      if (absl::Status st = SaveAlertsFile(options_.alerts_file, all);
          !st.ok()) {
        ++stats_.alerts_save_failures;
        std::fprintf(stderr, "notifier: %s\n",
                     std::string(st.message()).c_str());
      } else {
        alerts_changed_ = false;
      }
    }
  }
  if (options_.deliver) {
    for (const Notification& n : out) options_.deliver(n);
  }
}

void Dispatcher::Start() {
  {
    absl::MutexLock l(&run_mu_);
    if (thread_.joinable()) return;
    stop_ = false;
  }
  thread_ = std::thread([this] {
    while (true) {
      Tick();
      absl::MutexLock l(&run_mu_);
      auto stopped = [this]()
                         ABSL_SHARED_LOCKS_REQUIRED(run_mu_) { return stop_; };
      // Group timers have 1s granularity in practice; a 200ms tick keeps
      // latency low at negligible cost.
      run_mu_.AwaitWithTimeout(absl::Condition(&stopped),
                               absl::Milliseconds(200));
      if (stop_) return;
    }
  });
}

void Dispatcher::Stop() {
  {
    absl::MutexLock l(&run_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<Alert> Dispatcher::Alerts() const {
  absl::MutexLock l(&mu_);
  std::vector<Alert> out;
  for (const auto& [fp, a] : alerts_) out.push_back(a);
  std::sort(out.begin(), out.end(), AlertLess);
  return out;
}

DispatcherStats Dispatcher::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

std::vector<std::string> Dispatcher::GroupKeys() const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const auto& [k, g] : groups_) out.push_back(g->key);
  return out;
}

}  // namespace vigil::alerting::notifier
