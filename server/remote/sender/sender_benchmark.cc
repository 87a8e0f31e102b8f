// End-to-end sender throughput: commit N series x M samples through the
// RemoteWriteManager appender (in-memory storage, in-memory queue) and wait
// until a local receiver (real HTTP, decode only) has every sample.
// Reports samples/s of wall time and process CPU ns per sample (sender,
// storage and receiver together; the receiver's decode is included).
//
// BM_SlowReceiver: the same against a receiver that takes 50 ms per
// request, with a fixed single shard (max_shards 1) or dynamic sharding
// up to max_shards 4 (shard count recomputed every second instead of
// Prometheus's 10 s, so the run stays short).
//
//   bazel run -c opt //server/remote/sender:sender_benchmark
#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "server/remote/sender/internal/fake_receiver.h"
#include "server/remote/sender/remote_write_manager.h"
#include "tsdb/db.h"

namespace vigil::server::remote::sender {
namespace {

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void BM_SendThroughput(benchmark::State& state) {
  const int series = static_cast<int>(state.range(0));
  const int per_series = 200;
  const int shards = static_cast<int>(state.range(1));
  std::vector<tsdb::Labels> labels;
  for (int i = 0; i < series; ++i) {
    labels.push_back(*tsdb::Labels::FromPairs(
        {{"__name__", "bench_metric"},
         {"instance", absl::StrCat("host-", i % 50, ":9100")},
         {"job", "node"},
         {"series", absl::StrCat(i)}}));
  }
  for (auto _ : state) {
    auto db = tsdb::DB::Open(tsdb::DBOptions{});
    testing::FakeReceiver rx;
    RemoteWriteManager::Options o;
    RemoteWriteManager m(db->get(), o);
    config::RemoteWriteConfig c;
    c.url = rx.url();
    c.queue_config.min_shards = shards;
    c.queue_config.max_shards = shards;
    c.queue_config.max_samples_per_send = 2000;
    c.queue_config.capacity = 10000;
    c.queue_config.batch_send_deadline = absl::Milliseconds(100);
    (void)m.ApplyConfigs({c}, {});
    m.Start();
    const int64_t base = absl::ToUnixMillis(absl::Now()) - 3'600'000;
    const double cpu0 = CpuSeconds();
    const absl::Time t0 = absl::Now();
    for (int j = 0; j < per_series; ++j) {
      auto app = m.NewAppender();
      for (int i = 0; i < series; ++i) {
        (void)app->Append(0, labels[i], base + j * 15000, i + j);
      }
      (void)app->Commit();
    }
    const size_t total = static_cast<size_t>(series) * per_series;
    if (!rx.WaitForSamples(total, absl::Minutes(5))) {
      state.SkipWithError("receiver did not get every sample");
    }
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    const double cpu = CpuSeconds() - cpu0;
    state.counters["samples_per_s"] = total / wall;
    state.counters["cpu_ns_per_sample"] = cpu * 1e9 / total;
    m.Stop();
  }
}
BENCHMARK(BM_SendThroughput)
    ->Args({10000, 1})
    ->Args({10000, 4})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_SlowReceiver(benchmark::State& state) {
  const int series = 2000;
  const int per_series = 100;
  const int max_shards = static_cast<int>(state.range(0));
  std::vector<tsdb::Labels> labels;
  for (int i = 0; i < series; ++i) {
    labels.push_back(*tsdb::Labels::FromPairs(
        {{"__name__", "bench_metric"},
         {"instance", absl::StrCat("host-", i % 50, ":9100")},
         {"job", "node"},
         {"series", absl::StrCat(i)}}));
  }
  for (auto _ : state) {
    auto db = tsdb::DB::Open(tsdb::DBOptions{});
    testing::FakeReceiver rx(0, /*threads=*/8);
    rx.SetDelay(absl::Milliseconds(50));
    RemoteWriteManager::Options o;
    o.shard_update_interval = absl::Seconds(1);
    RemoteWriteManager m(db->get(), o);
    config::RemoteWriteConfig c;
    c.url = rx.url();
    c.queue_config.min_shards = 1;
    c.queue_config.max_shards = max_shards;
    c.queue_config.max_samples_per_send = 500;
    c.queue_config.capacity = 2500;
    c.queue_config.batch_send_deadline = absl::Seconds(1);
    (void)m.ApplyConfigs({c}, {});
    m.Start();
    const QueueMetrics qm = *m.Metrics(m.QueueNames()[0]);
    const int64_t base = absl::ToUnixMillis(absl::Now()) - 3'600'000;
    const double cpu0 = CpuSeconds();
    const absl::Time t0 = absl::Now();
    for (int j = 0; j < per_series; ++j) {
      auto app = m.NewAppender();
      for (int i = 0; i < series; ++i) {
        (void)app->Append(0, labels[i], base + j * 15000, i + j);
      }
      (void)app->Commit();
    }
    const size_t total = static_cast<size_t>(series) * per_series;
    double most = 0;
    while (!rx.WaitForSamples(total, absl::Milliseconds(100))) {
      most = std::max(most, qm.shards->Value());
      if (absl::Now() - t0 > absl::Minutes(5)) {
        state.SkipWithError("receiver did not get every sample");
        break;
      }
    }
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    const double cpu = CpuSeconds() - cpu0;
    state.counters["samples_per_s"] = total / wall;
    state.counters["cpu_ns_per_sample"] = cpu * 1e9 / total;
    state.counters["max_shards_seen"] = most;
    m.Stop();
  }
}
BENCHMARK(BM_SlowReceiver)
    ->Arg(1)
    ->Arg(4)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace vigil::server::remote::sender
