// Range chunk codec ("range" encoding, version 3 of the chunk codec): for
// chunks written whole, once their 2 h chunk range is closed (`vigil
// import`, the chunk merger). The encoder sees a block of samples before
// writing it, so it chooses each block's code parameters (decimal scale,
// base delta, Rice parameter or a sparse list) and sends them; the decoder
// runs short loops of Rice decodes with no per-sample statistics. Same
// guarantees as chunk.h: bit-exact round trip of every float64 (NaN
// payloads, ±Inf, -0.0, the staleness marker, denormals) and every strictly
// increasing int64 timestamp sequence; corrupt or truncated input never
// reads out of bounds and ends in DataLoss. Unlike chunk.h, a chunk is not
// decodable before Finish(): the head keeps the adaptive encoding for the
// chunks it is still writing. Bytes: docs/format/chunk_encoding.md
// ("Range encoding").
//
//   std::string bytes = EncodeRangeChunk(samples);
//   std::vector<Sample> out;
//   absl::Status s = RangeChunkDecoder(bytes).DecodeRange(mint, maxt, &out);
//
// Thread-safety: an encoder is owned by one writer; decoders are
// independent.
#ifndef VIGIL_TSDB_CHUNKENC_RANGE_CHUNK_H_
#define VIGIL_TSDB_CHUNKENC_RANGE_CHUNK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tsdb/sample.h"

namespace vigil::tsdb::chunkenc {

// Samples per block (after the first sample, which is coded on its own).
inline constexpr int kRangeBlockSize = 32;

// Streaming encoder: Append buffers at most one block of samples and codes
// each block when it is full, so holding an encoder per series costs about
// kRangeBlockSize samples plus the bytes coded so far.
class RangeChunkEncoder {
 public:
  RangeChunkEncoder() = default;
  RangeChunkEncoder(const RangeChunkEncoder&) = delete;
  RangeChunkEncoder& operator=(const RangeChunkEncoder&) = delete;
  RangeChunkEncoder(RangeChunkEncoder&&) = default;
  RangeChunkEncoder& operator=(RangeChunkEncoder&&) = default;

  // Appends a sample; t must be greater than the last appended t.
  void Append(int64_t t, double v);

  int num_samples() const { return num_samples_; }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }

  // Returns the chunk (header and all samples appended so far) and resets
  // the encoder to empty.
  std::string Finish();

  // Where Finish() left off: the value parameters a block carries over.
  struct ValueParams {
    uint64_t base = 0;     // decimal: deltas are coded relative to this
    uint8_t kind = 0;      // 0 decimal, 1 float (bit XOR)
    uint8_t scale = 0;     // decimal: values are m / 10^scale
    uint8_t shift = 0;     // decimal: (delta - base) is a multiple of 2^shift
    uint8_t trailing = 0;  // float: XORs are multiples of 2^trailing
  };

 private:
  // Appends the low n bits of x (x < 2^n, n <= 64).
  void Put(uint64_t x, int n) {
    if (n == 0) return;
    acc_ |= x << fill_;
    const int total = fill_ + n;
    if (total >= 64) {
      char b[8];
      for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(acc_ >> (8 * i));
      out_.append(b, 8);
      acc_ = fill_ == 0 ? 0 : x >> (64 - fill_);
      fill_ = total - 64;
    } else {
      fill_ = total;
    }
  }
  void PutWide(uint64_t x);
  void PutGroup(const uint64_t* u, int n, int* prev_k);
  void EncodeFirst(int64_t t, double v);
  void EncodeBlock();

  std::string out_;   // the bit stream, whole 64-bit words
  uint64_t acc_ = 0;  // bits not yet in out_, LSB first
  int fill_ = 0;      // valid bits in acc_ (< 64)
  int num_samples_ = 0;
  int pending_ = 0;  // samples in block_
  int t_k_ = -1;     // Rice parameter of each stream's last dense group
  int v_k_ = -1;
  int64_t min_time_ = 0;
  int64_t max_time_ = 0;
  // Timestamp grid (docs/format/chunk_encoding.md).
  uint64_t grid_ = 0;
  uint64_t interval_ = 0;
  uint64_t prev_t_ = 0;
  uint64_t prev_err_ = 0;
  // Values: the parameters of the last block, the last value's mantissa
  // (decimal) and bits.
  ValueParams params_;
  uint64_t m_ = 0;
  uint64_t d_ = 0;  // the last delta of m_ (decimal)
  uint64_t bits_ = 0;
  uint8_t pred_ = 0;  // decimal: 0 base delta, 1 previous delta
  Sample block_[kRangeBlockSize];
};

// Encodes `samples` (strictly increasing timestamps) as one range chunk.
std::string EncodeRangeChunk(absl::Span<const Sample> samples);

class RangeChunkDecoder {
 public:
  // `bytes` must outlive the decoder.
  explicit RangeChunkDecoder(absl::string_view bytes) : bytes_(bytes) {}

  // Appends the samples with t in [mint, maxt] to `out`, in time order. On
  // corruption returns DataLoss; samples of the blocks before the damage
  // may have been appended.
  absl::Status DecodeRange(int64_t mint, int64_t maxt,
                           std::vector<Sample>* out) const;

 private:
  absl::string_view bytes_;
};

}  // namespace vigil::tsdb::chunkenc

#endif  // VIGIL_TSDB_CHUNKENC_RANGE_CHUNK_H_
