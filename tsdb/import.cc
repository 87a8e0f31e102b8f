#include "tsdb/import.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace vigil::tsdb {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// One imported series while the input streams by. Samples that arrive in
// time order (the usual case: backfill files list each series' samples in
// order, either together or interleaved with other series) go straight
// into the chunk encoder, so the input is never held as raw samples; a
// series that goes back in time switches to collecting its samples, which
// are sorted at the end.
class SeriesBuilder {
 public:
  explicit SeriesBuilder(Labels labels) : labels_(std::move(labels)) {}

  const Labels& labels() const { return labels_; }

  // Adds one sample. A second, different value at a timestamp already seen
  // is remembered in *conflict (the first one only) and the sample dropped;
  // an identical repeat counts as a duplicate.
  void Add(int64_t t, double v, int64_t* duplicates, absl::Status* conflict) {
    if (unsorted_) {
      pending_.push_back(Sample{t, v});
      return;
    }
    if (has_last_) {
      if (t == last_t_) {
        if (Bits(v) == last_bits_) {
          ++*duplicates;
        } else if (conflict->ok()) {
          *conflict = Conflict(t);
        }
        return;
      }
      if (t < last_t_) {
        ToUnsorted();
        pending_.push_back(Sample{t, v});
        return;
      }
    }
    if (enc_.num_samples() > 0 &&
        (enc_.num_samples() >= kSamplesPerChunk ||
         ChunkRangeStart(t) != ChunkRangeStart(enc_.min_time()))) {
      Seal();
    }
    enc_.Append(t, v);
    has_last_ = true;
    last_t_ = t;
    last_bits_ = Bits(v);
  }

  // Seals the open chunk (sorting and de-duplicating first if the series
  // went back in time) and returns all chunks in time order.
  absl::StatusOr<std::vector<ChunkPtr>> Finish(int64_t* duplicates) {
    if (unsorted_) {
      std::stable_sort(
          pending_.begin(), pending_.end(),
          [](const Sample& a, const Sample& b) { return a.t < b.t; });
      std::vector<Sample> samples = std::move(pending_);
      unsorted_ = false;
      has_last_ = false;
      absl::Status conflict;
      for (const Sample& s : samples) {
        Add(s.t, s.v, duplicates, &conflict);
        if (!conflict.ok()) return conflict;
      }
    }
    Seal();
    return std::move(chunks_);
  }

 private:
  absl::Status Conflict(int64_t t) const {
    return MakeAppendError(
        AppendError::kDuplicate,
        absl::StrCat("two values for ", labels_.ToString(), " at ", t));
  }

  void Seal() {
    if (enc_.num_samples() == 0) return;
    auto c = std::make_shared<ChunkData>();
    c->min_time = enc_.min_time();
    c->max_time = enc_.max_time();
    c->num_samples = enc_.num_samples();
    c->encoding = kHeadChunkEncoding;
    c->bytes = std::string(enc_.Bytes());
    chunks_.push_back(std::move(c));
    enc_ = HeadChunkEncoder();
  }

  // Decodes what was encoded so far back into samples (in input order, as
  // they were in time order) and collects from here on.
  void ToUnsorted() {
    Seal();
    int64_t last = std::numeric_limits<int64_t>::min();
    for (const ChunkPtr& c : chunks_) {
      // Our own encoder's output: decoding cannot fail.
      DecodeChunk(*c, std::numeric_limits<int64_t>::min(),
                  std::numeric_limits<int64_t>::max(), &last, &pending_)
          .IgnoreError();
    }
    chunks_.clear();
    unsorted_ = true;
  }

  Labels labels_;
  HeadChunkEncoder enc_;
  std::vector<ChunkPtr> chunks_;
  bool has_last_ = false;
  bool unsorted_ = false;
  int64_t last_t_ = 0;
  uint64_t last_bits_ = 0;
  std::vector<Sample> pending_;
};

