// Runs every testdata/promql/*.test script through the engine.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "promql/testing/script_runner.h"

namespace vigil::promql::testing {
namespace {

std::vector<std::string> ScriptFiles() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator("testdata/promql")) {
    if (e.path().extension() == ".test") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Scripts, AllScriptsPass) {
  std::vector<std::string> files = ScriptFiles();
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) {
    absl::StatusOr<ScriptResult> r = RunScriptFile(f);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const std::string& line : r->failures) ADD_FAILURE() << line;
    EXPECT_GT(r->passed, 0) << f;
    std::cout << f << ": " << r->passed << " passed, " << r->failed
              << " failed\n";
  }
}

TEST(Scripts, RunnerReportsFailuresWithLineNumbers) {
  ScriptResult r = RunScript("inline", R"(load 1m
  x{a="1"} 1 2 3

eval instant at 2m x
  {__name__="x", a="1"} 3

eval instant at 2m x
  x{a="1"} 4
)");
  EXPECT_EQ(r.passed, 1);
  ASSERT_EQ(r.failed, 1);
  EXPECT_EQ(r.failures[0].rfind("inline:7: ", 0), 0u) << r.failures[0];
}

TEST(Scripts, ValueExpressions) {
  ScriptResult r = RunScript("inline", R"(load 1m
  a 0+10x3
  b -2+4x3
  c 1x2
  d 1 _ 3 _x2 5
  e 1 2 stale

eval instant at 3m a
  a 30
eval instant at 3m b
  b 10
eval instant at 2m c
  c 1
eval instant at 1m d
  d 1
eval instant at 5m d
  d 5
eval instant at 2m e
eval instant at 1m e
  e 2
eval_fail instant at 1m label_replace(a, "1x", "", "", "")
)");
  for (const std::string& f : r.failures) ADD_FAILURE() << f;
  EXPECT_EQ(r.passed, 8);
}

TEST(Scripts, CommandPrintsFailuresAndSummary) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                             : "/tmp") +
      "/cmd.test";
  {
    std::ofstream f(path);
    f << "load 1m\n  x 1 2\n\neval instant at 1m x\n  x 2\n\n"
         "eval instant at 1m x\n  x 3\n";
  }
  std::ostringstream out;
  EXPECT_EQ(RunPromqlTestCommand({path}, out), 1);
  EXPECT_NE(out.str().find(path + ":7: "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("1 passed, 1 failed\n"), std::string::npos)
      << out.str();
  std::ostringstream missing;
  EXPECT_EQ(RunPromqlTestCommand({path + ".nope"}, missing), 1);
  std::ostringstream none;
  EXPECT_EQ(RunPromqlTestCommand({}, none), 0);
  EXPECT_EQ(none.str(), "0 passed, 0 failed\n");
}

}  // namespace
}  // namespace vigil::promql::testing
