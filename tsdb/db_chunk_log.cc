// The DB's side of the head chunk log (tsdb/chunk_log.h): reading a
// series' logged chunks, attaching the log to the series at Open, and
// moving the chunks of closed ranges into the store (MergeChunks' first
// step). PersistSealed, which
// writes the log, is in db.cc next to the commit that calls it.
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tsdb/chunk_log.h"
#include "tsdb/chunk_merger.h"
#include "tsdb/db.h"
#include "tsdb/store.h"

namespace vigil::tsdb {
namespace {

constexpr int64_t kMinT = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxT = std::numeric_limits<int64_t>::max();

// Series whose moves go to the store in one write.
constexpr size_t kMoveWriteBatch = 256;

}  // namespace

absl::Status DB::ReadLoggedChunks(const MemSeries& s, int64_t mint,
                                  int64_t maxt,
                                  std::vector<ChunkPtr>* out) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // the caller holds s.mu
  if (log_ == nullptr || s.log_tail == ChunkLog::kNoPosition) {
    return absl::OkStatus();
  }
  const size_t first = out->size();
  // The chain runs from the newest chunk to older ones, each ending before
  // the next starts.
  for (uint64_t pos = s.log_tail; pos != ChunkLog::kNoPosition;) {
    ChunkLog::Record r;
    bool found;
    absl::Status st = log_->Read(pos, &r, nullptr, &found);
    if (!st.ok()) return st;
    // A deleted segment, or a chunk the merger moved: so is every older one.
    if (!found || r.min_time < s.log_floor || r.max_time < mint) break;
    if (r.min_time <= maxt) {
      ChunkPtr c;
      st = log_->Read(pos, &r, &c, &found);
      if (!st.ok()) return st;
      out->push_back(std::move(c));
    }
    pos = r.prev;
  }
  std::reverse(out->begin() + static_cast<std::ptrdiff_t>(first), out->end());
  return absl::OkStatus();
}

absl::Status DB::RecoverChunkLog() {
  const int64_t cutoff = RetentionCutoff();
  int64_t mint = kMaxT, maxt = kMinT;
  absl::Status st =
      log_->ScanExisting([&](const ChunkLog::Record& r, absl::string_view) {
        if (r.max_time < cutoff) return absl::OkStatus();
        MemSeries* s = head_.Get(r.ref);
        // A deleted series (or a later series that got its ref).
        if (s == nullptr || s->hash != r.series_hash) return absl::OkStatus();
        SeriesLockGuard l(&s->mu);
        // Moved to the store before the restart: the store holds every
        // logged chunk ending at or before the series' newest stored sample,
        // because chunks are moved oldest first, and an import newer than
        // the head moves the series' log first (MoveSeriesLogged).
        if (r.max_time <= s->persisted_max_time) return absl::OkStatus();
        // Records come in write order, so each series' records in its
        // chain's order.
        if (s->log_tail == ChunkLog::kNoPosition) s->log_floor = r.min_time;
        s->log_tail = r.pos;
        s->min_time = std::min(s->min_time, r.min_time);
        if (r.max_time > s->max_time) {
          s->max_time = r.max_time;
          s->last_bits_unknown = true;
        }
        ++recovery_log_chunks_;
        mint = std::min(mint, r.min_time);
        maxt = std::max(maxt, r.max_time);
        return absl::OkStatus();
      });
  if (mint <= maxt) NoteTimeRange(mint, maxt);
  log_->ReleaseMappedPages();
  return st;
}

