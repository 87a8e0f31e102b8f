#include "tsdb/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace vigil::tsdb {
namespace {

// Bit-at-a-time reference, independent of the table and the instruction.
uint32_t Reference(const std::string& s) {
  uint32_t crc = ~0u;
  for (unsigned char ch : s) {
    crc ^= ch;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

TEST(Crc32cTest, KnownValues) {
  // The check value of CRC-32C (RFC 3720, and every CRC catalogue).
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8a9136aau);  // RFC 3720 B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62a8ab43u);
}

TEST(Crc32cTest, MatchesReferenceAtEveryLengthAndAlignment) {
  std::string data;
  uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1103515245u + 12345u;
    data.push_back(static_cast<char>(x >> 16));
  }
  // Lengths around the three-stream stripe (3 * 1024 bytes) and odd tails.
  for (size_t len : {0, 1, 7, 8, 9, 63, 3071, 3072, 3073, 6144, 6151, 19990}) {
    for (size_t off : {0, 1, 3}) {
      const std::string s = data.substr(off, len);
      EXPECT_EQ(Crc32c(s), Reference(s)) << "len " << len << " off " << off;
    }
  }
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string a(5000, 'a'), b = "tail bytes";
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i * 7);
  const uint32_t part = Crc32cExtend(0, a.data(), a.size());
  EXPECT_EQ(Crc32cExtend(part, b.data(), b.size()), Crc32c(a + b));
}

}  // namespace
}  // namespace vigil::tsdb
