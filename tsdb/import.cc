#include "tsdb/import.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tsdb/chunk_merger.h"

namespace vigil::tsdb {
namespace {

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
        if (ValueBits(v) == last_bits_) {
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
    } else {
      first_t_ = t;
    }
    if (enc_.num_samples() > 0 &&
        (enc_.num_samples() >= kMaxSamplesPerRangeChunk ||
         ChunkRangeStart(t) != ChunkRangeStart(enc_.min_time()))) {
      Seal();
    }
    enc_.Append(t, v);
    has_last_ = true;
    last_t_ = t;
    last_bits_ = ValueBits(v);
  }

  // Appends the samples `later` collected from a later part of the input.
  // When they all come after this series' newest sample, its chunks are
  // taken over as they are (the chunk at the seam may be short); otherwise
  // both sides go back to samples, sorted in Finish.
  void Absorb(SeriesBuilder* later) {
    if (!later->unsorted_ && !later->has_last_) return;  // nothing there
    if (!unsorted_ && !later->unsorted_ &&
        (!has_last_ || later->first_t_ > last_t_)) {
      Seal();
      for (ChunkPtr& c : later->chunks_) chunks_.push_back(std::move(c));
      enc_ = std::move(later->enc_);
      if (!has_last_) first_t_ = later->first_t_;
      has_last_ = true;
      last_t_ = later->last_t_;
      last_bits_ = later->last_bits_;
      return;
    }
    ToUnsorted();
    later->ToUnsorted();
    pending_.insert(pending_.end(), later->pending_.begin(),
                    later->pending_.end());
  }

  // The newest timestamp seen so far.
  int64_t MaxTime() const {
    int64_t t = has_last_ ? last_t_ : std::numeric_limits<int64_t>::min();
    for (const Sample& s : pending_) t = std::max(t, s.t);
    return t;
  }

  // Seals the open chunk (sorting and de-duplicating first if the series
  // went back in time) and returns all chunks in time order. Chunks in
  // ranges from `open_from` on (see OpenRangesStart) are re-cut at the
  // head's kSamplesPerChunk.
  absl::StatusOr<std::vector<ChunkPtr>> Finish(int64_t* duplicates,
                                               int64_t open_from) {
    if (unsorted_) {
      // Stable: of repeats at one timestamp the first in the input stays.
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
    size_t first_open = chunks_.size();
    while (first_open > 0 && chunks_[first_open - 1]->min_time >= open_from) {
      --first_open;
    }
    if (first_open < chunks_.size()) {
      std::vector<Sample> tail;
      int64_t last = std::numeric_limits<int64_t>::min();
      for (size_t i = first_open; i < chunks_.size(); ++i) {
        // Our own encoder's output: decoding cannot fail.
        DecodeChunk(*chunks_[i], std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max(), &last, &tail)
            .IgnoreError();
      }
      chunks_.resize(first_open);
      // As the head would have written them: its adaptive encoding (the
      // chunk merger rewrites these ranges once they close).
      HeadChunkEncoder head;
      for (const Sample& s : tail) {
        if (head.num_samples() > 0 &&
            (head.num_samples() >= kSamplesPerChunk ||
             ChunkRangeStart(s.t) != ChunkRangeStart(head.min_time()))) {
          chunks_.push_back(ChunkOf(head));
          head = HeadChunkEncoder();
        }
        head.Append(s.t, s.v);
      }
      if (ChunkPtr c = ChunkOf(head)) chunks_.push_back(std::move(c));
    }
    return std::move(chunks_);
  }

 private:
  absl::Status Conflict(int64_t t) const {
    return MakeAppendError(
        AppendError::kDuplicate,
        absl::StrCat("two values for ", labels_.ToString(), " at ", t));
  }

  // Closed-range chunks are written whole, in the range encoding.
  void Seal() {
    ChunkPtr c = RangeChunkOf(&enc_);
    if (c == nullptr) return;
    chunks_.push_back(std::move(c));
  }

  // Decodes what was encoded so far back into samples (in input order, as
  // they were in time order) and collects from here on.
  void ToUnsorted() {
    if (unsorted_) return;
    Seal();
    std::vector<Sample> decoded;
    int64_t last = std::numeric_limits<int64_t>::min();
    for (const ChunkPtr& c : chunks_) {
      // Our own encoder's output: decoding cannot fail.
      DecodeChunk(*c, std::numeric_limits<int64_t>::min(),
                  std::numeric_limits<int64_t>::max(), &last, &decoded)
          .IgnoreError();
    }
    chunks_.clear();
    decoded.insert(decoded.end(), pending_.begin(), pending_.end());
    pending_ = std::move(decoded);
    unsorted_ = true;
  }

  Labels labels_;
  chunkenc::RangeChunkEncoder enc_;
  std::vector<ChunkPtr> chunks_;
  bool has_last_ = false;
  bool unsorted_ = false;
  int64_t first_t_ = 0;
  int64_t last_t_ = 0;
  uint64_t last_bits_ = 0;
  std::vector<Sample> pending_;
};

// Drops [begin, end) of the input from memory once parsed (see
// ImportOpenMetricsFile); may be called from several threads with
// disjoint ranges.
using ReleaseFn = std::function<void(size_t begin, size_t end)>;

// A line-aligned part of the input, parsed and encoded by one thread.
// Exposition formats carry no state from line to line (OpenMetrics'
// "# EOF" aside, which only the last piece has), so a piece parses exactly
// as it would inside the whole input.
struct Piece {
  absl::string_view text;
  size_t offset = 0;  // of text in the whole input
  bool last = false;

