#include "tsdb/chunkenc/range_chunk.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "tsdb/chunkenc/decimal.h"

namespace vigil::tsdb::chunkenc {
namespace {

// R(u, k) codes a quotient u >> k below this in unary; at it, an escape.
constexpr int kRiceLimit = 16;
// Dense groups with k up to this decode with one 64-bit window per code
// (limit + 1 + k <= 57 bits, what an unaligned load shifted by up to 7
// bits holds).
constexpr int kFastK = 40;
// Zero bytes after the copy of the bit stream. The decoder checks the bit
// position against the end only before each group, parameter set, sparse
// entry and escape; between two checks it reads at most 31 fast codes of
// <= 56 bits plus one escape (86 bits) and one 8-byte window past that.
constexpr size_t kPad = 320;

inline uint64_t ZigZag(uint64_t x) {
  return (x << 1) ^ static_cast<uint64_t>(static_cast<int64_t>(x) >> 63);
}
inline uint64_t UnZigZag(uint64_t u) { return (u >> 1) ^ (0 - (u & 1)); }
inline int BitWidth(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }
inline int WideBits(uint64_t x) { return 6 + std::max(1, BitWidth(x)); }

// The timestamp grid rule (docs/format/chunk_encoding.md), shared by the
// encoder and the decoder so the two cannot drift apart: moves the grid
// past sample time `t` (the previous sample was at `prev_t`), which was
// `err` away from the predicted `pred` (`zz` = its zig-zag code).
inline void AdvanceGrid(uint64_t t, uint64_t prev_t, uint64_t pred,
                        uint64_t err, uint64_t zz, uint64_t* grid,
                        uint64_t* interval, uint64_t* prev_err) {
  if (err == 0) {
    *grid = t;
  } else if (*prev_err == 0 && zz <= (*interval >> 3)) {
    *grid = pred;
  } else {
    *grid = t;
    *interval = t - prev_t;
  }
  *prev_err = err;
}

// 10^k mod 2^64 (exact up to 10^19); scaled mantissas are verified.
constexpr uint64_t Pow10U(int k) { return k == 0 ? 1 : 10 * Pow10U(k - 1); }
constexpr uint64_t kPow10U[kMaxScale + 1] = {
    Pow10U(0),  Pow10U(1),  Pow10U(2),  Pow10U(3),  Pow10U(4),  Pow10U(5),
    Pow10U(6),  Pow10U(7),  Pow10U(8),  Pow10U(9),  Pow10U(10), Pow10U(11),
    Pow10U(12), Pow10U(13), Pow10U(14), Pow10U(15), Pow10U(16), Pow10U(17),
    Pow10U(18), Pow10U(19), Pow10U(20), Pow10U(21), Pow10U(22)};

enum GroupMode { kZero, kSparse, kDense };
struct GroupPlan {
  int bits;
  GroupMode mode;
  int k;
};

// The cheapest code for n residuals (the encoder's policy; any valid code
// decodes). Dense groups try Rice parameters around the mean's width and
// the stream's previous one (which costs 6 bits less to send).
GroupPlan ChooseGroup(const uint64_t* u, int n, int prev_k) {
  int nnz = 0;
  uint64_t all = 0;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    if (u[i] == 0) continue;
    ++nnz;
    all |= u[i];
    sum += static_cast<double>(u[i]);
  }
  if (nnz == 0) return {1, kZero, 0};
  // Sparse: count, one width for all entries, (index, value) pairs.
  const int sparse = 2 + 5 + 6 + nnz * (5 + std::max(1, BitWidth(all)));
  GroupPlan best{sparse, kSparse, 0};
  const double mean = sum / n;
  const int k0 = mean >= 9.2e18 ? 63 : BitWidth(static_cast<uint64_t>(mean));
  // Candidates: around the mean's width, and the previous k (whose
  // parameter costs 6 bits less); costs of all three in one pass.
  int ks[3] = {std::max(0, k0 - 2), std::max(0, k0 - 1), k0};
  if (prev_k >= 0 && prev_k != ks[0] && prev_k != ks[1] && prev_k != ks[2]) {
    ks[prev_k < ks[0] ? 0 : 2] = prev_k;
  }
  int c[3] = {0, 0, 0};
  if ((all >> std::min({ks[0], ks[1], ks[2]})) < kRiceLimit) {
    // No escapes for any candidate (the usual case): sums of quotients.
    const int k0a = ks[0], k1a = ks[1], k2a = ks[2];
    uint64_t s0 = 0, s1 = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      s0 += u[i] >> k0a;
      s1 += u[i] >> k1a;
      s2 += u[i] >> k2a;
    }
    c[0] = static_cast<int>(s0);
    c[1] = static_cast<int>(s1);
    c[2] = static_cast<int>(s2);
  } else {
    for (int i = 0; i < n; ++i) {
      const uint64_t x = u[i];
      for (int j = 0; j < 3; ++j) {
        const uint64_t q = x >> ks[j];
        c[j] += q < kRiceLimit ? static_cast<int>(q)
                               : kRiceLimit - 1 - ks[j] + WideBits(x);
      }
    }
  }
  for (int j = 0; j < 3; ++j) {
    const int k = ks[j];
    const int bits = c[j] + n * (1 + k) + 2 + (k == prev_k ? 1 : 7);
    if (bits < best.bits) best = {bits, kDense, k};
  }
  return best;
}

