#include "tsdb/db.h"

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tsdb/chunk_log.h"
#include "tsdb/store.h"
#include "tsdb/wal.h"
#include "tsdb/wal_record.h"

namespace vigil::tsdb {
namespace {

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();

// Series labels must be well-formed: a valid metric name, valid sorted
// unique names and no empty values (Labels built with FromSortedUnchecked
// are not checked by the Labels type itself).
}  // namespace

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

absl::Status ValidateSeriesLabels(const Labels& labels) {
  if (labels.empty()) {
    return MakeAppendError(AppendError::kInvalidLabels, "empty label set");
  }
  if (!IsValidMetricName(labels.MetricName())) {
    return MakeAppendError(
        AppendError::kInvalidLabels,
        absl::StrCat("missing or invalid metric name in ", labels.ToString()));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const Label& l = labels[i];
    if (l.name != kMetricName && !IsValidLabelName(l.name)) {
      return MakeAppendError(AppendError::kInvalidLabels,
                             absl::StrCat("invalid label name \"", l.name,
                                          "\" in ", labels.ToString()));
    }
    if (l.value.empty()) {
      return MakeAppendError(AppendError::kInvalidLabels,
                             absl::StrCat("empty value for label \"", l.name,
                                          "\" in ", labels.ToString()));
    }
    if (i > 0 && !(labels[i - 1].name < l.name)) {
      return MakeAppendError(AppendError::kInvalidLabels,
                             absl::StrCat("duplicate or unsorted label name \"",
                                          l.name, "\" in ", labels.ToString()));
    }
  }
  return absl::OkStatus();
}

// --- Iterator
// -----------------------------------------------------------------

// Iterates over a snapshot of chunks sorted by min_time. Overlapping copies
// of the same chunk (one in memory, one just persisted) are harmless: only
// samples newer than the last one emitted are kept.
//
// The in-memory chunks are snapshotted by Select; the persisted ones are
// read from the store on first use, so a query's worker threads read the
// store and decode in parallel (iterators of different series are
// independent, see querier.h).
// Store readers shared by the iterators of one Select: each worker thread
// takes one for a series and gives it back, so a query creates about as
// many RocksDB iterators as it has threads instead of one per series.
// Readers are created on first use, after Select snapshotted the head.
class ChunkReaderPool {
 public:
  explicit ChunkReaderPool(const ChunkStore* store) : store_(store) {}

  absl::Status Read(SeriesRef ref, int64_t mint, int64_t maxt,
                    std::vector<ChunkPtr>* out) {
    return WithReader([&](ChunkStore::ChunkReader* r) {
      return r->Read(ref, mint, maxt, out);
    });
  }

  absl::Status Visit(
      SeriesRef ref, int64_t mint, int64_t maxt,
      absl::FunctionRef<absl::Status(const ChunkStore::ChunkReader::ChunkView&)>
          fn) {
    return WithReader([&](ChunkStore::ChunkReader* r) {
      return r->Visit(ref, mint, maxt, fn);
    });
  }

