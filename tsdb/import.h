// Backfill: loads exposition text with timestamps (OpenMetrics, as
// `promtool tsdb create-blocks-from openmetrics` takes, or Prometheus text)
// into a DB as whole chunks, so data far older than anything stored is
// accepted. All-or-nothing: the whole input is parsed and checked before
// anything is written, and the write is one atomic bulk load
// (DB::ImportSeriesBulk): after a crash, all of it or none is there.
//
// Each series' samples are encoded into chunks as the input streams by
// when they come in time order (with each series' lines together or
// interleaved), so memory holds compressed chunks, not raw samples; a
// series whose samples go back in time is collected and sorted instead.
//
//   absl::StatusOr<ImportStats> st = ImportOpenMetrics(db, text);
#ifndef VIGIL_TSDB_IMPORT_H_
#define VIGIL_TSDB_IMPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/db.h"
#include "tsdb/textparse/parser.h"

namespace vigil::tsdb {

struct ImportStats {
  int64_t series = 0;
  int64_t samples = 0;
  int64_t chunks = 0;
  // Samples older than the DB's retention cutoff, skipped.
  int64_t out_of_bounds = 0;
  // Repeated (series, timestamp, bit-identical value) lines, skipped.
  int64_t duplicates = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

// Fails with InvalidArgument ("line N: ...") on a parse error, a sample
// without a timestamp, or two different values for one series and
// timestamp; with OutOfRange (kOutOfOrder) when imported samples overlap
// data a series already has. Nothing is written on failure.
absl::StatusOr<ImportStats> ImportOpenMetrics(DB* db, absl::string_view text);

// The same for an explicit exposition format.
absl::StatusOr<ImportStats> ImportText(DB* db, absl::string_view text,
                                       textparse::Format format);

// ImportOpenMetrics on the contents of the file at `path`, mapped rather
// than read into memory; pages already parsed are dropped from the mapping
// as it goes. NotFound when the file cannot be opened.
absl::StatusOr<ImportStats> ImportOpenMetricsFile(DB* db,
                                                  const std::string& path);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_IMPORT_H_
