// The head chunk log: sealed head chunks, appended to numbered segment files
// as the head cuts them, until the chunk merger moves them into the store
// (RocksDB) merged by chunk range. Prometheus keeps its full head chunks in
// "chunks_head" files the same way until head compaction writes a block.
//
// Writing a sealed chunk here is one memcpy into a buffer and a share of
// one write(2) per commit; putting it into RocksDB directly cost a skiplist
// insert, a memtable flush and a compaction per chunk, only for the merger
// to rewrite the chunk an hour later (about two thirds of what the WAL
// case of BM_AppendScrape spent beyond the in-memory case).
//
// Each record names its series and the position of the series' previous
// record, so a series' logged chunks form a chain from its newest one
// (MemSeries::log_tail) that readers walk without any in-memory index.
// Reads go through a read-only shared mapping of each segment and copy what
// they return; a segment is unmapped and deleted only once the merger has
// moved every chunk in it (DeleteSegmentsEndingBefore). Like the WAL, a
// record survives kill -9 of the process once Append returned (not a power
// failure: there is no fsync). Format: docs/storage.md, "Head chunk log".
//
//   auto log = ChunkLog::Open(dir, 32 << 20);
//   (*log)->ScanExisting([](const ChunkLog::Record& r) { ...; return OK; });
//   std::vector<uint64_t> pos;
//   (*log)->Append({{ref, hash, prev, chunk.get()}}, &pos);
//   ChunkPtr c; ChunkLog::Record h; bool found;
//   (*log)->Read(pos[0], &h, &c, &found);
#ifndef VIGIL_TSDB_CHUNK_LOG_H_
#define VIGIL_TSDB_CHUNK_LOG_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "tsdb/head.h"

namespace vigil::tsdb {

class ChunkLog {
 public:
  // A record's place: segment number << 32 | offset of its header. Segment
  // numbers start at 1, so 0 is never a position.
  static constexpr uint64_t kNoPosition = 0;

  // Opens `dir` (creating it) and starts a fresh segment after the last
  // existing one, so a record torn by a crash is never appended to.
  static absl::StatusOr<std::unique_ptr<ChunkLog>> Open(const std::string& dir,
                                                        int64_t segment_bytes);
  ~ChunkLog();
  ChunkLog(const ChunkLog&) = delete;
  ChunkLog& operator=(const ChunkLog&) = delete;

  struct Record {
    uint64_t pos = kNoPosition;
    SeriesRef ref = 0;
    uint64_t series_hash = 0;     // Labels::Hash of the series
    uint64_t prev = kNoPosition;  // the series' previous record
    int64_t min_time = 0;
    int64_t max_time = 0;
    int num_samples = 0;
    ChunkEncoding encoding = kHeadChunkEncoding;
  };

  // Recovery: calls `fn` for every intact record of the segments that
  // existed at Open, in write order, with the chunk's bytes (valid during
  // the call). A record torn by a crash (the last of its segment, cut short or
  // failing its checksum) ends that segment; any other damage is DataLoss
  // naming the file and offset. Also learns each segment's newest chunk
  // time, without which DeleteSegmentsEndingBefore keeps old segments.
  absl::Status ScanExisting(
      absl::FunctionRef<absl::Status(const Record&, absl::string_view)> fn);
  // The same over the segments in `dir` without opening the log (nothing
  // is written; for `vigil tsdb check`). OK when `dir` does not exist.
  static absl::Status ScanDir(
      const std::string& dir,
      absl::FunctionRef<absl::Status(const Record&, absl::string_view)> fn);

  struct Entry {
    SeriesRef ref;
    uint64_t series_hash;
    // The series' previous record, or kPrevInBatch: the entry just before
    // this one in the same Append (the series' chunks go in order).
    uint64_t prev;
    const ChunkData* chunk;
  };
  static constexpr uint64_t kPrevInBatch = ~uint64_t{0};
  // Appends `entries` in order with one write(2) per segment touched and
  // sets (*positions)[i] to entries[i]'s position. Thread-safe. On error
  // nothing written may be relied on (positions are not returned).
  absl::Status Append(absl::Span<const Entry> entries,
                      std::vector<uint64_t>* positions);

  // Reads the record at `pos` (checksum verified; DataLoss names the file
  // and offset) into *rec and, if `chunk` is not null, a copy of its chunk
  // into *chunk. *found is false when the record's segment was deleted
  // (its chunks were moved to the store). Thread-safe.
  absl::Status Read(uint64_t pos, Record* rec, ChunkPtr* chunk,
                    bool* found) const;

  // Deletes the segments numbered below `below_segment` whose chunks all
  // end before `t` (never the one being written, nor segments from before
  // Open that ScanExisting did not see).
  absl::Status DeleteSegmentsEndingBefore(int64_t t, uint64_t below_segment);
  // The number of the segment being written.
  uint64_t active_segment() const;
  // Starts a new segment, so the current one can be deleted.
  absl::Status Rotate();

  // Drops the pages readers touched from this process' mappings (they stay
  // in the page cache, and the next read maps them again): a shared file
  // mapping's touched pages count as resident memory, and without this a
  // recovery scan left the whole log in the RSS (+160 MB at 1M series).
  void ReleaseMappedPages();

  // Bytes in all segments.
  int64_t size_bytes() const {
    return total_bytes_.load(std::memory_order_relaxed);
  }
  int num_segments() const;
  static std::string SegmentPath(const std::string& dir, uint64_t n);

 private:
  struct Segment;
  ChunkLog(std::string dir, int64_t segment_bytes);
  // Calls `fn` for the intact records of segment `n` (its bytes), sets
  // *intact to the bytes they take and *max_time to their newest chunk end.
  static absl::Status ScanSegment(
      const std::string& path, uint64_t n, const char* data, size_t size,
      absl::FunctionRef<absl::Status(const Record&, absl::string_view)> fn,
      size_t* intact, int64_t* max_time);
  absl::Status StartSegment(uint64_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status WriteBuffer(std::string* buf)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const std::string dir_;
  const int64_t segment_bytes_;
  // Taken by Append and Rotate (one writer at a time), before mu_.
  mutable absl::Mutex write_mu_;
  // Guards the segment map; readers hold it shared while they copy out of
  // a mapping, so DeleteSegmentsEndingBefore never unmaps under them.
  mutable absl::Mutex mu_;
  std::map<uint64_t, std::unique_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);
  Segment* active_ ABSL_GUARDED_BY(write_mu_) = nullptr;
  uint64_t first_new_segment_ = 0;  // segments below existed at Open
  std::atomic<int64_t> total_bytes_{0};
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_CHUNK_LOG_H_