void WriteBE(std::string* out, uint32_t count) {
  if (count < 32768) {
    out->push_back(static_cast<char>(count >> 8));
    out->push_back(static_cast<char>(count));
  } else {
    const uint32_t c = count | 0x80000000u;
    for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>(c >> s));
  }
}

// One way to code a block's values (the encoder compares several).
struct ValuePlan {
  int bits = -1;  // estimated size; -1: none yet
  bool same = false;
  bool rebase = false;
  RangeChunkEncoder::ValueParams params;
  uint8_t pred = 0;  // decimal: 0 base delta, 1 previous delta
  uint64_t m_start = 0;
  uint64_t last_m = 0;
  uint64_t last_d = 0;
  uint64_t x[kRangeBlockSize];  // residuals before the shift
};

// Takes p->x (residuals before shifting) as p's: the largest shift that
// divides them all (or `force_shift`; false if it does not) and an
// estimate of their Rice code's length, n + sum of bit_width(zz(x_i >>
// shift)), which ranks candidates without trying Rice parameters.
bool Take(int n, int force_shift, ValuePlan* p) {
  const uint64_t* x = p->x;
  uint64_t all = 0;
  int b = 0, nnz = 0;
  for (int i = 0; i < n; ++i) {
    all |= x[i];
    b += BitWidth(ZigZag(x[i]));
    nnz += x[i] != 0;
  }
  int shift = all == 0 ? 0 : __builtin_ctzll(all);
  if (force_shift >= 0) {
    if (all != 0 && shift < force_shift) return false;
    shift = force_shift;
  }
  p->params.shift = static_cast<uint8_t>(shift);
  p->bits = n + b - nnz * shift;
  return true;
}

// The winner's residuals: zz(x_i >> shift), or x_i >> trailing for floats.
void Residuals(const ValuePlan& p, int n, uint64_t* u) {
  if (p.params.kind == 1) {
    for (int i = 0; i < n; ++i) u[i] = p.x[i] >> p.params.trailing;
    return;
  }
  for (int i = 0; i < n; ++i) {
    u[i] = ZigZag(
        static_cast<uint64_t>(static_cast<int64_t>(p.x[i]) >> p.params.shift));
  }
}

// The median of d: a base delta for counters that ignores the odd reset
// or gap (the mean does not; measured: +2 % bytes with the mean).
uint64_t Median(const uint64_t* d, int n) {
  if (n <= 0) return 0;
  int64_t s[kRangeBlockSize];
  for (int i = 0; i < n; ++i) s[i] = static_cast<int64_t>(d[i]);
  std::nth_element(s, s + n / 2, s + n);
  return static_cast<uint64_t>(s[n / 2]);
}
// v as m / 10^s for the smallest s >= *scale at which that is bit-exact.
// Starting at the scale the block already needs, a value usually costs one
// probe.
bool DecimalFrom(double v, int* scale, uint64_t* m) {
  if (!(std::fabs(v) < 9.2e18)) return false;  // NaN, ±Inf, huge
  for (int s = *scale; s <= kMaxScale; ++s) {
    if (!(std::fabs(v * kPow10[s]) < 9.2e18)) return false;
    if (ToDecimalAt(v, s, m)) {
      *scale = s;
      return true;
    }
  }
  return false;
}

}  // namespace

// --- Encoder ---------------------------------------------------------------

void RangeChunkEncoder::PutWide(uint64_t x) {
  const int w = std::max(1, BitWidth(x));
  Put(static_cast<uint64_t>(w - 1), 6);
  Put(x, w);
}

