// Numeric kernels of PromQL's functions and aggregations, free of any
// evaluator state so they can be unit-tested directly. Each follows the
// arithmetic of Prometheus 2.42 exactly (order of operations included),
// because results are compared against Prometheus's to 1e-6.
#ifndef VIGIL_PROMQL_FUNCTIONS_H_
#define VIGIL_PROMQL_FUNCTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "tsdb/sample.h"

namespace vigil::promql {

// The window a range function sees at one evaluation step: the samples with
// range_start <= t <= range_end (stale markers removed), plus the bounds.
struct RangeWindow {
  absl::Span<const tsdb::Sample> samples;
  int64_t range_start = 0;  // ms, = range_end - range
  int64_t range_end = 0;    // ms, evaluation time minus offset
  int64_t eval_time = 0;    // ms, the step's timestamp
};

// Per-step scalar arguments and scratch space for range functions.
struct RangeArgs {
  double a = 0;  // first scalar argument (quantile, predict_linear's t, sf)
  double b = 0;  // second scalar argument (holt_winters tf)
  std::vector<double>* scratch = nullptr;
};

// A range-vector function: writes the result to *out and returns true, or
// returns false when the step has no output (e.g. rate over one sample).
using RangeFunction = bool (*)(const RangeWindow& w, const RangeArgs& args,
                               double* out);

// Looks up rate, irate, increase, delta, idelta, deriv, predict_linear,
// resets, changes, holt_winters, *_over_time (not absent_over_time).
// Returns nullptr for other names.
RangeFunction LookupRangeFunction(const std::string& name);

// Prometheus's extrapolatedRate (rate/increase/delta) for one window.
bool ExtrapolatedRate(const RangeWindow& w, bool is_counter, bool is_rate,
                      double* out);

// extrapolatedRate's factor for a window whose first and last samples are
// to_start and to_end seconds from its edges and `sampled` seconds apart
// (n >= 2 samples), after any counter zero-point clamp of to_start; for a
// rate it is also divided by the range's seconds. ExtrapolateRate and
// RateExtrapolator both use it, so their bits are the same.
inline double ExtrapolationFactor(double to_start, double to_end,
                                  double sampled, size_t n, int64_t range_ms,
                                  bool is_rate) {
  const double avg_between = sampled / static_cast<double>(n - 1);
  const double threshold = avg_between * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg_between / 2;
  interval += to_end < threshold ? to_end : avg_between / 2;
  double factor = interval / sampled;
  if (is_rate) {
    // Go's Duration.Seconds(): whole seconds plus the remainder in ns / 1e9.
    factor /= static_cast<double>(range_ms / 1000) +
              static_cast<double>(range_ms % 1000 * 1000000) / 1e9;
  }
  return factor;
}

// The part of ExtrapolatedRate after the raw difference: `result` is
// last - first (plus the counter-reset corrections for a counter) over the
// n >= 2 samples first..last of a window [range_start, range_end]. Inline
// so the range-query loop of rate/increase/delta runs it without an
// indirect call per step; ExtrapolatedRate uses it too, so both give the
// same bits.
inline double ExtrapolateRate(double result, const tsdb::Sample& first,
                              const tsdb::Sample& last, size_t n,
                              int64_t range_start, int64_t range_end,
                              bool is_counter, bool is_rate) {
  // Prometheus's extrapolatedRate operation for operation (seconds, the
  // factor built before it scales the result): the same bits, so that
  // equal rates stay equal and topk/bottomk/comparisons pick what
  // Prometheus picks.
  double to_start = static_cast<double>(first.t - range_start) / 1000;
  const double to_end = static_cast<double>(range_end - last.t) / 1000;
  const double sampled = static_cast<double>(last.t - first.t) / 1000;
  // A counter cannot go below zero: do not extrapolate past that point.
  // With first.v >= result, first.v / result >= 1 and so to_zero >= sampled
  // (rounding is monotonic): the division is skipped when that cannot be
  // below to_start, which is the usual case (a counter's value is far
  // larger than its increase over one window).
  if (is_counter && result > 0 && first.v >= 0 &&
      !(first.v >= result && sampled >= to_start)) {
    double to_zero = sampled * (first.v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  return result * ExtrapolationFactor(to_start, to_end, sampled, n,
                                      range_end - range_start, is_rate);
}

// ExtrapolateRate for the windows of one series in a range query, with
// the extrapolation factor remembered between windows. The factor depends
// only on where the first and last samples sit in the window and on how
// many there are, so a regularly scraped series evaluated at a step that
// is a multiple of its scrape interval gets the same factor at nearly
// every step: this saves the six divisions per window (about a third of
// the rate kernel's time). The counter's zero-point clamp depends on the
// values; windows where it applies take the full computation. Same bits as
// ExtrapolateRate for every input.
class RateExtrapolator {
 public:
  RateExtrapolator(bool is_counter, bool is_rate)
      : is_counter_(is_counter), is_rate_(is_rate) {}

  double operator()(double result, const tsdb::Sample& first,
                    const tsdb::Sample& last, size_t n, int64_t range_start,
                    int64_t range_end) {
    const int64_t d_start = first.t - range_start;
    const int64_t d_end = range_end - last.t;
    const int64_t d_sampled = last.t - first.t;
    const int64_t range = range_end - range_start;
    if (!(n == n_ && d_start == d_start_ && d_end == d_end_ &&
          d_sampled == d_sampled_ && range == range_)) {
      Remember(d_start, d_end, d_sampled, n, range);
    }
    // ExtrapolateRate's condition for the zero-point clamp.
    if (is_counter_ && result > 0 && first.v >= 0 &&
        !(first.v >= result && sampled_ >= to_start_)) {
      return Clamped(result, first, last, n, range_start, range_end);
    }
    return result * factor_;
  }

 private:
  // ExtrapolateRate's factor without the zero-point clamp, computed by the
  // same operations in the same order. Out of line, as is the clamped
  // case: the per-window path stays small enough to inline.
  void Remember(int64_t d_start, int64_t d_end, int64_t d_sampled, size_t n,
                int64_t range);
  double Clamped(double result, const tsdb::Sample& first,
                 const tsdb::Sample& last, size_t n, int64_t range_start,
                 int64_t range_end) const;

  const bool is_counter_;
  const bool is_rate_;
  // The window shape factor_ belongs to; n_ == 0 before the first window.
  int64_t d_start_ = 0, d_end_ = 0, d_sampled_ = 0, range_ = 0;
  size_t n_ = 0;
  double to_start_ = 0, sampled_ = 0, factor_ = 0;
};

// Linear regression of the window's samples against time (seconds relative
// to intercept_time_ms). Returns slope and intercept.
void LinearRegression(absl::Span<const tsdb::Sample> samples,
                      int64_t intercept_time_ms, double* slope,
                      double* intercept);

// quantile() over `values` (sorted in place): linear interpolation between
// the closest ranks; -Inf/+Inf for q < 0 / q > 1; NaN on empty input.
double Quantile(double q, std::vector<double>* values);

// One classic histogram bucket: upper bound and cumulative count.
struct Bucket {
  double upper_bound;
  double count;
};
// histogram_quantile over one series group's buckets (modified in place).
double BucketQuantile(double q, std::vector<Bucket>* buckets);

// Go's math.Max / math.Min (NaN wins, +0 > -0), which std::fmax is not.
double GoMax(double a, double b);
double GoMin(double a, double b);

// Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip decimal in
// fixed notation, "NaN", "+Inf", "-Inf". Used by count_values.
std::string FormatFloatForLabel(double v);

// Go's strconv.ParseFloat for `le` label values; false if malformed.
bool ParseGoFloat(const std::string& s, double* out);

// Element-wise instant-vector math functions (abs, ceil, exp, sqrt, ln, ...,
// sgn, deg, rad, trig). Returns nullptr for other names.
using SimpleFunction = double (*)(double);
SimpleFunction LookupSimpleFunction(const std::string& name);

// Date functions on a Unix time in seconds: day_of_month, day_of_week,
// day_of_year, days_in_month, hour, minute, month, year. Returns nullptr
// for other names.
using DateFunction = double (*)(double unix_seconds);
DateFunction LookupDateFunction(const std::string& name);

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_FUNCTIONS_H_
