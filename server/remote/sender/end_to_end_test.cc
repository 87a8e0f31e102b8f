// The sender against real receivers, with the receiver going away in the
// middle of the stream: Vigil's own remote-write receiver (WriteHandler
// behind the HTTP server) and Debian's victoria-metrics. In both, every
// sample the sending storage holds must arrive exactly once.
#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/compat/peer_util.h"
#include "server/http/http_server.h"
#include "server/http/test_client.h"
#include "server/metrics/registry.h"
#include "server/remote/sender/remote_write_manager.h"
#include "server/remote/write_handler.h"
#include "tsdb/db.h"
#include "tsdb/matcher.h"

namespace vigil::server::remote::sender {
namespace {

using Dump = std::map<std::string, std::vector<std::pair<int64_t, double>>>;

constexpr int kSeries = 5;

// Every sample of every `rw_test` series in `q`.
Dump DumpStorage(tsdb::Queryable* q, int64_t mint, int64_t maxt) {
  Dump out;
  auto querier = q->NewQuerier(mint, maxt);
  EXPECT_TRUE(querier.ok()) << querier.status();
  if (!querier.ok()) return out;
  auto m =
      tsdb::Matcher::Create(tsdb::MatchType::kEqual, "__name__", "rw_test");
  auto ss = (*querier)->Select({mint, maxt, 0, 0, ""}, {*m});
  EXPECT_TRUE(ss.ok()) << ss.status();
  if (!ss.ok()) return out;
  for (tsdb::Series& s : *ss) {
    auto& v = out[s.labels.ToString()];
    while (s.iterator->Next())
      v.emplace_back(s.iterator->At().t, s.iterator->At().v);
  }
  return out;
}

class SenderEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = compat::TestDir();
    auto db = tsdb::DB::Open(tsdb::DBOptions{});
    ASSERT_TRUE(db.ok());
    local_ = std::move(*db);
  }

  void StartSender(const std::string& url, MetadataSource metadata = nullptr) {
    RemoteWriteManager::Options o;
    o.data_dir = dir_ + "/sender";
    o.registry = &registry_;
    o.flush_deadline = absl::Seconds(2);
    o.metadata_source = std::move(metadata);
    rw_ = std::make_unique<RemoteWriteManager>(local_.get(), o);
    config::RemoteWriteConfig c;
    c.url = url;
    c.remote_timeout = absl::Seconds(5);
    c.queue_config.max_samples_per_send = 40;
    c.queue_config.batch_send_deadline = absl::Milliseconds(100);
    c.queue_config.min_backoff = absl::Milliseconds(50);
    c.queue_config.max_backoff = absl::Milliseconds(500);
    c.metadata_config.send_interval = absl::Milliseconds(200);
    c.metadata_config.max_samples_per_send = 2;
    ASSERT_TRUE(rw_->ApplyConfigs({c}, {}).ok());
    rw_->Start();
  }

