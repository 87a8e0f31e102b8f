// A sample: a millisecond timestamp and a float64 value, plus the staleness
// marker Prometheus uses to end a series (a NaN with a reserved bit pattern,
// distinct from an ordinary NaN, which is a valid value).
#ifndef VIGIL_TSDB_SAMPLE_H_
#define VIGIL_TSDB_SAMPLE_H_

#include <cstdint>
#include <cstring>

namespace vigil::tsdb {

struct Sample {
  int64_t t;  // milliseconds since the Unix epoch
  double v;
};

inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;

inline double StaleNaN() {
  double d;
  std::memcpy(&d, &kStaleNaNBits, sizeof d);
  return d;
}

// The bit pattern of a sample value: values are equal for duplicate
// detection only when their bits are (NaN payloads, -0.0).
inline uint64_t ValueBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

inline bool IsStaleNaN(double v) { return ValueBits(v) == kStaleNaNBits; }

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_SAMPLE_H_
