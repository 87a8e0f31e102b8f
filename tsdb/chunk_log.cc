#include "tsdb/chunk_log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tsdb/crc32c.h"
#include "tsdb/fixed_coding.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();

// u32 payload length, u32 CRC-32C of the payload.
constexpr size_t kHeader = 8;
// Payload before the chunk bytes: u64 ref, u64 series hash, u64 prev,
// i64 min_time, i64 max_time, u32 num_samples, u8 encoding.
constexpr size_t kFixed = 8 * 5 + 4 + 1;

absl::Status Errno(absl::string_view what, const std::string& file) {
  return absl::InternalError(
      absl::StrCat(what, " ", file, ": ", std::strerror(errno)));
}

bool ValidEncoding(uint8_t e) {
  return e == static_cast<uint8_t>(ChunkEncoding::kRaw) ||
         e == static_cast<uint8_t>(ChunkEncoding::kXor) ||
         e == static_cast<uint8_t>(ChunkEncoding::kRange);
}

// Parses the payload of a record whose checksum matched; the reason when
// its fields make no sense.
absl::Status ParsePayload(const char* p, size_t n, ChunkLog::Record* rec,
                          absl::string_view* bytes) {
  if (n < kFixed) return absl::DataLossError("record shorter than its fields");
  rec->ref = DecodeFixed64(p);
  rec->series_hash = DecodeFixed64(p + 8);
  rec->prev = DecodeFixed64(p + 16);
  rec->min_time = static_cast<int64_t>(DecodeFixed64(p + 24));
  rec->max_time = static_cast<int64_t>(DecodeFixed64(p + 32));
  const uint32_t samples = DecodeFixed32(p + 40);
  const uint8_t enc = static_cast<uint8_t>(p[44]);
  if (rec->ref == 0 || samples == 0 ||
      samples > static_cast<uint32_t>(std::numeric_limits<int>::max()) ||
      rec->min_time > rec->max_time || !ValidEncoding(enc)) {
    return absl::DataLossError(
        absl::StrCat("record with invalid fields (ref ", rec->ref, ", ",
                     samples, " samples, [", rec->min_time, ", ", rec->max_time,
                     "], encoding ", static_cast<int>(enc), ")"));
  }
  rec->num_samples = static_cast<int>(samples);
  rec->encoding = static_cast<ChunkEncoding>(enc);
  *bytes = absl::string_view(p + kFixed, n - kFixed);
  return absl::OkStatus();
}

// The numbers of the segment files in `dir`, sorted.
absl::StatusOr<std::vector<uint64_t>> ListSegmentNumbers(
    const std::string& dir) {
  std::error_code ec;
  std::vector<uint64_t> numbers;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    uint64_t n;
    const std::string name = e.path().filename().string();
    if (name.size() == 8 && absl::SimpleAtoi(name, &n) && n > 0) {
      numbers.push_back(n);
    }
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("listing chunk log directory ", dir, ": ", ec.message()));
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

}  // namespace

struct ChunkLog::Segment {
  uint64_t n = 0;
  std::string path;
  int fd = -1;  // open for writing while this is the active segment
  const char* map = nullptr;
  size_t map_len = 0;
  // Bytes of whole records; readers never look past it.
  std::atomic<int64_t> size{0};
  // Newest max_time of its chunks (kMaxT: not known yet).
  std::atomic<int64_t> max_time{kMinT};

  ~Segment() {
    if (map != nullptr) munmap(const_cast<char*>(map), map_len);
    if (fd >= 0) close(fd);
  }
};

std::string ChunkLog::SegmentPath(const std::string& dir, uint64_t n) {
  return absl::StrFormat("%s/%08d", dir, n);
}

ChunkLog::ChunkLog(std::string dir, int64_t segment_bytes)
    : dir_(std::move(dir)), segment_bytes_(segment_bytes) {}

ChunkLog::~ChunkLog() = default;

