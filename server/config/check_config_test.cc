#include "server/config/check_config.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::config {
namespace {

using ::testing::HasSubstr;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result Check(const std::vector<std::string>& files) {
  std::ostringstream out, err;
  int code = RunCheckConfigCommand(files, out, err);
  return {code, out.str(), err.str()};
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

TEST(CheckConfigTest, ValidExampleLikePromtool) {
  Result r = Check({"testdata/config/prometheus.yml"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Checking testdata/config/prometheus.yml\n"
            "  SUCCESS: 3 rule files found\n"
            " SUCCESS: testdata/config/prometheus.yml is valid prometheus "
            "config file syntax\n"
            "\n");
  EXPECT_EQ(r.err, "");
}

TEST(CheckConfigTest, UnknownFieldFails) {
  Result r = Check({"testdata/config/unknown_field.yml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "Checking testdata/config/unknown_field.yml\n\n");
  EXPECT_EQ(r.err,
            "  FAILED: testdata/config/unknown_field.yml:6: unknown field "
            "\"scrape_intervall\" in scrape_configs[0]\n");
}

TEST(CheckConfigTest, MissingRuleFileFails) {
  Result r = Check({"testdata/config/missing_rule_file.yml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("\"testdata/config/does-not-exist.yml\" does "
                               "not point to an existing file"));
}

TEST(CheckConfigTest, GlobMatchingNothingIsFine) {
  std::string f =
      WriteTemp("glob_nothing.yml", "rule_files: ['nothing-here/*.yml']\n");
  Result r = Check({f});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("rule files found")));
}

TEST(CheckConfigTest, BrokenFileSDFileFails) {
  Result r = Check({"testdata/config/bad_file_sd.yml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("checking SD file \"testdata/config/"
                               "bad_targets.json\""));
  EXPECT_THAT(r.err, HasSubstr("unknown field \"lables\""));
}

TEST(CheckConfigTest, MissingFileSDFileWarns) {
  std::string f = WriteTemp("sd_warn.yml", R"(
scrape_configs:
- job_name: files
  file_sd_configs:
  - files: ['/nonexistent/*.json']
)");
  Result r = Check({f});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  WARNING: file \"/nonexistent/*.json\" for "
                               "file_sd in scrape job \"files\" does not "
                               "exist\n"));
}

TEST(CheckConfigTest, TargetWithoutAddressAfterRelabelingFails) {
  std::string f = WriteTemp("no_address.yml", R"(
scrape_configs:
- job_name: a
  static_configs:
  - targets: ['h:1']
  relabel_configs:
  - regex: __address__
    action: labeldrop
)");
  Result r = Check({f});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("scrape job \"a\": instance 0 in group 0: no "
                               "address"));
}

TEST(CheckConfigTest, MissingBearerTokenFileFails) {
  std::string f = WriteTemp("token.yml", R"(
scrape_configs:
- job_name: a
  bearer_token_file: /nonexistent/token
)");
  Result r = Check({f});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("error checking bearer token file "
                               "\"/nonexistent/token\""));
}

TEST(CheckConfigTest, SeveralFilesReportEachAndFailIfAnyFails) {
  Result r = Check({"testdata/config/prometheus.yml",
                    "testdata/config/duplicate_job.yml",
                    "/nonexistent/prometheus.yml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("Checking testdata/config/prometheus.yml\n"));
  EXPECT_THAT(r.out, HasSubstr("Checking testdata/config/duplicate_job.yml\n"));
  EXPECT_THAT(r.err, HasSubstr("found multiple scrape configs with job name "
                               "\"node\""));
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/prometheus.yml"));
}

TEST(CheckConfigTest, NoFilesIsUsageError) {
  Result r = Check({});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("usage"));
}

}  // namespace
}  // namespace vigil::config
