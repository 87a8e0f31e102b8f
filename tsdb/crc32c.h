// CRC-32C (Castagnoli), as used by RocksDB, ext4 and iSCSI: the checksum of
// the head chunk log's records. On x86-64 CPUs with SSE4.2 it runs on the
// crc32 instruction (about 8 bytes a cycle, three streams interleaved);
// elsewhere on a table. Both give the same value.
//
//   uint32_t crc = Crc32c(payload);
//   uint32_t same = Crc32cExtend(Crc32cExtend(0, a, na), b, nb);  // a+b
#ifndef VIGIL_TSDB_CRC32C_H_
#define VIGIL_TSDB_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace vigil::tsdb {

// The CRC-32C of `crc`'s data followed by the n bytes at p (crc = 0 for
// none).
uint32_t Crc32cExtend(uint32_t crc, const char* p, size_t n);

inline uint32_t Crc32c(absl::string_view data) {
  return Crc32cExtend(0, data.data(), data.size());
}

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_CRC32C_H_
