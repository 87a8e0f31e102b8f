#include "server/serve.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "alerting/alerting.h"
#include "alerting/rules/manager.h"
#include "alerting/rules/rule_file.h"
#include "promql/engine.h"
#include "promql/parser/parser.h"
#include "server/api/api.h"
#include "server/api/engine_runner.h"
#include "server/api/metadata_api.h"
#include "server/api/rules_json.h"
#include "server/api/targets_json.h"
#include "server/build_info.h"
#include "server/config/client_options.h"
#include "server/config/config.h"
#include "server/default_config.h"
#include "server/discovery/manager.h"
#include "server/flags.h"
#include "server/http/http_server.h"
#include "server/http/router.h"
#include "server/log.h"
#include "server/metrics/registry.h"
#include "server/remote/sender/remote_write_manager.h"
#include "server/remote/write_handler.h"
#include "server/scrape/manager.h"
#include "tsdb/db.h"

namespace vigil::server {
namespace {

// An appender for when storage is not open: every sample fails.
class UnavailableAppender : public tsdb::Appender {
 public:
  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef, const tsdb::Labels&,
                                         int64_t, double) override {
    return absl::UnavailableError("storage is not ready");
  }
  absl::Status Commit() override {
    return absl::UnavailableError("storage is not ready");
  }
  void Rollback() override {}
};

// Forwards to the DB once it is open; until then reads and writes fail as
// unavailable. Lets the engine, API and receivers be built before storage
// finishes recovering.
class StorageGate : public tsdb::Queryable, public tsdb::Appendable {
 public:
  void Set(tsdb::DB* db) { db_.store(db); }
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> NewQuerier(
      int64_t mint, int64_t maxt) override {
    tsdb::DB* db = db_.load();
    if (db == nullptr) return absl::UnavailableError("storage is not ready");
    return db->NewQuerier(mint, maxt);
  }
  std::unique_ptr<tsdb::Appender> NewAppender() override {
    tsdb::DB* db = db_.load();
    if (db == nullptr) return std::make_unique<UnavailableAppender>();
    return db->NewAppender();
  }

 private:
  std::atomic<tsdb::DB*> db_{nullptr};
};

api::TsdbStatusData ToApi(const tsdb::TsdbStatus& s) {
  api::TsdbStatusData d;
  d.num_series = s.num_series;
  d.num_label_pairs = s.num_label_pairs;
  d.chunk_count = s.chunk_count;
  d.min_time = s.min_time;
  d.max_time = s.max_time;
  auto conv = [](const std::vector<tsdb::TsdbStatus::Entry>& in) {
    std::vector<api::TsdbStatusData::Entry> out;
    for (const auto& e : in) out.push_back({e.name, e.value});
    return out;
  };
  d.series_count_by_metric_name = conv(s.series_count_by_metric_name);
  d.label_value_count_by_label_name = conv(s.label_value_count_by_label_name);
  d.memory_in_bytes_by_label_name = conv(s.memory_in_bytes_by_label_name);
  d.series_count_by_label_value_pair = conv(s.series_count_by_label_value_pair);
  return d;
}

// Renders DB::Stats() as vigil_tsdb_* metrics.
void CollectDbStats(tsdb::DB* db, std::string* out) {
  tsdb::DBStats s = db->Stats();
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    metrics::AppendHeader(out, name, help, "gauge");
    metrics::AppendSample(out, name, {}, static_cast<double>(v));
  };
  auto counter = [&](const char* name, const char* help, int64_t v) {
    metrics::AppendHeader(out, name, help, "counter");
    metrics::AppendSample(out, name, {}, static_cast<double>(v));
  };
  gauge("vigil_tsdb_head_series", "Series in the head.", s.head_series);
  gauge("vigil_tsdb_head_chunks", "Chunks held in memory.", s.head_chunks);
  gauge("vigil_tsdb_symbols", "Interned label strings.", s.symbols);
  counter("vigil_tsdb_head_samples_appended_total", "Samples appended.",
          s.samples_appended);
  metrics::AppendHeader(out, "vigil_tsdb_rejected_samples_total",
                        "Samples rejected on append, by reason.", "counter");
  metrics::AppendSample(out, "vigil_tsdb_rejected_samples_total",
                        {{"reason", "duplicate"}},
                        static_cast<double>(s.duplicate));
  metrics::AppendSample(out, "vigil_tsdb_rejected_samples_total",
                        {{"reason", "invalid_labels"}},
                        static_cast<double>(s.invalid_labels));
  metrics::AppendSample(out, "vigil_tsdb_rejected_samples_total",
                        {{"reason", "out_of_bounds"}},
                        static_cast<double>(s.out_of_bounds));
  metrics::AppendSample(out, "vigil_tsdb_rejected_samples_total",
                        {{"reason", "out_of_order"}},
                        static_cast<double>(s.out_of_order));
  counter("vigil_tsdb_commits_total", "Committed append batches.", s.commits);
  gauge("vigil_tsdb_wal_size_bytes", "Size of the write-ahead log.",
        s.wal_bytes);
  gauge("vigil_tsdb_storage_size_bytes", "Bytes on disk (store + WAL).",
        s.disk_bytes);
  counter("vigil_tsdb_chunks_persisted_total", "Chunks written to the store.",
          s.chunks_persisted);
  counter("vigil_tsdb_wal_checkpoints_total", "WAL checkpoints.",
          s.wal_checkpoints);
  counter("vigil_tsdb_compactions_total", "Store compactions.", s.compactions);
  counter("vigil_tsdb_retention_deletions_total",
          "Series removed by retention.", s.retention_deletions);
  gauge("vigil_tsdb_lowest_timestamp", "Oldest sample timestamp (ms).",
        s.min_time);
  gauge("vigil_tsdb_highest_timestamp", "Newest sample timestamp (ms).",
        s.max_time);
}