void RangeChunkEncoder::PutGroup(const uint64_t* u, int n, int* prev_k) {
  const GroupPlan g = ChooseGroup(u, n, *prev_k);
  if (g.mode == kZero) {
    Put(0, 1);
    return;
  }
  if (g.mode == kSparse) {
    Put(1, 2);  // bits 1, 0
    int nnz = 0;
    for (int i = 0; i < n; ++i) nnz += u[i] != 0;
    uint64_t all = 0;
    for (int i = 0; i < n; ++i) all |= u[i];
    const int w = std::max(1, BitWidth(all));
    Put(static_cast<uint64_t>(nnz - 1), 5);
    Put(static_cast<uint64_t>(w - 1), 6);
    for (int i = 0; i < n; ++i) {
      if (u[i] == 0) continue;
      Put(static_cast<uint64_t>(i), 5);
      Put(u[i], w);
    }
    return;
  }
  Put(3, 2);  // bits 1, 1
  if (g.k == *prev_k) {
    Put(1, 1);
  } else {
    Put(static_cast<uint64_t>(g.k) << 1, 7);  // bit 0, then k
  }
  *prev_k = g.k;
  const int k = g.k;
  const uint64_t mask = k == 0 ? 0 : (~uint64_t{0} >> (64 - k));
  for (int i = 0; i < n; ++i) {
    const uint64_t q = u[i] >> k;
    if (q < kRiceLimit && k <= 47) {
      Put(((uint64_t{1} << q) - 1) | ((u[i] & mask) << (q + 1)),
          static_cast<int>(q) + 1 + k);
    } else if (q < kRiceLimit) {
      Put((uint64_t{1} << q) - 1, static_cast<int>(q) + 1);
      Put(u[i] & mask, k);
    } else {
      Put((uint64_t{1} << kRiceLimit) - 1, kRiceLimit);
      PutWide(u[i]);
    }
  }
}

void RangeChunkEncoder::EncodeFirst(int64_t t, double v) {
  PutWide(ZigZag(static_cast<uint64_t>(t)));
  int scale = 0;
  uint64_t m;
  params_ = ValueParams();
  d_ = 0;
  pred_ = 0;
  if (DecimalFrom(v, &scale, &m)) {
    Put(0, 1);
    Put(static_cast<uint64_t>(scale), 5);
    PutWide(ZigZag(m));
    params_.kind = 0;
    params_.scale = static_cast<uint8_t>(scale);
    m_ = m;
  } else {
    Put(1, 1);
    Put(DoubleBits(v), 64);
    params_.kind = 1;
  }
  bits_ = DoubleBits(v);
}

void RangeChunkEncoder::Append(int64_t t, double v) {
  if (num_samples_ == 0) {
    min_time_ = t;
    EncodeFirst(t, v);
  } else {
    if (num_samples_ == 1) {
      const uint64_t iv =
          static_cast<uint64_t>(t) - static_cast<uint64_t>(min_time_);
      PutWide(iv);
      grid_ = prev_t_ = static_cast<uint64_t>(min_time_);
      interval_ = iv;
      prev_err_ = 0;
    }
    block_[pending_++] = Sample{t, v};
    if (pending_ == kRangeBlockSize) EncodeBlock();
  }
  max_time_ = t;
  ++num_samples_;
}

