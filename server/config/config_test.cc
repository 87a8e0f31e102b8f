#include "server/config/config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestdata[] = "testdata/config/";

Config MustParse(absl::string_view yaml) {
  absl::StatusOr<Config> c = ParseConfig(yaml, "prometheus.yml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : Config();
}

std::string ParseError(absl::string_view yaml) {
  absl::StatusOr<Config> c = ParseConfig(yaml, "prometheus.yml");
  EXPECT_FALSE(c.ok()) << "parsed unexpectedly:\n" << yaml;
  return c.ok() ? "" : std::string(c.status().message());
}

// --- Durations and sizes ----------------------------------------------------

TEST(DurationTest, ParsesPrometheusSyntax) {
  EXPECT_EQ(*ParsePromDuration("15s"), absl::Seconds(15));
  EXPECT_EQ(*ParsePromDuration("1m30s"), absl::Seconds(90));
  EXPECT_EQ(*ParsePromDuration("100ms"), absl::Milliseconds(100));
  EXPECT_EQ(*ParsePromDuration("1d"), absl::Hours(24));
  EXPECT_EQ(*ParsePromDuration("2w"), absl::Hours(24 * 14));
  EXPECT_EQ(*ParsePromDuration("1y"), absl::Hours(24 * 365));
  EXPECT_EQ(*ParsePromDuration("1h1m1s1ms"), absl::Hours(1) + absl::Minutes(1) +
                                                 absl::Seconds(1) +
                                                 absl::Milliseconds(1));
  EXPECT_EQ(*ParsePromDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(*ParsePromDuration("0s"), absl::ZeroDuration());
  EXPECT_EQ(*ParsePromDuration("90m"), absl::Minutes(90));
}

TEST(DurationTest, RejectsMalformed) {
  for (const char* bad : {"", "15", "15 s", "1.5s", "-1s", "1s1m", "1S", "1mm",
                          "m", "15seconds", "1h 1m"}) {
    EXPECT_FALSE(ParsePromDuration(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParsePromDuration("99999999999999999999y").ok());
  EXPECT_FALSE(ParsePromDuration("300000000y").ok());
}

TEST(DurationTest, FormatsLikePrometheus) {
  EXPECT_EQ(FormatPromDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatPromDuration(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(FormatPromDuration(absl::Hours(24 * 14)), "2w");
  EXPECT_EQ(FormatPromDuration(absl::Hours(24 * 90)), "90d");
  EXPECT_EQ(FormatPromDuration(absl::Hours(24 * 365)), "1y");
  EXPECT_EQ(FormatPromDuration(absl::Milliseconds(1500)), "1s500ms");
  for (const char* s : {"15s", "1m30s", "2w", "1y", "100ms", "1d2h"}) {
    EXPECT_EQ(FormatPromDuration(*ParsePromDuration(s)), s);
  }
}

TEST(ByteSizeTest, ParsesBase2Units) {
  EXPECT_EQ(*ParseByteSize("0"), 0);
  EXPECT_EQ(*ParseByteSize("512B"), 512);
  EXPECT_EQ(*ParseByteSize("1KB"), 1024);
  EXPECT_EQ(*ParseByteSize("1KiB"), 1024);
  EXPECT_EQ(*ParseByteSize("512MB"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("1GB"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("1GiB"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("1GB512MB"), (int64_t{1} << 30) + (512 << 20));
  EXPECT_EQ(*ParseByteSize("1.5KB"), 1536);
}

TEST(ByteSizeTest, RejectsMalformed) {
  for (const char* bad :
       {"", "100", "10 MB", "10mb", "MB", "1XB", "-1MB", "1GiB512MB"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseByteSize("100000000EB").ok());
}

// --- Defaults ---------------------------------------------------------------

TEST(ConfigTest, EmptyDocumentIsDefaultConfig) {
  Config c = MustParse("");
  EXPECT_EQ(c.global.scrape_interval, absl::Minutes(1));
  EXPECT_EQ(c.global.scrape_timeout, absl::Seconds(10));
  EXPECT_EQ(c.global.evaluation_interval, absl::Minutes(1));
  EXPECT_THAT(c.global.scrape_protocols,
              ElementsAre("OpenMetricsText1.0.0", "OpenMetricsText0.0.1",
                          "PrometheusText0.0.4"));
  EXPECT_TRUE(c.scrape_configs.empty());
  EXPECT_TRUE(c.rule_files.empty());
  EXPECT_TRUE(MustParse("# only a comment\n").scrape_configs.empty());
}

TEST(ConfigTest, ScrapeConfigDefaults) {
  Config c = MustParse(R"(
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['a:9100', 'b:9100']
)");
  ASSERT_EQ(c.scrape_configs.size(), 1u);
  const ScrapeConfig& sc = c.scrape_configs[0];
  EXPECT_EQ(sc.job_name, "node");
  EXPECT_EQ(sc.scrape_interval, absl::Minutes(1));
  EXPECT_EQ(sc.scrape_timeout, absl::Seconds(10));
  EXPECT_EQ(sc.metrics_path, "/metrics");
  EXPECT_EQ(sc.scheme, "http");
  EXPECT_FALSE(sc.honor_labels);
  EXPECT_TRUE(sc.honor_timestamps);
  EXPECT_EQ(sc.sample_limit, 0u);
  EXPECT_EQ(sc.body_size_limit, 0);
  EXPECT_EQ(sc.scrape_protocols, DefaultScrapeProtocols());
  EXPECT_FALSE(sc.basic_auth.has_value());
  ASSERT_EQ(sc.static_configs.size(), 1u);
  EXPECT_EQ(sc.static_configs[0].source, "0");
  ASSERT_EQ(sc.static_configs[0].targets.size(), 2u);
  EXPECT_EQ(sc.static_configs[0].targets[1].Get("__address__"), "b:9100");
}

TEST(ConfigTest, TimeoutInheritsAndIsCappedByInterval) {
  // An unset timeout is min(global timeout, job interval).
  Config c = MustParse(R"(
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: a
  - job_name: b
    scrape_interval: 30s
  - job_name: c
    scrape_interval: 2s
)");
  EXPECT_EQ(c.global.scrape_timeout, absl::Seconds(5));
  EXPECT_EQ(c.scrape_configs[0].scrape_interval, absl::Seconds(5));
  EXPECT_EQ(c.scrape_configs[0].scrape_timeout, absl::Seconds(5));
  EXPECT_EQ(c.scrape_configs[1].scrape_timeout, absl::Seconds(5));
  EXPECT_EQ(c.scrape_configs[2].scrape_timeout, absl::Seconds(2));

  Config d = MustParse(R"(
global:
  scrape_interval: 1m
scrape_configs:
  - job_name: a
    scrape_interval: 2s
)");
  EXPECT_EQ(d.scrape_configs[0].scrape_timeout, absl::Seconds(2));
}

TEST(ConfigTest, GlobalAfterScrapeConfigsStillApplies) {
  Config c = MustParse(R"(
scrape_configs:
  - job_name: a
global:
  scrape_interval: 7s
)");
  EXPECT_EQ(c.scrape_configs[0].scrape_interval, absl::Seconds(7));
}

// --- The realistic example file
// -----------------------------------------------

TEST(ConfigTest, LoadsExampleFile) {
  const std::string path = std::string(kTestdata) + "prometheus.yml";
  absl::StatusOr<Config> c = LoadConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source_path, path);
  EXPECT_THAT(c->source_text, HasSubstr("codelab-monitor"));

  EXPECT_EQ(c->global.scrape_interval, absl::Seconds(15));
  EXPECT_EQ(c->global.scrape_timeout, absl::Seconds(10));
  EXPECT_EQ(c->global.evaluation_interval, absl::Minutes(1));
  EXPECT_EQ(c->global.external_labels.Get("monitor"), "codelab-monitor");
  EXPECT_THAT(c->rule_files, ElementsAre("rules/*.yml", "alert.rules"));

  ASSERT_EQ(c->scrape_configs.size(), 6u);
  const ScrapeConfig& prom = c->scrape_configs[0];
  EXPECT_EQ(prom.job_name, "prometheus");
  ASSERT_EQ(prom.relabel_configs.size(), 1u);
  EXPECT_EQ(prom.relabel_configs[0].action, RelabelAction::kReplace);
  EXPECT_EQ(prom.relabel_configs[0].target_label, "my_new_label");
  EXPECT_EQ(prom.relabel_configs[0].regex_source, "(.*)");
  EXPECT_EQ(prom.relabel_configs[0].separator, ";");

  const ScrapeConfig& nginx = c->scrape_configs[1];
  EXPECT_EQ(nginx.scrape_interval, absl::Seconds(10));
  EXPECT_EQ(nginx.scrape_timeout, absl::Seconds(10));
  EXPECT_EQ(nginx.static_configs[0].labels.Get("env"), "prod");

  const ScrapeConfig& cadvisor = c->scrape_configs[2];
  ASSERT_EQ(cadvisor.dns_sd_configs.size(), 1u);
  EXPECT_THAT(cadvisor.dns_sd_configs[0].names,
              ElementsAre("tasks.exporter_cadvisor"));
  EXPECT_EQ(cadvisor.dns_sd_configs[0].type, "A");
  EXPECT_EQ(cadvisor.dns_sd_configs[0].port, 8080);
  EXPECT_EQ(cadvisor.dns_sd_configs[0].refresh_interval, absl::Seconds(30));

  EXPECT_EQ(c->scrape_configs[3].metric_relabel_configs[0].action,
            RelabelAction::kDrop);
  EXPECT_EQ(c->scrape_configs[4].scrape_timeout, absl::Seconds(5));
  EXPECT_EQ(c->scrape_configs[4].dns_sd_configs[0].refresh_interval,
            absl::Seconds(15));

  const ScrapeConfig& django = c->scrape_configs[5];
  EXPECT_EQ(django.metrics_path, "/prometheus/metrics");
  EXPECT_EQ(django.scheme, "https");
  EXPECT_TRUE(django.honor_labels);
  EXPECT_EQ(django.sample_limit, 10000u);
  EXPECT_EQ(django.body_size_limit, 10 << 20);
  EXPECT_THAT(django.params.at("format"), ElementsAre("prometheus"));
  ASSERT_TRUE(django.basic_auth.has_value());
  EXPECT_EQ(django.basic_auth->username, "vigil");
  // Relative paths are resolved against the config file's directory.
  EXPECT_EQ(django.basic_auth->password_file,
            "testdata/config/secrets/django_password");
  ASSERT_EQ(django.file_sd_configs.size(), 1u);
  EXPECT_THAT(django.file_sd_configs[0].files,
              ElementsAre("testdata/config/targets/*.json",
                          "testdata/config/targets/*.yml"));
  EXPECT_EQ(django.file_sd_configs[0].refresh_interval, absl::Minutes(1));
  EXPECT_EQ(django.relabel_configs[1].action, RelabelAction::kHashMod);
  EXPECT_EQ(django.relabel_configs[1].modulus, 4u);

  EXPECT_EQ(c->alerting.alert_relabel_configs[0].action,
            RelabelAction::kLabelDrop);
  ASSERT_EQ(c->alerting.alertmanagers.size(), 2u);
  EXPECT_THAT(c->alerting.alertmanagers[0].dns_sd_configs[0].names,
              ElementsAre("tasks.alertmanager"));
  EXPECT_EQ(c->alerting.alertmanagers[0].api_version, "v2");
  EXPECT_EQ(c->alerting.alertmanagers[0].timeout, absl::Seconds(10));
  EXPECT_EQ(c->alerting.alertmanagers[1].timeout, absl::Seconds(5));
  EXPECT_EQ(c->alerting.alertmanagers[1].static_configs[0].targets[0].Get(
                "__address__"),
            "192.168.121.174:9093");

  ASSERT_EQ(c->remote_write.size(), 1u);
  const RemoteWriteConfig& rw = c->remote_write[0];
  EXPECT_EQ(rw.url, "http://victoria:8428/api/v1/write");
  EXPECT_EQ(rw.remote_timeout, absl::Seconds(15));
  EXPECT_EQ(rw.headers.at("X-Scope-OrgID"), "team-a");
  EXPECT_EQ(rw.queue_config.capacity, 10000);
  EXPECT_EQ(rw.queue_config.max_shards, 10);
  EXPECT_EQ(rw.queue_config.min_shards, 1);
  EXPECT_EQ(rw.queue_config.max_samples_per_send, 2000);
  EXPECT_EQ(rw.queue_config.batch_send_deadline, absl::Seconds(10));
  EXPECT_EQ(rw.queue_config.min_backoff, absl::Milliseconds(30));
  EXPECT_EQ(rw.queue_config.max_backoff, absl::Seconds(5));
}

TEST(ConfigTest, RemoteWriteMetadataConfig) {
  absl::StatusOr<Config> d =
      ParseConfig("remote_write:\n- url: http://x/\n", "prometheus.yml");
  ASSERT_TRUE(d.ok()) << d.status();
  // Prometheus's defaults.
  EXPECT_TRUE(d->remote_write[0].metadata_config.send);
  EXPECT_EQ(d->remote_write[0].metadata_config.send_interval, absl::Minutes(1));
  EXPECT_EQ(d->remote_write[0].metadata_config.max_samples_per_send, 500);
  absl::StatusOr<Config> c = ParseConfig(
      "remote_write:\n- url: http://x/\n  metadata_config:\n    send: false\n"
      "    send_interval: 30s\n    max_samples_per_send: 100\n"
      "- url: http://y/\n  metadata_config: {send: false, send_interval: 0s}\n",
      "prometheus.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->remote_write[0].metadata_config.send);
  EXPECT_EQ(c->remote_write[0].metadata_config.send_interval,
            absl::Seconds(30));
  EXPECT_EQ(c->remote_write[0].metadata_config.max_samples_per_send, 100);
  // A zero interval is fine when nothing is sent.
  EXPECT_FALSE(c->remote_write[1].metadata_config.send);
}

TEST(ConfigTest, ResolvesRuleFilesRelativeToConfigDir) {
  absl::StatusOr<Config> c =
      LoadConfigFile(std::string(kTestdata) + "prometheus.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::vector<std::string>> files = ResolveRuleFiles(*c);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ElementsAre("testdata/config/alert.rules",
                                  "testdata/config/rules/memory.yml",
                                  "testdata/config/rules/nginx.yml"));
}

TEST(ConfigTest, ResolveRuleFilesMissingAndBadPatterns) {
  Config c = MustParse("rule_files: ['nothing/*.yml', 'absent.yml']");
  absl::StatusOr<std::vector<std::string>> files = ResolveRuleFiles(c);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE(files->empty());

  Config bad;
  bad.rule_files = {"rules/[a-.yml"};
  EXPECT_FALSE(ResolveRuleFiles(bad).ok());
  bad.rule_files = {"*/rules.yml"};
  EXPECT_FALSE(ResolveRuleFiles(bad).ok());
}

TEST(ConfigTest, LoadConfigFileMissingFile) {
  absl::StatusOr<Config> c = LoadConfigFile("/nonexistent/prometheus.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsNotFound(c.status())) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/prometheus.yml"));
}

// --- Errors: every one names the file, the line and the place
// -----------------

TEST(ConfigErrorTest, UnknownFieldNamesFileLineAndPlace) {
  absl::StatusOr<Config> c =
      LoadConfigFile(std::string(kTestdata) + "unknown_field.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "testdata/config/unknown_field.yml:6: unknown field "
            "\"scrape_intervall\" in scrape_configs[0]");
}

TEST(ConfigErrorTest, UnknownFieldsEverywhere) {
  EXPECT_EQ(ParseError("foo: 1\n"),
            "prometheus.yml:1: unknown field \"foo\" in the top-level config");
  EXPECT_EQ(ParseError("global:\n  scrape_interval: 1m\n  evaluation: 1m\n"),
            "prometheus.yml:3: unknown field \"evaluation\" in global");
  EXPECT_EQ(ParseError(R"(scrape_configs:
- job_name: a
  static_configs:
  - targets: [x]
    label: {a: b}
)"),
            "prometheus.yml:5: unknown field \"label\" in "
            "scrape_configs[0].static_configs[0]");
  EXPECT_EQ(ParseError(R"(scrape_configs:
- job_name: a
  relabel_configs:
  - source_labels: [a]
    target: b
)"),
            "prometheus.yml:5: unknown field \"target\" in "
            "scrape_configs[0].relabel_configs[0]");
  EXPECT_EQ(ParseError(R"(alerting:
  alertmanagers:
  - static_config: []
)"),
            "prometheus.yml:3: unknown field \"static_config\" in "
            "alerting.alertmanagers[0]");
  EXPECT_EQ(ParseError(R"(remote_write:
- url: http://x/
  queue_config:
    capacity: 1
    max_shard: 2
)"),
            "prometheus.yml:5: unknown field \"max_shard\" in "
            "remote_write[0].queue_config");
}

TEST(ConfigErrorTest, DuplicateKeys) {
  EXPECT_EQ(
      ParseError("global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n"),
      "prometheus.yml:3: field \"scrape_interval\" already set in "
      "global");
}

TEST(ConfigErrorTest, UnsupportedServiceDiscovery) {
  EXPECT_THAT(ParseError(R"(scrape_configs:
- job_name: k
  kubernetes_sd_configs:
  - role: pod
)"),
              HasSubstr("prometheus.yml:3: scrape_configs[0]: "
                        "\"kubernetes_sd_configs\" is not supported"));
}

TEST(ConfigErrorTest, ExampleBrokenFiles) {
  struct Case {
    const char* file;
    const char* message;
  };
  const Case cases[] = {
      {"timeout_greater_than_interval.yml",
       "timeout_greater_than_interval.yml:2: scrape_configs[0]: scrape "
       "timeout 10s greater than scrape interval 5s for scrape config with "
       "job name \"nginx\""},
      {"duplicate_job.yml",
       "duplicate_job.yml:5: scrape_configs[1]: found multiple scrape "
       "configs with job name \"node\""},
      {"bad_duration.yml",
       "bad_duration.yml:2: global.scrape_interval: not a valid duration "
       "string: \"15 seconds\""},
      {"bad_regex.yml",
       "bad_regex.yml:7: scrape_configs[0].relabel_configs[0].regex: invalid "
       "regex \"(unclosed\": missing ): ^(?:(unclosed)$"},
      {"bad_label_name.yml",
       "bad_label_name.yml:3: global.external_labels: \"0monitor\" is not a "
       "valid label name"},
      {"yaml_syntax_error.yml",
       "yaml_syntax_error.yml:5:1: YAML syntax error: end of sequence flow "
       "not found"},
  };
  for (const Case& tc : cases) {
    absl::StatusOr<Config> c = LoadConfigFile(std::string(kTestdata) + tc.file);
    ASSERT_FALSE(c.ok()) << tc.file;
    EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
    EXPECT_THAT(std::string(c.status().message()),
                HasSubstr(std::string("testdata/config/") + tc.message))
        << tc.file;
  }
}

TEST(ConfigErrorTest, ValidationErrors) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case cases[] = {
      {"global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
       "global scrape timeout 6s greater than scrape interval 5s"},
      {"global:\n  scrape_interval: [1m]\n", "expected a string, got a list"},
      {"global: 3\n", "global: expected a mapping, got a scalar"},
      {"scrape_configs:\n- static_configs: []\n", "job_name is empty"},
      {"scrape_configs:\n-\n", "empty or null scrape config section"},
      {"scrape_configs:\n- job_name: a\n  scheme: ftp\n", "invalid scheme"},
      {"scrape_configs:\n- job_name: a\n  honor_labels: maybe\n",
       "invalid boolean \"maybe\""},
      {"scrape_configs:\n- job_name: a\n  sample_limit: -1\n",
       "invalid unsigned integer \"-1\""},
      {"scrape_configs:\n- job_name: a\n  body_size_limit: 10 megs\n",
       "not a valid size"},
      {"scrape_configs:\n- job_name: a\n  scrape_protocols: [Foo]\n",
       "unknown scrape protocol Foo"},
      {"scrape_configs:\n- job_name: a\n  scrape_protocols: "
       "[PrometheusText0.0.4, PrometheusText0.0.4]\n",
       "duplicated protocol in scrape_protocols"},
      {"scrape_configs:\n- job_name: a\n  scrape_protocols: []\n",
       "scrape_protocols cannot be empty"},
      {"scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: "
       "['http://a:80/metrics']\n",
       "\"http://a:80/metrics\" is not a valid hostname"},
      {"scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [a]\n"
       "    labels: {'bad-name': x}\n",
       "\"bad-name\" is not a valid label name"},
      {"scrape_configs:\n- job_name: a\n  bearer_token: x\n  "
       "bearer_token_file: y\n",
       "at most one of bearer_token & bearer_token_file must be configured"},
      {"scrape_configs:\n- job_name: a\n  bearer_token: x\n  basic_auth: "
       "{username: u}\n",
       "at most one of basic_auth, oauth2, bearer_token & bearer_token_file"},
      {"scrape_configs:\n- job_name: a\n  basic_auth: {username: u, password: "
       "p, password_file: f}\n",
       "at most one of basic_auth password & password_file"},
      {"scrape_configs:\n- job_name: a\n  authorization: {type: Basic}\n",
       "authorization type cannot be set to \"basic\""},
      {"scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - names: [x]\n"
       "    type: A\n",
       "a port is required in DNS-SD configs for all record types except SRV"},
      {"scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - names: [x]\n"
       "    type: TXT\n",
       "invalid DNS-SD records type TXT"},
      {"scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - type: SRV\n",
       "DNS-SD config must contain at least one SRV record name"},
      {"scrape_configs:\n- job_name: a\n  dns_sd_configs:\n  - names: [x]\n"
       "    port: 70000\n",
       "port 70000 out of range"},
      {"scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: "
       "[targets.txt]\n",
       "path name \"targets.txt\" is not valid for file discovery"},
      {"scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - "
       "refresh_interval: 1m\n",
       "must contain at least one path name"},
      {"scrape_configs:\n- job_name: a\n  relabel_configs:\n  - action: "
       "replace\n",
       "relabel configuration for replace action requires 'target_label' "
       "value"},
      {"scrape_configs:\n- job_name: a\n  relabel_configs:\n  - action: "
       "bogus\n",
       "unknown relabel action \"bogus\""},
      {"scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: "
       "['a-b']\n    target_label: x\n",
       "\"a-b\" is not a valid label name"},
      {"scrape_configs:\n- job_name: a\n  relabel_configs:\n  -\n",
       "empty or null relabeling rule"},
      {"rule_files: ['*/x.yml']\n", "invalid rule file path \"*/x.yml\""},
      {"scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: "
       "[a]\n    regex: (.*)\n    target_label: b\n    action: keepequal\n",
       "keepequal action requires only 'source_labels' and `target_label`"},
      {"alerting:\n  alertmanagers:\n  - api_version: v3\n",
       "expected Alertmanager api version to be one of [v1 v2] but got v3"},
      {"remote_write:\n- name: a\n", "url for remote_write is empty"},
      {"remote_write:\n- url: victoria:8428\n", "invalid URL"},
      {"remote_write:\n- url: ftp://x/\n", "unsupported URL scheme \"ftp\""},
      {"remote_write:\n- url: http://x/\n  headers: {Authorization: x}\n",
       "authorization header must be changed via the basic_auth"},
      {"remote_write:\n- url: http://x/\n  headers: {User-Agent: x}\n",
       "User-Agent is a reserved header"},
      {"remote_write:\n- url: http://x/\n  name: a\n- url: http://y/\n  name: "
       "a\n",
       "found multiple remote write configs with job name \"a\""},
      {"remote_write:\n- url: http://x/\n  queue_config: {min_shards: 5, "
       "max_shards: 2}\n",
       "min_shards 5 greater than max_shards 2"},
      {"remote_write:\n- url: http://x/\n  metadata_config: {sned: true}\n",
       "remote_write[0].metadata_config"},
      {"remote_write:\n- url: http://x/\n  metadata_config: {sned: true}\n",
       "sned"},
      {"remote_write:\n- url: http://x/\n  metadata_config: {send: maybe}\n",
       "remote_write[0].metadata_config.send"},
      {"remote_write:\n- url: http://x/\n  metadata_config: {send_interval: "
       "0s}\n",
       "send_interval must be positive when send is true"},
      {"remote_write:\n- url: http://x/\n  metadata_config: "
       "{max_samples_per_send: 0}\n",
       "max_samples_per_send must be positive, got 0"},
  };
  for (const Case& tc : cases) {
    EXPECT_THAT(ParseError(tc.yaml), HasSubstr(tc.message)) << tc.yaml;
  }
}

TEST(ConfigErrorTest, ErrorsCarryTheLineOfTheOffendingValue) {
  EXPECT_EQ(ParseError(R"(global:
  scrape_interval: 15s
scrape_configs:
  - job_name: a
    scrape_timeout: 1x
)"),
            "prometheus.yml:5: scrape_configs[0].scrape_timeout: not a valid "
            "duration string: \"1x\"");
}

// --- Accepted variations
// ------------------------------------------------------

TEST(ConfigTest, NullSectionsAreEmpty) {
  // Prometheus's shipped example leaves `rule_files:` empty.
  Config c = MustParse("global:\nrule_files:\nscrape_configs:\nalerting:\n");
  EXPECT_TRUE(c.rule_files.empty());
  EXPECT_EQ(c.global.scrape_interval, absl::Minutes(1));
}

TEST(ConfigTest, IgnoresUnusedPrometheusSections) {
  Config c = MustParse(R"(
storage:
  exemplars:
    max_exemplars: 10
remote_read:
  - url: http://x/read
)");
  EXPECT_TRUE(c.scrape_configs.empty());
}

TEST(ConfigTest, RelabelActionsAreCaseInsensitive) {
  Config c = MustParse(R"(
scrape_configs:
- job_name: a
  relabel_configs:
  - action: LabelMap
    regex: __meta_(.+)
  - action: HashMod
    source_labels: [__address__]
    modulus: 8
    target_label: shard
)");
  EXPECT_EQ(c.scrape_configs[0].relabel_configs[0].action,
            RelabelAction::kLabelMap);
  EXPECT_EQ(c.scrape_configs[0].relabel_configs[1].action,
            RelabelAction::kHashMod);
}

TEST(ConfigTest, AuthAndTls) {
  Config c = MustParse(R"(
scrape_configs:
- job_name: a
  authorization:
    credentials: secret
  tls_config:
    ca_file: /etc/ca.pem
    insecure_skip_verify: true
  follow_redirects: false
- job_name: b
  bearer_token_file: token
)");
  const ScrapeConfig& a = c.scrape_configs[0];
  ASSERT_TRUE(a.authorization.has_value());
  EXPECT_EQ(a.authorization->type, "Bearer");
  EXPECT_EQ(a.authorization->credentials, "secret");
  EXPECT_EQ(a.tls_config.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(a.tls_config.insecure_skip_verify);
  EXPECT_FALSE(a.follow_redirects);
  EXPECT_EQ(c.scrape_configs[1].bearer_token_file, "token");
}

TEST(ConfigTest, UrlTargetsAllowedWhenRelabelingMayFixThem) {
  // Prometheus only rejects "/" in targets when no relabel rule could
  // rewrite __address__ (the blackbox-exporter pattern).
  Config c = MustParse(R"(
scrape_configs:
- job_name: blackbox
  metrics_path: /probe
  static_configs:
  - targets: ['https://example.com/health']
  relabel_configs:
  - source_labels: [__address__]
    target_label: __param_target
  - target_label: __address__
    replacement: 127.0.0.1:9115
)");
  EXPECT_EQ(c.scrape_configs[0].static_configs[0].targets[0].Get("__address__"),
            "https://example.com/health");
}

}  // namespace
}  // namespace vigil::config
