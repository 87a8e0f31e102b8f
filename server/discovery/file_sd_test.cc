#include "server/discovery/file_sd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::discovery {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  std::string dir = absl::StrCat(::testing::TempDir(), "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

void WriteFile(const std::string& path, const std::string& content) {
  // Write then rename, as config-management tools do, so a reader never
  // sees a half-written file and the inode changes.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

std::vector<std::string> Addresses(const std::vector<TargetGroup>& groups) {
  std::vector<std::string> out;
  for (const TargetGroup& g : groups) {
    for (const tsdb::Labels& t : g.targets) {
      out.emplace_back(t.Get(kAddressLabel));
    }
  }
  return out;
}

TEST(FileSDParseTest, Json) {
  absl::StatusOr<std::vector<TargetGroup>> g = ParseFileSDContent(
      R"([{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"],
           "labels": {"env": "prod", "job": "node"}},
          {"targets": ["10.0.0.3:9100"]}])",
      "/etc/sd/nodes.json");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].source, "/etc/sd/nodes.json:0");
  EXPECT_EQ((*g)[1].source, "/etc/sd/nodes.json:1");
  EXPECT_EQ((*g)[0].labels.ToString(),
            "{__meta_filepath=\"/etc/sd/nodes.json\", env=\"prod\", "
            "job=\"node\"}");
  EXPECT_EQ((*g)[1].labels.Get(kFilePathLabel), "/etc/sd/nodes.json");
  EXPECT_THAT(Addresses(*g),
              ::testing::ElementsAre("10.0.0.1:9100", "10.0.0.2:9100",
                                     "10.0.0.3:9100"));
}

TEST(FileSDParseTest, Yaml) {
  absl::StatusOr<std::vector<TargetGroup>> g = ParseFileSDContent(
      "- targets: ['web-1:5001', 'web-1:5002']\n"
      "  labels:\n"
      "    service: django\n",
      "workers.yml");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].labels.Get("service"), "django");
  EXPECT_EQ((*g)[0].targets.size(), 2u);
  EXPECT_EQ((*g)[0].source, "workers.yml:0");
}

TEST(FileSDParseTest, EmptyYamlIsNoGroups) {
  absl::StatusOr<std::vector<TargetGroup>> g = ParseFileSDContent("", "a.yaml");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->empty());
  EXPECT_TRUE(ParseFileSDContent("[]", "a.json")->empty());
}

TEST(FileSDParseTest, Errors) {
  struct Case {
    const char* content;
    const char* path;
    const char* error;
  };
  const Case cases[] = {
      {"[{\"targets\": [\"a\"], \"label\": {}}]", "x.json",
       "x.json: group 0: unknown field \"label\""},
      {"[{\"targets\": [1]}]", "x.json", "targets must be strings"},
      {"[{\"targets\": [\"a\"], \"labels\": {\"a-b\": \"c\"}}]", "x.json",
       "\"a-b\" is not a valid label name"},
      {"[{\"targets\": ", "x.json", "x.json: invalid JSON"},
      {"{\"targets\": []}", "x.json", "expected a JSON list"},
      {"[null]", "x.json", "nil target group item found"},
      {"- targets: [a]\n  lables: {a: b}\n", "x.yml",
       "x.yml: line 2: unknown field \"lables\" in group 0"},
      {"- targets: [a]\n  targets: [b]\n", "x.yml", "already set"},
      {"- targets: [[a]]\n", "x.yml", "targets must be strings"},
      {"targets: [a]\n", "x.yml", "expected a list of groups"},
      {"- targets: [a\n", "x.yml", "x.yml: line"},
      {"[]", "x.txt", "must end in .json, .yml or .yaml"},
  };
  for (const Case& tc : cases) {
    absl::StatusOr<std::vector<TargetGroup>> g =
        ParseFileSDContent(tc.content, tc.path);
    ASSERT_FALSE(g.ok()) << tc.content;
    EXPECT_THAT(std::string(g.status().message()), HasSubstr(tc.error))
        << tc.content;
  }
}

TEST(FileSDParseTest, ReadMissingFileIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(ReadFileSDFile("/nonexistent/x.json").status()));
}

TEST(FileSDProviderTest, FollowsChangesKeepsLastGoodAndDropsDeletedFiles) {
  const std::string dir = TempDir("file_sd_provider");
  const std::string a = dir + "/a.json";
  const std::string b = dir + "/b.yml";
  WriteFile(a, R"([{"targets": ["a1:80"]}])");

  config::FileSDConfig cfg;
  cfg.files = {dir + "/*.json", dir + "/*.yml"};
  FileSDProvider p(cfg);
  EXPECT_EQ(p.refresh_interval(), absl::Seconds(5));

  EXPECT_THAT(Addresses(p.Refresh()), ::testing::ElementsAre("a1:80"));
  EXPECT_TRUE(p.last_error().ok());

  // A new file matching the glob is picked up.
  WriteFile(b, "- targets: ['b1:80']\n");
  EXPECT_THAT(Addresses(p.Refresh()), ::testing::ElementsAre("a1:80", "b1:80"));

  // A changed file is re-read.
  WriteFile(a, R"([{"targets": ["a1:80", "a2:80"]}])");
  EXPECT_THAT(Addresses(p.Refresh()),
              ::testing::ElementsAre("a1:80", "a2:80", "b1:80"));

  // A broken file keeps its last good groups and reports the error, also on
  // later refreshes while it stays broken.
  WriteFile(a, R"([{"targets": ["a1:80",)");
  EXPECT_THAT(Addresses(p.Refresh()),
              ::testing::ElementsAre("a1:80", "a2:80", "b1:80"));
  EXPECT_THAT(std::string(p.last_error().message()), HasSubstr("a.json"));
  p.Refresh();
  EXPECT_FALSE(p.last_error().ok());

  // Fixed again.
  WriteFile(a, R"([{"targets": ["a3:80"]}])");
  EXPECT_THAT(Addresses(p.Refresh()), ::testing::ElementsAre("a3:80", "b1:80"));
  EXPECT_TRUE(p.last_error().ok());

  // A deleted file takes its groups with it.
  ASSERT_EQ(unlink(b.c_str()), 0);
  EXPECT_THAT(Addresses(p.Refresh()), ::testing::ElementsAre("a3:80"));
}

TEST(FileSDProviderTest, NoMatchingFilesIsEmpty) {
  config::FileSDConfig cfg;
  cfg.files = {TempDir("file_sd_empty") + "/*.json"};
  FileSDProvider p(cfg);
  EXPECT_TRUE(p.Refresh().empty());
  EXPECT_TRUE(p.last_error().ok());
}

}  // namespace
}  // namespace vigil::discovery
