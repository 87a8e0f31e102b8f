#include "server/default_config.h"

#include "alerting/rules/rule_file.h"
#include "gtest/gtest.h"
#include "promql/parser/parser.h"
#include "server/config/config.h"

namespace vigil::server {
namespace {

TEST(DefaultConfigTest, ScrapesItselfAndParses) {
  std::string yaml = DefaultConfigYaml("0.0.0.0:9090");
  absl::StatusOr<config::Config> c = config::ParseConfig(yaml, "<embedded>");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->scrape_configs.size(), 1u);
  EXPECT_EQ(c->scrape_configs[0].job_name, "vigil");
  EXPECT_EQ(c->scrape_configs[0].scrape_interval, absl::Seconds(15));
  EXPECT_NE(yaml.find("'localhost:9090'"), std::string::npos);
  EXPECT_NE(DefaultConfigYaml("127.0.0.1:1234").find("'127.0.0.1:1234'"),
            std::string::npos);
}

TEST(DefaultConfigTest, EmbeddedRulesParseWithRealExpressions) {
  absl::StatusOr<alerting::RuleFile> f = alerting::ParseRuleFile(
      kDefaultRulesYaml, std::string(kDefaultRulesName),
      [](absl::string_view expr) { return promql::ParseExpr(expr).status(); });
  ASSERT_TRUE(f.ok()) << f.status();
}

}  // namespace
}  // namespace vigil::server
