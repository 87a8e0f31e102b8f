// Chunk codec: compresses one series' samples (int64 ms timestamp, float64
// value) into a self-describing byte string, and decodes it back bit-exactly
// (every NaN payload, ±Inf, -0.0 and the staleness marker round-trip).
// The format is documented in docs/format/chunk_encoding.md.
//
//   ChunkEncoder enc;
//   enc.Append(1000, 1.0);
//   enc.Append(16000, 2.0);
//   absl::string_view bytes = enc.Bytes();   // valid until the next Append
//   ChunkDecoder dec(bytes);
//   while (dec.Next()) use(dec.At());
//   if (!dec.status().ok()) ...             // corruption is reported
//
// Thread-safety: an encoder is owned by one writer; decoders over a copy of
// the bytes are independent. Samples must be appended in strictly
// increasing timestamp order (the head enforces this).
#ifndef VIGIL_TSDB_CHUNKENC_CHUNK_H_
#define VIGIL_TSDB_CHUNKENC_CHUNK_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tsdb/sample.h"

namespace vigil::tsdb::chunkenc {

class ChunkEncoder {
 public:
  ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;
  ChunkEncoder(ChunkEncoder&&) = default;
  ChunkEncoder& operator=(ChunkEncoder&&) = default;

  // Appends a sample; t must be greater than the last appended t.
  void Append(int64_t t, double v);

  int num_samples() const { return num_samples_; }
  int64_t min_time() const { return min_time_; }
  // The last appended t (prev_t_ holds it; 0 before the first sample).
  int64_t max_time() const { return static_cast<int64_t>(prev_t_); }
  // Current encoded size in bytes (what Bytes() would return).
  size_t size_bytes() const;

  // The encoded chunk so far, decodable with ChunkDecoder. The view is
  // invalidated by the next Append.
  absl::string_view Bytes() const;
  // Starts loading the memory the next Append writes to (the last byte of
  // the encoding). For a caller appending to many encoders in turn, where
  // that byte is rarely cached: call it a few encoders ahead. (Prefetching
  // the colder state too, only for encoders without open runs, made the
  // prefetch depend on a load of the run state and cost more than it
  // saved: BM_AppendScrape in memory +15 %.)
  void PrefetchTail() const {
    __builtin_prefetch(buf_.data() + buf_.size() - (buf_.size() > 0), 1);
  }
  // The first byte past the state that every Append reads (see the field
  // order below): a caller prefetching an encoder ahead of appending to it
  // loads [this, HotStateEnd()).
  const char* HotStateEnd() const {
    return reinterpret_cast<const char*>(&t_stats_);
  }

 private:
  // Implementation state is private to chunk.cc; see
  // docs/format/chunk_encoding.md for what each field drives.
  void WriteBits(uint64_t bits, int n);
  void WriteWord(uint64_t bits, int n);
  void WriteWide(uint64_t x);
  struct CodeStats;
  void WriteCoded(uint64_t u, CodeStats* stats);
  void WriteEscape(int kind, const CodeStats& stats);
  void WriteHeader();
  size_t BitSize() const;
  // Sets the open run count field at bit `pos` (`bits` wide) to `len`.
  void ExtendRun(uint32_t pos, uint16_t len, int bits);
  void StartOrExtendRun(bool zero, bool* flag_next, uint16_t* run_len,
                        uint8_t* run_bits, uint32_t* run_pos, bool resume,
                        bool* in_run);
  void AppendTimestamp(int64_t t);
  bool ValueIsZero(double v, bool decimal, uint64_t m);
  bool AppendValue(double v, bool decimal, uint64_t probe_m);
  bool AppendDecimal(uint64_t m);
  bool AppendFloat(double v);
  void EnterDecimal(int scale, uint64_t m);
  void EnterFloat(uint64_t bits);

