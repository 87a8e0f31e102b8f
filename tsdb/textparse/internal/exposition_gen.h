// Generates realistic exposition bodies for benchmarks: families and label
// shapes modelled on node_exporter output (per-CPU and per-device series,
// summaries, HELP/TYPE lines, float values with exponents).
#ifndef VIGIL_TSDB_TEXTPARSE_INTERNAL_EXPOSITION_GEN_H_
#define VIGIL_TSDB_TEXTPARSE_INTERNAL_EXPOSITION_GEN_H_

#include <cstddef>
#include <cstdint>
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

// A node-exporter-like body with exactly `series` series lines, every value
// changing with `round` (counters grow, gauges move), as a steady-state
// scrape sees them.
inline std::string NodeExporterSeriesBody(int series, Format format,
                                          int round) {
  std::string out;
  const char* modes[] = {"idle",    "iowait", "irq",    "nice",
                         "softirq", "steal",  "system", "user"};
  const char* devices[] = {"sda", "sdb", "nvme0n1", "dm-0"};
  int n = 0;
  for (int family = 0; n < series; ++family) {
    absl::StrAppend(&out, "# HELP node_cpu_seconds_total_", family,
                    " Seconds the CPUs spent in each mode.\n");
    absl::StrAppend(&out, "# TYPE node_cpu_seconds_total_", family,
                    " counter\n");
    for (int cpu = 0; cpu < 8 && n < series; ++cpu) {
      for (int m = 0; m < 8 && n < series; ++m, ++n) {
        absl::StrAppend(&out, "node_cpu_seconds_total_", family, "{cpu=\"", cpu,
                        "\",mode=\"", modes[m], "\"} ",
                        12345.67 + cpu * 31.3 + m * 0.01 + round * 15.13, "\n");
      }
    }
    absl::StrAppend(&out, "# HELP node_disk_read_bytes_total_", family,
                    " The total number of bytes read successfully.\n");
    absl::StrAppend(&out, "# TYPE node_disk_read_bytes_total_", family,
                    " counter\n");
    for (int d = 0; d < 4 && n < series; ++d, ++n) {
      absl::StrAppend(&out, "node_disk_read_bytes_total_", family, "{device=\"",
                      devices[d], "\"} ", 1.23456789e+10 + round * 4096.0 + d,
                      "\n");
    }
    absl::StrAppend(&out, "# HELP node_memory_Active_bytes_", family,
                    " Memory information field Active_bytes.\n");
    absl::StrAppend(&out, "# TYPE node_memory_Active_bytes_", family,
                    " gauge\n");
    if (n < series) {
      absl::StrAppend(&out, "node_memory_Active_bytes_", family, " ",
                      4.123e+09 + (round % 7) * 8192.0, "\n");
      ++n;
    }
  }
  if (format == Format::kOpenMetrics) out += "# EOF\n";
  return out;
}

// An application-style body of histograms: `series` series lines made of
// http_request_duration_seconds families (12 buckets + sum + count per
// handler/method/code), integer counts growing with `round`.
inline std::string HistogramSeriesBody(int series, Format format, int round) {
  std::string out;
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                       "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
  const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
  const char* codes[] = {"200", "404", "500"};
  int n = 0;
  for (int family = 0; n < series; ++family) {
    absl::StrAppend(&out, "# HELP http_request_duration_seconds_", family,
                    " A histogram of the request duration.\n");
    absl::StrAppend(&out, "# TYPE http_request_duration_seconds_", family,
                    " histogram\n");
    for (int h = 0; h < 8 && n < series; ++h) {
      for (const char* m : methods) {
        for (const char* c : codes) {
          if (n >= series) break;
          int64_t count = 0;
          for (int b = 0; b < 12 && n < series; ++b, ++n) {
            count += (b + 1) * (round + 1) + h;
            absl::StrAppend(&out, "http_request_duration_seconds_", family,
                            "_bucket{handler=\"/api/v1/handler", h,
                            "\",method=\"", m, "\",code=\"", c, "\",le=\"",
                            les[b], "\"} ", count, "\n");
          }
          if (n < series) {
            absl::StrAppend(&out, "http_request_duration_seconds_", family,
                            "_sum{handler=\"/api/v1/handler", h, "\",method=\"",
                            m, "\",code=\"", c, "\"} ",
                            count * 0.0173 + round * 0.5, "\n");
            ++n;
          }
          if (n < series) {
            absl::StrAppend(&out, "http_request_duration_seconds_", family,
                            "_count{handler=\"/api/v1/handler", h,
                            "\",method=\"", m, "\",code=\"", c, "\"} ", count,
                            "\n");
            ++n;
          }
        }
      }
    }
  }
  if (format == Format::kOpenMetrics) out += "# EOF\n";
  return out;
}

}  // namespace vigil::tsdb::textparse

#endif  // VIGIL_TSDB_TEXTPARSE_INTERNAL_EXPOSITION_GEN_H_
