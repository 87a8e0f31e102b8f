// ChunkStore: the durable part of the DB, on RocksDB. Column families:
//   series      ref(8, big-endian) -> labels (checksummed)
//   seriesmeta  ref                -> persisted min/max time of the series
//   chunks      ref + mint(8, big-endian, sign bit flipped) -> chunk
//   headchunks  ref                -> open chunk as of the last checkpoint
//   default     "wal_checkpoint"   -> first WAL segment still needed
// Big-endian keys make one series' chunks a single range scan in time
// order. Chunk values carry their own CRC32 so corruption is reported with
// the key instead of being decoded into wrong samples. Chunks older than the
// retention cutoff are dropped by a compaction filter.
// Writes go through RocksDB's WAL without sync: they survive kill -9.
#ifndef VIGIL_TSDB_STORE_H_
#define VIGIL_TSDB_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tsdb/appender.h"
#include "tsdb/head.h"
#include "tsdb/labels.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Iterator;
class CompactionFilter;
}  // namespace rocksdb

namespace vigil::tsdb {

struct PersistedSeries {
  SeriesRef ref = 0;
  Labels labels;
  bool has_meta = false;
  int64_t min_time = 0;  // of persisted chunks, valid when has_meta
  int64_t max_time = 0;
};

// One stored series as ScanSeries hands it out; the label views are valid
// only during the callback.
struct StoredSeries {
  SeriesRef ref = 0;
  const LabelView* labels = nullptr;
  size_t num_labels = 0;
  bool has_meta = false;
  int64_t min_time = 0;  // of persisted chunks, valid when has_meta
  int64_t max_time = 0;
};

struct ChunkWrite {
  SeriesRef ref;
  ChunkPtr chunk;
  // Persisted bounds of the series including this chunk.
  int64_t series_min_time;
  int64_t series_max_time;
};

class ChunkStore {
 public:
  // Opens or creates the RocksDB store in `dir`. With `read_only`, nothing
  // is created or written.
  static absl::StatusOr<std::unique_ptr<ChunkStore>> Open(
      const std::string& dir, bool read_only = false);
  ~ChunkStore();

  // A series definition to write: its ref and label pairs sorted by name.
  struct SeriesDefinition {
    SeriesRef ref;
    absl::Span<const LabelView> labels;
  };
  // Writes the definitions in one atomic batch.
  absl::Status PutSeries(absl::Span<const SeriesDefinition> series);
  absl::Status PutChunks(const std::vector<ChunkWrite>& chunks);
  // Replaces the head chunk of each ref; a null chunk deletes it.
  absl::Status PutHeadChunks(
      const std::vector<std::pair<SeriesRef, ChunkPtr>>& chunks);

  // Appends chunks of `ref` overlapping [mint, maxt] in time order.
  absl::Status ReadChunks(SeriesRef ref, int64_t mint, int64_t maxt,
                          std::vector<ChunkPtr>* out) const;

  // ReadChunks for many series from one thread at a time. Creating a
  // RocksDB iterator per series was a third of an instant query's CPU (a
  // merging iterator over every SST file and memtable); a reader keeps one
  // and re-seeks it, which stays within the current data block when series
  // are read in key order. A reader sees the store as of its creation, so
  // create it after snapshotting the head's chunks (see DB's querier), and
  // destroy it before the store.
  class ChunkReader {
   public:
    ~ChunkReader();
    ChunkReader(const ChunkReader&) = delete;
    ChunkReader& operator=(const ChunkReader&) = delete;

    // Same contract as ChunkStore::ReadChunks. Chunks ending before `mint`
    // are skipped from their header, without copying or checksumming them.
    absl::Status Read(SeriesRef ref, int64_t mint, int64_t maxt,
                      std::vector<ChunkPtr>* out);

    // A stored chunk as Visit hands it out: `bytes` points into RocksDB's
    // block and is valid only during the callback.
    struct ChunkView {
      int64_t min_time = 0;
      int64_t max_time = 0;
      int num_samples = 0;
      ChunkEncoding encoding = kHeadChunkEncoding;
      absl::string_view bytes;
    };
    // Read without the copies: calls `fn` for each chunk Read would return
    // (same order, same checks, checksum verified), and stops at the first
    // error it returns. A query decodes straight from the block this way
    // instead of allocating and copying every chunk first.
    absl::Status Visit(SeriesRef ref, int64_t mint, int64_t maxt,
                       absl::FunctionRef<absl::Status(const ChunkView&)> fn);

   private:
    friend class ChunkStore;
    ChunkReader(const ChunkStore* store, rocksdb::Iterator* it);
    const ChunkStore* store_;
    std::unique_ptr<rocksdb::Iterator> it_;
  };
  std::unique_ptr<ChunkReader> NewChunkReader() const;

  // Visits every series (with its meta), then every head chunk. A checksum
  // or decode failure is DataLoss naming the column family and key.
  absl::Status LoadSeries(
      const std::function<absl::Status(PersistedSeries)>& fn) const;
  // Like LoadSeries, without building a Labels per series: visits the
  // series in ref order, `batch_size` at a time. For recovery.
  // RocksDB's estimate of the number of stored series (0 if unknown), for
  // pre-sizing the head at Open.
  size_t EstimateSeriesCount() const;
  absl::Status ScanSeries(
      size_t batch_size,
      const std::function<absl::Status(absl::Span<const StoredSeries>)>& fn)
      const;
  absl::Status LoadHeadChunks(
      const std::function<absl::Status(SeriesRef, ChunkPtr)>& fn) const;
  // Visits every chunk (for CheckDataDir).
  absl::Status ForEachChunk(
      const std::function<absl::Status(SeriesRef, ChunkPtr)>& fn) const;

