// The remote-write sender's input: an append-only log of batch records with
// one reader and a persisted read position, so samples committed while a
// receiver is down wait on disk and a restart resumes where sending stopped.
//
//   auto q = DurableQueue::Open({.dir = "/data/remote_write/abc123"});
//   (*q)->Append(record);                       // appender commits
//   std::string rec; DurableQueue::Position next;
//   if ((*q)->Read(&rec, &next, absl::Seconds(1))) {
//     Send(rec);
//     (*q)->Ack(next);                          // everything before `next`
//   }
//
// On disk (`dir` non-empty): numbered segment files "00000001", ... of
// frames [u32 length][u32 crc32 of payload][payload] (little endian), and a
// "position" file "<segment> <offset>\n" naming the first frame not yet
// acknowledged. As the tsdb WAL, a frame is one write(2) into the page cache
// (survives kill -9, not power loss) and there is no fsync per frame; the
// position file is replaced by rename at most once a second and on Flush().
// A frame torn by a crash ends its segment; after a restart the writer starts
// a new segment. Segments wholly before the acknowledged position are
// deleted. A crash re-sends at most the frames acknowledged in the last
// second (at-least-once delivery).
//
// With an empty `dir` the queue lives in memory (embedding without a data
// directory): same interface, nothing survives the process.
//
// Size cap: Append() fails with ResourceExhausted when the unacknowledged
// bytes would exceed `max_bytes` (the newest data is dropped, which keeps
// what is queued contiguous and lets the caller count the loss exactly).
//
// Thread-safety: Append() from any thread; Read()/Ack() from one reader.
#ifndef VIGIL_SERVER_REMOTE_SENDER_DURABLE_QUEUE_H_
#define VIGIL_SERVER_REMOTE_SENDER_DURABLE_QUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vigil::server::remote::sender {

class DurableQueue {
 public:
  struct Options {
    std::string dir;  // empty: in memory
    int64_t segment_bytes = 16 << 20;
    int64_t max_bytes = int64_t{1} << 30;
  };
  // A place in the log; frames are ordered by (segment, offset). In memory
  // mode `offset` is the record's sequence number.
  struct Position {
    uint64_t segment = 0;
    uint64_t offset = 0;
    friend bool operator<(const Position& a, const Position& b) {
      return a.segment < b.segment ||
             (a.segment == b.segment && a.offset < b.offset);
    }
    friend bool operator==(const Position& a, const Position& b) {
      return a.segment == b.segment && a.offset == b.offset;
    }
  };

  // Creates `dir` when missing, reads the position file and starts a fresh
  // segment after the existing ones. Errors name the path.
  static absl::StatusOr<std::unique_ptr<DurableQueue>> Open(Options options);
  ~DurableQueue();
  DurableQueue(const DurableQueue&) = delete;
  DurableQueue& operator=(const DurableQueue&) = delete;

  // Adds one record. ResourceExhausted when the queue is full; an I/O error
  // names the segment file.
  absl::Status Append(absl::string_view record);

  // Reads the record after the read cursor into *record, waiting up to
  // `wait` for one to be appended. Sets *next to the position after it.
  // False on timeout or after Close(). Corrupt frames in the middle of a
  // segment end that segment (logged and counted in corrupt_frames()).
  bool Read(std::string* record, Position* next, absl::Duration wait);

  // Everything before `pos` has been delivered: may delete segments and
  // persist `pos` (at most once a second; Flush() forces it).
  absl::Status Ack(Position pos);
  absl::Status Flush();
  // Wakes a blocked Read(), which then returns false; later Reads too.
  void Close();
  // Moves the read cursor back to the acknowledged position and undoes
  // Close(): a new reader (after a config change) re-reads everything not
  // yet acknowledged.
  void Rewind();

  // Bytes appended and not yet acknowledged (whole segments on disk).
  int64_t bytes() const;
  Position acked() const;
  int64_t corrupt_frames() const;

 private:
  explicit DurableQueue(Options options) : options_(std::move(options)) {}
  absl::Status OpenDisk();
  absl::Status OpenWriteSegment(uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SegmentPath(uint64_t n) const;
  absl::Status WritePosition(Position pos);
  // Disk mode: reads the frame at the cursor. 1 = record, 0 = nothing more
  // in this segment (end or torn), -1 = corrupt frame.
  int ReadFrame(std::string* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::CondVar appended_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t corrupt_ ABSL_GUARDED_BY(mu_) = 0;
  Position acked_ ABSL_GUARDED_BY(mu_);
  Position persisted_ ABSL_GUARDED_BY(mu_);
  absl::Time last_persist_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  // Disk mode.
  std::set<uint64_t> segments_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, int64_t> segment_sizes_ ABSL_GUARDED_BY(mu_);
  int write_fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t write_segment_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t write_size_ ABSL_GUARDED_BY(mu_) = 0;
  std::string scratch_ ABSL_GUARDED_BY(mu_);
  int read_fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t read_segment_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t read_offset_ ABSL_GUARDED_BY(mu_) = 0;

  // Memory mode: records_[i] has sequence number base_ + i.
  std::deque<std::string> records_ ABSL_GUARDED_BY(mu_);
  uint64_t base_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t read_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_DURABLE_QUEUE_H_
