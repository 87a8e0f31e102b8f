#include "alerting/rules/check_rules.h"

#include <sstream>

#include "gtest/gtest.h"

namespace vigil::alerting {
namespace {

TEST(CheckRulesTest, SeedFilesWithRealParser) {
  std::ostringstream out, err;
  int code =
      CheckRules({"testdata/rules/nginx.yml", "testdata/rules/go_demo.yml"},
                 PromQLValidator(), out, err);
  EXPECT_EQ(code, 0) << err.str();
  EXPECT_EQ(
      out.str(),
      "Checking testdata/rules/nginx.yml\n  SUCCESS: 1 rules found\n\n"
      "Checking testdata/rules/go_demo.yml\n  SUCCESS: 4 rules found\n\n");
  EXPECT_EQ(err.str(), "");
}

TEST(CheckRulesTest, SeedE30IsRejectedWithPosition) {
  std::ostringstream out, err;
  int code =
      CheckRules({"testdata/rules/bad_expr.yml"}, PromQLValidator(), out, err);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out.str(), "Checking testdata/rules/bad_expr.yml\n");
  EXPECT_EQ(err.str().rfind("  FAILED:\ntestdata/rules/bad_expr.yml:5: group "
                            "\"dfm\", rule 1, \"ErrorRate\": could not parse "
                            "expression: 1:",
                            0),
            0u)
      << err.str();
}

TEST(CheckRulesTest, MissingFile) {
  std::ostringstream out, err;
  EXPECT_EQ(
      CheckRules({"testdata/rules/none.yml"}, PromQLValidator(), out, err), 1);
  EXPECT_NE(err.str().find("cannot read rule file"), std::string::npos);
}

}  // namespace
}  // namespace vigil::alerting
