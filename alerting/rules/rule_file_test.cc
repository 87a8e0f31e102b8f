#include "alerting/rules/rule_file.h"

#include <string>

#include "gtest/gtest.h"

namespace vigil::alerting {
namespace {

// A stand-in for the PromQL parser: rejects unbalanced parentheses with a
// parser-like message.
absl::Status FakeValidator(absl::string_view expr) {
  int depth = 0;
  for (size_t i = 0; i < expr.size(); ++i) {
    if (expr[i] == '(') ++depth;
    if (expr[i] == ')' && --depth < 0) {
      return absl::InvalidArgumentError("1:" + std::to_string(i + 1) +
                                        ": parse error: unexpected \")\"");
    }
  }
  return absl::OkStatus();
}

std::string Error(const std::string& yaml) {
  absl::StatusOr<RuleFile> f = ParseRuleFile(yaml, "rules.yml", FakeValidator);
  if (f.ok()) return "OK";
  return std::string(f.status().message());
}

TEST(RuleFileTest, SeedNginxRules) {
  absl::StatusOr<RuleFile> f =
      LoadRuleFile("testdata/rules/nginx.yml", FakeValidator);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->groups.size(), 1u);
  const GroupSpec& g = f->groups[0];
  EXPECT_EQ(g.name, "nginx");
  EXPECT_EQ(g.interval_ms, 0);
  ASSERT_EQ(g.rules.size(), 1u);
  const RuleSpec& r = g.rules[0];
  EXPECT_EQ(r.kind, RuleSpec::Kind::kAlert);
  EXPECT_EQ(r.name, "Nginx 100 active connections");
  EXPECT_EQ(r.expr, "nginx_connections_active{job=\"nginx\"} >= 100");
  EXPECT_EQ(r.for_ms, 60000);
  ASSERT_EQ(r.labels.size(), 1u);
  EXPECT_EQ(r.labels[0].first, "severity");
  ASSERT_EQ(r.annotations.size(), 2u);
  EXPECT_EQ(r.annotations[0].first, "title");
  EXPECT_EQ(r.line, 5);
}

TEST(RuleFileTest, GoDemoRules) {
  absl::StatusOr<RuleFile> f =
      LoadRuleFile("testdata/rules/go_demo.yml", FakeValidator);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->RuleCount(), 4u);
  EXPECT_EQ(f->groups[0].interval_ms, 15000);
  EXPECT_EQ(f->groups[0].rules[0].kind, RuleSpec::Kind::kRecord);
  EXPECT_EQ(f->groups[1].limit, 100);
  EXPECT_EQ(f->groups[1].rules[1].keep_firing_for_ms, 60000);
}

TEST(RuleFileTest, UnknownFieldNamesFileLineGroupAndRule) {
  absl::StatusOr<RuleFile> f =
      LoadRuleFile("testdata/rules/bad_unknown_field.yml", FakeValidator);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(std::string(f.status().message()),
            "testdata/rules/bad_unknown_field.yml:5: group \"nginx\", rule 1: "
            "unknown field \"expresion\" in rule\n"
            "testdata/rules/bad_unknown_field.yml:4: group \"nginx\", rule 1, "
            "\"HighConnections\": field 'expr' must be set in rule");
}

TEST(RuleFileTest, BadExpressionFromSeedE30) {
  absl::StatusOr<RuleFile> f =
      LoadRuleFile("testdata/rules/bad_expr.yml", FakeValidator);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(
      std::string(f.status().message()),
      "testdata/rules/bad_expr.yml:5: group \"dfm\", rule 1, \"ErrorRate\": "
      "could not parse expression: 1:76: parse error: unexpected \")\"");
}

TEST(RuleFileTest, MissingFile) {
  absl::StatusOr<RuleFile> f = LoadRuleFile("testdata/rules/nope.yml", nullptr);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
}

TEST(RuleFileTest, Errors) {
  EXPECT_EQ(Error(""), "OK");
  EXPECT_EQ(Error("groups: []"), "OK");
  EXPECT_EQ(Error("group: []"), "rules.yml:1: unknown field \"group\"");
  EXPECT_EQ(Error("groups:\n- name: a\n  rules: []\n- name: a\n"),
            "rules.yml:4: groupname: \"a\" is repeated in the same file");
  EXPECT_EQ(Error("groups:\n- rules: []\n"),
            "rules.yml:2: Groupname must not be empty");
  EXPECT_EQ(Error("groups:\n- name: a\n  interval: 5x\n"),
            "rules.yml:3: group \"a\": not a valid duration string: \"5x\"");
  EXPECT_EQ(Error("groups:\n- name: a\n  evaluation: 5m\n"),
            "rules.yml:3: group \"a\": unknown field \"evaluation\" in group");
  EXPECT_EQ(
      Error("groups:\n- name: a\n  rules:\n  - record: x\n    alert: y\n"
            "    expr: up\n"),
      "rules.yml:4: group \"a\", rule 1: only one of 'record' and 'alert' "
      "must be set");
  EXPECT_EQ(Error("groups:\n- name: a\n  rules:\n  - expr: up\n"),
            "rules.yml:4: group \"a\", rule 1: one of 'record' or 'alert' must "
            "be set");
  EXPECT_EQ(
      Error("groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n"
            "    for: 1m\n"),
      "rules.yml:4: group \"a\", rule 1: invalid field 'for' in recording "
      "rule");
  EXPECT_EQ(
      Error("groups:\n- name: a\n  rules:\n  - record: 'bad name'\n"
            "    expr: up\n"),
      "rules.yml:4: group \"a\", rule 1: invalid recording rule name: bad "
      "name");
  EXPECT_EQ(
      Error("groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n"
            "    labels:\n      0bad: v\n"),
      "rules.yml:4: group \"a\", rule 1, \"x\": invalid label name: 0bad");
  EXPECT_EQ(Error("groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n"
                  "    annotations:\n      s: '{{ $labels.x | nosuch }}'\n"),
            "rules.yml:4: group \"a\", rule 1, \"x\": annotation \"s\": "
            "template: __alert_x:1:16: function \"nosuch\" not defined");
  EXPECT_EQ(Error("groups:\n- name: a\n  rules: [\n"),
            "rules.yml:4: yaml: end of sequence flow not found");
}

TEST(RuleFileTest, Durations) {
  EXPECT_EQ(*ParsePromDuration("1m"), 60000);
  EXPECT_EQ(*ParsePromDuration("1h30m"), 5400000);
  EXPECT_EQ(*ParsePromDuration("250ms"), 250);
  EXPECT_EQ(*ParsePromDuration("1d"), 86400000);
  EXPECT_EQ(*ParsePromDuration("0"), 0);
  EXPECT_FALSE(ParsePromDuration("").ok());
  EXPECT_FALSE(ParsePromDuration("1m1h").ok());
  EXPECT_FALSE(ParsePromDuration("1.5m").ok());
  EXPECT_FALSE(ParsePromDuration("-1m").ok());
  EXPECT_EQ(FormatPromDuration(5400000), "1h30m");
  EXPECT_EQ(FormatPromDuration(0), "0s");
  EXPECT_EQ(FormatPromDuration(60000), "1m");
}

}  // namespace
}  // namespace vigil::alerting
