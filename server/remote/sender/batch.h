// The unit the remote-write sender queues: one committed append batch (a
// scrape, a rule evaluation, a remote-write request) with its series' labels
// and samples, encoded once at Commit and shared by every remote-write queue.
//
//   BatchEncoder enc;
//   enc.Add(ref, labels, t, v);          // per appended sample
//   std::string record = enc.Finish();   // at Commit
//   absl::StatusOr<DecodedBatch> b = DecodeBatch(record);
//
// Record layout (varints are LEB128, fixed-width fields little endian):
//
//   record := version(1 byte, = 1) nseries(varint) series{nseries}
//             nsamples(varint) sample{nsamples}
//   series := nlabels(varint) { namelen(varint) name vallen(varint) value }
//   sample := series_index(varint) t(int64, 8 bytes) v(float64 bits, 8 bytes)
//
// Labels are written once per series per batch, so a scrape of N series
// costs one label copy per series, never one per sample. Staleness markers
// are ordinary samples with the stale NaN bit pattern, kept bit-exact.
#ifndef VIGIL_SERVER_REMOTE_SENDER_BATCH_H_
#define VIGIL_SERVER_REMOTE_SENDER_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"

namespace vigil::server::remote::sender {

// Not thread-safe: one encoder per appender.
class BatchEncoder {
 public:
  // Adds a sample of the series `ref` (as returned by the storage; two Add
  // calls with the same ref must carry the same labels).
  void Add(tsdb::SeriesRef ref, const tsdb::Labels& labels, int64_t t,
           double v);
  bool empty() const { return num_samples_ == 0; }
  int64_t num_samples() const { return num_samples_; }
  // Highest sample timestamp added (ms); INT64_MIN when empty.
  int64_t max_timestamp() const { return max_t_; }
  // Returns the record and resets the encoder.
  std::string Finish();

 private:
  absl::flat_hash_map<tsdb::SeriesRef, uint32_t> index_;
  std::string series_;
  std::string samples_;
  uint32_t num_series_ = 0;
  int64_t num_samples_ = 0;
  int64_t max_t_ = INT64_MIN;
};

struct BatchSample {
  uint32_t series;  // index into DecodedBatch::series
  int64_t t;
  double v;
};

struct DecodedBatch {
  std::vector<tsdb::Labels> series;
  std::vector<BatchSample> samples;
};

// DataLoss naming the offset when `record` is malformed.
absl::StatusOr<DecodedBatch> DecodeBatch(absl::string_view record);

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_BATCH_H_
