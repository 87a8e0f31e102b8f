#include "server/remote/sender/remote_write_manager.h"

#include <zlib.h>

#include <cstdio>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "net/http_client.h"
#include "server/config/client_options.h"
#include "server/remote/sender/batch.h"

namespace vigil::server::remote::sender {
namespace {

// Everything that changes what or how a queue sends. Secrets are part of
// it (a changed password restarts the queue) but never leave this process.
std::string Fingerprint(const config::RemoteWriteConfig& c,
                        const tsdb::Labels& ext) {
  std::string f = absl::StrCat(c.url, "\n", c.name, "\n",
                               absl::FormatDuration(c.remote_timeout), "\n");
  for (const auto& [k, v] : c.headers) absl::StrAppend(&f, k, "=", v, "\n");
  for (const config::RelabelConfig& r : c.write_relabel_configs) {
    absl::StrAppend(&f, "rl:", absl::StrJoin(r.source_labels, ","), "|",
                    r.separator, "|", r.regex_source, "|", r.modulus, "|",
                    r.target_label, "|", r.replacement, "|",
                    config::RelabelActionName(r.action), "\n");
  }
  const config::QueueConfig& q = c.queue_config;
  absl::StrAppend(
      &f, "q:", q.capacity, ",", q.max_shards, ",", q.min_shards, ",",
      q.max_samples_per_send, ",", absl::FormatDuration(q.batch_send_deadline),
      ",", absl::FormatDuration(q.min_backoff), ",",
      absl::FormatDuration(q.max_backoff), ",", q.retry_on_http_429, "\n");
  const config::MetadataConfig& m = c.metadata_config;
  absl::StrAppend(&f, "md:", m.send, ",", absl::FormatDuration(m.send_interval),
                  ",", m.max_samples_per_send, "\n");
  if (c.basic_auth.has_value()) {
    absl::StrAppend(&f, "ba:", c.basic_auth->username, ":",
                    c.basic_auth->password, ":", c.basic_auth->password_file,
                    "\n");
  }
  if (c.authorization.has_value()) {
    absl::StrAppend(&f, "az:", c.authorization->type, ":",
                    c.authorization->credentials, ":",
                    c.authorization->credentials_file, "\n");
  }
  absl::StrAppend(&f, "tls:", c.tls_config.ca_file, ":", c.tls_config.cert_file,
                  ":", c.tls_config.key_file, ":", c.tls_config.server_name,
                  ":", c.tls_config.insecure_skip_verify, "\n");
  absl::StrAppend(&f, "bt:", c.bearer_token, ":", c.bearer_token_file, "\n",
                  "ext:", ext.ToString());
  return f;
}

// Remote names become directory names: keep them to a safe alphabet.
std::string SafeName(const std::string& name) {
  std::string out;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
    out.push_back(ok ? ch : '_');
  }
  if (out.empty() || out == "." || out == "..") out = absl::StrCat("_", out);
  return out;
}

class ForwardingAppender : public tsdb::Appender {
 public:
  ForwardingAppender(std::unique_ptr<tsdb::Appender> inner,
                     RemoteWriteManager* manager)
      : inner_(std::move(inner)), manager_(manager) {}

  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef ref,
                                         const tsdb::Labels& labels, int64_t t,
                                         double v) override {
    absl::StatusOr<tsdb::SeriesRef> r = inner_->Append(ref, labels, t, v);
    // Callers in this code base always pass the labels along with a ref;
    // a bare ref cannot be resolved here and is not forwarded.
    if (r.ok() && !labels.empty()) enc_.Add(*r, labels, t, v);
    return r;
  }

  absl::Status Commit() override {
    absl::Status s = inner_->Commit();
    if (s.ok() && !enc_.empty()) {
      int64_t n = enc_.num_samples();
      int64_t max_t = enc_.max_timestamp();
      manager_->Forward(enc_.Finish(), n, max_t);
    }
    return s;
  }

  void Rollback() override { inner_->Rollback(); }

 private:
  std::unique_ptr<tsdb::Appender> inner_;
  RemoteWriteManager* const manager_;
  BatchEncoder enc_;
};

}  // namespace

