#include "tsdb/matcher.h"

#include <gtest/gtest.h>

namespace vigil::tsdb {
namespace {

TEST(MatcherTest, EqualityAndEmpty) {
  auto eq = *Matcher::Create(MatchType::kEqual, "job", "api");
  EXPECT_TRUE(eq.Matches("api"));
  EXPECT_FALSE(eq.Matches("api2"));
  EXPECT_FALSE(eq.MatchesEmpty());
  auto absent = *Matcher::Create(MatchType::kEqual, "job", "");
  EXPECT_TRUE(absent.MatchesEmpty());
  auto present = *Matcher::Create(MatchType::kNotEqual, "job", "");
  EXPECT_FALSE(present.MatchesEmpty());
  EXPECT_TRUE(present.Matches("x"));
}

TEST(MatcherTest, RegexIsFullyAnchored) {
  auto re = *Matcher::Create(MatchType::kRegexMatch, "code", "5..");
  EXPECT_TRUE(re.Matches("500"));
  EXPECT_FALSE(re.Matches("5000"));
  EXPECT_FALSE(re.Matches("x500"));
  auto alt = *Matcher::Create(MatchType::kRegexMatch, "a", "x|y");
  EXPECT_TRUE(alt.Matches("y"));
  EXPECT_FALSE(alt.Matches("xy"));
  // The seeds write ^5..$$ in YAML-escaped form; RE2 accepts it.
  auto seed = *Matcher::Create(MatchType::kRegexMatch, "code", "^5..$$");
  EXPECT_TRUE(seed.Matches("503"));
  auto nre = *Matcher::Create(MatchType::kRegexNoMatch, "code", "5..");
  EXPECT_TRUE(nre.Matches("200"));
  EXPECT_TRUE(nre.MatchesEmpty());
  auto dot = *Matcher::Create(MatchType::kRegexMatch, "a", ".*");
  EXPECT_TRUE(dot.Matches("a\nb"));
  EXPECT_TRUE(dot.MatchesEmpty());
}

TEST(MatcherTest, BadRegexIsAnError) {
  auto bad = Matcher::Create(MatchType::kRegexMatch, "a", "(");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("invalid regular expression"),
            std::string::npos);
}

TEST(MatcherTest, ToString) {
  auto m = *Matcher::Create(MatchType::kRegexNoMatch, "a", "x\"y");
  EXPECT_EQ(m.ToString(), "a!~\"x\\\"y\"");
}

}  // namespace
}  // namespace vigil::tsdb