std::string SnapshotName() {
  std::random_device rd;
  uint64_t r = (static_cast<uint64_t>(rd()) << 32) | rd();
  return absl::StrCat(
      absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()), "-",
      absl::Hex(r, absl::kZeroPad16));
}

class Server {
 public:
  explicit Server(ServeFlags flags) : flags_(std::move(flags)) {}

  int Run();

 private:
  absl::StatusOr<config::Config> LoadConfig() const;
  absl::Status Reload();
  // Loads the config's rule files (or the embedded ones when running on the
  // embedded config) into rules_.
  absl::Status LoadRules(const config::Config& cfg);

  const ServeFlags flags_;
  metrics::Registry registry_;
  StorageGate gate_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> last_reload_ok_{true};
  metrics::CounterFamily* reloads_ = nullptr;

  std::mutex config_mu_;
  config::Config config_;  // guarded by config_mu_

  // Serialises SIGHUP, /-/reload and the startup of the managers below, so
  // a reload sees each manager either absent or fully started.
  std::mutex reload_mu_;
  std::unique_ptr<tsdb::DB> db_;
  // Every writer (scrapes, rules, the remote-write receiver) appends through
  // this, so what the DB commits is also streamed to config.remote_write.
  std::unique_ptr<remote::sender::RemoteWriteManager> remote_write_;
  // Rule evaluation plus notification (built-in Alertmanager routing from
  // --alerting.config.file and/or forwarding to alerting.alertmanagers).
  std::unique_ptr<alerting::AlertingService> alerting_;
  alerting::RuleManager* rules_ = nullptr;  // owned by alerting_
  // What HTTP handlers and reloads use: set once rules_ is loaded, cleared
  // before it stops, so handlers never see a half-built manager.
  std::atomic<alerting::RuleManager*> live_rules_{nullptr};
  // The same for the Alertmanager API v2 (silences, alerts, status).
  std::atomic<alerting::AlertingService*> live_alerting_{nullptr};
  std::unique_ptr<scrape::ScrapeManager> scrape_;
  std::unique_ptr<discovery::DiscoveryManager> discovery_;
  std::atomic<scrape::ScrapeManager*> live_scrape_{nullptr};
};

