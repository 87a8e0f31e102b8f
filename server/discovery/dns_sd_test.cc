#include "server/discovery/dns_sd.h"

#include <sys/socket.h>

#include <map>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::discovery {
namespace {

using ::testing::ElementsAre;

// Answers from tables; names absent from a table are NotFound, names in
// `failing` fail with Unavailable.
class FakeResolver : public DnsResolver {
 public:
  std::map<std::string, std::vector<std::string>> a, aaaa, mx;
  std::map<std::string, std::vector<SrvRecord>> srv;
  std::set<std::string> failing;

  absl::StatusOr<std::vector<std::string>> LookupIP(const std::string& name,
                                                    int family) override {
    if (failing.count(name)) return absl::UnavailableError("timeout");
    auto& table = family == AF_INET ? a : aaaa;
    auto it = table.find(name);
    if (it == table.end()) return absl::NotFoundError(name);
    return it->second;
  }
  absl::StatusOr<std::vector<SrvRecord>> LookupSRV(
      const std::string& name) override {
    if (failing.count(name)) return absl::UnavailableError("timeout");
    auto it = srv.find(name);
    if (it == srv.end()) return absl::NotFoundError(name);
    return it->second;
  }
  absl::StatusOr<std::vector<std::string>> LookupMX(
      const std::string& name) override {
    if (failing.count(name)) return absl::UnavailableError("timeout");
    auto it = mx.find(name);
    if (it == mx.end()) return absl::NotFoundError(name);
    return it->second;
  }
};

config::DNSSDConfig Config(std::vector<std::string> names, std::string type,
                           int port) {
  config::DNSSDConfig c;
  c.names = std::move(names);
  c.type = std::move(type);
  c.port = port;
  return c;
}

TEST(DnsSDTest, SwarmTasksARecordsOneTargetPerReplica) {
  FakeResolver r;
  r.a["tasks.go-demo_main"] = {"10.0.1.15", "10.0.1.16", "10.0.1.17"};
  DnsSDProvider p(Config({"tasks.go-demo_main"}, "A", 8080), &r);
  std::vector<TargetGroup> groups = p.Refresh();
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].source, "tasks.go-demo_main");
  ASSERT_EQ(groups[0].targets.size(), 3u);
  EXPECT_EQ(groups[0].targets[0].ToString(),
            "{__address__=\"10.0.1.15:8080\", "
            "__meta_dns_name=\"tasks.go-demo_main\"}");
  EXPECT_EQ(groups[0].targets[2].Get(kAddressLabel), "10.0.1.17:8080");
  EXPECT_TRUE(p.last_error().ok());
  EXPECT_EQ(p.refresh_interval(), absl::Seconds(30));
}

TEST(DnsSDTest, AaaaBracketsAddresses) {
  FakeResolver r;
  r.aaaa["v6.example"] = {"fd00::1"};
  DnsSDProvider p(Config({"v6.example"}, "AAAA", 9100), &r);
  EXPECT_EQ(p.Refresh()[0].targets[0].Get(kAddressLabel), "[fd00::1]:9100");
}

TEST(DnsSDTest, SrvUsesRecordPorts) {
  FakeResolver r;
  r.srv["_metrics._tcp.example"] = {{"a.example", 9100}, {"b.example", 9200}};
  DnsSDProvider p(Config({"_metrics._tcp.example"}, "SRV", 0), &r);
  std::vector<TargetGroup> g = p.Refresh();
  ASSERT_EQ(g[0].targets.size(), 2u);
  EXPECT_EQ(g[0].targets[1].ToString(),
            "{__address__=\"b.example:9200\", "
            "__meta_dns_name=\"_metrics._tcp.example\", "
            "__meta_dns_srv_record_port=\"9200\", "
            "__meta_dns_srv_record_target=\"b.example\"}");
}

TEST(DnsSDTest, MxUsesConfiguredPort) {
  FakeResolver r;
  r.mx["example"] = {"mail.example"};
  DnsSDProvider p(Config({"example"}, "MX", 25), &r);
  std::vector<TargetGroup> g = p.Refresh();
  EXPECT_EQ(g[0].targets[0].Get(kAddressLabel), "mail.example:25");
  EXPECT_EQ(g[0].targets[0].Get(kDnsMxTargetLabel), "mail.example");
}

