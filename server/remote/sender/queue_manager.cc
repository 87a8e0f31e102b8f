#include "server/remote/sender/queue_manager.h"

#include <snappy.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/config/relabel.h"
#include "server/remote/remote.pb.h"

namespace vigil::server::remote::sender {
namespace {

// Reads a secret file for each request, as Prometheus does, so rotated
// credentials are picked up without a reload.
std::string ReadSecret(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripTrailingAsciiWhitespace(ss.str()));
}

bool Retryable(const absl::StatusOr<PostResponse>& r, bool retry_on_429) {
  if (!r.ok()) {
    return r.status().code() != absl::StatusCode::kUnimplemented &&
           r.status().code() != absl::StatusCode::kInvalidArgument;
  }
  return r->status >= 500 || (r->status == 429 && retry_on_429);
}

ShardScaler::Options ScalerOptions(const QueueManager::Options& o) {
  ShardScaler::Options so;
  so.min_shards = o.config.queue_config.min_shards;
  so.max_shards = o.config.queue_config.max_shards;
  so.batch_send_deadline = o.config.queue_config.batch_send_deadline;
  so.update_interval = o.shard_update_interval;
  return so;
}

remote::MetricMetadata::MetricType ProtoType(tsdb::textparse::MetricType t) {
  using T = tsdb::textparse::MetricType;
  switch (t) {
    case T::kCounter:
      return remote::MetricMetadata::COUNTER;
    case T::kGauge:
      return remote::MetricMetadata::GAUGE;
    case T::kHistogram:
      return remote::MetricMetadata::HISTOGRAM;
    case T::kGaugeHistogram:
      return remote::MetricMetadata::GAUGEHISTOGRAM;
    case T::kSummary:
      return remote::MetricMetadata::SUMMARY;
    case T::kInfo:
      return remote::MetricMetadata::INFO;
    case T::kStateset:
      return remote::MetricMetadata::STATESET;
    case T::kUnknown:
      break;
  }
  return remote::MetricMetadata::UNKNOWN;
}

}  // namespace

QueueManager::QueueManager(Options opts, std::unique_ptr<DurableQueue> queue,
                           QueueMetrics metrics)
    : opts_(std::move(opts)),
      queue_(std::move(queue)),
      metrics_(metrics),
      scaler_(ScalerOptions(opts_)) {}

QueueManager::~QueueManager() {
  if (started_) Stop(absl::ZeroDuration());
}

void QueueManager::Start() {
  if (started_) return;
  started_ = true;
  stop_reading_ = false;
  {
    absl::MutexLock l(&hard_mu_);
    hard_stop_ = false;
  }
  {
    absl::MutexLock l(&tick_mu_);
    stop_ticking_ = false;
  }
  const config::QueueConfig& qc = opts_.config.queue_config;
  // Prometheus starts at min_shards (clamped to max_shards here, where a
  // min above the max would otherwise be unreachable).
  const int hi = std::max(1, qc.max_shards);
  const int n = std::min(std::max(1, qc.min_shards), hi);
  metrics_.shards_min->Set(qc.min_shards);
  metrics_.shards_max->Set(qc.max_shards);
  metrics_.shards_desired->Set(n);
  target_shards_ = n;
  reshard_to_ = 0;
  {
    absl::MutexLock l(&shards_mu_);
    StartShards(n);
  }
  reader_ = std::thread([this] { ReadLoop(); });
  if (hi > 1) updater_ = std::thread([this] { UpdateLoop(); });
  const config::MetadataConfig& mc = opts_.config.metadata_config;
  if (mc.send && opts_.metadata_source &&
      mc.send_interval > absl::ZeroDuration()) {
    metadata_ = std::thread([this] { MetadataLoop(); });
  }
}