absl::StatusOr<std::unique_ptr<ChunkLog>> ChunkLog::Open(
    const std::string& dir, int64_t segment_bytes) {
  if (segment_bytes < 4096 || segment_bytes > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk log segment size ", segment_bytes, " is not in [4 KiB, 1 GiB]"));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("creating chunk log directory ", dir, ": ", ec.message()));
  }
  std::unique_ptr<ChunkLog> log(new ChunkLog(dir, segment_bytes));
  auto listed = ListSegmentNumbers(dir);
  if (!listed.ok()) return listed.status();
  const std::vector<uint64_t>& numbers = *listed;
  {
    absl::MutexLock l(&log->mu_);
    for (uint64_t n : numbers) {
      auto seg = std::make_unique<Segment>();
      seg->n = n;
      seg->path = SegmentPath(dir, n);
      seg->max_time.store(kMaxT);
      const int fd = open(seg->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Errno("opening chunk log segment", seg->path);
      struct stat st;
      if (fstat(fd, &st) != 0) {
        absl::Status s = Errno("reading chunk log segment", seg->path);
        close(fd);
        return s;
      }
      if (st.st_size > 0) {
        void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                       MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
          absl::Status s = Errno("mapping chunk log segment", seg->path);
          close(fd);
          return s;
        }
        seg->map = static_cast<const char*>(m);
        seg->map_len = static_cast<size_t>(st.st_size);
      }
      close(fd);
      seg->size.store(st.st_size);
      log->total_bytes_.fetch_add(st.st_size);
      log->segments_.emplace(n, std::move(seg));
    }
  }
  log->first_new_segment_ = numbers.empty() ? 1 : numbers.back() + 1;
  absl::MutexLock w(&log->write_mu_);
  absl::Status s = log->StartSegment(log->first_new_segment_);
  if (!s.ok()) return s;
  return log;
}

absl::Status ChunkLog::StartSegment(uint64_t n) {
  auto seg = std::make_unique<Segment>();
  seg->n = n;
  seg->path = SegmentPath(dir_, n);
  seg->fd =
      open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (seg->fd < 0) return Errno("creating chunk log segment", seg->path);
  // The whole segment's size is mapped up front; only the bytes written so
  // far (below `size`) are ever read, so the part past the end of the file
  // is never touched.
  void* m = mmap(nullptr, static_cast<size_t>(segment_bytes_), PROT_READ,
                 MAP_SHARED, seg->fd, 0);
  if (m == MAP_FAILED) return Errno("mapping chunk log segment", seg->path);
  seg->map = static_cast<const char*>(m);
  seg->map_len = static_cast<size_t>(segment_bytes_);
  Segment* raw = seg.get();
  {
    absl::MutexLock l(&mu_);
    segments_.emplace(n, std::move(seg));
  }
  if (active_ != nullptr) {
    // Its mapping stays for readers; the descriptor is no longer needed.
    close(active_->fd);
    active_->fd = -1;
  }
  active_ = raw;
  return absl::OkStatus();
}

absl::Status ChunkLog::WriteBuffer(std::string* buf) {
  size_t done = 0;
  const int64_t start = active_->size.load(std::memory_order_relaxed);
  while (done < buf->size()) {
    const ssize_t n =
        pwrite(active_->fd, buf->data() + done, buf->size() - done,
               static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = Errno("writing chunk log segment", active_->path);
      // Whatever part got out is past `size`: never read, and overwritten
      // by the next write.
      buf->clear();
      return s;
    }
    done += static_cast<size_t>(n);
  }
  // Release: a reader that learns a position from this write (through the
  // series lock) sees the bytes.
  active_->size.store(start + static_cast<int64_t>(done),
                      std::memory_order_release);
  total_bytes_.fetch_add(static_cast<int64_t>(done));
  buf->clear();
  return absl::OkStatus();
}

