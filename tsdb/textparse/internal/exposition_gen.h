// Generates realistic exposition bodies for benchmarks: families and label
// shapes modelled on node_exporter output (per-CPU and per-device series,
// summaries, HELP/TYPE lines, float values with exponents).
#ifndef VIGIL_TSDB_TEXTPARSE_INTERNAL_EXPOSITION_GEN_H_
#define VIGIL_TSDB_TEXTPARSE_INTERNAL_EXPOSITION_GEN_H_

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "tsdb/textparse/parser.h"

namespace vigil::tsdb::textparse {

// About `target_bytes` of exposition; `*samples` receives the number of
// series lines. `round` varies the values so repeated scrapes differ.
inline std::string NodeExporterBody(size_t target_bytes, Format format,
                                    int* samples, int round = 0) {
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
                        "\",mode=\"", m, "\"} ",
                        12345.67 + cpu * 31.3 + family + round * 15, "\n");
        ++*samples;
      }
    }
    absl::StrAppend(&out, "# HELP node_disk_read_bytes_total_", family,
                    " The total number of bytes read successfully.\n");
    absl::StrAppend(&out, "# TYPE node_disk_read_bytes_total_", family,
                    " counter\n");
    for (const char* d : devices) {
      absl::StrAppend(&out, "node_disk_read_bytes_total_", family, "{device=\"",
                      d, "\"} ", 1.23456789e+10 + round * 4096.0, "\n");
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

}  // namespace vigil::tsdb::textparse

#endif  // VIGIL_TSDB_TEXTPARSE_INTERNAL_EXPOSITION_GEN_H_
