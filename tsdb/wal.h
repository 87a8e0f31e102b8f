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
  // Total bytes in all segments.
  int64_t size_bytes() const;

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
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_WAL_H_
