// The write interface: a batch of samples (one scrape, one remote-write
// request, one rule evaluation) appended and then committed or rolled back
// as a unit. Once Commit() returns OK the batch is durable: it survives
// kill -9.
//
//   std::unique_ptr<Appender> app = db->NewAppender();
//   absl::StatusOr<SeriesRef> ref = app->Append(0, labels, t, v);
//   // later scrapes reuse *ref and skip the label lookup:
//   app->Append(*ref, labels, t + 15000, v2);
//   absl::Status s = app->Commit();
#ifndef VIGIL_TSDB_APPENDER_H_
#define VIGIL_TSDB_APPENDER_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/labels.h"

namespace vigil::tsdb {

// An opaque, stable handle to a series in one open DB. 0 means "unknown".
using SeriesRef = uint64_t;

// Per-sample rejections, as Prometheus counts them. Append() returns these
// as statuses whose message starts with the given text; IsAppendError()
// classifies them. Other samples in the batch are unaffected.
enum class AppendError {
  kNone,
  kOutOfOrder,     // older than the newest sample of the series
  kDuplicate,      // same timestamp, different value
  kOutOfBounds,    // older than what the store still accepts
  kInvalidLabels,  // labels failed validation
  kOther,
};

AppendError ClassifyAppendError(const absl::Status& status);
absl::Status MakeAppendError(AppendError kind, absl::string_view detail);

class Appender {
 public:
  virtual ~Appender() = default;

  // Adds one sample. With ref != 0 the labels are not looked at (the caller
  // got ref from an earlier Append on the same DB); with ref == 0 the series
  // is found or created from `labels`. Returns the series' ref. An identical
  // duplicate (same t and bit-identical v) is accepted and ignored.
  virtual absl::StatusOr<SeriesRef> Append(SeriesRef ref, const Labels& labels,
                                           int64_t t, double v) = 0;

  // Makes the batch durable and visible to queriers. The appender is spent
  // afterwards.
  virtual absl::Status Commit() = 0;
  // Discards the batch. The appender is spent afterwards.
  virtual void Rollback() = 0;
};

class Appendable {
 public:
  virtual ~Appendable() = default;
  // Thread-safe; each appender is used by one thread.
  virtual std::unique_ptr<Appender> NewAppender() = 0;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_APPENDER_H_