void QueueManager::StartShards(int n) {
  shards_.clear();
  for (int i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
  for (auto& s : shards_) {
    Shard* sp = s.get();
    sp->thread = std::thread([this, sp] { ShardLoop(sp); });
  }
  metrics_.shards->Set(n);
}

void QueueManager::Stop(absl::Duration flush) {
  if (!started_) return;
  started_ = false;
  {
    absl::MutexLock l(&tick_mu_);
    stop_ticking_ = true;
  }
  if (updater_.joinable()) updater_.join();
  stop_reading_ = true;
  queue_->Close();
  {
    // Lock/unlock re-evaluates the conditions of a reader waiting for room
    // in a shard, which read stop_reading_.
    absl::MutexLock l(&shards_mu_);
    for (auto& s : shards_) absl::MutexLock sl(&s->mu);
  }
  reader_.join();
  // The reader is gone: shards_ is ours now.
  for (auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    s->closing = true;
  }
  const absl::Time deadline = absl::Now() + flush;
  for (auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    s->mu.AwaitWithDeadline(
        absl::Condition(
            +[](std::deque<Entry>* b) { return b->empty(); }, &s->buf),
        deadline);
  }
  {
    absl::MutexLock l(&hard_mu_);
    hard_stop_ = true;
  }
  for (auto& s : shards_) s->thread.join();
  if (metadata_.joinable()) metadata_.join();
  {
    absl::MutexLock l(&shards_mu_);
    shards_.clear();
  }
  {
    absl::MutexLock l(&pending_mu_);
    int64_t left = 0;
    for (const Pending& p : pending_) left += p.remaining;
    metrics_.samples_pending->Add(-static_cast<double>(left));
    pending_base_ += pending_.size();
    pending_.clear();
  }
  absl::Status s = queue_->Flush();
  if (!s.ok()) {
    std::fprintf(stderr, "remote write %s: %s\n", opts_.name.c_str(),
                 std::string(s.message()).c_str());
  }
}

std::unique_ptr<DurableQueue> QueueManager::ReleaseQueue() {
  if (queue_ != nullptr) queue_->Rewind();
  return std::move(queue_);
}

void QueueManager::Enqueue(absl::string_view record, int64_t num_samples,
                           int64_t max_timestamp) {
  absl::Status s = queue_->Append(record);
  if (!s.ok()) {
    metrics_.samples_dropped->Inc(static_cast<double>(num_samples));
    // One line per drop would flood the log during a long outage.
    static std::atomic<int64_t> last_log{0};
    int64_t now = absl::ToUnixSeconds(absl::Now());
    if (last_log.exchange(now) != now) {
      std::fprintf(stderr, "remote write %s: dropping %lld samples: %s\n",
                   opts_.name.c_str(), static_cast<long long>(num_samples),
                   std::string(s.message()).c_str());
    }
  } else {
    scaler_.SamplesIn(num_samples);
    int64_t prev = highest_received_ms_.load(std::memory_order_relaxed);
    while (max_timestamp > prev &&
           !highest_received_ms_.compare_exchange_weak(prev, max_timestamp)) {
    }
  }
  metrics_.queue_bytes->Set(static_cast<double>(queue_->bytes()));
}

bool QueueManager::Tick(absl::Duration d) {
  absl::MutexLock l(&tick_mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_) {
    return stop_ticking_;
  };
  tick_mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
  return !stop_ticking_;
}

void QueueManager::UpdateLoop() {
  while (Tick(opts_.shard_update_interval)) {
    const int64_t recv_ms = highest_received_ms_.load();
    const double recv =
        recv_ms == INT64_MIN ? 0 : static_cast<double>(recv_ms) / 1000.0;
    ShardScaler::Decision d = scaler_.Update(
        target_shards_, recv, metrics_.highest_sent->Value(), absl::Now());
    metrics_.shards_desired->Set(d.desired);
    if (d.skipped_not_sending) {
      std::fprintf(stderr,
                   "remote write %s: skipping resharding (wanted %.2f "
                   "shards): no send finished within 2 x "
                   "batch_send_deadline\n",
                   opts_.name.c_str(), d.desired);
    }
    if (!d.reshard) continue;
    int expected = 0;
    if (!reshard_to_.compare_exchange_strong(expected, d.shards)) {
      std::fprintf(stderr, "remote write %s: currently resharding, skipping\n",
                   opts_.name.c_str());
      continue;
    }
    std::fprintf(stderr,
                 "remote write %s: resharding from %d to %d shards (desired "
                 "%.2f)\n",
                 opts_.name.c_str(), target_shards_, d.shards, d.desired);
    target_shards_ = d.shards;
  }
}

bool QueueManager::Reshard(int n) {
  {
    absl::MutexLock l(&shards_mu_);
    for (auto& s : shards_) {
      absl::MutexLock sl(&s->mu);
      s->closing = true;
    }
  }
  // The old shards send everything they hold, however long it takes; the
  // new ones must not start before, or a series could overtake itself.
  for (auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    auto exited = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
      return s->exited;
    };
    while (!s->mu.AwaitWithTimeout(absl::Condition(&exited),
                                   absl::Milliseconds(100))) {
      if (stop_reading_) return false;
    }
  }
  absl::MutexLock l(&shards_mu_);
  for (auto& s : shards_) s->thread.join();
  StartShards(n);
  return true;
}