void CollectScrapeStats(const scrape::ScrapeManagerStats& s, std::string* out) {
  auto one = [&](const char* name, const char* help, const char* type,
                 uint64_t v) {
    metrics::AppendHeader(out, name, help, type);
    metrics::AppendSample(out, name, {}, static_cast<double>(v));
  };
  one("vigil_target_active", "Active scrape targets.", "gauge",
      s.active_targets);
  one("vigil_target_dropped", "Targets dropped by relabeling.", "gauge",
      s.dropped_targets);
  one("vigil_target_scrapes_total", "Scrapes performed.", "counter", s.scrapes);
  one("vigil_target_scrapes_failed_total", "Scrapes that failed.", "counter",
      s.failed_scrapes);
  one("vigil_target_scrapes_exceeded_sample_limit_total",
      "Scrapes rejected for exceeding sample_limit.", "counter",
      s.sample_limit_exceeded);
  one("vigil_target_scrapes_sample_out_of_order_total",
      "Scraped samples rejected as out of order.", "counter", s.out_of_order);
  one("vigil_target_scrapes_sample_duplicate_timestamp_total",
      "Scraped samples rejected as duplicates.", "counter", s.duplicate);
  one("vigil_target_scrapes_sample_out_of_bounds_total",
      "Scraped samples rejected as too old.", "counter", s.out_of_bounds);
  one("vigil_target_scrape_pool_reloads_total", "Scrape config reloads.",
      "counter", s.reloads);
}

// Base URLs of the statically configured Alertmanagers
// (scheme://address/path_prefix), as Prometheus builds them.
std::vector<std::string> AlertmanagerUrls(const config::Config& cfg) {
  std::vector<std::string> urls;
  for (const config::AlertmanagerConfig& am : cfg.alerting.alertmanagers) {
    for (const discovery::TargetGroup& g : am.static_configs) {
      for (const tsdb::Labels& t : g.targets) {
        urls.push_back(absl::StrCat(
            am.scheme, "://", t.Get(discovery::kAddressLabel), am.path_prefix));
      }
    }
  }
  return urls;
}

// tls_config of those Alertmanagers, keyed like AlertmanagerUrls().
std::map<std::string, net::TlsOptions> AlertmanagerTls(
    const config::Config& cfg) {
  std::map<std::string, net::TlsOptions> tls;
  for (const config::AlertmanagerConfig& am : cfg.alerting.alertmanagers) {
    for (const discovery::TargetGroup& g : am.static_configs) {
      for (const tsdb::Labels& t : g.targets) {
        tls[absl::StrCat(am.scheme, "://", t.Get(discovery::kAddressLabel),
                         am.path_prefix)] =
            config::TlsOptionsFromConfig(am.tls_config);
      }
    }
  }
  return tls;
}

absl::Status ValidateExpr(absl::string_view expr) {
  return promql::ParseExpr(expr).status();
}

absl::Status Server::LoadRules(const config::Config& cfg) {
  alerting::RuleManager* rules = live_rules_.load();
  if (rules == nullptr) rules = rules_;
  if (rules == nullptr) return absl::OkStatus();
  if (flags_.config_file.empty()) {
    absl::StatusOr<alerting::RuleFile> f = alerting::ParseRuleFile(
        kDefaultRulesYaml, kDefaultRulesName, ValidateExpr);
    if (!f.ok()) return f.status();
    std::vector<alerting::RuleFile> files;
    files.push_back(*std::move(f));
    return rules->UpdateParsed(std::move(files));
  }
  absl::StatusOr<std::vector<std::string>> files =
      config::ResolveRuleFiles(cfg);
  if (!files.ok()) return files.status();
  return rules->Update(*files);
}

absl::StatusOr<config::Config> Server::LoadConfig() const {
  if (flags_.config_file.empty()) {
    return config::ParseConfig(DefaultConfigYaml(flags_.listen_address),
                               "<embedded>");
  }
  return config::LoadConfigFile(flags_.config_file);
}

