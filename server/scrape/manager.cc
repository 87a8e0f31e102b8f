#include "server/scrape/manager.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/url.h"
#include "server/config/client_options.h"
#include "server/config/relabel.h"

namespace vigil::scrape {
namespace {

constexpr absl::string_view kParamPrefix = "__param_";
constexpr absl::string_view kMetaPrefix = "__meta_";

bool HasPort(absl::string_view addr) {
  if (!addr.empty() && addr[0] == '[') {
    return absl::StrContains(addr, "]:");
  }
  size_t colon = addr.rfind(':');
  if (colon == absl::string_view::npos) return false;
  if (addr.find(':') != colon) return false;  // bare IPv6
  return colon + 1 < addr.size();
}

std::string AddPort(absl::string_view addr, absl::string_view scheme) {
  if (HasPort(addr)) return std::string(addr);
  absl::string_view port = scheme == "https" ? "443" : "80";
  if (absl::StrContains(addr, ':') && addr[0] != '[') {
    return absl::StrCat("[", addr, "]:", port);
  }
  return absl::StrCat(addr, ":", port);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("unable to read secret file \"", path, "\""));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

void AppendRelabel(std::string* out,
                   const std::vector<config::RelabelConfig>& cs) {
  for (const config::RelabelConfig& c : cs) {
    absl::StrAppend(out, "[", absl::StrJoin(c.source_labels, ","), "|",
                    c.separator, "|", c.regex_source, "|", c.modulus, "|",
                    c.target_label, "|", c.replacement, "|",
                    config::RelabelActionName(c.action), "]");
  }
}

// Everything in a scrape config that affects its loops. Two configs with
// the same fingerprint scrape identically.
std::string Fingerprint(const config::ScrapeConfig& c) {
  std::string f = absl::StrCat(
      c.job_name, "\n", absl::FormatDuration(c.scrape_interval), "\n",
      absl::FormatDuration(c.scrape_timeout), "\n", c.metrics_path, "\n",
      c.scheme, "\n", c.honor_labels, c.honor_timestamps, "\n", c.sample_limit,
      ",", c.target_limit, ",", c.label_limit, ",", c.label_name_length_limit,
      ",", c.label_value_length_limit, ",", c.body_size_limit, "\n",
      absl::StrJoin(c.scrape_protocols, ","), "\n");
  for (const auto& [k, vs] : c.params) {
    absl::StrAppend(&f, k, "=", absl::StrJoin(vs, ","), "&");
  }
  if (c.basic_auth) {
    absl::StrAppend(&f, "\nba:", c.basic_auth->username, ":",
                    c.basic_auth->password, ":", c.basic_auth->password_file);
  }
  if (c.authorization) {
    absl::StrAppend(&f, "\nauthz:", c.authorization->type, ":",
                    c.authorization->credentials, ":",
                    c.authorization->credentials_file);
  }
  absl::StrAppend(&f, "\nbt:", c.bearer_token, ":", c.bearer_token_file);
  if (c.oauth2) {
    const config::OAuth2& o = *c.oauth2;
    absl::StrAppend(&f, "\noauth2:", o.client_id, ":", o.client_secret, ":",
                    o.client_secret_file, ":", absl::StrJoin(o.scopes, ","),
                    ":", o.token_url, ":", o.proxy_url, ":",
                    o.tls_config.ca_file, ":", o.tls_config.cert_file, ":",
                    o.tls_config.key_file, ":", o.tls_config.server_name, ":",
                    o.tls_config.insecure_skip_verify, ":",
                    o.tls_config.min_version);
    for (const auto& [k, v] : o.endpoint_params) {
      absl::StrAppend(&f, ":", k, "=", v);
    }
  }
  const config::TlsConfig& t = c.tls_config;
  absl::StrAppend(&f, "\ntls:", t.ca_file, ":", t.cert_file, ":", t.key_file,
                  ":", t.server_name, ":", t.insecure_skip_verify, ":",
                  t.min_version, "\nproxy:", c.proxy_url,
                  "\nredirects:", c.follow_redirects, "\nrl:");
  AppendRelabel(&f, c.relabel_configs);
  absl::StrAppend(&f, "\nmrl:");
  AppendRelabel(&f, c.metric_relabel_configs);
  return f;
}

// Stands in for a target's scraper while its pool has more targets than
// target_limit: every scrape fails with the limit's error without a
// request, so the target reports up 0 and its series go stale, as in
// Prometheus.
class ForcedErrorScraper : public Scraper {
 public:
  explicit ForcedErrorScraper(absl::Status error) : error_(std::move(error)) {}
  absl::Status Scrape(absl::Duration, ScrapeBody*) override { return error_; }

