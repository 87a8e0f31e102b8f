// One remote_write destination: reads batch records from its DurableQueue,
// applies external labels and write_relabel_configs, spreads samples over
// shards by series (so each series stays in order), and each shard POSTs
// snappy-compressed WriteRequests of up to max_samples_per_send samples
// (or what arrived within batch_send_deadline), retrying with exponential
// backoff as Prometheus's queue manager does:
//
//   - 2xx: sent.
//   - 5xx, connection errors, timeouts, and 429 when retry_on_http_429:
//     retried after min_backoff, doubling up to max_backoff, for as long as
//     it takes (the durable queue holds everything behind the batch).
//   - any other status (4xx): the batch is dropped, counted as failed and
//     logged with the receiver's answer.
//
// The durable queue's position advances only past records whose every
// sample was sent or dropped for good, so a restart re-sends at most the
// batches that were in flight.
//
// Shards: the count starts at min_shards and is recomputed every
// shard_update_interval by a ShardScaler (shard_scaler.h; Prometheus's
// rule). A reshard happens between two records: the reader stops feeding,
// the old shards send everything they hold (retrying as long as needed),
// exit, and only then the new shards start. A series always goes to shard
// hash(series) % n, so its samples stay in order across a reshard and
// none is lost or sent twice.
//
// Metadata: with metadata_config.send and a metadata source, every
// send_interval the source's metadata (deduplicated) is sent in
// WriteRequests of at most metadata_config.max_samples_per_send entries,
// with the same retry rules; a batch still failing at Stop is abandoned
// (the next interval sends the full set again).
//
// Thread-safety: Enqueue() from any thread; Start/Stop from one thread.
#ifndef VIGIL_SERVER_REMOTE_SENDER_QUEUE_MANAGER_H_
#define VIGIL_SERVER_REMOTE_SENDER_QUEUE_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/metrics/registry.h"
#include "server/remote/sender/batch.h"
#include "server/remote/sender/durable_queue.h"
#include "server/remote/sender/metadata.h"
#include "server/remote/sender/poster.h"
#include "server/remote/sender/shard_scaler.h"
#include "tsdb/labels.h"

namespace vigil::server::remote::sender {

// Metric children of one queue (labels remote_name, url). Never null.
struct QueueMetrics {
  metrics::Counter* samples_sent;     // vigil_remote_storage_samples_total
  metrics::Counter* samples_failed;   // ..._samples_failed_total
  metrics::Counter* samples_retried;  // ..._samples_retried_total
  metrics::Counter* samples_dropped;  // ..._samples_dropped_total
  metrics::Counter* bytes_sent;       // ..._bytes_total
  metrics::Gauge* samples_pending;    // ..._samples_pending
  metrics::Gauge* highest_sent;     // ..._queue_highest_sent_timestamp_seconds
  metrics::Gauge* shards;           // ..._shards
  metrics::Gauge* queue_bytes;      // ..._queue_bytes (durable backlog)
  metrics::Gauge* shards_desired;   // ..._shards_desired
  metrics::Gauge* shards_min;       // ..._shards_min
  metrics::Gauge* shards_max;       // ..._shards_max
  metrics::Counter* metadata_sent;  // ..._metadata_total
  metrics::Counter* metadata_failed;   // ..._metadata_failed_total
  metrics::Counter* metadata_retried;  // ..._metadata_retried_total
  metrics::Counter* metadata_bytes;    // ..._metadata_bytes_total
};

class QueueManager {
 public:
  struct Options {
    config::RemoteWriteConfig config;
    tsdb::Labels external_labels;
    std::string name;  // remote_name
    Poster* poster = nullptr;
    std::string user_agent = "Vigil/0.1";
    // How often the shard count is recomputed (Prometheus: 10 s).
    absl::Duration shard_update_interval = absl::Seconds(10);
    // Null: no metadata is sent whatever metadata_config says.
    MetadataSource metadata_source;
  };

  // `queue` holds the records to send; `opts.poster` must outlive this.
  QueueManager(Options opts, std::unique_ptr<DurableQueue> queue,
               QueueMetrics metrics);
  ~QueueManager();  // Stop(absl::ZeroDuration()) if running
  QueueManager(const QueueManager&) = delete;
  QueueManager& operator=(const QueueManager&) = delete;

