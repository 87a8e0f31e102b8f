// Chunk codec implementation. The byte/bit layout is specified in
// docs/format/chunk_encoding.md; the comments here say why the code is shaped
// the way it is.
//
// Summary: a 2- or 4-byte big-endian sample count, then a MSB-first bit
// stream. Timestamps are predicted on a grid (last on-time sample plus the
// interval, so one late scrape costs one residual, not three) and residuals
// are coded with an adaptive Rice / zero-flag code. Values are coded in one
// of two modes that the stream can switch between at any sample:
//   - decimal mode: the value is exactly m / 10^scale for an int64 m (a
//     multiple of 2^shift); the mantissa is predicted (previous value, or
//     previous value plus smoothed delta, whichever has been cheaper so far)
//     and the residual is coded like timestamps;
//   - float mode: Gorilla XOR against the previous value's bits.
// Runs of zero residuals (on-time scrapes, unchanged or perfectly predicted
// values) are counted in a fixed-width field that the encoder updates in
// place, so the bytes stay decodable after every Append.
// All adaptive state is a pure function of the samples decoded so far, so
// the decoder mirrors it without side information.
#include "tsdb/chunkenc/chunk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "tsdb/chunkenc/decimal.h"
#include "tsdb/size_class_arena.h"

namespace vigil::tsdb::chunkenc {
namespace {

// Unary prefixes of this many ones mark an escape: an explicit bit width (or
// a control code) follows instead of a terminating zero.
constexpr int kRiceLimit = 16;
// Rounding offset (in 1/16 bit) from the average residual width to the Rice
// parameter; tuned on generated data.
constexpr uint64_t kWidthRound = 22;

// Control codes in the width field of an escaped value residual. A real
// escaped residual is >= kRiceLimit, so its width is at least 5 and its
// width field (width - 1) at least 4: 0..3 are free for control codes.
enum Escape : int {
  kEscException = 0,  // 64 raw value bits for this sample only
  kEscScale = 1,      // 5-bit larger scale, then this sample's code
  kEscFloat = 2,      // 64 raw value bits; float mode from here on
  kEscShift = 3,      // 6-bit new shift, then this sample's code
  kEscNone = -1,
};

constexpr int kScaleBits = 5;

// Predictor choice: the score accumulates (cost of delta-of-delta residual)
// - (cost of delta residual) in bits, clamped so a change of behaviour
// mid-chunk is followed within a few samples.
constexpr int32_t kScoreClamp = 16;

enum Mode : uint8_t { kDecimal = 0, kFloat = 1 };

inline uint64_t ZigZag(uint64_t x) {
  return (x << 1) ^ static_cast<uint64_t>(static_cast<int64_t>(x) >> 63);
}

inline uint64_t UnZigZag(uint64_t u) { return (u >> 1) ^ (0 - (u & 1)); }

inline int BitWidth(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }

inline uint64_t LowMask(int n) {
  return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
}

// Run counts are 2..8 bits wide: one more bit than the previous run of the
// same stream needed, so jittery series pay for short counts and regular
// ones grow to 255-sample runs.
constexpr int kRunBitsMax = 8;
inline uint16_t RunMax(int bits) {
  return static_cast<uint16_t>((1 << bits) - 1);
}
inline uint8_t NextRunBits(uint64_t len) {
  return static_cast<uint8_t>(std::clamp(BitWidth(len) + 1, 2, kRunBitsMax));
}

// Rice parameter: the smallest k with count << k >= sum (as in JPEG-LS),
// computed from bit widths instead of a loop or a division.
inline int RiceK(uint64_t sum, uint64_t count) {
  if (sum <= count) return 0;
  int k = BitWidth(sum) - BitWidth(count);
  if ((count << k) < sum) ++k;
  return k;
}

// Residual code statistics, updated identically by encoder and decoder:
//   stats[0]: moving average of BitWidth(u), 4 fraction bits;
//   stats[1]: the same over u - 1 for non-zero u;
//   stats[2]: a clamped running score (as int64) of the bits the zero-flag
//             code would have saved (< 0) or cost (> 0) against plain Rice;
//   stats[3]: number of updates so far, saturating at 2.
// Before each residual both sides pick a plain Rice code of u, or a zero
// flag followed by a Rice code of u - 1, whichever has been shorter lately.
// The zero flag wins for mostly-constant data with occasional large moves
// (scrape jitter, rarely hit histogram buckets), plain Rice for noisy data.
// Averaging bit widths (logarithms) rather than magnitudes keeps one huge
// residual from inflating the parameter for many samples.
struct Coding {
  int k_plain;
  int k_flag;
  bool zero_flag;
  int k() const { return zero_flag ? k_flag : k_plain; }
};

constexpr int64_t kCodeScoreClamp = 64;
constexpr uint64_t kMaxWidthAvg = 64 << 4;

inline int KFromWidthAvg(uint64_t avg) {
  // avg is unsigned and at most kMaxWidthAvg, so (avg + kWidthRound) >> 4
  // is at least 1 and k is never negative: only the upper bound needs a
  // clamp (shifts by k must stay defined). This runs twice per residual.
  const int k = static_cast<int>((avg + kWidthRound) >> 4) - 1;
  return std::min(k, 63);
}

inline Coding ChooseCoding(const uint64_t* stats) {
  return {KFromWidthAvg(stats[0]), KFromWidthAvg(stats[1]),
          static_cast<int64_t>(stats[2]) < 0};
}

// Approximate length of the Rice code of x with parameter k.
inline int64_t RiceCost(uint64_t x, int k) {
  const uint64_t q = x >> k;
  if (q < static_cast<uint64_t>(kRiceLimit))
    return static_cast<int64_t>(q) + 1 + k;
  return kRiceLimit + 6 + BitWidth(x);
}

// `age` (0, 1, then 2 for good) makes the first residuals count fully and
// by half, so the parameter is right after one or two samples instead of
// ramping up from zero.
inline void MoveAverage(int width, uint64_t age, uint64_t* avg) {
  const int64_t a = static_cast<int64_t>(*avg);
  const int64_t d = int64_t{width} * 16 - a;
  // All but a chunk's first two residuals take the constant shift.
  *avg = static_cast<uint64_t>(
      a + (__builtin_expect(age >= 2, 1) ? d >> 2 : d >> age));
}

inline void UpdateStats(uint64_t u, const Coding& c, uint64_t* stats) {
  const int64_t plain = RiceCost(u, c.k_plain);
  const int64_t flag = u == 0 ? 1 : 1 + RiceCost(u - 1, c.k_flag);
  stats[2] = static_cast<uint64_t>(
      std::clamp(static_cast<int64_t>(stats[2]) + flag - plain,
                 -kCodeScoreClamp, kCodeScoreClamp));
  MoveAverage(BitWidth(u), stats[3], &stats[0]);
  if (u != 0) MoveAverage(BitWidth(u - 1), stats[3], &stats[1]);
  if (stats[3] < 2) ++stats[3];
}

// Keeps the width averages in step when mantissas are multiplied by 10^n
// (about 3.32 bits each) or shifted.
inline void AdjustWidths(int64_t delta16, uint64_t* stats) {
  for (int i = 0; i < 2; ++i) {
    const int64_t a = static_cast<int64_t>(stats[i]) + delta16;
    stats[i] = static_cast<uint64_t>(
        std::clamp<int64_t>(a, 0, static_cast<int64_t>(kMaxWidthAvg)));
  }
}

// Timestamp grid predictor. A sample is expected at grid + interval. A
// single off-grid sample after an on-grid one is taken as jitter (the grid
// continues, so the next on-time sample costs nothing); anything else
// re-anchors the grid on the sample and takes its distance as the new
// interval (which degrades to delta-of-delta for irregular series).
inline void AdvanceGrid(uint64_t t, uint64_t prev_t, uint64_t pred,
                        uint64_t err, uint64_t* grid, uint64_t* interval,
                        uint64_t* prev_err) {
  if (err == 0) {
    *grid = t;
  } else if (*prev_err == 0 && ZigZag(err) <= (*interval >> 3)) {
    *grid = pred;
  } else {
    *grid = t;
    *interval = t - prev_t;
  }
  *prev_err = err;
}

// Decimal-mode prediction: the previous mantissa, or the previous mantissa
// plus the smoothed delta (counters, ramps), whichever has been cheaper.
inline uint64_t RoundedAvg(uint64_t avg) {
  return static_cast<uint64_t>(static_cast<int64_t>(avg + 8) >> 4);
}

inline uint64_t PredictDecimal(uint64_t prev, uint64_t avg, int32_t score) {
  return score < 0 ? prev + RoundedAvg(avg) : prev;
}

// Always inlined: the run fast path of Append calls it for every sample.
inline __attribute__((always_inline)) void UpdatePredictor(uint64_t m,
                                                           uint64_t* prev,
                                                           uint64_t* avg,
                                                           int32_t* score) {
  const uint64_t delta = m - *prev;
  *score +=
      BitWidth(ZigZag(delta - RoundedAvg(*avg))) - BitWidth(ZigZag(delta));
  *score = std::clamp(*score, -kScoreClamp, kScoreClamp);
  if (*avg == 0) {
    *avg = delta << 4;
  } else {
    *avg +=
        static_cast<uint64_t>(static_cast<int64_t>((delta << 4) - *avg) >> 3);
  }
  *prev = m;
}

// A first mantissa with many trailing zeros (a byte count in pages) starts
// the chunk with that shift; a wrong guess costs one shift escape later.
inline int InitialShift(uint64_t m) {
  const int tz = m ? __builtin_ctzll(m) : 0;
  return tz >= 10 ? tz : 0;
}

inline void ApplyShift(int from, int to, uint64_t* prev, uint64_t* avg,
                       uint64_t* stats) {
  if (to > from) {
    const int d = to - from;
    *prev = static_cast<uint64_t>(static_cast<int64_t>(*prev) >> d);
    *avg = static_cast<uint64_t>(static_cast<int64_t>(*avg) >> d);
    AdjustWidths(-16 * d, stats);
  } else {
    const int d = from - to;
    *prev <<= d;
    *avg <<= d;
    AdjustWidths(16 * d, stats);
  }
}

// 10^n modulo 2^64: mantissa state is rescaled with wrapping arithmetic,
// which the decoder reproduces exactly even when it overflows.
inline uint64_t Pow10Wrapped(int n) {
  uint64_t p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

// Smallest scale >= from at which v is an exact decimal.
bool FindScale(double v, int from, int* scale, uint64_t* m) {
  if (!std::isfinite(v)) return false;
  for (int k = from; k <= kMaxScale; ++k) {
    if (ToDecimalAt(v, k, m)) {
      *scale = k;
      return true;
    }
    if (!(std::fabs(v * kPow10[k]) < 9.2e18)) return false;
  }
  return false;
}

inline uint64_t LoadBigEndian64(const unsigned char* p) {
  uint64_t x;
  std::memcpy(&x, p, sizeof x);
  return __builtin_bswap64(x);
}

}  // namespace

// ---------------------------------------------------------------------------
// ChunkEncoder

ChunkEncoder::Buffer::Buffer(Buffer&& o) noexcept
    : size_(o.size_), cap_(o.cap_) {
  std::memcpy(inline_, o.inline_, kInline);  // the pointer or the bytes
  o.size_ = 0;
  o.cap_ = kInline;
  std::memset(o.inline_, 0, kInline);
}

ChunkEncoder::Buffer& ChunkEncoder::Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    Release();
    size_ = o.size_;
    cap_ = o.cap_;
    std::memcpy(inline_, o.inline_, kInline);
    o.size_ = 0;
    o.cap_ = kInline;
    std::memset(o.inline_, 0, kInline);
  }
  return *this;
}