  // The encoded bytes: up to 8 inline, then one block grown by about 1.25x
  // in SizeClassArena's classes (huge pages: a commit writes to the last
  // byte of every series' buffer). Bytes past size() are always zero. Every
  // series has an open chunk, so this is 16 bytes instead of std::string's
  // 32, with less slack than its doubling.
  class Buffer {
   public:
    Buffer() { std::memset(inline_, 0, kInline); }
    Buffer(Buffer&& o) noexcept;
    Buffer& operator=(Buffer&& o) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { Release(); }
    char* data() { return cap_ > kInline ? heap_ : inline_; }
    const char* data() const { return cap_ > kInline ? heap_ : inline_; }
    size_t size() const { return size_; }
    char& operator[](size_t i) { return data()[i]; }
    char& back() { return data()[size_ - 1]; }
    void append(const char* p, size_t n) {
      if (size_ + n > cap_) Grow(size_ + n);
      std::memcpy(data() + size_, p, n);
      size_ += static_cast<uint32_t>(n);
    }
    // Appends n zero bytes.
    void AppendZeros(size_t n);
    // Makes [pos, pos + 8) writable memory (zero past size()), growing if
    // needed; returns data() + pos. pos <= size().
    char* ReserveWord(size_t pos) {
      if (pos + 8 > cap_) Grow(pos + 8);
      return data() + pos;
    }
    // Sets the size after bytes were written past it through ReserveWord.
    void set_size(size_t n) { size_ = static_cast<uint32_t>(n); }
    // Inserts n zero bytes at the front.
    void InsertZerosAtFront(size_t n);

   private:
    static constexpr uint32_t kInline = 8;
    void Grow(size_t need);
    // Frees the heap block, if any (the buffer is then left invalid).
    void Release();
    uint32_t size_ = 0;
    uint32_t cap_ = kInline;
    union {
      char inline_[kInline];
      char* heap_;
    };
  };

  // The state an on-time, predicted sample reads and writes (Append's
  // fast path) comes first, in the object's first 112 bytes; the residual
  // code statistics and the encoder-only probing state follow, so that a
  // caller appending to many encoders need only have the first lines in
  // cache for the usual scraped sample (see HotStateEnd). Within
  // each part, fields by size, largest first, so the state packs without
  // padding.
  Buffer buf_;
  int64_t min_time_ = 0;
  // Timestamps: grid predictor. prev_t_ is also max_time().
  uint64_t prev_t_ = 0;
  uint64_t grid_t_ = 0;    // where the last sample should have been
  uint64_t interval_ = 0;  // expected distance between samples
  uint64_t prev_err_ = 0;  // last sample's distance from the grid
  // Values.
  uint64_t prev_bits_ = 0;  // float mode: previous value's bits
  uint64_t prev_int_ = 0;   // decimal mode: previous mantissa >> shift_
  uint64_t avg_delta_ = 0;  // decimal mode: smoothed delta, 4 fraction bits
  int num_samples_ = 0;
  int32_t predictor_score_ = 0;  // < 0: previous + average delta wins
  // Runs of zero timestamp / value residuals (see StartOrExtendRun): bit
  // position of the open run's count field.
  uint32_t t_run_pos_ = 0;
  uint32_t v_run_pos_ = 0;
  uint16_t t_run_len_ = 0;  // length of the open run, 0 if none
  uint16_t v_run_len_ = 0;
  uint8_t t_run_bits_ = 8;  // width of the open (or next) run's count
  uint8_t v_run_bits_ = 8;
  uint8_t mode_ = 0;
  int8_t scale_ = 0;
  uint8_t shift_ = 0;  // decimal mantissas are multiples of 2^shift_
  bool last_was_exception_ = false;
  bool t_flag_next_ = false;  // the next timestamp code has a run flag
  bool v_flag_next_ = false;
  uint8_t bit_pos_ = 0;  // bits used in buf_.back(); 0 = full
  uint8_t header_len_ = 2;
  uint8_t leading_ = 0xff;
  uint8_t trailing_ = 0;
  // Cold: only samples that write a residual code use what follows.
  // Adaptive code statistics: the uint64_t[4] that chunk.cc's UpdateStats
  // (and the decoder) work on, stored in the ranges they can take (width
  // averages 0..64 << 4, score -64..64, age 0..2): 6 bytes instead of 32,
  // since every series keeps an encoder.
  struct CodeStats {
    uint16_t width_avg[2] = {0, 0};
    int8_t score = 0;
    uint8_t age = 0;
    void Load(uint64_t* s) const {
      s[0] = width_avg[0];
      s[1] = width_avg[1];
      s[2] = static_cast<uint64_t>(int64_t{score});
      s[3] = age;
    }
    void Store(const uint64_t* s) {
      width_avg[0] = static_cast<uint16_t>(s[0]);
      width_avg[1] = static_cast<uint16_t>(s[1]);
      score = static_cast<int8_t>(static_cast<int64_t>(s[2]));
      age = static_cast<uint8_t>(s[3]);
    }
  };
  CodeStats t_stats_;
  CodeStats v_stats_;
  uint16_t decimal_backoff_ = 0;  // float mode: samples until next probe
  uint16_t decimal_backoff_len_ = 1;
  uint8_t tz_run_min_ = 64;  // encoder-only: shift_ probing
  uint8_t tz_run_count_ = 0;
};

class ChunkDecoder {
 public:
  // `bytes` must outlive the decoder.
  explicit ChunkDecoder(absl::string_view bytes);

