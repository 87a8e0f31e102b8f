#include "tsdb/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace vigil::tsdb {
namespace crc32c_internal {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // reflected Castagnoli polynomial

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

}  // namespace

uint32_t Portable(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

#if defined(__x86_64__)

// One stream of CRC32 instructions: 8 bytes per instruction, bound by its
// 3-cycle latency (~8 GB/s at 3 GHz). A WAL record of a 100k-series scrape
// is ~0.4 MB, ~50 us; interleaving three streams (and combining them with
// carry-less multiplies) would save ~30 us per such commit, not worth the
// code yet.
__attribute__((target("sse4.2"))) uint32_t Hardware(const void* data,
                                                    size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t c = 0xFFFFFFFFu;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  return static_cast<uint32_t>(c) ^ 0xFFFFFFFFu;
}

bool HasHardware() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}

#else

uint32_t Hardware(const void* data, size_t n) { return Portable(data, n); }
bool HasHardware() { return false; }

#endif

}  // namespace crc32c_internal

uint32_t Crc32c(const void* data, size_t n) {
  return crc32c_internal::HasHardware() ? crc32c_internal::Hardware(data, n)
                                        : crc32c_internal::Portable(data, n);
}

}  // namespace vigil::tsdb