void ChunkEncoder::Buffer::Release() {
  if (cap_ > kInline) SizeClassArena::Global().Free(heap_, cap_);
}

void ChunkEncoder::Buffer::Grow(size_t need) {
  // About 1.25x, rounded up to the arena's size class (whose whole block
  // is used), at least 24: an open chunk lives for minutes to hours, so
  // slack costs more than a few more copies of a few hundred bytes.
  const size_t cap =
      SizeClassArena::BlockSize(std::max<size_t>({need, cap_ + cap_ / 4, 24}));
  char* p = static_cast<char*>(SizeClassArena::Global().Allocate(cap));
  // Copies the old capacity and zeroes the rest: every byte past size_
  // stays zero (see WriteBits).
  std::memcpy(p, data(), cap_);
  std::memset(p + cap_, 0, cap - cap_);
  Release();
  heap_ = p;
  cap_ = static_cast<uint32_t>(cap);
}

void ChunkEncoder::Buffer::AppendZeros(size_t n) {
  if (size_ + n > cap_) Grow(size_ + n);
  std::memset(data() + size_, 0, n);
  size_ += static_cast<uint32_t>(n);
}

void ChunkEncoder::Buffer::InsertZerosAtFront(size_t n) {
  if (size_ + n > cap_) Grow(size_ + n);
  char* d = data();
  std::memmove(d + n, d, size_);
  std::memset(d, 0, n);
  size_ += static_cast<uint32_t>(n);
}

ChunkEncoder::ChunkEncoder() { buf_.AppendZeros(2); }

size_t ChunkEncoder::size_bytes() const { return buf_.size(); }

absl::string_view ChunkEncoder::Bytes() const {
  return absl::string_view(buf_.data(), buf_.size());
}

// ORs a code of n <= 57 bits into the 8 bytes from the partly filled last
// byte on, as one big-endian word: the buffer keeps every byte past its
// size zero and, once written to, at least 8 bytes of capacity from its
// last byte (Buffer::ReserveWord), so no code needs a loop or a branch per
// byte.
inline __attribute__((always_inline)) void ChunkEncoder::WriteWord(
    uint64_t bits, int n) {
  const int used = bit_pos_;
  const size_t byte = buf_.size() - (used != 0);
  unsigned char* p = reinterpret_cast<unsigned char*>(buf_.ReserveWord(byte));
  const uint64_t w =
      LoadBigEndian64(p) | ((bits & LowMask(n)) << (64 - used - n));
  const uint64_t be = __builtin_bswap64(w);
  std::memcpy(p, &be, sizeof be);
  const int end = used + n;
  buf_.set_size(byte + static_cast<size_t>((end + 7) >> 3));
  bit_pos_ = static_cast<uint8_t>(end & 7);
}

inline __attribute__((always_inline)) void ChunkEncoder::WriteBits(
    uint64_t bits, int n) {
  if (n <= 0) return;
  if (__builtin_expect(n > 57, 0)) {  // up to 7 bits used: two words
    WriteWord(bits >> 32, n - 32);
    WriteWord(bits, 32);
    return;
  }
  WriteWord(bits, n);
}

// 6-bit (width - 1), then the value in `width` bits; width >= 1.
void ChunkEncoder::WriteWide(uint64_t x) {
  const int width = std::max(BitWidth(x), 1);
  WriteBits(static_cast<uint64_t>(width - 1), 6);
  WriteBits(x, width);
}

inline __attribute__((always_inline)) void ChunkEncoder::WriteCoded(
    uint64_t u, CodeStats* cs) {
  uint64_t stats[4];
  cs->Load(stats);
  const Coding c = ChooseCoding(stats);
  uint64_t x = u;
  // The zero flag (if any), the unary quotient and the k low bits are
  // written as one code when they fit one WriteBits.
  uint64_t prefix = 0;
  int prefix_len = 0;
  if (c.zero_flag && u == 0) {
    WriteBits(0, 1);
  } else {
    if (c.zero_flag) {
      prefix = 1;
      prefix_len = 1;
      x = u - 1;
    }
    const int k = c.k();
    const uint64_t q = x >> k;
    if (q < static_cast<uint64_t>(kRiceLimit)) {
      // q ones and a terminating zero, then the k low bits.
      const int n = static_cast<int>(q) + 1 + k;
      const uint64_t unary = (uint64_t{1} << (q + 1)) - 2;
      if (prefix_len + n <= 57) {
        WriteBits((((prefix << (q + 1)) | unary) << k) | (x & LowMask(k)),
                  prefix_len + n);
      } else {
        WriteBits(prefix, prefix_len);
        WriteBits(unary, static_cast<int>(q) + 1);
        WriteBits(x & LowMask(k), k);
      }
    } else {
      WriteBits((prefix << kRiceLimit) | LowMask(kRiceLimit),
                prefix_len + kRiceLimit);
      WriteWide(x);
    }
  }
  UpdateStats(u, c, stats);
  cs->Store(stats);
}

void ChunkEncoder::WriteEscape(int kind, const CodeStats& stats) {
  if (stats.score < 0) WriteBits(1, 1);  // ChooseCoding's zero_flag
  WriteBits(LowMask(kRiceLimit), kRiceLimit);
  WriteBits(static_cast<uint64_t>(kind), 6);
}

inline __attribute__((always_inline)) void ChunkEncoder::WriteHeader() {
  const uint32_t n = static_cast<uint32_t>(num_samples_);
  if (n < 0x8000) {
    buf_[0] = static_cast<char>(n >> 8);
    buf_[1] = static_cast<char>(n);
    return;
  }
  if (header_len_ == 2) {
    // Widening moves the stream once, at 32768 samples.
    buf_.InsertZerosAtFront(2);
    header_len_ = 4;
    if (t_run_len_ > 0) t_run_pos_ += 16;
    if (v_run_len_ > 0) v_run_pos_ += 16;
  }
  const uint32_t h = n | 0x80000000u;
  buf_[0] = static_cast<char>(h >> 24);
  buf_[1] = static_cast<char>(h >> 16);
  buf_[2] = static_cast<char>(h >> 8);
  buf_[3] = static_cast<char>(h);
}

size_t ChunkEncoder::BitSize() const {
  return buf_.size() * 8 - (bit_pos_ ? 8 - bit_pos_ : 0);
}

