// File helpers of the storage tests that damage what a DB wrote (WAL,
// head chunk log) to check how it is reported.
#ifndef VIGIL_TSDB_TESTING_FILE_UTIL_H_
#define VIGIL_TSDB_TESTING_FILE_UTIL_H_

#include <cstddef>
#include <fstream>
#include <string>

namespace vigil::tsdb::testing {

// XORs the byte at offset `at` of `file` with `mask`.
inline void FlipByte(const std::string& file, size_t at, char mask) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c;
  f.read(&c, 1);
  c ^= mask;
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

}  // namespace vigil::tsdb::testing

#endif  // VIGIL_TSDB_TESTING_FILE_UTIL_H_
