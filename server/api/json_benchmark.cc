// Serialisation cost of query results: the part of a query's latency the
// API adds after the engine.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "server/api/api.h"
#include "server/api/json_writer.h"

namespace vigil::server::api {
namespace {

promql::Matrix MakeMatrix(int series, int points) {
  promql::Matrix m;
  for (int i = 0; i < series; ++i) {
    promql::MatrixSeries s;
    s.metric = *tsdb::Labels::FromPairs(
        {{"__name__", "http_requests_total"},
         {"instance", absl::StrCat("host-", i, ":9100")},
         {"job", "node"}});
    for (int j = 0; j < points; ++j) {
      s.points.push_back(
          {1700000000000 + j * 15000LL, std::sin(i + j * 0.01) * 1000 + j});
    }
    m.push_back(std::move(s));
  }
  return m;
}

void BM_MatrixJson(benchmark::State& state) {
  promql::Value v = MakeMatrix(static_cast<int>(state.range(0)),
                               static_cast<int>(state.range(1)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out;
    JsonWriter w(&out);
    WriteQueryResult(v, &w);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * state.range(1));
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_MatrixJson)->Args({100, 1000})->Args({1000, 100});

void BM_VectorJson(benchmark::State& state) {
  promql::Vector vec;
  for (int i = 0; i < state.range(0); ++i) {
    vec.push_back({*tsdb::Labels::FromPairs(
                       {{"__name__", "up"},
                        {"instance", absl::StrCat("host-", i, ":9100")},
                        {"job", "node"}}),
                   1700000000123, static_cast<double>(i % 2)});
  }
  promql::Value v = vec;
  for (auto _ : state) {
    std::string out;
    JsonWriter w(&out);
    WriteQueryResult(v, &w);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_VectorJson)->Arg(10000);

void BM_GoFloat(benchmark::State& state) {
  std::string out;
  double x = 0.1;
  for (auto _ : state) {
    out.clear();
    AppendGoFloat(&out, x);
    x += 1.37;
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_GoFloat);

}  // namespace
}  // namespace vigil::server::api
