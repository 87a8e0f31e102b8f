#include "tsdb/chunk_merger.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tsdb/db.h"
#include "tsdb/store.h"

namespace vigil::tsdb {
namespace {

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();

// Store keys one MergeChunks call steps over at most: a pass over a store
// that is already merged costs one or two seeks per series, but the first
// pass after Open walks every key once, spread over maintenance runs.
constexpr int64_t kMergeKeysPerCall = int64_t{1} << 18;
// Replacements per store write. Commits wait while one is written (see
// MergeChunks), so it is kept to a few hundred KB.
constexpr size_t kMergeWriteBatch = 256;

}  // namespace

absl::StatusOr<std::vector<ChunkPtr>> MergeRangeChunks(
    absl::Span<const ChunkPtr> chunks) {
  std::vector<ChunkPtr> out;
  if (chunks.empty()) return out;
  const int64_t range = ChunkRangeStart(chunks.front()->min_time);
  size_t total = 0;
  for (const ChunkPtr& c : chunks) {
    if (ChunkRangeStart(c->min_time) != range ||
        ChunkRangeStart(c->max_time) != range) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MergeRangeChunks: chunk [", c->min_time, ", ", c->max_time,
          "] is not in the chunk range starting at ", range));
    }
    total += static_cast<size_t>(std::max(0, c->num_samples));
  }
  std::vector<Sample> samples;
  samples.reserve(total);
  int64_t last = kMinT;
  for (const ChunkPtr& c : chunks) {
    absl::Status st = DecodeChunk(*c, kMinT, kMaxT, &last, &samples);
    if (!st.ok()) return st;
  }
  chunkenc::RangeChunkEncoder enc;
  for (const Sample& s : samples) {
    if (enc.num_samples() >= kMaxSamplesPerRangeChunk) {
      out.push_back(RangeChunkOf(&enc));
    }
    enc.Append(s.t, s.v);
  }
  if (ChunkPtr c = RangeChunkOf(&enc)) out.push_back(std::move(c));
  return out;
}

int64_t OpenRangesStart(int64_t newest, absl::Duration delay) {
  const int64_t d = absl::ToInt64Milliseconds(delay);
  if (newest < kMinT + d + kChunkRangeMs) return kMinT;
  return ChunkRangeStart(newest - d);
}

bool RangeChunksMerged(absl::Span<const ChunkPtr> chunks) {
  for (const ChunkPtr& c : chunks) {
    if (c->encoding != ChunkEncoding::kRange) return false;
  }
  if (chunks.size() <= 1) return true;
  int64_t total = 0;
  for (const ChunkPtr& c : chunks) total += c->num_samples;
  const int64_t needed =
      (total + kMaxSamplesPerRangeChunk - 1) / kMaxSamplesPerRangeChunk;
  return static_cast<int64_t>(chunks.size()) <= needed;
}

