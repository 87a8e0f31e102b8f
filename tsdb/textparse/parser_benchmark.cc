// Parser throughput on a generated ~1 MB node-exporter-like body.
//
//   bazel run --config=opt //tsdb/textparse:parser_benchmark
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "tsdb/textparse/internal/exposition_gen.h"
#include "tsdb/textparse/parser.h"

namespace vigil::tsdb::textparse {
namespace {

void BM_Parse(benchmark::State& state, Format format, bool labels) {
  int samples;
  std::string body = NodeExporterBody(1 << 20, format, &samples);
  size_t seen = 0;
  for (auto _ : state) {
    Parser p(body, format);
    Entry e;
    while ((e = p.Next()) != Entry::kEOF) {
      if (e == Entry::kInvalid) {
        state.SkipWithError(std::string(p.status().message()).c_str());
        return;
      }
      if (e == Entry::kSeries) {
        benchmark::DoNotOptimize(p.Value());
        benchmark::DoNotOptimize(p.Series().size());
        if (labels) benchmark::DoNotOptimize(p.Labels().size());
        ++seen;
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(seen),
                                                   benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Parse, text, Format::kPrometheusText, true);
BENCHMARK_CAPTURE(BM_Parse, openmetrics, Format::kOpenMetrics, true);

}  // namespace
}  // namespace vigil::tsdb::textparse