 private:
  const absl::Status error_;
};

}  // namespace

std::string TargetUrl(const tsdb::Labels& relabeled,
                      const config::ScrapeConfig& cfg) {
  std::map<std::string, std::vector<std::string>> params = cfg.params;
  for (const tsdb::Label& l : relabeled) {
    if (absl::StartsWith(l.name, kParamPrefix)) {
      params[l.name.substr(kParamPrefix.size())] = {l.value};
    }
  }
  absl::string_view scheme = relabeled.Get("__scheme__");
  if (scheme.empty()) scheme = cfg.scheme;
  absl::string_view path = relabeled.Get("__metrics_path__");
  if (path.empty()) path = cfg.metrics_path;
  std::string url =
      absl::StrCat(scheme, "://", relabeled.Get(discovery::kAddressLabel));
  if (path.empty() || path[0] != '/') url.push_back('/');
  absl::StrAppend(&url, path);
  bool first = true;
  for (const auto& [k, vs] : params) {  // std::map: sorted, as Go encodes
    for (const std::string& v : vs) {
      absl::StrAppend(&url, first ? "?" : "&", net::QueryEscape(k), "=",
                      net::QueryEscape(v));
      first = false;
    }
  }
  return url;
}

absl::StatusOr<PopulatedTarget> PopulateTarget(
    const config::ScrapeConfig& cfg, const tsdb::Labels& target,
    const tsdb::Labels& group_labels) {
  PopulatedTarget out;
  tsdb::LabelsBuilder lb(target);
  for (const tsdb::Label& l : group_labels) {
    if (!target.Has(l.name)) lb.Set(l.name, l.value);
  }
  auto set_default = [&lb](absl::string_view name, absl::string_view value) {
    if (lb.Get(name).empty()) lb.Set(name, value);
  };
  set_default("job", cfg.job_name);
  set_default("__scrape_interval__",
              config::FormatPromDuration(cfg.scrape_interval));
  set_default("__scrape_timeout__",
              config::FormatPromDuration(cfg.scrape_timeout));
  set_default("__metrics_path__", cfg.metrics_path);
  set_default("__scheme__", cfg.scheme);
  for (const auto& [name, values] : cfg.params) {
    if (!values.empty())
      set_default(absl::StrCat(kParamPrefix, name), values[0]);
  }
  out.discovered_labels = lb.Build();

  if (!config::Relabel(cfg.relabel_configs, &lb)) {
    out.dropped = true;
    return out;
  }
  tsdb::Labels relabeled = lb.Build();
  if (relabeled.empty()) {
    out.dropped = true;
    return out;
  }
  absl::string_view addr = relabeled.Get(discovery::kAddressLabel);
  if (addr.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no address in target ", out.discovered_labels.ToString()));
  }
  if (absl::StrContains(addr, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", addr, "\" is not a valid hostname"));
  }
  std::string full_addr = AddPort(addr, relabeled.Get("__scheme__"));
  lb.Set(discovery::kAddressLabel, full_addr);

  absl::StatusOr<absl::Duration> interval =
      config::ParsePromDuration(relabeled.Get("__scrape_interval__"));
  if (!interval.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "error parsing scrape interval: ", interval.status().message()));
  }
  absl::StatusOr<absl::Duration> timeout =
      config::ParsePromDuration(relabeled.Get("__scrape_timeout__"));
  if (!timeout.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "error parsing scrape timeout: ", timeout.status().message()));
  }
  if (*interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("scrape interval cannot be 0");
  }
  if (*timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("scrape timeout cannot be 0");
  }
  if (*timeout > *interval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scrape timeout cannot be greater than scrape interval (\"",
        config::FormatPromDuration(*timeout), "\" > \"",
        config::FormatPromDuration(*interval), "\")"));
  }
  out.interval = *interval;
  out.timeout = *timeout;

  for (const tsdb::Label& l : relabeled) {
    if (absl::StartsWith(l.name, kMetaPrefix)) lb.Del(l.name);
  }
  if (lb.Get("instance").empty()) lb.Set("instance", full_addr);
  out.relabeled = lb.Build();
  out.url = TargetUrl(out.relabeled, cfg);

  std::vector<tsdb::Label> public_labels;
  for (const tsdb::Label& l : out.relabeled) {
    if (!absl::StartsWith(l.name, "__")) public_labels.push_back(l);
  }
  out.labels = tsdb::Labels::FromSortedUnchecked(std::move(public_labels));
  return out;
}

