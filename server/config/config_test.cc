#include "server/config/config.h"

#include "gtest/gtest.h"

namespace vigil::config {
namespace {

TEST(ConfigTest, EmptyDocumentIsDefaultConfig) {
  absl::StatusOr<Config> c = ParseConfig("", "prometheus.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->global.scrape_interval, absl::Minutes(1));
}

}  // namespace
}  // namespace vigil::config
