// The storage engine: an in-memory head (tsdb/head.h) in front of a
// RocksDB store for sealed chunks and series definitions, with a write-ahead
// log (tsdb/wal.h) so every committed batch survives kill -9. Implements the
// Queryable/Appendable seams; see docs/storage.md for the on-disk format.
//
//   DBOptions opts;
//   opts.path = "/var/lib/vigil";          // "" keeps everything in memory
//   absl::StatusOr<std::unique_ptr<DB>> db = DB::Open(opts);
//   auto app = (*db)->NewAppender();
//   app->Append(0, labels, t, v);
//   absl::Status s = app->Commit();
//   auto q = (*db)->NewQuerier(mint, maxt);
//
// Thread-safety: all public methods are thread-safe. Appenders and queriers
// are used by one thread each and must not outlive the DB.
#ifndef VIGIL_TSDB_DB_H_
#define VIGIL_TSDB_DB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tsdb/appender.h"
#include "tsdb/head.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "tsdb/querier.h"
#include "tsdb/store.h"

namespace vigil::tsdb {

class ChunkLog;
class ChunkStore;
class Wal;

struct DBOptions {
  std::string path;  // empty: purely in memory (no RocksDB, no WAL)
  absl::Duration retention = absl::Hours(24 * 15);
  int64_t retention_bytes = 0;  // 0: no size limit
  // Clock for retention and out-of-bounds checks (ms since the epoch).
  // Tests inject a fake one. Default: wall clock.
  std::function<int64_t()> now_ms;
  // How often the background thread applies retention and checkpoints
  // the WAL. Zero disables the thread (call RunMaintenance() yourself).
  absl::Duration maintenance_interval = absl::Seconds(30);
  // The WAL starts a new segment file past this size.
  int64_t wal_segment_bytes = 64 << 20;
  // Maintenance checkpoints the head (writes open chunks to RocksDB and
  // deletes old WAL segments) once the WAL exceeds this many bytes: the
  // tail a kill -9 leaves to replay. 64 MB is ~16M scraped samples at the
  // ~4 bytes a sample of type 0x02 WAL records (docs/storage.md, "WAL
  // format"); it was 256 MB, also ~15M samples, at the ~17 bytes of the
  // type 0x01 records.
  int64_t wal_checkpoint_bytes = 64 << 20;
  // Tunes glibc malloc for the whole process at Open (an embedder with its
  // own allocator policy sets false): at most 2 arenas, blocks of 128 KiB
  // and more (scrape bodies, batch buffers) mapped and unmapped on their
  // own, and free pages returned by each maintenance run. glibc's default,
  // 8 arenas per core, gave every scrape thread an arena that kept ~5 MiB
  // of freed per-scrape buffers: at 10 targets x 5,000 series 59 of the
  // 138 MiB malloc held were free.
  bool tune_malloc = true;
  // Chunk merger (see MergeChunks): at most this many samples are
  // re-encoded per maintenance run, at ~0.2 s CPU per million
  // (chunk_merger_benchmark), so ~1.5 % of a core at the default interval,
  // enough for 1M series scraped every 15 s; 0 turns the merger off.
  int64_t chunk_merge_samples_per_round = 2 << 20;
  // A chunk range is merged once the newest sample is this far past its end.
  // It is also when sealed head chunks leave the head chunk log for the
  // store (see MergeChunks).
  absl::Duration chunk_merge_delay = absl::Hours(1);
  // The head chunk log (tsdb/chunk_log.h) starts a new segment file past
  // this size.
  int64_t chunk_log_segment_bytes = 32 << 20;
};

// Counters since Open and current gauges.
struct DBStats {
  int64_t head_series = 0;
  int64_t head_chunks = 0;  // open + sealed chunks held in memory
  int64_t symbols = 0;
  int64_t samples_appended = 0;
  int64_t out_of_order = 0;
  int64_t duplicate = 0;
  int64_t out_of_bounds = 0;
  int64_t invalid_labels = 0;
  int64_t commits = 0;
  int64_t wal_bytes = 0;        // current size of the WAL directory
  int64_t disk_bytes = 0;       // RocksDB files + WAL + head chunk log
  int64_t chunk_log_bytes = 0;  // current size of the head chunk log
  // Sealed head chunks written to the head chunk log (or, when imported, to
  // the store), and logged chunks moved to the store since.
  int64_t chunks_persisted = 0;
  int64_t chunks_moved = 0;
  int64_t wal_checkpoints = 0;
  int64_t compactions = 0;
  int64_t retention_deletions = 0;  // series dropped by retention
  int64_t chunk_merges = 0;         // (series, 2 h range) pairs rewritten
  int64_t chunks_merged = 0;        // chunks those merges replaced
  int64_t chunk_merge_samples = 0;  // samples they re-encoded
  int64_t min_time = 0;             // oldest sample (ms); 0 when empty
  int64_t max_time = 0;             // newest sample (ms); 0 when empty
  // What the last Open spent recovering: wall time per phase, and the
  // process CPU time of each (all threads, RocksDB's included).
  double recovery_store_open_seconds = 0;   // RocksDB open (its WAL replay)
  double recovery_series_seconds = 0;       // series definitions + index
  double recovery_head_chunks_seconds = 0;  // open chunks of the checkpoint
  double recovery_wal_seconds = 0;          // WAL tail replay
  double recovery_store_open_cpu_seconds = 0;
  double recovery_series_cpu_seconds = 0;
  double recovery_head_chunks_cpu_seconds = 0;
  double recovery_wal_cpu_seconds = 0;
  int64_t recovery_head_chunks = 0;
  int64_t recovery_wal_records = 0;
  int64_t recovery_wal_samples = 0;
};

// What /api/v1/status/tsdb reports.
struct TsdbStatus {
  struct Entry {
    std::string name;
    int64_t value = 0;
    friend bool operator==(const Entry& a, const Entry& b) {
      return a.name == b.name && a.value == b.value;
    }
  };
  int64_t num_series = 0;
  int64_t num_label_pairs = 0;
  int64_t chunk_count = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  // Top-N lists, largest first (ties by name).
  std::vector<Entry> series_count_by_metric_name;
  std::vector<Entry> label_value_count_by_label_name;
  std::vector<Entry> memory_in_bytes_by_label_name;
  std::vector<Entry> series_count_by_label_value_pair;  // "name=value"
};

// Result of CheckDataDir.
struct CheckReport {
  int64_t series = 0;
  int64_t chunks = 0;
  int64_t samples = 0;
  int64_t wal_records = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  // One line per problem found ("chunks key 00..: checksum mismatch").
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

class DB : public Queryable, public Appendable {
 public:
  // Opens (creating if needed) the store at options.path and recovers the
  // head from it. Fails, naming the key or file, when stored data is
  // corrupt rather than serving wrong data.
  static absl::StatusOr<std::unique_ptr<DB>> Open(const DBOptions& options);