absl::Status DB::MoveLoggedStep(int64_t below, int64_t* budget) {
  if (log_ == nullptr) return absl::OkStatus();
  if (!move_.in_pass) {
    const bool late = late_logged_.exchange(false);
    if (below <= moved_below_.load() && !late) return absl::OkStatus();
    move_.in_pass = true;
    move_.below = std::max(below, moved_below_.load());
    move_.cursor = 1;
    // Every record in a segment below this one has reached its series'
    // chain once PersistSealed released the lock, so the walk below sees
    // it; newer segments may hold records it misses and are kept.
    absl::MutexLock w(&log_write_mu_);
    move_.segment_bound = log_->active_segment();
  }
  // Ranges still open stay as the head cut them (instant queries at "now"
  // decode them), even when everything is moved (MoveAllLoggedChunks).
  const int64_t merge_below =
      options_.chunk_merge_samples_per_round > 0
          ? std::min(move_.below, OpenRangesStart(max_time_.load(),
                                                  options_.chunk_merge_delay))
          : kMinT;
  const SeriesRef last = head_.LastRef();
  std::vector<SeriesMove> moves;
  SeriesRef ref = move_.cursor;
  for (; ref <= last && *budget > 0; ++ref) {
    MemSeries* s = head_.Get(ref);
    if (s == nullptr) continue;
    SeriesMove mv;
    absl::Status st = PlanMove(s, move_.below, merge_below, &mv);
    if (!st.ok()) return st;
    if (mv.series == nullptr) continue;
    *budget -= mv.samples;
    moves.push_back(std::move(mv));
    if (moves.size() >= kMoveWriteBatch) {
      st = ApplyMoves(&moves);
      if (!st.ok()) return st;
      moves.clear();
      move_.cursor = ref + 1;
    }
  }
  absl::Status st = ApplyMoves(&moves);
  if (!st.ok()) return st;
  move_.cursor = ref;
  if (move_.cursor <= last) return absl::OkStatus();  // budget spent
  move_.in_pass = false;
  if (move_.below > moved_below_.load()) moved_below_.store(move_.below);
  return log_->DeleteSegmentsEndingBefore(move_.below, move_.segment_bound);
}

absl::Status DB::MoveAllLoggedChunks() {
  if (log_ == nullptr) return absl::OkStatus();
  // Starts the pass afresh: what a pass in progress did is redone, and
  // every segment written so far can go.
  {
    absl::MutexLock w(&log_write_mu_);
    absl::Status st = log_->Rotate();
    if (!st.ok()) return st;
  }
  move_.in_pass = false;
  const int64_t keep = moved_below_.load();
  moved_below_.store(kMinT);
  int64_t budget = kMaxT;
  absl::Status st = MoveLoggedStep(kMaxT, &budget);
  moved_below_.store(keep);
  return st;
}

absl::Status DB::MoveSeriesLogged(absl::Span<MemSeries* const> series) {
  if (log_ == nullptr) return absl::OkStatus();
  std::vector<SeriesMove> moves;
  for (MemSeries* s : series) {
    SeriesMove mv;
    absl::Status st = PlanMove(s, kMaxT, /*merge_below=*/kMinT, &mv);
    if (!st.ok()) return st;
    if (mv.series != nullptr) moves.push_back(std::move(mv));
  }
  return ApplyMoves(&moves);
}

