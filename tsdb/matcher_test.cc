#include "tsdb/matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"

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

// Matchers answer common regex shapes without RE2; every answer must equal
// RE2's on the anchored, (?s) pattern Prometheus uses, including for patterns
// that only look like a shortcut (escapes, alternations with operators).
TEST(MatcherTest, RegexShortcutsAgreeWithRe2) {
  const std::vector<std::string> patterns = {
      ".*",        ".+",       "foo.*",   ".*foo",       ".*foo.*", "foo",
      "foo|bar",   "foo|",     "",        "a\\.b",       "a\\.b.*", ".*\\.com",
      "a.b",       "a\\d",     "foo\\.*", "foo\\\\.*",   ".*.*",    ".*foo|bar",
      "foo.*|bar", "(?i)foo",  "fo+",     "f[o]o",       "^foo$",   "foo$$",
      "x\\|y",     ".*a.*b.*", "\\.\\*",  "10\\.0\\..*", "a|b|c|d", ".+foo",
  };
  const std::vector<std::string> values = {
      "",      "foo",    "bar",   "foobar",   "barfoo", "xfoox",    "a.b",
      "axb",   "a5",     "a\\b",  "fooo",     "FOO",    "foo.",     "foo.bar",
      "x|y",   "x",      "a\nb",  "ab",       ".*",     "10.0.3.1", "c",
      "foo\\", "f\nfoo", "x.com", "foo\nbar",
  };
  RE2::Options options;
  options.set_log_errors(false);
  options.set_dot_nl(true);
  for (const std::string& p : patterns) {
    RE2 reference(absl::StrCat("^(?:", p, ")$"), options);
    ASSERT_TRUE(reference.ok()) << p;
    auto m = Matcher::Create(MatchType::kRegexMatch, "l", p);
    auto n = Matcher::Create(MatchType::kRegexNoMatch, "l", p);
    ASSERT_TRUE(m.ok() && n.ok()) << p;
    for (const std::string& v : values) {
      const bool want = RE2::FullMatch(v, reference);
      EXPECT_EQ(m->Matches(v), want) << "pattern " << p << " value " << v;
      EXPECT_EQ(n->Matches(v), !want) << "pattern " << p << " value " << v;
    }
    EXPECT_EQ(m->MatchesEmpty(), RE2::FullMatch("", reference)) << p;
  }
}

TEST(MatcherTest, ToString) {
  auto m = *Matcher::Create(MatchType::kRegexNoMatch, "a", "x\"y");
  EXPECT_EQ(m.ToString(), "a!~\"x\\\"y\"");
}

}  // namespace
}  // namespace vigil::tsdb