ScrapeOptions OptionsFromConfig(const config::ScrapeConfig& cfg) {
  ScrapeOptions o;
  o.interval = cfg.scrape_interval;
  o.timeout = cfg.scrape_timeout;
  o.honor_labels = cfg.honor_labels;
  o.honor_timestamps = cfg.honor_timestamps;
  o.sample_limit = cfg.sample_limit;
  o.label_limit = cfg.label_limit;
  o.label_name_length_limit = cfg.label_name_length_limit;
  o.label_value_length_limit = cfg.label_value_length_limit;
  o.body_size_limit = cfg.body_size_limit;
  if (!cfg.metric_relabel_configs.empty()) {
    auto configs = std::make_shared<const std::vector<config::RelabelConfig>>(
        cfg.metric_relabel_configs);
    o.metric_relabel = [configs](tsdb::LabelsBuilder* lb) {
      return config::Relabel(*configs, lb);
    };
  }
  return o;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> AuthHeaders(
    const config::HttpClientConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> h;
  if (cfg.basic_auth) {
    std::string password = cfg.basic_auth->password;
    if (!cfg.basic_auth->password_file.empty()) {
      absl::StatusOr<std::string> p =
          ReadSecretFile(cfg.basic_auth->password_file);
      if (!p.ok()) return p.status();
      password = *p;
    }
    h.push_back({"Authorization",
                 absl::StrCat("Basic ",
                              absl::Base64Escape(absl::StrCat(
                                  cfg.basic_auth->username, ":", password)))});
  } else if (cfg.authorization) {
    std::string cred = cfg.authorization->credentials;
    if (!cfg.authorization->credentials_file.empty()) {
      absl::StatusOr<std::string> c =
          ReadSecretFile(cfg.authorization->credentials_file);
      if (!c.ok()) return c.status();
      cred = *c;
    }
    h.push_back({"Authorization", absl::StrCat(cfg.authorization->type.empty()
                                                   ? "Bearer"
                                                   : cfg.authorization->type,
                                               " ", cred)});
  } else if (!cfg.bearer_token.empty()) {
    h.push_back({"Authorization", absl::StrCat("Bearer ", cfg.bearer_token)});
  } else if (!cfg.bearer_token_file.empty()) {
    absl::StatusOr<std::string> t = ReadSecretFile(cfg.bearer_token_file);
    if (!t.ok()) return t.status();
    h.push_back({"Authorization", absl::StrCat("Bearer ", *t)});
  }
  return h;
}

ScrapeManager::ScrapeManager(tsdb::Appendable* db) : db_(db) {}

ScrapeManager::~ScrapeManager() { Stop(); }

std::unique_ptr<ScrapeLoop> ScrapeManager::NewLoop(const Pool& pool,
                                                   const PopulatedTarget& t) {
  ScrapeOptions o = OptionsFromConfig(pool.cfg);
  o.interval = t.interval;
  o.timeout = t.timeout;
  std::unique_ptr<Scraper> scraper;
  if (pool.target_limit_hit) {
    scraper = std::make_unique<ForcedErrorScraper>(
        absl::ResourceExhaustedError(absl::StrCat(
            "target_limit exceeded (number of targets: ", pool.target_count,
            ", limit: ", pool.cfg.target_limit, ")")));
  } else {
    scraper = std::make_unique<HttpScraper>(
        t.url, AcceptHeader(pool.cfg.scrape_protocols),
        pool.cfg.body_size_limit, pool.headers, pool.client);
  }
  auto loop = std::make_unique<ScrapeLoop>(db_, std::move(scraper), t.labels,
                                           std::move(o));
  loop->Start();
  return loop;
}

void ScrapeManager::Retire(std::unique_ptr<ScrapeLoop> loop, bool stale) {
  if (loop == nullptr) return;
  loop->Stop(stale);
  const ScrapeCounters& c = loop->counters();
  absl::MutexLock l(&retired_mu_);
  retired_.scrapes += c.scrapes;
  retired_.failed_scrapes += c.failed_scrapes;
  retired_.sample_limit_exceeded += c.sample_limit_exceeded;
  retired_.out_of_order += c.out_of_order;
  retired_.duplicate += c.duplicate;
  retired_.out_of_bounds += c.out_of_bounds;
  retired_.cache_hits += c.cache_hits;
  retired_.cache_misses += c.cache_misses;
}

void ScrapeManager::SyncPool(const std::string& job, Pool* pool,
                             bool config_changed) {
  std::map<std::string, Target> next;
  pool->dropped.clear();
  pool->errors.clear();
  auto git = groups_.find(job);
  if (git != groups_.end()) {
    for (const discovery::TargetGroup& g : git->second) {
      for (const tsdb::Labels& t : g.targets) {
        absl::StatusOr<PopulatedTarget> p =
            PopulateTarget(pool->cfg, t, g.labels);
        if (!p.ok()) {
          pool->errors.push_back(std::string(p.status().message()));
          continue;
        }
        if (p->dropped) {
          pool->dropped.push_back({job, p->discovered_labels});
          continue;
        }
        std::string key = absl::StrCat(p->labels.ToString(), " ", p->url);
        next.emplace(std::move(key), Target{*std::move(p), nullptr});
      }
    }
  }
  // target_limit: over the limit every target of the job fails its
  // scrapes with the limit's error (and its series go stale) until the
  // count is back within the limit; crossing the limit either way
  // restarts the loops.
  const bool limit_hit =
      pool->cfg.target_limit > 0 && next.size() > pool->cfg.target_limit;
  bool stale_on_restart = false;
  if (limit_hit != pool->target_limit_hit ||
      (limit_hit && next.size() != pool->target_count)) {
    stale_on_restart = limit_hit && !pool->target_limit_hit;
    config_changed = true;
  }
  pool->target_limit_hit = limit_hit;
  pool->target_count = next.size();
  for (auto& [key, old] : pool->targets) {
    auto it = next.find(key);
    if (it == next.end()) {
      Retire(std::move(old.loop), /*stale=*/true);
    } else if (config_changed) {
      Retire(std::move(old.loop), /*stale=*/stale_on_restart);
    } else {
      it->second.loop = std::move(old.loop);
    }
  }
  for (auto& [key, t] : next) {
    if (t.loop == nullptr) t.loop = NewLoop(*pool, t.populated);
  }
  pool->targets = std::move(next);
}

absl::Status ScrapeManager::ApplyConfig(const config::Config& cfg) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      headers;
  for (const config::ScrapeConfig& sc : cfg.scrape_configs) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> h =
        AuthHeaders(sc);
    if (!h.ok()) {
      return absl::Status(h.status().code(),
                          absl::StrCat("scrape_configs job \"", sc.job_name,
                                       "\": ", h.status().message()));
    }
    headers[sc.job_name] = *std::move(h);
  }
  // One client per job: its TLS files are loaded (and checked) here.
  std::map<std::string, std::shared_ptr<net::HttpClient>> clients;
  for (const config::ScrapeConfig& sc : cfg.scrape_configs) {
    // TLS, auth (applied by the client, so that redirects to another
    // host do not carry it), proxy_url and follow_redirects.
    net::ClientOptions o = config::ClientOptionsFromConfig(sc);
    absl::StatusOr<std::shared_ptr<net::HttpClient>> c =
        net::HttpClient::Create(std::move(o));
    if (!c.ok()) {
      return absl::Status(c.status().code(),
                          absl::StrCat("scrape_configs job \"", sc.job_name,
                                       "\": ", c.status().message()));
    }
    clients[sc.job_name] = *std::move(c);
  }
  absl::MutexLock l(&mu_);
  if (stopped_) return absl::FailedPreconditionError("scrape manager stopped");
  ++reloads_;
  for (auto it = pools_.begin(); it != pools_.end();) {
    bool kept =
        std::any_of(cfg.scrape_configs.begin(), cfg.scrape_configs.end(),
                    [&](const config::ScrapeConfig& sc) {
                      return sc.job_name == it->first;
                    });
    if (kept) {
      ++it;
      continue;
    }
    for (auto& [key, t] : it->second.targets) {
      Retire(std::move(t.loop), /*stale=*/true);
    }
    it = pools_.erase(it);
  }
  for (const config::ScrapeConfig& sc : cfg.scrape_configs) {
    std::string fp = Fingerprint(sc);
    auto it = pools_.find(sc.job_name);
    const bool existed = it != pools_.end();
    if (existed && it->second.fingerprint == fp &&
        it->second.headers == headers[sc.job_name]) {
      continue;  // unchanged: loops keep running untouched
    }
    Pool& pool = pools_[sc.job_name];
    pool.cfg = sc;
    pool.fingerprint = std::move(fp);
    pool.headers = headers[sc.job_name];
    pool.client = clients[sc.job_name];
    SyncPool(sc.job_name, &pool, /*config_changed=*/existed);
  }
  return absl::OkStatus();
}

