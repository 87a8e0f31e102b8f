// DiscoveryManager runs the service-discovery providers of every job and
// tells its owner when a job's targets change.
//
//   DiscoveryManager dm([&](const std::string& job,
//                           std::vector<TargetGroup> groups) {
//     scrape_pool(job)->Sync(groups);
//   });
//   dm.ApplyConfig(*config);   // start, or reload with a new config
//   dm.Start();
//   ...
//   dm.Stop();
//
// The callback receives the complete groups of a job (all its providers,
// static configs first), is called once for every job on the first refresh
// after ApplyConfig() and then only when the groups changed, and is called
// with an empty vector when a job disappears from the config. Callbacks are
// made from the manager's thread (or the thread calling RefreshNow()), never
// concurrently, and must not call back into the manager.
//
// Thread-safe.
#ifndef VIGIL_SERVER_DISCOVERY_MANAGER_H_
#define VIGIL_SERVER_DISCOVERY_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/discovery/dns_sd.h"
#include "server/discovery/provider.h"
#include "server/discovery/target_group.h"

namespace vigil::discovery {

// The discovery part of a scrape job or an Alertmanager set.
struct DiscoveryJob {
  std::string name;
  std::vector<TargetGroup> static_configs;
  std::vector<config::FileSDConfig> file_sd_configs;
  std::vector<config::DNSSDConfig> dns_sd_configs;
};

// One job per scrape config, named by job_name.
std::vector<DiscoveryJob> ScrapeDiscoveryJobs(const config::Config& cfg);
// One job per alerting.alertmanagers entry, named "config-<index>" as in
// Prometheus.
std::vector<DiscoveryJob> AlertmanagerDiscoveryJobs(const config::Config& cfg);

class DiscoveryManager {
 public:
  using Callback =
      std::function<void(const std::string& job, std::vector<TargetGroup>)>;

  // `resolver` is used for dns_sd_configs; nullptr means the system
  // resolver. A non-null resolver must outlive the manager.
  explicit DiscoveryManager(Callback callback, DnsResolver* resolver = nullptr);
  ~DiscoveryManager();  // Stops the thread.

  DiscoveryManager(const DiscoveryManager&) = delete;
  DiscoveryManager& operator=(const DiscoveryManager&) = delete;

  // Replaces all jobs. Jobs whose discovery settings are unchanged keep
  // their providers (and their last good state); removed jobs are reported
  // with no groups. Providers of new or changed jobs refresh at once.
  void ApplyJobs(std::vector<DiscoveryJob> jobs);
  // ApplyJobs(ScrapeDiscoveryJobs(cfg)).
  void ApplyConfig(const config::Config& cfg);

  // Starts the background thread that refreshes due providers. Idempotent.
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();

  // Refreshes every provider now, on the calling thread, and delivers
  // changes. For startup (targets before the first scrape) and tests.
  void RefreshNow();

  // The current groups of every job.
  std::map<std::string, std::vector<TargetGroup>> Targets() const;
  // The last error of each job's providers (OK jobs omitted).
  std::map<std::string, absl::Status> Errors() const;

 private:
  struct ProviderState {
    std::unique_ptr<Provider> provider;
    std::vector<TargetGroup> groups;
    absl::Status error;  // copy of provider->last_error(), under mu_
    absl::Time next_refresh = absl::InfinitePast();
  };
  struct JobState {
    DiscoveryJob spec;
    std::vector<ProviderState> providers;
    std::vector<TargetGroup> delivered;  // what the callback last saw
    bool ever_delivered = false;
  };

  // Refreshes due providers (all when `force`) and delivers changes.
  void RefreshDue(bool force) ABSL_LOCKS_EXCLUDED(mu_);
  void Run();

  const Callback callback_;
  std::unique_ptr<DnsResolver> owned_resolver_;
  DnsResolver* resolver_;

  // Serialises refreshes and callbacks (held while calling providers and
  // the callback, so slow DNS never blocks Targets()).
  absl::Mutex refresh_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, JobState> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> removed_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vigil::discovery

#endif  // VIGIL_SERVER_DISCOVERY_MANAGER_H_
