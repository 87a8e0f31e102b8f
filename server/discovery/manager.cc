#include "server/discovery/manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/discovery/file_sd.h"

namespace vigil::discovery {
namespace {

bool SameFileSD(const config::FileSDConfig& a, const config::FileSDConfig& b) {
  return a.files == b.files && a.refresh_interval == b.refresh_interval;
}

bool SameDnsSD(const config::DNSSDConfig& a, const config::DNSSDConfig& b) {
  return a.names == b.names && a.type == b.type && a.port == b.port &&
         a.refresh_interval == b.refresh_interval;
}

bool SameSpec(const DiscoveryJob& a, const DiscoveryJob& b) {
  return a.static_configs == b.static_configs &&
         std::equal(a.file_sd_configs.begin(), a.file_sd_configs.end(),
                    b.file_sd_configs.begin(), b.file_sd_configs.end(),
                    SameFileSD) &&
         std::equal(a.dns_sd_configs.begin(), a.dns_sd_configs.end(),
                    b.dns_sd_configs.begin(), b.dns_sd_configs.end(),
                    SameDnsSD);
}

DiscoveryJob JobFrom(std::string name,
                     const std::vector<TargetGroup>& static_configs,
                     const std::vector<config::FileSDConfig>& file_sd,
                     const std::vector<config::DNSSDConfig>& dns_sd) {
  DiscoveryJob j;
  j.name = std::move(name);
  j.static_configs = static_configs;
  j.file_sd_configs = file_sd;
  j.dns_sd_configs = dns_sd;
  return j;
}

}  // namespace

std::vector<DiscoveryJob> ScrapeDiscoveryJobs(const config::Config& cfg) {
  std::vector<DiscoveryJob> out;
  for (const config::ScrapeConfig& sc : cfg.scrape_configs) {
    out.push_back(JobFrom(sc.job_name, sc.static_configs, sc.file_sd_configs,
                          sc.dns_sd_configs));
  }
  return out;
}

std::vector<DiscoveryJob> AlertmanagerDiscoveryJobs(const config::Config& cfg) {
  std::vector<DiscoveryJob> out;
  for (size_t i = 0; i < cfg.alerting.alertmanagers.size(); ++i) {
    const config::AlertmanagerConfig& am = cfg.alerting.alertmanagers[i];
    out.push_back(JobFrom(absl::StrCat("config-", i), am.static_configs,
                          am.file_sd_configs, am.dns_sd_configs));
  }
  return out;
}

DiscoveryManager::DiscoveryManager(Callback callback, DnsResolver* resolver)
    : callback_(std::move(callback)), resolver_(resolver) {
  if (resolver_ == nullptr) {
    owned_resolver_ = NewSystemDnsResolver();
    resolver_ = owned_resolver_.get();
  }
}

DiscoveryManager::~DiscoveryManager() { Stop(); }

void DiscoveryManager::ApplyConfig(const config::Config& cfg) {
  ApplyJobs(ScrapeDiscoveryJobs(cfg));
}

void DiscoveryManager::ApplyJobs(std::vector<DiscoveryJob> jobs) {
  absl::MutexLock refresh_lock(&refresh_mu_);
  absl::MutexLock lock(&mu_);
  std::map<std::string, JobState> next;
  for (DiscoveryJob& spec : jobs) {
    auto old = jobs_.find(spec.name);
    if (old != jobs_.end() && SameSpec(old->second.spec, spec)) {
      next.emplace(spec.name, std::move(old->second));
      jobs_.erase(old);
      continue;
    }
    JobState js;
    if (!spec.static_configs.empty()) {
      js.providers.push_back(
          {std::make_unique<StaticProvider>(spec.static_configs), {}, {}, {}});
    }
    for (const config::FileSDConfig& f : spec.file_sd_configs) {
      js.providers.push_back({std::make_unique<FileSDProvider>(f), {}, {}, {}});
    }
    for (const config::DNSSDConfig& d : spec.dns_sd_configs) {
      js.providers.push_back(
          {std::make_unique<DnsSDProvider>(d, resolver_), {}, {}, {}});
    }
    for (ProviderState& p : js.providers) p.next_refresh = absl::InfinitePast();
    if (old != jobs_.end()) {
      // A changed job keeps reporting under its name: deliver only diffs.
      js.delivered = std::move(old->second.delivered);
      js.ever_delivered = old->second.ever_delivered;
      jobs_.erase(old);
    }
    std::string name = spec.name;
    js.spec = std::move(spec);
    next.emplace(std::move(name), std::move(js));
  }
  for (auto& [name, js] : jobs_) {
    if (js.ever_delivered) removed_.push_back(name);
  }
  jobs_ = std::move(next);
  wake_ = true;
}

void DiscoveryManager::RefreshNow() { RefreshDue(/*force=*/true); }

void DiscoveryManager::RefreshDue(bool force) {
  absl::MutexLock refresh_lock(&refresh_mu_);
  const absl::Time now = absl::Now();
  std::vector<std::string> removed;
  {
    absl::MutexLock lock(&mu_);
    removed.swap(removed_);
  }
  for (const std::string& job : removed) callback_(job, {});

  // jobs_ only changes under refresh_mu_, which we hold, so walking it
  // without mu_ is safe; mu_ is taken only to publish results.
  for (auto& [name, js] : jobs_) {
    for (ProviderState& p : js.providers) {
      if (!force && p.next_refresh > now) continue;
      std::vector<TargetGroup> groups = p.provider->Refresh();
      absl::MutexLock lock(&mu_);
      p.groups = std::move(groups);
      p.error = p.provider->last_error();
      p.next_refresh = absl::Now() + p.provider->refresh_interval();
    }
    std::vector<TargetGroup> all;
    for (const ProviderState& p : js.providers) {
      all.insert(all.end(), p.groups.begin(), p.groups.end());
    }
    if (js.ever_delivered && all == js.delivered) continue;
    {
      absl::MutexLock lock(&mu_);
      js.delivered = all;
      js.ever_delivered = true;
    }
    callback_(name, std::move(all));
  }
}

void DiscoveryManager::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void DiscoveryManager::Stop() {
  std::thread t;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

void DiscoveryManager::Run() {
  while (true) {
    RefreshDue(/*force=*/false);
    absl::MutexLock lock(&mu_);
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [name, js] : jobs_) {
      for (const ProviderState& p : js.providers) {
        next = std::min(next, p.next_refresh);
      }
    }
    if (!removed_.empty()) next = absl::InfinitePast();
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || wake_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&woken), next);
    if (stop_) return;
    wake_ = false;
  }
}

std::map<std::string, std::vector<TargetGroup>> DiscoveryManager::Targets()
    const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::vector<TargetGroup>> out;
  for (const auto& [name, js] : jobs_) out[name] = js.delivered;
  return out;
}

std::map<std::string, absl::Status> DiscoveryManager::Errors() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, absl::Status> out;
  for (const auto& [name, js] : jobs_) {
    for (const ProviderState& p : js.providers) {
      if (!p.error.ok()) {
        out[name] = p.error;
        break;
      }
    }
  }
  return out;
}

}  // namespace vigil::discovery
