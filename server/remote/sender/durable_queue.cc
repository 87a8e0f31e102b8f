#include "server/remote/sender/durable_queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vigil::server::remote::sender {
namespace {

constexpr size_t kHeader = 8;

uint32_t Crc(absl::string_view s) {
  return static_cast<uint32_t>(crc32(0,
                                     reinterpret_cast<const Bytef*>(s.data()),
                                     static_cast<uInt>(s.size())));
}

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MkdirAll(const std::string& dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
        return Errno("creating directory", cur);
      }
    }
    if (i < dir.size()) cur.push_back(dir[i]);
  }
  return absl::OkStatus();
}

bool PreadAll(int fd, char* buf, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DurableQueue>> DurableQueue::Open(
    Options options) {
  std::unique_ptr<DurableQueue> q(new DurableQueue(std::move(options)));
  if (!q->options_.dir.empty()) {
    absl::Status s = q->OpenDisk();
    if (!s.ok()) return s;
  }
  return q;
}

DurableQueue::~DurableQueue() {
  absl::MutexLock l(&mu_);
  if (write_fd_ >= 0) ::close(write_fd_);
  if (read_fd_ >= 0) ::close(read_fd_);
}

std::string DurableQueue::SegmentPath(uint64_t n) const {
  return absl::StrFormat("%s/%08d", options_.dir, n);
}

absl::Status DurableQueue::OpenDisk() {
  const std::string& dir = options_.dir;
  absl::Status s = MkdirAll(dir);
  if (!s.ok()) return s;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno("listing", dir);
  std::set<uint64_t> segs;
  while (struct dirent* e = ::readdir(d)) {
    uint64_t n;
    absl::string_view name(e->d_name);
    if (name.size() == 8 && absl::SimpleAtoi(name, &n)) segs.insert(n);
  }
  ::closedir(d);

  Position pos;
  bool have_pos = false;
  {
    std::ifstream in(dir + "/position");
    if (in) {
      uint64_t seg, off;
      if (in >> seg >> off) {
        pos = {seg, off};
        have_pos = true;
      } else {
        std::fprintf(stderr,
                     "remote write: ignoring unreadable %s/position; "
                     "re-sending the whole queue\n",
                     dir.c_str());
      }
    }
  }
  absl::MutexLock l(&mu_);
  // The reader starts at the persisted position, or at the first segment
  // after it when that segment is gone.
  Position start;
  if (have_pos && segs.count(pos.segment) > 0) {
    start = pos;
  } else {
    auto it = have_pos ? segs.upper_bound(pos.segment) : segs.begin();
    start = it == segs.end() ? Position{0, 0} : Position{*it, 0};
  }
  for (auto it = segs.begin(); it != segs.end();) {
    if (*it < start.segment) {
      ::unlink(SegmentPath(*it).c_str());
      it = segs.erase(it);
    } else {
      ++it;
    }
  }
  for (uint64_t n : segs) {
    struct stat st;
    if (::stat(SegmentPath(n).c_str(), &st) != 0) {
      return Errno("reading size of", SegmentPath(n));
    }
    segment_sizes_[n] = st.st_size;
  }
  segments_ = segs;
  uint64_t next = std::max<uint64_t>(segs.empty() ? 0 : *segs.rbegin(),
                                     have_pos ? pos.segment : 0) +
                  1;
  s = OpenWriteSegment(next);
  if (!s.ok()) return s;
  if (start.segment == 0) start = {next, 0};
  read_segment_ = start.segment;
  read_offset_ = start.offset;
  acked_ = start;
  persisted_ = have_pos ? pos : Position{};
  bytes_ = 0;
  for (const auto& [n, size] : segment_sizes_) bytes_ += size;
  bytes_ -= static_cast<int64_t>(start.offset);
  return absl::OkStatus();
}

absl::Status DurableQueue::OpenWriteSegment(uint64_t n) {
  std::string path = SegmentPath(n);
  int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("creating segment", path);
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = fd;
  write_segment_ = n;
  write_size_ = 0;
  segments_.insert(n);
  segment_sizes_[n] = 0;
  return absl::OkStatus();
}

absl::Status DurableQueue::Append(absl::string_view record) {
  absl::MutexLock l(&mu_);
  const int64_t frame = static_cast<int64_t>(kHeader + record.size());
  if (bytes_ + frame > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "remote-write queue ", options_.dir.empty() ? "(memory)" : options_.dir,
        " is full (", bytes_, " of ", options_.max_bytes, " bytes)"));
  }
  if (options_.dir.empty()) {
    records_.emplace_back(record);
    bytes_ += frame;
    appended_.SignalAll();
    return absl::OkStatus();
  }
  if (write_size_ > 0 && write_size_ + frame > options_.segment_bytes) {
    absl::Status s = OpenWriteSegment(write_segment_ + 1);
    if (!s.ok()) return s;
  }
  scratch_.resize(kHeader);
  PutU32(&scratch_[0], static_cast<uint32_t>(record.size()));
  PutU32(&scratch_[4], Crc(record));
  scratch_.append(record.data(), record.size());
  const char* p = scratch_.data();
  size_t left = scratch_.size();
  while (left > 0) {
    ssize_t w = ::write(write_fd_, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      absl::Status s = Errno("writing", SegmentPath(write_segment_));
      // A partial frame would be read as torn; start clean.
      (void)OpenWriteSegment(write_segment_ + 1);
      return s;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  write_size_ += frame;
  segment_sizes_[write_segment_] = write_size_;
  bytes_ += frame;
  appended_.SignalAll();
  return absl::OkStatus();
}

int DurableQueue::ReadFrame(std::string* record) {
  const int64_t limit = segment_sizes_[read_segment_];
  if (static_cast<int64_t>(read_offset_ + kHeader) > limit) return 0;
  if (read_fd_ < 0) {
    read_fd_ = ::open(SegmentPath(read_segment_).c_str(), O_RDONLY | O_CLOEXEC);
    if (read_fd_ < 0) {
      std::fprintf(stderr, "remote write: cannot open %s: %s\n",
                   SegmentPath(read_segment_).c_str(), std::strerror(errno));
      return -1;
    }
  }
  char hdr[kHeader];
  if (!PreadAll(read_fd_, hdr, kHeader, read_offset_)) return 0;
  uint32_t len = GetU32(hdr);
  uint32_t crc = GetU32(hdr + 4);
  if (static_cast<int64_t>(read_offset_ + kHeader + len) > limit) return 0;
  record->resize(len);
  if (!PreadAll(read_fd_, record->data(), len, read_offset_ + kHeader)) {
    return 0;
  }
  if (Crc(*record) != crc) return -1;
  read_offset_ += kHeader + len;
  return 1;
}

bool DurableQueue::Read(std::string* record, Position* next,
                        absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  absl::MutexLock l(&mu_);
  while (!closed_) {
    if (options_.dir.empty()) {
      if (read_seq_ < base_ + records_.size()) {
        *record = records_[read_seq_ - base_];
        ++read_seq_;
        *next = {0, read_seq_};
        return true;
      }
    } else {
      int r = ReadFrame(record);
      if (r == 1) {
        *next = {read_segment_, read_offset_};
        return true;
      }
      if (r < 0) {
        ++corrupt_;
        std::fprintf(stderr,
                     "remote write: corrupt frame in %s at offset %llu; "
                     "skipping the rest of the segment\n",
                     SegmentPath(read_segment_).c_str(),
                     static_cast<unsigned long long>(read_offset_));
      }
      if (read_segment_ != write_segment_) {
        // End (or torn tail) of a closed segment: go on with the next one.
        auto it = segments_.upper_bound(read_segment_);
        if (it != segments_.end()) {
          if (read_fd_ >= 0) ::close(read_fd_);
          read_fd_ = -1;
          read_segment_ = *it;
          read_offset_ = 0;
          continue;
        }
      } else if (r < 0) {
        // A corrupt frame in the live segment (the file was damaged under
        // us): skip what was written so far.
        read_offset_ = static_cast<uint64_t>(write_size_);
      }
    }
    if (appended_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return false;
}

absl::Status DurableQueue::Ack(Position pos) {
  absl::MutexLock l(&mu_);
  if (pos < acked_ || pos == acked_) return absl::OkStatus();
  if (options_.dir.empty()) {
    while (base_ < pos.offset && !records_.empty()) {
      bytes_ -= static_cast<int64_t>(kHeader + records_.front().size());
      records_.pop_front();
      ++base_;
    }
    acked_ = pos;
    return absl::OkStatus();
  }
  // Whole segments before pos.segment are delivered.
  for (auto it = segments_.begin();
       it != segments_.end() && *it < pos.segment && *it != write_segment_;) {
    bytes_ -= segment_sizes_[*it];
    if (*it == acked_.segment) bytes_ += static_cast<int64_t>(acked_.offset);
    ::unlink(SegmentPath(*it).c_str());
    segment_sizes_.erase(*it);
    it = segments_.erase(it);
  }
  if (pos.segment == acked_.segment) {
    bytes_ -= static_cast<int64_t>(pos.offset - acked_.offset);
  } else {
    bytes_ -= static_cast<int64_t>(pos.offset);
  }
  acked_ = pos;
  if (absl::Now() - last_persist_ >= absl::Seconds(1)) {
    last_persist_ = absl::Now();
    return WritePosition(pos);
  }
  return absl::OkStatus();
}

absl::Status DurableQueue::Flush() {
  absl::MutexLock l(&mu_);
  if (options_.dir.empty() || acked_ == persisted_) return absl::OkStatus();
  return WritePosition(acked_);
}

absl::Status DurableQueue::WritePosition(Position pos) {
  std::string tmp = options_.dir + "/position.tmp";
  std::string path = options_.dir + "/position";
  std::string text = absl::StrCat(pos.segment, " ", pos.offset, "\n");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("writing", tmp);
  ssize_t w = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (w != static_cast<ssize_t>(text.size())) return Errno("writing", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("renaming", tmp);
  persisted_ = pos;
  return absl::OkStatus();
}

void DurableQueue::Close() {
  absl::MutexLock l(&mu_);
  closed_ = true;
  appended_.SignalAll();
}

void DurableQueue::Rewind() {
  absl::MutexLock l(&mu_);
  closed_ = false;
  if (options_.dir.empty()) {
    read_seq_ = base_;
    return;
  }
  if (read_fd_ >= 0) ::close(read_fd_);
  read_fd_ = -1;
  read_segment_ = acked_.segment;
  read_offset_ = acked_.offset;
  if (segments_.count(read_segment_) == 0) {
    auto it = segments_.upper_bound(read_segment_);
    read_segment_ = it == segments_.end() ? write_segment_ : *it;
    read_offset_ = 0;
  }
}

int64_t DurableQueue::bytes() const {
  absl::MutexLock l(&mu_);
  return bytes_;
}

DurableQueue::Position DurableQueue::acked() const {
  absl::MutexLock l(&mu_);
  return acked_;
}

int64_t DurableQueue::corrupt_frames() const {
  absl::MutexLock l(&mu_);
  return corrupt_;
}

}  // namespace vigil::server::remote::sender