// Run counts are at most 8 bits wide, so the field spans at most two bytes;
// both are inside the buffer (the run's first sample wrote its count).
inline __attribute__((always_inline)) void ChunkEncoder::ExtendRun(uint32_t pos,
                                                                   uint16_t len,
                                                                   int bits) {
  unsigned char* p = reinterpret_cast<unsigned char*>(buf_.data()) + (pos >> 3);
  const int sh = 16 - static_cast<int>(pos & 7) - bits;
  const uint32_t mask = static_cast<uint32_t>(RunMax(bits)) << sh;
  uint32_t w = (uint32_t{p[0]} << 8) | (sh < 8 ? p[1] : 0);
  w = (w & ~mask) | (uint32_t{len} << sh);
  p[0] = static_cast<unsigned char>(w >> 8);
  if (sh < 8) p[1] = static_cast<unsigned char>(w);
}

// Runs. Timestamps and values each have their own: after a zero residual
// (flag_next), the next code of that stream starts with a flag bit; '1'
// opens a run: a count (NextRunBits wide) of consecutive zero residuals,
// starting with this sample. The encoder keeps the count in place up to date
// while the run grows, so Bytes() is decodable at every point. A run shorter
// than its maximum is always followed by a non-zero residual (or the end), so
// no flag follows it. Sets *in_run when this sample's residual is covered by a
// run (and nothing else must be written for it).
inline __attribute__((always_inline)) void ChunkEncoder::StartOrExtendRun(
    bool zero, bool* flag_next, uint16_t* run_len, uint8_t* run_bits,
    uint32_t* run_pos, bool resume, bool* in_run) {
  *in_run = false;
  if (*run_len > 0 && *run_len < RunMax(*run_bits) && zero) {
    ++*run_len;
    ExtendRun(*run_pos, *run_len, *run_bits);
    *in_run = true;
    return;
  }
  bool flag = *flag_next;
  bool closed_short = false;
  if (*run_len > 0) {
    flag = *run_len == RunMax(*run_bits);
    closed_short = !flag;
    *run_bits = NextRunBits(*run_len);
    *run_len = 0;
  }
  if (flag) {
    WriteBits(zero ? 1 : 0, 1);
    if (zero) {
      *run_pos = static_cast<uint32_t>(BitSize());
      *run_len = 1;
      WriteBits(1, *run_bits);
      *in_run = true;
    }
  }
  // With `resume` (timestamps), the residual that ends a short run (a late
  // scrape) is taken as a blip: the next code starts with a run flag.
  *flag_next = zero || (closed_short && resume);
}

namespace {
// ToDecimalAt (decimal.h) for the encoder's per-sample probe, with the
// rounding done by adding and subtracting 2^52 instead of calling
// std::nearbyint, which is a libm call unless the build targets SSE4.1
// (the -c opt build does not). In the default round-to-nearest-even mode
// (never changed here) both give the same integer for |x| < 2^52, and
// larger doubles are integers already; the exactness check is unchanged,
// so the encoder's output is too.
inline bool ToDecimalAtForEncoder(double v, int scale, uint64_t* m) {
  const double x = v * kPow10[scale];
  if (!(std::fabs(x) < 9.2e18)) return false;
  double r = x;
  if (std::fabs(x) < 0x1p52) {
    const double big = std::copysign(0x1p52, x);
    r = (x + big) - big;
  }
  const int64_t i = static_cast<int64_t>(r);
  if (DoubleBits(FromDecimal(static_cast<uint64_t>(i), scale)) !=
      DoubleBits(v)) {
    return false;
  }
  *m = static_cast<uint64_t>(i);
  return true;
}
}  // namespace

void ChunkEncoder::Append(int64_t t, double v) {
  // The common scraped sample: on time and with the predicted value while
  // both streams have a run open that can grow. Nothing is written but the
  // two run counts and the header; the state changes are those of the
  // general path below (AppendTimestamp with err == 0, a value covered by
  // its run), so the bytes are the same.
  if (num_samples_ >= 2 && num_samples_ < 0x7fff && t_run_len_ > 0 &&
      v_run_len_ > 0 && t_run_len_ < RunMax(t_run_bits_) &&
      v_run_len_ < RunMax(v_run_bits_) &&
      static_cast<uint64_t>(t) == grid_t_ + interval_) {
    uint64_t pred = 0;
    bool zero;
    if (mode_ == kFloat) {
      zero = DoubleBits(v) == prev_bits_;
    } else {
      pred = PredictDecimal(prev_int_, avg_delta_, predictor_score_);
      uint64_t m;
      zero = ToDecimalAtForEncoder(v, scale_, &m) &&
             (m & LowMask(shift_)) == 0 &&
             static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_) == pred;
    }
    if (zero) {
      ExtendRun(t_run_pos_, ++t_run_len_, t_run_bits_);
      ExtendRun(v_run_pos_, ++v_run_len_, v_run_bits_);
      grid_t_ = static_cast<uint64_t>(t);
      prev_t_ = grid_t_;
      prev_err_ = 0;
      if (mode_ == kDecimal) {
        UpdatePredictor(pred, &prev_int_, &avg_delta_, &predictor_score_);
      }
      last_was_exception_ = false;
      ++num_samples_;
      char* h = buf_.data();
      h[0] = static_cast<char>(num_samples_ >> 8);
      h[1] = static_cast<char>(num_samples_);
      return;
    }
  }
  if (num_samples_ == 0) {
    min_time_ = t;
    WriteWide(ZigZag(static_cast<uint64_t>(t)));
    uint64_t m = 0;
    int scale = 0;
    if (FindScale(v, 0, &scale, &m)) {
      WriteBits(kDecimal, 1);
      WriteBits(static_cast<uint64_t>(scale), kScaleBits);
      WriteWide(ZigZag(m));
      EnterDecimal(scale, m);
    } else {
      WriteBits(kFloat, 1);
      WriteBits(DoubleBits(v), 64);
      EnterFloat(DoubleBits(v));
    }
    prev_t_ = static_cast<uint64_t>(t);
  } else if (num_samples_ == 1) {
    const uint64_t ut = static_cast<uint64_t>(t);
    interval_ = ut - prev_t_;
    WriteWide(interval_);
    grid_t_ = ut;
    prev_err_ = 0;
    prev_t_ = ut;
    uint64_t m = 0;
    const bool decimal =
        mode_ == kDecimal && ToDecimalAtForEncoder(v, scale_, &m);
    AppendValue(v, decimal, m);
  } else {
    AppendTimestamp(t);
    bool in_run;
    // The decimal probe at the current scale, computed once for both
    // ValueIsZero and AppendValue (the scale does not change in between).
    uint64_t m = 0;
    const bool decimal =
        mode_ == kDecimal && ToDecimalAtForEncoder(v, scale_, &m);
    const bool zero = ValueIsZero(v, decimal, m);
    StartOrExtendRun(zero, &v_flag_next_, &v_run_len_, &v_run_bits_,
                     &v_run_pos_, /*resume=*/false, &in_run);
    if (in_run) {
      // Same state change as coding a zero residual, minus the statistics.
      if (mode_ == kDecimal) {
        UpdatePredictor(PredictDecimal(prev_int_, avg_delta_, predictor_score_),
                        &prev_int_, &avg_delta_, &predictor_score_);
      }
      last_was_exception_ = false;
    } else {
      AppendValue(v, decimal, m);
    }
  }
  ++num_samples_;
  WriteHeader();
}

inline __attribute__((always_inline)) void ChunkEncoder::AppendTimestamp(
    int64_t t) {
  const uint64_t ut = static_cast<uint64_t>(t);
  const uint64_t pred = grid_t_ + interval_;
  const uint64_t err = ut - pred;
  bool in_run;
  StartOrExtendRun(err == 0, &t_flag_next_, &t_run_len_, &t_run_bits_,
                   &t_run_pos_, /*resume=*/true, &in_run);
  if (!in_run) WriteCoded(ZigZag(err), &t_stats_);
  AdvanceGrid(ut, prev_t_, pred, err, &grid_t_, &interval_, &prev_err_);
  prev_t_ = ut;
}

// True when AppendValue would code v as a zero residual (no control code).
// `decimal` and `m`: the decimal probe of v at scale_ (decimal mode only).
inline __attribute__((always_inline)) bool ChunkEncoder::ValueIsZero(
    double v, bool decimal, uint64_t m) {
  if (mode_ == kFloat) return DoubleBits(v) == prev_bits_;
  if (!decimal || (m & LowMask(shift_)) != 0) return false;
  return static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_) ==
         PredictDecimal(prev_int_, avg_delta_, predictor_score_);
}

void ChunkEncoder::EnterDecimal(int scale, uint64_t m) {
  mode_ = kDecimal;
  scale_ = static_cast<int8_t>(scale);
  shift_ = static_cast<uint8_t>(InitialShift(m));
  prev_int_ = static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_);
  avg_delta_ = 0;
  predictor_score_ = 0;
  tz_run_min_ = 64;
  tz_run_count_ = 0;
  last_was_exception_ = false;
}

void ChunkEncoder::EnterFloat(uint64_t bits) {
  mode_ = kFloat;
  prev_bits_ = bits;
  leading_ = 0xff;
  decimal_backoff_ = 0;
  decimal_backoff_len_ = 1;
  last_was_exception_ = false;
}