RemoteWriteManager::RemoteWriteManager(tsdb::Appendable* storage,
                                       Options options)
    : storage_(storage), options_(std::move(options)) {
  registry_ = options_.registry;
  if (registry_ == nullptr) {
    own_registry_ = std::make_unique<metrics::Registry>();
    registry_ = own_registry_.get();
  }
  const std::vector<std::string> l = {"remote_name", "url"};
  sent_ = registry_->NewCounter("vigil_remote_storage_samples_total",
                                "Samples sent to remote storage.", l);
  failed_ = registry_->NewCounter(
      "vigil_remote_storage_samples_failed_total",
      "Samples the remote storage rejected with a non-retryable error.", l);
  retried_ = registry_->NewCounter(
      "vigil_remote_storage_samples_retried_total",
      "Samples whose send failed with a retryable error and was retried.", l);
  dropped_ = registry_->NewCounter(
      "vigil_remote_storage_samples_dropped_total",
      "Samples dropped by write_relabel_configs or because the queue was "
      "full.",
      l);
  bytes_ = registry_->NewCounter(
      "vigil_remote_storage_bytes_total",
      "Compressed request bytes sent to remote storage.", l);
  pending_ = registry_->NewGauge(
      "vigil_remote_storage_samples_pending",
      "Samples read from the queue and held by shards, not yet sent.", l);
  highest_sent_ = registry_->NewGauge(
      "vigil_remote_storage_queue_highest_sent_timestamp_seconds",
      "Timestamp of the newest sample successfully sent.", l);
  shards_ = registry_->NewGauge("vigil_remote_storage_shards",
                                "Shards sending in parallel.", l);
  queue_bytes_ = registry_->NewGauge(
      "vigil_remote_storage_queue_bytes",
      "Bytes queued (on disk or in memory) and not yet sent.", l);
  shards_desired_ = registry_->NewGauge(
      "vigil_remote_storage_shards_desired",
      "Shards the sending rate calls for (unrounded, before damping and "
      "min/max).",
      l);
  shards_min_ = registry_->NewGauge("vigil_remote_storage_shards_min",
                                    "queue_config.min_shards.", l);
  shards_max_ = registry_->NewGauge("vigil_remote_storage_shards_max",
                                    "queue_config.max_shards.", l);
  metadata_sent_ = registry_->NewCounter(
      "vigil_remote_storage_metadata_total",
      "Metric metadata entries sent to remote storage.", l);
  metadata_failed_ = registry_->NewCounter(
      "vigil_remote_storage_metadata_failed_total",
      "Metadata entries the remote storage rejected with a non-retryable "
      "error.",
      l);
  metadata_retried_ = registry_->NewCounter(
      "vigil_remote_storage_metadata_retried_total",
      "Metadata entries whose send failed with a retryable error.", l);
  metadata_bytes_ = registry_->NewCounter(
      "vigil_remote_storage_metadata_bytes_total",
      "Compressed metadata request bytes sent to remote storage.", l);
  highest_ts_ = registry_
                    ->NewGauge(
                        "vigil_remote_storage_highest_timestamp_in_"
                        "seconds",
                        "Timestamp of the newest sample committed to "
                        "storage and queued for remote write.")
                    ->WithLabels({});
}

RemoteWriteManager::~RemoteWriteManager() {
  Stop();
  absl::MutexLock l(&mu_);
  queues_.clear();
}

QueueMetrics RemoteWriteManager::MetricsFor(const std::string& name,
                                            const std::string& url) {
  const std::vector<std::string> v = {name, url};
  QueueMetrics m;
  m.samples_sent = sent_->WithLabels(v);
  m.samples_failed = failed_->WithLabels(v);
  m.samples_retried = retried_->WithLabels(v);
  m.samples_dropped = dropped_->WithLabels(v);
  m.bytes_sent = bytes_->WithLabels(v);
  m.samples_pending = pending_->WithLabels(v);
  m.highest_sent = highest_sent_->WithLabels(v);
  m.shards = shards_->WithLabels(v);
  m.queue_bytes = queue_bytes_->WithLabels(v);
  m.shards_desired = shards_desired_->WithLabels(v);
  m.shards_min = shards_min_->WithLabels(v);
  m.shards_max = shards_max_->WithLabels(v);
  m.metadata_sent = metadata_sent_->WithLabels(v);
  m.metadata_failed = metadata_failed_->WithLabels(v);
  m.metadata_retried = metadata_retried_->WithLabels(v);
  m.metadata_bytes = metadata_bytes_->WithLabels(v);
  return m;
}

absl::Status RemoteWriteManager::ApplyConfig(const config::Config& config) {
  return ApplyConfigs(config.remote_write, config.global.external_labels);
}

