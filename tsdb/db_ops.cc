// DB operations beyond append and query: recovery, WAL checkpoints,
// retention, deletion, snapshots, statistics and the offline checker.
#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tsdb/chunk_log.h"
#include "tsdb/db.h"
#include "tsdb/store.h"
#include "tsdb/wal.h"
#include "tsdb/wal_record.h"

namespace vigil::tsdb {
namespace {

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();
constexpr size_t kPersistBatch = 4096;

// Prefetches the cache lines of `s` that appending a sample touches (no
// read: the lock is not held).
void PrefetchSeries(const MemSeries* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // (&s->mu and &s->max_time would read the series: they are references
  // into its slot, which replay reaches in ref order anyway.)
  __builtin_prefetch(s, 1);
  __builtin_prefetch(&s->open, 1);
}

ChunkPtr SnapshotOpen(const MemSeries& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return ChunkOf(s.open);
}

void AppendTopN(std::vector<TsdbStatus::Entry>* out,
                absl::flat_hash_map<std::string, int64_t> counts, int n) {
  for (auto& [k, v] : counts) out->push_back({k, v});
  std::sort(out->begin(), out->end(),
            [](const TsdbStatus::Entry& a, const TsdbStatus::Entry& b) {
              if (a.value != b.value) return a.value > b.value;
              return a.name < b.name;
            });
  if (n >= 0 && out->size() > static_cast<size_t>(n)) out->resize(n);
}

// Refuses chunks whose header fields disagree with their samples.
absl::Status CheckImportChunk(const ChunkData& chunk) {
  if (ChunkRangeStart(chunk.min_time) != ChunkRangeStart(chunk.max_time)) {
    return absl::InvalidArgumentError(
        absl::StrCat("imported chunk [", chunk.min_time, ", ", chunk.max_time,
                     "] spans a chunk range boundary"));
  }
  std::vector<Sample> samples;
  int64_t last = kMinT;
  absl::Status d = DecodeChunk(chunk, kMinT, kMaxT, &last, &samples);
  if (!d.ok()) return absl::InvalidArgumentError(d.message());
  if (samples.size() != static_cast<size_t>(chunk.num_samples) ||
      samples.empty() || samples.front().t != chunk.min_time ||
      samples.back().t != chunk.max_time) {
    return absl::InvalidArgumentError(absl::StrCat(
        "imported chunk header [", chunk.min_time, ", ", chunk.max_time,
        "] n=", chunk.num_samples, " disagrees with its samples"));
  }
  return absl::OkStatus();
}

// ValidateSeriesLabels's checks on stored label views.
absl::Status ValidateStoredLabels(const LabelView* labels, size_t n) {
  if (n == 0) return absl::InvalidArgumentError("empty label set");
  bool has_name = false;
  for (size_t i = 0; i < n; ++i) {
    const absl::string_view name = labels[i].first;
    const absl::string_view value = labels[i].second;
    if (i > 0 && !(labels[i - 1].first < name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate or unsorted label name \"", name, "\""));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty value for label \"", name, "\""));
    }
    if (name == kMetricName) {
      if (!IsValidMetricName(value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid metric name \"", value, "\""));
      }
      has_name = true;
    } else if (!IsValidLabelName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid label name \"", name, "\""));
    }
  }
  if (!has_name) return absl::InvalidArgumentError("missing metric name");
  return absl::OkStatus();
}

// A batch of stored series that owns its label bytes, so the thread that
// scanned it can go on while another builds the head from it.
struct OwnedSeriesBatch {
  std::string arena;
  std::vector<LabelView> views;
  std::vector<StoredSeries> series;
};