void ScrapeManager::Sync(const std::string& job,
                         const std::vector<discovery::TargetGroup>& groups) {
  absl::MutexLock l(&mu_);
  if (stopped_) return;
  groups_[job] = groups;
  auto it = pools_.find(job);
  if (it != pools_.end()) SyncPool(job, &it->second, /*config_changed=*/false);
}

void ScrapeManager::Stop() {
  absl::MutexLock l(&mu_);
  if (stopped_) return;
  stopped_ = true;
  for (auto& [job, pool] : pools_) {
    for (auto& [key, t] : pool.targets) {
      Retire(std::move(t.loop), /*stale=*/true);
    }
  }
  pools_.clear();
}

std::vector<TargetInfo> ScrapeManager::ActiveTargets() const {
  absl::MutexLock l(&mu_);
  std::vector<TargetInfo> out;
  for (const auto& [job, pool] : pools_) {
    std::vector<TargetInfo> pool_targets;
    for (const auto& [key, t] : pool.targets) {
      TargetInfo info;
      info.scrape_pool = job;
      info.scrape_url = t.populated.url;
      info.discovered_labels = t.populated.discovered_labels;
      info.labels = t.populated.labels;
      info.interval = t.populated.interval;
      info.timeout = t.populated.timeout;
      if (t.loop != nullptr) {
        info.status = t.loop->status();
        info.metadata = t.loop->metadata();
      } else {
        info.metadata = std::make_shared<const std::vector<MetricMetadata>>();
      }
      pool_targets.push_back(std::move(info));
    }
    std::sort(pool_targets.begin(), pool_targets.end(),
              [](const TargetInfo& a, const TargetInfo& b) {
                return a.labels < b.labels;
              });
    for (TargetInfo& t : pool_targets) out.push_back(std::move(t));
  }
  return out;
}