  ~DB() override;
  DB(const DB&) = delete;
  DB& operator=(const DB&) = delete;

  // Stops maintenance, checkpoints the head and closes the store. Further
  // calls return OK. Also done by the destructor.
  absl::Status Close();

  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint,
                                                      int64_t maxt) override;
  std::unique_ptr<Appender> NewAppender() override;

  DBStats Stats() const;
  TsdbStatus CardinalityStats(int top_n) const;

  // Deletes the samples in [mint, maxt] of series matching all matchers.
  // Whole chunks inside the range are dropped at once; the rest is
  // rewritten. Samples disappear from queries when this returns.
  absl::Status DeleteSeries(absl::Span<const Matcher> matchers, int64_t mint,
                            int64_t maxt);
  // Deletion is applied eagerly, so this only compacts the store to reclaim
  // space. Kept for API compatibility with Prometheus.
  absl::Status CleanTombstones();

  // Writes a consistent copy of the store into `dir` (which must not exist):
  // a RocksDB checkpoint after writing the open head chunks. Open the copy
  // with DB::Open like any data directory.
  absl::Status Snapshot(const std::string& dir);

  // Oldest / newest sample timestamp (ms); 0 when the DB is empty.
  int64_t MinTime() const;
  int64_t MaxTime() const;

  // Applies retention and checkpoints the WAL if due. The background thread
  // calls this; tests call it directly.
  absl::Status RunMaintenance();

