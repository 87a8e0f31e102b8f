// The DB's WAL record payloads: batches of samples (see docs/storage.md,
// "WAL format").
//
// Type 0x01, the first format (still read, no longer written):
//   0x01 { varint ref, zig-zag varint t, u64 value bits (LE) }*
// ~17 bytes a sample with millisecond timestamps.
//
// Type 0x02 (written since 2026-11-22): each sample relative to the one
// before it in the record (the first to ref 0, t 0):
//   0x02 { varint h, [zig-zag varint dt], value bytes }*
//   h = zig-zag(ref - previous ref) << 4 | same_t << 3 | (value bytes - 1)
// dt = t - previous t (mod 2^64) is present only when same_t is 0; the
// value is the 1-8 most significant bytes of its IEEE-754 bits, least
// significant first, the rest being zero bytes (integral and
// short-mantissa values, counters especially, need 2-4 bytes). A scrape
// (refs ascending by 1, one timestamp) takes 1 + 1-8 bytes a sample.
//
//   WalSamplesEncoder enc(buf);  // buf has WalSamplesEncoder::MaxBytes(n)
//   enc.Add(ref, t, v); ...
//   wal->Append(absl::string_view(buf, enc.size()));
//   ForEachWalSample(record, [](uint64_t ref, int64_t t, double v) {...});
#ifndef VIGIL_TSDB_WAL_RECORD_H_
#define VIGIL_TSDB_WAL_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vigil::tsdb {

// Record type bytes (the payload's first byte). Wal checksums type 0x01
// records with zlib's CRC-32 and every other with CRC-32C (see wal.h).
inline constexpr char kWalSamplesV1 = 0x01;
inline constexpr char kWalSamplesV2 = 0x02;

namespace wal_record_internal {

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

__attribute__((always_inline)) inline char* PutVarint(char* p, uint64_t x) {
  while (x >= 0x80) {
    *p++ = static_cast<char>(x | 0x80);
    x >>= 7;
  }
  *p++ = static_cast<char>(x);
  return p;
}

// Reads a varint at *p (before end); false if it is cut off or too long.
__attribute__((always_inline)) inline bool GetVarint(const char** p,
                                                     const char* end,
                                                     uint64_t* v) {
  const char* q = *p;
  if (q < end && static_cast<uint8_t>(*q) < 0x80) {  // the usual 1 byte
    *v = static_cast<uint8_t>(*q);
    *p = q + 1;
    return true;
  }
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && q < end; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(*q++);
    x |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) {
      *v = x;
      *p = q;
      return true;
    }
  }
  return false;
}

inline uint64_t LoadLE64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

inline void StoreLE64(char* p, uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  std::memcpy(p, &w, sizeof w);
}

}  // namespace wal_record_internal

// Writes one type 0x02 samples record into a caller's buffer. Samples may
// come in any order; a batch in ref order (as DB::CommitSamples writes
// them) takes the fewest bytes. Not thread-safe.
class WalSamplesEncoder {
 public:
  // Bytes a record of n samples may take, with the slack of the 8-byte
  // stores Add makes.
  static constexpr size_t MaxBytes(size_t n) {
    return 1 + n * kMaxSampleBytes + 8;
  }

  // Starts a record at `buf`, which has room for MaxBytes(n) bytes if n
  // samples are added. Refs must be below 2^59 (Head's are below 2^32).
  explicit WalSamplesEncoder(char* buf) : begin_(buf), p_(buf + 1) {
    buf[0] = kWalSamplesV2;
  }

  __attribute__((always_inline)) void Add(uint64_t ref, int64_t t, double v) {
    using namespace wal_record_internal;  // NOLINT
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    // The value's trailing zero bytes are left out (all but one of a zero
    // value's).
    const int zero_bytes = bits == 0 ? 7 : __builtin_ctzll(bits) >> 3;
    const uint64_t dt = static_cast<uint64_t>(t) - prev_t_;
    const uint64_t h = ZigZag(static_cast<int64_t>(ref - prev_ref_)) << 4 |
                       (dt == 0 ? 8u : 0u) |
                       static_cast<uint64_t>(7 - zero_bytes);
    prev_ref_ = ref;
    prev_t_ = static_cast<uint64_t>(t);
    p_ = PutVarint(p_, h);
    if (dt != 0) p_ = PutVarint(p_, ZigZag(static_cast<int64_t>(dt)));
    // All 8 bytes are stored (the buffer has the slack); only the
    // significant ones are kept.
    StoreLE64(p_, bits >> (8 * zero_bytes));
    p_ += 8 - zero_bytes;
  }

  // Bytes of the record so far (1 when no sample was added).
  size_t size() const { return static_cast<size_t>(p_ - begin_); }

 private:
  // h (a 33-bit ref delta and 4 bits: 6 bytes; up to 10 with refs beyond
  // 2^32, which Head does not hand out), dt and the value.
  static constexpr size_t kMaxSampleBytes = 10 + 10 + 8;

  char* const begin_;
  char* p_;
  uint64_t prev_ref_ = 0;
  uint64_t prev_t_ = 0;
};

// Calls fn(uint64_t ref, int64_t t, double v) for each sample of a samples
// record of either type, in record order. DataLoss for an unknown type or
// a truncated sample (samples before it have been passed to fn).
template <typename Fn>
absl::Status ForEachWalSample(absl::string_view rec, Fn fn) {
  using namespace wal_record_internal;  // NOLINT
  if (rec.empty()) return absl::DataLossError("empty WAL record");
  const char* p = rec.data() + 1;
  const char* const end = rec.data() + rec.size();
  auto truncated = [&rec](const char* at) {
    return absl::DataLossError(absl::StrCat("truncated sample at byte ",
                                            at - rec.data(), " of WAL record"));
  };
  if (rec[0] == kWalSamplesV2) {
    uint64_t ref = 0, t = 0;
    while (p < end) {
      const char* const sample = p;
      uint64_t h;
      if (!GetVarint(&p, end, &h)) return truncated(sample);
      ref += static_cast<uint64_t>(UnZigZag(h >> 4));
      if ((h & 8) == 0) {
        uint64_t zdt;
        if (!GetVarint(&p, end, &zdt)) return truncated(sample);
        t += static_cast<uint64_t>(UnZigZag(zdt));
      }
      const size_t len = static_cast<size_t>(h & 7) + 1;
      uint64_t bits;
      if (end - p >= 8) {
        bits = LoadLE64(p) << (64 - 8 * len);
      } else {
        if (static_cast<size_t>(end - p) < len) return truncated(sample);
        bits = 0;
        for (size_t i = 0; i < len; ++i) {
          bits |= static_cast<uint64_t>(static_cast<uint8_t>(p[i]))
                  << (8 * (8 - len + i));
        }
      }
      p += len;
      double v;
      std::memcpy(&v, &bits, sizeof v);
      fn(ref, static_cast<int64_t>(t), v);
    }
    return absl::OkStatus();
  }
  if (rec[0] == kWalSamplesV1) {
    while (p < end) {
      uint64_t ref, zt;
      const char* const sample = p;
      if (!GetVarint(&p, end, &ref) || !GetVarint(&p, end, &zt) ||
          end - p < 8) {
        return truncated(sample);
      }
      const uint64_t bits = LoadLE64(p);
      p += 8;
      double v;
      std::memcpy(&v, &bits, sizeof v);
      fn(ref, UnZigZag(zt), v);
    }
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("unknown WAL record type ",
                   static_cast<int>(static_cast<uint8_t>(rec[0]))));
}

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_WAL_RECORD_H_
