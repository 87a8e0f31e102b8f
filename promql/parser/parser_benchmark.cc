// Parse and format throughput on the seed alert expressions.
//   bazel run --config=opt //promql/parser:parser_benchmark
#include <string>

#include "benchmark/benchmark.h"
#include "promql/parser/parser.h"

namespace vigil::promql {
namespace {

// E29 (scale-up alert) and E39 (cluster memory), verbatim from the seeds.
const char kE29[] =
    R"(sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) < 0.99)";
const char kE39[] =
    R"((sum(node_memory_MemTotal{job="exporter_node-exporter-manager"}) - sum(node_memory_MemFree{job="exporter_node-exporter-manager"} + node_memory_Buffers{job="exporter_node-exporter-manager"} + node_memory_Cached{job="exporter_node-exporter-manager"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-manager"}) > 0.8)";

void BM_ParseSelector(benchmark::State& state) {
  for (auto _ : state) {
    auto e = ParseExpr(R"(up{job="api"})");
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_ParseSelector);

void BM_ParseE29(benchmark::State& state) {
  for (auto _ : state) {
    auto e = ParseExpr(kE29);
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(state.iterations() * (sizeof(kE29) - 1));
}
BENCHMARK(BM_ParseE29);

void BM_ParseE39(benchmark::State& state) {
  for (auto _ : state) {
    auto e = ParseExpr(kE39);
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(state.iterations() * (sizeof(kE39) - 1));
}
BENCHMARK(BM_ParseE39);

void BM_FormatE39(benchmark::State& state) {
  auto e = ParseExpr(kE39);
  for (auto _ : state) {
    std::string s = FormatExpr(**e);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_FormatE39);

}  // namespace
}  // namespace vigil::promql
