// The write-ahead log: numbered segment files of length-prefixed,
// checksummed records. Append() is one write(2) into the page cache, which
// survives kill -9 of the process (not power loss, as in Prometheus); there
// is no fsync per record. See docs/storage.md for the format.
//
//   auto wal = Wal::Open(dir, 64 << 20);
//   (*wal)->Append(record);
//   Wal::Replay(dir, first_segment, [](absl::string_view rec) { ... });
#ifndef VIGIL_TSDB_WAL_H_
#define VIGIL_TSDB_WAL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace vigil::tsdb {

class Wal {
 public:
  // Records whose first byte is this (the DB's first samples record type)
  // are checksummed with zlib's CRC-32, as they always were; every other
  // record (also an empty one) with CRC-32C, which SSE4.2 computes ~3x
  // faster. The reader picks the checksum the same way.
  static constexpr char kZlibCrcRecordType = 0x01;

  // Opens `dir` (creating it) and starts a fresh segment after the last
  // existing one, so a torn tail of an old segment is never appended to.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(const std::string& dir,
                                                   int64_t segment_bytes);
  ~Wal();

  // Appends one record (one write(2)). Thread-safe.
  absl::Status Append(absl::string_view record);
  // Starts a new segment and returns its number; every later record goes
  // there or after.
  absl::StatusOr<uint64_t> Rotate();
  // Deletes segments numbered below `segment`.
  absl::Status TruncateBefore(uint64_t segment);
  // Total bytes in all segments. Lock-free: committers read it after each
  // append to see whether a checkpoint is due.
  int64_t size_bytes() const {
    return total_bytes_.load(std::memory_order_relaxed);
  }

  // The file name of segment `n` in `dir`.
  static std::string SegmentPath(const std::string& dir, uint64_t n);
  // Sorted segment numbers in `dir`.
  static absl::StatusOr<std::vector<uint64_t>> ListSegments(
      const std::string& dir);
  // Calls `fn` for every record in segments >= `from`, in order. A record
  // torn by a crash (reaching the end of its segment) ends that segment
  // silently; a bad record followed by more data is DataLoss naming the
  // file and offset. Stops at the first error from `fn`.
  static absl::Status Replay(
      const std::string& dir, uint64_t from,
      const std::function<absl::Status(absl::string_view)>& fn);

  // One record as framed in its segment, not yet checked against its
  // checksum (see WalReader).
  struct Record {
    absl::string_view payload;
    uint32_t crc = 0;
    uint64_t segment = 0;
    size_t offset = 0;  // of the record's header in its segment
    // The record ends its segment: a checksum mismatch here is a write torn
    // by a crash, not corruption.
    bool last_in_segment = false;
  };
  // OK when `rec` is intact; false in *torn for a torn last record (skip
  // it, as Replay does); DataLoss naming the file and offset otherwise.
  static absl::Status CheckRecord(const std::string& dir, const Record& rec,
                                  bool* torn);

 private:
  Wal(std::string dir, int64_t segment_bytes)
      : dir_(std::move(dir)), segment_bytes_(segment_bytes) {}
  absl::Status OpenSegment(uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const int64_t segment_bytes_;
  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t segment_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t segment_size_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t older_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // in closed segments
  // older_bytes_ + segment_size_, updated under mu_.
  std::atomic<int64_t> total_bytes_{0};
};

// Reads the WAL's records in order in blocks, leaving the checksums to the
// caller, so that several replay threads can each verify and decode their
// own blocks while the records are framed only once. A record cut short by
// a crash (its header or payload reaching past the end of its segment) is
// not returned, as in Wal::Replay. Not thread-safe.
//
//   WalReader r(dir, from);
//   WalReader::Block b;
//   while (r.Next(1 << 20, &b) && !b.records.empty()) { ... }
//   if (!r.status().ok()) ...
class WalReader {
 public:
  // Records of the segments numbered >= `from` in `dir`.
  WalReader(std::string dir, uint64_t from)
      : dir_(std::move(dir)), from_(from) {}

  struct Block {
    // Keeps the segment's bytes alive for the records' payloads.
    std::shared_ptr<const std::string> data;
    std::vector<Wal::Record> records;
  };
  // Fills *block with the next records of one segment, at least one and
  // about `max_bytes` of payload. False at the end of the WAL or on an
  // error (then status() says which).
  bool Next(size_t max_bytes, Block* block);
  const absl::Status& status() const { return status_; }

 private:
  bool LoadNextSegment();

  const std::string dir_;
  const uint64_t from_;
  bool listed_ = false;
  std::vector<uint64_t> segments_;
  size_t next_segment_ = 0;
  uint64_t segment_ = 0;
  std::shared_ptr<const std::string> data_;
  size_t pos_ = 0;
  absl::Status status_;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_WAL_H_
