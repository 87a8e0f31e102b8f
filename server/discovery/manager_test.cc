#include "server/discovery/manager.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::discovery {
namespace {

class FakeResolver : public DnsResolver {
 public:
  absl::StatusOr<std::vector<std::string>> LookupIP(const std::string& name,
                                                    int family) override {
    absl::MutexLock lock(&mu);
    auto it = a.find(name);
    if (it == a.end()) return absl::NotFoundError(name);
    return it->second;
  }
  absl::StatusOr<std::vector<SrvRecord>> LookupSRV(
      const std::string& name) override {
    return absl::NotFoundError(name);
  }
  absl::StatusOr<std::vector<std::string>> LookupMX(
      const std::string& name) override {
    return absl::NotFoundError(name);
  }
  void Set(const std::string& name, std::vector<std::string> ips) {
    absl::MutexLock lock(&mu);
    a[name] = std::move(ips);
  }

  absl::Mutex mu;
  std::map<std::string, std::vector<std::string>> a ABSL_GUARDED_BY(mu);
};

// Records callbacks.
struct Recorder {
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::vector<TargetGroup>>> calls
      ABSL_GUARDED_BY(mu);

  DiscoveryManager::Callback Callback() {
    return [this](const std::string& job, std::vector<TargetGroup> groups) {
      absl::MutexLock lock(&mu);
      calls.emplace_back(job, std::move(groups));
    };
  }
  size_t size() {
    absl::MutexLock lock(&mu);
    return calls.size();
  }
  std::pair<std::string, std::vector<TargetGroup>> at(size_t i) {
    absl::MutexLock lock(&mu);
    return calls.at(i);
  }
};

std::vector<std::string> Addresses(const std::vector<TargetGroup>& groups) {
  std::vector<std::string> out;
  for (const TargetGroup& g : groups) {
    for (const tsdb::Labels& t : g.targets) {
      out.emplace_back(t.Get(kAddressLabel));
    }
  }
  return out;
}

TargetGroup Static(std::vector<std::string> addrs) {
  TargetGroup g;
  g.source = "0";
  for (const std::string& a : addrs) {
    g.targets.push_back(*tsdb::Labels::FromPairs({{kAddressLabel, a}}));
  }
  return g;
}

DiscoveryJob DnsJob(const std::string& name, const std::string& dns_name) {
  DiscoveryJob j;
  j.name = name;
  config::DNSSDConfig d;
  d.names = {dns_name};
  d.type = "A";
  d.port = 8080;
  j.dns_sd_configs.push_back(d);
  return j;
}

TEST(DiscoveryManagerTest, DeliversOnceThenOnlyChanges) {
  FakeResolver dns;
  dns.Set("tasks.web", {"10.0.0.1"});
  Recorder rec;
  DiscoveryManager dm(rec.Callback(), &dns);

  DiscoveryJob node;
  node.name = "node";
  node.static_configs = {Static({"a:9100", "b:9100"})};
  dm.ApplyJobs({node, DnsJob("web", "tasks.web")});
  dm.RefreshNow();
  ASSERT_EQ(rec.size(), 2u);
  EXPECT_EQ(rec.at(0).first, "node");
  EXPECT_THAT(Addresses(rec.at(0).second),
              ::testing::ElementsAre("a:9100", "b:9100"));
  EXPECT_EQ(rec.at(1).first, "web");
  EXPECT_THAT(Addresses(rec.at(1).second),
              ::testing::ElementsAre("10.0.0.1:8080"));

  dm.RefreshNow();  // nothing changed
  EXPECT_EQ(rec.size(), 2u);

  dns.Set("tasks.web", {"10.0.0.1", "10.0.0.2"});  // scaled up
  dm.RefreshNow();
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_EQ(rec.at(2).first, "web");
  EXPECT_THAT(Addresses(rec.at(2).second),
              ::testing::ElementsAre("10.0.0.1:8080", "10.0.0.2:8080"));

  auto targets = dm.Targets();
  EXPECT_EQ(targets.size(), 2u);
  EXPECT_EQ(Addresses(targets["web"]).size(), 2u);
  EXPECT_TRUE(dm.Errors().empty());
}

TEST(DiscoveryManagerTest, ReloadKeepsUnchangedJobsAndReportsRemovedOnes) {
  FakeResolver dns;
  dns.Set("tasks.web", {"10.0.0.1"});
  Recorder rec;
  DiscoveryManager dm(rec.Callback(), &dns);
  DiscoveryJob node;
  node.name = "node";
  node.static_configs = {Static({"a:9100"})};
  dm.ApplyJobs({node, DnsJob("web", "tasks.web")});
  dm.RefreshNow();
  ASSERT_EQ(rec.size(), 2u);

  // Reload: "web" unchanged, "node" removed, "db" added.
  DiscoveryJob db;
  db.name = "db";
  db.static_configs = {Static({"db:9187"})};
  dm.ApplyJobs({DnsJob("web", "tasks.web"), db});
  dm.RefreshNow();
  ASSERT_EQ(rec.size(), 4u);
  EXPECT_EQ(rec.at(2).first, "node");
  EXPECT_TRUE(rec.at(2).second.empty());
  EXPECT_EQ(rec.at(3).first, "db");
  EXPECT_EQ(dm.Targets().count("node"), 0u);

  // A changed job delivers only if its targets differ.
  DiscoveryJob db2 = db;
  db2.static_configs = {Static({"db:9187", "db2:9187"})};
  dm.ApplyJobs({DnsJob("web", "tasks.web"), db2});
  dm.RefreshNow();
  ASSERT_EQ(rec.size(), 5u);
  EXPECT_EQ(rec.at(4).first, "db");
  EXPECT_EQ(rec.at(4).second[0].targets.size(), 2u);
}

TEST(DiscoveryManagerTest, JobsFromConfig) {
  absl::StatusOr<config::Config> cfg = config::ParseConfig(R"(
scrape_configs:
  - job_name: nginx
    static_configs:
    - targets: ["192.168.121.174:9113"]
  - job_name: go-demo_main
    dns_sd_configs:
    - names: ["tasks.go-demo_main"]
      type: A
      port: 8080
alerting:
  alertmanagers:
  - static_configs:
    - targets: ['192.168.121.174:9093']
)",
                                                           "prometheus.yml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  std::vector<DiscoveryJob> jobs = ScrapeDiscoveryJobs(*cfg);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[1].name, "go-demo_main");
  std::vector<DiscoveryJob> ams = AlertmanagerDiscoveryJobs(*cfg);
  ASSERT_EQ(ams.size(), 1u);
  EXPECT_EQ(ams[0].name, "config-0");

  FakeResolver dns;
  dns.Set("tasks.go-demo_main", {"10.0.1.15", "10.0.1.16", "10.0.1.17"});
  Recorder rec;
  DiscoveryManager dm(rec.Callback(), &dns);
  dm.ApplyConfig(*cfg);
  dm.RefreshNow();
  auto targets = dm.Targets();
  EXPECT_THAT(Addresses(targets["nginx"]),
              ::testing::ElementsAre("192.168.121.174:9113"));
  EXPECT_EQ(Addresses(targets["go-demo_main"]).size(), 3u);
}

TEST(DiscoveryManagerTest, BackgroundThreadFollowsFileChanges) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/manager_bg");
  mkdir(dir.c_str(), 0755);
  const std::string file = dir + "/targets.json";
  auto write = [&](const std::string& content) {
    std::string tmp = file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << content;
    }
    std::rename(tmp.c_str(), file.c_str());
  };
  write(R"([{"targets": ["x:1"]}])");

  DiscoveryJob job;
  job.name = "files";
  config::FileSDConfig f;
  f.files = {dir + "/*.json"};
  f.refresh_interval = absl::Milliseconds(20);
  job.file_sd_configs.push_back(f);

  Recorder rec;
  FakeResolver dns;
  DiscoveryManager dm(rec.Callback(), &dns);
  dm.ApplyJobs({job});
  dm.Start();
  auto wait_for = [&](size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (rec.size() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return rec.size() >= n;
  };
  ASSERT_TRUE(wait_for(1));
  EXPECT_THAT(Addresses(rec.at(0).second), ::testing::ElementsAre("x:1"));

  write(R"([{"targets": ["x:1", "y:2"]}])");
  ASSERT_TRUE(wait_for(2));
  EXPECT_THAT(Addresses(rec.at(1).second),
              ::testing::ElementsAre("x:1", "y:2"));

  // A broken file keeps the last targets and surfaces the error.
  write("[{");
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (dm.Errors().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(dm.Errors().count("files"), 1u);
  EXPECT_EQ(Addresses(dm.Targets()["files"]).size(), 2u);

  // Reload while running.
  job.file_sd_configs.clear();
  job.static_configs = {Static({"z:3"})};
  dm.ApplyJobs({job});
  ASSERT_TRUE(wait_for(3));
  EXPECT_THAT(Addresses(rec.at(2).second), ::testing::ElementsAre("z:3"));
  dm.Stop();
  dm.Stop();  // idempotent
}

}  // namespace
}  // namespace vigil::discovery
