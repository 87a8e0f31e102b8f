#include "promql/parser/go_string.h"

#include <string>

#include "gtest/gtest.h"

namespace vigil::promql {
namespace {

std::string Unq(absl::string_view s) {
  auto r = UnquoteGoString(s);
  if (!r.ok()) return "ERROR: " + std::string(r.status().message());
  return *r;
}

size_t ErrorOffset(absl::string_view s) {
  size_t off = 12345;
  EXPECT_FALSE(UnquoteGoString(s, &off).ok()) << s;
  return off;
}

TEST(GoStringTest, QuoteStyles) {
  EXPECT_EQ(Unq(R"("a\"b")"), "a\"b");
  EXPECT_EQ(Unq(R"('a\'b')"), "a'b");
  EXPECT_EQ(Unq(R"(`a\nb`)"), "a\\nb");
  EXPECT_EQ(Unq("`multi\nline`"), "multi\nline");
  EXPECT_EQ(Unq(R"("")"), "");
  EXPECT_EQ(Unq("''"), "");
}

TEST(GoStringTest, Escapes) {
  EXPECT_EQ(Unq(R"("\a\b\f\n\r\t\v\\")"), "\a\b\f\n\r\t\v\\");
  EXPECT_EQ(Unq(R"("\x41\101\u00e9\U0001F600")"), "AA\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(Unq(R"("\xff")"), "\xff");  // a byte, not U+00FF
  EXPECT_EQ(Unq(R"("\000")"), std::string(1, '\0'));
  EXPECT_EQ(Unq("\"\xE2\x9C\x93\""), "\xE2\x9C\x93");
}

TEST(GoStringTest, OnlyOwnQuoteMayBeEscaped) {
  EXPECT_EQ(Unq(R"("\'")"), "ERROR: unknown escape sequence ''' in string");
  EXPECT_EQ(Unq(R"('\"')"), "ERROR: unknown escape sequence '\"' in string");
}

TEST(GoStringTest, Errors) {
  EXPECT_EQ(Unq(R"("abc)"), "ERROR: unterminated quoted string");
  EXPECT_EQ(Unq("\"ab\ncd\""), "ERROR: unterminated quoted string");
  EXPECT_EQ(Unq(R"("abc\)"), "ERROR: unterminated quoted string");
  EXPECT_EQ(Unq("`abc"), "ERROR: unterminated raw string");
  EXPECT_EQ(Unq(R"("\q")"), "ERROR: unknown escape sequence 'q' in string");
  EXPECT_EQ(Unq("\"\\\xE2\x82\xAC\""),
            "ERROR: unknown escape sequence '\xE2\x82\xAC' in string");
  EXPECT_EQ(Unq(R"("\xZZ")"), "ERROR: invalid hex escape sequence in string");
  EXPECT_EQ(Unq(R"("\u12")"), "ERROR: invalid hex escape sequence in string");
  EXPECT_EQ(Unq(R"("\18")"), "ERROR: invalid octal escape sequence in string");
  EXPECT_EQ(Unq(R"("\400")"), "ERROR: octal escape value > 255 in string");
  EXPECT_EQ(Unq(R"("\uD800")"),
            "ERROR: escape sequence is an invalid Unicode code point");
  EXPECT_EQ(Unq(R"("\U00110000")"),
            "ERROR: escape sequence is an invalid Unicode code point");
  EXPECT_EQ(Unq(R"("a"b)"), "ERROR: text after string literal");
  EXPECT_EQ(Unq(""), "ERROR: string literal must start with a quote");
  EXPECT_EQ(Unq("abc"), "ERROR: string literal must start with a quote");
}

TEST(GoStringTest, ErrorOffsets) {
  EXPECT_EQ(ErrorOffset(R"("abc)"), 0u);
  EXPECT_EQ(ErrorOffset(R"("ab\q")"), 3u);
  EXPECT_EQ(ErrorOffset(R"("a\x4")"), 2u);
}

TEST(GoStringTest, AppendUtf8) {
  std::string s;
  AppendUtf8(0x41, &s);
  AppendUtf8(0xE9, &s);
  AppendUtf8(0x20AC, &s);
  AppendUtf8(0x1F600, &s);
  EXPECT_EQ(s, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace vigil::promql
