// CRC-32C (Castagnoli): the checksum of the WAL's newer record types.
//
// The same function as iSCSI, ext4 and LevelDB use (reflected polynomial
// 0x82F63B78, initial value and final XOR 0xFFFFFFFF), so
// Crc32c("123456789") == 0xE3069283. On x86-64 CPUs with SSE4.2 it runs
// on the CRC32 instruction (8 bytes per instruction, ~3x zlib's table
// CRC-32); elsewhere on a portable table.
//
//   uint32_t crc = Crc32c(record.data(), record.size());
#ifndef VIGIL_TSDB_CRC32C_H_
#define VIGIL_TSDB_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace vigil::tsdb {

// The CRC-32C of n bytes at data.
uint32_t Crc32c(const void* data, size_t n);

namespace crc32c_internal {
// The two implementations Crc32c chooses between, for tests and
// benchmarks. Hardware() must only be called when HasHardware().
uint32_t Portable(const void* data, size_t n);
uint32_t Hardware(const void* data, size_t n);
bool HasHardware();
}  // namespace crc32c_internal

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_CRC32C_H_
