// Parser throughput on a generated ~1 MB node-exporter-like body.
//
//   bazel run --config=opt //tsdb/textparse:parser_benchmark
//
// With VIGIL_DUMP_BODY=<file> the text body is also written to <file>, so
// other parsers (Prometheus's promparse, see docs/scraping.md) can be timed
// on exactly the same bytes.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

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

// Parses with NextPredicted() given the previous scrape's series, the way
// a steady-state scrape does: labels are not parsed.
void BM_ParsePredicted(benchmark::State& state) {
  int samples;
  std::string body =
      NodeExporterBody(1 << 20, Format::kPrometheusText, &samples, 1);
  std::vector<std::string> series;
  {
    std::string prev =
        NodeExporterBody(1 << 20, Format::kPrometheusText, &samples, 0);
    Parser p(prev, Format::kPrometheusText);
    for (Entry e = p.Next(); e != Entry::kEOF; e = p.Next()) {
      if (e == Entry::kSeries) series.emplace_back(p.Series());
    }
  }
  size_t seen = 0;
  for (auto _ : state) {
    Parser p(body, Format::kPrometheusText);
    size_t i = 0;
    for (;;) {
      Entry e = i < series.size() ? p.NextPredicted(series[i]) : p.Next();
      if (e == Entry::kEOF) break;
      if (e == Entry::kInvalid) {
        state.SkipWithError(std::string(p.status().message()).c_str());
        return;
      }
      if (e == Entry::kSeries) {
        benchmark::DoNotOptimize(p.Value());
        ++i;
        ++seen;
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(seen),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParsePredicted);

void DumpBodyIfAsked() {
  const char* path = std::getenv("VIGIL_DUMP_BODY");
  if (path == nullptr) return;
  int samples;
  std::ofstream(path) << NodeExporterBody(1 << 20, Format::kPrometheusText,
                                          &samples);
}
const int kDumped = (DumpBodyIfAsked(), 0);

BENCHMARK_CAPTURE(BM_Parse, text, Format::kPrometheusText, true);
BENCHMARK_CAPTURE(BM_Parse, openmetrics, Format::kOpenMetrics, true);

}  // namespace
}  // namespace vigil::tsdb::textparse