std::vector<DroppedTargetInfo> ScrapeManager::DroppedTargets() const {
  absl::MutexLock l(&mu_);
  std::vector<DroppedTargetInfo> out;
  for (const auto& [job, pool] : pools_) {
    out.insert(out.end(), pool.dropped.begin(), pool.dropped.end());
  }
  return out;
}

std::map<std::string, std::vector<std::string>> ScrapeManager::TargetErrors()
    const {
  absl::MutexLock l(&mu_);
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [job, pool] : pools_) {
    if (!pool.errors.empty()) out[job] = pool.errors;
  }
  return out;
}

ScrapeManagerStats ScrapeManager::Stats() const {
  ScrapeManagerStats s;
  {
    absl::MutexLock l(&retired_mu_);
    s = retired_;
  }
  absl::MutexLock l(&mu_);
  s.reloads = reloads_;
  for (const auto& [job, pool] : pools_) {
    s.dropped_targets += pool.dropped.size();
    s.target_errors += pool.errors.size();
    for (const auto& [key, t] : pool.targets) {
      ++s.active_targets;
      if (t.loop == nullptr) continue;
      const ScrapeCounters& c = t.loop->counters();
      s.scrapes += c.scrapes;
      s.failed_scrapes += c.failed_scrapes;
      s.sample_limit_exceeded += c.sample_limit_exceeded;
      s.out_of_order += c.out_of_order;
      s.duplicate += c.duplicate;
      s.out_of_bounds += c.out_of_bounds;
      s.cache_hits += c.cache_hits;
      s.cache_misses += c.cache_misses;
    }
  }
  return s;
}

}  // namespace vigil::scrape
