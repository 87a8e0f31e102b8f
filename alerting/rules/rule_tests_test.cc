#include "alerting/rules/rule_tests.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vigil::alerting {
namespace {

constexpr char kDir[] = "testdata/rule_tests/";

std::string RunTestFile(const std::string& file, int* code) {
  std::ostringstream out;
  *code = RunRuleTestsCommand({kDir + file}, out);
  return out.str();
}

TEST(RuleTestsTest, SeedRulesPass) {
  int code = -1;
  std::string out = RunTestFile("go_demo_test.yml", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, absl::StrCat("Unit Testing:  ", kDir,
                              "go_demo_test.yml\n  SUCCESS\n\n"));
}

TEST(RuleTestsTest, WrongExpectationsAreReportedWithExpectedAndGot) {
  int code = -1;
  std::string out = RunTestFile("failing_test.yml", &code);
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(absl::StrContains(out, "  FAILED:\n")) << out;
  // The alert: expected scale=down, got scale=up.
  EXPECT_TRUE(absl::StrContains(
      out, "alertname: godemo_main_resp_time_above, time: 5m"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "scale=\"down\"")) << out;
  EXPECT_TRUE(absl::StrContains(out, "scale=\"up\"")) << out;
  EXPECT_TRUE(absl::StrContains(out, "summary=\"Response time")) << out;
  // The expression: expected 0.5, got 0.9.
  EXPECT_TRUE(absl::StrContains(
      out, "expr: \"service:resp_time_below_0_1:ratio\", time: 5m"))
      << out;
  // promtool's format: labels with __name__ inside, Go's %E values.
  EXPECT_TRUE(
      absl::StrContains(out,
                        "exp: {__name__=\"service:resp_time_below_0_1:ratio\", "
                        "service=\"go-demo_main\"} 5E-01\n        got: "
                        "{__name__=\"service:resp_time_below_0_1:ratio\", "
                        "service=\"go-demo_main\"} 9E-01\n"))
      << out;
}

TEST(RuleTestsTest, UnknownFieldsNameFileAndLine) {
  int code = -1;
  std::string out = RunTestFile("unknown_field_test.yml", &code);
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(absl::StrContains(
      out, "unknown_field_test.yml:5: unknown field \"input_serie\""))
      << out;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

TEST(RuleTestsTest, BadInputsAreFailuresNotCrashes) {
  std::string rules = WriteTemp("r.yml",
                                "groups:\n"
                                "  - name: g\n"
                                "    rules:\n"
                                "      - record: x:sum\n"
                                "        expr: sum(x)\n");
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"rule_files: [r.yml]\ntests:\n  - input_series:\n"
       "      - series: 'x{'\n        values: '1'\n",
       "input series \"x{\""},
      {"rule_files: [r.yml]\ntests:\n  - input_series:\n"
       "      - series: 'x'\n        values: '1 zz'\n",
       "bad sample value \"zz\""},
      {"rule_files: [missing.yml]\ntests: []\n", "missing.yml not found"},
      {"rule_files: [r.yml]\nevaluation_interval: soon\n",
       "bad duration \"soon\""},
      {"rule_files: [r.yml]\ntests:\n  - promql_expr_test:\n"
       "      - expr: 'sum(('\n        eval_time: 0s\n",
       "expr: \"sum((\", time: 0s,\n        err:"},
      {"rule_files: [r.yml]\ntests: [\n", ":"},
  };
  for (const Case& c : cases) {
    std::string path = WriteTemp("t.yml", c.text);
    std::ostringstream out;
    EXPECT_EQ(RunRuleTestsCommand({path}, out), 1) << c.text;
    EXPECT_TRUE(absl::StrContains(out.str(), c.want)) << c.text << "\n---\n"
                                                      << out.str();
  }
}

TEST(RuleTestsTest, RecordingRuleStalenessAndGroupsPerTest) {
  std::string rules = WriteTemp("stale_rules.yml",
                                "groups:\n"
                                "  - name: g\n"
                                "    rules:\n"
                                "      - record: job:x:sum\n"
                                "        expr: sum by (job) (x)\n");
  // x{job="b"} stops after 1m: its recorded series goes stale, so at 3m
  // only job a is left (without a staleness marker the 5m lookback would
  // still return b).
  std::string path = WriteTemp("stale_test.yml",
                               "rule_files: [stale_rules.yml]\n"
                               "tests:\n"
                               "  - interval: 1m\n"
                               "    input_series:\n"
                               "      - series: 'x{job=\"a\"}'\n"
                               "        values: '1x5'\n"
                               "      - series: 'x{job=\"b\"}'\n"
                               "        values: '2 2 stale'\n"
                               "    promql_expr_test:\n"
                               "      - expr: job:x:sum\n"
                               "        eval_time: 3m\n"
                               "        exp_samples:\n"
                               "          - labels: 'job:x:sum{job=\"a\"}'\n"
                               "            value: 1\n");
  std::ostringstream out;
  EXPECT_EQ(RunRuleTestsCommand({path}, out), 0) << out.str();
}

// The same files through Debian's promtool, when installed: what Vigil
// accepts and rejects, promtool does too.
TEST(RuleTestsTest, PromtoolAgrees) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  }
  for (const auto& [file, want] :
       {std::pair<std::string, int>{"go_demo_test.yml", 0},
        std::pair<std::string, int>{"failing_test.yml", 1}}) {
    std::string cmd = absl::StrCat("/usr/bin/promtool test rules ", kDir, file,
                                   " > /dev/null 2>&1");
    int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), want) << file;
  }
}

}  // namespace
}  // namespace vigil::alerting
