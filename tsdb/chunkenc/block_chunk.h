// Block chunk codec ("block" encoding, version 2 of the chunk codec): the
// same contract as chunk.h's ChunkEncoder/ChunkDecoder (bit-exact round trip
// of every float64 and every strictly increasing int64 timestamp sequence,
// every prefix decodable, corrupt input ends in DataLoss) but built for
// decoding speed: samples are coded in blocks of kBlockSize whose code
// parameters (bit width, sparse/dense layout, decimal scale) are chosen by
// the encoder and sent explicitly, so the decoder runs a tight loop of
// fixed-width bit extractions with no per-sample adaptive statistics.
// The bytes are described in docs/format/chunk_encoding.md ("Block
// encoding").
//
//   BlockChunkEncoder enc;
//   enc.Append(1000, 1.0);
//   absl::string_view bytes = enc.Bytes();   // valid until the next Append
//   BlockChunkDecoder dec(bytes);
//   while (dec.Next()) use(dec.At());
//   if (!dec.status().ok()) ...
//
// Thread-safety: as chunk.h.
#ifndef VIGIL_TSDB_CHUNKENC_BLOCK_CHUNK_H_
#define VIGIL_TSDB_CHUNKENC_BLOCK_CHUNK_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tsdb/sample.h"

namespace vigil::tsdb::chunkenc {

inline constexpr int kBlockSize = 16;

// Value parameters of one block (see the format description).
struct BlockValueParams {
  uint8_t kind = 0xff;   // 0 decimal, 1 float; 0xff: no previous block
  uint8_t scale = 0;     // decimal
  uint8_t shift = 0;     // decimal: residuals are multiples of 2^shift
  uint8_t use_mean = 0;  // decimal: deltas are relative to the mean
  uint8_t trailing = 0;  // float: XORs are multiples of 2^trailing
  bool operator==(const BlockValueParams& o) const {
    return kind == o.kind && scale == o.scale && shift == o.shift &&
           use_mean == o.use_mean && trailing == o.trailing;
  }
};

class BlockChunkEncoder {
 public:
  BlockChunkEncoder();
  BlockChunkEncoder(const BlockChunkEncoder&) = delete;
  BlockChunkEncoder& operator=(const BlockChunkEncoder&) = delete;
  BlockChunkEncoder(BlockChunkEncoder&&) = default;
  BlockChunkEncoder& operator=(BlockChunkEncoder&&) = default;

  // Appends a sample; t must be greater than the last appended t.
  void Append(int64_t t, double v);

  int num_samples() const { return num_samples_; }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }
  size_t size_bytes() const { return out_.size(); }
  // The encoded chunk so far; invalidated by the next Append.
  absl::string_view Bytes() const { return out_; }

 private:
  void SetCount();
  void EncodeOpenBlock();
  void TrackScale(double v);

  std::string out_;         // header + sealed bits + the open block's bits
  size_t sealed_bits_ = 0;  // bits of the bit stream (after the header)
  int header_len_ = 2;
  int num_samples_ = 0;
  int64_t min_time_ = 0;
  int64_t max_time_ = 0;
  // Timestamp grid (shared rule with the decoder).
  uint64_t grid_ = 0;
  uint64_t interval_ = 0;
  uint64_t prev_t_ = 0;
  uint64_t prev_err_ = 0;
  // Value state at the start of the open block.
  uint64_t block_prev_bits_ = 0;   // the value before the open block
  int block_prev_min_scale_ = -1;  // its smallest decimal scale, -1 if none
  BlockValueParams prev_params_;   // the last sealed block's parameters
  int64_t prev_mean_ = 0;          // the last sealed block's mean delta
  // The open block.
  int open_n_ = 0;
  uint64_t t_res_[kBlockSize];
  uint64_t v_bits_[kBlockSize];
  uint64_t open_m_[kBlockSize];  // decimal mantissas at open_scale_
  uint64_t open_m_prev_ = 0;     // the previous value's mantissa
  int open_scale_ = -2;          // -2: not chosen yet, -1: not decimal
  int t_last_width_ = 0;         // widths of the streams' last blocks
  int v_last_width_ = 0;
  int open_t_width_ = 0;
  int open_v_width_ = 0;
  BlockValueParams open_params_;
  int64_t open_mean_ = 0;
  size_t open_end_bits_ = 0;  // where the open block's bits end
};

class BlockChunkDecoder {
 public:
  // `bytes` must outlive the decoder.
  explicit BlockChunkDecoder(absl::string_view bytes);

  bool Next();
  bool Seek(int64_t t);
  Sample At() const { return s_[idx_]; }
  int num_samples() const { return num_samples_; }
  absl::Status status() const { return status_; }
  absl::Status DecodeRange(int64_t mint, int64_t maxt,
                           std::vector<Sample>* out);

 private:
  bool DecodeBlock();
  bool Fail(const char* what);
  // Reads n <= 64 bits; past the end reads zeros.
  uint64_t Read(int n) {
    const size_t byte = pos_ >> 3;
    if (n <= 56 && byte + 8 <= size_) {
      uint64_t w;
      std::memcpy(&w, data_ + byte, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      w = __builtin_bswap64(w);
#endif
      const int off = static_cast<int>(pos_ & 7);
      pos_ += static_cast<size_t>(n);
      return (w >> off) & ((uint64_t{1} << n) - 1);
    }
    return ReadSlow(n);
  }
  uint64_t ReadSlow(int n);
  uint64_t ReadWide();
  bool ReadResiduals(int n, uint64_t* r, int* last_width, bool* all_zero);

  const unsigned char* data_ = nullptr;
  size_t size_ = 0;  // bytes of the bit stream
  size_t pos_ = 0;   // bit position in the bit stream
  absl::Status status_;
  int num_samples_ = 0;
  int decoded_ = 0;  // samples decoded into t_/v_ so far (all blocks)
  int n_ = 0;        // samples in t_/v_
  int idx_ = -1;     // current sample in t_/v_
  bool failed_ = false;
  uint64_t grid_ = 0;
  uint64_t interval_ = 0;
  uint64_t prev_err_ = 0;
  uint64_t prev_t_ = 0;
  uint64_t prev_bits_ = 0;
  BlockValueParams prev_params_;
  int64_t prev_mean_ = 0;
  int t_last_width_ = 0;
  int v_last_width_ = 0;
  Sample s_[kBlockSize];
};

}  // namespace vigil::tsdb::chunkenc

#endif  // VIGIL_TSDB_CHUNKENC_BLOCK_CHUNK_H_