absl::Status ChunkLog::Append(absl::Span<const Entry> entries,
                              std::vector<uint64_t>* positions) {
  positions->clear();
  if (entries.empty()) return absl::OkStatus();
  absl::MutexLock w(&write_mu_);
  static thread_local std::string buf;
  buf.clear();
  int64_t max_time = kMinT;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const ChunkData& c = *e.chunk;
    const size_t payload = kFixed + c.bytes.size();
    const int64_t rec_size = static_cast<int64_t>(kHeader + payload);
    if (rec_size > segment_bytes_) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk of ", c.bytes.size(),
                       " bytes does not fit a chunk log segment"));
    }
    int64_t offset = active_->size.load(std::memory_order_relaxed) +
                     static_cast<int64_t>(buf.size());
    if (offset + rec_size > segment_bytes_) {
      absl::Status s = WriteBuffer(&buf);
      if (!s.ok()) return s;
      if (max_time > active_->max_time.load())
        active_->max_time.store(max_time);
      max_time = kMinT;
      s = StartSegment(active_->n + 1);
      if (!s.ok()) return s;
      offset = 0;
    }
    const uint64_t pos = active_->n << 32 | static_cast<uint64_t>(offset);
    const uint64_t prev = e.prev == kPrevInBatch ? positions->back() : e.prev;
    const size_t at = buf.size();
    buf.resize(at + kHeader + kFixed);
    char* p = &buf[at];
    EncodeFixed32(p, static_cast<uint32_t>(payload));
    EncodeFixed64(p + kHeader, e.ref);
    EncodeFixed64(p + kHeader + 8, e.series_hash);
    EncodeFixed64(p + kHeader + 16, prev);
    EncodeFixed64(p + kHeader + 24, static_cast<uint64_t>(c.min_time));
    EncodeFixed64(p + kHeader + 32, static_cast<uint64_t>(c.max_time));
    EncodeFixed32(p + kHeader + 40, static_cast<uint32_t>(c.num_samples));
    p[kHeader + 44] = static_cast<char>(c.encoding);
    buf.append(c.bytes);
    const uint32_t crc = Crc32c(absl::string_view(buf).substr(at + kHeader));
    EncodeFixed32(&buf[at + 4], crc);
    positions->push_back(pos);
    max_time = std::max(max_time, c.max_time);
  }
  absl::Status s = WriteBuffer(&buf);
  if (!s.ok()) return s;
  if (max_time > active_->max_time.load()) active_->max_time.store(max_time);
  if (buf.capacity() > (size_t{4} << 20)) std::string().swap(buf);
  return absl::OkStatus();
}

absl::Status ChunkLog::Read(uint64_t pos, Record* rec, ChunkPtr* chunk,
                            bool* found) const {
  const uint64_t n = pos >> 32;
  const uint64_t offset = pos & 0xffffffffu;
  absl::ReaderMutexLock l(&mu_);
  auto it = segments_.find(n);
  if (it == segments_.end()) {
    *found = false;
    return absl::OkStatus();
  }
  *found = true;
  const Segment& seg = *it->second;
  const uint64_t size =
      static_cast<uint64_t>(seg.size.load(std::memory_order_acquire));
  auto fail = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("chunk log segment ", seg.path,
                                            " offset ", offset, ": ", why));
  };
  if (offset + kHeader > size) return fail("position past the end");
  const char* p = seg.map + offset;
  const uint32_t len = DecodeFixed32(p);
  if (offset + kHeader + len > size) return fail("record past the end");
  if (Crc32c(absl::string_view(p + kHeader, len)) != DecodeFixed32(p + 4)) {
    return fail("checksum mismatch");
  }
  absl::string_view bytes;
  absl::Status st = ParsePayload(p + kHeader, len, rec, &bytes);
  if (!st.ok()) return fail(st.message());
  rec->pos = pos;
  if (chunk != nullptr) {
    auto c = std::make_shared<ChunkData>();
    c->min_time = rec->min_time;
    c->max_time = rec->max_time;
    c->num_samples = rec->num_samples;
    c->encoding = rec->encoding;
    c->bytes = std::string(bytes);
    *chunk = std::move(c);
  }
  return absl::OkStatus();
}

