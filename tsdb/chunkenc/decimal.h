// Bit and decimal helpers shared by the chunk codecs (chunk.cc, the
// adaptive encoding, and range_chunk.cc, the range encoding). Internal to
// tsdb/chunkenc.
#ifndef VIGIL_TSDB_CHUNKENC_DECIMAL_H_
#define VIGIL_TSDB_CHUNKENC_DECIMAL_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace vigil::tsdb::chunkenc {

// 10^22 is the largest power of ten that is an exact double; dividing by an
// exact power makes m / 10^k the correctly rounded decimal, which is what a
// text parser produces for the same digits.
inline constexpr int kMaxScale = 22;
inline constexpr double kPow10[kMaxScale + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

inline uint64_t DoubleBits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

inline double BitsDouble(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

inline double FromDecimal(uint64_t m, int scale) {
  const double d = static_cast<double>(static_cast<int64_t>(m));
  // Integers skip the division (same result, shorter dependency chain).
  return scale == 0 ? d : d / kPow10[scale];
}

// True when v is bit-for-bit m / 10^scale for some int64 m.
inline bool ToDecimalAt(double v, int scale, uint64_t* m) {
  const double x = v * kPow10[scale];
  if (!(std::fabs(x) < 9.2e18)) return false;
  const int64_t r = static_cast<int64_t>(std::nearbyint(x));
  if (DoubleBits(FromDecimal(static_cast<uint64_t>(r), scale)) !=
      DoubleBits(v)) {
    return false;
  }
  *m = static_cast<uint64_t>(r);
  return true;
}

}  // namespace vigil::tsdb::chunkenc

#endif  // VIGIL_TSDB_CHUNKENC_DECIMAL_H_