void RangeChunkEncoder::EncodeBlock() {
  const int n = pending_;
  pending_ = 0;
  if (n == 0) return;
  // Timestamps: distance from the grid, grid rule as in the adaptive
  // encoding.
  uint64_t tu[kRangeBlockSize] = {};
  for (int i = 0; i < n; ++i) {
    const uint64_t t = static_cast<uint64_t>(block_[i].t);
    const uint64_t pred = grid_ + interval_;
    const uint64_t err = t - pred;
    tu[i] = ZigZag(err);
    AdvanceGrid(t, prev_t_, pred, err, tu[i], &grid_, &interval_, &prev_err_);
    prev_t_ = t;
  }
  PutGroup(tu, n, &t_k_);

  // Values: the cheapest candidate by estimated size.
  ValuePlan plans[2];
  ValuePlan* best = &plans[0];
  ValuePlan* cand = &plans[1];
  auto consider = [&](int header_bits) {
    cand->bits += header_bits;
    if (best->bits < 0 || cand->bits < best->bits) std::swap(best, cand);
  };
  uint64_t mi[kRangeBlockSize];
  int si[kRangeBlockSize];
  bool decimal = true;
  int smax = 0;
  for (int i = 0; i < n; ++i) {
    if (!DecimalFrom(block_[i].v, &smax, &mi[i])) {
      decimal = false;
      break;
    }
    si[i] = smax;
  }
  if (decimal) {
    int scales[2] = {smax, -1};
    if (params_.kind == 0 && params_.scale > smax) scales[1] = params_.scale;
    for (int s : scales) {
      if (s < 0) continue;
      uint64_t m[kRangeBlockSize];
      bool ok = true;
      for (int i = 0; i < n && ok; ++i) {
        m[i] = mi[i] * kPow10U[s - si[i]];
        ok = si[i] == s ||
             DoubleBits(FromDecimal(m[i], s)) == DoubleBits(block_[i].v);
      }
      if (!ok) continue;
      uint64_t d[kRangeBlockSize];
      for (int i = 1; i < n; ++i) d[i] = m[i] - m[i - 1];
      auto set = [&](bool same, bool rebase, uint8_t pred, uint64_t base) {
        cand->same = same;
        cand->rebase = rebase;
        cand->pred = pred;
        cand->params.kind = 0;
        cand->params.scale = static_cast<uint8_t>(s);
        cand->params.base = base;
        cand->params.trailing = 0;
        cand->m_start = rebase ? m[0] - d[0] : 0;
        cand->last_m = m[n - 1];
        cand->last_d = d[n - 1];
      };
      const int new_bits = 2 + 5 + 6 + 1 + 1;
      if (params_.kind == 0 && params_.scale == s) {
        // Continuing from the previous block's last mantissa.
        d[0] = m[0] - m_;
        const uint64_t prev_pred = pred_;
        uint64_t pd = d_;
        for (int i = 0; i < n; ++i) {
          cand->x[i] = prev_pred == 1 ? d[i] - pd : d[i] - params_.base;
          pd = d[i];
        }
        if (Take(n, params_.shift, cand)) {
          set(true, false, static_cast<uint8_t>(prev_pred), params_.base);
          consider(1);
        }
        for (uint64_t base : {uint64_t{0}, Median(d, n)}) {
          for (int i = 0; i < n; ++i) cand->x[i] = d[i] - base;
          Take(n, -1, cand);
          set(false, false, 0, base);
          consider(new_bits + WideBits(ZigZag(base)));
        }
        pd = d_;
        for (int i = 0; i < n; ++i) {
          cand->x[i] = d[i] - pd;
          pd = d[i];
        }
        Take(n, -1, cand);
        set(false, false, 1, 0);
        consider(new_bits);
      } else {
        // Starting over from an explicit mantissa chosen so that the
        // first residual is zero.
        for (uint64_t base : {uint64_t{0}, Median(d + 1, n - 1)}) {
          d[0] = base;
          for (int i = 0; i < n; ++i) cand->x[i] = d[i] - base;
          Take(n, -1, cand);
          set(false, true, 0, base);
          consider(new_bits + WideBits(ZigZag(base)) +
                   WideBits(ZigZag(cand->m_start)));
        }
        d[0] = 0;
        uint64_t pd = 0;
        for (int i = 0; i < n; ++i) {
          cand->x[i] = d[i] - pd;
          pd = d[i];
        }
        Take(n, -1, cand);
        set(false, true, 1, 0);
        consider(new_bits + WideBits(ZigZag(cand->m_start)));
      }
    }
  }
  // Float (XOR of the bits) when no decimal code exists or it is long.
  if (best->bits < 0 || best->bits > 24 * n) {
    uint64_t prev = bits_, all = 0;
    int b = n;
    for (int i = 0; i < n; ++i) {
      const uint64_t v = DoubleBits(block_[i].v);
      cand->x[i] = v ^ prev;
      prev = v;
      all |= cand->x[i];
      b += BitWidth(cand->x[i]);
    }
    const int tz = all == 0 ? 63 : __builtin_ctzll(all);
    cand->same = params_.kind == 1 && params_.trailing <= tz;
    cand->rebase = false;
    cand->params = ValueParams();
    cand->params.kind = 1;
    cand->params.trailing = static_cast<uint8_t>(
        cand->same ? params_.trailing : (all == 0 ? 0 : tz));
    cand->bits = b - n * cand->params.trailing;
    consider(cand->same ? 1 : 2 + 6);
  }
  const ValuePlan& p = *best;
  if (p.same) {
    Put(1, 1);
  } else if (p.params.kind == 1) {
    Put(2, 2);  // bits 0, 1
    Put(p.params.trailing, 6);
  } else {
    Put(0, 2);  // bits 0, 0
    Put(p.params.scale, 5);
    Put(p.params.shift, 6);
    Put(p.pred, 1);
    if (p.pred == 0) PutWide(ZigZag(p.params.base));
    Put(p.rebase ? 1 : 0, 1);
    if (p.rebase) PutWide(ZigZag(p.m_start));
  }
  uint64_t u[kRangeBlockSize] = {};
  Residuals(p, n, u);
  PutGroup(u, n, &v_k_);
  params_ = p.params;
  if (p.params.kind == 0) {
    pred_ = p.pred;
    m_ = p.last_m;
    d_ = p.last_d;
  }
  bits_ = DoubleBits(block_[n - 1].v);
}

std::string RangeChunkEncoder::Finish() {
  EncodeBlock();
  std::string chunk;
  chunk.reserve(4 + out_.size() + 8);
  WriteBE(&chunk, static_cast<uint32_t>(num_samples_));
  chunk.append(out_);
  for (int i = 0; i < (fill_ + 7) / 8; ++i) {
    chunk.push_back(static_cast<char>(acc_ >> (8 * i)));
  }
  *this = RangeChunkEncoder();
  return chunk;
}