// Moves samples from the parsing thread to one encoding thread in blocks:
// parsing (~55 % of an import's CPU) and encoding (~40 %) then run on two
// cores. The queue is bounded, so memory stays a few MB however large the
// input. Each SeriesBuilder is touched only by the encoding thread until
// Finish() returns.
class EncodeQueue {
 public:
  EncodeQueue() {
    worker_ = std::thread([this] { Run(); });
  }
  ~EncodeQueue() { Finish(); }
  EncodeQueue(const EncodeQueue&) = delete;
  EncodeQueue& operator=(const EncodeQueue&) = delete;

  void Add(SeriesBuilder* s, int64_t t, double v) {
    current_.push_back(Rec{s, t, v});
    if (current_.size() == kBlockSamples) Hand();
  }
  // Encodes everything added and stops the encoding thread.
  void Finish() {
    if (!worker_.joinable()) return;
    Hand();
    {
      absl::MutexLock l(&mu_);
      done_ = true;
    }
    worker_.join();
  }
  // Valid after Finish().
  int64_t duplicates() const { return duplicates_; }
  const absl::Status& conflict() const { return conflict_; }

 private:
  struct Rec {
    SeriesBuilder* series;
    int64_t t;
    double v;
  };
  // 16k samples (384 KiB) per block, at most 8 blocks queued.
  static constexpr size_t kBlockSamples = 16 << 10;
  static constexpr size_t kMaxQueued = 8;

  void Hand() {
    if (current_.empty()) return;
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &EncodeQueue::HasRoom));
    full_.push_back(std::move(current_));
    current_.clear();
    if (!free_.empty()) {
      current_ = std::move(free_.back());
      free_.pop_back();
    }
    current_.reserve(kBlockSamples);
  }
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return full_.size() < kMaxQueued;
  }
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ || !full_.empty();
  }
  void Run() {
    std::vector<Rec> block;
    for (;;) {
      {
        absl::MutexLock l(&mu_);
        if (!block.empty() || block.capacity() > 0) {
          block.clear();
          free_.push_back(std::move(block));
          block = std::vector<Rec>();
        }
        mu_.Await(absl::Condition(this, &EncodeQueue::Ready));
        if (full_.empty()) return;
        block = std::move(full_.front());
        full_.pop_front();
      }
      for (const Rec& r : block) {
        r.series->Add(r.t, r.v, &duplicates_, &conflict_);
      }
    }
  }

  std::vector<Rec> current_;  // parsing thread only
  absl::Mutex mu_;
  std::deque<std::vector<Rec>> full_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<Rec>> free_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  // Encoding thread only until Finish().
  int64_t duplicates_ = 0;
  absl::Status conflict_;
  std::thread worker_;
};

// Called with the input offset below which the parser will not look again.
using ReleaseFn = std::function<void(size_t)>;

