#include "server/flags.h"

#include "gtest/gtest.h"
#include "server/duration.h"

namespace vigil::server {
namespace {

TEST(FlagsTest, Defaults) {
  absl::StatusOr<ServeFlags> f = ParseServeFlags({});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->listen_address, "0.0.0.0:9090");
  EXPECT_EQ(f->storage_tsdb_path, "data/");
  EXPECT_EQ(f->retention_time_ms, 15LL * 86400 * 1000);
  EXPECT_EQ(f->query_timeout_ms, 120000);
  EXPECT_EQ(f->query_max_samples, 50000000);
  EXPECT_EQ(f->query_max_concurrency, 20);
  EXPECT_EQ(f->query_lookback_delta_ms, 300000);
  EXPECT_EQ(f->for_outage_tolerance_ms, 3600000);
  EXPECT_EQ(f->for_grace_period_ms, 600000);
  EXPECT_EQ(f->resend_delay_ms, 60000);
  EXPECT_FALSE(f->enable_lifecycle);
  EXPECT_EQ(f->values.at("query.timeout"), "2m");
  EXPECT_EQ(f->values.at("log.format"), "logfmt");
  EXPECT_EQ(f->external_url.rfind("http://", 0), 0u);
  EXPECT_EQ(f->external_url.substr(f->external_url.size() - 5), ":9090");
}

TEST(FlagsTest, BothValueFormsAndBareBooleans) {
  absl::StatusOr<ServeFlags> f = ParseServeFlags(
      {"--web.listen-address", "127.0.0.1:1234", "--config.file=x.yml",
       "--web.enable-lifecycle", "--web.enable-admin-api=false",
       "--storage.tsdb.retention.size=1GB", "--query.lookback-delta=1m",
       "--web.external-url=http://h:9090/prom/"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->listen_address, "127.0.0.1:1234");
  EXPECT_EQ(f->config_file, "x.yml");
  EXPECT_TRUE(f->enable_lifecycle);
  EXPECT_FALSE(f->enable_admin_api);
  EXPECT_EQ(f->retention_size_bytes, 1LL << 30);
  EXPECT_EQ(f->query_lookback_delta_ms, 60000);
  EXPECT_EQ(f->route_prefix, "/prom");
  // Trailing slash trimmed, as Prometheus does.
  EXPECT_EQ(f->external_url, "http://h:9090/prom");
  EXPECT_EQ(f->values.at("web.enable-lifecycle"), "true");
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  auto f = ParseServeFlags({"--web.listen-adress=x"});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "unknown flag --web.listen-adress");
  f = ParseServeFlags({"--query.timeout=soon"});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("--query.timeout"), std::string::npos);
  f = ParseServeFlags({"--config.file"});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "flag --config.file needs a value");
  f = ParseServeFlags({"--log.format=xml"});
  EXPECT_FALSE(f.ok());
  f = ParseServeFlags({"--web.enable-lifecycle=yes"});
  EXPECT_FALSE(f.ok());
  f = ParseServeFlags({"stray"});
  EXPECT_FALSE(f.ok());
}

TEST(FlagsTest, UsageListsEveryFlag) {
  std::string u = ServeUsage();
  EXPECT_NE(u.find("--web.enable-remote-write-receiver"), std::string::npos);
  EXPECT_NE(u.find("--rules.alert.for-outage-tolerance"), std::string::npos);
}

TEST(DurationTest, ParseAndFormat) {
  EXPECT_EQ(*ParsePromDuration("1h30m"), 5400000);
  EXPECT_EQ(*ParsePromDuration("15d"), 15LL * 86400000);
  EXPECT_EQ(*ParsePromDuration("1y"), 365LL * 86400000);
  EXPECT_EQ(*ParsePromDuration("250ms"), 250);
  EXPECT_EQ(*ParsePromDuration("1s500ms"), 1500);
  EXPECT_EQ(*ParsePromDuration("0"), 0);
  EXPECT_FALSE(ParsePromDuration("").ok());
  EXPECT_FALSE(ParsePromDuration("5").ok());
  EXPECT_FALSE(ParsePromDuration("1m1h").ok());
  EXPECT_FALSE(ParsePromDuration("1.5h").ok());
  EXPECT_FALSE(ParsePromDuration("99999999999999999999y").ok());
  EXPECT_EQ(FormatPromDuration(5400000), "1h30m");
  EXPECT_EQ(FormatPromDuration(15LL * 86400000), "15d");
  EXPECT_EQ(FormatPromDuration(14LL * 86400000), "2w");
  EXPECT_EQ(FormatPromDuration(0), "0s");
  EXPECT_EQ(FormatPromDuration(1500), "1s500ms");
  EXPECT_EQ(*ParseByteSize("512MB"), 512LL << 20);
  EXPECT_EQ(*ParseByteSize("0B"), 0);
  EXPECT_EQ(*ParseByteSize("100"), 100);
  EXPECT_FALSE(ParseByteSize("1XB").ok());
}

}  // namespace
}  // namespace vigil::server