  void Start();
  // Stops reading, gives the shards up to `flush` to send what they hold,
  // then abandons retries; unsent records stay in the durable queue (whose
  // position is flushed to disk).
  void Stop(absl::Duration flush);
  // After Stop(): the durable queue, rewound to the first unsent record.
  std::unique_ptr<DurableQueue> ReleaseQueue();

  // Queues one record of `num_samples` samples, the newest at
  // `max_timestamp` (ms). When the durable queue is full the samples are
  // dropped and counted.
  void Enqueue(absl::string_view record, int64_t num_samples,
               int64_t max_timestamp);

  const Options& options() const { return opts_; }
  const QueueMetrics& metrics() const { return metrics_; }
  DurableQueue* queue() { return queue_.get(); }

 private:
  struct Entry {
    const tsdb::Labels* labels;
    int64_t t;
    double v;
    uint64_t seq;  // pending record
  };
  struct Shard {
    absl::Mutex mu;
    std::deque<Entry> buf ABSL_GUARDED_BY(mu);
    // Set by a reshard or Stop: send what is in buf, then exit.
    bool closing ABSL_GUARDED_BY(mu) = false;
    bool exited ABSL_GUARDED_BY(mu) = false;
    std::thread thread;
  };
  enum class Outcome { kSent, kRejected, kStopped };
  // A record read from the durable queue whose samples are not all done.
  struct Pending {
    DurableQueue::Position next;
    int64_t remaining;
    std::vector<tsdb::Labels> series;  // relabeled; referenced by Entries
  };

  void ReadLoop();
  // Replaces the shards by `n` new ones once the old ones have sent all
  // they hold. False when Stop interrupted the wait (the old shards are
  // then left to Stop).
  bool Reshard(int n);
  void StartShards(int n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shards_mu_);
  void ShardLoop(Shard* shard);
  // Recomputes the shard count every shard_update_interval.
  void UpdateLoop();
  void MetadataLoop();
  // Waits up to d; false once Stop began.
  bool Tick(absl::Duration d);
  // False when stopped before the batch was sent or dropped for good.
  bool Send(const std::vector<Entry>& batch, std::string* scratch,
            std::string* compressed);
  bool SendMetadata(const std::vector<MetricMetadata>& md, size_t begin,
                    size_t end);
  // POSTs `body` until it is accepted, rejected for good or a hard stop;
  // `n` items, counted in `retried` for each retry.
  Outcome Deliver(const std::string& body, size_t n, const char* what,
                  metrics::Counter* retried);
  void Complete(const std::vector<Entry>& batch);
  void AddHeaders(std::vector<std::pair<std::string, std::string>>* h) const;
  // Sleeps up to d; false when a hard stop interrupted it.
  bool Backoff(absl::Duration d);

  const Options opts_;
  std::unique_ptr<DurableQueue> queue_;
  const QueueMetrics metrics_;
  bool started_ = false;

  std::thread reader_;
  std::atomic<bool> stop_reading_{false};
  // Replaced only by the reader (Reshard) under shards_mu_; read by the
  // reader without it, and by Stop with it.
  absl::Mutex shards_mu_;
  std::vector<std::unique_ptr<Shard>> shards_;

  ShardScaler scaler_;
  std::atomic<int64_t> highest_received_ms_{INT64_MIN};
  // The count the updater last chose (the running one once the reader
  // resharded); touched only by the updater thread after Start.
  int target_shards_ = 0;
  // A reshard the reader has yet to do (0: none).
  std::atomic<int> reshard_to_{0};
  std::thread updater_;
  std::thread metadata_;
  absl::Mutex tick_mu_;
  bool stop_ticking_ ABSL_GUARDED_BY(tick_mu_) = false;

  absl::Mutex hard_mu_;
  bool hard_stop_ ABSL_GUARDED_BY(hard_mu_) = false;

  absl::Mutex pending_mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(pending_mu_);
  uint64_t pending_base_ ABSL_GUARDED_BY(pending_mu_) = 0;  // seq of front
};

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_QUEUE_MANAGER_H_