absl::StatusOr<ImportStats> Import(DB* db, absl::string_view text,
                                   textparse::Format format,
                                   const ReleaseFn& release) {
  ImportStats stats;
  // Series in order of first appearance.
  std::vector<std::unique_ptr<SeriesBuilder>> series;
  // Two indexes: the exact `name{labels}` bytes of a line (most lines of a
  // series are spelled alike, and a hit skips label parsing and sorting),
  // and the label set, which merges different spellings of one series.
  absl::flat_hash_map<std::string, uint32_t> by_text;
  absl::flat_hash_map<Labels, uint32_t> by_labels;
  textparse::Parser p(text, format);
  const int64_t cutoff = db->RetentionCutoff();
  EncodeQueue encode;
  // The series of the previous line: a line of the same series (same
  // bytes) is recognized by one compare inside the parser, which then
  // parses only value and timestamp.
  absl::string_view prev_text;
  SeriesBuilder* prev = nullptr;
  size_t next_release = size_t{64} << 20;
  for (;;) {
    const textparse::Entry e =
        prev == nullptr ? p.Next() : p.NextPredicted(prev_text);
    if (e == textparse::Entry::kEOF) break;
    if (e == textparse::Entry::kInvalid) return p.status();
    if (e != textparse::Entry::kSeries) continue;
    const std::optional<int64_t> ts = p.Timestamp();
    if (!ts) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", p.line(), ": sample of ", p.Series(),
                       " has no timestamp; backfill needs one"));
    }
    SeriesBuilder* sb = prev;
    if (!p.predicted()) {
      const absl::string_view key = p.Series();
      auto it = by_text.find(key);
      if (it != by_text.end()) {
        sb = series[it->second].get();
      } else {
        absl::StatusOr<Labels> labels = p.BuildLabels();
        if (!labels.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", p.line(), ": ", labels.status().message()));
        }
        absl::Status valid = ValidateSeriesLabels(*labels);
        if (!valid.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", p.line(), ": ", valid.message()));
        }
        auto [li, inserted] = by_labels.try_emplace(
            *labels, static_cast<uint32_t>(series.size()));
        if (inserted) {
          series.push_back(std::make_unique<SeriesBuilder>(*std::move(labels)));
        }
        by_text.emplace(std::string(key), li->second);
        sb = series[li->second].get();
      }
      prev = sb;
      prev_text = key;
      if (release) {
        const size_t at = static_cast<size_t>(key.data() - text.data());
        if (at >= next_release) {
          release(at - (size_t{1} << 20));
          next_release = at + (size_t{64} << 20);
        }
      }
    }
    if (*ts < cutoff) {
      ++stats.out_of_bounds;
      continue;
    }
    encode.Add(sb, *ts, p.Value());
  }
  encode.Finish();
  stats.duplicates += encode.duplicates();
  // A parse error anywhere wins over a conflicting duplicate: the file is
  // wrong before its data is.
  if (!encode.conflict().ok()) return encode.conflict();

  std::vector<std::pair<Labels, std::vector<ChunkPtr>>> batch;
  batch.reserve(series.size());
  stats.min_time = std::numeric_limits<int64_t>::max();
  stats.max_time = std::numeric_limits<int64_t>::min();
  for (std::unique_ptr<SeriesBuilder>& sb : series) {
    absl::StatusOr<std::vector<ChunkPtr>> chunks =
        sb->Finish(&stats.duplicates);
    if (!chunks.ok()) return chunks.status();
    if (chunks->empty()) continue;  // every sample was out of bounds
    for (const ChunkPtr& c : *chunks) stats.samples += c->num_samples;
    stats.min_time = std::min(stats.min_time, chunks->front()->min_time);
    stats.max_time = std::max(stats.max_time, chunks->back()->max_time);
    stats.chunks += static_cast<int64_t>(chunks->size());
    batch.emplace_back(sb->labels(), *std::move(chunks));
    sb.reset();
  }
  stats.series = static_cast<int64_t>(batch.size());
  if (batch.empty()) stats.min_time = stats.max_time = 0;
  absl::Status st = db->ImportSeriesBulk(batch);
  if (!st.ok()) return st;
  return stats;
}

}  // namespace

absl::StatusOr<ImportStats> ImportOpenMetrics(DB* db, absl::string_view text) {
  return ImportText(db, text, textparse::Format::kOpenMetrics);
}

absl::StatusOr<ImportStats> ImportText(DB* db, absl::string_view text,
                                       textparse::Format format) {
  return Import(db, text, format, nullptr);
}

absl::StatusOr<ImportStats> ImportOpenMetricsFile(DB* db,
                                                  const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(err)));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return ImportOpenMetrics(db, absl::string_view());
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  close(fd);
  if (map == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("cannot map ", path, ": ", std::strerror(map_err)));
  }
  madvise(map, size, MADV_SEQUENTIAL);
  const char* base = static_cast<const char*>(map);
  // Pages the parser has passed are dropped from the mapping (they stay
  // in the page cache), so the resident size does not grow with the file.
  size_t released = 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto release = [&](size_t upto) {
    upto -= upto % page;
    if (upto <= released) return;
    madvise(const_cast<char*>(base) + released, upto - released, MADV_DONTNEED);
    released = upto;
  };
  absl::StatusOr<ImportStats> result =
      Import(db, absl::string_view(base, size), textparse::Format::kOpenMetrics,
             release);
  munmap(map, size);
  return result;
}

}  // namespace vigil::tsdb
