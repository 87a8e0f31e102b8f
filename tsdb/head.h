// The head: every series known to the DB, kept in memory with interned label
// strings, the open (still growing) chunk of each series, sealed chunks not
// yet handed to durable storage, and the inverted index (postings per
// label pair) used to select series.
//
// Concurrency: series maps are striped by hash/ref (no global lock on the
// append path); each series has its own mutex for its chunk state; the
// inverted index has one reader/writer lock that is only taken for writing
// when a series is created or removed.
//
//   Head head;
//   auto [s, created] = head.GetOrCreate(labels);
//   { SeriesLockGuard l(&s->mu); head.AppendLocked(s, t, v, &sealed); }
#ifndef VIGIL_TSDB_HEAD_H_
#define VIGIL_TSDB_HEAD_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "tsdb/appender.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/chunkenc/range_chunk.h"
#include "tsdb/huge_pages.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "tsdb/postings.h"
#include "tsdb/raw_chunk.h"
#include "tsdb/sample.h"
#include "tsdb/series_arena.h"

namespace vigil::tsdb {

// Interns label names and values so each series stores 4-byte ids. Strings
// are never removed; ids are dense from 0. Thread-safe.
class SymbolTable {
 public:
  SymbolTable();
  uint32_t Intern(absl::string_view s);
  // Interns strs[i] into ids[i] for all i under one lock acquisition.
  void InternMany(absl::Span<const absl::string_view> strs, uint32_t* ids);
  // The id of `s`, if interned.
  std::optional<uint32_t> Find(absl::string_view s) const;
  // `id` must come from Intern/Find on this table. The view stays valid for
  // the table's lifetime.
  absl::string_view Lookup(uint32_t id) const;
  size_t size() const;
  // Bytes held by the interned strings (for memory accounting).
  size_t bytes() const;

