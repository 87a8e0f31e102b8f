// Postings lists: sorted, duplicate-free lists of series refs, one per
// (label name, label value) pair in the inverted index. Selecting series is
// set algebra over them; these helpers do it in linear time.
//
//   PostingsList a = {1, 3, 5}, b = {3, 4, 5};
//   Intersect(a, b);  // {3, 5}
#ifndef VIGIL_TSDB_POSTINGS_H_
#define VIGIL_TSDB_POSTINGS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace vigil::tsdb {

using PostingsList = std::vector<uint64_t>;

// Refs in both `a` and `b`. Uses galloping search when one side is much
// shorter, so a small list intersected with a huge one stays cheap.
PostingsList Intersect(absl::Span<const uint64_t> a,
                       absl::Span<const uint64_t> b);

// Intersects all lists, smallest first. Empty input yields an empty list.
PostingsList IntersectAll(std::vector<absl::Span<const uint64_t>> lists);

// Refs in any of `lists`.
PostingsList Union(const std::vector<absl::Span<const uint64_t>>& lists);

// Refs in `a` but not in `b`.
PostingsList Subtract(absl::Span<const uint64_t> a,
                      absl::Span<const uint64_t> b);

// Inserts `ref` keeping the list sorted and unique. O(1) when `ref` is the
// largest so far, which is the common case because refs grow monotonically.
void InsertPosting(PostingsList* list, uint64_t ref);
// Removes `ref` if present.
void ErasePosting(PostingsList* list, uint64_t ref);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_POSTINGS_H_