// `m` is the full mantissa at scale_, a multiple of 2^shift_.
inline __attribute__((always_inline)) bool ChunkEncoder::AppendDecimal(
    uint64_t m) {
  const uint64_t ms = static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_);
  const uint64_t pred = PredictDecimal(prev_int_, avg_delta_, predictor_score_);
  WriteCoded(ZigZag(ms - pred), &v_stats_);
  const bool zero = ms == pred;
  const uint64_t delta = ms - prev_int_;
  if (delta != 0) {
    const int tz = std::min(63, __builtin_ctzll(delta) + shift_);
    tz_run_min_ = static_cast<uint8_t>(std::min<int>(tz_run_min_, tz));
    if (tz_run_count_ < 255) ++tz_run_count_;
  }
  UpdatePredictor(ms, &prev_int_, &avg_delta_, &predictor_score_);
  return zero;
}

// Float mode; returns false (writing nothing) when the encoder should
// switch to decimal mode for this value instead.
bool ChunkEncoder::AppendFloat(double v) {
  const uint64_t bits = DoubleBits(v);
  const uint64_t x = bits ^ prev_bits_;
  if (x == 0) {
    WriteBits(0, 1);
    return true;
  }
  // Probing for a decimal costs up to kMaxScale multiply/divides, so after
  // a failed probe the next ones are spaced out exponentially.
  if (decimal_backoff_ == 0) {
    uint64_t m = 0;
    int scale = 0;
    if (FindScale(v, 0, &scale, &m)) return false;
    decimal_backoff_len_ =
        static_cast<uint16_t>(std::min<int>(decimal_backoff_len_ * 2, 64));
    decimal_backoff_ = decimal_backoff_len_;
  } else {
    --decimal_backoff_;
  }
  const int lead = __builtin_clzll(x);
  const int trail = __builtin_ctzll(x);
  if (leading_ != 0xff && lead >= leading_ && trail >= trailing_) {
    WriteBits(0b10, 2);
    WriteBits(x >> trailing_, 64 - leading_ - trailing_);
  } else {
    const int sig = 64 - lead - trail;
    WriteBits(0b110, 3);
    WriteBits(static_cast<uint64_t>(lead), 6);
    WriteBits(static_cast<uint64_t>(sig - 1), 6);
    WriteBits(x >> trail, sig);
    leading_ = static_cast<uint8_t>(lead);
    trailing_ = static_cast<uint8_t>(trail);
  }
  prev_bits_ = bits;
  return true;
}

// Returns true when the value was coded as a zero residual. In decimal mode
// `decimal` and `probe_m` are v's probe at scale_ (ToDecimalAtForEncoder).
bool ChunkEncoder::AppendValue(double v, bool decimal, uint64_t probe_m) {
  uint64_t m = probe_m;
  int scale = 0;
  if (mode_ == kFloat) {
    const bool same = DoubleBits(v) == prev_bits_;
    if (AppendFloat(v)) return same;
    FindScale(v, 0, &scale, &m);
    WriteBits(0b111, 3);
    WriteBits(static_cast<uint64_t>(scale), kScaleBits);
    WriteWide(ZigZag(m));
    EnterDecimal(scale, m);
    return false;
  }
  bool scaled = false;
  if (!decimal) {
    if (scale_ < kMaxScale && FindScale(v, scale_ + 1, &scale, &m)) {
      WriteEscape(kEscScale, v_stats_);
      WriteBits(static_cast<uint64_t>(scale), kScaleBits);
      const uint64_t p = Pow10Wrapped(scale - scale_);
      prev_int_ *= p;
      avg_delta_ *= p;
      uint64_t stats[4];
      v_stats_.Load(stats);
      AdjustWidths(53 * (scale - scale_), stats);
      v_stats_.Store(stats);
      scale_ = static_cast<int8_t>(scale);
      scaled = true;
    } else {
      const uint64_t bits = DoubleBits(v);
      if (!last_was_exception_) {
        // One odd value (a staleness marker, a NaN) in a decimal series:
        // keep the decimal state so the next value is still predicted well.
        WriteEscape(kEscException, v_stats_);
        WriteBits(bits, 64);
        last_was_exception_ = true;
        return false;
      }
      WriteEscape(kEscFloat, v_stats_);
      WriteBits(bits, 64);
      EnterFloat(bits);
      return false;
    }
  }
  // Mantissas that are all multiples of 2^s (byte counts in pages) are
  // coded divided by 2^s. The shift drops as soon as a value needs it and
  // rises once a few non-zero deltas agree on more trailing zeros.
  bool escaped = false;
  int new_shift = shift_;
  if ((m & LowMask(shift_)) != 0) {
    new_shift = __builtin_ctzll(m);
  } else if (tz_run_count_ >= 4 && tz_run_min_ >= shift_ + 2 &&
             static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_) !=
                 PredictDecimal(prev_int_, avg_delta_, predictor_score_) &&
             tz_run_min_ < 64 && (m & LowMask(tz_run_min_)) == 0) {
    new_shift = tz_run_min_;
  }
  if (new_shift != shift_) {
    WriteEscape(kEscShift, v_stats_);
    WriteBits(static_cast<uint64_t>(new_shift), 6);
    uint64_t stats[4];
    v_stats_.Load(stats);
    ApplyShift(shift_, new_shift, &prev_int_, &avg_delta_, stats);
    v_stats_.Store(stats);
    shift_ = static_cast<uint8_t>(new_shift);
    tz_run_min_ = 64;
    tz_run_count_ = 0;
    escaped = true;
  }
  const bool zero = AppendDecimal(m);
  last_was_exception_ = false;
  return zero && !escaped && !scaled;
}

// ---------------------------------------------------------------------------
// ChunkDecoder

ChunkDecoder::ChunkDecoder(absl::string_view bytes)
    : bytes_(bytes),
      data_(reinterpret_cast<const unsigned char*>(bytes.data())),
      size_bits_(bytes.size() * 8) {
  const size_t size = bytes.size();
  tail_start_ = size > kTailKeep ? size - kTailKeep : 0;
  if (size > 0) std::memcpy(tail_, data_ + tail_start_, size - tail_start_);
  if (size < 2) {
    Fail("header truncated");
    return;
  }
  if (data_[0] & 0x80) {
    if (size < 4) {
      Fail("header truncated");
      return;
    }
    num_samples_ = static_cast<int>(((uint32_t{data_[0]} << 24) |
                                     (uint32_t{data_[1]} << 16) |
                                     (uint32_t{data_[2]} << 8) | data_[3]) &
                                    0x7fffffffu);
    bit_offset_ = 32;
  } else {
    num_samples_ = (data_[0] << 8) | data_[1];
    bit_offset_ = 16;
  }
}

// Inline and free of allocation: the hot loops run on a local copy of the
// decoder whose fields stay in registers only if no call takes its address.
inline bool ChunkDecoder::Fail(const char* what) {
  if (fail_what_ == nullptr) {
    fail_what_ = what;
    fail_sample_ = read_;
    fail_bit_ = bit_offset_;
  }
  done_ = true;
  return false;
}

absl::Status ChunkDecoder::status() const {
  if (fail_what_ == nullptr) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("chunk: ", fail_what_, " at sample ", fail_sample_, " of ",
                   num_samples_, " (bit ", fail_bit_, " of ", size_bits_, ")"));
}

// The next 64 bits of the stream, zero-padded past the end. Reading past
// the end is detected once per sample by comparing bit_offset_ with
// size_bits_, which keeps the per-field reads free of bounds checks.
inline __attribute__((always_inline)) uint64_t ChunkDecoder::PeekAt(
    size_t bit_offset) const {
  const size_t byte = bit_offset >> 3;
  const int shift = static_cast<int>(bit_offset & 7);
  const unsigned char* p;
  if (byte + 9 <= (size_bits_ >> 3)) {
    p = data_ + byte;
  } else {
    const size_t i = byte - tail_start_;  // >= 7 here
    if (i + 9 > sizeof tail_) return 0;
    p = tail_ + i;
  }
  uint64_t w = LoadBigEndian64(p);
  if (shift) w = (w << shift) | (p[8] >> (8 - shift));
  return w;
}

inline __attribute__((always_inline)) uint64_t ChunkDecoder::ReadBits(int n) {
  const uint64_t w = Peek();
  bit_offset_ += n;
  return n ? w >> (64 - n) : 0;
}

inline uint64_t ChunkDecoder::ReadWide() {
  const int width = static_cast<int>(ReadBits(6)) + 1;
  return ReadBits(width);
}

// Reads one residual code. On a control code stores it in *escape and
// returns 0; otherwise *escape is kEscNone.
inline __attribute__((always_inline)) uint64_t ChunkDecoder::ReadCoded(
    uint64_t* stats, int* escape) {
  const Coding c = ChooseCoding(stats);
  uint64_t w = Peek();
  int used = 0;
  if (c.zero_flag) {
    if ((w >> 63) == 0) {
      bit_offset_ += 1;
      *escape = kEscNone;
      UpdateStats(0, c, stats);
      return 0;
    }
    w <<= 1;
    used = 1;
  }
  const int q = ~w ? __builtin_clzll(~w) : 64;
  uint64_t x;
  if (q < kRiceLimit) {
    const int k = c.k();
    const int total = used + q + 1 + k;
    if (total <= 64) {
      x = (static_cast<uint64_t>(q) << k) |
          (k ? (w << (q + 1)) >> (64 - k) : 0);
      bit_offset_ += total;
    } else {
      bit_offset_ += used + q + 1;
      x = (static_cast<uint64_t>(q) << k) | ReadBits(k);
    }
  } else {
    bit_offset_ += used + kRiceLimit;
    const int field = static_cast<int>(ReadBits(6));
    if (field < 4) {
      *escape = field;
      return 0;
    }
    x = ReadBits(field + 1);
  }
  const uint64_t u = c.zero_flag ? x + 1 : x;
  *escape = kEscNone;
  UpdateStats(u, c, stats);
  return u;
}