  // Ticks [from, to) of kSeries series, one commit per tick.
  void Ticks(int from, int to) {
    for (int tick = from; tick < to; ++tick) {
      auto app = rw_->NewAppender();
      for (int i = 0; i < kSeries; ++i) {
        tsdb::Labels l = *tsdb::Labels::FromPairs(
            {{"__name__", "rw_test"}, {"series", absl::StrCat(i)}});
        ASSERT_TRUE(
            app->Append(0, l, base_ + tick * 1000, tick * 10.0 + i + 0.5).ok());
      }
      ASSERT_TRUE(app->Commit().ok());
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  double Sent() {
    return rw_->Metrics(rw_->QueueNames()[0])->samples_sent->Value();
  }

  std::string dir_;
  metrics::Registry registry_;
  std::unique_ptr<tsdb::DB> local_;
  std::unique_ptr<RemoteWriteManager> rw_;
  const int64_t base_ = absl::ToUnixMillis(absl::Now()) - 300'000;
};

TEST_F(SenderEndToEnd, VigilReceiverOutageInTheMiddleLosesNothing) {
  auto remote_db = tsdb::DB::Open(tsdb::DBOptions{});
  ASSERT_TRUE(remote_db.ok());
  metrics::Registry rx_registry;
  WriteHandler handler(remote_db->get(), &rx_registry);
  const int port = compat::FreePort();
  auto serve = [&] {
    http::HttpServerOptions o;
    o.listen_address = absl::StrCat("127.0.0.1:", port);
    o.threads = 2;
    auto s = std::make_unique<http::HttpServer>(
        o, [&](http::Request* r) { return handler.Handle(*r); });
    EXPECT_TRUE(s->Start().ok());
    return s;
  };
  auto server = serve();
  StartSender(absl::StrCat("http://127.0.0.1:", port, "/api/v1/write"));
  Ticks(0, 30);
  ASSERT_TRUE(compat::WaitUntil([&] { return Sent() == 30 * kSeries; },
                                absl::Seconds(20)));
  server->Shutdown(absl::Seconds(1));
  server.reset();
  Ticks(30, 60);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(Sent(), 30 * kSeries);
  EXPECT_GT(rw_->Metrics(rw_->QueueNames()[0])->samples_retried->Value(), 0);
  server = serve();
  Ticks(60, 90);
  ASSERT_TRUE(compat::WaitUntil([&] { return Sent() == 90 * kSeries; },
                                absl::Seconds(30)))
      << Sent();
  rw_->Stop();
  Dump want = DumpStorage(local_.get(), base_, base_ + 100'000);
  Dump got = DumpStorage(remote_db->get(), base_, base_ + 100'000);
  ASSERT_EQ(want.size(), static_cast<size_t>(kSeries));
  for (const auto& [k, v] : want) EXPECT_EQ(v.size(), 90u) << k;
  EXPECT_EQ(got, want);
}

TEST_F(SenderEndToEnd, VictoriaMetricsOutageInTheMiddleLosesNothing) {
  const std::string vm_bin = "/usr/bin/victoria-metrics";
  if (!compat::HavePeer(vm_bin)) {
    GTEST_SKIP() << vm_bin << " is not installed (apt-get install "
                 << "victoria-metrics)";
  }
  const int port = compat::FreePort();
  const std::vector<std::string> argv = {
      vm_bin,
      "-storageDataPath=" + dir_ + "/vm",
      absl::StrCat("-httpListenAddr=127.0.0.1:", port),
      "-retentionPeriod=100y",
      "-search.disableCache",
      "-search.latencyOffset=0s"};
  auto start_vm = [&] {
    auto p = std::make_unique<compat::Process>(argv, dir_ + "/vm.log");
    EXPECT_TRUE(compat::WaitUntil(
        [&] { return http::HttpGet(port, "/health").status == 200; },
        absl::Seconds(30)))
        << compat::ReadFile(dir_ + "/vm.log");
    return p;
  };
  auto vm = start_vm();
  StartSender(absl::StrCat("http://127.0.0.1:", port, "/api/v1/write"));
  Ticks(0, 30);
  ASSERT_TRUE(compat::WaitUntil([&] { return Sent() == 30 * kSeries; },
                                absl::Seconds(20)));
  vm->Stop();  // SIGTERM: a graceful stop, as in an upgrade
  Ticks(30, 60);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(Sent(), 30 * kSeries);
  vm = start_vm();
  Ticks(60, 90);
  ASSERT_TRUE(compat::WaitUntil([&] { return Sent() == 90 * kSeries; },
                                absl::Seconds(30)))
      << Sent();
  rw_->Stop();
  ASSERT_EQ(http::HttpGet(port, "/internal/force_flush").status, 200);

  http::TestResponse r = http::HttpGet(port, "/api/v1/export?match[]=rw_test");
  ASSERT_EQ(r.status, 200) << r.body;
  Dump got;
  size_t start = 0;
  while (start < r.body.size()) {
    size_t end = r.body.find('\n', start);
    if (end == std::string::npos) end = r.body.size();
    std::string line = r.body.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    std::vector<tsdb::Label> pairs;
    for (auto& [k, v] : j["metric"].items()) {
      pairs.push_back({k, v.get<std::string>()});
    }
    auto& v = got[tsdb::Labels::FromPairs(pairs)->ToString()];
    for (size_t i = 0; i < j["timestamps"].size(); ++i) {
      v.emplace_back(j["timestamps"][i].get<int64_t>(),
                     j["values"][i].get<double>());
    }
  }
  for (auto& [k, v] : got) std::sort(v.begin(), v.end());
  Dump want = DumpStorage(local_.get(), base_, base_ + 100'000);
  ASSERT_EQ(want.size(), static_cast<size_t>(kSeries));
  EXPECT_EQ(got, want);
  vm->Stop();
}

// VictoriaMetrics ignores WriteRequest.metadata but must accept requests
// that carry only metadata (2xx), so metadata_config.send (the default)
// is harmless against it.
TEST_F(SenderEndToEnd, VictoriaMetricsAcceptsMetadataRequests) {
  const std::string vm_bin = "/usr/bin/victoria-metrics";
  if (!compat::HavePeer(vm_bin)) {
    GTEST_SKIP() << vm_bin << " is not installed (apt-get install "
                 << "victoria-metrics)";
  }
  const int port = compat::FreePort();
  compat::Process vm({vm_bin, "-storageDataPath=" + dir_ + "/vm",
                      absl::StrCat("-httpListenAddr=127.0.0.1:", port),
                      "-retentionPeriod=100y"},
                     dir_ + "/vm.log");
  ASSERT_TRUE(compat::WaitUntil(
      [&] { return http::HttpGet(port, "/health").status == 200; },
      absl::Seconds(30)))
      << compat::ReadFile(dir_ + "/vm.log");
  using T = tsdb::textparse::MetricType;
  StartSender(absl::StrCat("http://127.0.0.1:", port, "/api/v1/write"), [] {
    return std::vector<MetricMetadata>{
        {"rw_test", T::kGauge, "A test gauge.", ""},
        {"requests_total", T::kCounter, "Requests.", ""},
        {"latency_seconds", T::kHistogram, "Latency.", "seconds"}};
  });
  Ticks(0, 10);
  ASSERT_TRUE(compat::WaitUntil([&] { return Sent() == 10 * kSeries; },
                                absl::Seconds(20)));
  const QueueMetrics qm = *rw_->Metrics(rw_->QueueNames()[0]);
  // Two rounds of 3 entries, in requests of at most 2.
  ASSERT_TRUE(compat::WaitUntil([&] { return qm.metadata_sent->Value() >= 6; },
                                absl::Seconds(20)))
      << compat::ReadFile(dir_ + "/vm.log");
  rw_->Stop();
  EXPECT_EQ(qm.metadata_failed->Value(), 0);
  EXPECT_EQ(qm.metadata_retried->Value(), 0);
  EXPECT_EQ(qm.samples_failed->Value(), 0);
  vm.Stop();
}

}  // namespace
}  // namespace vigil::server::remote::sender
