// The narrow read interface between storage and everything above it. The
// PromQL engine, the HTTP API and the rule engine read series only through
// Queryable/Querier, so they can run against the real DB or an in-memory
// store in tests.
//
//   std::unique_ptr<Querier> q = *db->NewQuerier(mint, maxt);
//   auto series = q->Select(hints, {*Matcher::Create(kEqual, "job", "api")});
//   for (auto& s : *series) {
//     std::vector<Sample> buf;
//     s.iterator->ReadAll(&buf);  // one decode per series per query
//   }
#ifndef VIGIL_TSDB_QUERIER_H_
#define VIGIL_TSDB_QUERIER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "tsdb/sample.h"

namespace vigil::tsdb {

// Walks one series' samples in increasing time order, restricted to the
// querier's [mint, maxt]. Not thread-safe; one reader at a time. Iterators of
// different series (from one or several Selects) may be used concurrently
// from different threads, as long as the querier outlives them: the engine
// decodes series in parallel.
class SeriesIterator {
 public:
  virtual ~SeriesIterator() = default;

  // Moves to the next sample; false at the end or on error (see status()).
  virtual bool Next() = 0;
  // Moves to the first sample with timestamp >= t (never backwards); false
  // when there is none.
  virtual bool Seek(int64_t t) = 0;
  // The current sample; valid after Next() or Seek() returned true.
  virtual Sample At() const = 0;
  // Non-OK when decoding failed (corruption); iteration stops.
  virtual absl::Status status() const { return absl::OkStatus(); }

  // Appends every remaining sample to `out`. Implementations override this
  // to decode whole chunks without a virtual call per sample.
  virtual absl::Status ReadAll(std::vector<Sample>* out) {
    while (Next()) out->push_back(At());
    return status();
  }

  // ReadAll that calls batch_done(begin) each time it has appended a batch
  // of samples (a chunk) at (*out)[begin, out->size()), while they are
  // still in the CPU caches: a caller that looks at every sample anyway
  // (the evaluator's stale-marker and counter-reset scan) does it batch by
  // batch instead of re-reading the whole series from memory afterwards.
  // Batches are consecutive and cover everything appended.
  virtual absl::Status ReadAllBatched(
      std::vector<Sample>* out, absl::FunctionRef<void(size_t)> batch_done) {
    const size_t begin = out->size();
    absl::Status st = ReadAll(out);
    if (out->size() > begin) batch_done(begin);
    return st;
  }
};

struct Series {
  Labels labels;
  std::unique_ptr<SeriesIterator> iterator;
};

// What the caller will do with the data, so storage can skip work.
struct SelectHints {
  int64_t start = 0;  // ms, inclusive
  int64_t end = 0;    // ms, inclusive
  int64_t step = 0;   // ms; 0 for instant queries
  int64_t range = 0;  // ms of the range selector, 0 for instant selectors
  std::string func;   // enclosing function name, if any
};

class Querier {
 public:
  virtual ~Querier() = default;

  // Series matching every matcher that may have samples in
  // [hints.start, hints.end], sorted by labels. At least one matcher must
  // not match the empty string (the caller enforces this, as PromQL does).
  virtual absl::StatusOr<std::vector<Series>> Select(
      const SelectHints& hints, absl::Span<const Matcher> matchers) = 0;

  // Sorted, unique label names of series matching `matchers` (all series
  // when empty) within the querier's time range.
  virtual absl::StatusOr<std::vector<std::string>> LabelNames(
      absl::Span<const Matcher> matchers) = 0;

  // Sorted, unique values of label `name`, restricted like LabelNames.
  virtual absl::StatusOr<std::vector<std::string>> LabelValues(
      absl::string_view name, absl::Span<const Matcher> matchers) = 0;
};

// Something that can open queriers over a time range. Thread-safe.
class Queryable {
 public:
  virtual ~Queryable() = default;
  virtual absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint,
                                                              int64_t maxt) = 0;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_QUERIER_H_
