// An interim, uncompressed chunk format used until the Gorilla-style codec in
// tsdb/chunkenc/ is available, and kept afterwards so chunks written with it
// stay readable. Same shape as chunkenc::ChunkEncoder/ChunkDecoder.
//
// Format: a sequence of (zig-zag varint of t - previous t, 8 bytes of the
// value's IEEE-754 bits, little-endian). The first delta is from 0.
#ifndef VIGIL_TSDB_RAW_CHUNK_H_
#define VIGIL_TSDB_RAW_CHUNK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tsdb/sample.h"

namespace vigil::tsdb {

class RawChunkEncoder {
 public:
  void Append(int64_t t, double v);
  int num_samples() const { return num_samples_; }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }
  size_t size_bytes() const { return buf_.size(); }
  absl::string_view Bytes() const { return buf_; }

 private:
  std::string buf_;
  int num_samples_ = 0;
  int64_t min_time_ = 0;
  int64_t max_time_ = 0;
};

class RawChunkDecoder {
 public:
  explicit RawChunkDecoder(absl::string_view bytes) : bytes_(bytes) {}
  bool Next();
  bool Seek(int64_t t);
  Sample At() const { return {t_, v_}; }
  absl::Status status() const { return status_; }
  absl::Status DecodeRange(int64_t mint, int64_t maxt,
                           std::vector<Sample>* out);

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
  absl::Status status_;
  int64_t t_ = 0;
  double v_ = 0;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_RAW_CHUNK_H_
