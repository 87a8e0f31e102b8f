#include "server/serve.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
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
#include "promql/engine.h"
#include "server/api/api.h"
#include "server/api/engine_runner.h"
#include "server/api/metadata_api.h"
#include "server/api/rules_json.h"
#include "server/api/targets_json.h"
#include "server/build_info.h"
#include "server/config/client_options.h"
#include "server/config/config.h"
#include "server/default_config.h"
#include "server/discovery/target_group.h"
#include "server/flags.h"
#include "server/http/http_server.h"
#include "server/http/router.h"
#include "server/log.h"
#include "server/metrics/registry.h"
#include "server/remote/write_handler.h"
#include "server/scrape/manager.h"
#include "tsdb/db.h"
#include "vigil/monitor.h"
#include "vigil/monitor_parts.h"

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

// Forwards to the Monitor once it is open (reads to its store, writes
// through its remote-write manager, so received samples are also streamed
// to remote_write); until then reads and writes fail as unavailable. Lets
// the engine, API and receiver be built, and /-/ready answer 503, while
// storage recovers.
class StorageGate : public tsdb::Queryable, public tsdb::Appendable {
 public:
  void Set(Monitor* m) { monitor_.store(m); }
  Monitor* monitor() const { return monitor_.load(); }
  // Null until open.
  tsdb::DB* db() const {
    Monitor* m = monitor_.load();
    return m != nullptr ? MonitorParts::db(m) : nullptr;
  }

  absl::StatusOr<std::unique_ptr<tsdb::Querier>> NewQuerier(
      int64_t mint, int64_t maxt) override {
    tsdb::DB* d = db();
    if (d == nullptr) return absl::UnavailableError("storage is not ready");
    return d->NewQuerier(mint, maxt);
  }
  std::unique_ptr<tsdb::Appender> NewAppender() override {
    Monitor* m = monitor_.load();
    if (m == nullptr) return std::make_unique<UnavailableAppender>();
    return MonitorParts::remote_write(m)->NewAppender();
  }

 private:
  std::atomic<Monitor*> monitor_{nullptr};
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
  gauge("vigil_tsdb_storage_size_bytes",
        "Bytes on disk (store + WAL + head chunk log).", s.disk_bytes);
  gauge("vigil_tsdb_chunk_log_size_bytes",
        "Size of the head chunk log (sealed chunks not yet in the store).",
        s.chunk_log_bytes);
  counter("vigil_tsdb_chunks_persisted_total",
          "Sealed head chunks written to the head chunk log.",
          s.chunks_persisted);
  counter("vigil_tsdb_chunks_moved_total",
          "Chunks the merger moved from the head chunk log to the store.",
          s.chunks_moved);
  counter("vigil_tsdb_wal_checkpoints_total", "WAL checkpoints.",
          s.wal_checkpoints);
  counter("vigil_tsdb_compactions_total", "Store compactions.", s.compactions);
  counter("vigil_tsdb_retention_deletions_total",
          "Series removed by retention.", s.retention_deletions);
  counter("vigil_tsdb_chunk_merges_total",
          "Series chunk ranges rewritten as one chunk by the chunk merger.",
          s.chunk_merges);
  counter("vigil_tsdb_chunks_merged_total",
          "Stored chunks the chunk merger replaced.", s.chunks_merged);
  counter("vigil_tsdb_chunk_merge_samples_total",
          "Samples the chunk merger re-encoded.", s.chunk_merge_samples);
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

// What a failed startup or reload step is logged as.
const char* StepError(MonitorStep step) {
  switch (step) {
    case MonitorStep::kStorage:
      return "Opening storage failed";
    case MonitorStep::kAlerting:
      return "Error loading alerting config";
    case MonitorStep::kRules:
      return "Error loading rules";
    case MonitorStep::kScrape:
      return "Error applying scrape config";
    case MonitorStep::kRemoteWrite:
      return "Error applying remote_write config";
    case MonitorStep::kNone:
    case MonitorStep::kConfig:
      break;
  }
  return "Error loading config";
}

// `vigil serve`: the HTTP API over a vigil::Monitor, which owns storage,
// the rule engine, alerting, scraping, discovery and remote write (the same
// composition an embedder gets; see vigil/monitor_parts.h).
class Server {
 public:
  explicit Server(ServeFlags flags) : flags_(std::move(flags)) {}

  int Run();

