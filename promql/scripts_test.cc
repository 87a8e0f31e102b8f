// Runs every testdata/promql/*.test script through the engine.
#include <algorithm>
#include <filesystem>
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

}  // namespace
}  // namespace vigil::promql::testing