// Sets *zero when the value was coded as a zero residual.
inline __attribute__((always_inline)) bool ChunkDecoder::ReadValue(bool* zero) {
  *zero = false;
  if (mode_ == kFloat) {
    const uint64_t w = Peek();
    if ((w >> 63) == 0) {
      bit_offset_ += 1;
      v_ = BitsDouble(prev_bits_);
      *zero = true;
      return true;
    }
    const int prefix = static_cast<int>(w >> 61);
    uint64_t x;
    if (prefix == 0b100 || prefix == 0b101) {
      bit_offset_ += 2;
      if (leading_ == 0xff) return Fail("float window reused before set");
      x = ReadBits(64 - leading_ - trailing_) << trailing_;
    } else if (prefix == 0b110) {
      bit_offset_ += 3;
      const int lead = static_cast<int>(ReadBits(6));
      const int sig = static_cast<int>(ReadBits(6)) + 1;
      if (lead + sig > 64) return Fail("float window out of range");
      leading_ = static_cast<uint8_t>(lead);
      trailing_ = static_cast<uint8_t>(64 - lead - sig);
      x = ReadBits(sig) << trailing_;
    } else {
      bit_offset_ += 3;
      const int scale = static_cast<int>(ReadBits(kScaleBits));
      if (scale > kMaxScale) return Fail("decimal scale out of range");
      const uint64_t m = UnZigZag(ReadWide());
      mode_ = kDecimal;
      scale_ = static_cast<int8_t>(scale);
      shift_ = static_cast<uint8_t>(InitialShift(m));
      prev_int_ = static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_);
      avg_delta_ = 0;
      predictor_score_ = 0;
      v_ = FromDecimal(m, scale);
      return true;
    }
    prev_bits_ ^= x;
    v_ = BitsDouble(prev_bits_);
    return true;
  }
  bool escaped = false;  // a sample with a control code is never "zero"
  for (;;) {
    int escape;
    const uint64_t u = ReadCoded(v_stats_, &escape);
    switch (escape) {
      case kEscNone: {
        const uint64_t m =
            PredictDecimal(prev_int_, avg_delta_, predictor_score_) +
            UnZigZag(u);
        UpdatePredictor(m, &prev_int_, &avg_delta_, &predictor_score_);
        v_ = FromDecimal(m << shift_, scale_);
        *zero = u == 0 && !escaped;
        return true;
      }
      case kEscException:
        v_ = BitsDouble(ReadBits(64));
        return true;
      case kEscScale: {
        const int scale = static_cast<int>(ReadBits(kScaleBits));
        if (scale <= scale_ || scale > kMaxScale) {
          return Fail("decimal scale out of range");
        }
        const uint64_t p = Pow10Wrapped(scale - scale_);
        prev_int_ *= p;
        avg_delta_ *= p;
        AdjustWidths(53 * (scale - scale_), v_stats_);
        scale_ = static_cast<int8_t>(scale);
        escaped = true;
        continue;  // this sample's code follows
      }
      case kEscFloat:
        prev_bits_ = ReadBits(64);
        mode_ = kFloat;
        leading_ = 0xff;
        v_ = BitsDouble(prev_bits_);
        return true;
      case kEscShift: {
        const int shift = static_cast<int>(ReadBits(6));
        if (shift == shift_) return Fail("decimal shift unchanged");
        ApplyShift(shift_, shift, &prev_int_, &avg_delta_, v_stats_);
        shift_ = static_cast<uint8_t>(shift);
        escaped = true;
        continue;
      }
      default:
        return Fail("unknown value escape");
    }
  }
}

// A value covered by a run: a zero residual, statistics untouched.
inline void ChunkDecoder::ZeroValue() {
  if (mode_ == kDecimal) {
    const uint64_t m = PredictDecimal(prev_int_, avg_delta_, predictor_score_);
    UpdatePredictor(m, &prev_int_, &avg_delta_, &predictor_score_);
    v_ = FromDecimal(m << shift_, scale_);
  } else {
    v_ = BitsDouble(prev_bits_);
  }
}

// True when this sample's residual of one stream is covered by a run
// (see ChunkEncoder::StartOrExtendRun).
inline __attribute__((always_inline)) bool ChunkDecoder::ReadRun(
    bool* flag_next, uint16_t* run_left, bool* run_full, uint8_t* run_bits,
    bool* after_short) {
  if (*run_left > 0) {
    --*run_left;
    if (*run_left == 0) {
      *flag_next = *run_full;
      *after_short = !*run_full;
    }
    return true;
  }
  if (!*flag_next) return false;
  if (ReadBits(1) == 0) return false;
  const int n = static_cast<int>(ReadBits(*run_bits));
  if (n == 0) {
    Fail("empty run");
    return true;
  }
  *run_left = static_cast<uint16_t>(n - 1);
  *run_full = n == RunMax(*run_bits);
  *run_bits = NextRunBits(static_cast<uint64_t>(n));
  *flag_next = *run_left == 0 ? *run_full : true;
  *after_short = *run_left == 0 && !*run_full;
  return true;
}

inline __attribute__((always_inline)) bool ChunkDecoder::DecodeNext() {
  if (read_ >= 2) {
    const uint64_t prev_t = static_cast<uint64_t>(t_);
    const uint64_t pred = grid_t_ + interval_;
    uint64_t err = 0;
    if (!ReadRun(&t_flag_next_, &t_run_left_, &t_run_full_, &t_run_bits_,
                 &t_after_short_)) {
      int escape;
      const uint64_t u = ReadCoded(t_stats_, &escape);
      if (escape != kEscNone) return Fail("escape in timestamp");
      err = UnZigZag(u);
      t_flag_next_ = u == 0 || t_after_short_;
      t_after_short_ = false;
    }
    const uint64_t t = pred + err;
    AdvanceGrid(t, prev_t, pred, err, &grid_t_, &interval_, &prev_err_);
    t_ = static_cast<int64_t>(t);
    if (ReadRun(&v_flag_next_, &v_run_left_, &v_run_full_, &v_run_bits_,
                &v_after_short_)) {
      if (done_) return false;
      ZeroValue();
    } else {
      bool v_zero;
      if (!ReadValue(&v_zero)) return false;
      v_flag_next_ = v_zero;
    }
    if (done_) return false;
  } else if (read_ == 1) {
    interval_ = ReadWide();
    grid_t_ = static_cast<uint64_t>(t_) + interval_;
    prev_err_ = 0;
    t_ = static_cast<int64_t>(grid_t_);
    bool v_zero;
    if (!ReadValue(&v_zero)) return false;
  } else {
    t_ = static_cast<int64_t>(UnZigZag(ReadWide()));
    if (ReadBits(1) == kDecimal) {
      const int scale = static_cast<int>(ReadBits(kScaleBits));
      if (scale > kMaxScale) return Fail("decimal scale out of range");
      mode_ = kDecimal;
      scale_ = static_cast<int8_t>(scale);
      const uint64_t m = UnZigZag(ReadWide());
      shift_ = static_cast<uint8_t>(InitialShift(m));
      prev_int_ = static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_);
      avg_delta_ = 0;
      predictor_score_ = 0;
      v_ = FromDecimal(m, scale);
    } else {
      mode_ = kFloat;
      leading_ = 0xff;
      prev_bits_ = ReadBits(64);
      v_ = BitsDouble(prev_bits_);
    }
  }
  if (bit_offset_ > size_bits_) return Fail("truncated");
  ++read_;
  return true;
}

bool ChunkDecoder::Next() {
  if (done_) return false;
  if (read_ >= num_samples_) {
    done_ = true;
    return false;
  }
  return DecodeNext();
}

bool ChunkDecoder::Seek(int64_t t) {
  if (done_) return false;
  if (read_ > 0 && t_ >= t) return true;
  while (Next()) {
    if (t_ >= t) return true;
  }
  return false;
}