 private:
  // Runs `f` with a reader taken from the pool (or a new one), then returns
  // the reader to the pool.
  template <typename F>
  absl::Status WithReader(F f) {
    std::unique_ptr<ChunkStore::ChunkReader> r;
    {
      absl::MutexLock l(&mu_);
      if (!free_.empty()) {
        r = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (r == nullptr) r = store_->NewChunkReader();
    absl::Status st = f(r.get());
    absl::MutexLock l(&mu_);
    free_.push_back(std::move(r));
    return st;
  }

  const ChunkStore* const store_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<ChunkStore::ChunkReader>> free_
      ABSL_GUARDED_BY(mu_);
};

class ChunkSeriesIterator : public SeriesIterator {
 public:
  ChunkSeriesIterator(std::vector<ChunkPtr> chunks,
                      std::shared_ptr<ChunkReaderPool> store, SeriesRef ref,
                      int64_t chunk_mint, int64_t chunk_maxt, int64_t mint,
                      int64_t maxt)
      : chunks_(std::move(chunks)),
        store_(std::move(store)),
        ref_(ref),
        chunk_mint_(chunk_mint),
        chunk_maxt_(chunk_maxt),
        mint_(mint),
        maxt_(maxt) {}

  bool Next() override {
    if (started_ && pos_ + 1 < buf_.size()) {
      ++pos_;
      return true;
    }
    started_ = true;
    return Load(kMinT);
  }

  bool Seek(int64_t t) override {
    if (started_ && pos_ < buf_.size()) {
      if (buf_[pos_].t >= t) return true;
      auto it =
          std::lower_bound(buf_.begin() + pos_, buf_.end(), t,
                           [](const Sample& s, int64_t x) { return s.t < x; });
      if (it != buf_.end()) {
        pos_ = static_cast<size_t>(it - buf_.begin());
        return true;
      }
    }
    started_ = true;
    if (!Load(t)) return false;
    auto it =
        std::lower_bound(buf_.begin(), buf_.end(), t,
                         [](const Sample& s, int64_t x) { return s.t < x; });
    pos_ = static_cast<size_t>(it - buf_.begin());
    return pos_ < buf_.size();
  }

  Sample At() const override { return buf_[pos_]; }
  absl::Status status() const override { return status_; }

  absl::Status ReadAll(std::vector<Sample>* out) override {
    return ReadAllBatched(out, [](size_t) {});
  }

  absl::Status ReadAllBatched(
      std::vector<Sample>* out,
      absl::FunctionRef<void(size_t)> batch_done) override {
    if (!status_.ok()) return status_;
    if (store_ != nullptr && chunks_.empty() && !started_) {
      // Only persisted chunks (imported or older data): decode them
      // straight from RocksDB's blocks, without a copy per chunk, and hand
      // each chunk's samples over while they are in the caches.
      std::shared_ptr<ChunkReaderPool> store = std::move(store_);
      store_ = nullptr;
      started_ = true;
      status_ = store->Visit(ref_, chunk_mint_, chunk_maxt_,
                             [&](const ChunkStore::ChunkReader::ChunkView& c) {
                               const size_t begin = out->size();
                               absl::Status s = DecodeView(c, out);
                               if (s.ok() && out->size() > begin) {
                                 batch_done(begin);
                               }
                               return s;
                             });
      return status_;
    }
    const size_t begin = out->size();
    absl::Status s = ReadAllMixed(out);
    if (out->size() > begin) batch_done(begin);
    return s;
  }

 private:
  // ReadAll when head chunks are involved or iteration has started.
  absl::Status ReadAllMixed(std::vector<Sample>* out) {
    if (!ReadStore()) return status_;
    if (started_ && pos_ + 1 < buf_.size()) {
      out->insert(out->end(), buf_.begin() + pos_ + 1, buf_.end());
    } else if (!started_ && pos_ < buf_.size()) {
      out->insert(out->end(), buf_.begin() + pos_, buf_.end());
    }
    started_ = true;
    buf_.clear();
    pos_ = 0;
    // One reservation up front instead of one per chunk.
    size_t total = 0;
    for (size_t i = next_; i < chunks_.size(); ++i) {
      total += static_cast<size_t>(chunks_[i]->num_samples);
    }
    out->reserve(out->size() + total);
    while (next_ < chunks_.size()) {
      const ChunkData& c = *chunks_[next_++];
      if (Skip(c, kMinT)) continue;
      status_ = DecodeChunk(c, mint_, maxt_, &last_t_, out);
      if (!status_.ok()) return status_;
    }
    return absl::OkStatus();
  }

  // Chunks that cannot contribute: before the range, before a sample
  // already emitted (an overlapping copy), or after the range.
  bool Skip(const ChunkData& c, int64_t min_t) const {
    return c.max_time < min_t || c.max_time < mint_ || c.max_time <= last_t_ ||
           c.min_time > maxt_;
  }

  // DecodeChunk (with Skip) for a chunk still in RocksDB's block.
  absl::Status DecodeView(const ChunkStore::ChunkReader::ChunkView& c,
                          std::vector<Sample>* out) {
    if (c.max_time < mint_ || c.max_time <= last_t_ || c.min_time > maxt_) {
      return absl::OkStatus();
    }
    const int64_t lo = std::max(mint_, last_t_ == kMinT ? mint_ : last_t_ + 1);
    const size_t before = out->size();
    absl::Status s;
    if (c.encoding == ChunkEncoding::kRange) {
      s = chunkenc::RangeChunkDecoder(c.bytes).DecodeRange(lo, maxt_, out);
    } else if (c.encoding == ChunkEncoding::kXor) {
      chunkenc::ChunkDecoder dec(c.bytes);
      s = dec.DecodeRange(lo, maxt_, out);
    } else {
      RawChunkDecoder dec(c.bytes);  // Visit passes only these three
      s = dec.DecodeRange(lo, maxt_, out);
    }
    if (out->size() > before) last_t_ = out->back().t;
    if (!s.ok()) {
      return absl::DataLossError(absl::StrCat(
          "chunk [", c.min_time, ", ", c.max_time, "] with ", c.num_samples,
          " samples, ", c.bytes.size(), " bytes, encoding ",
          static_cast<int>(c.encoding), ": ", s.message()));
    }
    return s;
  }

  // Adds the persisted chunks (once). False on a store error.
  bool ReadStore() {
    if (store_ == nullptr) return true;
    std::shared_ptr<ChunkReaderPool> store = std::move(store_);
    store_ = nullptr;
    const size_t mem = chunks_.size();
    status_ = store->Read(ref_, chunk_mint_, chunk_maxt_, &chunks_);
    if (!status_.ok()) return false;
    if (mem > 0 && chunks_.size() > mem) {
      std::stable_sort(chunks_.begin(), chunks_.end(),
                       [](const ChunkPtr& a, const ChunkPtr& b) {
                         return a->min_time < b->min_time;
                       });
    }
    return true;
  }

  // Decodes chunks until one yields samples; skips chunks ending before
  // `min_t` without decoding them.
  bool Load(int64_t min_t) {
    buf_.clear();
    pos_ = 0;
    if (!ReadStore()) return false;
    while (status_.ok() && next_ < chunks_.size()) {
      const ChunkData& c = *chunks_[next_++];
      if (Skip(c, min_t)) continue;
      status_ = DecodeChunk(c, mint_, maxt_, &last_t_, &buf_);
      if (!buf_.empty()) {
        if (buf_.back().t < min_t) {
          buf_.clear();
          continue;
        }
        return status_.ok();
      }
    }
    return false;
  }

  std::vector<ChunkPtr> chunks_;
  // Non-null until the persisted chunks have been read.
  std::shared_ptr<ChunkReaderPool> store_;
  const SeriesRef ref_;
  // Chunks overlapping [chunk_mint_, chunk_maxt_] are read from the store.
  const int64_t chunk_mint_;
  const int64_t chunk_maxt_;
  const int64_t mint_;
  const int64_t maxt_;
  size_t next_ = 0;
  int64_t last_t_ = kMinT;
  std::vector<Sample> buf_;
  size_t pos_ = 0;
  bool started_ = false;
  absl::Status status_;
};

// --- Querier
// ------------------------------------------------------------------

class DBQuerier : public Querier {
 public:
  DBQuerier(DB* db, int64_t mint, int64_t maxt)
      : db_(db), mint_(mint), maxt_(maxt) {}

  absl::StatusOr<std::vector<Series>> Select(
      const SelectHints& hints, absl::Span<const Matcher> matchers) override {
    const int64_t lo = std::max(mint_, db_->RetentionCutoff());
    const int64_t hi = maxt_;
    int64_t clo = lo, chi = hi;
    if (hints.start != 0 || hints.end != 0) {
      clo = std::max(clo, hints.start);
      chi = std::min(chi, hints.end);
    }
    std::vector<Series> out;
    if (clo > chi) return out;
    // Callers that read samples get lazily read store chunks (and maybe a
    // series without samples in the range); /api/v1/series wants exact
    // membership and no samples.
    const bool only_labels = hints.func == "series";
    const PostingsList refs = db_->head_.Select(matchers);
    out.reserve(refs.size());
    std::shared_ptr<ChunkReaderPool> pool;
    for (SeriesRef ref : refs) {
      MemSeries* s = db_->head_.Get(ref);
      if (s == nullptr) continue;
      std::vector<ChunkPtr> chunks;
      bool read_store = false;
      absl::Status snapped;
      if (!SnapshotChunks(s, clo, chi, &chunks, &read_store, &snapped)) {
        if (!snapped.ok()) return snapped;
        continue;
      }
      if (read_store && only_labels) {
        // Read now: a series whose chunks all miss the range is left out.
        absl::Status st = db_->store_->ReadChunks(ref, clo, chi, &chunks);
        if (!st.ok()) return st;
        read_store = false;
        std::stable_sort(chunks.begin(), chunks.end(),
                         [](const ChunkPtr& a, const ChunkPtr& b) {
                           return a->min_time < b->min_time;
                         });
      }
      if (chunks.empty() && !read_store) continue;
      if (read_store && pool == nullptr) {
        pool = std::make_shared<ChunkReaderPool>(db_->store_.get());
      }
      out.push_back(Series{db_->head_.LabelsOf(*s),
                           std::make_unique<ChunkSeriesIterator>(
                               std::move(chunks), read_store ? pool : nullptr,
                               ref, clo, chi, lo, hi)});
    }
    // Same order as Labels' operator<, with one compare() per string
    // instead of != then <: sorting is a good part of a small query.
    std::sort(out.begin(), out.end(), [](const Series& a, const Series& b) {
      const Labels& x = a.labels;
      const Labels& y = b.labels;
      const size_t n = std::min(x.size(), y.size());
      for (size_t i = 0; i < n; ++i) {
        if (int c = x[i].name.compare(y[i].name); c != 0) return c < 0;
        if (int c = x[i].value.compare(y[i].value); c != 0) return c < 0;
      }
      return x.size() < y.size();
    });
    return out;
  }

  absl::StatusOr<std::vector<std::string>> LabelNames(
      absl::Span<const Matcher> matchers) override {
    if (matchers.empty() && CoversAll()) return db_->head_.AllLabelNames();
    absl::flat_hash_set<std::string> names;
    ForMatching(matchers, [&](const MemSeries& s) {
      for (size_t i = 0; i < s.syms.size(); i += 2) {
        names.emplace(db_->head_.symbols().Lookup(s.syms[i]));
      }
    });
    std::vector<std::string> out(names.begin(), names.end());
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<std::vector<std::string>> LabelValues(
      absl::string_view name, absl::Span<const Matcher> matchers) override {
    if (matchers.empty() && CoversAll()) {
      return db_->head_.AllLabelValues(name);
    }
    absl::flat_hash_set<std::string> values;
    auto name_id = db_->head_.symbols().Find(name);
    if (!name_id) return std::vector<std::string>();
    ForMatching(matchers, [&](const MemSeries& s) {
      for (size_t i = 0; i < s.syms.size(); i += 2) {
        if (s.syms[i] == *name_id) {
          values.emplace(db_->head_.symbols().Lookup(s.syms[i + 1]));
        }
      }
    });
    std::vector<std::string> out(values.begin(), values.end());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  bool CoversAll() const {
    return mint_ <= db_->MinTime() && maxt_ >= db_->MaxTime();
  }

  // The head's chunks of `s` overlapping [mint, maxt] (in memory and in
  // the head chunk log, by min_time) and whether the store may hold more;
  // the store is read later, by the iterator (after this snapshot, see
  // PersistSealed). False when the series has no samples in the range, or
  // on a log read error (in *status).
  bool SnapshotChunks(MemSeries* s, int64_t mint, int64_t maxt,
                      std::vector<ChunkPtr>* out, bool* read_store,
                      absl::Status* status) {
    SeriesLockGuard l(&s->mu);
    if (s->max_time < mint || s->min_time > maxt) return false;
    // Logged chunks are copied now, under the lock: the merger may move
    // them to the store and delete their segment right after.
    absl::Status st = db_->ReadLoggedChunks(*s, mint, maxt, out);
    if (!st.ok()) {
      *status = std::move(st);
      return false;
    }
    for (const ChunkPtr& c : s->sealed) {
      if (c->max_time >= mint && c->min_time <= maxt) out->push_back(c);
    }
    if (s->open.num_samples() > 0 && s->open.max_time() >= mint &&
        s->open.min_time() <= maxt) {
      out->push_back(ChunkOf(s->open));
    }
    *read_store = db_->store_ != nullptr && s->persisted_max_time >= mint;
    return true;
  }
  // Calls fn for series matching `matchers` with samples in range.
  void ForMatching(absl::Span<const Matcher> matchers,
                   const std::function<void(const MemSeries&)>& fn) {
    const PostingsList refs = db_->head_.Select(matchers);
    const int64_t lo = std::max(mint_, db_->RetentionCutoff());
    for (SeriesRef ref : refs) {
      MemSeries* s = db_->head_.Get(ref);
      if (s == nullptr) continue;
      bool in_range;
      {
        SeriesLockGuard l(&s->mu);
        in_range = s->max_time >= lo && s->min_time <= maxt_;
      }
      if (in_range) fn(*s);
    }
  }

  DB* db_;
  const int64_t mint_;
  const int64_t maxt_;
};

// --- Appender
// -----------------------------------------------------------------

class DBAppender : public Appender {
  using PendingSample = DB::PendingSample;

  // Buffers of a finished appender, kept per thread for the next one. A
  // thread's batches are alike (one target's scrapes), so reusing them
  // saves growing, zero-filling (page faults on fresh memory) and freeing
  // a scrape-sized buffer on every commit.
  struct Buffers {
    std::vector<PendingSample> pending;
    // Bit r: series with ref r has a sample in pending (while not in map
    // mode). All zero between batches.
    std::vector<uint64_t> seen;
    // Size of the last batch committed on this thread.
    size_t batch_size_hint = 0;
  };
  // Buffers larger than this are freed rather than kept for the thread.
  static constexpr size_t kMaxKeptBufferBytes = size_t{16} << 20;
  inline static thread_local std::unique_ptr<Buffers> spare_buffers_;

  static std::unique_ptr<Buffers> TakeBuffers() {
    std::unique_ptr<Buffers> b = std::move(spare_buffers_);
    if (b == nullptr) b = std::make_unique<Buffers>();
    if (b->pending.capacity() < b->batch_size_hint) {
      b->pending.reserve(b->batch_size_hint);
    }
    return b;
  }

 public:
  explicit DBAppender(DB* db)
      : db_(db),
        min_valid_(db->RetentionCutoff()),
        bufs_(TakeBuffers()),
        pending_(bufs_->pending),
        seen_(bufs_->seen) {}
  ~DBAppender() override {
    if (!done_) Rollback();
  }

  absl::StatusOr<SeriesRef> Append(SeriesRef ref, const Labels& labels,
                                   int64_t t, double v) override {
    if (done_) {
      return absl::FailedPreconditionError(
          "Append on an appender that was already committed or rolled back");
    }
    // A known ref is validated against its slot alone (see SeriesSlot):
    // the series object is not touched until the commit applies the
    // sample.
    SeriesSlot* slot = ref != 0 ? db_->head_.Slot(ref) : nullptr;
    MemSeries* s = slot != nullptr
                       ? slot->series.load(std::memory_order_acquire)
                       : nullptr;
    if (s == nullptr) {
      if (ref != 0 && labels.empty()) {
        return absl::NotFoundError(
            absl::StrCat("unknown series ref ", ref, " and no labels given"));
      }
      absl::Status valid = ValidateSeriesLabels(labels);
      if (!valid.ok()) {
        db_->invalid_labels_.fetch_add(1, std::memory_order_relaxed);
        return valid;
      }
      s = db_->head_.GetOrCreate(labels).first;
      ref = s->ref;
      slot = db_->head_.Slot(ref);
    }
    if (t < min_valid_) {
      db_->out_of_bounds_.fetch_add(1, std::memory_order_relaxed);
      return MakeAppendError(AppendError::kOutOfBounds,
                             absl::StrCat("timestamp ", t,
                                          " is older than the retention "
                                          "cutoff ",
                                          min_valid_));
    }
    // The usual sample: newer than the series' newest and the first of its
    // series in this batch. The slot's max_time is read without the lock;
    // if a concurrent commit has just moved it past t, the commit drops
    // the sample as it does for any race between two appenders.
    const bool maybe_seen = MaybeSeen(ref);
    if (!maybe_seen && t > static_cast<int64_t>(slot->max_time)) {
      Push(s, ref, t, v);
      return ref;
    }
    return AppendSlow(s, t, v, maybe_seen);
  }

 private:
  // Append's validation when the series may already be in the batch or
  // the sample is not newer than the series' newest.
  absl::StatusOr<SeriesRef> AppendSlow(MemSeries* s, int64_t t, double v,
                                       bool maybe_seen) {
    const SeriesRef sref = s->ref;
    int64_t max_t;
    uint64_t last_bits;
    const DB::PendingSample* prev = maybe_seen ? LastInBatch(s) : nullptr;
    if (prev != nullptr) {
      max_t = prev->t;
      last_bits = ValueBits(prev->v);
    } else {
      bool unknown;
      {
        SeriesLockGuard l(&s->mu);
        max_t = s->max_time;
        last_bits = s->last_bits;
        unknown = s->last_bits_unknown;
      }
      if (unknown && t == max_t) {
        // Restored series: whether this is an identical re-send needs the
        // newest value, which recovery did not decode.
        absl::Status st = db_->ResolveLastBits(s);
        if (!st.ok()) return st;
        SeriesLockGuard l(&s->mu);
        max_t = s->max_time;
        last_bits = s->last_bits;
      }
    }
    const uint64_t bits = ValueBits(v);
    if (t <= max_t) {
      if (t == max_t && bits == last_bits) return sref;  // ignored
      if (t == max_t) {
        db_->duplicate_.fetch_add(1, std::memory_order_relaxed);
        return MakeAppendError(AppendError::kDuplicate, absl::StrCat("t=", t));
      }
      db_->out_of_order_.fetch_add(1, std::memory_order_relaxed);
      return MakeAppendError(
          AppendError::kOutOfOrder,
          absl::StrCat("t=", t, " is before the newest sample t=", max_t));
    }
    Push(s, sref, t, v);
    return sref;
  }

  __attribute__((always_inline)) void Push(MemSeries* s, SeriesRef ref,
                                           int64_t t, double v) {
    if (map_mode_) last_index_[s] = pending_.size();
    // Tracked here, where the previous ref is at hand, so that Commit does
    // not re-read the whole batch to find out.
    in_ref_order_ = in_ref_order_ && ref >= last_ref_;
    last_ref_ = ref;
    // Field by field into the vector: push_back({s, ref, t, v}) built the
    // sample on the stack with two 8-byte stores per half and copied it
    // with 16-byte loads, which cannot be forwarded from those stores (a
    // store-forwarding stall on every sample: ~45% of Append's cycles).
    PendingSample& e = pending_.emplace_back();
    e.series = s;
    e.ref = ref;
    e.t = t;
    e.v = v;
  }

 public:
  absl::Status Commit() override {
    if (done_) {
      return absl::FailedPreconditionError(
          "Commit on an appender that was already committed or rolled back");
    }
    done_ = true;
    bufs_->batch_size_hint = pending_.size();
    absl::Status s = db_->CommitSamples(pending_, in_ref_order_);
    Release();
    return s;
  }

  void Rollback() override {
    done_ = true;
    Release();
  }

 private:
  // Hands the buffers back to the thread (emptied) for its next appender.
  void Release() {
    if (bufs_ == nullptr) return;
    // Bounded by the batch size (see MaybeSeen), so clearing it all costs
    // little next to the batch; rejected samples set bits too.
    std::fill(seen_.begin(), seen_.end(), 0);
    pending_.clear();
    last_index_ = {};
    const size_t bytes = pending_.capacity() * sizeof(PendingSample) +
                         seen_.capacity() * sizeof(uint64_t);
    if (bytes <= kMaxKeptBufferBytes && spare_buffers_ == nullptr) {
      spare_buffers_ = std::move(bufs_);
    }
    bufs_.reset();
  }

  // Whether the series with ref `r` may already have a sample in this
  // batch. Refs are dense, so a bitset indexed by ref answers exactly for
  // the usual batch (one sample per series, e.g. a scrape) without hashing;
  // only a possible repeat consults last_index_.
  bool MaybeSeen(SeriesRef r) {
    if (map_mode_) return true;
    const size_t word = static_cast<size_t>(r >> 6);
    if (word >= seen_.size()) {
      // Bound the bitset by the batch's expected size: a small batch
      // touching a high ref (one rule result in a big head) uses the map.
      const size_t limit =
          1024 + 2 * std::max(pending_.size(), bufs_->batch_size_hint);
      if (word >= limit) return true;
      seen_.resize(std::min(limit, std::max(word + 1, 2 * seen_.size())), 0);
    }
    const uint64_t bit = uint64_t{1} << (r & 63);
    const bool seen = (seen_[word] & bit) != 0;
    seen_[word] |= bit;
    return seen;
  }

  // The newest pending sample of `s`, or nullptr. Switches to tracking
  // every series in last_index_ from here on (the bitset can no longer
  // tell a repeat from a first sample once a series is outside it).
  const DB::PendingSample* LastInBatch(MemSeries* s) {
    if (!map_mode_) {
      map_mode_ = true;
      last_index_.reserve(pending_.size() + 1);
      for (size_t i = 0; i < pending_.size(); ++i) {
        last_index_[pending_[i].series] = i;
      }
    }
    auto it = last_index_.find(s);
    return it == last_index_.end() ? nullptr : &pending_[it->second];
  }

  DB* db_;
  const int64_t min_valid_;
  bool done_ = false;
  // Owned until Release hands them back to the thread; pending_ and seen_
  // are not used after that.
  std::unique_ptr<Buffers> bufs_;
  std::vector<PendingSample>& pending_;
  // Bit r: series with ref r has a sample in pending_ (while !map_mode_).
  std::vector<uint64_t>& seen_;
  bool map_mode_ = false;
  // Whether the refs of pending_ so far do not decrease, and the last one.
  bool in_ref_order_ = true;
  SeriesRef last_ref_ = 0;
  // Series -> index of its newest sample in pending_ (once map_mode_).
  absl::flat_hash_map<MemSeries*, size_t> last_index_;
};

// --- DB
// -------------------------------------------------------------------------

DB::DB(const DBOptions& options) : options_(options) {
  if (!options_.now_ms) {
    options_.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  }
}

DB::~DB() { Close().IgnoreError(); }

int64_t DB::NowMs() const { return options_.now_ms(); }

int64_t DB::RetentionCutoff() const {
  return retention_cutoff_.load(std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<DB>> DB::Open(const DBOptions& options) {
  if (options.tune_malloc) {
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
  }
  std::unique_ptr<DB> db(new DB(options));
  if (options.retention > absl::ZeroDuration()) {
    db->retention_cutoff_.store(db->NowMs() -
                                absl::ToInt64Milliseconds(options.retention));
  }
  if (!options.path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "creating data directory ", options.path, ": ", ec.message()));
    }
    const absl::Time open_start = absl::Now();
    const double open_cpu = ProcessCpuSeconds();
    auto store = ChunkStore::Open(options.path + "/rocksdb");
    if (!store.ok()) return store.status();
    db->recovery_store_open_seconds_[0] =
        absl::ToDoubleSeconds(absl::Now() - open_start);
    db->recovery_store_open_seconds_[1] = ProcessCpuSeconds() - open_cpu;
    db->store_ = *std::move(store);
    db->store_->SetRetentionCutoff(db->RetentionCutoff());
    auto log = ChunkLog::Open(options.path + "/chunks_head",
                              options.chunk_log_segment_bytes);
    if (!log.ok()) return log.status();
    db->log_ = *std::move(log);
    absl::Status s = db->Recover();
    if (!s.ok()) return s;
    s = db->store_->EnableCompactions();
    if (!s.ok()) return s;
    auto wal = Wal::Open(options.path + "/wal", options.wal_segment_bytes);
    if (!wal.ok()) return wal.status();
    db->wal_ = *std::move(wal);
  }
  if (options.maintenance_interval > absl::ZeroDuration()) {
    DB* raw = db.get();
    db->maintenance_thread_ = std::thread([raw] { raw->MaintenanceLoop(); });
  }
  return db;
}

absl::Status DB::Close() {
  {
    absl::MutexLock l(&close_mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
  }
  {
    absl::MutexLock l(&wake_mu_);
    stopping_ = true;
  }
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  absl::Status s;
  if (store_ != nullptr) {
    s = Checkpoint(/*flush_store=*/true);
    absl::Status c = store_->Close();
    if (s.ok()) s = c;
  }
  wal_.reset();
  log_.reset();
  return s;
}

void DB::MaintenanceLoop() {
  absl::Time next_round = absl::Now() + options_.maintenance_interval;
  // After a checkpoint asked for by a commit failed (say, a full disk),
  // further requests wait for the next regular round: every commit would
  // otherwise start another failing checkpoint.
  bool requests_paused = false;
  for (;;) {
    {
      absl::MutexLock l(&wake_mu_);
      wake_mu_.AwaitWithDeadline(
          absl::Condition(
              +[](DB* db) { return db->stopping_ || db->checkpoint_wanted_; },
              this),
          next_round);
      if (stopping_) return;
      checkpoint_wanted_ = false;
      // A commit during a checkpoint may have asked for one while the
      // WAL still held the segments that checkpoint then deleted: the
      // size is checked again below, and later commits may ask again.
      checkpoint_requested_.store(false, std::memory_order_relaxed);
    }
    if (absl::Now() >= next_round) {
      RunMaintenance().IgnoreError();
      next_round = absl::Now() + options_.maintenance_interval;
      requests_paused = false;
    } else if (!requests_paused && wal_ != nullptr &&
               wal_->size_bytes() > CheckpointTrigger()) {
      // A commit found the WAL past the trigger: checkpoint now rather
      // than up to maintenance_interval later.
      requests_paused = !Checkpoint().ok();
    }
  }
}

int64_t DB::CheckpointTrigger() const {
  const int64_t limit = options_.wal_checkpoint_bytes;
  return limit - std::min(wal_after_checkpoint_.load(std::memory_order_relaxed),
                          limit / 2);
}

void DB::NoteWalGrowth() {
  if (options_.maintenance_interval <= absl::ZeroDuration()) return;
  if (wal_->size_bytes() <= CheckpointTrigger()) return;
  if (checkpoint_requested_.exchange(true, std::memory_order_relaxed)) return;
  absl::MutexLock l(&wake_mu_);
  checkpoint_wanted_ = true;
}

absl::Status DB::RunMaintenance() {
  absl::Status s = ApplyRetention();
  if (wal_ != nullptr && wal_->size_bytes() > CheckpointTrigger()) {
    absl::Status c = Checkpoint();
    if (s.ok()) s = c;
  }
  absl::Status m = MergeChunks();
  if (s.ok()) s = m;
  // Queries and the merger's reads of the head chunk log map its pages.
  if (log_ != nullptr) log_->ReleaseMappedPages();
  if (options_.tune_malloc) malloc_trim(0);
  return s;
}

std::unique_ptr<Appender> DB::NewAppender() {
  return std::make_unique<DBAppender>(this);
}

absl::StatusOr<std::unique_ptr<Querier>> DB::NewQuerier(int64_t mint,
                                                        int64_t maxt) {
  return std::unique_ptr<Querier>(new DBQuerier(this, mint, maxt));
}

void DB::NoteTimeRange(int64_t mint, int64_t maxt) {
  int64_t cur = min_time_.load(std::memory_order_relaxed);
  while (mint < cur && !min_time_.compare_exchange_weak(cur, mint)) {
  }
  cur = max_time_.load(std::memory_order_relaxed);
  while (maxt > cur && !max_time_.compare_exchange_weak(cur, maxt)) {
  }
}

int64_t DB::MinTime() const {
  const int64_t t = min_time_.load();
  if (t == kMaxT) return 0;
  return std::max(t, RetentionCutoff());
}

int64_t DB::MaxTime() const {
  const int64_t t = max_time_.load();
  return t == kMinT ? 0 : t;
}

absl::Status DB::LogSeries(absl::Span<MemSeries* const> series) {
  if (store_ == nullptr || series.empty()) return absl::OkStatus();
  // Written from views of the symbol table, in batches of a bounded size:
  // the first scrape of 100k series would otherwise build 100k Labels and a
  // 10 MB batch at once, and the heap kept the ~500 bytes a series they
  // took resident after they were freed (BM_MemoryPerActiveSeries: 1.5 KB
  // a series instead of 0.9). A definition is idempotent, so a failure
  // between batches only leaves some written early.
  constexpr size_t kBatch = 1024;
  std::vector<LabelView> views;
  std::vector<ChunkStore::SeriesDefinition> defs;
  for (size_t begin = 0; begin < series.size(); begin += kBatch) {
    const size_t end = std::min(series.size(), begin + kBatch);
    views.clear();
    defs.clear();
    for (size_t i = begin; i < end; ++i) {
      head_.AppendLabelViews(*series[i], &views);
    }
    size_t at = 0;
    for (size_t i = begin; i < end; ++i) {
      const size_t n = series[i]->syms.size() / 2;
      defs.push_back(
          {series[i]->ref, absl::MakeConstSpan(views.data() + at, n)});
      at += n;
    }
    absl::Status st = store_->PutSeries(defs);
    if (!st.ok()) return st;
  }
  for (MemSeries* s : series) head_.Slot(s->ref)->logged.store(true);
  return absl::OkStatus();
}

namespace {

// Prefetch distance (in samples) for the commit loops: each sample touches
// a series that is usually not in the CPU caches (the head is tens of MB),
// so the loops keep several series loads in flight instead of stalling on
// each in turn.
constexpr size_t kPrefetch = 8;
// Batches of up to this many samples have their series' whole state
// prefetched in the WAL pass of a commit: it stays in the CPU caches
// (about 400 bytes a series) until the apply pass.
constexpr size_t kCacheableBatch = 8192;
// How far ahead (in samples) the apply pass prefetches the batch array.
constexpr size_t kBatchAhead = 64;

// Applying a sample reads the series from its start through the open
// chunk encoder's hot state (3 or 4 cache lines, depending on where malloc
// put the object). The encoder's colder state (residual code statistics)
// is not prefetched: the usual scraped sample (on time, predicted value)
// does not read it, and with 100k series in a batch the line fill buffers,
// not latency, bound the loop, so every line prefetched costs.
inline void PrefetchSeriesForApply(const MemSeries* s)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const uintptr_t end = reinterpret_cast<uintptr_t>(s->open.HotStateEnd());
  for (uintptr_t a = reinterpret_cast<uintptr_t>(s) & ~uintptr_t{63}; a < end;
       a += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(a), 1);
  }
}

inline void PrefetchChunkTail(const MemSeries* s)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  s->open.PrefetchTail();
}

// For locks held across a pass over many series, which the analysis
// cannot follow.
inline void LockSeries(MemSeries* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  s->mu.Lock();
}
inline void UnlockSeries(MemSeries* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  s->mu.Unlock();
}

// Calls fn once for each series of `sealed`, whose chunks of one series are
// next to each other.
template <typename Fn>
void ForEachSealedSeries(
    const std::vector<std::pair<MemSeries*, ChunkPtr>>& sealed, Fn fn) {
  for (size_t i = 0; i < sealed.size(); ++i) {
    if (i + 1 == sealed.size() || sealed[i + 1].first != sealed[i].first) {
      fn(sealed[i].first);
    }
  }
}

// A growable byte buffer that, unlike std::string, does not initialise
// what it grows over and keeps its memory between uses.
class WalBuffer {
 public:
  char* data() { return buf_.get(); }
  // Makes room for n bytes; the contents are not kept.
  void Reserve(size_t n) {
    if (n <= capacity_) return;
    capacity_ = std::max(n, capacity_ + capacity_ / 2);
    buf_.reset(new char[capacity_]);
  }
  // Frees the buffer if it grew beyond `max` (one huge batch).
  void Trim(size_t max) {
    if (capacity_ <= max) return;
    buf_.reset();
    capacity_ = 0;
  }

 private:
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
};

}  // namespace

absl::Status DB::CommitSamples(absl::Span<const PendingSample> pending,
                               bool in_ref_order) {
  commits_.fetch_add(1, std::memory_order_relaxed);
  if (pending.empty()) return absl::OkStatus();
  absl::ReaderMutexLock commit_lock(&commit_mu_);
  const size_t n = pending.size();
  std::vector<std::pair<MemSeries*, ChunkPtr>> sealed;
  int64_t applied = 0;
  int64_t mint = kMaxT, maxt = kMinT;
  // A sample is applied only if it is newer than the series' newest sample
  // at this point (another appender may have got there since Append
  // validated); samples of one series in a batch are increasing, so the
  // check gives the same answer before and while applying.
  auto apply = [&](const PendingSample& p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    MemSeries* s = p.series;
    if (p.t <= s->max_time) {
      if (!(p.t == s->max_time && ValueBits(p.v) == s->last_bits)) {
        out_of_order_.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    ChunkPtr c;
    head_.AppendLocked(s, p.t, p.v, &c);
    ++applied;
    mint = std::min(mint, p.t);
    maxt = std::max(maxt, p.t);
    if (c != nullptr && store_ != nullptr) sealed.emplace_back(s, c);
  };

  {
    // Every series of the batch stays locked from validation through the
    // WAL write (if there is a WAL) to the in-memory append. Two commits
    // touching the same series are then ordered the same way in the WAL and in
    // memory, so replay rebuilds exactly what readers saw; the WAL holds
    // only samples that were applied. Locks are taken in ref order
    // (deadlock-free); a scrape's batch is normally in ref order already,
    // otherwise the samples are visited in a copy stably sorted by ref
    // (which keeps each series' samples in their increasing order).
    const bool sorted = in_ref_order;
    std::vector<PendingSample> by_ref;
    if (!sorted) {
      by_ref.assign(pending.begin(), pending.end());
      std::stable_sort(by_ref.begin(), by_ref.end(),
                       [](const PendingSample& a, const PendingSample& b) {
                         return a.ref < b.ref;
                       });
    }
    // A plain array: the passes below index it several times per sample.
    const PendingSample* const ps = sorted ? pending.data() : by_ref.data();
    auto at = [ps](size_t i) -> const PendingSample& { return ps[i]; };
    // The WAL pass locks and checks each series through its slot (see
    // SeriesSlot), which a batch in ref order walks sequentially; only the
    // apply pass touches the series objects.
    auto slot_at = [&](size_t i) { return head_.Slot(at(i).ref); };
    // The slot's lock and newest time (one cache line, or two when the
    // 24-byte slot straddles a boundary).
    auto PrefetchSlot = [&](SeriesRef ref) {
      __builtin_prefetch(&head_.Slot(ref)->max_time, 1);
    };
    auto unlock_all = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (size_t i = 0; i < n; ++i) {
        if (i + 1 == n || at(i + 1).ref != at(i).ref) slot_at(i)->mu.Unlock();
      }
    };
    // The whole batch is one WAL record, written before any sample is
    // applied, so a crash leaves all of a commit or none of it, and a WAL
    // error leaves memory untouched. (Committing in blocks, each logged
    // and applied before the next, kept the series in cache but made a
    // commit cut by a crash partly durable: DBRecoveryTest.
    // SigkillDuringCheckpoint caught it.)
    //
    // One pass: lock each series once and encode the samples that will
    // apply into the WAL record. Series definitions must reach the store
    // before any WAL sample names them; a batch with series not logged yet
    // (their first commit) unlocks, logs them without holding series locks
    // and runs the pass again. For a batch whose series fit in the CPU
    // caches, their state is fetched here too, ready for the apply pass;
    // for a larger one it would be evicted again before use.
    const bool prefetch_all = n <= kCacheableBatch;
    static thread_local WalBuffer rec;
    rec.Reserve(WalSamplesEncoder::MaxBytes(wal_ != nullptr ? n : 0));
    std::vector<MemSeries*> unlogged;
    size_t rec_size;
    for (;;) {
      // The batch is walked in ref order, which the record's ref deltas
      // (1 byte each in a scrape) rely on to be small.
      WalSamplesEncoder enc(rec.data());
      SeriesSlot* slot = nullptr;
      for (size_t i = 0; i < n; ++i) {
        if (prefetch_all && i + kPrefetch < n) {
          PrefetchSeriesForApply(at(i + kPrefetch).series);
        } else if (i + kPrefetch < n) {
          // The slot the lock's exchange waits for (the hardware
          // prefetcher does not run ahead of a locked instruction).
          PrefetchSlot(at(i + kPrefetch).ref);
        }
        const PendingSample& p = at(i);
        if (i == 0 || p.ref != at(i - 1).ref) {
          slot = head_.Slot(p.ref);
          slot->mu.Lock();
          if (wal_ != nullptr &&
              !slot->logged.load(std::memory_order_relaxed)) {
            unlogged.push_back(p.series);
          }
        }
        // Stale (a concurrent commit got there first): not logged, not
        // applied.
        if (wal_ == nullptr || p.t <= static_cast<int64_t>(slot->max_time)) {
          continue;
        }
        enc.Add(p.ref, p.t, p.v);
      }
      rec_size = enc.size();
      if (unlogged.empty()) break;
      unlock_all();
      absl::Status st = LogSeries(unlogged);
      if (!st.ok()) return st;
      unlogged.clear();
    }
    absl::Status st =
        rec_size > 1 ? wal_->Append(absl::string_view(rec.data(), rec_size))
                     : absl::OkStatus();
    // (Without a WAL nothing was encoded: rec_size is 1.)
    rec.Trim(size_t{16} << 20);
    if (!st.ok()) {
      unlock_all();
      return st;
    }
    for (size_t i = 0; i < n; ++i) {
      // The batch itself (32 bytes a sample, megabytes for a big scrape)
      // fell out of the L2 cache since the first pass; its lines are
      // fetched well ahead so that reading the series pointer to prefetch
      // does not wait for them.
      if (i + kBatchAhead < n) __builtin_prefetch(&at(i + kBatchAhead));
      if (i + 2 * kPrefetch < n) {
        PrefetchSeriesForApply(at(i + 2 * kPrefetch).series);
        // Applying writes the series' newest time and unlocks it, both in
        // its slot, which has also left the L2 cache since the first pass
        // (it was ~20% of the apply pass's stalls).
        PrefetchSlot(at(i + 2 * kPrefetch).ref);
      }
      if (i + kPrefetch < n) {
        // The encoder state of that series was fetched kPrefetch samples
        // ago; now fetch the chunk byte its append writes to (a miss on
        // almost every sample otherwise). The series is locked by this
        // commit since the WAL pass, so its encoder can be read.
        PrefetchChunkTail(at(i + kPrefetch).series);
      }
      const PendingSample& p = at(i);
      apply(p);
      // The series' last sample in the batch (its samples are adjacent):
      // unlock it, unless it sealed a chunk here that goes to the log
      // below. Logging it while the series is still locked saves locking
      // (and fetching) it twice more, and nobody sees the chunk in between.
      if ((i + 1 == n || at(i + 1).ref != p.ref) &&
          (log_ == nullptr || sealed.empty() ||
           sealed.back().first != p.series)) {
        p.series->mu.Unlock();
      }
    }
  }
  absl::Status logged = absl::OkStatus();
  if (log_ != nullptr && !sealed.empty()) {
    // In ref order, each series' chunks next to each other.
    logged = LogSealedLocked(sealed);
    ForEachSealedSeries(sealed, UnlockSeries);
  }
  samples_appended_.fetch_add(applied, std::memory_order_relaxed);
  if (applied > 0) NoteTimeRange(mint, maxt);
  // After the series locks are released (it may take the wake-up lock).
  if (wal_ != nullptr) NoteWalGrowth();
  return logged;
}

absl::Status DB::PersistSealed(
    const std::vector<std::pair<MemSeries*, ChunkPtr>>& sealed) {
  if (sealed.empty() || log_ == nullptr) return absl::OkStatus();
  // WAL replay hands over many commits' chunks at once, where one series'
  // chunks need not be next to each other: group them (keeping their
  // order) in ref order, the order commits lock series in, so locking
  // them all is deadlock-free.
  std::vector<std::pair<MemSeries*, ChunkPtr>> grouped = sealed;
  std::stable_sort(
      grouped.begin(), grouped.end(),
      [](const auto& a, const auto& b) { return a.first->ref < b.first->ref; });
  ForEachSealedSeries(grouped, LockSeries);
  absl::Status st = LogSealedLocked(grouped);
  ForEachSealedSeries(grouped, UnlockSeries);
  return st;
}

absl::Status DB::LogSealedLocked(
    const std::vector<std::pair<MemSeries*, ChunkPtr>>& sealed) {
  // Per series, the newest chunk to persist. Every older chunk still in
  // memory goes with it, so a series' chunks reach the log in time order
  // and its chain of records runs from newest to oldest (a head chunk
  // restored at Open, or a log write that failed earlier, may have left an
  // older chunk in memory).
  struct Target {
    MemSeries* series;
    int64_t upto;
    size_t first_entry;
  };
  std::vector<Target> targets;
  targets.reserve(sealed.size());
  for (const auto& [s, c] : sealed) {
    if (!targets.empty() && targets.back().series == s) {
      targets.back().upto = std::max(targets.back().upto, c->min_time);
    } else {
      targets.push_back(Target{s, c->min_time, 0});
    }
  }
  static thread_local std::vector<ChunkLog::Entry> entries;
  static thread_local std::vector<ChunkPtr> chunks;  // keeps entries' chunks
  static thread_local std::vector<uint64_t> positions;
  entries.clear();
  chunks.clear();
  // The series are locked, so their chains stay as read here until the
  // new tails are published. One writer at a time still: MoveLoggedStep
  // relies on every record of a finished segment having reached its
  // series' chain once this lock is free.
  absl::MutexLock w(&log_write_mu_);
  for (Target& t : targets) {
    MemSeries* s = t.series;
    t.first_entry = entries.size();
    uint64_t prev = s->log_tail;
    for (const ChunkPtr& c : s->sealed) {
      if (c->min_time > t.upto) break;
      entries.push_back(ChunkLog::Entry{s->ref, s->hash, prev, c.get()});
      chunks.push_back(c);
      prev = ChunkLog::kPrevInBatch;
    }
  }
  if (entries.empty()) return absl::OkStatus();  // persisted concurrently
  absl::Status st = log_->Append(entries, &positions);
  if (!st.ok()) {
    chunks.clear();
    return st;
  }
  chunks_persisted_.fetch_add(static_cast<int64_t>(entries.size()),
                              std::memory_order_relaxed);
  // Only now drop the memory copies and publish the new tails: a reader
  // finds each chunk in memory or in the log.
  int64_t oldest_end = kMaxT;
  for (size_t i = 0; i < targets.size(); ++i) {
    const size_t begin = targets[i].first_entry;
    const size_t end =
        i + 1 < targets.size() ? targets[i + 1].first_entry : entries.size();
    if (begin == end) continue;
    MemSeries* s = targets[i].series;
    auto& v = s->sealed;
    // The logged chunks were the oldest ones in memory, in order, unless
    // retention dropped some meanwhile.
    const size_t n = end - begin;
    if (v.size() >= n &&
        std::equal(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n),
                   chunks.begin() + static_cast<std::ptrdiff_t>(begin))) {
      v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
    } else {
      for (size_t k = begin; k < end; ++k) {
        v.erase(std::remove(v.begin(), v.end(), chunks[k]), v.end());
      }
    }
    s->log_tail = positions[end - 1];
    oldest_end = std::min(oldest_end, chunks[begin]->max_time);
  }
  chunks.clear();
  // A chunk of a range MoveLoggedStep is done with (a series silent for
  // hours, then sealed): the next maintenance run moves it.
  if (oldest_end != kMaxT && oldest_end < moved_below_.load()) {
    late_logged_.store(true, std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::Status DB::ResolveLastBits(MemSeries* s) {
  int64_t t;
  {
    SeriesLockGuard l(&s->mu);
    if (!s->last_bits_unknown) return absl::OkStatus();
    t = s->max_time;
  }
  std::vector<ChunkPtr> chunks;
  absl::Status st = CollectChunks(s, t, t, &chunks);
  if (!st.ok()) return st;
  std::vector<Sample> found;
  for (const ChunkPtr& c : chunks) {
    int64_t last = kMinT;
    st = DecodeChunk(*c, t, t, &last, &found);
    if (!st.ok()) return st;
  }
  SeriesLockGuard l(&s->mu);
  if (s->last_bits_unknown && s->max_time == t && !found.empty()) {
    s->last_bits = ValueBits(found.back().v);
    s->last_bits_unknown = false;
  }
  return absl::OkStatus();
}

absl::Status DB::CollectChunks(MemSeries* s, int64_t mint, int64_t maxt,
                               std::vector<ChunkPtr>* out) {
  bool read_store = false;
  {
    SeriesLockGuard l(&s->mu);
    if (s->max_time < mint || s->min_time > maxt) return absl::OkStatus();
    absl::Status st = ReadLoggedChunks(*s, mint, maxt, out);
    if (!st.ok()) return st;
    for (const ChunkPtr& c : s->sealed) {
      if (c->max_time >= mint && c->min_time <= maxt) out->push_back(c);
    }
    if (s->open.num_samples() > 0 && s->open.max_time() >= mint &&
        s->open.min_time() <= maxt) {
      out->push_back(ChunkOf(s->open));
    }
    read_store = store_ != nullptr && s->persisted_max_time >= mint;
  }
  if (read_store) {
    // After the memory snapshot (see PersistSealed).
    absl::Status st = store_->ReadChunks(s->ref, mint, maxt, out);
    if (!st.ok()) return st;
  }
  std::stable_sort(out->begin(), out->end(),
                   [](const ChunkPtr& a, const ChunkPtr& b) {
                     return a->min_time < b->min_time;
                   });
  return absl::OkStatus();
}

DBStats DB::Stats() const {
  DBStats st;
  st.head_series = static_cast<int64_t>(head_.NumSeries());
  st.symbols = static_cast<int64_t>(head_.symbols().size());
  head_.ForEach([&](MemSeries* s) {
    SeriesLockGuard l(&s->mu);
    st.head_chunks += static_cast<int64_t>(s->sealed.size()) +
                      (s->open.num_samples() > 0 ? 1 : 0);
  });
  st.samples_appended = samples_appended_.load();
  st.out_of_order = out_of_order_.load();
  st.duplicate = duplicate_.load();
  st.out_of_bounds = out_of_bounds_.load();
  st.invalid_labels = invalid_labels_.load();
  st.commits = commits_.load();
  if (wal_ != nullptr) st.wal_bytes = wal_->size_bytes();
  if (log_ != nullptr) st.chunk_log_bytes = log_->size_bytes();
  if (store_ != nullptr) {
    st.disk_bytes = store_->DiskBytes() + st.wal_bytes + st.chunk_log_bytes;
  }
  st.chunks_persisted = chunks_persisted_.load();
  st.chunks_moved = chunks_moved_.load();
  st.wal_checkpoints = wal_checkpoints_.load();
  st.compactions = compactions_.load();
  st.retention_deletions = retention_deletions_.load();
  st.chunk_merges = chunk_merges_.load();
  st.chunks_merged = chunks_merged_.load();
  st.chunk_merge_samples = chunk_merge_samples_.load();
  st.min_time = MinTime();
  st.max_time = MaxTime();
  st.recovery_store_open_seconds = recovery_store_open_seconds_[0];
  st.recovery_series_seconds = recovery_series_seconds_[0];
  st.recovery_head_chunks_seconds = recovery_head_chunks_seconds_[0];
  st.recovery_wal_seconds = recovery_wal_seconds_[0];
  st.recovery_store_open_cpu_seconds = recovery_store_open_seconds_[1];
  st.recovery_series_cpu_seconds = recovery_series_seconds_[1];
  st.recovery_head_chunks_cpu_seconds = recovery_head_chunks_seconds_[1];
  st.recovery_wal_cpu_seconds = recovery_wal_seconds_[1];
  st.recovery_head_chunks = recovery_head_chunks_;
  st.recovery_wal_records = recovery_wal_records_;
  st.recovery_wal_samples = recovery_wal_samples_;
  return st;
}

}  // namespace vigil::tsdb
