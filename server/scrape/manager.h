// ScrapeManager turns scrape configs plus discovered target groups into
// running scrape loops, one per target, grouped in scrape pools (one pool
// per job), and reports what it is doing for /api/v1/targets and /metrics.
//
//   ScrapeManager sm(db);
//   sm.ApplyConfig(*config);
//   DiscoveryManager dm([&](const std::string& job,
//                           std::vector<discovery::TargetGroup> groups) {
//     sm.Sync(job, groups);
//   });
//   ...
//   for (const TargetInfo& t : sm.ActiveTargets()) Render(t);
//
// Reload semantics (as Prometheus): a target whose job config and final
// labels are unchanged keeps its loop running, so no scrape is missed and
// no series is cut; a target whose job config changed gets a new loop
// without staleness markers; a target that disappears (removed job, no
// longer discovered, now dropped by relabeling) is stopped and all its
// series get staleness markers.
//
// Thread-safe.
#ifndef VIGIL_SERVER_SCRAPE_MANAGER_H_
#define VIGIL_SERVER_SCRAPE_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/http_client.h"
#include "server/config/config.h"
#include "server/discovery/target_group.h"
#include "server/scrape/scrape_loop.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"

namespace vigil::scrape {

// A target after Prometheus's label population and relabeling.
struct PopulatedTarget {
  // Labels before relabeling: target + group labels + job, __address__,
  // __scheme__, __metrics_path__, __scrape_interval__, __scrape_timeout__,
  // __param_<name> defaults. Shown as "discoveredLabels".
  tsdb::Labels discovered_labels;
  // After relabeling, with port defaulted and instance set; still carries
  // the `__` labels. Empty when dropped.
  tsdb::Labels relabeled;
  // `relabeled` without labels starting with "__": attached to samples.
  tsdb::Labels labels;
  std::string url;
  absl::Duration interval;
  absl::Duration timeout;
  bool dropped = false;
};

// Prometheus's PopulateLabels for one target of a group. InvalidArgument
// naming the target for a missing/invalid address, bad interval/timeout
// labels or timeout > interval.
absl::StatusOr<PopulatedTarget> PopulateTarget(
    const config::ScrapeConfig& cfg, const tsdb::Labels& target,
    const tsdb::Labels& group_labels);

// The scrape URL: scheme://address/path?params, params from the config
// overridden by __param_<name> labels.
std::string TargetUrl(const tsdb::Labels& relabeled,
                      const config::ScrapeConfig& cfg);

// Loop options from a scrape config (metric relabeling wired to
// config::Relabel).
ScrapeOptions OptionsFromConfig(const config::ScrapeConfig& cfg);

// Authorization header for the config's basic_auth / authorization /
// bearer_token(_file). Files are read now; errors name the file.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> AuthHeaders(
    const config::HttpClientConfig& cfg);

struct TargetInfo {
  std::string scrape_pool;
  std::string scrape_url;
  tsdb::Labels discovered_labels;
  tsdb::Labels labels;
  absl::Duration interval;
  absl::Duration timeout;
  ScrapeStatus status;
  // The target's metric metadata (ScrapeLoop::metadata()); never null.
  std::shared_ptr<const std::vector<MetricMetadata>> metadata;
};

struct DroppedTargetInfo {
  std::string scrape_pool;
  tsdb::Labels discovered_labels;
};

// Totals for /metrics (Prometheus's names in comments).
struct ScrapeManagerStats {
  uint64_t active_targets = 0;
  uint64_t dropped_targets = 0;
  uint64_t scrapes = 0;  // prometheus_target_scrapes_total-ish
  uint64_t failed_scrapes = 0;
  uint64_t sample_limit_exceeded = 0;  // ..._exceeded_sample_limit_total
  uint64_t out_of_order = 0;           // ..._sample_out_of_order_total
  uint64_t duplicate = 0;              // ..._sample_duplicate_timestamp_total
  uint64_t out_of_bounds = 0;          // ..._sample_out_of_bounds_total
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t reloads = 0;
  uint64_t target_errors = 0;  // targets that failed label population
};

class ScrapeManager {
 public:
  // `db` must outlive the manager.
  explicit ScrapeManager(tsdb::Appendable* db);
  ~ScrapeManager();  // Stop()

  ScrapeManager(const ScrapeManager&) = delete;
  ScrapeManager& operator=(const ScrapeManager&) = delete;

  // Installs the scrape configs (see the reload semantics above). Fails,
  // changing nothing, when a job's auth files cannot be read.
  absl::Status ApplyConfig(const config::Config& cfg);
  // Replaces the target groups of `job`. Groups for a job not (yet) in the
  // config are kept until it appears.
  void Sync(const std::string& job,
            const std::vector<discovery::TargetGroup>& groups);
  // Stops every loop with staleness markers. Idempotent.
  void Stop();

  // Sorted by pool, then labels.
  std::vector<TargetInfo> ActiveTargets() const;
  std::vector<DroppedTargetInfo> DroppedTargets() const;
  // Errors from label population, per pool (e.g. "no address").
  std::map<std::string, std::vector<std::string>> TargetErrors() const;
  ScrapeManagerStats Stats() const;

 private:
  struct Target {
    PopulatedTarget populated;
    std::unique_ptr<ScrapeLoop> loop;
  };
  struct Pool {
    config::ScrapeConfig cfg;
    std::string fingerprint;
    std::vector<std::pair<std::string, std::string>> headers;
    // The job's client (tls_config), shared by its loops.
    std::shared_ptr<net::HttpClient> client;
    // Keyed by final labels + URL, so duplicates collapse.
    std::map<std::string, Target> targets;
    std::vector<DroppedTargetInfo> dropped;
    std::vector<std::string> errors;
    // More targets than cfg.target_limit (then every loop fails with the
    // limit's error), and the target count it was decided on.
    bool target_limit_hit = false;
    size_t target_count = 0;
  };

  // Rebuilds `pool`'s targets from its groups: keeps loops of unchanged
  // targets (unless `config_changed`, then they are replaced without
  // staleness markers), starts new ones, stops vanished ones with markers.
  void SyncPool(const std::string& job, Pool* pool, bool config_changed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::unique_ptr<ScrapeLoop> NewLoop(const Pool& pool,
                                      const PopulatedTarget& t);
  // Stops `loop` and folds its counters into the retired totals.
  void Retire(std::unique_ptr<ScrapeLoop> loop, bool stale);

  tsdb::Appendable* const db_;
  mutable absl::Mutex mu_;
  std::map<std::string, Pool> pools_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<discovery::TargetGroup>> groups_
      ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t reloads_ ABSL_GUARDED_BY(mu_) = 0;
  // Counters of loops already stopped, so totals never go down.
  mutable absl::Mutex retired_mu_;
  ScrapeManagerStats retired_ ABSL_GUARDED_BY(retired_mu_);
};

}  // namespace vigil::scrape

#endif  // VIGIL_SERVER_SCRAPE_MANAGER_H_