  // The chunk merger, one bounded step of it (RunMaintenance calls it).
  // First it moves the sealed head chunks of closed ranges from the head
  // chunk log into the store, one chunk per series and range (merged with
  // what the store holds of the range; as they are when the merger is
  // off), and deletes log segments whose chunks all ended; a pass over the
  // series starts when the open ranges moved on or a chunk of a closed
  // range was logged late (MoveLoggedStep). Then, for chunks that reached
  // the store unmerged (imports, older versions): once a 2 h chunk range is
  // closed for a series (the DB's newest sample is chunk_merge_delay past
  // its end and none of the series' in-memory chunks is in or before it),
  // its persisted chunks in that range are rewritten as one chunk of up to
  // kMaxSamplesPerRangeChunk samples (MergeRangeChunks: bit-exact), by one
  // atomic store write per batch: readers see the old or the new chunks,
  // and so does recovery after kill -9. Works through the store in key
  // order at most chunk_merge_samples_per_round samples per call, and
  // remembers where it stopped.
  absl::Status MergeChunks();

  // Writes a sealed, already encoded chunk for a series straight into the
  // store (backfill). `chunk` must not overlap data the series already has
  // and must not span a chunk range boundary (kChunkRangeMs).
  absl::Status ImportChunk(const Labels& labels, ChunkPtr chunk);
  // Backfills many series: checks every label set and chunk, and that no
  // chunk overlaps data its series already has, before writing anything.
  // Chunks of one series must be sorted by time and not overlap.
  absl::Status ImportSeries(
      const std::vector<std::pair<Labels, std::vector<ChunkPtr>>>& series);

  // The importer's bulk path. Same checks and result as ImportSeries, but
  // the chunks are trusted to be encoder output: their headers are checked
  // (non-empty, one chunk range, sorted, no overlap), their bytes are not
  // decoded. With a store, everything (new series definitions, chunks,
  // series meta) is written by one atomic ChunkStore::IngestBulk: after a
  // crash either all of it is visible or none of it.
  absl::Status ImportSeriesBulk(
      const std::vector<std::pair<Labels, std::vector<ChunkPtr>>>& series);
  // Sorted runs a read of the chunk store merges (see
  // ChunkStore::ChunkSortedRuns); 0 for an in-memory DB. A bulk load into
  // an empty store leaves 1, so it needs no compaction.
  absl::StatusOr<int> ChunkSortedRuns() const;

  // Samples older than this (ms) are dropped by retention and rejected by
  // appenders as out of bounds.
  int64_t RetentionCutoff() const;

  const DBOptions& options() const { return options_; }

 private:
  friend class DBAppender;
  friend class DBQuerier;

  struct PendingSample {
    MemSeries* series;
    // series->ref, kept here so that ordering a batch by ref does not
    // touch (cache-miss on) every series.
    SeriesRef ref;
    int64_t t;
    double v;
  };