void QueueManager::ReadLoop() {
  const config::RemoteWriteConfig& cfg = opts_.config;
  const size_t capacity =
      static_cast<size_t>(std::max(1, cfg.queue_config.capacity));
  const bool rewrite =
      !opts_.external_labels.empty() || !cfg.write_relabel_configs.empty();
  std::string record;
  DurableQueue::Position next;
  tsdb::LabelsBuilder lb;
  std::vector<uint64_t> hashes;
  std::vector<bool> keep;
  while (!stop_reading_) {
    if (int n = reshard_to_.load(); n > 0) {
      if (static_cast<size_t>(n) != shards_.size() && !Reshard(n)) return;
      reshard_to_ = 0;
    }
    if (!queue_->Read(&record, &next, absl::Milliseconds(200))) continue;
    metrics_.queue_bytes->Set(static_cast<double>(queue_->bytes()));
    absl::StatusOr<DecodedBatch> b = DecodeBatch(record);
    Pending p;
    p.next = next;
    p.remaining = 0;
    if (!b.ok()) {
      std::fprintf(stderr, "remote write %s: skipping record: %s\n",
                   opts_.name.c_str(),
                   std::string(b.status().message()).c_str());
    } else {
      p.series = std::move(b->series);
      keep.assign(p.series.size(), true);
      hashes.resize(p.series.size());
      for (size_t i = 0; i < p.series.size(); ++i) {
        if (rewrite) {
          lb.Reset(p.series[i]);
          for (const tsdb::Label& l : opts_.external_labels) {
            if (!p.series[i].Has(l.name)) lb.Set(l.name, l.value);
          }
          keep[i] = config::Relabel(cfg.write_relabel_configs, &lb);
          if (keep[i]) p.series[i] = lb.Build();
          if (p.series[i].empty()) keep[i] = false;
        }
        hashes[i] = p.series[i].Hash();
      }
      int64_t dropped = 0;
      for (const BatchSample& s : b->samples) {
        if (keep[s.series]) {
          ++p.remaining;
        } else {
          ++dropped;
        }
      }
      if (dropped > 0) {
        metrics_.samples_dropped->Inc(static_cast<double>(dropped));
        scaler_.SamplesDropped(dropped);
      }
    }
    uint64_t seq;
    const int64_t total = p.remaining;
    const std::vector<tsdb::Labels>* series;
    {
      absl::MutexLock l(&pending_mu_);
      seq = pending_base_ + pending_.size();
      pending_.push_back(std::move(p));
      series = &pending_.back().series;
    }
    if (total == 0) {
      Complete({});  // advances the position past an empty record
      continue;
    }
    metrics_.samples_pending->Add(static_cast<double>(total));
    const size_t n = shards_.size();
    for (const BatchSample& s : b->samples) {
      if (!keep[s.series]) continue;
      Shard* sh = shards_[hashes[s.series] % n].get();
      absl::MutexLock l(&sh->mu);
      auto has_room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sh->mu) {
        return sh->buf.size() < capacity || stop_reading_.load();
      };
      sh->mu.Await(absl::Condition(&has_room));
      if (stop_reading_) break;
      sh->buf.push_back({&(*series)[s.series], s.t, s.v, seq});
    }
  }
}

void QueueManager::ShardLoop(Shard* shard) {
  const config::QueueConfig& qc = opts_.config.queue_config;
  const size_t max = static_cast<size_t>(std::max(1, qc.max_samples_per_send));
  std::vector<Entry> batch;
  std::string scratch, compressed;
  batch.reserve(max);
  auto exit = [shard] {
    absl::MutexLock l(&shard->mu);
    shard->exited = true;
  };
  while (true) {
    batch.clear();
    {
      absl::MutexLock l(&shard->mu);
      auto any = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->mu) {
        return !shard->buf.empty() || shard->closing;
      };
      shard->mu.Await(absl::Condition(&any));
      if (shard->buf.empty()) {  // closing and nothing left
        shard->exited = true;
        return;
      }
      auto full = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->mu) {
        return shard->buf.size() >= max || shard->closing;
      };
      shard->mu.AwaitWithDeadline(absl::Condition(&full),
                                  absl::Now() + qc.batch_send_deadline);
      size_t take = std::min(max, shard->buf.size());
      batch.assign(shard->buf.begin(), shard->buf.begin() + take);
      shard->buf.erase(shard->buf.begin(), shard->buf.begin() + take);
    }
    const absl::Time begin = absl::Now();
    if (!Send(batch, &scratch, &compressed)) {  // hard stop
      exit();
      return;
    }
    // Counted whether sent or rejected: the time went into sending either
    // way (Prometheus does the same).
    const absl::Time end = absl::Now();
    scaler_.BatchDone(static_cast<int64_t>(batch.size()), end - begin, end);
    Complete(batch);
  }
}