std::string EncodeRangeChunk(absl::Span<const Sample> samples) {
  RangeChunkEncoder enc;
  for (const Sample& s : samples) enc.Append(s.t, s.v);
  return enc.Finish();
}

// --- Decoder ---------------------------------------------------------------

namespace {

// At least 57 bits of the LSB-first bit stream `p` from bit `pos` on (one
// unaligned load; `p` is padded, see kPad).
inline uint64_t WindowAt(const unsigned char* p, size_t pos) {
  uint64_t w;
  std::memcpy(&w, p + (pos >> 3), sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w >> (pos & 7);
}

// Reads the bit stream (LSB first) from a copy padded with kPad zero bytes.
struct Reader {
  const unsigned char* p;
  size_t pos;
  size_t size_bits;

  // At least 57 bits from pos.
  uint64_t Window() const { return WindowAt(p, pos); }
  // n <= 56.
  uint64_t Read(int n) {
    const uint64_t w = Window() & ((uint64_t{1} << n) - 1);
    pos += static_cast<size_t>(n);
    return w;
  }
  // n <= 64.
  uint64_t Read64(int n) {
    if (n <= 56) return Read(n);
    const uint64_t lo = Read(32);
    return lo | (Read(n - 32) << 32);
  }
  uint64_t ReadWide() { return Read64(static_cast<int>(Read(6)) + 1); }
  bool Overrun() const { return pos > size_bits; }
};

// Reads a group's head: kZero, kSparse or kDense (with its Rice parameter
// in *k), or -1 on malformed input.
int ReadGroupHead(Reader* r, int* prev_k, int* k) {
  if (r->Overrun()) return -1;
  const uint64_t head = r->Read(2);
  if ((head & 1) == 0) {
    r->pos -= 1;  // a one-bit code
    return kZero;
  }
  if ((head >> 1) == 0) return kSparse;
  if (r->Read(1) != 0) {
    if (*prev_k < 0) return -1;
    *k = *prev_k;
  } else {
    *k = static_cast<int>(r->Read(6));
    *prev_k = *k;
  }
  return kDense;
}

bool ReadSparse(Reader* r, int n, uint64_t* u) {
  const int nnz = static_cast<int>(r->Read(5)) + 1;
  const int w = static_cast<int>(r->Read(6)) + 1;
  if (nnz > n) return false;
  std::memset(u, 0, sizeof(uint64_t) * static_cast<size_t>(n));
  int last = -1;
  for (int j = 0; j < nnz; ++j) {
    if (r->Overrun()) return false;
    const int idx = static_cast<int>(r->Read(5));
    if (idx <= last || idx >= n) return false;
    u[idx] = r->Read64(w);
    last = idx;
  }
  return true;
}

// An escaped code's value (after its 16 one bits); false past the end.
__attribute__((noinline)) bool ReadEscape(Reader* r, size_t* pos, uint64_t* u) {
  r->pos = *pos + kRiceLimit;
  if (r->Overrun()) return false;
  *u = r->ReadWide();
  *pos = r->pos;
  return true;
}

bool ReadDense(Reader* r, int n, int k, uint64_t* u) {
  const uint64_t mask = k == 0 ? 0 : (~uint64_t{0} >> (64 - k));
  if (k <= kFastK) {
    const unsigned char* p = r->p;
    size_t pos = r->pos;
    for (int i = 0; i < n; ++i) {
      const uint64_t w = WindowAt(p, pos);
      const int q = __builtin_ctzll(~w | (uint64_t{1} << kRiceLimit));
      if (__builtin_expect(q == kRiceLimit, 0)) {
        if (!ReadEscape(r, &pos, &u[i])) return false;
        continue;
      }
      u[i] = (static_cast<uint64_t>(q) << k) | ((w >> (q + 1)) & mask);
      pos += static_cast<size_t>(q + 1 + k);
    }
    r->pos = pos;
    return true;
  }
  for (int i = 0; i < n; ++i) {
    if (r->Overrun()) return false;
    const int q = __builtin_ctzll(~r->Window() | (uint64_t{1} << kRiceLimit));
    r->pos += static_cast<size_t>(q);
    if (q == kRiceLimit) {
      u[i] = r->ReadWide();
    } else {
      r->pos += 1;
      u[i] = (static_cast<uint64_t>(q) << k) | r->Read64(k);
    }
  }
  return true;
}

// Reads one residual group of n; false on malformed input. *zero is set
// when all residuals are zero (u is not written then).
bool ReadGroup(Reader* r, int n, uint64_t* u, int* prev_k, bool* zero) {
  int k = 0;
  const int mode = ReadGroupHead(r, prev_k, &k);
  *zero = mode == kZero;
  if (mode == kSparse) return ReadSparse(r, n, u);
  if (mode == kDense) return ReadDense(r, n, k, u);
  return mode == kZero;
}

// The value of an escaped code at bit `pos` (its 16 one bits included)
// and the position after it; pos = SIZE_MAX past the end. Returned by
// value so that the caller's position stays in a register.
struct Escaped {
  size_t pos;
  uint64_t u;
};
__attribute__((noinline)) Escaped ReadEscapeAt(Reader* r, size_t pos) {
  r->pos = pos + kRiceLimit;
  if (r->Overrun()) return {SIZE_MAX, 0};
  const uint64_t u = r->ReadWide();
  return {r->pos, u};
}

// A dense decimal group with k <= kFastK: Rice decode and value
// reconstruction in one loop (the common case), specialised for the
// predictor, integers (no division) and a zero shift.
// Out of line, so that the register allocator sees only this loop.
// With kFillT it also writes the timestamps of a block on the grid
// (t = grid + i * interval), saving a second pass.
template <bool kPrevDelta, bool kInteger, bool kShift, bool kFillT>
__attribute__((noinline)) bool DecimalDense(Reader* r, int n, uint64_t k,
                                            uint64_t shift, uint64_t base,
                                            double div, uint64_t* m_io,
                                            uint64_t* d_io, Sample* out,
                                            uint64_t grid, uint64_t interval) {
  const unsigned char* p = r->p;
  const uint64_t mask = k == 0 ? 0 : (~uint64_t{0} >> (64 - k));
  // q << k for each unary prefix length q: one load instead of a shift.
  uint64_t qk[kRiceLimit];
  for (uint64_t q = 0; q < kRiceLimit; ++q) qk[q] = q << k;
  size_t pos = r->pos;
  uint64_t m = *m_io, d = *d_io;
  for (int i = 0; i < n; ++i) {
    const uint64_t w = WindowAt(p, pos);
    const uint64_t q = static_cast<uint64_t>(
        __builtin_ctzll(~w | (uint64_t{1} << kRiceLimit)));
    uint64_t u;
    if (__builtin_expect(q == kRiceLimit, 0)) {
      const Escaped e = ReadEscapeAt(r, pos);
      if (e.pos == SIZE_MAX) return false;
      pos = e.pos;
      u = e.u;
    } else {
      u = qk[q] | ((w >> (q + 1)) & mask);
      pos += q + 1 + k;
    }
    uint64_t x = UnZigZag(u);
    if (kShift) x <<= shift;
    d = kPrevDelta ? d + x : x + base;
    m += d;
    const double v = static_cast<double>(static_cast<int64_t>(m));
    out[i].v = kInteger ? v : v / div;
    if (kFillT) {
      grid += interval;
      out[i].t = static_cast<int64_t>(grid);
    }
  }
  r->pos = pos;
  *m_io = m;
  *d_io = d;
  return true;
}

using DenseFn = bool (*)(Reader*, int, uint64_t, uint64_t, uint64_t, double,
                         uint64_t*, uint64_t*, Sample*, uint64_t, uint64_t);
template <int V>
constexpr DenseFn kDenseFn =
    &DecimalDense<(V & 8) != 0, (V & 4) != 0, (V & 2) != 0, (V & 1) != 0>;
constexpr DenseFn kDenseFns[16] = {
    kDenseFn<0>,  kDenseFn<1>,  kDenseFn<2>,  kDenseFn<3>,
    kDenseFn<4>,  kDenseFn<5>,  kDenseFn<6>,  kDenseFn<7>,
    kDenseFn<8>,  kDenseFn<9>,  kDenseFn<10>, kDenseFn<11>,
    kDenseFn<12>, kDenseFn<13>, kDenseFn<14>, kDenseFn<15>};

// fill_t: also write the block's timestamps, grid + (i + 1) * interval.
bool DecodeDecimalDense(Reader* r, int n, int k,
                        const RangeChunkEncoder::ValueParams& p, int pred,
                        uint64_t* m, uint64_t* d, Sample* out, bool fill_t,
                        uint64_t grid, uint64_t interval) {
  const int v = (pred != 0) * 8 + (p.scale == 0) * 4 + (p.shift != 0) * 2 +
                (fill_t ? 1 : 0);
  return kDenseFns[v](r, n, static_cast<uint64_t>(k), p.shift, p.base,
                      kPow10[p.scale], m, d, out, grid, interval);
}

// Decimal values of a block: d = (unzz(u) << shift) + base, or + the
// previous d; m += d; v = m / 10^scale. One loop per predictor and for
// integers, so none branches per sample.
template <bool kPrevDelta, bool kInteger>
void DecimalLoop(const uint64_t* u, int n, int shift, uint64_t base, double div,
                 uint64_t* m_io, uint64_t* d_io, Sample* out) {
  uint64_t m = *m_io, d = *d_io;
  for (int i = 0; i < n; ++i) {
    const uint64_t r = UnZigZag(u[i]) << shift;
    d = kPrevDelta ? d + r : r + base;
    m += d;
    const double x = static_cast<double>(static_cast<int64_t>(m));
    out[i].v = kInteger ? x : x / div;
  }
  *m_io = m;
  *d_io = d;
}

void DecodeDecimal(const uint64_t* u, int n,
                   const RangeChunkEncoder::ValueParams& p, int pred,
                   uint64_t* m, uint64_t* d, Sample* out) {
  const double div = kPow10[p.scale];
  if (pred == 0) {
    if (p.scale == 0) {
      DecimalLoop<false, true>(u, n, p.shift, p.base, div, m, d, out);
    } else {
      DecimalLoop<false, false>(u, n, p.shift, p.base, div, m, d, out);
    }
  } else if (p.scale == 0) {
    DecimalLoop<true, true>(u, n, p.shift, p.base, div, m, d, out);
  } else {
    DecimalLoop<true, false>(u, n, p.shift, p.base, div, m, d, out);
  }
}

absl::Status Corrupt(const char* what, int sample, size_t bit) {
  return absl::DataLossError(absl::StrCat("range chunk: ", what, " at sample ",
                                          sample, ", bit ", bit));
}

}  // namespace

absl::Status RangeChunkDecoder::DecodeRange(int64_t mint, int64_t maxt,
                                            std::vector<Sample>* out) const {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes_.data());
  if (bytes_.size() < 2) return Corrupt("truncated header", 0, 0);
  size_t hdr = 2;
  uint32_t count = (uint32_t{data[0]} << 8) | data[1];
  if (count & 0x8000) {
    if (bytes_.size() < 4) return Corrupt("truncated header", 0, 0);
    hdr = 4;
    count = ((uint32_t{data[0]} << 24) | (uint32_t{data[1]} << 16) |
             (uint32_t{data[2]} << 8) | data[3]) &
            0x7fffffffu;
  }
  if (count == 0) return absl::OkStatus();
  const size_t size = bytes_.size() - hdr;
  // Every block takes at least 3 bits: a bounded count bounds the work.
  const size_t blocks = (count - 1 + kRangeBlockSize - 1) / kRangeBlockSize;
  if (blocks * 3 > size * 8) {
    return Corrupt("sample count exceeds the data", 0, 0);
  }
  unsigned char stack[4096];
  std::unique_ptr<unsigned char[]> heap;
  unsigned char* buf = stack;
  if (size + kPad > sizeof stack) {
    heap.reset(new unsigned char[size + kPad]);
    buf = heap.get();
  }
  std::memcpy(buf, data + hdr, size);
  std::memset(buf + size, 0, kPad);
  Reader r{buf, 0, size * 8};

