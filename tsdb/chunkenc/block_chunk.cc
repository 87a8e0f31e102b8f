#include "tsdb/chunkenc/block_chunk.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tsdb/chunkenc/decimal.h"

namespace vigil::tsdb::chunkenc {
namespace {

constexpr int kCountBits = 4;  // nonzero residuals in a block, 0..16
constexpr int kPosBits = 4;    // a sparse residual's index in its block
constexpr int kWidthBits = 6;  // residual width - 1
constexpr int kDecimalParamBits = 1 + 1 + 5 + 6 + 1;
constexpr int kFloatParamBits = 1 + 1 + 6;
static_assert(kBlockSize == 16, "kCountBits/kPosBits assume 16");

inline uint64_t ZigZag(uint64_t x) {
  return (x << 1) ^ static_cast<uint64_t>(static_cast<int64_t>(x) >> 63);
}
inline uint64_t UnZigZag(uint64_t u) { return (u >> 1) ^ (0 - (u & 1)); }
inline int BitWidth(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }
inline uint64_t Mask(int n) {
  return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
}

inline uint64_t Load64(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

// Smallest scale at which v is an exact decimal, or -1.
int MinScale(double v) {
  if (!std::isfinite(v)) return -1;
  uint64_t m;
  for (int k = 0; k <= kMaxScale; ++k) {
    if (ToDecimalAt(v, k, &m)) return k;
    if (!(std::fabs(v * kPow10[k]) < 9.2e18)) return -1;
  }
  return -1;
}

// Appends bits least-significant first to a string that holds exactly
// `nbits` bits of stream (after the header), the last byte zero-padded.
// Bits collect in a 64-bit accumulator and whole words in a local buffer;
// Flush() appends them and must be called before the string is used.
class Writer {
 public:
  Writer(std::string* s, size_t nbits) : s_(s), nbits_(nbits) {
    acc_bits_ = static_cast<int>(nbits & 7);
    if (acc_bits_ != 0) {
      acc_ = static_cast<unsigned char>(s->back()) & Mask(acc_bits_);
      s->pop_back();
    }
  }
  // v < 2^n, n <= 64.
  void Put(uint64_t v, int n) {
    if (n == 0) return;
    nbits_ += static_cast<size_t>(n);
    acc_ |= v << acc_bits_;
    if (acc_bits_ + n < 64) {
      acc_bits_ += n;
      return;
    }
    StoreWord(acc_);
    acc_ = acc_bits_ == 0 ? 0 : v >> (64 - acc_bits_);
    acc_bits_ = acc_bits_ + n - 64;
  }
  void Flush() {
    s_->append(buf_, len_);
    len_ = 0;
    for (int i = 0; i < acc_bits_; i += 8) {
      s_->push_back(static_cast<char>(acc_ >> i));
    }
    acc_ = 0;
    acc_bits_ = 0;
  }
  void PutWide(uint64_t x) {
    const int w = std::max(1, BitWidth(x));
    Put(static_cast<uint64_t>(w - 1), kWidthBits);
    Put(x, w);
  }
  size_t nbits() const { return nbits_; }

 private:
  void StoreWord(uint64_t w) {
    if (len_ + 8 > sizeof buf_) {
      s_->append(buf_, len_);
      len_ = 0;
    }
    for (int i = 0; i < 8; ++i)
      buf_[len_ + i] = static_cast<char>(w >> (8 * i));
    len_ += 8;
  }

  std::string* s_;
  size_t nbits_;
  uint64_t acc_ = 0;
  int acc_bits_ = 0;
  size_t len_ = 0;
  char buf_[256];
};

struct ResidualShape {
  int nnz = 0;
  int width = 0;
  bool sparse = false;
  int cost = 1;
};

// The shape rule both sides apply: sparse (index + value per nonzero
// residual) when that is strictly shorter than n fixed-width residuals.
inline bool IsSparse(int nnz, int width, int n) {
  return nnz * (kPosBits + width) < n * width;
}

// `last_width`: the width of the stream's previous non-zero block, which
// costs one bit to repeat.
ResidualShape ShapeOf(const uint64_t* r, int n, int last_width) {
  ResidualShape s;
  uint64_t all = 0;
  for (int i = 0; i < n; ++i) {
    all |= r[i];
    s.nnz += r[i] != 0;
  }
  if (s.nnz == 0) return s;
  s.width = BitWidth(all);
  s.sparse = IsSparse(s.nnz, s.width, n);
  s.cost += kCountBits + (s.width == last_width ? 1 : 1 + kWidthBits) +
            (s.sparse ? s.nnz * (kPosBits + s.width) : n * s.width);
  return s;
}

void PutResiduals(Writer* w, const uint64_t* r, int n, const ResidualShape& s,
                  int last_width) {
  if (s.nnz == 0) {
    w->Put(0, 1);
    return;
  }
  w->Put(1, 1);
  w->Put(static_cast<uint64_t>(s.nnz - 1), kCountBits);
  if (s.width == last_width) {
    w->Put(1, 1);
  } else {
    w->Put(0, 1);
    w->Put(static_cast<uint64_t>(s.width - 1), kWidthBits);
  }
  if (s.sparse) {
    for (int i = 0; i < n; ++i) {
      if (r[i] == 0) continue;
      w->Put(static_cast<uint64_t>(i), kPosBits);
      w->Put(r[i], s.width);
    }
  } else {
    for (int i = 0; i < n; ++i) w->Put(r[i], s.width);
  }
}

// Decimal residuals of a block for one choice of base delta.
int DecimalResiduals(const uint64_t* d, int n, uint64_t base, uint64_t* r,
                     uint8_t* shift, ResidualShape* shape, int last_width) {
  int tz = 63;
  for (int i = 0; i < n; ++i) {
    const uint64_t x = d[i] - base;
    if (x != 0) tz = std::min(tz, __builtin_ctzll(x));
  }
  if (tz == 63) tz = 0;
  for (int i = 0; i < n; ++i) {
    r[i] =
        ZigZag(static_cast<uint64_t>(static_cast<int64_t>(d[i] - base) >> tz));
  }
  *shift = static_cast<uint8_t>(tz);
  *shape = ShapeOf(r, n, last_width);
  return shape->cost;
}

}  // namespace

// ---------------------------------------------------------------------------
// BlockChunkEncoder

BlockChunkEncoder::BlockChunkEncoder() { out_.assign(2, '\0'); }

void BlockChunkEncoder::SetCount() {
  const uint32_t n = static_cast<uint32_t>(num_samples_);
  if (n >= 32768 && header_len_ == 2) {
    // Sealed bits are byte-relative to the stream start, so widening the
    // header is a plain move.
    out_.insert(0, 2, '\0');
    header_len_ = 4;
  }
  if (header_len_ == 2) {
    out_[0] = static_cast<char>(n >> 8);
    out_[1] = static_cast<char>(n);
  } else {
    const uint32_t h = n | 0x80000000u;
    out_[0] = static_cast<char>(h >> 24);
    out_[1] = static_cast<char>(h >> 16);
    out_[2] = static_cast<char>(h >> 8);
    out_[3] = static_cast<char>(h);
  }
}

void BlockChunkEncoder::Append(int64_t t, double v) {
  const uint64_t ut = static_cast<uint64_t>(t);
  const uint64_t bits = DoubleBits(v);
  if (num_samples_ == 0) {
    min_time_ = max_time_ = t;
    Writer w(&out_, 0);
    w.PutWide(ZigZag(ut));
    const int scale = MinScale(v);
    uint64_t m = 0;
    if (scale >= 0 && ToDecimalAt(v, scale, &m)) {
      w.Put(0, 1);
      w.Put(static_cast<uint64_t>(scale), 5);
      w.PutWide(ZigZag(m));
    } else {
      w.Put(1, 1);
      w.Put(bits, 64);
    }
    sealed_bits_ = w.nbits();
    w.Flush();
    block_prev_bits_ = bits;
    block_prev_min_scale_ = scale;
    open_scale_ = -2;
    prev_t_ = ut;
    num_samples_ = 1;
    SetCount();
    return;
  }
  if (num_samples_ == 1) {
    Writer w(&out_, sealed_bits_);
    w.PutWide(ut - prev_t_);
    sealed_bits_ = w.nbits();
    w.Flush();
    grid_ = prev_t_;
    interval_ = ut - prev_t_;
  }
  max_time_ = t;
  // Timestamp: distance from the grid; the grid survives one small
  // deviation (a late scrape) so the next on-time sample costs nothing.
  const uint64_t pred = grid_ + interval_;
  const uint64_t err = ut - pred;
  if (err == 0) {
    grid_ = ut;
  } else if (prev_err_ == 0 && ZigZag(err) <= (interval_ >> 3)) {
    grid_ = pred;
  } else {
    grid_ = ut;
    interval_ = ut - prev_t_;
  }
  prev_err_ = err;
  prev_t_ = ut;
  t_res_[open_n_] = ZigZag(err);
  v_bits_[open_n_] = bits;
  TrackScale(v);
  ++open_n_;
  ++num_samples_;
  SetCount();
  EncodeOpenBlock();
  if (open_n_ == kBlockSize) {
    sealed_bits_ = open_end_bits_;
    prev_params_ = open_params_;
    prev_mean_ = open_mean_;
    block_prev_bits_ = v_bits_[kBlockSize - 1];
    block_prev_min_scale_ = MinScale(v);
    open_scale_ = -2;
    t_last_width_ = open_t_width_;
    v_last_width_ = open_v_width_;
    open_n_ = 0;
  }
}

// Keeps open_scale_ at the smallest scale >= the previous value's at which
// the previous value and every value of the open block are exact decimals
// (-1: none), and open_m_ the mantissas at that scale. One multiply and
// divide per sample unless the scale grows.
void BlockChunkEncoder::TrackScale(double v) {
  if (open_scale_ == -2) {  // the block's first sample
    open_scale_ = block_prev_min_scale_;
    if (open_scale_ >= 0 && !ToDecimalAt(BitsDouble(block_prev_bits_),
                                         open_scale_, &open_m_prev_)) {
      open_scale_ = -1;
    }
  }
  if (open_scale_ < 0) return;
  uint64_t m;
  if (ToDecimalAt(v, open_scale_, &m)) {
    open_m_[open_n_] = m;
    return;
  }
  const int need = MinScale(v);
  if (need < open_scale_) {
    open_scale_ = -1;
    return;
  }
  open_scale_ = need;
  bool ok = ToDecimalAt(BitsDouble(block_prev_bits_), need, &open_m_prev_);
  for (int i = 0; i < open_n_ && ok; ++i) {
    ok = ToDecimalAt(BitsDouble(v_bits_[i]), need, &open_m_[i]);
  }
  ok = ok && ToDecimalAt(v, need, &open_m_[open_n_]);
  if (!ok) open_scale_ = -1;
}

void BlockChunkEncoder::EncodeOpenBlock() {
  const int n = open_n_;
  // Drop the previous encoding of the open block.
  const size_t keep = static_cast<size_t>(header_len_) + (sealed_bits_ + 7) / 8;
  out_.resize(keep);
  if ((sealed_bits_ & 7) != 0) {
    out_.back() = static_cast<char>(static_cast<unsigned char>(out_.back()) &
                                    Mask(static_cast<int>(sealed_bits_ & 7)));
  }
  Writer w(&out_, sealed_bits_);
  const ResidualShape t_shape = ShapeOf(t_res_, n, t_last_width_);
  PutResiduals(&w, t_res_, n, t_shape, t_last_width_);
  open_t_width_ = t_shape.nnz ? t_shape.width : t_last_width_;

  // Candidate value codings; the cheapest wins.
  uint64_t best_r[kBlockSize], r[kBlockSize];
  ResidualShape best_shape, shape;
  BlockValueParams best;
  int best_cost = 1 << 30;
  int64_t mean = 0;
  const bool have_prev = prev_params_.kind != 0xff;
  auto param_cost = [&](const BlockValueParams& p, int bits) {
    return (have_prev && p == prev_params_) ? 1 : bits;
  };
  const int scale = open_scale_;
  uint64_t d[kBlockSize];
  if (scale >= 0) {
    uint64_t sum = 0;
    uint64_t m_prev = open_m_prev_;
    for (int i = 0; i < n; ++i) {
      d[i] = open_m_[i] - m_prev;
      sum += d[i];
      m_prev = open_m_[i];
    }
    mean = static_cast<int64_t>(sum) / n;
  }
  // The encoder may keep any valid parameters: it re-chooses the cheapest
  // at 1, 2, 4, 8 and 16 samples, and in between only when the new sample
  // does not fit the current ones (O(n) work instead of O(3n) per Append).
  bool choose = (n & (n - 1)) == 0 || open_params_.kind == 0xff;
  if (!choose) {
    const BlockValueParams& p = open_params_;
    if (p.kind == 0) {
      choose =
          scale != p.scale ||
          ((d[n - 1] - (p.use_mean ? static_cast<uint64_t>(prev_mean_) : 0)) &
           Mask(p.shift)) != 0;
    } else {
      const uint64_t x =
          v_bits_[n - 1] ^ (n >= 2 ? v_bits_[n - 2] : block_prev_bits_);
      choose = x != 0 && __builtin_ctzll(x) < p.trailing;
    }
  }
  if (!choose) {
    best = open_params_;
    if (best.kind == 0) {
      const uint64_t base =
          best.use_mean ? static_cast<uint64_t>(prev_mean_) : 0;
      for (int i = 0; i < n; ++i) {
        best_r[i] = ZigZag(static_cast<uint64_t>(
            static_cast<int64_t>(d[i] - base) >> best.shift));
      }
    } else {
      uint64_t prev = block_prev_bits_;
      for (int i = 0; i < n; ++i) {
        best_r[i] = (v_bits_[i] ^ prev) >> best.trailing;
        prev = v_bits_[i];
      }
    }
    best_shape = ShapeOf(best_r, n, v_last_width_);
  }
  if (choose && scale >= 0) {
    {
      BlockValueParams p;
      p.kind = 0;
      p.scale = static_cast<uint8_t>(scale);
      const bool mean_ok = have_prev && prev_params_.kind == 0 &&
                           prev_params_.scale == scale && prev_mean_ != 0;
      for (int use_mean = 0; use_mean <= (mean_ok ? 1 : 0); ++use_mean) {
        p.use_mean = static_cast<uint8_t>(use_mean);
        int c = DecimalResiduals(
            d, n, use_mean ? static_cast<uint64_t>(prev_mean_) : 0, r, &p.shift,
            &shape, v_last_width_);
        c += param_cost(p, kDecimalParamBits);
        if (c < best_cost) {
          best_cost = c;
          best = p;
          best_shape = shape;
          std::memcpy(best_r, r, sizeof(uint64_t) * static_cast<size_t>(n));
        }
      }
    }
  }
  if (choose && scale < 0) {  // float only when decimal is impossible
    uint64_t prev = block_prev_bits_;
    int tz = 63;
    for (int i = 0; i < n; ++i) {
      r[i] = v_bits_[i] ^ prev;
      prev = v_bits_[i];
      if (r[i] != 0) tz = std::min(tz, __builtin_ctzll(r[i]));
    }
    if (tz == 63) tz = 0;
    for (int i = 0; i < n; ++i) r[i] >>= tz;
    BlockValueParams p;
    p.kind = 1;
    p.trailing = static_cast<uint8_t>(tz);
    shape = ShapeOf(r, n, v_last_width_);
    const int c = shape.cost + param_cost(p, kFloatParamBits);
    if (c < best_cost) {
      best_cost = c;
      best = p;
      best_shape = shape;
      std::memcpy(best_r, r, sizeof(uint64_t) * static_cast<size_t>(n));
    }
  }
  if (have_prev && best == prev_params_) {
    w.Put(1, 1);
  } else {
    w.Put(0, 1);
    w.Put(best.kind, 1);
    if (best.kind == 0) {
      w.Put(best.scale, 5);
      w.Put(best.shift, 6);
      w.Put(best.use_mean, 1);
    } else {
      w.Put(best.trailing, 6);
    }
  }
  PutResiduals(&w, best_r, n, best_shape, v_last_width_);
  open_v_width_ = best_shape.nnz ? best_shape.width : v_last_width_;
  open_params_ = best;
  open_mean_ = best.kind == 0 ? mean : 0;
  open_end_bits_ = w.nbits();
  w.Flush();
}

// ---------------------------------------------------------------------------
// BlockChunkDecoder

BlockChunkDecoder::BlockChunkDecoder(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 2) {
    Fail("truncated header");
    return;
  }
  size_t header = 2;
  if (p[0] & 0x80) {
    if (bytes.size() < 4) {
      Fail("truncated header");
      return;
    }
    header = 4;
    num_samples_ = static_cast<int>(((uint32_t{p[0]} & 0x7f) << 24) |
                                    (uint32_t{p[1]} << 16) |
                                    (uint32_t{p[2]} << 8) | uint32_t{p[3]});
  } else {
    num_samples_ = static_cast<int>((uint32_t{p[0]} << 8) | uint32_t{p[1]});
  }
  data_ = p + header;
  size_ = bytes.size() - header;
}

bool BlockChunkDecoder::Fail(const char* what) {
  if (!failed_) {
    failed_ = true;
    status_ = absl::DataLossError(
        absl::StrCat("block chunk: ", what, " at sample ", decoded_, " of ",
                     num_samples_, " (bit ", pos_, " of ", size_ * 8, ")"));
  }
  n_ = 0;
  idx_ = -1;
  return false;
}

uint64_t BlockChunkDecoder::ReadSlow(int n) {
  if (n > 56) {
    const uint64_t lo = Read(32);
    return lo | (Read(n - 32) << 32);
  }
  const size_t byte = pos_ >> 3;
  uint64_t w = 0;
  {
    // Past the end reads zeros; callers check pos_ against size_ once per
    // block.
    for (size_t i = 0; i < 8 && byte + i < size_; ++i) {
      w |= uint64_t{data_[byte + i]} << (8 * i);
    }
  }
  const int off = static_cast<int>(pos_ & 7);
  pos_ += static_cast<size_t>(n);
  return (w >> off) & Mask(n);
}

uint64_t BlockChunkDecoder::ReadWide() {
  const int w = static_cast<int>(Read(kWidthBits)) + 1;
  return Read(w);
}

bool BlockChunkDecoder::ReadResiduals(int n, uint64_t* r, int* last_width,
                                      bool* all_zero) {
  *all_zero = Read(1) == 0;
  if (*all_zero) {
    std::fill(r, r + n, 0);
    return true;
  }
  const int nnz = static_cast<int>(Read(kCountBits)) + 1;
  if (nnz > n) return Fail("residual count exceeds block");
  int width = *last_width;
  if (Read(1) == 0) {
    width = static_cast<int>(Read(kWidthBits)) + 1;
  } else if (width == 0) {
    return Fail("no residual width to repeat");
  }
  *last_width = width;
  if (IsSparse(nnz, width, n)) {
    std::fill(r, r + n, 0);
    int last = -1;
    for (int j = 0; j < nnz; ++j) {
      const int p = static_cast<int>(Read(kPosBits));
      if (p <= last || p >= n) return Fail("bad residual index");
      last = p;
      r[p] = Read(width);
    }
  } else if (width <= 56 &&
             (pos_ + static_cast<size_t>(n * width)) / 8 + 8 <= size_) {
    // Dense and well inside the chunk: unchecked 64-bit loads.
    size_t pos = pos_;
    const uint64_t mask = Mask(width);
    for (int i = 0; i < n; ++i) {
      r[i] = (Load64(data_ + (pos >> 3)) >> (pos & 7)) & mask;
      pos += static_cast<size_t>(width);
    }
    pos_ = pos;
  } else {
    for (int i = 0; i < n; ++i) r[i] = Read(width);
  }
  return true;
}

bool BlockChunkDecoder::DecodeBlock() {
  if (failed_ || decoded_ >= num_samples_) return false;
  if (decoded_ == 0) {
    const uint64_t t0 = UnZigZag(ReadWide());
    if (Read(1) == 0) {
      const int scale = static_cast<int>(Read(5));
      if (scale > kMaxScale) return Fail("bad decimal scale");
      s_[0].v = FromDecimal(UnZigZag(ReadWide()), scale);
    } else {
      s_[0].v = BitsDouble(Read(64));
    }
    s_[0].t = static_cast<int64_t>(t0);
    prev_t_ = grid_ = t0;
    prev_bits_ = DoubleBits(s_[0].v);
    if (num_samples_ >= 2) {
      interval_ = ReadWide();
    }
    if (pos_ > size_ * 8) return Fail("truncated");
    n_ = 1;
    idx_ = -1;
    decoded_ = 1;
    return true;
  }
  const int n = std::min(kBlockSize, num_samples_ - decoded_);
  uint64_t r[kBlockSize];
  bool all_zero;
  if (!ReadResiduals(n, r, &t_last_width_, &all_zero)) return false;
  uint64_t g = grid_, iv = interval_, pe = prev_err_, pt = prev_t_;
  bool bad = false;
  if (all_zero) {
    // Every sample on the grid (the common case): t advances by the
    // interval.
    for (int i = 0; i < n; ++i) {
      const uint64_t t = g + iv;
      bad |= static_cast<int64_t>(t) <= static_cast<int64_t>(pt);
      pt = t;
      g = t;
      s_[i].t = static_cast<int64_t>(t);
    }
    pe = 0;
  }
  for (int i = 0; i < n && !all_zero; ++i) {
    const uint64_t pred = g + iv;
    const uint64_t err = UnZigZag(r[i]);
    const uint64_t t = pred + err;
    if (err == 0) {
      g = t;
    } else if (pe == 0 && r[i] <= (iv >> 3)) {
      g = pred;
    } else {
      g = t;
      iv = t - pt;
    }
    bad |= static_cast<int64_t>(t) <= static_cast<int64_t>(pt);
    pe = err;
    pt = t;
    s_[i].t = static_cast<int64_t>(t);
  }
  grid_ = g;
  interval_ = iv;
  prev_err_ = pe;
  prev_t_ = pt;
  if (bad) return Fail("timestamps not increasing");

  BlockValueParams p;
  if (Read(1) == 1) {
    if (prev_params_.kind == 0xff) return Fail("no parameters to repeat");
    p = prev_params_;
  } else {
    p.kind = static_cast<uint8_t>(Read(1));
    if (p.kind == 0) {
      p.scale = static_cast<uint8_t>(Read(5));
      p.shift = static_cast<uint8_t>(Read(6));
      p.use_mean = static_cast<uint8_t>(Read(1));
      if (p.scale > kMaxScale) return Fail("bad decimal scale");
    } else {
      p.trailing = static_cast<uint8_t>(Read(6));
    }
  }
  if (!ReadResiduals(n, r, &v_last_width_, &all_zero)) return false;
  if (p.kind == 0) {
    uint64_t m;
    if (!ToDecimalAt(BitsDouble(prev_bits_), p.scale, &m)) {
      return Fail("previous value is not decimal at the block's scale");
    }
    uint64_t base = 0;
    if (p.use_mean) {
      if (prev_params_.kind != 0 || prev_params_.scale != p.scale) {
        return Fail("mean delta without a decimal block before");
      }
      base = static_cast<uint64_t>(prev_mean_);
    }
    uint64_t sum = 0;
    const int shift = p.shift;
    const int scale = p.scale;
    for (int i = 0; i < n; ++i) {
      const uint64_t d = (UnZigZag(r[i]) << shift) + base;
      sum += d;
      m += d;
      s_[i].v = FromDecimal(m, scale);
    }
    prev_mean_ = static_cast<int64_t>(sum) / n;
    prev_bits_ = DoubleBits(s_[n - 1].v);
  } else {
    uint64_t bits = prev_bits_;
    for (int i = 0; i < n; ++i) {
      bits ^= r[i] << p.trailing;
      s_[i].v = BitsDouble(bits);
    }
    prev_bits_ = bits;
    prev_mean_ = 0;
  }
  prev_params_ = p;
  if (pos_ > size_ * 8) return Fail("truncated");
  n_ = n;
  idx_ = -1;
  decoded_ += n;
  return true;
}

bool BlockChunkDecoder::Next() {
  if (idx_ + 1 < n_) {
    ++idx_;
    return true;
  }
  if (!DecodeBlock()) return false;
  idx_ = 0;
  return true;
}

bool BlockChunkDecoder::Seek(int64_t t) {
  if (idx_ >= 0 && idx_ < n_ && s_[idx_].t >= t) return true;
  while (Next()) {
    if (s_[idx_].t >= t) return true;
  }
  return false;
}

absl::Status BlockChunkDecoder::DecodeRange(int64_t mint, int64_t maxt,
                                            std::vector<Sample>* out) {
  // The rest of the current block first.
  for (int i = idx_ + 1; i < n_; ++i) {
    if (s_[i].t > maxt) return status_;
    if (s_[i].t >= mint) out->push_back({s_[i].t, s_[i].v});
  }
  idx_ = n_ - 1;
  while (DecodeBlock()) {
    idx_ = n_ - 1;
    if (s_[n_ - 1].t < mint) continue;
    if (s_[0].t >= mint && s_[n_ - 1].t <= maxt) {
      out->insert(out->end(), s_, s_ + n_);
      continue;
    }
    for (int i = 0; i < n_; ++i) {
      if (s_[i].t > maxt) return status_;
      if (s_[i].t >= mint) out->push_back({s_[i].t, s_[i].v});
    }
  }
  return status_;
}

}  // namespace vigil::tsdb::chunkenc