  explicit DB(const DBOptions& options);
  // Logs, applies and persists one appender's batch.
  // `in_ref_order`: the refs of `pending` do not decrease.
  absl::Status CommitSamples(absl::Span<const PendingSample> pending,
                             bool in_ref_order);
  absl::Status Recover();
  // A WAL sample of a known series, decoded ahead of applying it.
  struct ReplaySample {
    MemSeries* s;
    int64_t t;
    double v;
  };
  // One WAL replay thread's state.
  struct ReplayState {
    std::vector<std::pair<MemSeries*, ChunkPtr>> sealed;
    int64_t mint = std::numeric_limits<int64_t>::max();
    int64_t maxt = std::numeric_limits<int64_t>::min();
    absl::Status status;
  };
  // Decodes one WAL record once, resolving each sample's series, into
  // parts[ref & (parts.size() - 1)] (parts.size() is a power of two).
  // Counts the samples and those of unknown series.
  absl::Status DecodeWalRecord(absl::string_view rec,
                               absl::Span<std::vector<ReplaySample>> parts,
                               int64_t* samples, int64_t* unknown_refs) const;
  // Applies decoded samples of series that only this thread replays, in
  // WAL order.
  void ApplyReplayed(absl::Span<const ReplaySample> samples,
                     ReplayState* state);
  // Replays the WAL from `from` on two threads (see Recover).
  absl::Status ReplayWal(uint64_t from);
  int64_t NowMs() const;
  void NoteTimeRange(int64_t mint, int64_t maxt);
  // Makes series definitions durable before samples referencing them.
  absl::Status LogSeries(absl::Span<MemSeries* const> series);
  // Decodes the newest sample of a restored series to fill last_bits.
  absl::Status ResolveLastBits(MemSeries* s);
  // Persists sealed chunks (and any older ones of the same series still in
  // memory) to the head chunk log and drops them from memory. Locks the
  // series (in ref order) around LogSealedLocked.
  absl::Status PersistSealed(
      const std::vector<std::pair<MemSeries*, ChunkPtr>>& sealed);
  // PersistSealed's work, for a caller that holds the lock of every series
  // in `sealed` (a commit keeps the series that sealed a chunk locked from
  // the apply pass on, so their chunks are never visible anywhere but in
  // memory or in the log). One series' chunks must be next to each other
  // in `sealed` (a commit's are; PersistSealed groups them). Takes
  // log_write_mu_: series locks always come first.
  absl::Status LogSealedLocked(
      const std::vector<std::pair<MemSeries*, ChunkPtr>>& sealed)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // With flush_store (Close), also flushes RocksDB's memtables so the next
  // Open has no RocksDB WAL to replay.
  absl::Status Checkpoint(bool flush_store = false);
  absl::Status ApplyRetention();
  void MaintenanceLoop();
  // The WAL size past which a checkpoint is due: wal_checkpoint_bytes less
  // what the WAL grew by during the last checkpoint (at most half of it),
  // so that the tail a crash leaves to replay stays near
  // wal_checkpoint_bytes even when a checkpoint is long next to the write
  // rate (see docs/storage.md, "Bounding the WAL tail").
  int64_t CheckpointTrigger() const;
  // Called after a WAL append: wakes the maintenance thread once the WAL
  // passed CheckpointTrigger(), instead of leaving it to the next round.
  void NoteWalGrowth();
  // Appends copies of the logged chunks of `s` overlapping [mint, maxt],
  // oldest first. The caller holds s->mu.
  absl::Status ReadLoggedChunks(const MemSeries& s, int64_t mint, int64_t maxt,
                                std::vector<ChunkPtr>* out) const;
  // Recovery: attaches the head chunk log's records to their series.
  absl::Status RecoverChunkLog();
  // What MoveLoggedStep writes for one series: its replacement in the
  // store and the new log_floor.
  struct SeriesMove {
    MemSeries* series = nullptr;
    ChunkStore::ChunkReplacement replacement;
    int64_t new_floor = 0;
    int64_t pmin = 0, pmax = 0;  // store bounds after the move
    int64_t samples = 0;
    // Ranges merged, the chunks they replaced (logged and stored) and the
    // samples re-encoded, for DBStats' merger counters.
    int64_t merges = 0, merged_chunks = 0, merged_samples = 0;
  };
  // One step of a move pass for the ranges ending before `below` (see
  // MergeChunks), spending at most about *budget samples.
  absl::Status MoveLoggedStep(int64_t below, int64_t* budget)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  // Moves every logged chunk to the store and deletes every segment
  // written so far (before deleting samples, so none is left in the log).
  absl::Status MoveAllLoggedChunks()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  absl::Status PlanMove(MemSeries* s, int64_t below, int64_t merge_below,
                        SeriesMove* mv);
  // Moves every logged chunk of `series` to the store as it is. An import
  // newer than a series' head calls it first, so that the store's newest
  // sample of a series never passes a chunk still waiting in the log
  // (recovery relies on that to skip moved records). The caller holds
  // maintenance_mu_ (before commit_mu_, the order Checkpoint uses).
  absl::Status MoveSeriesLogged(absl::Span<MemSeries* const> series);
  absl::Status ApplyMoves(std::vector<SeriesMove>* moves);
  // Chunks of `s` overlapping [mint, maxt], memory and store, by min_time.
  absl::Status CollectChunks(MemSeries* s, int64_t mint, int64_t maxt,
                             std::vector<ChunkPtr>* out);

  DBOptions options_;
  Head head_;
  std::unique_ptr<ChunkStore> store_;  // null when in memory
  std::unique_ptr<Wal> wal_;           // null when in memory
  std::unique_ptr<ChunkLog> log_;      // null when in memory
  // One LogSealedLocked at a time appends to the log, so each series' chain
  // of records stays in time order.
  absl::Mutex log_write_mu_;

