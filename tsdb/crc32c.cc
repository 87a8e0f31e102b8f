#include "tsdb/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace vigil::tsdb {
namespace {

// Reflected Castagnoli polynomial.
constexpr uint32_t kPoly = 0x82f63b78u;

struct Table {
  std::array<uint32_t, 256> t;
  constexpr Table() : t() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (kPoly & (0u - (c & 1u)));
      t[i] = c;
    }
  }
};
constexpr Table kTable;

uint32_t ExtendPortable(uint32_t crc, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    crc = kTable.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// a * b modulo the CRC polynomial, both reflected (bit 31 is x^0).
constexpr uint32_t MulMod(uint32_t a, uint32_t b) {
  uint32_t prod = 0;
  for (int i = 0; i < 32; ++i) {
    if (a & 0x80000000u) prod ^= b;
    a <<= 1;
    b = (b >> 1) ^ (kPoly & (0u - (b & 1u)));
  }
  return prod;
}

// x^(8 * bytes) modulo the polynomial: multiplying a CRC register by it
// moves the register over `bytes` zero bytes.
constexpr uint32_t PowerForBytes(size_t bytes) {
  uint32_t power = 0x80000000u;  // x^0
  uint32_t base = 0x00800000u;   // x^8
  for (size_t e = bytes; e != 0; e >>= 1) {
    if (e & 1) power = MulMod(power, base);
    base = MulMod(base, base);
  }
  return power;
}

// Three independent streams of this many bytes hide the crc32
// instruction's 3-cycle latency.
constexpr size_t kStripe = 8 * 128;
constexpr uint32_t kShiftOne = PowerForBytes(kStripe);
constexpr uint32_t kShiftTwo = PowerForBytes(2 * kStripe);

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(
    uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c0 = crc;
  while (n >= 3 * kStripe) {
    uint64_t c1 = 0, c2 = 0;
    const unsigned char* p1 = p + kStripe;
    const unsigned char* p2 = p + 2 * kStripe;
    for (size_t i = 0; i < kStripe; i += 8) {
      uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p1 + i, 8);
      std::memcpy(&w2, p2 + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    // The register is linear in its start value and the data: the
    // register after A B C is reg(A) moved over |B C| bytes, plus reg(B)
    // from zero moved over |C|, plus reg(C) from zero.
    c0 = MulMod(static_cast<uint32_t>(c0), kShiftTwo) ^
         MulMod(static_cast<uint32_t>(c1), kShiftOne) ^
         static_cast<uint32_t>(c2);
    p += 3 * kStripe;
    n -= 3 * kStripe;
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c0 = _mm_crc32_u64(c0, w);
  }
  uint32_t c = static_cast<uint32_t>(c0);
  for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, *p);
  return c;
}

bool HaveHardware() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const char* p, size_t n) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  crc = ~crc;
#if defined(__x86_64__)
  if (HaveHardware()) return ~ExtendHardware(crc, u, n);
#endif
  return ~ExtendPortable(crc, u, n);
}

}  // namespace vigil::tsdb
