#include "server/remote/sender/queue_manager.h"

#include <snappy.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
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

}  // namespace

QueueManager::QueueManager(Options opts, std::unique_ptr<DurableQueue> queue,
                           QueueMetrics metrics)
    : opts_(std::move(opts)), queue_(std::move(queue)), metrics_(metrics) {}

QueueManager::~QueueManager() {
  if (started_) Stop(absl::ZeroDuration());
}

void QueueManager::Start() {
  if (started_) return;
  started_ = true;
  stop_reading_ = false;
  stop_shards_ = false;
  {
    absl::MutexLock l(&hard_mu_);
    hard_stop_ = false;
  }
  const config::QueueConfig& qc = opts_.config.queue_config;
  // A fixed shard count: min_shards (Prometheus starts there too and
  // scales up under backlog; that scaling is not implemented yet).
  int n = std::max(1, std::min(qc.min_shards, qc.max_shards));
  metrics_.shards->Set(n);
  for (int i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
  for (auto& s : shards_) {
    Shard* sp = s.get();
    sp->thread = std::thread([this, sp] { ShardLoop(sp); });
  }
  reader_ = std::thread([this] { ReadLoop(); });
}

void QueueManager::Stop(absl::Duration flush) {
  if (!started_) return;
  started_ = false;
  stop_reading_ = true;
  queue_->Close();
  // Lock/unlock re-evaluates the conditions of threads waiting on a shard,
  // which read the stop flags.
  for (auto& s : shards_) absl::MutexLock l(&s->mu);
  reader_.join();
  stop_shards_ = true;
  for (auto& s : shards_) absl::MutexLock l(&s->mu);
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
  shards_.clear();
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

void QueueManager::Enqueue(absl::string_view record, int64_t num_samples) {
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
  }
  metrics_.queue_bytes->Set(static_cast<double>(queue_->bytes()));
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
      if (dropped > 0)
        metrics_.samples_dropped->Inc(static_cast<double>(dropped));
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
  while (true) {
    batch.clear();
    {
      absl::MutexLock l(&shard->mu);
      auto any = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->mu) {
        return !shard->buf.empty() || stop_shards_.load();
      };
      // Polls stop_shards_ (an atomic the condition cannot be woken by).
      while (!shard->mu.AwaitWithTimeout(absl::Condition(&any),
                                         absl::Milliseconds(100))) {
      }
      if (shard->buf.empty()) return;  // stopping and nothing left
      auto full = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->mu) {
        return shard->buf.size() >= max || stop_shards_.load();
      };
      const absl::Time deadline = absl::Now() + qc.batch_send_deadline;
      while (!shard->mu.AwaitWithDeadline(
          absl::Condition(&full),
          std::min(deadline, absl::Now() + absl::Milliseconds(100)))) {
        if (absl::Now() >= deadline) break;
      }
      size_t take = std::min(max, shard->buf.size());
      batch.assign(shard->buf.begin(), shard->buf.begin() + take);
      shard->buf.erase(shard->buf.begin(), shard->buf.begin() + take);
    }
    if (!Send(batch, &scratch, &compressed)) return;  // hard stop
    Complete(batch);
  }
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
  const config::RemoteWriteConfig& cfg = opts_.config;
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
  PostRequest req;
  req.url = cfg.url;
  req.body = *compressed;
  const double n = static_cast<double>(batch.size());
  absl::Duration backoff = cfg.queue_config.min_backoff;
  while (true) {
    req.headers.clear();
    AddHeaders(&req.headers);
    absl::StatusOr<PostResponse> r =
        opts_.poster->Post(req, cfg.remote_timeout);
    if (r.ok() && r->status / 100 == 2) {
      metrics_.samples_sent->Inc(n);
      metrics_.bytes_sent->Inc(static_cast<double>(compressed->size()));
      double ts = static_cast<double>(max_t) / 1000.0;
      if (ts > metrics_.highest_sent->Value()) metrics_.highest_sent->Set(ts);
      return true;
    }
    std::string why =
        r.ok() ? absl::StrCat(
                     "HTTP ", r->status, ": ",
                     absl::StripTrailingAsciiWhitespace(r->body.substr(0, 256)))
               : std::string(r.status().message());
    if (!Retryable(r, cfg.queue_config.retry_on_http_429)) {
      metrics_.samples_failed->Inc(n);
      std::fprintf(stderr,
                   "remote write %s: %s rejected %zu samples (not retried): "
                   "%s\n",
                   opts_.name.c_str(), cfg.url.c_str(), batch.size(),
                   why.c_str());
      return true;
    }
    metrics_.samples_retried->Inc(n);
    static std::atomic<int64_t> last_log{0};
    int64_t now = absl::ToUnixSeconds(absl::Now());
    if (last_log.exchange(now) != now) {
      std::fprintf(stderr,
                   "remote write %s: sending to %s failed, retrying: %s\n",
                   opts_.name.c_str(), cfg.url.c_str(), why.c_str());
    }
    if (!Backoff(backoff)) return false;
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