  // Sample 0.
  uint64_t t = UnZigZag(r.ReadWide());
  uint64_t bits;
  RangeChunkEncoder::ValueParams params;
  uint64_t m = 0, d = 0;
  int pred = 0;
  if (r.Read(1) == 0) {
    const int scale = static_cast<int>(r.Read(5));
    if (scale > kMaxScale) return Corrupt("bad scale", 0, r.pos);
    m = UnZigZag(r.ReadWide());
    bits = DoubleBits(FromDecimal(m, scale));
    params.kind = 0;
    params.scale = static_cast<uint8_t>(scale);
  } else {
    bits = r.Read64(64);
    params.kind = 1;
  }
  if (r.Overrun()) return Corrupt("truncated", 0, r.pos);
  // Samples are decoded straight into `out`, grown by the count once;
  // `written` of them are kept.
  const size_t out_base = out->size();
  out->resize(out_base + count);
  Sample* const o = out->data() + out_base;
  size_t written = 0;
  auto finish = [&](absl::Status st) {
    out->resize(out_base + written);
    return st;
  };
  {
    const int64_t st = static_cast<int64_t>(t);
    if (st >= mint && st <= maxt) o[written++] = Sample{st, BitsDouble(bits)};
    if (st > maxt || count == 1) return finish(absl::OkStatus());
  }
  uint64_t interval = r.ReadWide();
  uint64_t grid = t, prev_err = 0;
  int t_k = -1, v_k = -1;
  uint64_t tu[kRangeBlockSize], vu[kRangeBlockSize];
  int done = 1;
  while (done < static_cast<int>(count)) {
    const int n = std::min(kRangeBlockSize, static_cast<int>(count) - done);
    Sample* const block = o + written;
    bool zero;
    bool fill_t = false;
    uint64_t fill_grid = 0;
    if (!ReadGroup(&r, n, tu, &t_k, &zero)) {
      return finish(Corrupt("bad timestamp group", done, r.pos));
    }
    int64_t step = static_cast<int64_t>(interval), last;
    if (zero && step > 0 &&
        !__builtin_mul_overflow(step, static_cast<int64_t>(n), &last) &&
        !__builtin_add_overflow(static_cast<int64_t>(grid), last, &last) &&
        static_cast<int64_t>(grid + interval) > static_cast<int64_t>(t)) {
      // On the grid, and provably increasing: the grid advances by the
      // interval (it may be behind the last sample, which was late). The
      // timestamps are written with the values.
      fill_t = true;
      fill_grid = grid;
      grid += interval * static_cast<uint64_t>(n);
      t = grid;
      prev_err = 0;
    } else {
      if (zero) std::memset(tu, 0, sizeof(uint64_t) * static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        const uint64_t gp = grid + interval;
        const uint64_t err = UnZigZag(tu[i]);
        const uint64_t nt = gp + err;
        if (static_cast<int64_t>(nt) <= static_cast<int64_t>(t)) {
          return finish(Corrupt("timestamps not increasing", done + i, r.pos));
        }
        AdvanceGrid(nt, t, gp, err, tu[i], &grid, &interval, &prev_err);
        t = nt;
        block[i].t = static_cast<int64_t>(t);
      }
    }
    // Value parameters.
    if (r.Overrun()) return finish(Corrupt("truncated", done, r.pos));
    if (r.Read(1) == 0) {
      if (r.Read(1) == 0) {
        const int scale = static_cast<int>(r.Read(5));
        const int shift = static_cast<int>(r.Read(6));
        pred = static_cast<int>(r.Read(1));
        const uint64_t base = pred == 0 ? UnZigZag(r.ReadWide()) : 0;
        if (scale > kMaxScale) return finish(Corrupt("bad scale", done, r.pos));
        if (r.Read(1) != 0) {
          m = UnZigZag(r.ReadWide());
          d = 0;
        } else if (params.kind != 0 || params.scale != scale) {
          return finish(
              Corrupt("decimal block continues no decimal", done, r.pos));
        }
        params.kind = 0;
        params.scale = static_cast<uint8_t>(scale);
        params.shift = static_cast<uint8_t>(shift);
        params.base = base;
      } else {
        params.kind = 1;
        params.trailing = static_cast<uint8_t>(r.Read(6));
      }
    }
    int k = 0;
    const int mode = ReadGroupHead(&r, &v_k, &k);
    if (params.kind == 0 && mode == kDense && k <= kFastK) {
      if (!DecodeDecimalDense(&r, n, k, params, pred, &m, &d, block, fill_t,
                              fill_grid, interval)) {
        return finish(Corrupt("bad value group", done, r.pos));
      }
      bits = DoubleBits(block[n - 1].v);
    } else {
      for (int i = 0; fill_t && i < n; ++i) {
        fill_grid += interval;
        block[i].t = static_cast<int64_t>(fill_grid);
      }
      zero = mode == kZero;
      if (mode < 0 || (mode == kSparse && !ReadSparse(&r, n, vu)) ||
          (mode == kDense && !ReadDense(&r, n, k, vu))) {
        return finish(Corrupt("bad value group", done, r.pos));
      }
      if (params.kind == 0) {
        if (zero) {
          std::memset(vu, 0, sizeof(uint64_t) * static_cast<size_t>(n));
        }
        DecodeDecimal(vu, n, params, pred, &m, &d, block);
        bits = DoubleBits(block[n - 1].v);
      } else {
        const int trailing = params.trailing;
        if (zero) {
          for (int i = 0; i < n; ++i) block[i].v = BitsDouble(bits);
        } else {
          for (int i = 0; i < n; ++i) {
            bits ^= vu[i] << trailing;
            block[i].v = BitsDouble(bits);
          }
        }
      }
    }
    if (r.Overrun()) return finish(Corrupt("truncated", done, r.pos));
    done += n;
    // The window: whole blocks are the common case.
    int lo = 0, hi = n;
    if (block[0].t < mint) {
      while (lo < n && block[lo].t < mint) ++lo;
    }
    const bool past = block[n - 1].t > maxt;
    if (past) {
      hi = lo;
      while (hi < n && block[hi].t <= maxt) ++hi;
    }
    if (lo > 0 && hi > lo) {
      std::memmove(block, block + lo, sizeof(Sample) * (hi - lo));
    }
    written += static_cast<size_t>(hi - lo);
    if (past) break;
  }
  return finish(absl::OkStatus());
}

}  // namespace vigil::tsdb::chunkenc