void QueueManager::MetadataLoop() {
  const config::MetadataConfig& mc = opts_.config.metadata_config;
  const size_t per_send =
      static_cast<size_t>(std::max(1, mc.max_samples_per_send));
  // Prometheus sends after the first interval, not at start (targets have
  // not been scraped yet then).
  while (Tick(mc.send_interval)) {
    std::vector<MetricMetadata> md = opts_.metadata_source();
    // Many targets expose the same families with the same text: send each
    // distinct entry once.
    auto key = [](const MetricMetadata& m) {
      return std::tie(m.metric, m.type, m.help, m.unit);
    };
    std::sort(md.begin(), md.end(),
              [&](const auto& a, const auto& b) { return key(a) < key(b); });
    md.erase(std::unique(md.begin(), md.end(),
                         [&](const auto& a, const auto& b) {
                           return key(a) == key(b);
                         }),
             md.end());
    for (size_t i = 0; i < md.size(); i += per_send) {
      if (!SendMetadata(md, i, std::min(md.size(), i + per_send))) return;
    }
  }
}

bool QueueManager::SendMetadata(const std::vector<MetricMetadata>& md,
                                size_t begin, size_t end) {
  WriteRequest wr;
  for (size_t i = begin; i < end; ++i) {
    remote::MetricMetadata* m = wr.add_metadata();
    m->set_type(ProtoType(md[i].type));
    m->set_metric_family_name(md[i].metric);
    m->set_help(md[i].help);
    m->set_unit(md[i].unit);
  }
  std::string raw, compressed;
  wr.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &compressed);
  const size_t n = end - begin;
  switch (Deliver(compressed, n, "metadata", metrics_.metadata_retried)) {
    case Outcome::kSent:
      metrics_.metadata_sent->Inc(static_cast<double>(n));
      metrics_.metadata_bytes->Inc(static_cast<double>(compressed.size()));
      return true;
    case Outcome::kRejected:
      metrics_.metadata_failed->Inc(static_cast<double>(n));
      return true;
    case Outcome::kStopped:
      break;
  }
  return false;
}

void QueueManager::AddHeaders(
    std::vector<std::pair<std::string, std::string>>* h) const {
  const config::RemoteWriteConfig& c = opts_.config;
  h->emplace_back("Content-Type", "application/x-protobuf");
  h->emplace_back("Content-Encoding", "snappy");
  h->emplace_back("X-Prometheus-Remote-Write-Version", "0.1.0");
  h->emplace_back("User-Agent", opts_.user_agent);
  for (const auto& [k, v] : c.headers) h->emplace_back(k, v);
  if (c.basic_auth.has_value()) {
    std::string pass = c.basic_auth->password;
    if (!c.basic_auth->password_file.empty()) {
      pass = ReadSecret(c.basic_auth->password_file);
    }
    h->emplace_back(
        "Authorization",
        absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(
                                   c.basic_auth->username, ":", pass))));
  } else if (c.authorization.has_value()) {
    std::string cred = c.authorization->credentials;
    if (!c.authorization->credentials_file.empty()) {
      cred = ReadSecret(c.authorization->credentials_file);
    }
    h->emplace_back("Authorization",
                    absl::StrCat(c.authorization->type, " ", cred));
  } else if (!c.bearer_token.empty()) {
    h->emplace_back("Authorization", absl::StrCat("Bearer ", c.bearer_token));
  } else if (!c.bearer_token_file.empty()) {
    h->emplace_back("Authorization",
                    absl::StrCat("Bearer ", ReadSecret(c.bearer_token_file)));
  }
}