absl::Status ChunkDecoder::DecodeRange(int64_t mint, int64_t maxt,
                                       std::vector<Sample>* out) {
  if (!done_ && num_samples_ > read_) {
    // A hint only: bounded by the stream size so a corrupt count cannot
    // make it allocate much.
    const size_t remaining = static_cast<size_t>(num_samples_ - read_);
    out->reserve(out->size() + std::min(remaining, size_bits_ / 2));
  }
  // Samples are staged in a local buffer so that stores to it cannot alias
  // the decoder state.
  constexpr int kBatch = 64;
  Sample batch[kBatch];
  int n = 0;
  bool past_max = false;
  // The first two samples have their own codes; DecodeNext handles them.
  while (!done_ && read_ < num_samples_ && read_ < 2) {
    if (!DecodeNext()) break;
    // The sample past maxt stays current, as after a Seek.
    if (t_ > maxt) {
      past_max = true;
      break;
    }
    if (t_ >= mint) batch[n++] = Sample{t_, v_};
  }
  if (!past_max && !done_ && read_ < num_samples_) {
    // Two passes of one loop: straight from the chunk's bytes while a
    // sample cannot read past them, then from the zero-padded copy of the
    // tail. Neither needs a bounds check per field.
    const size_t size = size_bits_ >> 3;
    const size_t limit = size > kFastMargin ? (size - kFastMargin) * 8 : 0;
    bool stopped = false;
    if (bit_offset_ < limit) {
      stopped =
          DecodeRangeFast<false>(data_, 0, limit, mint, maxt, out, batch, &n);
    }
    if (!stopped && !done_ && read_ < num_samples_) {
      DecodeRangeFast<true>(tail_, tail_start_ * 8, SIZE_MAX, mint, maxt, out,
                            batch, &n);
    }
  }
  out->insert(out->end(), batch, batch + n);
  if (read_ >= num_samples_) done_ = true;
  return status();
}

__attribute__((noinline, cold)) bool ChunkDecoder::ReadValueCold(bool* zero) {
  return ReadValue(zero);
}

__attribute__((noinline, cold)) uint64_t ChunkDecoder::ReadCodedCold(
    uint64_t* stats, int* escape) {
  return ReadCoded(stats, escape);
}

