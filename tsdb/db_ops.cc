// DB operations beyond append and query: recovery, WAL checkpoints,
// retention, deletion, snapshots, statistics and the offline checker.
#include <algorithm>
#include <filesystem>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tsdb/db.h"
#include "tsdb/store.h"
#include "tsdb/wal.h"

namespace vigil::tsdb {

absl::Status DB::Recover() { return absl::OkStatus(); }
absl::Status DB::Checkpoint() { return absl::OkStatus(); }
absl::Status DB::ApplyRetention() { return absl::OkStatus(); }
TsdbStatus DB::CardinalityStats(int top_n) const { return {}; }
absl::Status DB::DeleteSeries(absl::Span<const Matcher> matchers, int64_t mint,
                              int64_t maxt) {
  return absl::UnimplementedError("DeleteSeries");
}
absl::Status DB::CleanTombstones() { return absl::OkStatus(); }
absl::Status DB::Snapshot(const std::string& dir) {
  return absl::UnimplementedError("Snapshot");
}
absl::Status DB::ImportChunk(const Labels& labels, ChunkPtr chunk) {
  return absl::UnimplementedError("ImportChunk");
}
absl::StatusOr<CheckReport> CheckDataDir(const std::string& path) {
  return absl::UnimplementedError("CheckDataDir");
}

}  // namespace vigil::tsdb