  // Moves to the next sample; false at the end or on corruption.
  bool Next();
  // Moves to the first sample with timestamp >= t; false if none.
  bool Seek(int64_t t);
  Sample At() const { return {t_, v_}; }
  // Number of samples the header declares.
  int num_samples() const { return num_samples_; }
  // Non-OK (DataLoss) when the bytes are truncated or malformed.
  absl::Status status() const;

  // Appends all remaining samples with t in [mint, maxt] to `out`.
  absl::Status DecodeRange(int64_t mint, int64_t maxt,
                           std::vector<Sample>* out);

 private:
  bool DecodeNext();
  // DecodeRange's loop for samples 2.. with the state in locals, reading
  // from `base` (stream byte bias / 8 at base[0]); see chunk.cc.
  template <bool kTail>
  bool DecodeRangeFast(const unsigned char* base, size_t bias, size_t limit,
                       int64_t mint, int64_t maxt, std::vector<Sample>* out,
                       Sample* batch, int* batch_len);
  uint64_t Peek() const { return PeekAt(bit_offset_); }
  uint64_t PeekAt(size_t bit_offset) const;
  uint64_t ReadBits(int n);
  uint64_t ReadWide();
  uint64_t ReadCoded(uint64_t* stats, int* escape);
  bool ReadValue(bool* zero);
  // Out-of-line copies for DecodeRangeFast's rare paths, so that inlining
  // them does not crowd its registers.
  bool ReadValueCold(bool* zero);
  uint64_t ReadCodedCold(uint64_t* stats, int* escape);
  void ZeroValue();
  bool ReadRun(bool* flag_next, uint16_t* run_left, bool* run_full,
               uint8_t* run_bits, bool* after_short);
  bool Fail(const char* what);

  absl::string_view bytes_;
  // Failure details; the status is built on demand so that the decoder is
  // trivially copyable and DecodeRange can run on a copy held in registers.
  const char* fail_what_ = nullptr;
  int fail_sample_ = 0;
  size_t fail_bit_ = 0;
  int num_samples_ = 0;
  int read_ = 0;
  int64_t t_ = 0;
  double v_ = 0;
  const unsigned char* data_ = nullptr;
  size_t size_bits_ = 0;
  size_t bit_offset_ = 0;
  // The last kTailKeep bytes, zero-padded, so reads near the end need no
  // bounds checks per field: DecodeRange's loop reads the chunk in place
  // while a sample starts at least kFastMargin bytes before its end (a
  // sample's fast path peeks at most 22 bytes ahead) and from here after.
  static constexpr size_t kTailKeep = 64;
  static constexpr size_t kFastMargin = 48;
  size_t tail_start_ = 0;
  unsigned char tail_[2 * kTailKeep] = {};
  // Decoder state mirrors the encoder's.
  uint64_t grid_t_ = 0;
  uint64_t interval_ = 0;
  uint64_t prev_err_ = 0;
  uint64_t t_stats_[4] = {0, 0, 0, 0};
  uint64_t prev_bits_ = 0;
  uint64_t prev_int_ = 0;
  uint64_t avg_delta_ = 0;
  uint64_t v_stats_[4] = {0, 0, 0, 0};
  int32_t predictor_score_ = 0;
  uint8_t leading_ = 0xff;
  uint8_t trailing_ = 0;
  uint8_t mode_ = 0;
  int8_t scale_ = 0;
  uint8_t shift_ = 0;
  bool t_flag_next_ = false;
  bool v_flag_next_ = false;
  bool t_run_full_ = false;
  bool v_run_full_ = false;
  uint16_t t_run_left_ = 0;
  uint16_t v_run_left_ = 0;
  uint8_t t_run_bits_ = 8;
  uint8_t v_run_bits_ = 8;
  bool t_after_short_ = false;  // the next code ends a short run
  bool v_after_short_ = false;
  bool done_ = false;
};

}  // namespace vigil::tsdb::chunkenc

#endif  // VIGIL_TSDB_CHUNKENC_CHUNK_H_
