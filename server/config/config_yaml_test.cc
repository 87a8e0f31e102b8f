#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "server/config/config.h"

namespace vigil::config {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The goldens are what Prometheus 2.42 returned on /api/v1/status/config
// for the same input (see testdata/config/status_config/README.md). The
// inputs are parsed as "prometheus.yml" in the current directory, as
// Prometheus was run, so relative paths stay as written.
void ExpectMatchesPrometheus(const std::string& name) {
  const std::string dir = "testdata/config/status_config/";
  absl::StatusOr<Config> cfg =
      ParseConfig(Read(dir + name + "_input.yml"), "prometheus.yml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(ConfigToYaml(*cfg), Read(dir + name + "_prometheus_2.42.golden"));
}

TEST(ConfigToYamlTest, SeedsConfigMatchesPrometheus) {
  ExpectMatchesPrometheus("seeds");
}

TEST(ConfigToYamlTest, QuotingAndAuthMatchPrometheus) {
  ExpectMatchesPrometheus("quoting");
}

TEST(ConfigToYamlTest, DefaultConfig) {
  absl::StatusOr<Config> cfg = ParseConfig("", "");
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(ConfigToYaml(*cfg),
            "global:\n"
            "  scrape_interval: 1m\n"
            "  scrape_timeout: 10s\n"
            "  evaluation_interval: 1m\n");
}

TEST(ConfigToYamlTest, OutputParsesBackToTheSameConfig) {
  absl::StatusOr<Config> a = ParseConfig(
      Read("testdata/config/status_config/seeds_input.yml"), "prometheus.yml");
  ASSERT_TRUE(a.ok()) << a.status();
  // Secrets are masked, so drop them before the round trip.
  for (ScrapeConfig& sc : a->scrape_configs) sc.basic_auth.reset();
  std::string yaml = ConfigToYaml(*a);
  absl::StatusOr<Config> b = ParseConfig(yaml, "prometheus.yml");
  ASSERT_TRUE(b.ok()) << b.status() << "\n" << yaml;
  EXPECT_EQ(ConfigToYaml(*b), yaml);
}

}  // namespace
}  // namespace vigil::config