namespace {
// The fast loop reads 64-bit big-endian words at the current bit position
// and uses the top 57 bits (the rest may be the zeros shifted in).
constexpr int kPeekBits = 57;

inline __attribute__((always_inline)) uint64_t Peek57(const unsigned char* base,
                                                      size_t pos) {
  return LoadBigEndian64(base + (pos >> 3)) << (pos & 7);
}

// BitWidth of an x < 2^63 in two instructions (bsr of 2x + 1).
inline __attribute__((always_inline)) int BitWidthSmall(uint64_t x) {
  return 63 ^ __builtin_clzll((x << 1) | 1);
}

// BitWidth without a branch, for any x.
inline __attribute__((always_inline)) int BitWidthNb(uint64_t x) {
  return BitWidthSmall(x >> 1) + (x != 0);
}

// RiceCost without branches.
inline __attribute__((always_inline)) int64_t RiceCostNb(uint64_t x, int k) {
  const uint64_t q = x >> k;
  const int64_t rice = static_cast<int64_t>(q) + 1 + k;
  const int64_t esc = kRiceLimit + 6 + (64 - __builtin_clzll(x | 1));
  return q < static_cast<uint64_t>(kRiceLimit) ? rice : esc;
}

inline __attribute__((always_inline)) int64_t Clamp(int64_t x, int64_t lo,
                                                    int64_t hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

// The S2 update cost_flag(x) - cost_plain(x) after a code of `total` bits
// in the zero-flag form (zf) or the plain form: the chosen form's cost is
// its length, so only the other one is computed. bw = BitWidth(x),
// bw1 = BitWidth(x - 1) (meaningless, and unused, for x == 0).
inline __attribute__((always_inline)) int64_t FormScoreDelta(
    uint64_t x, int64_t total, bool zf, int kp, int kf, int bw, int bw1) {
  const uint64_t qp = x >> kp;
  const int64_t cost_plain = qp < static_cast<uint64_t>(kRiceLimit)
                                 ? static_cast<int64_t>(qp) + 1 + kp
                                 : kRiceLimit + 6 + bw;
  const uint64_t qf = (x - 1) >> kf;
  int64_t cost_flag = qf < static_cast<uint64_t>(kRiceLimit)
                          ? static_cast<int64_t>(qf) + 2 + kf
                          : kRiceLimit + 7 + bw1;
  cost_flag = x == 0 ? 1 : cost_flag;
  return zf ? total - cost_plain : cost_flag - total;
}

// One adaptive residual code (ReadCoded) from `w` (>= 57 valid bits) when
// it is an ordinary code of at most max_bits (<= 57) bits; false (nothing
// changed) for an escape or a longer code, which the caller leaves to
// ReadCoded. Updates
// the statistics exactly as UpdateStats, reusing the widths it needs for
// both the moving averages and the escape costs; *width is BitWidth(*u).
inline __attribute__((always_inline)) bool FastCode(
    uint64_t w, int64_t max_bits, uint64_t& s0, uint64_t& s1, uint64_t& s2,
    uint64_t& age, uint64_t* u, int* bits, int* width) {
  // KFromWidthAvg: ((avg + 22) >> 4) - 1 == (avg + 6) >> 4 as avg >= 0.
  const uint64_t kp0 = (s0 + (kWidthRound - 16)) >> 4;
  const uint64_t kf0 = (s1 + (kWidthRound - 16)) >> 4;
  const int kp = static_cast<int>(kp0 < 63 ? kp0 : 63);
  const int kf = static_cast<int>(kf0 < 63 ? kf0 : 63);
  const bool zf = static_cast<int64_t>(s2) < 0;
  const int used = zf;
  const uint64_t ww = w << used;
  const int q = __builtin_clzll(~ww | 1);
  const int k = zf ? kf : kp;
  int total = used + q + 1 + k;
  // The k bits after the terminator; two shifts keep k == 0 defined.
  uint64_t x = (static_cast<uint64_t>(q) << k) |
               (((ww << (q & 15) << 1) >> 1) >> (63 - k));
  x += static_cast<uint64_t>(used);
  if (zf && (w >> 63) == 0) {  // the zero flag: u == 0
    x = 0;
    total = 1;
  } else if (q >= kRiceLimit) {
    return false;
  }
  if (total > max_bits) return false;
  // Here x < 2^59 (q < 16, k + q + 2 <= 57).
  const int bw = BitWidthSmall(x);
  const int bw1 = BitWidthSmall(x - 1);  // meaningless (unused) for x == 0
  s2 = static_cast<uint64_t>(Clamp(
      static_cast<int64_t>(s2) + FormScoreDelta(x, total, zf, kp, kf, bw, bw1),
      -kCodeScoreClamp, kCodeScoreClamp));
  const int64_t a0 = static_cast<int64_t>(s0);
  s0 = static_cast<uint64_t>(a0 + ((int64_t{bw} * 16 - a0) >> age));
  const int64_t a1 = static_cast<int64_t>(s1);
  const int64_t n1 = a1 + ((int64_t{bw1} * 16 - a1) >> age);
  s1 = static_cast<uint64_t>(x != 0 ? n1 : a1);
  age += age < 2;
  *u = x;
  *bits = total;
  *width = bw;
  return true;
}

// FastCode in the steady state the inner loop of DecodeRangeFast runs in:
// both statistics have seen two residuals (age == 2, a constant shift),
// and both width averages are below kSteadyMaxAvg, so that the Rice
// parameters need no clamp. Codes decoded here are at most 57 bits, whose
// widths (<= 59) keep the averages below that bound.
constexpr uint64_t kSteadyMaxAvg = 63 * 16 - (kWidthRound - 16);
static_assert(((kSteadyMaxAvg - 1 + (kWidthRound - 16)) >> 4) <= 63, "");
static_assert(59 * 16 < kSteadyMaxAvg, "");

inline __attribute__((always_inline)) bool FastCodeSteady(
    uint64_t w, uint64_t& s0, uint64_t& s1, uint64_t& s2, uint64_t* u,
    int* bits, int* width) {
  const int kp = static_cast<int>((s0 + (kWidthRound - 16)) >> 4);
  const int kf = static_cast<int>((s1 + (kWidthRound - 16)) >> 4);
  const bool zf = static_cast<int64_t>(s2) < 0;
  uint64_t x;
  int total;
  if (zf && (w >> 63) == 0) {  // the zero flag: u == 0
    x = 0;
    total = 1;
  } else {
    const int used = zf;
    const uint64_t ww = w << used;
    const int q = __builtin_clzll(~ww | 1);
    const int k = zf ? kf : kp;
    total = used + q + 1 + k;
    if (q >= kRiceLimit || total > kPeekBits) return false;
    // The k bits after the terminator; the split shifts keep k == 0
    // defined.
    x = (static_cast<uint64_t>(q) << k) | (((ww << q) << 1) >> (63 - k) >> 1);
    x += static_cast<uint64_t>(used);
  }
  const int bw = BitWidthSmall(x);
  const int bw1 = BitWidthSmall(x - 1);  // meaningless (unused) for x == 0
  s2 = static_cast<uint64_t>(Clamp(
      static_cast<int64_t>(s2) + FormScoreDelta(x, total, zf, kp, kf, bw, bw1),
      -kCodeScoreClamp, kCodeScoreClamp));
  const int64_t a0 = static_cast<int64_t>(s0);
  s0 = static_cast<uint64_t>(a0 + ((int64_t{bw} * 16 - a0) >> 2));
  const int64_t a1 = static_cast<int64_t>(s1);
  const int64_t n1 = a1 + ((int64_t{bw1} * 16 - a1) >> 2);
  s1 = static_cast<uint64_t>(x != 0 ? n1 : a1);
  *u = x;
  *bits = total;
  *width = bw;
  return true;
}

// PredictDecimal + UpdatePredictor for a decoded residual u of width
// `width`. One of the two widths the predictor score compares is the
// residual's own.
inline __attribute__((always_inline)) void DecimalStep(uint64_t u, int width,
                                                       uint64_t* prev,
                                                       uint64_t* avg,
                                                       int32_t* score) {
  const uint64_t ravg = RoundedAvg(*avg);
  const uint64_t r = UnZigZag(u);
  const bool with_avg = *score < 0;
  const uint64_t delta = with_avg ? ravg + r : r;
  const int other = BitWidthNb(with_avg ? ZigZag(delta) : ZigZag(r - ravg));
  int32_t sc = *score + (with_avg ? width - other : other - width);
  sc = sc < -kScoreClamp ? -kScoreClamp : sc;
  *score = sc > kScoreClamp ? kScoreClamp : sc;
  const uint64_t d16 = delta << 4;
  *avg =
      *avg == 0
          ? d16
          : *avg + static_cast<uint64_t>(static_cast<int64_t>(d16 - *avg) >> 3);
  *prev += delta;
}

// State of DecodeRangeFast's inner loop.
struct HotState {
  size_t pos;
  uint64_t s0, s1, s2;  // value statistics (age 2)
  uint64_t prev_int, avg;
  int32_t score;
  int run_left;    // samples left in the open run of zero value residuals
  bool flag_next;  // the value code starts with a run flag
  bool run_full;   // the open run has its maximum length
  uint8_t run_bits;
  bool steady;  // FastCodeSteady's conditions hold (else: no codes here)
};

// DecodeRangeFast's inner loop, out of line so that the register allocator
// sees only it: exactly as DecodeNext, `cnt` samples whose timestamp is in
// a run (the caller has checked that they are all in [mint, maxt] and
// fills in their timestamps: the loop has no registers to spare) and whose
// value is an ordinary decimal residual at the statistics' steady state
// (FastCodeSteady) in decimal mode with the given shift and scale (kInt:
// scale 0). Stops before the first sample it cannot take (nothing of it
// consumed), or after the first one that ends at or past `lim` (*crossed).
// Returns the number decoded, whose values are stored at out[i].v.
template <bool kInt>
__attribute__((noinline)) int HotLoop(const unsigned char* base, HotState* st,
                                      int cnt, size_t lim, int shift,
                                      double divisor, Sample* out,
                                      bool* crossed) {
  size_t pos = st->pos;
  uint64_t s0 = st->s0, s1 = st->s1, s2 = st->s2;
  uint64_t prev_int = st->prev_int, avg = st->avg;
  int32_t score = st->score;
  bool flag_next = st->flag_next;
  Sample* const start = out;
  Sample* const end = out + cnt;
  *crossed = false;
  int run_left = st->run_left;
  const bool steady = st->steady;
  while (out < end) {
    uint64_t x;
    int bw;
    if (run_left > 0) {  // a zero residual covered by the open run
      if (--run_left == 0) flag_next = st->run_full;
      x = 0;
      bw = 0;
      goto value;
    }
    {
      uint64_t w = Peek57(base, pos);
      int used = 0;
      if (flag_next) {
        if (static_cast<int64_t>(w) < 0) {  // a run starts (as ReadRun)
          const int bits = st->run_bits;
          const int len = static_cast<int>((w << 1) >> (64 - bits));
          if (len == 0) break;  // corrupt: left to the general code
          pos += static_cast<size_t>(1 + bits);
          run_left = len - 1;
          st->run_full = len == RunMax(bits);
          st->run_bits = NextRunBits(static_cast<uint64_t>(len));
          flag_next = run_left == 0 ? st->run_full : true;
          x = 0;
          bw = 0;
          goto value;
        }
        w <<= 1;
        used = 1;
      }
      if (!steady) break;
      // FastCodeSteady, with the flag bit (if any) counted in `total`.
      const int kp = static_cast<int>((s0 + (kWidthRound - 16)) >> 4);
      const int kf = static_cast<int>((s1 + (kWidthRound - 16)) >> 4);
      int total;
      if (static_cast<int64_t>(s2) < 0) {  // zero-flag form
        if (static_cast<int64_t>(w) >= 0) {
          x = 0;
          total = used + 1;
        } else {
          const uint64_t ww = w << 1;
          const int q = __builtin_clzll(~ww | 1);
          total = used + q + 2 + kf;
          if (q >= kRiceLimit || total > kPeekBits) break;
          x = ((static_cast<uint64_t>(q) << kf) |
               (((ww << q) << 1) >> (63 - kf) >> 1)) +
              1;
        }
      } else {
        const int q = __builtin_clzll(~w | 1);
        total = used + q + 1 + kp;
        if (q >= kRiceLimit || total > kPeekBits) break;
        x = (static_cast<uint64_t>(q) << kp) |
            (((w << q) << 1) >> (63 - kp) >> 1);
      }
      pos += static_cast<size_t>(total);
      total -= used;  // the code's own length
      if (x == 0) {
        // cost_flag(0) = 1, cost_plain(0) = 1 + kp whichever form was used.
        bw = 0;
        s2 = static_cast<uint64_t>(
            std::max<int64_t>(static_cast<int64_t>(s2) - kp, -kCodeScoreClamp));
        const int64_t a0 = static_cast<int64_t>(s0);
        s0 = static_cast<uint64_t>(a0 + ((-a0) >> 2));
      } else {
        bw = BitWidthSmall(x);
        const int bw1 = BitWidthSmall(x - 1);
        // The chosen form's cost is `total`; only the other one is needed.
        int64_t diff;
        if (static_cast<int64_t>(s2) < 0) {
          const uint64_t qp = x >> kp;
          diff = total - (qp < static_cast<uint64_t>(kRiceLimit)
                              ? static_cast<int64_t>(qp) + 1 + kp
                              : kRiceLimit + 6 + bw);
        } else {
          const uint64_t qf = (x - 1) >> kf;
          diff = (qf < static_cast<uint64_t>(kRiceLimit)
                      ? static_cast<int64_t>(qf) + 2 + kf
                      : kRiceLimit + 7 + bw1) -
                 total;
        }
        s2 = static_cast<uint64_t>(Clamp(static_cast<int64_t>(s2) + diff,
                                         -kCodeScoreClamp, kCodeScoreClamp));
        const int64_t a0 = static_cast<int64_t>(s0);
        s0 = static_cast<uint64_t>(a0 + ((int64_t{bw} * 16 - a0) >> 2));
        const int64_t a1 = static_cast<int64_t>(s1);
        s1 = static_cast<uint64_t>(a1 + ((int64_t{bw1} * 16 - a1) >> 2));
      }
      flag_next = x == 0;
    }
  value:
    DecimalStep(x, bw, &prev_int, &avg, &score);
    const double d =
        static_cast<double>(static_cast<int64_t>(prev_int << shift));
    out->v = kInt ? d : d / divisor;
    ++out;
    if (pos >= lim) {
      *crossed = true;
      break;
    }
  }
  st->pos = pos;
  st->s0 = s0;
  st->s1 = s1;
  st->s2 = s2;
  st->prev_int = prev_int;
  st->avg = avg;
  st->score = score;
  st->flag_next = flag_next;
  st->run_left = run_left;
  return static_cast<int>(out - start);
}

}  // namespace

// DecodeNext for samples 2.. in a loop that keeps the state in local
// variables (the member functions keep it in *this: a store and a reload
// per field). The loop handles the common codes itself: timestamps in runs
// or ordinary residuals, run flags, decimal values with ordinary residuals
// of up to 57 bits. Everything else (float mode, control codes, escaped or
// very long residuals) goes through the member functions after the locals
// are written back, so the rare paths exist once and the loop stays small
// enough for the compiler to keep its hot state in registers.
//
// Bits are read from `base`, whose byte 0 is the stream's byte
// `bias / 8`: the chunk itself up to `limit` (a sample starting before it
// cannot read past the chunk), or tail_, the zero-padded last bytes.
// Returns true when it stopped (end, failure, sample past maxt), false at
// `limit`. Must stay in step with DecodeNext: the chunk_test property tests
// compare both paths.
template <bool kTail>
__attribute__((noinline)) bool ChunkDecoder::DecodeRangeFast(
    const unsigned char* base, size_t bias, size_t limit, int64_t mint,
    int64_t maxt, std::vector<Sample>* out, Sample* batch, int* batch_len) {
  constexpr int kBatch = 64;
  // Hot state in locals; state that only the rare paths change (mode,
  // scale, shift, the run bookkeeping) stays in the members.
  size_t pos = bit_offset_ - bias;
  const size_t end_bits = size_bits_ - bias;
  int left = num_samples_ - read_;
  uint64_t t = static_cast<uint64_t>(t_);
  double v = v_;
  uint64_t grid = grid_t_, interval = interval_;
  uint64_t vs0 = v_stats_[0], vs1 = v_stats_[1], vs2 = v_stats_[2],
           vage = v_stats_[3];
  uint64_t prev_int = prev_int_, avg = avg_delta_;
  int32_t score = predictor_score_;
  int t_run_left = t_run_left_, v_run_left = v_run_left_;
  int n = *batch_len;
  bool stopped = true;

  // Writes the locals back (before the member functions run and at the
  // end); `load` reads back what ReadValue may change.
  auto store = [&]() __attribute__((always_inline)) {
    bit_offset_ = pos + bias;
    read_ = num_samples_ - left;
    t_ = static_cast<int64_t>(t);
    v_ = v;
    grid_t_ = grid;
    interval_ = interval;
    v_stats_[0] = vs0;
    v_stats_[1] = vs1;
    v_stats_[2] = vs2;
    v_stats_[3] = vage;
    prev_int_ = prev_int;
    avg_delta_ = avg;
    predictor_score_ = score;
    t_run_left_ = static_cast<uint16_t>(t_run_left);
    v_run_left_ = static_cast<uint16_t>(v_run_left);
  };
  auto load = [&]() __attribute__((always_inline)) {
    pos = bit_offset_ - bias;
    v = v_;
    vs0 = v_stats_[0];
    vs1 = v_stats_[1];
    vs2 = v_stats_[2];
    vage = v_stats_[3];
    prev_int = prev_int_;
    avg = avg_delta_;
    score = predictor_score_;
  };
  // A run's count after its flag bit (as ReadRun); false on an empty run.
  auto start_run = [&](uint64_t w, int* run_left, bool* run_full,
                       uint8_t* run_bits, bool* flag_next, bool* after_short)
      __attribute__((always_inline)) {
    const int bits = *run_bits;
    const int len = static_cast<int>((w << 1) >> (64 - bits));
    pos += static_cast<size_t>(1 + bits);
    if (len == 0) return false;
    *run_left = len - 1;
    *run_full = len == RunMax(bits);
    *run_bits = NextRunBits(static_cast<uint64_t>(len));
    *flag_next = *run_left == 0 ? *run_full : true;
    *after_short = *run_left == 0 && !*run_full;
    return true;
  };

  // A sample must end before hot_lim for the inner loop to take it: in
  // the first pass so that it starts in the in-place region, in the tail
  // pass so that truncation is reported by the general path below.
  const size_t hot_lim = kTail ? end_bits + 1 : limit;
  for (; left > 0; --left) {
    if (!kTail && pos >= limit) {
      stopped = false;
      break;
    }
    // The common case on its own: the timestamp is in a run (on time) and
    // the value an ordinary decimal residual, possibly after a "no run"
    // flag. The inner loop keeps only what that case needs in registers
    // and hands any other sample, before consuming any of it, to the
    // general code below.
    if (t_run_left > 0 && mode_ == kDecimal && mint <= maxt) {
      // How many of the next samples lie in [mint, maxt] (t increases by
      // `interval` while in the run; corrupt intervals go the general way).
      int cnt = 0;
      if (static_cast<int64_t>(interval) > 0 &&
          static_cast<int64_t>(t) < maxt) {
        const uint64_t k =
            (static_cast<uint64_t>(maxt) - t) / interval;  // no overflow
        if (k > 0 && static_cast<int64_t>(t + interval) >= mint) {
          cnt = std::min(std::min(left, t_run_left), kBatch - n);
          if (k < static_cast<uint64_t>(cnt)) cnt = static_cast<int>(k);
        }
      }
      HotState st{pos,
                  vs0,
                  vs1,
                  vs2,
                  prev_int,
                  avg,
                  score,
                  v_run_left,
                  v_flag_next_,
                  v_run_full_,
                  v_run_bits_,
                  vage >= 2 && vs0 < kSteadyMaxAvg && vs1 < kSteadyMaxAvg};
      bool crossed = false;
      int done = 0;
      if (cnt > 0) {
        done = scale_ == 0
                   ? HotLoop<true>(base, &st, cnt, hot_lim, shift_, 1.0,
                                   batch + n, &crossed)
                   : HotLoop<false>(base, &st, cnt, hot_lim, shift_,
                                    kPow10[scale_], batch + n, &crossed);
      }
      if (done > 0) {
        for (int i = 0; i < done; ++i) {
          t += interval;
          batch[n + i].t = static_cast<int64_t>(t);
        }
        pos = st.pos;
        vs0 = st.s0;
        vs1 = st.s1;
        vs2 = st.s2;
        prev_int = st.prev_int;
        avg = st.avg;
        score = st.score;
        v_flag_next_ = st.flag_next;
        v_run_left = st.run_left;
        v_run_full_ = st.run_full;
        v_run_bits_ = st.run_bits;
        if (kTail && crossed) {
          // The last sample ends past the chunk: truncated, as the general
          // code below would report it.
          store();
          read_ = num_samples_ - left + done - 1;
          Fail("truncated");
          *batch_len = n + done - 1;
          return true;
        }
        n += done;
        left -= done;
        t_run_left -= done;
        grid = t;
        prev_err_ = 0;
        if (t_run_left == 0) {
          t_flag_next_ = t_run_full_;
          t_after_short_ = !t_run_full_;
        }
        if (n == kBatch) {
          out->insert(out->end(), batch, batch + n);
          n = 0;
        }
        ++left;  // the loop's --left
        continue;
      }
    }
    // Timestamp.
    const uint64_t pred = grid + interval;
    if (__builtin_expect(t_run_left > 0, 1)) {
      if (--t_run_left == 0) {
        t_flag_next_ = t_run_full_;
        t_after_short_ = !t_run_full_;
      }
      // A zero residual: AdvanceGrid with err == 0.
      t = pred;
      grid = pred;
      prev_err_ = 0;
    } else {
      bool covered = false;
      if (t_flag_next_) {
        const uint64_t w = Peek57(base, pos);
        if (w >> 63) {
          if (!start_run(w, &t_run_left, &t_run_full_, &t_run_bits_,
                         &t_flag_next_, &t_after_short_)) {
            store();
            Fail("empty run");
            break;
          }
          covered = true;
        } else {
          pos += 1;
        }
      }
      uint64_t err = 0;
      if (!covered) {
        uint64_t u;
        int bits, width;
        if (__builtin_expect(
                FastCode(Peek57(base, pos), kPeekBits, t_stats_[0], t_stats_[1],
                         t_stats_[2], t_stats_[3], &u, &bits, &width),
                1)) {
          pos += static_cast<size_t>(bits);
        } else {
          store();
          int escape;
          u = ReadCodedCold(t_stats_, &escape);
          if (escape != kEscNone) {
            Fail("escape in timestamp");
            break;
          }
          pos = bit_offset_ - bias;
        }
        err = UnZigZag(u);
        t_flag_next_ = u == 0 || t_after_short_;
        t_after_short_ = false;
      }
      const uint64_t prev_t = t;
      t = pred + err;
      AdvanceGrid(t, prev_t, pred, err, &grid, &interval, &prev_err_);
    }
    // Value.
    if (__builtin_expect(v_run_left > 0, 0)) {
      if (--v_run_left == 0) v_flag_next_ = v_run_full_;
      goto zero_value;
    }
    if (v_flag_next_) {
      const uint64_t w = Peek57(base, pos);
      if (w >> 63) {
        if (!start_run(w, &v_run_left, &v_run_full_, &v_run_bits_,
                       &v_flag_next_, &v_after_short_)) {
          store();
          Fail("empty run");
          break;
        }
        goto zero_value;
      }
      pos += 1;
    }
    {
      uint64_t u;
      int bits, width;
      if (__builtin_expect(
              mode_ == kDecimal && FastCode(Peek57(base, pos), kPeekBits, vs0,
                                            vs1, vs2, vage, &u, &bits, &width),
              1)) {
        pos += static_cast<size_t>(bits);
        DecimalStep(u, width, &prev_int, &avg, &score);
        v = FromDecimal(prev_int << shift_, scale_);
        v_flag_next_ = u == 0;
      } else {
        store();
        bool zero;
        if (!ReadValueCold(&zero)) break;
        v_flag_next_ = zero;
        load();
      }
      goto value_done;
    }
  zero_value:
    if (mode_ == kDecimal) {
      const uint64_t ravg = RoundedAvg(avg);
      const uint64_t m = score < 0 ? prev_int + ravg : prev_int;
      UpdatePredictor(m, &prev_int, &avg, &score);
      v = FromDecimal(m << shift_, scale_);
    } else {
      v = BitsDouble(prev_bits_);
    }
  value_done:
    if (pos > end_bits) {
      store();
      Fail("truncated");
      break;
    }
    // The sample past maxt stays current, as after a Seek.
    if (static_cast<int64_t>(t) > maxt) {
      --left;
      store();
      *batch_len = n;
      return true;
    }
    if (static_cast<int64_t>(t) >= mint) {
      batch[n++] = Sample{static_cast<int64_t>(t), v};
      if (n == kBatch) {
        out->insert(out->end(), batch, batch + n);
        n = 0;
      }
    }
  }
  if (!done_) store();
  *batch_len = n;
  return stopped;
}

}  // namespace vigil::tsdb::chunkenc