  // Commits hold this shared while writing the WAL and applying samples;
  // a checkpoint holds it exclusively only to rotate the WAL segment.
  absl::Mutex commit_mu_;
  // Serializes maintenance, deletion and snapshots.
  absl::Mutex maintenance_mu_;
  // Series removed by retention are parked here for one maintenance round
  // so appenders holding pointers to them stay safe.
  std::vector<MemSeriesPtr> graveyard_ ABSL_GUARDED_BY(maintenance_mu_);
  int64_t last_compaction_cutoff_ ABSL_GUARDED_BY(maintenance_mu_) =
      std::numeric_limits<int64_t>::min();
  // The chunk merger's progress. A pass walks the store once for the
  // ranges starting in [from, below); ranges below `from` were merged by
  // earlier passes (except imports into them: merge_rescan_).
  struct MergeState {
    bool in_pass = false;
    int64_t from = std::numeric_limits<int64_t>::min();
    int64_t below = std::numeric_limits<int64_t>::min();
    // The oldest range this pass had to leave (a chunk still in memory).
    int64_t min_blocked = std::numeric_limits<int64_t>::max();
    SeriesRef cursor_ref = 0;
    int64_t cursor_time = std::numeric_limits<int64_t>::min();
  };
  MergeState merge_ ABSL_GUARDED_BY(maintenance_mu_);
  // Set by imports, which may add chunks to ranges a pass has done.
  std::atomic<bool> merge_rescan_{false};
  std::atomic<int64_t> chunk_merges_{0};
  std::atomic<int64_t> chunks_merged_{0};
  std::atomic<int64_t> chunk_merge_samples_{0};
  // Chunk ranges below this have left the head chunk log (MoveLoggedStep).
  std::atomic<int64_t> moved_below_{std::numeric_limits<int64_t>::min()};
  // A chunk ending before moved_below_ was logged since (a series that was
  // silent for a while): the next maintenance moves it.
  std::atomic<bool> late_logged_{false};
  std::atomic<int64_t> chunks_moved_{0};
  struct MoveState {
    bool in_pass = false;
    int64_t below = std::numeric_limits<int64_t>::min();
    SeriesRef cursor = 1;        // the next series to look at
    uint64_t segment_bound = 0;  // segments below it may be deleted
  };
  MoveState move_ ABSL_GUARDED_BY(maintenance_mu_);

  // Samples older than this are invisible and rejected (out of bounds).
  std::atomic<int64_t> retention_cutoff_{std::numeric_limits<int64_t>::min()};
  std::atomic<int64_t> min_time_{std::numeric_limits<int64_t>::max()};
  std::atomic<int64_t> max_time_{std::numeric_limits<int64_t>::min()};
  std::atomic<int64_t> samples_appended_{0};
  std::atomic<int64_t> out_of_order_{0};
  std::atomic<int64_t> duplicate_{0};
  std::atomic<int64_t> out_of_bounds_{0};
  std::atomic<int64_t> invalid_labels_{0};
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> chunks_persisted_{0};
  std::atomic<int64_t> wal_checkpoints_{0};
  std::atomic<int64_t> compactions_{0};
  std::atomic<int64_t> retention_deletions_{0};
  // Filled once by Recover (before Open returns), read-only afterwards.
  // {wall, cpu} seconds per recovery phase.
  double recovery_store_open_seconds_[2] = {0, 0};
  double recovery_series_seconds_[2] = {0, 0};
  double recovery_head_chunks_seconds_[2] = {0, 0};
  double recovery_wal_seconds_[2] = {0, 0};
  int64_t recovery_head_chunks_ = 0;
  int64_t recovery_log_chunks_ = 0;
  int64_t recovery_wal_records_ = 0;
  int64_t recovery_wal_samples_ = 0;

  // WAL bytes right after the last checkpoint: those committed while it
  // ran (see CheckpointTrigger).
  std::atomic<int64_t> wal_after_checkpoint_{0};
  // Set by the commit that asked for a checkpoint, cleared when one starts.
  std::atomic<bool> checkpoint_requested_{false};

  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
  // Wakes the maintenance thread early: to stop, or for a checkpoint.
  absl::Mutex wake_mu_;
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread maintenance_thread_;
};

// CPU time of the whole process so far (all threads), in seconds.
double ProcessCpuSeconds();

// Checks labels of a new series: non-empty, a valid metric name, valid
// sorted unique names, no empty values. Errors are kInvalidLabels.
absl::Status ValidateSeriesLabels(const Labels& labels);

// Checks a data directory without opening it for writing: decodes every
// series, chunk and WAL record and reports what is wrong.
absl::StatusOr<CheckReport> CheckDataDir(const std::string& path);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_DB_H_
