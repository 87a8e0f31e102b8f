// The parts of a vigil::Monitor that an HTTP layer needs and an embedder
// does not: the store, the query engine, the alerting service (built-in
// Alertmanager, silences), the remote-write manager and the scrape manager,
// plus the options only a server sets (alertmanager.yml, silences file,
// forwarding to external Alertmanagers, a metrics registry).
//
// `vigil serve` (server/serve.cc) runs on these: it opens the Monitor with
// MonitorParts::Open, serves /api/v1/* over the parts, and applies
// prometheus.yml with MonitorParts::ApplyConfig so a reload goes through
// the same code as an embedder's ApplyConfig. Embedders should use
// monitor.h only; this header exposes internal types whose interfaces may
// change.
//
//   vigil::MonitorPartsOptions parts;
//   parts.alertmanager_config_file = "alertmanager.yml";
//   parts.registry = &registry;
//   vigil::MonitorStep failed;
//   auto m = vigil::MonitorParts::Open(options, parts, &failed);
//   tsdb::DB* db = vigil::MonitorParts::db(m->get());
#ifndef VIGIL_VIGIL_MONITOR_PARTS_H_
#define VIGIL_VIGIL_MONITOR_PARTS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "alerting/alerting.h"
#include "net/tls.h"
#include "promql/engine.h"
#include "server/config/config.h"
#include "server/metrics/registry.h"
#include "server/remote/sender/remote_write_manager.h"
#include "server/scrape/manager.h"
#include "tsdb/db.h"
#include "vigil/monitor.h"

namespace vigil {

// Server-only settings of the Monitor's alerting and remote write. The
// defaults build what Monitor::Open builds.
struct MonitorPartsOptions {
  // Built-in Alertmanager routing from this alertmanager.yml ("" = none;
  // SubscribeNotifications works either way).
  std::string alertmanager_config_file;
  // "externalURL" of the built-in routing's notifications.
  std::string notifier_external_url = "http://localhost:9093";
  // Where the built-in routing persists silences, its notification log and
  // its alerts ("" = memory only).
  std::string silences_file;
  std::string nflog_file;
  std::string alerts_file;
  // External Alertmanagers that firing alerts are forwarded to (base URLs,
  // scheme://host:port/path_prefix), and their TLS settings by URL.
  std::vector<std::string> alertmanager_urls;
  std::map<std::string, net::TlsOptions> alertmanager_tls;
  // When true (vigil serve), alerts carry exactly the applied config's
  // global.external_labels, so a reload that removes a label removes it
  // from alerts; MonitorOptions::external_labels then only seed alerts
  // until the first ApplyConfig. When false (embedders), the config's
  // labels override MonitorOptions::external_labels name by name.
  bool config_owns_external_labels = false;
  // Remote-write queue and shard metrics go here (null: a private
  // registry). Must outlive the Monitor.
  server::metrics::Registry* registry = nullptr;
};

// Which step of Open / ApplyConfig / Start failed, so a server can log
// "Opening storage failed" apart from "Error loading rules".
enum class MonitorStep {
  kNone,
  kStorage,      // opening data_dir
  kAlerting,     // alertmanager.yml, silences file, external labels
  kConfig,       // prometheus.yml itself
  kRules,        // rule_files
  kScrape,       // scrape_configs
  kRemoteWrite,  // remote_write queues
};

class MonitorParts {
 public:
  // Monitor::Open with the server-only settings. On error *failed (if not
  // null) says which step failed.
  static absl::StatusOr<std::unique_ptr<Monitor>> Open(
      const MonitorOptions& options, const MonitorPartsOptions& parts,
      MonitorStep* failed = nullptr);

  // Monitor::ApplyConfig for a parsed config (the server keeps its own copy
  // for /api/v1/status/config). Nothing changes on error; *failed says
  // which step failed.
  static absl::Status ApplyConfig(Monitor* m, const config::Config& cfg,
                                  MonitorStep* failed = nullptr);

  // The parts; valid until the Monitor is destroyed (after Close() the
  // store is closed and must not be used).
  static tsdb::DB* db(Monitor* m);
  // The engine rules evaluate with (options' lookback, timeout, samples).
  static promql::Engine* engine(Monitor* m);
  static alerting::AlertingService* alerting(Monitor* m);
  // Every write should go through this (an Appendable over db()), so that
  // remote_write destinations receive it.
  static server::remote::sender::RemoteWriteManager* remote_write(Monitor* m);
  // Runs `fn` with the scrape manager, or with null when the Monitor is
  // not started (the manager is rebuilt by every Start()). `fn` runs under
  // a lock Stop() takes: it must be quick and must not call the Monitor.
  static void WithScrapeManager(
      Monitor* m, const std::function<void(scrape::ScrapeManager*)>& fn);
};

}  // namespace vigil

#endif  // VIGIL_VIGIL_MONITOR_PARTS_H_
