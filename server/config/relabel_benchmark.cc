// Relabeling cost per series: metric_relabel_configs run on every scraped
// series, so this is on the scrape hot path.
//
//   bazel run --config=opt //server/config:relabel_benchmark
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/config/relabel.h"

namespace vigil::config {
namespace {

tsdb::Labels CadvisorSeries() {
  return *tsdb::Labels::FromPairs({
      {"__name__", "container_memory_usage_bytes"},
      {"container_label_com_docker_stack_namespace", "go-demo"},
      {"container_label_com_docker_swarm_service_name", "go-demo_main"},
      {"container_label_com_docker_swarm_task_id", "k2ln9ytbdkbpz0tc2hz3l7n5n"},
      {"id",
       "/docker/5a3b2f58e6d2a7c0e6c2e5b1a0f7e0a4d1c0b9a8f7e6d5c4b3a2f1e0"},
      {"image", "vfarcic/go-demo:latest"},
      {"instance", "10.0.1.7:8080"},
      {"job", "exporter_cadvisor"},
      {"name", "go-demo_main.1.k2ln9ytbdkbpz0tc2hz3l7n5n"},
  });
}

// The cost of resetting the builder alone, included in the numbers below.
void BM_ResetOnly(benchmark::State& state) {
  tsdb::Labels series = CadvisorSeries();
  tsdb::LabelsBuilder lb;
  for (auto _ : state) {
    lb.Reset(series);
    benchmark::DoNotOptimize(lb);
  }
}
BENCHMARK(BM_ResetOnly);

void BM_RelabelDropByName(benchmark::State& state) {
  std::vector<RelabelConfig> cfgs = {
      *RelabelConfig::Create(RelabelAction::kDrop, {"__name__"}, ";",
                             "go_.*|process_.*", 0, "", "$1")};
  tsdb::Labels series = CadvisorSeries();
  tsdb::LabelsBuilder lb;
  for (auto _ : state) {
    lb.Reset(series);
    benchmark::DoNotOptimize(Relabel(cfgs, &lb));
  }
}
BENCHMARK(BM_RelabelDropByName);

void BM_RelabelTypicalChain(benchmark::State& state) {
  // Drop noisy series, copy a label, drop high-cardinality labels.
  std::vector<RelabelConfig> cfgs = {
      *RelabelConfig::Create(RelabelAction::kDrop, {"__name__"}, ";",
                             "go_.*|process_.*", 0, "", "$1"),
      *RelabelConfig::Create(RelabelAction::kReplace,
                             {"container_label_com_docker_swarm_service_name"},
                             ";", "(.*)_(.*)", 0, "service", "$2"),
      *RelabelConfig::Create(RelabelAction::kLabelDrop, {}, ";", "id|name", 0,
                             "", "$1"),
  };
  tsdb::Labels series = CadvisorSeries();
  tsdb::LabelsBuilder lb;
  for (auto _ : state) {
    lb.Reset(series);
    benchmark::DoNotOptimize(Relabel(cfgs, &lb));
  }
}
BENCHMARK(BM_RelabelTypicalChain);

void BM_RelabelHashMod(benchmark::State& state) {
  std::vector<RelabelConfig> cfgs = {
      *RelabelConfig::Create(RelabelAction::kHashMod, {"__address__"}, ";",
                             "(.*)", 0 + 16, "__tmp_shard", "$1")};
  tsdb::Labels target =
      *tsdb::Labels::FromPairs({{"__address__", "10.0.1.15:8080"}});
  tsdb::LabelsBuilder lb;
  for (auto _ : state) {
    lb.Reset(target);
    benchmark::DoNotOptimize(Relabel(cfgs, &lb));
  }
}
BENCHMARK(BM_RelabelHashMod);

}  // namespace
}  // namespace vigil::config