  // Series in order of first appearance in this piece.
  std::vector<std::unique_ptr<SeriesBuilder>> series;
  int64_t out_of_bounds = 0;
  int64_t duplicates = 0;
  absl::Status conflict;  // the first second value at one timestamp
  // A parse error: code, line within the piece, reason.
  absl::Status error;
  int64_t error_line = 0;
};

constexpr uint32_t kNone = ~uint32_t{0};

void ParsePiece(Piece* piece, textparse::Format format, int64_t cutoff,
                const ReleaseFn& release) {
  // Two indexes: the exact `name{labels}` bytes of a line (most lines of a
  // series are spelled alike, and a hit skips label parsing and sorting),
  // and the label set, which merges different spellings of one series.
  struct Spelling {
    std::string text;
    uint32_t series;
    // The spelling of the line that followed this one last time.
    uint32_t next = kNone;
  };
  std::vector<Spelling> spellings;
  absl::flat_hash_map<std::string, uint32_t> by_text;
  absl::flat_hash_map<Labels, uint32_t> by_labels;
  textparse::Parser p(piece->text, format);
  auto fail = [&](int64_t line, absl::string_view reason) {
    piece->error = absl::InvalidArgumentError(reason);
    piece->error_line = line;
  };
  // Each line's series is predicted, and a right guess is confirmed by one
  // compare inside the parser, which then parses only value and timestamp.
  // The guess: the previous line's series while lines repeat a series
  // (each series' lines together), else the series that followed the
  // previous one last time (series interleaved in a repeating order, as in
  // a dump of scrapes). Only a wrong guess costs a lookup.
  uint32_t prev = kNone;
  bool repeating = false;
  constexpr size_t kReleaseStep = size_t{8} << 20;
  size_t released = 0;  // within the piece
  for (;;) {
    if (!piece->last && p.AtEnd()) break;
    uint32_t guess = prev;
    if (prev != kNone && !repeating && spellings[prev].next != kNone) {
      guess = spellings[prev].next;
    }
    const textparse::Entry e =
        guess == kNone ? p.Next() : p.NextPredicted(spellings[guess].text);
    if (e == textparse::Entry::kEOF) {
      // "# EOF" must be the input's last line; later pieces are not empty.
      if (!piece->last && format == textparse::Format::kOpenMetrics) {
        fail(p.line() + 1, "unexpected content after \"# EOF\"");
      }
      break;
    }
    if (e == textparse::Entry::kInvalid) {
      // The parser's message is "line N: reason"; N is redone for the
      // whole input.
      absl::string_view msg = p.status().message();
      const std::string prefix = absl::StrCat("line ", p.line(), ": ");
      if (absl::StartsWith(msg, prefix)) msg.remove_prefix(prefix.size());
      fail(p.line(), msg);
      break;
    }
    if (e != textparse::Entry::kSeries) continue;
    const std::optional<int64_t> ts = p.Timestamp();
    if (!ts) {
      fail(p.line(), absl::StrCat("sample of ", p.Series(),
                                  " has no timestamp; backfill needs one"));
      break;
    }
    const absl::string_view key = p.Series();
    uint32_t cur = guess;
    if (!p.predicted()) {
      auto it = by_text.find(key);
      if (it != by_text.end()) {
        cur = it->second;
      } else {
        absl::StatusOr<Labels> labels = p.BuildLabels();
        if (!labels.ok()) {
          fail(p.line(), labels.status().message());
          break;
        }
        absl::Status valid = ValidateSeriesLabels(*labels);
        if (!valid.ok()) {
          fail(p.line(), valid.message());
          break;
        }
        auto [li, inserted] = by_labels.try_emplace(
            *labels, static_cast<uint32_t>(piece->series.size()));
        if (inserted) {
          piece->series.push_back(
              std::make_unique<SeriesBuilder>(*std::move(labels)));
        }
        cur = static_cast<uint32_t>(spellings.size());
        spellings.push_back(Spelling{std::string(key), li->second});
        by_text.emplace(std::string(key), cur);
      }
    }
    if (prev != kNone && cur != prev) spellings[prev].next = cur;
    repeating = cur == prev;
    prev = cur;
    SeriesBuilder* sb = piece->series[spellings[cur].series].get();
    if (release) {
      const size_t at = static_cast<size_t>(key.data() - piece->text.data());
      if (at >= released + 2 * kReleaseStep) {
        const size_t upto = at - kReleaseStep;
        release(piece->offset + released, piece->offset + upto);
        released = upto;
      }
    }
    if (*ts < cutoff) {
      ++piece->out_of_bounds;
      continue;
    }
    sb->Add(*ts, p.Value(), &piece->duplicates, &piece->conflict);
  }
}

// Below this an input is parsed by one thread.
constexpr size_t kMinPieceBytes = size_t{1} << 20;

absl::StatusOr<ImportStats> Import(DB* db, absl::string_view text,
                                   textparse::Format format,
                                   const ReleaseFn& release) {
  // One piece per core, cut after a newline.
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min<size_t>(threads, 8);
  threads =
      std::max<size_t>(1, std::min(threads, text.size() / kMinPieceBytes));
  std::vector<Piece> pieces;
  size_t begin = 0;
  for (size_t i = 1; i <= threads && begin < text.size(); ++i) {
    size_t end = text.size();
    if (i < threads) {
      const size_t target = std::max(begin, text.size() / threads * i);
      const size_t nl = text.find('\n', target);
      end = nl == absl::string_view::npos ? text.size() : nl + 1;
    }
    Piece piece;
    piece.text = text.substr(begin, end - begin);
    piece.offset = begin;
    pieces.push_back(std::move(piece));
    begin = end;
  }
  if (pieces.empty()) pieces.emplace_back();  // empty input: one empty piece
  pieces.back().last = true;

  const int64_t cutoff = db->RetentionCutoff();
  std::vector<std::thread> workers;
  for (size_t i = 1; i < pieces.size(); ++i) {
    workers.emplace_back(ParsePiece, &pieces[i], format, cutoff,
                         std::cref(release));
  }
  ParsePiece(&pieces[0], format, cutoff, release);
  for (std::thread& w : workers) w.join();

  ImportStats stats;
  // The first parse error in input order wins over everything else: the
  // file is wrong before its data is.
  for (const Piece& piece : pieces) {
    if (piece.error.ok()) continue;
    const int64_t lines_before =
        std::count(text.begin(), text.begin() + piece.offset, '\n');
    return absl::Status(piece.error.code(),
                        absl::StrCat("line ", lines_before + piece.error_line,
                                     ": ", piece.error.message()));
  }
  for (const Piece& piece : pieces) {
    if (!piece.conflict.ok()) return piece.conflict;
  }

  // Series in order of first appearance in the whole input; a series seen
  // by several pieces gets the later pieces' samples appended.
  std::vector<std::unique_ptr<SeriesBuilder>> series;
  absl::flat_hash_map<Labels, size_t> index;
  for (Piece& piece : pieces) {
    stats.out_of_bounds += piece.out_of_bounds;
    stats.duplicates += piece.duplicates;
    for (std::unique_ptr<SeriesBuilder>& sb : piece.series) {
      auto [it, inserted] = index.try_emplace(sb->labels(), series.size());
      if (inserted) {
        series.push_back(std::move(sb));
      } else {
        series[it->second]->Absorb(sb.get());
        sb.reset();
      }
    }
  }

  // The newest range(s) are cut like the head cuts them (see
  // OpenRangesStart): instant queries at the newest data then decode a
  // head-sized chunk, not a whole range; the chunk merger merges them once
  // newer data closes them.
  int64_t newest =
      db->MaxTime() == 0 ? std::numeric_limits<int64_t>::min() : db->MaxTime();
  for (const std::unique_ptr<SeriesBuilder>& sb : series) {
    newest = std::max(newest, sb->MaxTime());
  }
  const int64_t open_from =
      newest == std::numeric_limits<int64_t>::min()
          ? std::numeric_limits<int64_t>::max()
          : OpenRangesStart(newest, db->options().chunk_merge_delay);

  std::vector<std::pair<Labels, std::vector<ChunkPtr>>> batch;
  batch.reserve(series.size());
  stats.min_time = std::numeric_limits<int64_t>::max();
  stats.max_time = std::numeric_limits<int64_t>::min();
  for (std::unique_ptr<SeriesBuilder>& sb : series) {
    absl::StatusOr<std::vector<ChunkPtr>> chunks =
        sb->Finish(&stats.duplicates, open_from);
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
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto release = [&](size_t from, size_t to) {
    from = (from + page - 1) / page * page;
    to -= to % page;
    if (to <= from) return;
    madvise(const_cast<char*>(base) + from, to - from, MADV_DONTNEED);
  };
  absl::StatusOr<ImportStats> result =
      Import(db, absl::string_view(base, size), textparse::Format::kOpenMetrics,
             release);
  munmap(map, size);
  return result;
}

}  // namespace vigil::tsdb