absl::Status ChunkLog::ScanSegment(
    const std::string& path, uint64_t n, const char* data, size_t size,
    absl::FunctionRef<absl::Status(const Record&, absl::string_view)> fn,
    size_t* intact, int64_t* max_time) {
  size_t off = 0;
  *max_time = kMinT;
  while (off < size) {
    const char* p = data + off;
    // A record cut short, or failing its checksum, at the end of the
    // segment: the write a crash interrupted.
    if (off + kHeader > size) break;
    const uint32_t len = DecodeFixed32(p);
    if (off + kHeader + len > size) break;
    const bool last = off + kHeader + len == size;
    auto fail = [&](absl::string_view why) {
      return absl::DataLossError(
          absl::StrCat("chunk log segment ", path, " offset ", off, ": ", why));
    };
    if (Crc32c(absl::string_view(p + kHeader, len)) != DecodeFixed32(p + 4)) {
      if (last) break;
      return fail("checksum mismatch");
    }
    Record rec;
    absl::string_view bytes;
    absl::Status st = ParsePayload(p + kHeader, len, &rec, &bytes);
    if (!st.ok()) return fail(st.message());
    rec.pos = n << 32 | off;
    *max_time = std::max(*max_time, rec.max_time);
    st = fn(rec, bytes);
    if (!st.ok()) return st;
    off += kHeader + len;
  }
  *intact = off;
  return absl::OkStatus();
}

absl::Status ChunkLog::ScanExisting(
    absl::FunctionRef<absl::Status(const Record&, absl::string_view)> fn) {
  std::vector<Segment*> old;
  {
    absl::ReaderMutexLock l(&mu_);
    for (auto& [n, seg] : segments_) {
      if (n < first_new_segment_) old.push_back(seg.get());
    }
  }
  for (Segment* seg : old) {
    size_t intact;
    int64_t max_time;
    absl::Status st = ScanSegment(seg->path, seg->n, seg->map,
                                  static_cast<size_t>(seg->size.load()), fn,
                                  &intact, &max_time);
    if (!st.ok()) return st;
    // Reads never look past the intact records (and a torn tail is not
    // counted as the log's bytes).
    total_bytes_.fetch_sub(seg->size.load() - static_cast<int64_t>(intact));
    seg->size.store(static_cast<int64_t>(intact));
    seg->max_time.store(max_time);
  }
  return absl::OkStatus();
}

absl::Status ChunkLog::ScanDir(
    const std::string& dir,
    absl::FunctionRef<absl::Status(const Record&, absl::string_view)> fn) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::OkStatus();  // written before the log
  auto listed = ListSegmentNumbers(dir);
  if (!listed.ok()) return listed.status();
  const std::vector<uint64_t>& numbers = *listed;
  for (uint64_t n : numbers) {
    const std::string path = SegmentPath(dir, n);
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    if (in.bad()) {
      return absl::InternalError(
          absl::StrCat("reading chunk log segment ", path));
    }
    size_t intact;
    int64_t max_time;
    absl::Status st =
        ScanSegment(path, n, data.data(), data.size(), fn, &intact, &max_time);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ChunkLog::DeleteSegmentsEndingBefore(int64_t t,
                                                  uint64_t below_segment) {
  absl::MutexLock w(&write_mu_);
  std::vector<std::unique_ptr<Segment>> doomed;
  {
    absl::MutexLock l(&mu_);
    for (auto it = segments_.begin(); it != segments_.end();) {
      Segment* seg = it->second.get();
      if (seg != active_ && seg->n < below_segment &&
          seg->max_time.load() < t) {
        doomed.push_back(std::move(it->second));
        it = segments_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // No reader can reach them any more: unmapped (by ~Segment) and deleted
  // outside the lock.
  absl::Status result;
  for (auto& seg : doomed) {
    total_bytes_.fetch_sub(seg->size.load());
    if (unlink(seg->path.c_str()) != 0 && result.ok()) {
      result = Errno("deleting chunk log segment", seg->path);
    }
  }
  return result;
}

absl::Status ChunkLog::Rotate() {
  absl::MutexLock w(&write_mu_);
  if (active_->size.load() == 0) return absl::OkStatus();
  return StartSegment(active_->n + 1);
}

uint64_t ChunkLog::active_segment() const {
  absl::MutexLock w(&write_mu_);
  return active_->n;
}

void ChunkLog::ReleaseMappedPages() {
  absl::ReaderMutexLock l(&mu_);
  for (auto& [n, seg] : segments_) {
    if (seg->map == nullptr) continue;
    // Advice only: a failure leaves the pages resident, nothing else.
    madvise(const_cast<char*>(seg->map), seg->map_len, MADV_DONTNEED);
  }
}

int ChunkLog::num_segments() const {
  absl::ReaderMutexLock l(&mu_);
  return static_cast<int>(segments_.size());
}

}  // namespace vigil::tsdb
