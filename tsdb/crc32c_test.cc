#include "tsdb/crc32c.h"

#include <cstring>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace vigil::tsdb {
namespace {

using crc32c_internal::Hardware;
using crc32c_internal::HasHardware;
using crc32c_internal::Portable;

// Published check values (RFC 3720 appendix B.4 and the common
// "123456789" check).
TEST(Crc32cTest, KnownValues) {
  EXPECT_EQ(Crc32c("", 0), 0u);
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(inc.data(), inc.size()), 0x46DD794Eu);
  EXPECT_EQ(Portable("123456789", 9), 0xE3069283u);
}

// The hardware path handles unaligned heads and short tails around its
// 8-byte loop: it must agree with the table at every length and offset.
TEST(Crc32cTest, HardwareMatchesPortableAtEveryAlignmentAndLength) {
  if (!HasHardware()) GTEST_SKIP() << "no SSE4.2";
  std::mt19937 rng(7);
  std::string buf(4096 + 16, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t len = 0; len < 80; ++len) {
      ASSERT_EQ(Hardware(buf.data() + offset, len),
                Portable(buf.data() + offset, len))
          << offset << " " << len;
    }
    EXPECT_EQ(Hardware(buf.data() + offset, 4096),
              Portable(buf.data() + offset, 4096));
  }
}

TEST(Crc32cTest, DetectsEverySingleBitFlip) {
  std::string s = "a WAL record payload of some length, 0123456789";
  const uint32_t crc = Crc32c(s.data(), s.size());
  for (size_t i = 0; i < s.size() * 8; ++i) {
    s[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_NE(Crc32c(s.data(), s.size()), crc) << i;
    s[i / 8] ^= static_cast<char>(1 << (i % 8));
  }
}

}  // namespace
}  // namespace vigil::tsdb
