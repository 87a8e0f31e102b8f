// The chunk merger: rewrites a series' persisted chunks of one closed 2 h
// chunk range as one chunk (up to kMaxSamplesPerRangeChunk samples) in the
// range encoding (tsdb/chunkenc/range_chunk.h).
//
// The head cuts chunks of ~120 samples so its memory per series stays
// small; a 24 h range query over such data steps over 48 chunks per series
// at a 15 s scrape, each costing a store key, a checksum, a chunk header
// and a decoder start with cold adaptive statistics. Merged, it is 12.
// DB::MergeChunks (tsdb/db.h) finds the ranges to merge and writes the
// result; the functions here are the pure part.
//
//   absl::StatusOr<std::vector<ChunkPtr>> merged = MergeRangeChunks(chunks);
#ifndef VIGIL_TSDB_CHUNK_MERGER_H_
#define VIGIL_TSDB_CHUNK_MERGER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tsdb/head.h"

namespace vigil::tsdb {

// Merges one series' chunks of one chunk range, given in store key order
// (by min_time), into as few chunks as kMaxSamplesPerRangeChunk allows.
// Samples are decoded in that order and a sample not newer than the one
// before it is dropped, exactly as a querier reading the same chunks drops
// it (an overlapping copy of a chunk), so the result reads back the same,
// bit for bit (NaN payloads and stale markers included). Fails with
// InvalidArgument when the chunks span more than one range, and with the
// decoder's error on a corrupt chunk.
absl::StatusOr<std::vector<ChunkPtr>> MergeRangeChunks(
    absl::Span<const ChunkPtr> chunks);

// With the newest sample at `newest`, chunk ranges starting at or after
// the returned time are still open: samples may come for them, and
// instant queries at "now" read them. The merger leaves them as the head
// cut them, and `vigil import` cuts them like the head does, so imported
// data has the layout scraped data has once merged. A range is closed once
// `newest` is `delay` past its end.
int64_t OpenRangesStart(int64_t newest, absl::Duration delay);

// True when merging `chunks` (of one range) would change nothing: they are
// all in the range encoding (ChunkEncoding::kRange, which merged chunks
// are written in) and there is one chunk, or already one per
// kMaxSamplesPerRangeChunk samples. A lone chunk in another encoding (the
// head's, or older) is rewritten too, for its faster decoding. Decided
// from the headers alone.
bool RangeChunksMerged(absl::Span<const ChunkPtr> chunks);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_CHUNK_MERGER_H_
