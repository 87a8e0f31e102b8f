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

inline void UpdatePredictor(uint64_t m, uint64_t* prev, uint64_t* avg,
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
    if (cap_ > kInline) std::free(heap_);
    size_ = o.size_;
    cap_ = o.cap_;
    std::memcpy(inline_, o.inline_, kInline);
    o.size_ = 0;
    o.cap_ = kInline;
    std::memset(o.inline_, 0, kInline);
  }
  return *this;
}

void ChunkEncoder::Buffer::Grow(size_t need) {
  // About 1.25x, rounded up to what glibc's malloc hands out anyway
  // (16-byte classes minus its 8-byte header), at least 24: an open chunk
  // lives for minutes to hours, so slack costs more than a few more
  // reallocations of a few hundred bytes.
  size_t cap = std::max<size_t>(need, cap_ + cap_ / 4);
  cap = std::max<size_t>(((cap + 8 + 15) & ~size_t{15}) - 8, 24);
  char* p;
  if (cap_ > kInline) {
    p = static_cast<char*>(std::realloc(heap_, cap));
  } else {
    p = static_cast<char*>(std::malloc(cap));
    if (p != nullptr) std::memcpy(p, inline_, size_);
  }
  if (p == nullptr) throw std::bad_alloc();
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

void ChunkEncoder::WriteBits(uint64_t bits, int n) {
  // Most codes are short and fit the partly filled last byte.
  if (bit_pos_ != 0 && n <= 8 - bit_pos_) {
    buf_.back() =
        static_cast<char>(static_cast<unsigned char>(buf_.back()) |
                          ((bits & LowMask(n)) << (8 - bit_pos_ - n)));
    bit_pos_ = static_cast<uint8_t>((bit_pos_ + n) & 7);
    return;
  }
  if (n <= 0) return;
  bits &= LowMask(n);
  if (bit_pos_ != 0) {  // fill the partial byte with the top bits
    n -= 8 - bit_pos_;
    buf_.back() = static_cast<char>(static_cast<unsigned char>(buf_.back()) |
                                    (bits >> n));
    bits &= LowMask(n);
    bit_pos_ = 0;
  }
  // Byte-aligned now; n <= 64, so at most 8 more bytes.
  char tmp[8];
  size_t k = 0;
  while (n >= 8) {
    n -= 8;
    tmp[k++] = static_cast<char>(bits >> n);
  }
  if (n > 0) {
    tmp[k++] = static_cast<char>(bits << (8 - n));
    bit_pos_ = static_cast<uint8_t>(n);
  }
  buf_.append(tmp, k);
}

// 6-bit (width - 1), then the value in `width` bits; width >= 1.
void ChunkEncoder::WriteWide(uint64_t x) {
  const int width = std::max(BitWidth(x), 1);
  WriteBits(static_cast<uint64_t>(width - 1), 6);
  WriteBits(x, width);
}

void ChunkEncoder::WriteCoded(uint64_t u, uint64_t* stats) {
  const Coding c = ChooseCoding(stats);
  uint64_t x = u;
  if (c.zero_flag) {
    if (u == 0) {
      WriteBits(0, 1);
      UpdateStats(u, c, stats);
      return;
    }
    WriteBits(1, 1);
    x = u - 1;
  }
  const int k = c.k();
  const uint64_t q = x >> k;
  if (q < static_cast<uint64_t>(kRiceLimit)) {
    // q ones and a terminating zero, then the k low bits.
    WriteBits((uint64_t{1} << (q + 1)) - 2, static_cast<int>(q) + 1);
    WriteBits(x & LowMask(k), k);
  } else {
    WriteBits(LowMask(kRiceLimit), kRiceLimit);
    WriteWide(x);
  }
  UpdateStats(u, c, stats);
}

void ChunkEncoder::WriteEscape(int kind, const uint64_t* stats) {
  if (ChooseCoding(stats).zero_flag) WriteBits(1, 1);
  WriteBits(LowMask(kRiceLimit), kRiceLimit);
  WriteBits(static_cast<uint64_t>(kind), 6);
}

void ChunkEncoder::WriteHeader() {
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

void ChunkEncoder::RewriteBits(size_t pos, uint64_t bits, int n) {
  // Run counts (n <= 8) span at most two bytes: patch them as one 16-bit
  // big-endian window instead of bit by bit.
  const size_t b = pos >> 3;
  const int off = static_cast<int>(pos & 7);
  if (n <= 8 && off + n <= 16 && b + (off + n > 8 ? 1 : 0) < buf_.size()) {
    auto* p = reinterpret_cast<unsigned char*>(&buf_[b]);
    const bool two = off + n > 8;
    uint32_t w = two ? (uint32_t{p[0]} << 8) | p[1] : uint32_t{p[0]} << 8;
    const int sh = 16 - off - n;
    const uint32_t mask = static_cast<uint32_t>(LowMask(n)) << sh;
    w = (w & ~mask) | ((static_cast<uint32_t>(bits) << sh) & mask);
    p[0] = static_cast<unsigned char>(w >> 8);
    if (two) p[1] = static_cast<unsigned char>(w);
    return;
  }
  for (int i = 0; i < n; ++i) {
    const size_t p = pos + i;
    const unsigned char mask = static_cast<unsigned char>(0x80u >> (p & 7));
    unsigned char& byte = reinterpret_cast<unsigned char&>(buf_[p >> 3]);
    if ((bits >> (n - 1 - i)) & 1) {
      byte |= mask;
    } else {
      byte &= static_cast<unsigned char>(~mask);
    }
  }
}

// Runs. Timestamps and values each have their own: after a zero residual
// (flag_next), the next code of that stream starts with a flag bit; '1'
// opens a run: a count (NextRunBits wide) of consecutive zero residuals,
// starting with this sample. The encoder keeps the count in place up to date
// while the run grows, so Bytes() is decodable at every point. A run shorter
// than its maximum is always followed by a non-zero residual (or the end), so
// no flag follows it. Sets *in_run when this sample's residual is covered by a
// run (and nothing else must be written for it).
void ChunkEncoder::StartOrExtendRun(bool zero, bool* flag_next,
                                    uint16_t* run_len, uint8_t* run_bits,
                                    uint32_t* run_pos, bool resume,
                                    bool* in_run) {
  *in_run = false;
  if (*run_len > 0 && *run_len < RunMax(*run_bits) && zero) {
    ++*run_len;
    RewriteBits(*run_pos, *run_len, *run_bits);
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

void ChunkEncoder::Append(int64_t t, double v) {
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
    AppendValue(v);
  } else {
    AppendTimestamp(t);
    bool in_run;
    const bool zero = ValueIsZero(v);
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
      AppendValue(v);
    }
  }
  ++num_samples_;
  WriteHeader();
}

void ChunkEncoder::AppendTimestamp(int64_t t) {
  const uint64_t ut = static_cast<uint64_t>(t);
  const uint64_t pred = grid_t_ + interval_;
  const uint64_t err = ut - pred;
  bool in_run;
  StartOrExtendRun(err == 0, &t_flag_next_, &t_run_len_, &t_run_bits_,
                   &t_run_pos_, /*resume=*/true, &in_run);
  if (!in_run) WriteCoded(ZigZag(err), t_stats_);
  AdvanceGrid(ut, prev_t_, pred, err, &grid_t_, &interval_, &prev_err_);
  prev_t_ = ut;
}

bool ChunkEncoder::DecimalAtScale(double v, uint64_t* m) {
  const uint64_t bits = DoubleBits(v);
  if (probe_scale_ != scale_ || probe_bits_ != bits) {
    probe_ok_ = ToDecimalAt(v, scale_, &probe_m_);
    probe_bits_ = bits;
    probe_scale_ = scale_;
  }
  *m = probe_m_;
  return probe_ok_;
}

// True when AppendValue would code v as a zero residual (no control code).
bool ChunkEncoder::ValueIsZero(double v) {
  if (mode_ == kFloat) return DoubleBits(v) == prev_bits_;
  uint64_t m = 0;
  if (!DecimalAtScale(v, &m) || (m & LowMask(shift_)) != 0) return false;
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
bool ChunkEncoder::AppendDecimal(uint64_t m) {
  const uint64_t ms = static_cast<uint64_t>(static_cast<int64_t>(m) >> shift_);
  const uint64_t pred = PredictDecimal(prev_int_, avg_delta_, predictor_score_);
  WriteCoded(ZigZag(ms - pred), v_stats_);
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

// Returns true when the value was coded as a zero residual.
bool ChunkEncoder::AppendValue(double v) {
  uint64_t m = 0;
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
  if (!DecimalAtScale(v, &m)) {
    if (scale_ < kMaxScale && FindScale(v, scale_ + 1, &scale, &m)) {
      WriteEscape(kEscScale, v_stats_);
      WriteBits(static_cast<uint64_t>(scale), kScaleBits);
      const uint64_t p = Pow10Wrapped(scale - scale_);
      prev_int_ *= p;
      avg_delta_ *= p;
      AdjustWidths(53 * (scale - scale_), v_stats_);
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
    ApplyShift(shift_, new_shift, &prev_int_, &avg_delta_, v_stats_);
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
  tail_start_ = size > 16 ? size - 16 : 0;
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
    DecodeRangeFast(mint, maxt, out, batch, &n);
  }
  out->insert(out->end(), batch, batch + n);
  if (read_ >= num_samples_) done_ = true;
  return status();
}

// The same decoding as DecodeNext for samples 2.., with the whole state in
// local variables (the member functions keep it in *this, which costs a
// store and a reload per field read) and a buffered bit reader: `w` holds
// the stream from bit `pos` on, of which the top `avail` bits are valid, so
// consuming a field is a shift instead of a dependent load; the buffer is
// refilled from memory (PeekAt) only when a field needs more bits.
// Must stay in step with DecodeNext / ReadValue / ReadCoded / ReadRun: the
// chunk_test property tests compare both paths on every chunk.
void ChunkDecoder::DecodeRangeFast(int64_t mint, int64_t maxt,
                                   std::vector<Sample>* out, Sample* batch,
                                   int* batch_len) {
  constexpr int kBatch = 64;
  size_t pos = bit_offset_;
  uint64_t w = 0;
  int avail = 0;
  int read = read_;
  const int num = num_samples_;
  uint64_t t = static_cast<uint64_t>(t_);
  double v = v_;
  uint64_t grid = grid_t_, interval = interval_, prev_err = prev_err_;
  uint64_t ts[4] = {t_stats_[0], t_stats_[1], t_stats_[2], t_stats_[3]};
  uint64_t vs[4] = {v_stats_[0], v_stats_[1], v_stats_[2], v_stats_[3]};
  uint64_t prev_bits = prev_bits_, prev_int = prev_int_, avg = avg_delta_;
  int32_t score = predictor_score_;
  int leading = leading_, trailing = trailing_;
  uint8_t mode = mode_;
  int scale = scale_, shift = shift_;
  bool t_flag_next = t_flag_next_, v_flag_next = v_flag_next_;
  bool t_run_full = t_run_full_, v_run_full = v_run_full_;
  int t_run_left = t_run_left_, v_run_left = v_run_left_;
  int t_run_bits = t_run_bits_, v_run_bits = v_run_bits_;
  bool t_after_short = t_after_short_, v_after_short = v_after_short_;
  int n = *batch_len;

  auto store = [&]() __attribute__((always_inline)) {
    bit_offset_ = pos;
    read_ = read;
    t_ = static_cast<int64_t>(t);
    v_ = v;
    grid_t_ = grid;
    interval_ = interval;
    prev_err_ = prev_err;
    for (int i = 0; i < 4; ++i) {
      t_stats_[i] = ts[i];
      v_stats_[i] = vs[i];
    }
    prev_bits_ = prev_bits;
    prev_int_ = prev_int;
    avg_delta_ = avg;
    predictor_score_ = score;
    leading_ = static_cast<uint8_t>(leading);
    trailing_ = static_cast<uint8_t>(trailing);
    mode_ = mode;
    scale_ = static_cast<int8_t>(scale);
    shift_ = static_cast<uint8_t>(shift);
    t_flag_next_ = t_flag_next;
    v_flag_next_ = v_flag_next;
    t_run_full_ = t_run_full;
    v_run_full_ = v_run_full;
    t_run_left_ = static_cast<uint16_t>(t_run_left);
    v_run_left_ = static_cast<uint16_t>(v_run_left);
    t_run_bits_ = static_cast<uint8_t>(t_run_bits);
    v_run_bits_ = static_cast<uint8_t>(v_run_bits);
    t_after_short_ = t_after_short;
    v_after_short_ = v_after_short;
    *batch_len = n;
  };
  auto refill = [&]() __attribute__((always_inline)) {
    w = PeekAt(pos);
    avail = 64;
  };
  auto consume = [&](int bits) __attribute__((always_inline)) {
    w = bits >= 64 ? 0 : w << bits;
    avail -= bits;
    pos += static_cast<size_t>(bits);
  };
  // Reads 0..64 bits.
  auto read_bits = [&](int bits) __attribute__((always_inline))->uint64_t {
    if (bits > avail) refill();
    const uint64_t r = bits ? w >> (64 - bits) : 0;
    consume(bits);
    return r;
  };
  auto read_wide = [&]() __attribute__((always_inline))->uint64_t {
    const int width = static_cast<int>(read_bits(6)) + 1;
    return read_bits(width);
  };
  // As ReadCoded.
  auto read_coded = [&](uint64_t * stats, int* escape)
                        __attribute__((always_inline))
                            ->uint64_t {
    const Coding c = ChooseCoding(stats);
    if (avail < 32) refill();
    uint64_t x;
    for (;;) {
      uint64_t ww = w;
      int used = 0;
      if (c.zero_flag) {
        if ((ww >> 63) == 0) {
          consume(1);
          *escape = kEscNone;
          UpdateStats(0, c, stats);
          return 0;
        }
        ww <<= 1;
        used = 1;
      }
      // Bits past `avail` are zeros, so a terminator found there makes
      // `total` exceed `avail`, and the code is decoded again after a refill.
      const int q = ~ww ? __builtin_clzll(~ww) : 64;
      if (q < kRiceLimit) {
        const int k = c.k();
        const int total = used + q + 1 + k;
        if (total <= avail) {
          // The k bits after the terminator; shifting in two steps keeps
          // k == 0 (a shift by 64) defined without a branch.
          x = (static_cast<uint64_t>(q) << k) |
              (((ww << (q + 1)) >> 1) >> (63 - k));
          // As consume(total); 1 <= total <= 64, so two shifts stay
          // defined without consume's check for 64.
          w = (w << (total - 1)) << 1;
          avail -= total;
          pos += static_cast<size_t>(total);
          break;
        }
        if (avail < 64) {
          refill();
          continue;
        }
        consume(used + q + 1);
        x = (static_cast<uint64_t>(q) << k) | read_bits(k);
        break;
      }
      consume(used + kRiceLimit);  // avail >= 32 > used + kRiceLimit
      const int field = static_cast<int>(read_bits(6));
      if (field < 4) {
        *escape = field;
        return 0;
      }
      x = read_bits(field + 1);
      break;
    }
    const uint64_t u = c.zero_flag ? x + 1 : x;
    *escape = kEscNone;
    UpdateStats(u, c, stats);
    return u;
  };
  // As ReadRun; sets *fail on an empty run.
  auto read_run = [&](bool* flag_next, int* run_left, bool* run_full,
                      int* run_bits, bool* after_short, const char** fail)
                      __attribute__((always_inline))
                          ->bool {
    if (*run_left > 0) {
      --*run_left;
      if (*run_left == 0) {
        *flag_next = *run_full;
        *after_short = !*run_full;
      }
      return true;
    }
    if (!*flag_next) return false;
    if (read_bits(1) == 0) return false;
    const int len = static_cast<int>(read_bits(*run_bits));
    if (len == 0) {
      *fail = "empty run";
      return true;
    }
    *run_left = len - 1;
    *run_full = len == RunMax(*run_bits);
    *run_bits = NextRunBits(static_cast<uint64_t>(len));
    *flag_next = *run_left == 0 ? *run_full : true;
    *after_short = *run_left == 0 && !*run_full;
    return true;
  };
  // As ReadValue; returns a failure or nullptr.
  auto read_value = [&](bool* zero) __attribute__((always_inline))
                        ->const char* {
    *zero = false;
    if (mode == kFloat) {
      if (avail < 3) refill();
      if ((w >> 63) == 0) {
        consume(1);
        v = BitsDouble(prev_bits);
        *zero = true;
        return nullptr;
      }
      const int prefix = static_cast<int>(w >> 61);
      uint64_t x;
      if (prefix == 0b100 || prefix == 0b101) {
        consume(2);
        if (leading == 0xff) return "float window reused before set";
        x = read_bits(64 - leading - trailing) << trailing;
      } else if (prefix == 0b110) {
        consume(3);
        const int lead = static_cast<int>(read_bits(6));
        const int sig = static_cast<int>(read_bits(6)) + 1;
        if (lead + sig > 64) return "float window out of range";
        leading = lead;
        trailing = 64 - lead - sig;
        x = read_bits(sig) << trailing;
      } else {
        consume(3);
        const int s = static_cast<int>(read_bits(kScaleBits));
        if (s > kMaxScale) return "decimal scale out of range";
        const uint64_t m = UnZigZag(read_wide());
        mode = kDecimal;
        scale = s;
        shift = InitialShift(m);
        prev_int = static_cast<uint64_t>(static_cast<int64_t>(m) >> shift);
        avg = 0;
        score = 0;
        v = FromDecimal(m, s);
        return nullptr;
      }
      prev_bits ^= x;
      v = BitsDouble(prev_bits);
      return nullptr;
    }
    bool escaped = false;
    for (;;) {
      int escape;
      const uint64_t u = read_coded(vs, &escape);
      if (escape == kEscNone) {
        const uint64_t m = PredictDecimal(prev_int, avg, score) + UnZigZag(u);
        UpdatePredictor(m, &prev_int, &avg, &score);
        v = FromDecimal(m << shift, scale);
        *zero = u == 0 && !escaped;
        return nullptr;
      }
      switch (escape) {
        case kEscException:
          v = BitsDouble(read_bits(64));
          return nullptr;
        case kEscScale: {
          const int s = static_cast<int>(read_bits(kScaleBits));
          if (s <= scale || s > kMaxScale) return "decimal scale out of range";
          const uint64_t p = Pow10Wrapped(s - scale);
          prev_int *= p;
          avg *= p;
          AdjustWidths(53 * (s - scale), vs);
          scale = s;
          escaped = true;
          continue;
        }
        case kEscFloat:
          prev_bits = read_bits(64);
          mode = kFloat;
          leading = 0xff;
          v = BitsDouble(prev_bits);
          return nullptr;
        case kEscShift: {
          const int s = static_cast<int>(read_bits(6));
          if (s == shift) return "decimal shift unchanged";
          ApplyShift(shift, s, &prev_int, &avg, vs);
          shift = s;
          escaped = true;
          continue;
        }
        default:
          return "unknown value escape";
      }
    }
  };

  const char* fail = nullptr;
  while (read < num) {
    const uint64_t prev_t = t;
    const uint64_t pred = grid + interval;
    uint64_t err = 0;
    if (!read_run(&t_flag_next, &t_run_left, &t_run_full, &t_run_bits,
                  &t_after_short, &fail)) {
      int escape;
      const uint64_t u = read_coded(ts, &escape);
      if (escape != kEscNone) {
        fail = "escape in timestamp";
        break;
      }
      err = UnZigZag(u);
      t_flag_next = u == 0 || t_after_short;
      t_after_short = false;
    }
    if (fail != nullptr) break;
    t = pred + err;
    AdvanceGrid(t, prev_t, pred, err, &grid, &interval, &prev_err);
    if (read_run(&v_flag_next, &v_run_left, &v_run_full, &v_run_bits,
                 &v_after_short, &fail)) {
      if (fail != nullptr) break;
      if (mode == kDecimal) {
        const uint64_t m = PredictDecimal(prev_int, avg, score);
        UpdatePredictor(m, &prev_int, &avg, &score);
        v = FromDecimal(m << shift, scale);
      } else {
        v = BitsDouble(prev_bits);
      }
    } else {
      bool v_zero;
      fail = read_value(&v_zero);
      if (fail != nullptr) break;
      v_flag_next = v_zero;
    }
    if (pos > size_bits_) {
      fail = "truncated";
      break;
    }
    ++read;
    // The sample past maxt stays current, as after a Seek.
    if (static_cast<int64_t>(t) > maxt) break;
    if (static_cast<int64_t>(t) >= mint) {
      batch[n++] = Sample{static_cast<int64_t>(t), v};
      if (n == kBatch) {
        out->insert(out->end(), batch, batch + n);
        n = 0;
      }
    }
  }
  store();
  if (fail != nullptr) Fail(fail);
}

}  // namespace vigil::tsdb::chunkenc