absl::Status DB::PlanMove(MemSeries* s, int64_t below, int64_t merge_below,
                          SeriesMove* mv) {
  uint64_t tail;
  int64_t floor, pmin, pmax;
  {
    SeriesLockGuard l(&s->mu);
    tail = s->log_tail;
    floor = s->log_floor;
    pmin = s->persisted_min_time;
    pmax = s->persisted_max_time;
  }
  if (tail == ChunkLog::kNoPosition) return absl::OkStatus();
  // The records not moved yet, oldest first. Nobody else moves or deletes
  // (maintenance_mu_), so they stay readable while this runs.
  std::vector<ChunkLog::Record> recs;
  for (uint64_t pos = tail; pos != ChunkLog::kNoPosition;) {
    ChunkLog::Record r;
    bool found;
    absl::Status st = log_->Read(pos, &r, nullptr, &found);
    if (!st.ok()) return st;
    if (!found || r.min_time < floor) break;
    recs.push_back(r);
    pos = r.prev;
  }
  std::reverse(recs.begin(), recs.end());
  size_t k = 0;
  while (k < recs.size() && recs[k].max_time < below) ++k;
  mv->series = s;
  if (k == 0) {
    // Nothing to move; readers may start at the oldest record.
    mv->new_floor = recs.empty() ? floor : recs.front().min_time;
    return absl::OkStatus();
  }
  mv->new_floor = recs[k - 1].max_time + 1;
  const int64_t cutoff = RetentionCutoff();
  mv->replacement.ref = s->ref;
  mv->pmin = pmin;
  mv->pmax = pmax;
  for (size_t i = 0; i < k;) {
    // The records of one chunk range.
    const int64_t range = ChunkRangeStart(recs[i].min_time);
    std::vector<ChunkPtr> logged;
    for (; i < k && ChunkRangeStart(recs[i].min_time) == range; ++i) {
      if (recs[i].max_time < cutoff) continue;  // retention drops it
      ChunkPtr c;
      bool found;
      absl::Status st = log_->Read(recs[i].pos, &recs[i], &c, &found);
      if (!st.ok()) return st;
      if (found) logged.push_back(std::move(c));
    }
    if (logged.empty()) continue;
    std::vector<ChunkPtr> out = logged;
    std::vector<int64_t> old_keys;
    if (range < merge_below) {
      // One chunk per range, with what the store has of it (an import, or
      // chunks moved before a restart).
      std::vector<ChunkPtr> all;
      const int64_t range_end = range + (kChunkRangeMs - 1);
      if (pmax >= range && pmin <= range_end) {
        absl::Status st = store_->ReadChunks(s->ref, range, range_end, &all);
        if (!st.ok()) return st;
      }
      for (const ChunkPtr& c : all) old_keys.push_back(c->min_time);
      all.insert(all.end(), logged.begin(), logged.end());
      std::stable_sort(all.begin(), all.end(),
                       [](const ChunkPtr& a, const ChunkPtr& b) {
                         return a->min_time < b->min_time;
                       });
      absl::StatusOr<std::vector<ChunkPtr>> merged = MergeRangeChunks(all);
      if (merged.ok()) {
        out = *std::move(merged);
        ++mv->merges;
        mv->merged_chunks += static_cast<int64_t>(all.size());
        for (const ChunkPtr& c : out) mv->merged_samples += c->num_samples;
      } else {
        old_keys.clear();  // moved as they are; queriers report the damage
      }
    }
    for (const ChunkPtr& c : out) {
      mv->samples += c->num_samples;
      mv->pmin = std::min(mv->pmin, c->min_time);
      mv->pmax = std::max(mv->pmax, c->max_time);
      mv->replacement.chunks.push_back(c);
    }
    for (int64_t t : old_keys) mv->replacement.old_min_times.push_back(t);
  }
  if (!mv->replacement.chunks.empty()) {
    mv->replacement.meta = true;
    mv->replacement.meta_min_time = mv->pmin;
    mv->replacement.meta_max_time = mv->pmax;
  }
  return absl::OkStatus();
}

absl::Status DB::ApplyMoves(std::vector<SeriesMove>* moves) {
  std::vector<ChunkStore::ChunkReplacement> batch;
  int64_t chunks = 0, merges = 0, merged_chunks = 0, merged_samples = 0;
  for (SeriesMove& mv : *moves) {
    if (mv.replacement.chunks.empty()) continue;
    chunks += static_cast<int64_t>(mv.replacement.chunks.size());
    merges += mv.merges;
    merged_chunks += mv.merged_chunks;
    merged_samples += mv.merged_samples;
    batch.push_back(mv.replacement);
  }
  if (!batch.empty()) {
    absl::Status st = store_->ReplaceChunks(batch);
    if (!st.ok()) return st;
  }
  // Only after the store has them: readers that see the new floor read the
  // store, the others still the log.
  for (SeriesMove& mv : *moves) {
    MemSeries* s = mv.series;
    SeriesLockGuard l(&s->mu);
    s->log_floor = std::max(s->log_floor, mv.new_floor);
    if (!mv.replacement.chunks.empty()) {
      s->persisted_min_time = std::min(s->persisted_min_time, mv.pmin);
      s->persisted_max_time = std::max(s->persisted_max_time, mv.pmax);
    }
  }
  chunks_moved_.fetch_add(chunks, std::memory_order_relaxed);
  chunk_merges_.fetch_add(merges, std::memory_order_relaxed);
  chunks_merged_.fetch_add(merged_chunks, std::memory_order_relaxed);
  chunk_merge_samples_.fetch_add(merged_samples, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace vigil::tsdb