// Hands series batches from the scanning thread to the building thread.
// Bounded, so a slow builder does not let the scanner buffer the whole
// series family in memory.
class SeriesBatchQueue {
 public:
  // Copies `batch`; false when the consumer has gone (never, today).
  bool Push(absl::Span<const StoredSeries> batch) {
    std::unique_ptr<OwnedSeriesBatch> b;
    {
      // A batch the builder is done with: its buffers are reused (fresh
      // ones of this size come from mmap, and page faults on them and the
      // munmap were ~5% of a 1M-series reopen).
      absl::MutexLock l(&mu_);
      if (!free_.empty()) {
        b = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (b == nullptr) b = std::make_unique<OwnedSeriesBatch>();
    size_t bytes = 0, labels = 0;
    for (const StoredSeries& ss : batch) {
      labels += ss.num_labels;
      for (size_t i = 0; i < ss.num_labels; ++i) {
        bytes += ss.labels[i].first.size() + ss.labels[i].second.size();
      }
    }
    b->arena.clear();
    b->arena.reserve(bytes);
    b->views.clear();
    b->views.reserve(labels);
    b->series.assign(batch.begin(), batch.end());
    // The arena has its final capacity, so views into it stay valid while
    // it is filled.
    const char* base = b->arena.data();
    auto copy = [&](absl::string_view s) {
      const size_t off = b->arena.size();
      b->arena.append(s.data(), s.size());
      return absl::string_view(base + off, s.size());
    };
    for (StoredSeries& ss : b->series) {
      const LabelView* from = ss.labels;
      ss.labels = b->views.data() + b->views.size();
      for (size_t i = 0; i < ss.num_labels; ++i) {
        const absl::string_view name = copy(from[i].first);
        b->views.emplace_back(name, copy(from[i].second));
      }
    }
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &SeriesBatchQueue::HasRoom));
    batches_.push_back(std::move(b));
    return true;
  }
  // Hands a popped batch back for reuse.
  void Recycle(std::unique_ptr<OwnedSeriesBatch> b) {
    absl::MutexLock l(&mu_);
    if (free_.size() < 2) free_.push_back(std::move(b));
  }
  // Ends the stream with the scanner's status.
  void Finish(absl::Status status) {
    absl::MutexLock l(&mu_);
    status_ = std::move(status);
    done_ = true;
  }
  // The next batch; null once the stream ended.
  std::unique_ptr<OwnedSeriesBatch> Pop() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &SeriesBatchQueue::Ready));
    if (batches_.empty()) return nullptr;
    std::unique_ptr<OwnedSeriesBatch> b = std::move(batches_.front());
    batches_.pop_front();
    return b;
  }
  absl::Status status() const {
    absl::MutexLock l(&mu_);
    return status_;
  }

 private:
  static constexpr size_t kMaxQueued = 8;
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return batches_.size() < kMaxQueued;
  }
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ || !batches_.empty();
  }
  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<OwnedSeriesBatch>> batches_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<OwnedSeriesBatch>> free_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status DB::ImportSeries(
    const std::vector<std::pair<Labels, std::vector<ChunkPtr>>>& series) {
  // Backfill may add chunks to ranges the chunk merger is done with.
  merge_rescan_.store(true, std::memory_order_relaxed);
  for (const auto& [labels, chunks] : series) {
    absl::Status valid = ValidateSeriesLabels(labels);
    if (!valid.ok()) return valid;
    for (size_t i = 0; i < chunks.size(); ++i) {
      absl::Status c = CheckImportChunk(*chunks[i]);
      if (!c.ok()) {
        return absl::Status(c.code(),
                            absl::StrCat(labels.ToString(), ": ", c.message()));
      }
      if (i > 0 && chunks[i]->min_time <= chunks[i - 1]->max_time) {
        return absl::InvalidArgumentError(absl::StrCat(
            labels.ToString(), ": imported chunks overlap or are unsorted"));
      }
    }
    if (chunks.empty()) continue;
    if (MemSeries* s = head_.Find(labels)) {
      SeriesLockGuard l(&s->mu);
      if (s->max_time != kMinT && chunks.back()->max_time >= s->min_time &&
          chunks.front()->min_time <= s->max_time) {
        return MakeAppendError(
            AppendError::kOutOfOrder,
            absl::StrCat("imported samples [", chunks.front()->min_time, ", ",
                         chunks.back()->max_time, "] overlap existing data [",
                         s->min_time, ", ", static_cast<int64_t>(s->max_time),
                         "] of ", labels.ToString()));
      }
    }
  }
  for (const auto& [labels, chunks] : series) {
    for (const ChunkPtr& c : chunks) {
      absl::Status st = ImportChunk(labels, c);
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

// --- Recovery
// -------------------------------------------------------------------

absl::Status DB::DecodeWalRecord(absl::string_view rec,
                                 absl::Span<std::vector<ReplaySample>> parts,
                                 int64_t* samples,
                                 int64_t* unknown_refs) const {
  // parts.size() is a power of two: a mask instead of a 64-bit division
  // per sample (the division was 15% of replay).
  const uint64_t mask = parts.size() - 1;
  const int64_t cutoff = RetentionCutoff();
  return ForEachWalSample(rec, [&](uint64_t ref, int64_t t, double v) {
    ++*samples;
    MemSeries* s = head_.Get(ref);
    if (s == nullptr) {
      ++*unknown_refs;
      return;
    }
    if (t < cutoff) return;
    parts[ref & mask].push_back(ReplaySample{s, t, v});
  });
}

void DB::ApplyReplayed(absl::Span<const ReplaySample> samples,
                       ReplayState* state) {
  // Replay is bound by cache misses on the series (its lock, then its
  // newest time and chunk state further into the struct): the series of
  // a later sample is prefetched to overlap them.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i + kAhead < samples.size()) PrefetchSeries(samples[i + kAhead].s);
    const ReplaySample& x = samples[i];
    MemSeries* s = x.s;
    ChunkPtr c;
    {
      SeriesLockGuard l(&s->mu);
      // Samples at or before the newest one known were persisted already
      // (or rejected when first appended).
      if (x.t <= s->max_time) continue;
      head_.AppendLocked(s, x.t, x.v, &c);
    }
    state->mint = std::min(state->mint, x.t);
    state->maxt = std::max(state->maxt, x.t);
    if (c != nullptr) state->sealed.emplace_back(s, c);
  }
}

absl::Status DB::ReplayWal(uint64_t from) {
  // Two threads. Each series belongs to one of them (ref & 1), so one
  // series' samples are applied in WAL order. The WAL is read and framed
  // once (WalReader); each block of records is checksummed and decoded by
  // whichever thread claims it, into one sample list per thread, and each
  // thread applies its list of every block in block order. Before, both
  // threads read, checksummed and decoded every record and dropped the
  // other half's samples.
  constexpr int kParts = 2;
  // Blocks of ~1 MB (~250k samples of type 0x02 records, ~60k of type
  // 0x01; at least one record), at most kWindow of them decoded or in
  // flight: the decoded samples take ~6x the WAL's bytes of type 0x02
  // records, so this bounds replay's extra memory to some 30 MB.
  constexpr size_t kBlockBytes = size_t{1} << 20;
  constexpr size_t kWindow = 4;
  struct Block {
    WalReader::Block raw;
    std::vector<ReplaySample> parts[kParts];
    bool decoded = false;
    int applied = 0;
  };
  const std::string dir = options_.path + "/wal";
  WalReader reader(dir, from);
  absl::Mutex mu;
  absl::CondVar cv;
  // Blocks not yet applied by every thread; blocks[i] is block first + i.
  std::deque<std::unique_ptr<Block>> blocks;
  size_t first = 0;
  bool end = false;
  absl::Status error;
  int64_t records = 0, samples = 0, unknown_refs = 0;
  ReplayState states[kParts];

  auto run = [&](int part) {
    ReplayState& rs = states[part];
    size_t next = 0;  // the block this thread applies next
    auto fail = [&](absl::Status st) {
      absl::MutexLock l(&mu);
      if (error.ok()) error = std::move(st);
      cv.SignalAll();
    };
    while (true) {
      Block* decode = nullptr;
      Block* apply = nullptr;
      {
        absl::MutexLock l(&mu);
        while (true) {
          if (!error.ok()) return;
          if (next < first + blocks.size() && blocks[next - first]->decoded) {
            apply = blocks[next - first].get();
            break;
          }
          if (end && next >= first + blocks.size()) return;
          if (!end && blocks.size() < kWindow) {
            auto b = std::make_unique<Block>();
            if (!reader.Next(kBlockBytes, &b->raw)) {
              end = true;
              if (!reader.status().ok()) error = reader.status();
              cv.SignalAll();
              continue;
            }
            decode = b.get();
            blocks.push_back(std::move(b));
            break;
          }
          cv.Wait(&mu);
        }
      }
      if (decode != nullptr) {
        int64_t n_records = 0, n_samples = 0, n_unknown = 0;
        size_t bytes = 0;
        for (const Wal::Record& rec : decode->raw.records) {
          bytes += rec.payload.size();
        }
        // Samples of a scrape take 3-5 bytes in a type 0x02 record (at
        // least 2); the vectors grow if there are more.
        for (auto& p : decode->parts) p.reserve(bytes / 3 / kParts + 16);
        absl::Status st;
        for (const Wal::Record& rec : decode->raw.records) {
          bool torn;
          st = Wal::CheckRecord(dir, rec, &torn);
          if (!st.ok()) break;
          if (torn) continue;
          ++n_records;
          st = DecodeWalRecord(rec.payload, absl::MakeSpan(decode->parts),
                               &n_samples, &n_unknown);
          if (!st.ok()) {
            st = absl::Status(
                st.code(),
                absl::StrCat("WAL segment ", Wal::SegmentPath(dir, rec.segment),
                             " offset ", rec.offset, ": ", st.message()));
            break;
          }
        }
        decode->raw = WalReader::Block();  // the segment may go
        absl::MutexLock l(&mu);
        decode->decoded = true;
        records += n_records;
        samples += n_samples;
        unknown_refs += n_unknown;
        if (!st.ok() && error.ok()) error = std::move(st);
        cv.SignalAll();
        continue;
      }
      ApplyReplayed(apply->parts[part], &rs);
      if (rs.sealed.size() >= kPersistBatch) {
        absl::Status st = PersistSealed(rs.sealed);
        rs.sealed.clear();
        if (!st.ok()) return fail(std::move(st));
      }
      absl::MutexLock l(&mu);
      ++apply->applied;
      ++next;
      while (!blocks.empty() && blocks.front()->applied == kParts) {
        blocks.pop_front();
        ++first;
      }
      cv.SignalAll();
    }
  };
  std::thread helper(run, 1);
  run(0);
  helper.join();
  if (!error.ok()) return error;
  for (ReplayState& rs : states) {
    absl::Status st = PersistSealed(rs.sealed);
    if (!st.ok()) return st;
    if (rs.mint <= rs.maxt) NoteTimeRange(rs.mint, rs.maxt);
  }
  recovery_wal_samples_ = samples;
  recovery_wal_records_ = records;
  return absl::OkStatus();
}

absl::Status DB::Recover() {
  absl::Time phase = absl::Now();
  double phase_cpu = ProcessCpuSeconds();
  auto end_phase = [&](double* seconds) {
    const absl::Time now = absl::Now();
    const double cpu = ProcessCpuSeconds();
    seconds[0] = absl::ToDoubleSeconds(now - phase);
    seconds[1] = cpu - phase_cpu;
    phase = now;
    phase_cpu = cpu;
  };
  // A reader thread scans the series definitions (RocksDB, CRC, label
  // parsing and validation) into owned batches, another reads and
  // checksums all head chunks, and this thread builds the head from the
  // batches as they arrive (interning, hashing, index). Building is the
  // larger part, so the readers' work is hidden behind it.
  const int64_t cutoff = RetentionCutoff();
  std::vector<std::pair<SeriesRef, ChunkPtr>> head_chunks;
  SeriesBatchQueue queue;
  std::thread reader([&] {
    absl::Status st = store_->ScanSeries(
        kPersistBatch, [&](absl::Span<const StoredSeries> batch) {
          for (const StoredSeries& ss : batch) {
            absl::Status valid = ValidateStoredLabels(ss.labels, ss.num_labels);
            if (!valid.ok()) {
              return absl::DataLossError(
                  absl::StrCat("series ref ", ss.ref,
                               " has invalid labels: ", valid.message()));
            }
          }
          return queue.Push(batch) ? absl::OkStatus()
                                   : absl::CancelledError("recovery stopped");
        });
    queue.Finish(std::move(st));
  });
  // Head chunks on a third thread: in a directory a crash left (no
  // compaction since the last checkpoints) the scan skips every older
  // version of each row, which after the series scan made the reader the
  // critical path (1M series after kill -9: series phase 6.5 -> 8.3 s
  // wall until this ran beside it again).
  absl::Status head_status;
  std::thread head_loader([&] {
    head_status = store_->LoadHeadChunks([&](SeriesRef ref, ChunkPtr c) {
      if (c->num_samples > 0 && c->max_time >= cutoff) {
        head_chunks.emplace_back(ref, std::move(c));
      }
      return absl::OkStatus();
    });
  });
  head_.ReserveSeries(store_->EstimateSeriesCount());
  std::vector<Head::SeriesInit> inits;
  Head::CreateBatchScratch scratch;
  std::vector<MemSeries*> created;
  while (std::unique_ptr<OwnedSeriesBatch> b = queue.Pop()) {
    inits.clear();
    for (const StoredSeries& ss : b->series) {
      inits.push_back(Head::SeriesInit{ss.ref, ss.labels, ss.num_labels});
    }
    created.resize(b->series.size());
    head_.CreateBatch(inits, created.data(), &scratch);
    int64_t mint = kMaxT, maxt = kMinT;
    for (size_t i = 0; i < b->series.size(); ++i) {
      MemSeries* s = created[i];
      head_.Slot(s->ref)->logged.store(true, std::memory_order_relaxed);
      const StoredSeries& ss = b->series[i];
      if (!ss.has_meta) continue;
      SeriesLockGuard l(&s->mu);
      s->persisted_min_time = ss.min_time;
      s->persisted_max_time = ss.max_time;
      s->min_time = ss.min_time;
      s->max_time = ss.max_time;
      s->last_bits_unknown = true;
      if (ss.min_time <= ss.max_time) {
        mint = std::min(mint, ss.min_time);
        maxt = std::max(maxt, ss.max_time);
      }
    }
    if (mint <= maxt) NoteTimeRange(mint, maxt);
    queue.Recycle(std::move(b));
  }
  reader.join();
  head_loader.join();
  absl::Status st = queue.status();
  if (!st.ok()) return st;
  if (!head_status.ok()) return head_status;
  // Sealed chunks of the head chunk log, before the head chunks and the
  // WAL: both skip what the log holds.
  st = RecoverChunkLog();
  if (!st.ok()) return st;
  end_phase(recovery_series_seconds_);

  // Open chunks of the last checkpoint are installed as they are, without
  // decoding and re-encoding their samples: each becomes a sealed,
  // not-yet-persisted chunk of its series (the head chunk row keeps it
  // durable until PersistSealed or the next checkpoint writes it to the
  // chunks family), and new samples start a new open chunk.
  int64_t head_mint = kMaxT, head_maxt = kMinT;
  for (auto& [ref, c] : head_chunks) {
    MemSeries* s = head_.Get(ref);
    if (s == nullptr) continue;  // series deleted since
    SeriesLockGuard l(&s->mu);
    // The open chunk was sealed and persisted after this checkpoint (same
    // min_time); chunks are persisted in time order, so anything starting
    // at or before the newest durable sample (in the store or the head
    // chunk log) is durable already.
    if (c->min_time <= s->max_time) continue;
    ++recovery_head_chunks_;
    head_mint = std::min(head_mint, c->min_time);
    head_maxt = std::max(head_maxt, c->max_time);
    s->min_time = std::min(s->min_time, c->min_time);
    s->max_time = c->max_time;
    s->last_bits_unknown = true;
    s->sealed.push_back(std::move(c));
  }
  if (head_mint <= head_maxt) NoteTimeRange(head_mint, head_maxt);
  head_chunks.clear();
  head_chunks.shrink_to_fit();
  end_phase(recovery_head_chunks_seconds_);

  // The WAL tail (see ReplayWal).
  auto from = store_->GetWalCheckpoint();
  if (!from.ok()) return from.status();
  st = ReplayWal(*from);
  if (!st.ok()) return st;
  end_phase(recovery_wal_seconds_);
  return absl::OkStatus();
}

// --- Checkpoint
// -----------------------------------------------------------------

absl::Status DB::Checkpoint(bool flush_store) {
  if (store_ == nullptr || wal_ == nullptr) return absl::OkStatus();
  absl::MutexLock m(&maintenance_mu_);
  // Commits from now on may ask for the next checkpoint.
  checkpoint_requested_.store(false, std::memory_order_relaxed);
  uint64_t segment;
  {
    // Every commit that wrote to an older segment has been applied and its
    // sealed chunks persisted once we hold this exclusively.
    absl::WriterMutexLock l(&commit_mu_);
    auto seg = wal_->Rotate();
    if (!seg.ok()) return seg.status();
    segment = *seg;
  }
  std::vector<std::pair<SeriesRef, ChunkPtr>> heads;
  std::vector<std::pair<MemSeries*, ChunkPtr>> leftovers;
  // Sealed chunks still in memory (restored head chunks, or writes that
  // failed earlier) are persisted before the head chunk row of their series
  // is overwritten: that row may be their only durable copy.
  auto write_batch = [&]() -> absl::Status {
    absl::Status s = PersistSealed(leftovers);
    leftovers.clear();
    if (s.ok() && !heads.empty()) s = store_->PutHeadChunks(heads);
    heads.clear();
    return s;
  };
  absl::Status st;
  head_.ForEach([&](MemSeries* s) {
    if (!st.ok()) return;
    {
      SeriesLockGuard l(&s->mu);
      ChunkPtr c = SnapshotOpen(*s);
      if (c != nullptr) heads.emplace_back(s->ref, std::move(c));
      for (const ChunkPtr& sc : s->sealed) leftovers.emplace_back(s, sc);
    }
    if (heads.size() + leftovers.size() >= kPersistBatch) st = write_batch();
  });
  if (!st.ok()) return st;
  st = write_batch();
  if (!st.ok()) return st;
  st = store_->SetWalCheckpoint(segment);
  if (!st.ok()) return st;
  st = wal_->TruncateBefore(segment);
  if (!st.ok()) return st;
  // What is left was committed while this checkpoint ran.
  wal_after_checkpoint_.store(wal_->size_bytes(), std::memory_order_relaxed);
  wal_checkpoints_.fetch_add(1);
  // Flushing RocksDB's memtables empties its own WAL, so the next Open
  // does not replay series definitions and head chunks through it. Only on
  // Close: after a crash that replay is bounded by max_total_wal_size, and
  // flushing at every checkpoint would cut many small L0 files.
  if (!flush_store) return absl::OkStatus();
  st = store_->Flush();
  if (!st.ok()) return st;
  // One version of each head chunk and meta row for the next Open to scan
  // (at 1M series, LoadHeadChunks spent most of its time skipping the rows
  // of five earlier checkpoints).
  return store_->CompactScanned();
}

// --- Retention
// --------------------------------------------------------------------

absl::Status DB::ApplyRetention() {
  absl::MutexLock m(&maintenance_mu_);
  // Series parked in the previous round can no longer be referenced.
  graveyard_.clear();
  int64_t cutoff = RetentionCutoff();
  if (options_.retention > absl::ZeroDuration()) {
    cutoff = std::max(cutoff,
                      NowMs() - absl::ToInt64Milliseconds(options_.retention));
  }
  bool compact = false;
  if (options_.retention_bytes > 0 && store_ != nullptr) {
    const int64_t used = store_->DiskBytes() +
                         (wal_ != nullptr ? wal_->size_bytes() : 0) +
                         (log_ != nullptr ? log_->size_bytes() : 0);
    if (used > options_.retention_bytes) {
      auto oldest = store_->OldestChunkTime();
      if (!oldest.ok()) return oldest.status();
      if (oldest->has_value()) {
        // Drop the oldest chunk range; the next round drops more if needed.
        cutoff = std::max(cutoff, ChunkRangeStart(**oldest) + kChunkRangeMs);
        cutoff = std::min(cutoff, MaxTime());
        compact = true;
      }
    }
  }
  const int64_t previous = RetentionCutoff();
  if (cutoff <= previous && !compact) return absl::OkStatus();
  retention_cutoff_.store(cutoff);
  if (store_ != nullptr) store_->SetRetentionCutoff(cutoff);

  // Drop sealed in-memory chunks and whole series that fell out.
  std::vector<SeriesRef> dead;
  head_.ForEach([&](MemSeries* s) {
    SeriesLockGuard l(&s->mu);
    auto& v = s->sealed;
    v.erase(
        std::remove_if(v.begin(), v.end(),
                       [&](const ChunkPtr& c) { return c->max_time < cutoff; }),
        v.end());
    if (s->max_time < cutoff) {
      dead.push_back(s->ref);
    } else if (s->min_time < cutoff) {
      s->min_time = cutoff;
      if (s->persisted_min_time < cutoff) s->persisted_min_time = cutoff;
    }
  });
  if (!dead.empty()) {
    if (store_ != nullptr) {
      absl::Status st = store_->DeleteSeries(dead);
      if (!st.ok()) return st;
    }
    for (auto& s : head_.Remove(dead)) graveyard_.push_back(std::move(s));
    retention_deletions_.fetch_add(static_cast<int64_t>(dead.size()));
  }
  if (min_time_.load() < cutoff) min_time_.store(cutoff);
  if (last_compaction_cutoff_ == kMinT) last_compaction_cutoff_ = previous;
  if (store_ != nullptr &&
      (compact || last_compaction_cutoff_ == kMinT ||
       cutoff - last_compaction_cutoff_ >= kChunkRangeMs)) {
    absl::Status st = store_->CompactChunks();
    if (!st.ok()) return st;
    last_compaction_cutoff_ = cutoff;
    compactions_.fetch_add(1);
  }
  return absl::OkStatus();
}

// --- Cardinality
// ------------------------------------------------------------------

TsdbStatus DB::CardinalityStats(int top_n) const {
  TsdbStatus out;
  out.num_series = static_cast<int64_t>(head_.NumSeries());
  out.min_time = MinTime();
  out.max_time = MaxTime();
  absl::flat_hash_map<std::string, int64_t> by_metric, values_per_name,
      bytes_per_name, by_pair;
  head_.ForEachPosting(
      [&](absl::string_view name, absl::string_view value, size_t count) {
        ++out.num_label_pairs;
        if (name == kMetricName) by_metric[std::string(value)] += count;
        values_per_name[std::string(name)] += 1;
        bytes_per_name[std::string(name)] += static_cast<int64_t>(value.size());
        by_pair[absl::StrCat(name, "=", value)] += count;
      });
  head_.ForEach([&](MemSeries* s) {
    SeriesLockGuard l(&s->mu);
    out.chunk_count += static_cast<int64_t>(s->sealed.size()) +
                       (s->open.num_samples() > 0 ? 1 : 0);
  });
  AppendTopN(&out.series_count_by_metric_name, std::move(by_metric), top_n);
  AppendTopN(&out.label_value_count_by_label_name, std::move(values_per_name),
             top_n);
  AppendTopN(&out.memory_in_bytes_by_label_name, std::move(bytes_per_name),
             top_n);
  AppendTopN(&out.series_count_by_label_value_pair, std::move(by_pair), top_n);
  return out;
}

// --- Deletion
// ---------------------------------------------------------------------

absl::Status DB::DeleteSeries(absl::Span<const Matcher> matchers, int64_t mint,
                              int64_t maxt) {
  if (mint > maxt) return absl::OkStatus();
  const PostingsList refs = head_.Select(matchers);
  {
    absl::MutexLock m(&maintenance_mu_);
    // No commit runs while samples are rewritten.
    absl::WriterMutexLock l(&commit_mu_);
    // Nothing of the series may stay in the head chunk log, whose records
    // recovery would attach to them again: the whole log goes to the store
    // first (deletion is rare; the log holds a few hours of chunks).
    absl::Status moved = MoveAllLoggedChunks();
    if (!moved.ok()) return moved;
    std::vector<SeriesRef> emptied;
    for (SeriesRef ref : refs) {
      MemSeries* s = head_.Get(ref);
      if (s == nullptr) continue;
      SeriesLockGuard sl(&s->mu);
      if (s->max_time < mint || s->min_time > maxt) continue;
      // Gather every sample of the series (memory and store), then rewrite
      // the survivors. Deletion is rare; simplicity wins over speed here.
      std::vector<ChunkPtr> chunks = s->sealed;
      if (ChunkPtr open = SnapshotOpen(*s)) chunks.push_back(open);
      if (store_ != nullptr && s->persisted_max_time != kMinT) {
        absl::Status st = store_->ReadChunks(ref, kMinT, kMaxT, &chunks);
        if (!st.ok()) return st;
      }
      std::stable_sort(chunks.begin(), chunks.end(),
                       [](const ChunkPtr& a, const ChunkPtr& b) {
                         return a->min_time < b->min_time;
                       });
      std::vector<Sample> all;
      int64_t last = kMinT;
      for (const ChunkPtr& c : chunks) {
        absl::Status st = DecodeChunk(*c, kMinT, kMaxT, &last, &all);
        if (!st.ok()) return st;
      }
      all.erase(std::remove_if(all.begin(), all.end(),
                               [&](const Sample& x) {
                                 return x.t >= mint && x.t <= maxt;
                               }),
                all.end());
      // Reset and re-append the survivors; sealed chunks go to the store.
      s->sealed.clear();
      s->open = HeadChunkEncoder();
      s->min_time = kMaxT;
      s->max_time = kMinT;
      s->persisted_min_time = kMaxT;
      s->persisted_max_time = kMinT;
      // Its logged chunks were moved to the store above, and their segments
      // deleted: the survivors' chunks start a new chain.
      s->log_tail = 0;
      s->log_floor = kMinT;
      if (store_ != nullptr) {
        absl::Status st = store_->DeleteChunkRange(ref, kMinT, kMaxT);
        if (!st.ok()) return st;
      }
      for (const Sample& x : all) head_.AppendLocked(s, x.t, x.v, nullptr);
      if (store_ != nullptr) {
        std::vector<ChunkWrite> writes;
        int64_t pmin = kMaxT, pmax = kMinT;
        for (const ChunkPtr& c : s->sealed) {
          pmin = std::min(pmin, c->min_time);
          pmax = std::max(pmax, c->max_time);
          writes.push_back(ChunkWrite{ref, c, pmin, pmax});
        }
        for (ChunkWrite& w : writes) {
          w.series_min_time = pmin;
          w.series_max_time = pmax;
        }
        absl::Status st = store_->PutChunks(writes);
        if (!st.ok()) return st;
        if (!writes.empty()) {
          s->persisted_min_time = pmin;
          s->persisted_max_time = pmax;
        }
        s->sealed.clear();
        std::vector<std::pair<SeriesRef, ChunkPtr>> head = {
            {ref, SnapshotOpen(*s)}};
        st = store_->PutHeadChunks(head);
        if (!st.ok()) return st;
        if (writes.empty()) {
          st = store_->PutSeriesMeta(ref, kMaxT, kMinT);
          if (!st.ok()) return st;
        }
      }
      if (all.empty()) emptied.push_back(ref);
    }
    if (!emptied.empty()) {
      if (store_ != nullptr) {
        absl::Status st = store_->DeleteSeries(emptied);
        if (!st.ok()) return st;
      }
      for (auto& s : head_.Remove(emptied)) graveyard_.push_back(std::move(s));
    }
  }
  // Deleted samples are still in the WAL; a checkpoint drops them so a
  // crash cannot bring them back.
  return Checkpoint();
}

absl::Status DB::CleanTombstones() {
  if (store_ == nullptr) return absl::OkStatus();
  absl::Status st = store_->CompactChunks();
  if (st.ok()) compactions_.fetch_add(1);
  return st;
}

// --- Snapshot
// -----------------------------------------------------------------------

absl::Status DB::Snapshot(const std::string& dir) {
  if (store_ == nullptr) {
    return absl::FailedPreconditionError(
        "Snapshot: the DB is in memory (DBOptions::path is empty)");
  }
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("Snapshot: directory ", dir, " already exists"));
  }
  absl::Status st = Checkpoint();
  if (!st.ok()) return st;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("Snapshot: creating ", dir, ": ", ec.message()));
  }
  absl::MutexLock m(&maintenance_mu_);
  st = store_->CreateCheckpoint(dir + "/rocksdb");
  if (!st.ok()) return st;
  // Samples committed after the checkpoint live in the newest WAL segments,
  // sealed chunks not yet in the store in the head chunk log. Both are
  // append-only: a record being written while copied is a torn tail, which
  // Open skips (its samples are in the WAL copy or came after the
  // snapshot).
  for (const char* sub : {"/wal", "/chunks_head"}) {
    std::filesystem::copy(options_.path + sub, dir + sub,
                          std::filesystem::copy_options::recursive, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("Snapshot: copying ", sub + 1,
                                              " to ", dir, ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

// --- Import
// ---------------------------------------------------------------------------

absl::Status DB::ImportChunk(const Labels& labels, ChunkPtr chunk) {
  // Backfill may add chunks to ranges the chunk merger is done with.
  merge_rescan_.store(true, std::memory_order_relaxed);
  absl::Status valid = ValidateSeriesLabels(labels);
  if (!valid.ok()) return valid;
  if (chunk == nullptr || chunk->num_samples == 0) return absl::OkStatus();
  absl::Status checked = CheckImportChunk(*chunk);
  if (!checked.ok()) return checked;
  // Before the commit lock, as Checkpoint takes them (see MoveSeriesLogged).
  absl::MutexLock maintenance_lock(&maintenance_mu_);
  absl::ReaderMutexLock commit_lock(&commit_mu_);
  MemSeries* s = head_.GetOrCreate(labels).first;
  if (store_ != nullptr && !head_.Slot(s->ref)->logged.load()) {
    MemSeries* one[] = {s};
    absl::Status st = LogSeries(one);
    if (!st.ok()) return st;
  }
  std::vector<std::pair<MemSeries*, ChunkPtr>> sealed;
  {
    SeriesLockGuard l(&s->mu);
    const bool empty = s->max_time == kMinT;
    if (!empty && chunk->max_time >= s->min_time &&
        chunk->min_time <= s->max_time) {
      return MakeAppendError(
          AppendError::kOutOfOrder,
          absl::StrCat("imported chunk [", chunk->min_time, ", ",
                       chunk->max_time, "] overlaps existing data of ",
                       labels.ToString()));
    }
    if (!empty && chunk->min_time > s->max_time) {
      // Newer than the head: seal the open chunk first so WAL replay (which
      // skips samples older than the newest persisted one) loses nothing.
      if (ChunkPtr c = head_.SealLocked(s)) sealed.emplace_back(s, c);
    }
  }
  absl::Status st = PersistSealed(sealed);
  if (!st.ok()) return st;
  if (!sealed.empty()) {
    st = MoveSeriesLogged({s});
    if (!st.ok()) return st;
  }
  {
    SeriesLockGuard l(&s->mu);
    if (store_ == nullptr) {
      s->sealed.push_back(chunk);
    } else {
      const int64_t pmin = std::min(s->persisted_min_time, chunk->min_time);
      const int64_t pmax = std::max(s->persisted_max_time, chunk->max_time);
      st = store_->PutChunks({ChunkWrite{s->ref, chunk, pmin, pmax}});
      if (!st.ok()) return st;
      s->persisted_min_time = pmin;
      s->persisted_max_time = pmax;
      chunks_persisted_.fetch_add(1);
    }
    s->min_time = std::min(s->min_time, chunk->min_time);
    if (chunk->max_time > s->max_time) {
      s->max_time = chunk->max_time;
      s->last_bits = 0;
    }
  }
  samples_appended_.fetch_add(chunk->num_samples);
  NoteTimeRange(chunk->min_time, chunk->max_time);
  return absl::OkStatus();
}

absl::Status DB::ImportSeriesBulk(
    const std::vector<std::pair<Labels, std::vector<ChunkPtr>>>& series) {
  // Backfill may add chunks to ranges the chunk merger is done with.
  merge_rescan_.store(true, std::memory_order_relaxed);
  if (store_ == nullptr) return ImportSeries(series);
  for (const auto& [labels, chunks] : series) {
    absl::Status valid = ValidateSeriesLabels(labels);
    if (!valid.ok()) return valid;
    for (size_t i = 0; i < chunks.size(); ++i) {
      const ChunkData& c = *chunks[i];
      if (c.num_samples <= 0 || c.min_time > c.max_time ||
          ChunkRangeStart(c.min_time) != ChunkRangeStart(c.max_time)) {
        return absl::InvalidArgumentError(
            absl::StrCat(labels.ToString(), ": imported chunk [", c.min_time,
                         ", ", c.max_time, "] n=", c.num_samples,
                         " is empty or spans a chunk range boundary"));
      }
      if (i > 0 && c.min_time <= chunks[i - 1]->max_time) {
        return absl::InvalidArgumentError(absl::StrCat(
            labels.ToString(), ": imported chunks overlap or are unsorted"));
      }
    }
  }
  auto overlap = [](const Labels& labels, const std::vector<ChunkPtr>& chunks,
                    const MemSeries& s) {
    if (s.max_time != kMinT && chunks.back()->max_time >= s.min_time &&
        chunks.front()->min_time <= s.max_time) {
      return MakeAppendError(
          AppendError::kOutOfOrder,
          absl::StrCat("imported samples [", chunks.front()->min_time, ", ",
                       chunks.back()->max_time, "] overlap existing data [",
                       s.min_time, ", ", static_cast<int64_t>(s.max_time),
                       "] of ", labels.ToString()));
    }
    return absl::OkStatus();
  };
  // Before the commit lock, as Checkpoint takes them (see MoveSeriesLogged).
  absl::MutexLock maintenance_lock(&maintenance_mu_);
  absl::ReaderMutexLock commit_lock(&commit_mu_);
  // Every check before anything is created or written.
  for (const auto& [labels, chunks] : series) {
    if (chunks.empty()) continue;
    if (MemSeries* s = head_.Find(labels)) {
      SeriesLockGuard l(&s->mu);
      absl::Status st = overlap(labels, chunks, *s);
      if (!st.ok()) return st;
    }
  }
  std::vector<MemSeries*> targets(series.size(), nullptr);
  std::vector<std::pair<SeriesRef, const Labels*>> defs;
  std::vector<std::pair<MemSeries*, ChunkPtr>> sealed;
  std::vector<ChunkWrite> writes;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& [labels, chunks] = series[i];
    if (chunks.empty()) continue;
    MemSeries* s = head_.GetOrCreate(labels).first;
    targets[i] = s;
    if (!head_.Slot(s->ref)->logged.load()) defs.emplace_back(s->ref, &labels);
    int64_t pmin, pmax;
    {
      SeriesLockGuard l(&s->mu);
      // An appender may have written since the checks above.
      absl::Status st = overlap(labels, chunks, *s);
      if (!st.ok()) return st;
      if (s->max_time != kMinT && chunks.front()->min_time > s->max_time) {
        // Newer than the head: seal the open chunk first so WAL replay
        // (which skips samples older than the newest persisted one) loses
        // nothing.
        if (ChunkPtr c = head_.SealLocked(s)) sealed.emplace_back(s, c);
      }
      pmin = std::min(s->persisted_min_time, chunks.front()->min_time);
      pmax = std::max(s->persisted_max_time, chunks.back()->max_time);
    }
    for (const ChunkPtr& c : chunks) {
      writes.push_back(ChunkWrite{s->ref, c, pmin, pmax});
    }
  }
  absl::Status st = PersistSealed(sealed);
  if (!st.ok()) return st;
  std::vector<MemSeries*> newer;
  for (const auto& [s, c] : sealed) newer.push_back(s);
  st = MoveSeriesLogged(newer);
  if (!st.ok()) return st;
  st = store_->IngestBulk(defs, std::move(writes));
  if (!st.ok()) return st;
  for (size_t i = 0; i < series.size(); ++i) {
    MemSeries* s = targets[i];
    if (s == nullptr) continue;
    const std::vector<ChunkPtr>& chunks = series[i].second;
    head_.Slot(s->ref)->logged.store(true);
    int64_t samples = 0;
    for (const ChunkPtr& c : chunks) samples += c->num_samples;
    {
      SeriesLockGuard l(&s->mu);
      s->persisted_min_time =
          std::min(s->persisted_min_time, chunks.front()->min_time);
      s->persisted_max_time =
          std::max(s->persisted_max_time, chunks.back()->max_time);
      s->min_time = std::min(s->min_time, chunks.front()->min_time);
      if (chunks.back()->max_time > s->max_time) {
        s->max_time = chunks.back()->max_time;
        s->last_bits = 0;
      }
    }
    chunks_persisted_.fetch_add(static_cast<int64_t>(chunks.size()));
    samples_appended_.fetch_add(samples);
    NoteTimeRange(chunks.front()->min_time, chunks.back()->max_time);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> DB::ChunkSortedRuns() const {
  if (store_ == nullptr) return 0;
  return store_->ChunkSortedRuns();
}

// --- Offline check
// ----------------------------------------------------------------

absl::StatusOr<CheckReport> CheckDataDir(const std::string& path) {
  CheckReport report;
  std::error_code ec;
  if (!std::filesystem::exists(path + "/rocksdb", ec)) {
    return absl::NotFoundError(
        absl::StrCat("no Vigil data directory at ", path));
  }
  auto store = ChunkStore::Open(path + "/rocksdb", /*read_only=*/true);
  if (!store.ok()) return store.status();
  report.min_time = kMaxT;
  report.max_time = kMinT;
  absl::flat_hash_set<SeriesRef> refs;
  absl::flat_hash_map<SeriesRef, uint64_t> hashes;
  absl::Status st = (*store)->LoadSeries([&](PersistedSeries ps) {
    ++report.series;
    refs.insert(ps.ref);
    hashes[ps.ref] = ps.labels.Hash();
    absl::Status v = ValidateSeriesLabels(ps.labels);
    if (!v.ok()) {
      report.problems.push_back(absl::StrCat(
          "series ref ", ps.ref, ": invalid labels: ", v.message()));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) report.problems.push_back(std::string(st.message()));
  std::vector<Sample> buf;
  auto check_chunk = [&](absl::string_view what, SeriesRef ref,
                         const ChunkPtr& c) {
    buf.clear();
    int64_t last = kMinT;
    absl::Status d = DecodeChunk(*c, kMinT, kMaxT, &last, &buf);
    if (!d.ok()) {
      report.problems.push_back(
          absl::StrCat(what, " of series ref ", ref, ": ", d.message()));
      return;
    }
    if (!refs.contains(ref)) {
      report.problems.push_back(
          absl::StrCat(what, " of unknown series ref ", ref));
    }
    if (buf.size() != static_cast<size_t>(c->num_samples) ||
        (!buf.empty() &&
         (buf.front().t != c->min_time || buf.back().t != c->max_time))) {
      report.problems.push_back(
          absl::StrCat(what, " of series ref ", ref, " at ", c->min_time,
                       ": header disagrees with the decoded samples"));
    }
    for (size_t i = 1; i < buf.size(); ++i) {
      if (buf[i].t <= buf[i - 1].t) {
        report.problems.push_back(absl::StrCat(what, " of series ref ", ref,
                                               ": timestamps not increasing"));
        break;
      }
    }
  };
  st = (*store)->ForEachChunk([&](SeriesRef ref, ChunkPtr c) {
    ++report.chunks;
    report.samples += c->num_samples;
    report.min_time = std::min(report.min_time, c->min_time);
    report.max_time = std::max(report.max_time, c->max_time);
    check_chunk("chunk", ref, c);
    return absl::OkStatus();
  });
  if (!st.ok()) report.problems.push_back(std::string(st.message()));
  st = (*store)->LoadHeadChunks([&](SeriesRef ref, ChunkPtr c) {
    check_chunk("head chunk", ref, c);
    return absl::OkStatus();
  });
  if (!st.ok()) report.problems.push_back(std::string(st.message()));
  st = ChunkLog::ScanDir(path + "/chunks_head", [&](const ChunkLog::Record& r,
                                                    absl::string_view bytes) {
    auto it = hashes.find(r.ref);
    // A deleted series' chunk, left until its segment goes.
    if (it == hashes.end() || it->second != r.series_hash) {
      return absl::OkStatus();
    }
    auto c = std::make_shared<ChunkData>();
    c->min_time = r.min_time;
    c->max_time = r.max_time;
    c->num_samples = r.num_samples;
    c->encoding = r.encoding;
    c->bytes = std::string(bytes);
    ++report.chunks;
    report.samples += c->num_samples;
    report.min_time = std::min(report.min_time, c->min_time);
    report.max_time = std::max(report.max_time, c->max_time);
    check_chunk("logged chunk", r.ref, c);
    return absl::OkStatus();
  });
  if (!st.ok()) report.problems.push_back(std::string(st.message()));
  auto from = (*store)->GetWalCheckpoint();
  if (!from.ok()) {
    report.problems.push_back(std::string(from.status().message()));
  } else {
    st = Wal::Replay(path + "/wal", *from, [&](absl::string_view rec) {
      ++report.wal_records;
      return ForEachWalSample(rec, [&](uint64_t ref, int64_t t, double) {
        if (!refs.contains(ref)) {
          report.problems.push_back(
              absl::StrCat("WAL sample of unknown series ref ", ref));
        }
        report.min_time = std::min(report.min_time, t);
        report.max_time = std::max(report.max_time, t);
      });
    });
    if (!st.ok()) report.problems.push_back(std::string(st.message()));
  }
  if (report.min_time == kMaxT) report.min_time = report.max_time = 0;
  return report;
}

}  // namespace vigil::tsdb