TEST(DnsSDTest, NxdomainEmptiesGroupButFailureKeepsLastGood) {
  FakeResolver r;
  r.a["tasks.a"] = {"10.0.0.1"};
  r.a["tasks.b"] = {"10.0.0.2"};
  DnsSDProvider p(Config({"tasks.a", "tasks.b"}, "A", 80), &r);
  ASSERT_EQ(p.Refresh().size(), 2u);

  // tasks.a scaled to zero (NXDOMAIN), DNS for tasks.b times out.
  r.a.erase("tasks.a");
  r.failing.insert("tasks.b");
  std::vector<TargetGroup> g = p.Refresh();
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].source, "tasks.a");
  EXPECT_TRUE(g[0].targets.empty());
  EXPECT_EQ(g[1].source, "tasks.b");
  ASSERT_EQ(g[1].targets.size(), 1u);
  EXPECT_EQ(g[1].targets[0].Get(kAddressLabel), "10.0.0.2:80");
  EXPECT_TRUE(absl::IsUnavailable(p.last_error()));

  // Recovery clears the error.
  r.failing.clear();
  r.a["tasks.b"] = {"10.0.0.3"};
  g = p.Refresh();
  EXPECT_EQ(g[1].targets[0].Get(kAddressLabel), "10.0.0.3:80");
  EXPECT_TRUE(p.last_error().ok());
}

TEST(DnsSDTest, FailureWithoutHistoryYieldsNoGroup) {
  FakeResolver r;
  r.failing.insert("tasks.x");
  DnsSDProvider p(Config({"tasks.x"}, "A", 80), &r);
  EXPECT_TRUE(p.Refresh().empty());
  EXPECT_FALSE(p.last_error().ok());
}

TEST(DnsSDTest, JoinHostPort) {
  EXPECT_EQ(JoinHostPort("10.0.0.1", 80), "10.0.0.1:80");
  EXPECT_EQ(JoinHostPort("::1", 80), "[::1]:80");
  EXPECT_EQ(JoinHostPort("host", 0), "host:0");
}

// The real resolver: "localhost" resolves through /etc/hosts without a DNS
// server.
TEST(SystemDnsResolverTest, ResolvesLocalhost) {
  std::unique_ptr<DnsResolver> r = NewSystemDnsResolver();
  absl::StatusOr<std::vector<std::string>> ips =
      r->LookupIP("localhost", AF_INET);
  ASSERT_TRUE(ips.ok()) << ips.status();
  EXPECT_THAT(*ips, ElementsAre("127.0.0.1"));

  DnsSDProvider p(Config({"localhost"}, "A", 9090), r.get());
  std::vector<TargetGroup> g = p.Refresh();
  ASSERT_EQ(g.size(), 1u);
  ASSERT_EQ(g[0].targets.size(), 1u);
  EXPECT_EQ(g[0].targets[0].Get(kAddressLabel), "127.0.0.1:9090");
  EXPECT_EQ(g[0].targets[0].Get(kDnsNameLabel), "localhost");
}

TEST(SystemDnsResolverTest, UnknownNameIsNotFound) {
  std::unique_ptr<DnsResolver> r = NewSystemDnsResolver();
  absl::StatusOr<std::vector<std::string>> ips =
      r->LookupIP("no-such-host.invalid", AF_INET);
  ASSERT_FALSE(ips.ok());
  // Without a reachable DNS server the answer may be a failure instead.
  EXPECT_TRUE(absl::IsNotFound(ips.status()) ||
              absl::IsUnavailable(ips.status()))
      << ips.status();
}

TEST(SystemDnsResolverTest, SrvLookupOfMissingNameFailsCleanly) {
  std::unique_ptr<DnsResolver> r = NewSystemDnsResolver();
  absl::StatusOr<std::vector<SrvRecord>> srv =
      r->LookupSRV("_none._tcp.no-such-host.invalid");
  if (srv.ok()) GTEST_SKIP() << "resolver answered for an .invalid name";
  EXPECT_TRUE(absl::IsNotFound(srv.status()) ||
              absl::IsUnavailable(srv.status()))
      << srv.status();
}

}  // namespace
}  // namespace vigil::discovery
