// Deterministic generator of realistic scraped series for codec and storage
// benchmarks and tests: 24 h at 15 s of node-exporter-like data.
//
//   auto series = testdata::GenerateShape(testdata::Shape::kCounterCpu,
//                                         /*count=*/16, /*seed=*/1);
//   for (const auto& s : series) for (const Sample& x : s) enc.Append(...);
//
// Shapes (what they imitate and why it matters to the codec):
//   kCounterInt    integer counters (packets, interrupts, context switches):
//                  per-scrape increments ~ Poisson(rate * 15 s), rates
//                  log-uniform in [0.01, 1000]/s.
//   kCounterCpu    node_cpu_seconds_total: centisecond resolution (USER_HZ),
//                  so exactly two decimals; per-mode busy fractions.
//   kGaugeDecimal  gauges with 0..2 decimals (load averages, temperatures,
//                  fd counts) as a mean-reverting walk; one in three is
//                  constant (sizes, limits, info-like gauges).
//   kGaugeMemory   node_memory_*_bytes: multiples of 4096 that move by a few
//                  pages to thousands of pages, some only occasionally.
//   kHistogram     one 12-bucket histogram = 14 series (12 cumulative
//                  _bucket counts, _count, _sum of millisecond-rounded
//                  latencies, so _sum has three decimals).
// Timestamps are start + i * 15000 ms; a fraction of scrapes (default 5%)
// is late by 3..25 ms, not accumulated. Prometheus since 2.3x snaps scrape
// timestamps that are within 2 ms of the schedule back onto it, so the
// remaining jitter is rarer and larger than raw scheduling noise.
#ifndef VIGIL_TSDB_CHUNKENC_TESTDATA_GEN_H_
#define VIGIL_TSDB_CHUNKENC_TESTDATA_GEN_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tsdb/sample.h"

namespace vigil::tsdb::chunkenc::testdata {

enum class Shape {
  kCounterInt,
  kCounterCpu,
  kGaugeDecimal,
  kGaugeMemory,
  kHistogram
};

inline const char* ShapeName(Shape s) {
  switch (s) {
    case Shape::kCounterInt:
      return "counter_int";
    case Shape::kCounterCpu:
      return "counter_cpu";
    case Shape::kGaugeDecimal:
      return "gauge_decimal";
    case Shape::kGaugeMemory:
      return "gauge_memory";
    case Shape::kHistogram:
      return "histogram";
  }
  return "?";
}

constexpr int64_t kDefaultStartMs = 1700000000000;  // 2023-11-14
constexpr int64_t kIntervalMs = 15000;
constexpr int kSamplesPerDay = 24 * 3600 * 1000 / kIntervalMs;  // 5760

// Scrape timestamps for one series.
inline std::vector<int64_t> Timestamps(std::mt19937_64& rng, int n,
                                       int64_t start_ms,
                                       double jitter_fraction) {
  std::vector<int64_t> ts(n);
  std::uniform_int_distribution<int> jitter(3, 25);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < n; ++i) {
    ts[i] = start_ms + int64_t{i} * kIntervalMs;
    if (u(rng) < jitter_fraction) ts[i] += jitter(rng);
  }
  return ts;
}

inline std::vector<std::vector<Sample>> GenerateShape(
    Shape shape, int count, uint64_t seed, int n = kSamplesPerDay,
    int64_t start_ms = kDefaultStartMs, double jitter_fraction = 0.05) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<int>(shape));
  std::uniform_real_distribution<double> u01(0, 1);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<std::vector<Sample>> out;
  while (static_cast<int>(out.size()) < count) {
    const std::vector<int64_t> ts =
        Timestamps(rng, n, start_ms, jitter_fraction);
    switch (shape) {
      case Shape::kCounterInt: {
        const double rate = std::pow(10.0, -2 + 5 * u01(rng));
        std::poisson_distribution<int64_t> inc(rate * 15);
        double v = std::floor(u01(rng) * 1e6);
        std::vector<Sample> s(n);
        for (int i = 0; i < n; ++i) {
          v += static_cast<double>(inc(rng));
          s[i] = {ts[i], v};
        }
        out.push_back(std::move(s));
        break;
      }
      case Shape::kCounterCpu: {
        static constexpr double kBusy[] = {0.9,   0.05,  0.02, 0.005,
                                           0.001, 0.002, 0.0,  0.0};
        const double f = kBusy[out.size() % 8] * (0.5 + u01(rng));
        // Relative noise 20% of the busy share; the idle share moves by the
        // sum of the others' noise, not by 20% of itself.
        const double sd = 1500 * 0.2 * std::min(f, 1 - f);
        int64_t centis = static_cast<int64_t>(u01(rng) * 1e7);
        std::vector<Sample> s(n);
        for (int i = 0; i < n; ++i) {
          const double inc = 1500 * f + sd * gauss(rng);
          centis += std::max<int64_t>(0, std::llround(inc));
          s[i] = {ts[i], static_cast<double>(centis) / 100};
        }
        out.push_back(std::move(s));
        break;
      }
      case Shape::kGaugeDecimal: {
        const int decimals = static_cast<int>(out.size() % 3);
        const double scale = std::pow(10.0, decimals);
        const bool constant = (out.size() / 3) % 3 == 1;
        const double mean = std::pow(10.0, 4 * u01(rng));
        // Step noise 0.3..300 units of the last decimal (load averages move
        // by hundredths, temperatures by tenths, fd counts by a few).
        const double sigma = std::pow(10.0, -0.5 + 3 * u01(rng)) / scale;
        double x = mean;
        std::vector<Sample> s(n);
        for (int i = 0; i < n; ++i) {
          if (!constant) x += 0.1 * (mean - x) + sigma * gauss(rng);
          s[i] = {ts[i], static_cast<double>(std::llround(x * scale)) / scale};
        }
        out.push_back(std::move(s));
        break;
      }
      case Shape::kGaugeMemory: {
        const double change_prob = out.size() % 2 ? 1.0 : 0.1;
        const double step_pages = std::pow(10.0, 3 * u01(rng));
        int64_t pages = static_cast<int64_t>(1e5 + u01(rng) * 4e6);
        std::vector<Sample> s(n);
        for (int i = 0; i < n; ++i) {
          if (u01(rng) < change_prob) {
            pages += std::llround(step_pages * gauss(rng));
            pages = std::max<int64_t>(pages, 1);
          }
          s[i] = {ts[i], static_cast<double>(pages * 4096)};
        }
        out.push_back(std::move(s));
        break;
      }
      case Shape::kHistogram: {
        static constexpr double kBounds[11] = {
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        const double rate = std::pow(10.0, -1 + 2.7 * u01(rng));
        const double mu = std::log(0.02 + 0.3 * u01(rng));
        std::poisson_distribution<int> reqs(rate * 15);
        std::lognormal_distribution<double> latency(mu, 1.0);
        std::vector<std::vector<Sample>> h(14, std::vector<Sample>(n));
        int64_t buckets[12] = {};
        int64_t sum_ms = 0;
        for (int i = 0; i < n; ++i) {
          const int r = reqs(rng);
          for (int j = 0; j < r; ++j) {
            const int64_t ms = std::llround(latency(rng) * 1000);
            sum_ms += ms;
            const double secs = static_cast<double>(ms) / 1000;
            int b = 0;
            while (b < 11 && secs > kBounds[b]) ++b;
            ++buckets[b];
          }
          int64_t cum = 0;
          for (int b = 0; b < 12; ++b) {
            cum += buckets[b];
            h[b][i] = {ts[i], static_cast<double>(cum)};
          }
          h[12][i] = {ts[i], static_cast<double>(cum)};
          h[13][i] = {ts[i], static_cast<double>(sum_ms) / 1000};
        }
        for (auto& s : h) {
          if (static_cast<int>(out.size()) < count) out.push_back(std::move(s));
        }
        break;
      }
    }
  }
  return out;
}