  absl::StatusOr<uint64_t> GetWalCheckpoint() const;
  absl::Status SetWalCheckpoint(uint64_t segment);

  // Bulk load for backfill: writes the definitions of `new_series` (refs
  // not stored yet), `chunks` and the series meta they imply (the last
  // ChunkWrite of each ref gives its bounds) as sorted SST files and
  // ingests them in one RocksDB IngestExternalFiles call, which is atomic
  // across the column families, also under kill -9: afterwards either all
  // of it is visible or none. Bypasses memtables, RocksDB's WAL and
  // compaction: into an empty key range the files land in the bottommost
  // level as they are. `chunks` need not be sorted; two chunks with the same
  // (ref, min_time) are an error.
  absl::Status IngestBulk(
      const std::vector<std::pair<SeriesRef, const Labels*>>& new_series,
      std::vector<ChunkWrite> chunks);
  // Sorted runs a chunk read may have to merge: L0 files plus non-empty
  // levels below. 1 after a bulk load into an empty store.
  absl::StatusOr<int> ChunkSortedRuns() const;

  // Where a merge scan (ScanRangesToMerge) stands: the key to go on from.
  struct MergeCursor {
    SeriesRef ref = 0;
    int64_t time = std::numeric_limits<int64_t>::min();
    bool done = false;  // the scan reached the end of the family
  };
  // One series' chunks of one chunk range, oldest key first.
  struct RangeChunks {
    SeriesRef ref = 0;
    int64_t range_start = 0;
    std::vector<ChunkPtr> chunks;
  };
  // For the chunk merger: walks the chunks family in key order from
  // *cursor and calls `fn` for each (series, chunk range) that holds two or
  // more chunks and whose range starts in [from_range, below_range); a
  // series' chunks outside that window are skipped by seeking. Stops once
  // about `max_keys` keys were stepped over (between ranges, never inside
  // one) or `fn` returns false, leaving *cursor at the next range; sets
  // cursor->done at the end of the family. Reads one consistent snapshot
  // per call; checksums are verified (DataLoss names the key).
  absl::Status ScanRangesToMerge(int64_t from_range, int64_t below_range,
                                 int64_t max_keys, MergeCursor* cursor,
                                 absl::FunctionRef<bool(RangeChunks)> fn) const;
  // Replaces chunks of one series by others covering the same samples.
  struct ChunkReplacement {
    SeriesRef ref = 0;
    std::vector<int64_t> old_min_times;  // keys to delete
    std::vector<ChunkPtr> chunks;        // to write
    // Also sets the series' meta row (its bounds in the store).
    bool meta = false;
    int64_t meta_min_time = 0;
    int64_t meta_max_time = 0;
  };
  // One atomic WriteBatch (through RocksDB's WAL, so also under kill -9):
  // every old key is deleted and every new chunk written, or nothing is.
  // A new chunk may reuse an old key.
  absl::Status ReplaceChunks(absl::Span<const ChunkReplacement> replacements);

  // Removes a series and all its data.
  absl::Status DeleteSeries(absl::Span<const SeriesRef> refs);
  // Deletes the chunks of `ref` whose min_time is in [from, to].
  absl::Status DeleteChunkRange(SeriesRef ref, int64_t from, int64_t to);
  absl::Status PutSeriesMeta(SeriesRef ref, int64_t min_time, int64_t max_time);

  // Chunks whose max_time is below the cutoff are dropped by compaction.
  void SetRetentionCutoff(int64_t cutoff_ms);
  // Compacts the chunks column family so the filter runs now.
  absl::Status CompactChunks();
  int64_t DiskBytes() const;
  // Oldest chunk min_time in the store, if any.
  absl::StatusOr<std::optional<int64_t>> OldestChunkTime() const;
  absl::Status CreateCheckpoint(const std::string& dir);
  // Writes all memtables to SST files, emptying RocksDB's own WAL.
  absl::Status Flush();
  // A writable store opens with automatic compactions off, so compactions
  // left over from before (the L0 files the last Close flushed) do not
  // compete with recovery for the CPU; DB::Open turns them on here once
  // the head is rebuilt.
  absl::Status EnableCompactions();
  // Compacts the families recovery scans whose keys are rewritten while
  // the DB runs (head chunks: every checkpoint; series meta: every
  // persisted chunk), so the next Open reads one version of each key
  // instead of skipping every older one. Called by Close.
  absl::Status CompactScanned();
  absl::Status Close();

 private:
  ChunkStore() = default;

  std::string dir_;
  std::shared_ptr<std::atomic<int64_t>> cutoff_;
  std::unique_ptr<rocksdb::CompactionFilter> filter_;  // outlives db_
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* series_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* chunks_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* head_cf_ = nullptr;
};

// Chunk value encoding shared by the chunks and headchunks families.
std::string EncodeChunkValue(const ChunkData& c);
absl::StatusOr<ChunkPtr> DecodeChunkValue(absl::string_view value);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_STORE_H_