absl::Status DB::MergeChunks() {
  if (store_ == nullptr) return absl::OkStatus();
  // Deletion and retention hold this too: a range read here cannot be
  // changed by them before its replacement is written.
  absl::MutexLock m(&maintenance_mu_);
  const int64_t maxt = max_time_.load();
  if (maxt == kMinT) return absl::OkStatus();
  const bool merging = options_.chunk_merge_samples_per_round > 0;
  int64_t budget = merging ? options_.chunk_merge_samples_per_round : kMaxT;
  // First the head chunk log's closed ranges, which arrive merged; then
  // what the store holds unmerged (imports, data from older versions).
  absl::Status moved = MoveLoggedStep(
      OpenRangesStart(maxt, options_.chunk_merge_delay), &budget);
  if (!moved.ok()) return moved;
  if (!merging || budget <= 0) return absl::OkStatus();
  if (!merge_.in_pass) {
    if (merge_rescan_.exchange(false)) merge_.from = kMinT;
    const int64_t below = OpenRangesStart(maxt, options_.chunk_merge_delay);
    if (below <= merge_.from) return absl::OkStatus();
    merge_.in_pass = true;
    merge_.below = below;
    merge_.min_blocked = below;
    merge_.cursor_ref = 0;
    merge_.cursor_time = kMinT;
  }
  // Chunks wholly older than the cutoff are about to be dropped.
  const int64_t cutoff = RetentionCutoff();
  int64_t from = merge_.from;
  if (cutoff != kMinT) from = std::max(from, ChunkRangeStart(cutoff));

  struct Pending {
    ChunkStore::ChunkReplacement replacement;
    int64_t range_start;
    int64_t max_time;  // of the old chunks
    int64_t samples;
  };
  std::vector<Pending> pending;
  absl::Status merge_error;
  ChunkStore::MergeCursor cursor;
  cursor.ref = merge_.cursor_ref;
  cursor.time = merge_.cursor_time;
  absl::Status st = store_->ScanRangesToMerge(
      from, merge_.below, kMergeKeysPerCall, &cursor,
      [&](ChunkStore::RangeChunks g) {
        if (RangeChunksMerged(g.chunks) || g.chunks.back()->max_time < cutoff) {
          return true;
        }
        absl::StatusOr<std::vector<ChunkPtr>> merged =
            MergeRangeChunks(g.chunks);
        if (!merged.ok()) {
          // Left as it is (queriers report it); the rest is merged.
          if (merge_error.ok()) {
            merge_error = absl::Status(
                merged.status().code(),
                absl::StrCat("merging chunks of series ", g.ref, " at ",
                             g.range_start, ": ", merged.status().message()));
          }
          return true;
        }
        Pending p;
        p.replacement.ref = g.ref;
        p.range_start = g.range_start;
        p.max_time = kMinT;
        p.samples = 0;
        for (const ChunkPtr& c : g.chunks) {
          p.replacement.old_min_times.push_back(c->min_time);
          p.max_time = std::max(p.max_time, c->max_time);
        }
        for (const ChunkPtr& c : *merged) p.samples += c->num_samples;
        p.replacement.chunks = *std::move(merged);
        budget -= p.samples;
        pending.push_back(std::move(p));
        return budget > 0;
      });
  if (!st.ok()) return st;

  for (size_t begin = 0; begin < pending.size(); begin += kMergeWriteBatch) {
    const size_t end = std::min(pending.size(), begin + kMergeWriteBatch);
    std::vector<ChunkStore::ChunkReplacement> batch;
    int64_t merged_chunks = 0, samples = 0;
    // Held exclusively, no commit is between choosing chunks to persist and
    // writing them (PersistSealed runs under it shared), so every chunk the
    // head will still write is in memory now: a range whose chunks all end
    // before the series' oldest chunk in memory can no longer be written
    // to by the head, and our keys cannot be overwritten by a late copy.
    absl::WriterMutexLock l(&commit_mu_);
    for (size_t i = begin; i < end; ++i) {
      Pending& p = pending[i];
      MemSeries* s = head_.Get(p.replacement.ref);
      if (s == nullptr) continue;  // deleted
      int64_t in_memory = kMaxT;
      {
        SeriesLockGuard sl(&s->mu);
        if (!s->sealed.empty()) in_memory = s->sealed.front()->min_time;
        // Chunks in the head chunk log are the head's, too.
        if (s->log_tail != 0) in_memory = std::min(in_memory, s->log_floor);
        if (s->open.num_samples() > 0) {
          in_memory = std::min(in_memory, s->open.min_time());
        }
      }
      if (p.max_time >= in_memory) {
        merge_.min_blocked = std::min(merge_.min_blocked, p.range_start);
        continue;
      }
      merged_chunks += static_cast<int64_t>(p.replacement.old_min_times.size());
      samples += p.samples;
      batch.push_back(std::move(p.replacement));
    }
    if (batch.empty()) continue;
    st = store_->ReplaceChunks(batch);
    if (!st.ok()) return st;
    chunk_merges_.fetch_add(static_cast<int64_t>(batch.size()),
                            std::memory_order_relaxed);
    chunks_merged_.fetch_add(merged_chunks, std::memory_order_relaxed);
    chunk_merge_samples_.fetch_add(samples, std::memory_order_relaxed);
  }
  merge_.cursor_ref = cursor.ref;
  merge_.cursor_time = cursor.time;
  if (cursor.done) {
    merge_.in_pass = false;
    merge_.from = merge_.min_blocked;
  }
  return merge_error;
}

}  // namespace vigil::tsdb
