// Parser throughput on a generated ~1 MB node-exporter-like body.
//
//   bazel run --config=opt //tsdb/textparse:parser_benchmark
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "tsdb/textparse/parser.h"

namespace vigil::tsdb::textparse {
namespace {

// Families and label shapes modelled on node_exporter output: per-CPU and
// per-device series, histograms, a few HELP/TYPE lines per family, float
// values with exponents.
std::string NodeExporterBody(size_t target_bytes, Format format, int* samples) {
  std::string out;
  *samples = 0;
  const char* modes[] = {"idle",    "iowait", "irq",    "nice",
                         "softirq", "steal",  "system", "user"};
  const char* devices[] = {"sda", "sdb", "nvme0n1", "dm-0"};
  int family = 0;
  while (out.size() < target_bytes) {
    absl::StrAppend(&out, "# HELP node_cpu_seconds_total_", family,
                    " Seconds the CPUs spent in each mode.\n");
    absl::StrAppend(&out, "# TYPE node_cpu_seconds_total_", family,
                    " counter\n");
    for (int cpu = 0; cpu < 8; ++cpu) {
      for (const char* m : modes) {
        absl::StrAppend(&out, "node_cpu_seconds_total_", family, "{cpu=\"", cpu,
                        "\",mode=\"", m, "\"} ", 12345.67 + cpu * 31.3 + family,
                        "\n");
        ++*samples;
      }
    }
    absl::StrAppend(&out, "# HELP node_disk_read_bytes_total_", family,
                    " The total number of bytes read successfully.\n");
    absl::StrAppend(&out, "# TYPE node_disk_read_bytes_total_", family,
                    " counter\n");
    for (const char* d : devices) {
      absl::StrAppend(&out, "node_disk_read_bytes_total_", family, "{device=\"",
                      d, "\"} 1.23456789e+10\n");
      ++*samples;
    }
    absl::StrAppend(&out, "# TYPE go_gc_duration_seconds_", family,
                    " summary\n");
    const char* qs[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (const char* q : qs) {
      absl::StrAppend(&out, "go_gc_duration_seconds_", family, "{quantile=\"",
                      q, "\"} 4.9351e-05\n");
      ++*samples;
    }
    absl::StrAppend(&out, "node_load1_", family, " 0.42\n");
    ++*samples;
    ++family;
  }
  if (format == Format::kOpenMetrics) out += "# EOF\n";
  return out;
}

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