 private:
  absl::StatusOr<config::Config> LoadConfig() const;
  absl::Status Reload();
  MonitorOptions MakeMonitorOptions() const;
  MonitorPartsOptions MakePartsOptions();

  const ServeFlags flags_;
  metrics::Registry registry_;
  StorageGate gate_;
  std::atomic<bool> ready_{false};
  metrics::CounterFamily* reloads_ = nullptr;
  // 1 or 0: the outcome of the last reload, for /metrics and the
  // runtimeinfo API alike.
  metrics::Gauge* last_reload_gauge_ = nullptr;

  std::mutex config_mu_;
  config::Config config_;  // guarded by config_mu_

  // Serialises SIGHUP, /-/reload and startup: a reload waits until the
  // Monitor is open, configured and started (as Prometheus queues reloads
  // until it is ready).
  std::mutex reload_mu_;
  // Set under reload_mu_ once open; lives until Run() returns, after the
  // HTTP server stopped, so handlers never see it freed.
  std::unique_ptr<Monitor> monitor_;
  // What the rules, alerts and Alertmanager API handlers use: set once the
  // Monitor runs, cleared before it stops.
  std::atomic<alerting::AlertingService*> live_alerting_{nullptr};
};

absl::StatusOr<config::Config> Server::LoadConfig() const {
  if (flags_.config_file.empty()) {
    return config::ParseConfig(DefaultConfigYaml(flags_.listen_address),
                               "<embedded>");
  }
  return config::LoadConfigFile(flags_.config_file);
}

MonitorOptions Server::MakeMonitorOptions() const {
  MonitorOptions o;
  o.data_dir = flags_.storage_tsdb_path;
  o.retention = absl::Milliseconds(flags_.retention_time_ms);
  o.retention_bytes = flags_.retention_size_bytes;
  // The rules' engine; API queries run on serve's own engine (same
  // settings) over the gate.
  o.lookback_delta = absl::Milliseconds(flags_.query_lookback_delta_ms);
  o.query_timeout = absl::Milliseconds(flags_.query_timeout_ms);
  o.max_samples = flags_.query_max_samples;
  o.evaluation_interval = config_.global.evaluation_interval;
  o.for_outage_tolerance = absl::Milliseconds(flags_.for_outage_tolerance_ms);
  o.for_grace_period = absl::Milliseconds(flags_.for_grace_period_ms);
  o.resend_delay = absl::Milliseconds(flags_.resend_delay_ms);
  o.external_url = flags_.external_url;
  for (const tsdb::Label& l : config_.global.external_labels) {
    o.external_labels.emplace_back(l.name, l.value);
  }
  return o;
}

MonitorPartsOptions Server::MakePartsOptions() {
  MonitorPartsOptions p;
  p.alertmanager_config_file = flags_.alerting_config_file;
  p.notifier_external_url = flags_.external_url.empty()
                                ? absl::StrCat("http://", flags_.listen_address)
                                : flags_.external_url;
  if (!flags_.storage_tsdb_path.empty()) {
    p.silences_file = absl::StrCat(flags_.storage_tsdb_path, "/silences.json");
    p.nflog_file = absl::StrCat(flags_.storage_tsdb_path, "/nflog.json");
    p.alerts_file = absl::StrCat(flags_.storage_tsdb_path, "/alerts.json");
  }
  // The Alertmanagers to forward to, alertmanager.yml and the alerts'
  // external labels are (re)applied by MonitorParts::ApplyConfig, at
  // startup and on every reload, all or nothing with the rest.
  p.config_owns_external_labels = true;
  p.registry = &registry_;
  return p;
}

absl::Status Server::Reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  absl::StatusOr<config::Config> c = LoadConfig();
  MonitorStep step = MonitorStep::kConfig;
  if (c.ok() && monitor_ != nullptr) {
    // Alerting (Alertmanagers, alertmanager.yml, external labels), rules,
    // scrape jobs and remote_write; nothing changes on error.
    absl::Status s = MonitorParts::ApplyConfig(monitor_.get(), *c, &step);
    if (!s.ok()) c = s;
  }
  metrics::Counter* counter =
      reloads_->WithLabels({c.ok() ? "success" : "failure"});
  counter->Inc();
  last_reload_gauge_->Set(c.ok() ? 1 : 0);
  if (!c.ok()) {
    // Prometheus's line, plus which part of the new config was refused
    // (e.g. "Error loading alerting config" for a bad alertmanager.yml).
    LogError("Error reloading config",
             {{"step", StepError(step)},
              {"err", std::string(c.status().message())}});
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
  // Prometheus's prometheus_config_last_reload_successful.
  last_reload_gauge_ =
      registry_
          .NewGauge("vigil_config_last_reload_successful",
                    "Whether the last configuration reload attempt was "
                    "successful.")
          ->WithLabels({});
  last_reload_gauge_->Set(1);
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

  // API queries: an engine over the gate, so it exists (and answers
  // "storage is not ready") before the Monitor has recovered the store.
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

  // Runs `fn` with the scrape manager while the Monitor runs.
  auto with_scrape =
      [this](const std::function<void(scrape::ScrapeManager*)>& fn) {
        Monitor* m = gate_.monitor();
        if (m == nullptr) return;
        MonitorParts::WithScrapeManager(m, [&](scrape::ScrapeManager* sm) {
          if (sm != nullptr) fn(sm);
        });
      };
  api::ApiHooks hooks;
  hooks.ready = [this] { return ready_.load(); };
  hooks.reload = [this] { return Reload(); };
  hooks.quit = [] { kill(getpid(), SIGTERM); };
  hooks.last_reload_successful = [this] {
    return last_reload_gauge_->Value() == 1;
  };
  hooks.config_yaml = [this] {
    std::lock_guard<std::mutex> lock(config_mu_);
    return config_.source_text;
  };
  hooks.metrics_text = [this] { return registry_.Render(); };
  hooks.rules = [this](const http::Request& req, api::JsonWriter* w) {
    std::vector<alerting::GroupStatus> groups;
    if (auto* a = live_alerting_.load()) groups = a->rules().Groups();
    api::WriteRuleGroups(groups, std::string(req.FormValue("type")), w);
  };
  hooks.targets = [with_scrape](const http::Request& req, api::JsonWriter* w) {
    std::vector<scrape::TargetInfo> active;
    std::vector<scrape::DroppedTargetInfo> dropped;
    with_scrape([&](scrape::ScrapeManager* sm) {
      active = sm->ActiveTargets();
      dropped = sm->DroppedTargets();
    });
    api::WriteTargets(active, dropped, std::string(req.FormValue("state")), w);
  };
  hooks.alerts = [this](const http::Request&, api::JsonWriter* w) {
    std::vector<alerting::Alert> alerts;
    if (auto* a = live_alerting_.load()) alerts = a->rules().Alerts();
    api::WriteAlerts(alerts, w);
  };
  hooks.alerting = [this] { return live_alerting_.load(); };
  hooks.tsdb_status = [this](int limit) -> absl::StatusOr<api::TsdbStatusData> {
    tsdb::DB* db = gate_.db();
    if (db == nullptr) return absl::UnavailableError("storage is not ready");
    return ToApi(db->CardinalityStats(limit));
  };
  hooks.delete_series = [this](absl::Span<const tsdb::Matcher> ms, int64_t mint,
                               int64_t maxt) -> absl::Status {
    tsdb::DB* db = gate_.db();
    if (db == nullptr) return absl::UnavailableError("storage is not ready");
    return db->DeleteSeries(ms, mint, maxt);
  };
  hooks.clean_tombstones = [this]() -> absl::Status {
    tsdb::DB* db = gate_.db();
    if (db == nullptr) return absl::UnavailableError("storage is not ready");
    return db->CleanTombstones();
  };
  hooks.snapshot = [this](bool) -> absl::StatusOr<std::string> {
    tsdb::DB* db = gate_.db();
    if (db == nullptr) return absl::UnavailableError("storage is not ready");
    // The head is always included: skipping it would lose unpersisted data
    // for no gain in this storage design.
    std::string name = SnapshotName();
    std::string base = flags_.storage_tsdb_path;
    if (!base.empty() && base.back() != '/') base.push_back('/');
    std::string dir = absl::StrCat(base, "snapshots");
    ::mkdir(dir.c_str(), 0755);
    absl::Status s = db->Snapshot(absl::StrCat(dir, "/", name));
    if (!s.ok()) return s;
    return name;
  };

  api::Api api(aopts, &gate_, &runner, hooks);
  http::Router router(flags_.route_prefix);
  api.Register(&router);
  // Metric metadata from the scrape loops; replaces the API's empty answers.
  api::MetadataApi metadata_api([with_scrape] {
    std::vector<scrape::TargetInfo> active;
    with_scrape(
        [&](scrape::ScrapeManager* sm) { active = sm->ActiveTargets(); });
    return active;
  });
  metadata_api.Register(&router);
  // Received samples go through the gate to the Monitor's remote-write
  // manager (so they are also streamed to remote_write); until storage is
  // open the handler answers 503.
  remote::WriteHandler write_handler(&gate_, &registry_);
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
  // Held through open, configuration and start: a /-/reload meanwhile
  // waits, then applies to the running Monitor.
  std::unique_lock<std::mutex> startup_lock(reload_mu_);
  absl::Status st = server.Start();
  if (!st.ok()) {
    LogError("Unable to start web listener",
             {{"err", std::string(st.message())}});
    return 1;
  }
  LogInfo("Listening", {{"address", flags_.listen_address},
                        {"port", absl::StrCat(server.port())}});

  MonitorStep step = MonitorStep::kNone;
  absl::StatusOr<std::unique_ptr<Monitor>> opened =
      MonitorParts::Open(MakeMonitorOptions(), MakePartsOptions(), &step);
  if (!opened.ok()) {
    LogError(StepError(step),
             {{"path", flags_.storage_tsdb_path},
              {"err", std::string(opened.status().message())}});
    startup_lock.unlock();
    server.Shutdown(absl::Seconds(1));
    return 1;
  }
  monitor_ = *std::move(opened);
  Monitor* monitor = monitor_.get();
  gate_.Set(monitor);
  registry_.AddCollector([this](std::string* out) {
    if (tsdb::DB* db = gate_.db()) CollectDbStats(db, out);
  });
  LogInfo("TSDB started", {{"path", flags_.storage_tsdb_path}});

  auto fail_startup = [&](MonitorStep failed, const absl::Status& err) {
    LogError(StepError(failed), {{"err", std::string(err.message())}});
    monitor->Stop();
    startup_lock.unlock();
    server.Shutdown(absl::Seconds(1));
    gate_.Set(nullptr);
    (void)monitor->Close();
    return 1;
  };
  if (flags_.config_file.empty()) {
    absl::Status rs = monitor->LoadRules(kDefaultRulesYaml, kDefaultRulesName);
    if (!rs.ok()) return fail_startup(MonitorStep::kRules, rs);
  }
  absl::Status cs = MonitorParts::ApplyConfig(monitor, config_, &step);
  if (!cs.ok()) return fail_startup(step, cs);
  // Scrape jobs are applied here (the scrape manager is built by Start), as
  // are remote_write sending, discovery, rules and the dispatcher.
  absl::Status ss = monitor->Start();
  if (!ss.ok()) return fail_startup(MonitorStep::kScrape, ss);
  registry_.AddCollector([with_scrape](std::string* out) {
    with_scrape([&](scrape::ScrapeManager* sm) {
      CollectScrapeStats(sm->Stats(), out);
    });
  });
  size_t targets = 0;
  with_scrape(
      [&](scrape::ScrapeManager* sm) { targets = sm->ActiveTargets().size(); });
  LogInfo("Scrape manager started", {{"targets", absl::StrCat(targets)}});
  alerting::AlertingService* alerting = MonitorParts::alerting(monitor);
  live_alerting_.store(alerting);
  startup_lock.unlock();
  LogInfo("Rule manager started",
          {{"rules", absl::StrCat(alerting->rules().RuleCount())}});
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

  // Producers first: scrapes (writing staleness markers), rules, the
  // dispatchers, then remote write (its shards get the flush deadline; the
  // rest stays queued on disk). Then in-flight requests (received samples
  // still queue), then storage. The Monitor is freed only after the HTTP
  // server, since handlers may still hold its parts.
  ready_.store(false);
  {
    std::lock_guard<std::mutex> lock(reload_mu_);
    live_alerting_.store(nullptr);
    monitor->Stop();
  }
  LogInfo("Scrape manager stopped");
  LogInfo("Rule manager stopped");
  LogInfo("Remote storage stopped");
  server.Shutdown(absl::Seconds(10));
  LogInfo("Web server stopped");
  gate_.Set(nullptr);
  absl::Status close = monitor->Close();
  if (!close.ok()) {
    LogError("Closing storage failed", {{"err", std::string(close.message())}});
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
