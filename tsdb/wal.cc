#include "tsdb/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tsdb/crc32c.h"
#include "tsdb/fixed_coding.h"

namespace vigil::tsdb {
namespace {

namespace fs = std::filesystem;

std::string SegmentName(const std::string& dir, uint64_t n) {
  return absl::StrFormat("%s/%08d", dir, n);
}

// The checksum of a record is chosen by its first byte (see wal.h), and
// covers that byte: a flipped type byte fails either checksum.
uint32_t Crc(absl::string_view s) {
  if (!s.empty() && s[0] == Wal::kZlibCrcRecordType) {
    return static_cast<uint32_t>(
        crc32_z(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
  }
  return Crc32c(s);
}

constexpr size_t kHeader = 8;  // u32 length, u32 checksum of the payload

absl::Status Errno(absl::string_view what, const std::string& file) {
  return absl::InternalError(
      absl::StrCat(what, " ", file, ": ", std::strerror(errno)));
}

// Reads a whole segment with a few large read(2)s.
absl::Status ReadFile(const std::string& name, std::string* out) {
  int fd = open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("opening WAL segment", name);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    absl::Status s = Errno("reading WAL segment", name);
    close(fd);
    return s;
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = read(fd, &(*out)[done], out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno("reading WAL segment", name);
      close(fd);
      return s;
    }
    if (n == 0) break;  // shrank meanwhile: keep what was read
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  close(fd);
  return absl::OkStatus();
}

}  // namespace

std::string Wal::SegmentPath(const std::string& dir, uint64_t n) {
  return SegmentName(dir, n);
}

absl::StatusOr<std::vector<uint64_t>> Wal::ListSegments(
    const std::string& dir) {
  std::vector<uint64_t> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    uint64_t n;
    if (absl::SimpleAtoi(e.path().filename().string(), &n)) out.push_back(n);
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("listing WAL directory ", dir, ": ", ec.message()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(const std::string& dir,
                                               int64_t segment_bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("creating WAL directory ", dir, ": ", ec.message()));
  }
  auto segs = ListSegments(dir);
  if (!segs.ok()) return segs.status();
  std::unique_ptr<Wal> wal(new Wal(dir, segment_bytes));
  absl::MutexLock l(&wal->mu_);
  for (uint64_t n : *segs) {
    wal->older_bytes_ +=
        static_cast<int64_t>(fs::file_size(SegmentName(dir, n), ec));
  }
  absl::Status s = wal->OpenSegment(segs->empty() ? 1 : segs->back() + 1);
  if (!s.ok()) return s;
  return wal;
}

Wal::~Wal() {
  absl::MutexLock l(&mu_);
  if (fd_ >= 0) close(fd_);
}

absl::Status Wal::OpenSegment(uint64_t n) {
  const std::string name = SegmentName(dir_, n);
  int fd = open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("creating WAL segment", name);
  if (fd_ >= 0) {
    close(fd_);
    older_bytes_ += segment_size_;
  }
  fd_ = fd;
  segment_ = n;
  segment_size_ = 0;
  total_bytes_.store(older_bytes_, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Wal::Append(absl::string_view record) {
  // Checksum outside the lock: concurrent committers overlap their CRCs.
  char header[kHeader];
  EncodeFixed32(&header[0], static_cast<uint32_t>(record.size()));
  EncodeFixed32(&header[4], Crc(record));
  absl::MutexLock l(&mu_);
  if (segment_size_ > 0 &&
      segment_size_ + static_cast<int64_t>(record.size()) > segment_bytes_) {
    absl::Status s = OpenSegment(segment_ + 1);
    if (!s.ok()) return s;
  }
  // Header and payload go out in one writev(2), without copying the
  // (often megabyte-sized) record into a staging buffer.
  iovec iov[2];
  iov[0].iov_base = header;
  iov[0].iov_len = kHeader;
  iov[1].iov_base = const_cast<char*>(record.data());
  iov[1].iov_len = record.size();
  const size_t total = kHeader + record.size();
  size_t done = 0;
  while (done < total) {
    int first = 0;
    size_t skip = done;
    if (skip >= kHeader) {
      first = 1;
      skip -= kHeader;
    }
    iovec cur[2];
    int cnt = 0;
    for (int i = first; i < 2; ++i) {
      cur[cnt] = iov[i];
      if (i == first) {
        cur[cnt].iov_base = static_cast<char*>(cur[cnt].iov_base) + skip;
        cur[cnt].iov_len -= skip;
      }
      ++cnt;
    }
    ssize_t n = writev(fd_, cur, cnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("writing WAL segment", SegmentName(dir_, segment_));
    }
    done += static_cast<size_t>(n);
  }
  segment_size_ += static_cast<int64_t>(total);
  total_bytes_.store(older_bytes_ + segment_size_, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Wal::Rotate() {
  absl::MutexLock l(&mu_);
  absl::Status s = OpenSegment(segment_ + 1);
  if (!s.ok()) return s;
  return segment_;
}

absl::Status Wal::TruncateBefore(uint64_t segment) {
  auto segs = ListSegments(dir_);
  if (!segs.ok()) return segs.status();
  absl::MutexLock l(&mu_);
  for (uint64_t n : *segs) {
    if (n >= segment || n == segment_) continue;
    const std::string name = SegmentName(dir_, n);
    std::error_code ec;
    const int64_t size = static_cast<int64_t>(fs::file_size(name, ec));
    if (!fs::remove(name, ec) || ec) {
      return absl::InternalError(
          absl::StrCat("deleting WAL segment ", name, ": ", ec.message()));
    }
    older_bytes_ -= size;
  }
  total_bytes_.store(older_bytes_ + segment_size_, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Wal::CheckRecord(const std::string& dir, const Record& rec,
                              bool* torn) {
  *torn = false;
  if (Crc(rec.payload) == rec.crc) return absl::OkStatus();
  if (rec.last_in_segment) {
    *torn = true;
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("WAL segment ", SegmentName(dir, rec.segment), " offset ",
                   rec.offset, ": checksum mismatch"));
}

bool WalReader::LoadNextSegment() {
  if (!listed_) {
    listed_ = true;
    auto segs = Wal::ListSegments(dir_);
    if (!segs.ok()) {
      status_ = segs.status();
      return false;
    }
    for (uint64_t n : *segs) {
      if (n >= from_) segments_.push_back(n);
    }
  }
  if (next_segment_ >= segments_.size()) return false;
  segment_ = segments_[next_segment_++];
  auto data = std::make_shared<std::string>();
  status_ = ReadFile(SegmentName(dir_, segment_), data.get());
  if (!status_.ok()) return false;
  data_ = std::move(data);
  pos_ = 0;
  return true;
}

bool WalReader::Next(size_t max_bytes, Block* block) {
  block->records.clear();
  block->data.reset();
  if (!status_.ok()) return false;
  size_t bytes = 0;
  while (true) {
    if (data_ == nullptr || pos_ >= data_->size()) {
      if (!block->records.empty()) break;  // a block never spans segments
      data_.reset();
      if (!LoadNextSegment()) return false;
      continue;
    }
    const std::string& d = *data_;
    // A torn header or a record reaching past the end: the segment ends.
    if (d.size() - pos_ < kHeader ||
        d.size() - pos_ - kHeader < DecodeFixed32(&d[pos_])) {
      pos_ = d.size();
      continue;
    }
    if (bytes >= max_bytes) break;
    const uint32_t len = DecodeFixed32(&d[pos_]);
    Wal::Record rec;
    rec.payload = absl::string_view(d.data() + pos_ + kHeader, len);
    rec.crc = DecodeFixed32(&d[pos_ + 4]);
    rec.segment = segment_;
    rec.offset = pos_;
    pos_ += kHeader + len;
    rec.last_in_segment = pos_ == d.size();
    block->records.push_back(rec);
    bytes += len;
  }
  block->data = data_;
  return true;
}

absl::Status Wal::Replay(
    const std::string& dir, uint64_t from,
    const std::function<absl::Status(absl::string_view)>& fn) {
  WalReader reader(dir, from);
  WalReader::Block block;
  while (reader.Next(size_t{1} << 20, &block)) {
    for (const Record& rec : block.records) {
      bool torn;
      absl::Status c = CheckRecord(dir, rec, &torn);
      if (!c.ok()) return c;
      if (torn) continue;
      absl::Status s = fn(rec.payload);
      if (!s.ok()) {
        return absl::Status(
            s.code(),
            absl::StrCat("WAL segment ", SegmentName(dir, rec.segment),
                         " offset ", rec.offset, ": ", s.message()));
      }
    }
  }
  return reader.status();
}

}  // namespace vigil::tsdb