 private:
  static constexpr int kBlockBits = 12;
  static constexpr size_t kMaxBlocks = 1 << 16;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<absl::string_view, uint32_t> ids_ ABSL_GUARDED_BY(mu_);
  // Fixed array of blocks so Lookup needs no lock: a reader only sees ids
  // published to it through another synchronized structure.
  std::unique_ptr<std::unique_ptr<std::string[]>[]> blocks_;
  uint32_t next_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// How a chunk's bytes are encoded. Stored with every persisted chunk.
enum class ChunkEncoding : uint8_t {
  kRaw = 1,  // tsdb/raw_chunk.h
  kXor = 2,  // the Gorilla-style codec of tsdb/chunkenc/chunk.h
  // tsdb/chunkenc/range_chunk.h: chunks of closed chunk ranges, written
  // whole by `vigil import` and the chunk merger.
  kRange = 3,
};

// The encoder used for open head chunks.
using HeadChunkEncoder = chunkenc::ChunkEncoder;
inline constexpr ChunkEncoding kHeadChunkEncoding = ChunkEncoding::kXor;

// An immutable chunk, shared between the head and queriers.
struct ChunkData {
  int64_t min_time = 0;
  int64_t max_time = 0;
  int num_samples = 0;
  ChunkEncoding encoding = kHeadChunkEncoding;
  std::string bytes;
};
using ChunkPtr = std::shared_ptr<const ChunkData>;

// An immutable copy of what `enc` holds so far (nullptr when it is empty):
// a sealed chunk, or a snapshot of an open one for a reader.
ChunkPtr ChunkOf(const HeadChunkEncoder& enc);
// The chunk `enc` holds (nullptr when it is empty), as a kRange chunk; `enc`
// is left empty.
ChunkPtr RangeChunkOf(chunkenc::RangeChunkEncoder* enc);

// Appends the samples of `chunk` with t in [mint, maxt] and t > *last_t to
// `out`, updating *last_t. The `last_t` filter drops samples a caller has
// already seen from an overlapping copy of the same chunk.
absl::Status DecodeChunk(const ChunkData& chunk, int64_t mint, int64_t maxt,
                         int64_t* last_t, std::vector<Sample>* out);

// Chunks are cut at this many samples or at multiples of kChunkRange.
inline constexpr int kSamplesPerChunk = 120;
// Head chunks of a series are cut at kSamplesPerChunk plus a per-series
// offset in [-kChunkJitter / 2, kChunkJitter / 2) derived from its label
// hash: series scraped together would otherwise all seal (and persist) their
// chunks in the same commit, a latency spike every kSamplesPerChunk scrapes.
// Centred on kSamplesPerChunk, so a series cuts as often on average as in
// Prometheus (offsets in [-32, 0) cut 15 % more chunks, each a copy, a log
// record and a lock pass).
inline constexpr int kChunkJitter = 32;
inline int SamplesPerChunk(uint64_t series_hash) {
  return kSamplesPerChunk - kChunkJitter / 2 +
         static_cast<int>((series_hash * 0x9E3779B97F4A7C15ULL) >> 59);
}
inline constexpr int64_t kChunkRangeMs = 2 * 3600 * 1000;
// Persisted chunks written whole (by `vigil import` and the chunk merger)
// cover one closed chunk range up to this many samples: a whole range at a
// 15 s scrape, instead of the head's ~120. Each chunk costs a reader about
// as much as decoding 40 samples (store key, checksum, header, decoder
// start), so at 480 that is under 10 % of a range query; but a chunk is
// decoded from its start, so an instant query into old data decodes up to
// this many samples per series, which bounds it for fast scrapes.
inline constexpr int kMaxSamplesPerRangeChunk = 480;

// Floors t to the start of its chunk range (also for negative t).
inline int64_t ChunkRangeStart(int64_t t) {
  int64_t q = t / kChunkRangeMs;
  if (t % kChunkRangeMs < 0) --q;
  return q * kChunkRangeMs;
}

// A one-byte lock for a series' chunk state. Critical sections are a few
// hundred nanoseconds and rarely contended (one scrape writes a series), so
// spinning then yielding beats a full mutex, and it is not tracked by
// absl::Mutex's debug deadlock detector, which costs microseconds per lock
// with millions of locks.
class ABSL_LOCKABLE SeriesLock {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
        if (i >= 64) std::this_thread::yield();
      }
    }
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SeriesLockGuard {
 public:
  explicit SeriesLockGuard(SeriesLock* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~SeriesLockGuard() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  SeriesLockGuard(const SeriesLockGuard&) = delete;
  SeriesLockGuard& operator=(const SeriesLockGuard&) = delete;

 private:
  SeriesLock* const mu_;
};

// The (name id, value id) pairs of a series, sorted by name. The ids are
// stored in the same allocation as their MemSeries, right after it.
class SeriesSymbols {
 public:
  size_t size() const { return n_; }
  uint32_t operator[](size_t i) const { return ids_[i]; }
  const uint32_t* begin() const { return ids_; }
  const uint32_t* end() const { return ids_ + n_; }

 private:
  friend struct MemSeries;
  SeriesSymbols(const uint32_t* ids, uint32_t n) : ids_(ids), n_(n) {}
  const uint32_t* ids_;
  uint32_t n_;
};

// An int64 written by one thread at a time (under a series lock) and read
// by others without it: a relaxed atomic with the syntax of a plain int64
// (a relaxed load or store is a plain move on x86).
class RelaxedInt64 {
 public:
  RelaxedInt64() = default;
  RelaxedInt64(const RelaxedInt64&) = delete;
  RelaxedInt64& operator=(const RelaxedInt64&) = delete;
  operator int64_t() const { return v_.load(std::memory_order_relaxed); }
  RelaxedInt64& operator=(int64_t v) {
    v_.store(v, std::memory_order_relaxed);
    return *this;
  }

 private:
  std::atomic<int64_t> v_;
};

struct MemSeries;

// The state of a series that every sample of every commit reads or writes
// before the sample is applied: its lock, whether its definition is
// durable, and its newest timestamp. It lives in Head's dense array indexed
// by ref, not in the series: a scrape's samples come in ref order, so
// Append's validation and the commit's lock-and-log pass walk this array
// sequentially (prefetched by the hardware, 24 bytes per series) instead of
// missing the cache on every series object of a head that outgrows the CPU
// caches. Only applying a sample touches the series itself, once per
// commit. All-zero bytes are the state of a never-used slot.
struct SeriesSlot {
  std::atomic<MemSeries*> series;
  // The series' newest sample time; MemSeries::max_time refers to it.
  // Written under `mu`; Append reads it without the lock (a stale value
  // only lets a sample through to the commit, which checks again).
  RelaxedInt64 max_time;
  SeriesLock mu;
  // Set once the series definition is durable.
  std::atomic<bool> logged;
};

struct MemSeries {
  // Allocates a series with its symbol ids in the same block (one
  // allocation and no vector header per series), its lock, logged flag and
  // newest timestamp in `slot` (whose max_time and logged it resets), from
  // SeriesArena::Global(), which packs series into huge-page slabs (see
  // series_arena.h). Free it with Delete (or hold it in a MemSeriesPtr).
  static MemSeries* New(SeriesRef r, uint64_t h,
                        absl::Span<const uint32_t> syms, SeriesSlot* slot);
  // Destroys `s` and frees the whole block New allocated (nullptr is
  // ignored).
  static void Delete(MemSeries* s);
  // The arena needs the block's size, which plain delete cannot pass.
  static void operator delete(void*) = delete;

  // Fields the apply step of a commit reads or writes come first, next to
  // each other. The object is 256 bytes (a 304-byte arena block with the
  // symbol ids of 5 label pairs): `ref` takes 4 bytes (refs are
  // below 2^32, see Head::kRefBlocks) and shares 8 with last_bits_unknown
  // and samples_per_chunk, and the logged flag is reached through the slot
  // (Head::Slot).
  const uint32_t ref;
  // last_bits is not known (after recovery the newest sample is in a chunk
  // that was not decoded); DB::ResolveLastBits fills it on demand.
  bool last_bits_unknown ABSL_GUARDED_BY(mu) = false;
  // SamplesPerChunk(hash), read by every append (instead of `hash`, which
  // is kept out of the appended-to cache lines).
  const uint8_t samples_per_chunk;
  // These two are in the series' SeriesSlot (see there).
  SeriesLock& mu;
  RelaxedInt64& max_time ABSL_GUARDED_BY(mu);
  uint64_t last_bits ABSL_GUARDED_BY(mu) = 0;

  HeadChunkEncoder open ABSL_GUARDED_BY(mu);

  // Not read by the usual append: after `open`. Applying an on-time,
  // predicted sample reads the series from its start through the encoder's
  // hot state (`open.HotStateEnd()`, 144 bytes: 3 cache lines wherever
  // malloc's 16-byte alignment puts the object; with 160 bytes a quarter
  // of the series took 4), other samples the rest of `open` too.
  const uint64_t hash;
  // Bounds over all samples of the series (memory and durable storage).
  // An append lowers min_time only into an empty open chunk (samples are
  // appended in time order), so it is read only then.
  int64_t min_time ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::max();
  // (name id, value id) pairs, sorted by name.
  const SeriesSymbols syms;
  // Sealed chunks still held in memory, oldest first; none is in the
  // durable chunk store yet. They are persisted in time order (see
  // DB::PersistSealed), so every chunk older than persisted_max_time is
  // durable: recovery relies on that to skip stale head chunks.
  std::vector<ChunkPtr> sealed ABSL_GUARDED_BY(mu);
  // Bounds of the chunks already in the store (RocksDB).
  int64_t persisted_min_time ABSL_GUARDED_BY(mu) =
      std::numeric_limits<int64_t>::max();
  int64_t persisted_max_time ABSL_GUARDED_BY(mu) =
      std::numeric_limits<int64_t>::min();
  // The newest of the series' chunks in the head chunk log (a ChunkLog
  // position, 0 for none); each record names the one before it.
  uint64_t log_tail ABSL_GUARDED_BY(mu) = 0;
  // Logged chunks starting before this were moved to the store (readers
  // stop walking the chain there).
  int64_t log_floor ABSL_GUARDED_BY(mu) = std::numeric_limits<int64_t>::min();

 private:
  MemSeries(SeriesRef r, uint64_t h, const uint32_t* ids, size_t n,
            SeriesSlot* slot)
      : ref(static_cast<uint32_t>(r)),
        samples_per_chunk(static_cast<uint8_t>(SamplesPerChunk(h))),
        mu(slot->mu),
        max_time(slot->max_time),
        hash(h),
        syms(ids, static_cast<uint32_t>(n)) {}
};

struct MemSeriesDeleter {
  void operator()(MemSeries* s) const { MemSeries::Delete(s); }
};
using MemSeriesPtr = std::unique_ptr<MemSeries, MemSeriesDeleter>;

// Result of validating a sample against a series' newest sample.
AppendError CheckSample(int64_t max_time, uint64_t last_bits, int64_t t,
                        double v);

class Head {
 public:
  Head();
  ~Head();
  Head(const Head&) = delete;
  Head& operator=(const Head&) = delete;

  // Finds the series with exactly `labels` or creates it with the next ref
  // (labels must be valid; the caller checks). Returns it and whether it
  // was created.
  std::pair<MemSeries*, bool> GetOrCreate(const Labels& labels);
  // Creates a series with a given ref during recovery; returns the existing
  // one when the ref is known. Later refs are allocated above it.
  MemSeries* CreateWithRef(SeriesRef ref, const Labels& labels);
  // Recovery: creates series with the given refs and (valid, sorted) label
  // views, which need only live for the call, taking each shared lock once
  // per batch instead of once per series and label. A ref that exists
  // already yields the existing series. out[i] receives batch[i]'s series.
  struct SeriesInit {
    SeriesRef ref;
    const LabelView* labels;
    size_t num_labels;
  };
  // Buffers CreateBatch reuses from one batch to the next when the caller
  // keeps one (at 4096 series a batch they are megabytes: allocated per
  // call, they came from fresh mmaps and cost page faults every batch).
  struct CreateBatchScratch {
    std::vector<uint32_t> ids, same_as, strs_at, found;
    std::vector<absl::string_view> strs;
    std::vector<size_t> first;
    std::vector<bool> is_new;
  };
  void CreateBatch(absl::Span<const SeriesInit> batch, MemSeries** out,
                   CreateBatchScratch* scratch = nullptr);
  // Recovery: makes room for `n` more series in the hash stripes, so that
  // loading them does not grow the stripes by rehashing (which reads the
  // hash of every series already in them: cache misses at 1M series).
  void ReserveSeries(size_t n);
  // nullptr when unknown.
  MemSeries* Get(SeriesRef ref) const {
    const SeriesSlot* slot = Slot(ref);
    return slot == nullptr ? nullptr
                           : slot->series.load(std::memory_order_acquire);
  }
  // The slot of `ref` (see SeriesSlot); nullptr when no series with a ref
  // near it was ever created. A slot whose series is null is unused.
  SeriesSlot* Slot(SeriesRef ref) const {
    const size_t b = static_cast<size_t>(ref >> kRefBlockBits);
    if (b >= kRefBlocks) return nullptr;
    SeriesSlot* block = ref_blocks_[b].load(std::memory_order_acquire);
    if (block == nullptr) return nullptr;
    return &block[ref & ((SeriesRef{1} << kRefBlockBits) - 1)];
  }
  // The series with exactly `labels`, or nullptr.
  MemSeries* Find(const Labels& labels) const;

  // Appends a validated sample; the caller holds s->mu and has checked
  // CheckSample. When the open chunk is cut, the sealed chunk is pushed to
  // s->sealed and also returned through `*sealed` (if non-null).
  void AppendLocked(MemSeries* s, int64_t t, double v, ChunkPtr* sealed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu);
  // Seals the open chunk if it has samples; returns it or nullptr.
  ChunkPtr SealLocked(MemSeries* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu);

  Labels LabelsOf(const MemSeries& s) const;
  // Appends the label pairs of `s`, sorted by name, as views of the symbol
  // table (valid while `s` exists).
  void AppendLabelViews(const MemSeries& s, std::vector<LabelView>* out) const;

  // Refs of series matching all matchers (all series when empty), sorted.
  PostingsList Select(absl::Span<const Matcher> matchers) const;
  // Names with at least one series, sorted.
  std::vector<std::string> AllLabelNames() const;
  // Values of `name` with at least one series, sorted.
  std::vector<std::string> AllLabelValues(absl::string_view name) const;
  // Number of series carrying each (name, value), for cardinality stats.
  void ForEachPosting(
      const std::function<void(absl::string_view name, absl::string_view value,
                               size_t count)>& fn) const;

  // Removes series from the maps and the index and hands them to the
  // caller, who frees them once no appender or querier can still use them.
  std::vector<MemSeriesPtr> Remove(absl::Span<const SeriesRef> refs);

  // Calls fn for every series (in no particular order).
  void ForEach(const std::function<void(MemSeries*)>& fn) const;

  size_t NumSeries() const { return num_series_.load(); }
  SeriesRef LastRef() const { return next_ref_.load() - 1; }
  const SymbolTable& symbols() const { return symbols_; }

 private:
  static constexpr size_t kStripes = 1024;
  // A lookup of the series with `labels` (whose hash is `hash`).
  struct LabelsKey {
    uint64_t hash;
    const Labels* labels;
    const Head* head;
  };
  // A stripe's series are a set of pointers hashed by their label hash:
  // one 8-byte slot per series (a map from hash to a vector of series cost
  // ~49 B per series). Series whose hashes collide are separate elements;
  // a lookup compares labels. All hashes of a stripe share their low bits
  // (the stripe index), so the set hashes the bits above them.
  struct SeriesHash {
    using is_transparent = void;
    size_t operator()(const MemSeries* s) const { return Mix(s->hash); }
    size_t operator()(const LabelsKey& k) const { return Mix(k.hash); }
    static size_t Mix(uint64_t h) { return (h >> 10) | (h << 54); }
  };
  struct SeriesEq {
    using is_transparent = void;
    bool operator()(const MemSeries* a, const MemSeries* b) const {
      return a == b;
    }
    bool operator()(const LabelsKey& k, const MemSeries* s) const {
      return s->hash == k.hash && k.head->SameLabels(*s, *k.labels);
    }
    bool operator()(const MemSeries* s, const LabelsKey& k) const {
      return (*this)(k, s);
    }
  };
  struct alignas(64) Stripe {
    mutable absl::Mutex mu;
    absl::flat_hash_set<MemSeries*, SeriesHash, SeriesEq> by_hash
        ABSL_GUARDED_BY(mu);
  };
  // Refs are dense, so ref -> slot is a two-level array read without
  // locks: appends with a known ref take no shared lock at all. Blocks are
  // mapped zeroed (untouched pages cost nothing), each in one huge page's
  // worth of address space (see huge_pages.h), and never freed before the
  // head, so a slot outlives a removed series.
  static constexpr int kRefBlockBits = 16;
  static constexpr size_t kRefBlocks = size_t{1} << 16;  // 2^32 refs
  static constexpr size_t kRefBlockBytes = kHugePageBytes;
  static_assert((size_t{1} << kRefBlockBits) * sizeof(SeriesSlot) <=
                kRefBlockBytes);
  SeriesSlot* RefSlot(SeriesRef ref, bool create);

  bool SameLabels(const MemSeries& s, const Labels& labels) const;
  MemSeries* Insert(SeriesRef ref, uint64_t hash, const Labels& labels);

  SymbolTable symbols_;
  std::unique_ptr<Stripe[]> hash_stripes_;
  // Owns the series (deleted in ~Head or handed out by Remove).
  std::unique_ptr<std::atomic<SeriesSlot*>[]> ref_blocks_;
  absl::Mutex ref_alloc_mu_;
  std::atomic<SeriesRef> next_ref_{1};
  std::atomic<size_t> num_series_{0};

  mutable absl::Mutex index_mu_;
  absl::flat_hash_map<uint32_t, absl::flat_hash_map<uint32_t, PostingsList>>
      postings_ ABSL_GUARDED_BY(index_mu_);
  PostingsList all_ ABSL_GUARDED_BY(index_mu_);
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_HEAD_H_