bool QueueManager::Send(const std::vector<Entry>& batch, std::string* scratch,
                        std::string* compressed) {
  WriteRequest wr;
  // One TimeSeries per series in the batch, samples in arrival order.
  absl::flat_hash_map<const tsdb::Labels*, TimeSeries*> by_series;
  int64_t max_t = INT64_MIN;
  for (const Entry& e : batch) {
    TimeSeries*& ts = by_series[e.labels];
    if (ts == nullptr) {
      ts = wr.add_timeseries();
      for (const tsdb::Label& l : *e.labels) {
        Label* pl = ts->add_labels();
        pl->set_name(l.name);
        pl->set_value(l.value);
      }
    }
    Sample* s = ts->add_samples();
    s->set_timestamp(e.t);
    s->set_value(e.v);
    max_t = std::max(max_t, e.t);
  }
  scratch->clear();
  wr.SerializeToString(scratch);
  compressed->clear();
  snappy::Compress(scratch->data(), scratch->size(), compressed);
  switch (
      Deliver(*compressed, batch.size(), "samples", metrics_.samples_retried)) {
    case Outcome::kSent: {
      metrics_.samples_sent->Inc(static_cast<double>(batch.size()));
      metrics_.bytes_sent->Inc(static_cast<double>(compressed->size()));
      double ts = static_cast<double>(max_t) / 1000.0;
      if (ts > metrics_.highest_sent->Value()) metrics_.highest_sent->Set(ts);
      return true;
    }
    case Outcome::kRejected:
      metrics_.samples_failed->Inc(static_cast<double>(batch.size()));
      return true;
    case Outcome::kStopped:
      break;
  }
  return false;
}

QueueManager::Outcome QueueManager::Deliver(const std::string& body, size_t n,
                                            const char* what,
                                            metrics::Counter* retried) {
  const config::RemoteWriteConfig& cfg = opts_.config;
  PostRequest req;
  req.url = cfg.url;
  req.body = body;
  absl::Duration backoff = cfg.queue_config.min_backoff;
  while (true) {
    req.headers.clear();
    AddHeaders(&req.headers);
    absl::StatusOr<PostResponse> r =
        opts_.poster->Post(req, cfg.remote_timeout);
    if (r.ok() && r->status / 100 == 2) return Outcome::kSent;
    std::string why =
        r.ok() ? absl::StrCat(
                     "HTTP ", r->status, ": ",
                     absl::StripTrailingAsciiWhitespace(r->body.substr(0, 256)))
               : std::string(r.status().message());
    if (!Retryable(r, cfg.queue_config.retry_on_http_429)) {
      std::fprintf(stderr,
                   "remote write %s: %s rejected %zu %s (not retried): %s\n",
                   opts_.name.c_str(), cfg.url.c_str(), n, what, why.c_str());
      return Outcome::kRejected;
    }
    retried->Inc(static_cast<double>(n));
    static std::atomic<int64_t> last_log{0};
    int64_t now = absl::ToUnixSeconds(absl::Now());
    if (last_log.exchange(now) != now) {
      std::fprintf(stderr,
                   "remote write %s: sending %s to %s failed, retrying: %s\n",
                   opts_.name.c_str(), what, cfg.url.c_str(), why.c_str());
    }
    if (!Backoff(backoff)) return Outcome::kStopped;
    backoff = std::min(backoff * 2, cfg.queue_config.max_backoff);
  }
}

bool QueueManager::Backoff(absl::Duration d) {
  absl::MutexLock l(&hard_mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(hard_mu_) {
    return hard_stop_;
  };
  hard_mu_.AwaitWithTimeout(absl::Condition(&stopped), d);
  return !hard_stop_;
}

void QueueManager::Complete(const std::vector<Entry>& batch) {
  // Batches hold runs of few records: count per record first, then take the
  // lock once.
  std::vector<std::pair<uint64_t, int64_t>> per_seq;
  for (const Entry& e : batch) {
    if (!per_seq.empty() && per_seq.back().first == e.seq) {
      ++per_seq.back().second;
      continue;
    }
    auto it = std::find_if(per_seq.begin(), per_seq.end(),
                           [&](const auto& p) { return p.first == e.seq; });
    if (it != per_seq.end()) {
      ++it->second;
    } else {
      per_seq.emplace_back(e.seq, 1);
    }
  }
  metrics_.samples_pending->Add(-static_cast<double>(batch.size()));
  bool advanced = false;
  DurableQueue::Position pos;
  {
    absl::MutexLock l(&pending_mu_);
    for (const auto& [seq, count] : per_seq) {
      if (seq < pending_base_) continue;  // cleared by Stop
      pending_[seq - pending_base_].remaining -= count;
    }
    while (!pending_.empty() && pending_.front().remaining <= 0) {
      pos = pending_.front().next;
      advanced = true;
      pending_.pop_front();
      ++pending_base_;
    }
  }
  if (advanced) {
    absl::Status s = queue_->Ack(pos);
    if (!s.ok()) {
      std::fprintf(stderr, "remote write %s: %s\n", opts_.name.c_str(),
                   std::string(s.message()).c_str());
    }
    metrics_.queue_bytes->Set(static_cast<double>(queue_->bytes()));
  }
}

}  // namespace vigil::server::remote::sender