absl::Status RemoteWriteManager::ApplyConfigs(
    const std::vector<config::RemoteWriteConfig>& rws,
    const tsdb::Labels& external_labels) {
  absl::MutexLock l(&mu_);
  std::vector<Queue> old = std::move(queues_);
  queues_.clear();
  absl::Status first_error;
  absl::flat_hash_set<std::string> used;
  for (const config::RemoteWriteConfig& rw : rws) {
    // Prometheus names unnamed queues by a hash; a hash of the URL alone
    // keeps the on-disk queue across changes of the other settings.
    std::string name = rw.name;
    if (name.empty()) {
      name = absl::StrFormat(
          "%08x", crc32(0, reinterpret_cast<const Bytef*>(rw.url.data()),
                        static_cast<uInt>(rw.url.size())));
    }
    std::string base = name;
    for (int i = 1; !used.insert(name).second; ++i) {
      name = absl::StrCat(base, "-", i);
    }
    const std::string fp = Fingerprint(rw, external_labels);
    std::unique_ptr<DurableQueue> dq;
    auto it = std::find_if(old.begin(), old.end(),
                           [&](const Queue& q) { return q.name == name; });
    if (it != old.end() && it->fingerprint == fp) {
      queues_.push_back(std::move(*it));
      old.erase(it);
      continue;
    }
    // The client carries the destination's TLS settings and auth; a bad
    // CA or key file fails this destination only.
    std::unique_ptr<Poster> own_poster;
    if (options_.poster == nullptr) {
      net::ClientOptions co = config::ClientOptionsFromConfig(rw);
      co.user_agent = options_.user_agent;
      absl::StatusOr<std::shared_ptr<net::HttpClient>> client =
          net::HttpClient::Create(co);
      if (!client.ok()) {
        if (first_error.ok()) {
          first_error = absl::Status(client.status().code(),
                                     absl::StrCat("remote_write ", rw.url, ": ",
                                                  client.status().message()));
        }
        if (it != old.end()) {  // keep the running one
          queues_.push_back(std::move(*it));
          old.erase(it);
        }
        continue;
      }
      own_poster = NewHttpPoster(*std::move(client));
    }
    if (it != old.end()) {
      // Changed: restart on the same queue so nothing queued is lost.
      it->manager->Stop(options_.flush_deadline);
      dq = it->manager->ReleaseQueue();
      old.erase(it);
    } else {
      DurableQueue::Options qo;
      if (!options_.data_dir.empty()) {
        qo.dir =
            absl::StrCat(options_.data_dir, "/remote_write/", SafeName(name));
      }
      qo.max_bytes = options_.max_queue_bytes;
      qo.segment_bytes = options_.segment_bytes;
      absl::StatusOr<std::unique_ptr<DurableQueue>> q = DurableQueue::Open(qo);
      if (!q.ok()) {
        if (first_error.ok()) {
          first_error = absl::Status(q.status().code(),
                                     absl::StrCat("remote_write ", rw.url, ": ",
                                                  q.status().message()));
        }
        continue;
      }
      dq = std::move(*q);
    }
    QueueManager::Options o;
    o.config = rw;
    o.external_labels = external_labels;
    o.name = name;
    o.poster = own_poster != nullptr ? own_poster.get() : options_.poster;
    o.user_agent = options_.user_agent;
    o.shard_update_interval = options_.shard_update_interval;
    o.metadata_source = options_.metadata_source;
    auto m = std::make_unique<QueueManager>(std::move(o), std::move(dq),
                                            MetricsFor(name, rw.url));
    if (started_) m->Start();
    queues_.push_back(Queue{name, fp, std::move(own_poster), std::move(m)});
  }
  for (Queue& q : old) q.manager->Stop(options_.flush_deadline);
  active_ = !queues_.empty();
  return first_error;
}

void RemoteWriteManager::Start() {
  absl::MutexLock l(&mu_);
  started_ = true;
  for (Queue& q : queues_) q.manager->Start();
}

void RemoteWriteManager::Stop() {
  absl::MutexLock l(&mu_);
  if (!started_) return;
  started_ = false;
  for (Queue& q : queues_) q.manager->Stop(options_.flush_deadline);
  for (Queue& q : queues_) {
    // Stopped managers keep accepting records (queued for the next Start).
    std::unique_ptr<DurableQueue> dq = q.manager->ReleaseQueue();
    QueueManager::Options o = q.manager->options();
    q.manager = std::make_unique<QueueManager>(std::move(o), std::move(dq),
                                               q.manager->metrics());
  }
}

std::unique_ptr<tsdb::Appender> RemoteWriteManager::NewAppender() {
  std::unique_ptr<tsdb::Appender> inner = storage_->NewAppender();
  if (!active_.load(std::memory_order_relaxed)) return inner;
  return std::make_unique<ForwardingAppender>(std::move(inner), this);
}

void RemoteWriteManager::Forward(absl::string_view record, int64_t num_samples,
                                 int64_t max_timestamp) {
  double ts = static_cast<double>(max_timestamp) / 1000.0;
  if (ts > highest_ts_->Value()) highest_ts_->Set(ts);
  absl::ReaderMutexLock l(&mu_);
  for (Queue& q : queues_)
    q.manager->Enqueue(record, num_samples, max_timestamp);
}

std::vector<std::string> RemoteWriteManager::QueueNames() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<std::string> out;
  for (const Queue& q : queues_) out.push_back(q.name);
  return out;
}

std::optional<QueueMetrics> RemoteWriteManager::Metrics(
    const std::string& remote_name) const {
  absl::ReaderMutexLock l(&mu_);
  for (const Queue& q : queues_) {
    if (q.name == remote_name) return q.manager->metrics();
  }
  return std::nullopt;
}

}  // namespace vigil::server::remote::sender