absl::Status Server::Reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  absl::StatusOr<config::Config> c = LoadConfig();
  if (c.ok() && scrape_ != nullptr) {
    absl::Status ss = scrape_->ApplyConfig(*c);
    if (!ss.ok()) c = ss;
  }
  if (c.ok() && discovery_ != nullptr) discovery_->ApplyConfig(*c);
  if (c.ok() && remote_write_ != nullptr) {
    absl::Status ws = remote_write_->ApplyConfig(*c);
    if (!ws.ok()) c = ws;
  }
  if (c.ok()) {
    absl::Status rs = LoadRules(*c);
    if (!rs.ok()) c = rs;
  }
  metrics::Counter* counter =
      reloads_->WithLabels({c.ok() ? "success" : "failure"});
  counter->Inc();
  last_reload_ok_.store(c.ok());
  if (!c.ok()) {
    LogError("Error reloading config",
             {{"err", std::string(c.status().message())}});
    return c.status();
  }
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    config_ = *std::move(c);
  }
  LogInfo("Completed loading of configuration file",
          {{"filename",
            flags_.config_file.empty() ? "<embedded>" : flags_.config_file}});
  return absl::OkStatus();
}

int Server::Run() {
  ConfigureLogging(ParseLogLevel(flags_.log_level), flags_.log_format == "json"
                                                        ? LogFormat::kJson
                                                        : LogFormat::kLogfmt);
  const BuildInfo& bi = GetBuildInfo();
  LogInfo(
      "Starting Vigil",
      {{"version", absl::StrCat("(version=", bi.version, ", branch=", bi.branch,
                                ", revision=", bi.revision, ")")}});

  absl::StatusOr<config::Config> cfg = LoadConfig();
  if (!cfg.ok()) {
    LogError("Error loading config",
             {{"filename", flags_.config_file},
              {"err", std::string(cfg.status().message())}});
    return 1;
  }
  config_ = *std::move(cfg);

  // Signals are handled synchronously by this thread (sigwait below); every
  // thread started from here on inherits the blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  metrics::RegisterProcessCollector(&registry_);
  reloads_ =
      registry_.NewCounter("vigil_config_reloads_total",
                           "Configuration reloads, by result.", {"result"});
  registry_
      .NewGauge("vigil_build_info", "Build information.",
                {"version", "revision", "branch"})
      ->WithLabels({bi.version, bi.revision, bi.branch})
      ->Set(1);
  metrics::CounterFamily* http_requests = registry_.NewCounter(
      "vigil_http_requests_total", "HTTP requests, by handler and code.",
      {"code", "handler"});
  metrics::HistogramFamily* http_duration =
      registry_.NewHistogram("vigil_http_request_duration_seconds",
                             "HTTP request latency, by handler.", {"handler"});

  promql::EngineOptions eopts;
  eopts.lookback_delta = absl::Milliseconds(flags_.query_lookback_delta_ms);
  eopts.timeout = absl::Milliseconds(flags_.query_timeout_ms);
  eopts.max_samples = flags_.query_max_samples;
  promql::Engine engine(eopts, &gate_);
  api::EngineRunner runner(&engine, flags_.query_max_concurrency, &registry_);

  api::ApiOptions aopts;
  aopts.enable_lifecycle = flags_.enable_lifecycle;
  aopts.enable_admin_api = flags_.enable_admin_api;
  aopts.build_info.version = bi.version;
  aopts.build_info.revision = bi.revision;
  aopts.build_info.branch = bi.branch;
  aopts.build_info.build_user = bi.build_user;
  aopts.build_info.build_date = bi.build_date;
  aopts.build_info.compiler = bi.compiler;
  aopts.flags = flags_.values;
  aopts.storage_retention = flags_.values.at("storage.tsdb.retention.time");
  aopts.lookback_delta_ms = flags_.query_lookback_delta_ms;
  for (const tsdb::Label& l : config_.global.external_labels) {
    aopts.external_labels.emplace_back(l.name, l.value);
  }

  api::ApiHooks hooks;
  hooks.ready = [this] { return ready_.load(); };
  hooks.reload = [this] { return Reload(); };
  hooks.quit = [] { kill(getpid(), SIGTERM); };
  hooks.last_reload_successful = [this] { return last_reload_ok_.load(); };
  hooks.config_yaml = [this] {
    std::lock_guard<std::mutex> lock(config_mu_);
    return config_.source_text;
  };
  hooks.metrics_text = [this] { return registry_.Render(); };
  hooks.rules = [this](const http::Request& req, api::JsonWriter* w) {
    std::vector<alerting::GroupStatus> groups;
    if (auto* r = live_rules_.load()) groups = r->Groups();
    api::WriteRuleGroups(groups, std::string(req.FormValue("type")), w);
  };
  hooks.targets = [this](const http::Request& req, api::JsonWriter* w) {
    std::vector<scrape::TargetInfo> active;
    std::vector<scrape::DroppedTargetInfo> dropped;
    if (auto* sm = live_scrape_.load()) {
      active = sm->ActiveTargets();
      dropped = sm->DroppedTargets();
    }
    api::WriteTargets(active, dropped, std::string(req.FormValue("state")), w);
  };
  hooks.alerts = [this](const http::Request&, api::JsonWriter* w) {
    std::vector<alerting::Alert> alerts;
    if (auto* r = live_rules_.load()) alerts = r->Alerts();
    api::WriteAlerts(alerts, w);
  };
  hooks.alerting = [this] { return live_alerting_.load(); };
  hooks.tsdb_status = [this](int limit) -> absl::StatusOr<api::TsdbStatusData> {
    if (db_ == nullptr) return absl::UnavailableError("storage is not ready");
    return ToApi(db_->CardinalityStats(limit));
  };
  hooks.delete_series = [this](absl::Span<const tsdb::Matcher> ms, int64_t mint,
                               int64_t maxt) {
    return db_->DeleteSeries(ms, mint, maxt);
  };
  hooks.clean_tombstones = [this] { return db_->CleanTombstones(); };
  hooks.snapshot = [this](bool) -> absl::StatusOr<std::string> {
    // The head is always included: skipping it would lose unpersisted data
    // for no gain in this storage design.
    std::string name = SnapshotName();
    std::string base = flags_.storage_tsdb_path;
    if (!base.empty() && base.back() != '/') base.push_back('/');
    std::string dir = absl::StrCat(base, "snapshots");
    ::mkdir(dir.c_str(), 0755);
    absl::Status s = db_->Snapshot(absl::StrCat(dir, "/", name));
    if (!s.ok()) return s;
    return name;
  };

  api::Api api(aopts, &gate_, &runner, hooks);
  http::Router router(flags_.route_prefix);
  api.Register(&router);
  // Metric metadata from the scrape loops; replaces the API's empty answers.
  api::MetadataApi metadata_api([this] {
    scrape::ScrapeManager* sm = live_scrape_.load();
    return sm != nullptr ? sm->ActiveTargets()
                         : std::vector<scrape::TargetInfo>();
  });
  metadata_api.Register(&router);
  // Built before storage opens so the receiver can hold it; it queues
  // nothing until the gate opens (appends fail as unavailable until then).
  remote::sender::RemoteWriteManager::Options rwopts;
  rwopts.data_dir = flags_.storage_tsdb_path;
  rwopts.registry = &registry_;
  remote_write_ = std::make_unique<remote::sender::RemoteWriteManager>(
      &gate_, std::move(rwopts));
  remote::WriteHandler write_handler(remote_write_.get(), &registry_);
  router.Handle("POST", "/api/v1/write", [&](const http::Request& req) {
    if (!flags_.enable_remote_write_receiver) {
      return http::Response::Text(
          404,
          "remote write receiver needs to be enabled with "
          "--web.enable-remote-write-receiver\n");
    }
    if (!ready_.load()) return http::Response::Text(503, "Service Unavailable");
    return write_handler.Handle(req);
  });

  http::HttpServerOptions hopts;
  hopts.listen_address = flags_.listen_address;
  // Handlers run on the pool's threads, and a query blocks its thread
  // for its whole evaluation. Sizing the pool above the query concurrency
  // cap keeps health checks, /metrics and remote write responsive while
  // every query slot is busy.
  hopts.threads = std::max(16, flags_.query_max_concurrency + 8);
  http::HttpServer server(hopts, [&](http::Request* req) {
    absl::Time start = absl::Now();
    http::Response resp = router.Dispatch(req);
    const std::string& handler = req->route.empty() ? "other" : req->route;
    http_requests->WithLabels({absl::StrCat(resp.status), handler})->Inc();
    http_duration->WithLabels({handler})->Observe(
        absl::ToDoubleSeconds(absl::Now() - start));
    return resp;
  });
  absl::Status st = server.Start();
  if (!st.ok()) {
    LogError("Unable to start web listener",
             {{"err", std::string(st.message())}});
    return 1;
  }
  LogInfo("Listening", {{"address", flags_.listen_address},
                        {"port", absl::StrCat(server.port())}});

  tsdb::DBOptions dopts;
  dopts.path = flags_.storage_tsdb_path;
  dopts.retention = absl::Milliseconds(flags_.retention_time_ms);
  dopts.retention_bytes = flags_.retention_size_bytes;
  absl::StatusOr<std::unique_ptr<tsdb::DB>> db = tsdb::DB::Open(dopts);
  if (!db.ok()) {
    LogError(
        "Opening storage failed",
        {{"path", dopts.path}, {"err", std::string(db.status().message())}});
    server.Shutdown(absl::Seconds(1));
    return 1;
  }
  db_ = *std::move(db);
  registry_.AddCollector(
      [this](std::string* out) { CollectDbStats(db_.get(), out); });
  gate_.Set(db_.get());
  LogInfo("TSDB started", {{"path", dopts.path}});

  alerting::RuleManagerOptions ropts;
  ropts.query = [&engine](absl::string_view expr,
                          int64_t t) -> absl::StatusOr<promql::Vector> {
    absl::StatusOr<promql::QueryResult> r = engine.InstantQuery(expr, t);
    if (!r.ok()) return r.status();
    if (auto* v = std::get_if<promql::Vector>(&r->value)) {
      return std::move(*v);
    }
    if (auto* sc = std::get_if<promql::Scalar>(&r->value)) {
      return promql::Vector{promql::VectorSample{tsdb::Labels(), sc->t, sc->v}};
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "rule expression \"", expr, "\" must return a vector or scalar"));
  };
  ropts.appendable = remote_write_.get();
  ropts.queryable = db_.get();
  ropts.validator = ValidateExpr;
  ropts.evaluation_interval_ms =
      absl::ToInt64Milliseconds(config_.global.evaluation_interval);
  ropts.outage_tolerance_ms = flags_.for_outage_tolerance_ms;
  for (const tsdb::Label& l : config_.global.external_labels) {
    ropts.external_labels[l.name] = l.value;
  }
  ropts.external_url = flags_.external_url;
  // AlertingService sets ropts.notify: alerts go to the built-in router
  // (alertmanager.yml format) and/or to the configured Alertmanagers.
  alerting::AlertingOptions alerting_opts;
  alerting_opts.rules = std::move(ropts);
  alerting_opts.alertmanager_config_file = flags_.alerting_config_file;
  alerting_opts.notifier_external_url =
      flags_.external_url.empty()
          ? absl::StrCat("http://", flags_.listen_address)
          : flags_.external_url;
  if (!flags_.storage_tsdb_path.empty()) {
    alerting_opts.silences_file =
        absl::StrCat(flags_.storage_tsdb_path, "/silences.json");
  }
  alerting_opts.alertmanager_urls = AlertmanagerUrls(config_);
  alerting_opts.alertmanager_tls = AlertmanagerTls(config_);
  std::unique_lock<std::mutex> startup_lock(reload_mu_);
  auto fail_startup = [&](absl::string_view what, const absl::Status& err) {
    LogError(what, {{"err", std::string(err.message())}});
    if (discovery_ != nullptr) discovery_->Stop();
    if (scrape_ != nullptr) scrape_->Stop();
    discovery_.reset();
    scrape_.reset();
    alerting_.reset();
    rules_ = nullptr;
    startup_lock.unlock();
    server.Shutdown(absl::Seconds(1));
    remote_write_->Stop();
    gate_.Set(nullptr);
    (void)db_->Close();
    return 1;
  };
  absl::Status ws = remote_write_->ApplyConfig(config_);
  if (!ws.ok()) return fail_startup("Error applying remote_write config", ws);
  remote_write_->Start();
  absl::StatusOr<std::unique_ptr<alerting::AlertingService>> svc =
      alerting::AlertingService::Create(std::move(alerting_opts));
  if (!svc.ok())
    return fail_startup("Error loading alerting config", svc.status());
  alerting_ = *std::move(svc);
  rules_ = &alerting_->rules();
  absl::Status rs = LoadRules(config_);
  if (!rs.ok()) return fail_startup("Error loading rules", rs);

  scrape_ = std::make_unique<scrape::ScrapeManager>(remote_write_.get());
  absl::Status ss = scrape_->ApplyConfig(config_);
  if (!ss.ok()) return fail_startup("Error applying scrape config", ss);
  discovery_ = std::make_unique<discovery::DiscoveryManager>(
      [this](const std::string& job, std::vector<discovery::TargetGroup> g) {
        scrape_->Sync(job, g);
      });
  discovery_->ApplyConfig(config_);
  discovery_->RefreshNow();  // targets known before the first scrape
  discovery_->Start();
  live_scrape_.store(scrape_.get());
  registry_.AddCollector([this](std::string* out) {
    if (auto* sm = live_scrape_.load()) CollectScrapeStats(sm->Stats(), out);
  });
  LogInfo("Scrape manager started",
          {{"targets", absl::StrCat(scrape_->ActiveTargets().size())}});

  alerting_->Start();
  live_rules_.store(rules_);
  live_alerting_.store(alerting_.get());
  startup_lock.unlock();
  LogInfo("Rule manager started",
          {{"rules", absl::StrCat(rules_->RuleCount())}});
  ready_.store(true);
  LogInfo("Server is ready to receive web requests.");

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      (void)Reload();  // logged inside; keep running on a bad config
      continue;
    }
    LogWarn("Received termination request, exiting gracefully...",
            {{"signal", sig == SIGINT ? "interrupt" : "terminated"}});
    break;
  }

  // Producers first (rules write to storage), then in-flight requests
  // (which may still hold the rule manager, so it is freed only after),
  // then storage.
  ready_.store(false);
  {
    std::lock_guard<std::mutex> lock(reload_mu_);
    live_scrape_.store(nullptr);
    discovery_->Stop();
    scrape_->Stop();  // writes staleness markers
    LogInfo("Scrape manager stopped");
    live_rules_.store(nullptr);
    live_alerting_.store(nullptr);
    alerting_->Stop();
    LogInfo("Rule manager stopped");
  }
  server.Shutdown(absl::Seconds(10));
  LogInfo("Web server stopped");
  // Every writer has stopped: shards get their flush deadline to send what
  // they hold; the rest stays queued on disk for the next start.
  remote_write_->Stop();
  LogInfo("Remote storage stopped");
  {
    std::lock_guard<std::mutex> lock(reload_mu_);
    discovery_.reset();
    scrape_.reset();
    alerting_.reset();
    rules_ = nullptr;
  }
  gate_.Set(nullptr);
  absl::Status cs = db_->Close();
  if (!cs.ok()) {
    LogError("Closing storage failed", {{"err", std::string(cs.message())}});
    return 1;
  }
  LogInfo("See you next time!");
  return 0;
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(ServeUsage().c_str(), stdout);
      return 0;
    }
  }
  absl::StatusOr<ServeFlags> flags = ParseServeFlags(args);
  if (!flags.ok()) {
    std::fprintf(stderr, "vigil: error: %s, try --help\n",
                 std::string(flags.status().message()).c_str());
    return 1;
  }
  Server server(*std::move(flags));
  return server.Run();
}

}  // namespace vigil::server