// Share of each shape in the "mix" (fractions of series), modelled on a
// node-exporter host plus one instrumented service.
struct MixEntry {
  Shape shape;
  int series;
};
inline std::vector<MixEntry> DefaultMix() {
  return {{Shape::kCounterInt, 30},
          {Shape::kCounterCpu, 16},
          {Shape::kGaugeDecimal, 24},
          {Shape::kGaugeMemory, 16},
          {Shape::kHistogram, 28}};
}

// The comparison harness's backfill data (benchmarks/compare/loadgen.py),
// which the query benchmarks decode: `histograms` drifting 12-bucket
// histograms (14 series each: 12 cumulative buckets, _sum with 3 decimals,
// _count) and `cpu_series` node_cpu_seconds_total counters (2 decimals,
// fixed rates), `samples` points exactly 15 s apart (backfilled, so no
// jitter). Same formulas as loadgen.py; its Python RNG draws differ.
inline std::vector<std::vector<Sample>> GenerateHarness(int histograms,
                                                        int cpu_series,
                                                        int samples,
                                                        uint64_t seed) {
  constexpr double kW = 2 * M_PI / 3600.0;
  const double les[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                          0.5,   1,    2.5,   5,    10};
  const int64_t t0_s = 1700000000;
  const int64_t start_s = t0_s + 86400;
  std::vector<std::vector<Sample>> out;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0, 1);
  for (int hi = 0; hi < histograms; ++hi) {
    const double rps = 5 + 45 * u01(rng);
    const double phase = 6 * u01(rng);
    const double base = std::floor(1e4 + (1e6 - 1e4) * u01(rng));
    const double median = 0.02 + 0.18 * u01(rng);
    double g[11], h[11];
    for (int k = 0; k < 11; ++k) {
      const double x = les[k] / median;
      g[k] = x / (1 + x);
      h[k] = 0.3 * g[k] * (1 - g[k]);
    }
    const double mean = median * 1.3;
    std::vector<std::vector<Sample>> hs(14);
    for (int i = 0; i < samples; ++i) {
      const int64_t ts = start_s + int64_t{i} * 15;
      const double t = static_cast<double>(ts - t0_s);
      const double c = std::cos(kW * t + phase) / kW;
      const double total = base + std::floor(rps * t);
      for (int k = 0; k < 11; ++k) {
        const double v = std::floor(base * g[k] + rps * (g[k] * t - h[k] * c));
        hs[k].push_back({ts * 1000, std::min(v, total)});
      }
      hs[11].push_back({ts * 1000, total});
      hs[12].push_back(
          {ts * 1000,
           std::round(mean * (base + rps * (t - 0.3 * c)) * 1000) / 1000});
      hs[13].push_back({ts * 1000, total});
    }
    for (auto& s : hs) out.push_back(std::move(s));
  }
  const double rates[4] = {0.9, 0.05, 0.03, 0.01};
  for (int ci = 0; ci < cpu_series; ++ci) {
    const double rate = rates[ci % 4];
    const double b = 1e5 + (ci / 32) * 1000 + (ci / 4) % 8;
    std::vector<Sample> s;
    for (int i = 0; i < samples; ++i) {
      const int64_t ts = start_s + int64_t{i} * 15;
      const double t = static_cast<double>(ts - t0_s);
      s.push_back({ts * 1000, std::round((b + rate * t) * 100) / 100});
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace vigil::tsdb::chunkenc::testdata

#endif  // VIGIL_TSDB_CHUNKENC_TESTDATA_GEN_H_
