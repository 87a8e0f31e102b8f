// Remote write: streams every committed sample to the `remote_write`
// destinations of prometheus.yml while storage keeps its local copy.
//
// The manager is a tsdb::Appendable that wraps the real storage. Appenders
// it hands out forward to the storage; when a batch commits there, the
// batch (labels, samples, staleness markers) is appended to one durable
// queue per destination under <data_dir>/remote_write/<remote_name>/ (see
// durable_queue.h), from which that destination's QueueManager sends it.
// A receiver outage therefore loses nothing until the queue's size cap
// (Options::max_queue_bytes) is reached, and a restart resumes from the
// persisted position. Without a data_dir the queues are in memory.
//
// Wiring (server/serve.cc, vigil/monitor.cc):
//
//   sender::RemoteWriteManager rw(&storage_gate,
//       {.data_dir = flags.storage_tsdb_path, .registry = &registry});
//   RETURN_IF_ERROR(rw.ApplyConfig(config));   // at startup, and on reload
//   // Optional, for metadata_config.send (copy scrape::MetricMetadata
//   // field by field; see metadata.h):
//   //   .metadata_source = [&scrape] { ... ActiveTargets() ... }
//   rw.Start();
//   // Hand &rw (not the storage) to everything that writes samples: the
//   // scrape manager, the rule manager, the remote-write receiver
//   // (WriteHandler), imports that should be forwarded.
//   ...
//   rw.Stop();   // at shutdown, after scrapes and rules stopped writing
//
// Metrics (labels remote_name, url), Prometheus's names with "vigil_":
// vigil_remote_storage_samples_total (sent), _samples_failed_total
// (rejected by the receiver with a non-retryable status), _samples_retried_
// total, _samples_dropped_total (write_relabel_configs or a full queue),
// _samples_pending, _queue_highest_sent_timestamp_seconds, _shards,
// _bytes_total, _queue_bytes, _shards_desired, _shards_min, _shards_max,
// _metadata_total, _metadata_failed_total, _metadata_retried_total,
// _metadata_bytes_total; and vigil_remote_storage_highest_timestamp_
// in_seconds (no labels: newest sample committed).
//
// Thread-safety: NewAppender() and the appenders' use are thread-safe as
// for any Appendable; ApplyConfig/Start/Stop from one thread.
#ifndef VIGIL_SERVER_REMOTE_SENDER_REMOTE_WRITE_MANAGER_H_
#define VIGIL_SERVER_REMOTE_SENDER_REMOTE_WRITE_MANAGER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/metrics/registry.h"
#include "server/remote/sender/metadata.h"
#include "server/remote/sender/poster.h"
#include "server/remote/sender/queue_manager.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"

namespace vigil::server::remote::sender {

class RemoteWriteManager : public tsdb::Appendable {
 public:
  struct Options {
    // Empty: queues in memory (lost on exit, bounded by max_queue_bytes).
    std::string data_dir;
    // May be null (the manager then keeps a private registry).
    metrics::Registry* registry = nullptr;
    // Null: one HTTP(S) client per destination, built from its TLS and
    // auth settings (config::ClientOptionsFromConfig). Tests pass fakes;
    // must outlive this.
    Poster* poster = nullptr;
    int64_t max_queue_bytes = int64_t{1} << 30;  // per destination
    int64_t segment_bytes = 16 << 20;
    // How long Stop() and a config change let shards send what they hold;
    // with a data_dir anything unsent stays queued on disk.
    absl::Duration flush_deadline = absl::Seconds(5);
    std::string user_agent = "Vigil/0.1";
    // Metric metadata for destinations with metadata_config.send (the
    // default): the scrape targets' TYPE/HELP/UNIT. Null: none is sent.
    // Called every send_interval from a sender thread.
    MetadataSource metadata_source;
    // How often each destination recomputes its shard count (Prometheus:
    // 10 s; tests shorten it).
    absl::Duration shard_update_interval = absl::Seconds(10);
  };

  // `storage` must outlive the manager.
  RemoteWriteManager(tsdb::Appendable* storage, Options options);
  ~RemoteWriteManager() override;  // Stop()
  RemoteWriteManager(const RemoteWriteManager&) = delete;
  RemoteWriteManager& operator=(const RemoteWriteManager&) = delete;

  // Applies config.remote_write with config.global.external_labels.
  absl::Status ApplyConfig(const config::Config& config);
  // Destinations whose settings did not change keep running; changed ones
  // are restarted on their queue (nothing queued is lost); removed ones
  // stop and their on-disk queue is left in place. A queue that cannot be
  // opened fails the call (naming the directory); the others still apply.
  absl::Status ApplyConfigs(const std::vector<config::RemoteWriteConfig>& rws,
                            const tsdb::Labels& external_labels);

  // Starts sending (queues configured before Start() only collect).
  void Start();
  // Stops sending; idempotent. Appenders still work and keep queueing.
  void Stop();

  std::unique_ptr<tsdb::Appender> NewAppender() override;

  // Remote names of the configured destinations, in config order.
  std::vector<std::string> QueueNames() const;
  // Metrics of one destination (pointers into the registry, valid for its
  // lifetime); nullopt when unknown.
  std::optional<QueueMetrics> Metrics(const std::string& remote_name) const;

  // Called by appenders on commit.
  void Forward(absl::string_view record, int64_t num_samples,
               int64_t max_timestamp);

 private:
  struct Queue {
    std::string name;
    std::string fingerprint;
    // Declared before `manager`, which uses it, so it is destroyed after.
    std::unique_ptr<Poster> own_poster;
    std::unique_ptr<QueueManager> manager;
  };
  QueueMetrics MetricsFor(const std::string& name, const std::string& url);

  tsdb::Appendable* const storage_;
  const Options options_;
  std::unique_ptr<metrics::Registry> own_registry_;
  metrics::Registry* registry_;

  metrics::CounterFamily* sent_;
  metrics::CounterFamily* failed_;
  metrics::CounterFamily* retried_;
  metrics::CounterFamily* dropped_;
  metrics::CounterFamily* bytes_;
  metrics::GaugeFamily* pending_;
  metrics::GaugeFamily* highest_sent_;
  metrics::GaugeFamily* shards_;
  metrics::GaugeFamily* queue_bytes_;
  metrics::GaugeFamily* shards_desired_;
  metrics::GaugeFamily* shards_min_;
  metrics::GaugeFamily* shards_max_;
  metrics::CounterFamily* metadata_sent_;
  metrics::CounterFamily* metadata_failed_;
  metrics::CounterFamily* metadata_retried_;
  metrics::CounterFamily* metadata_bytes_;
  metrics::Gauge* highest_ts_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Queue> queues_ ABSL_GUARDED_BY(mu_);
  // Fast path: no destinations means appenders are the storage's own.
  std::atomic<bool> active_{false};
};

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_REMOTE_WRITE_MANAGER_H_
