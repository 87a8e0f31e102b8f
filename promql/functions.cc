#include "promql/functions.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "promql/go_time.h"

namespace vigil::promql {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Kahan-compensated increment, as Prometheus's kahanSumInc.
inline void KahanInc(double inc, double* sum, double* c) {
  double t = *sum + inc;
  if (std::fabs(*sum) >= std::fabs(inc)) {
    *c += (*sum - t) + inc;
  } else {
    *c += (inc - t) + *sum;
  }
  *sum = t;
}

bool Rate(const RangeWindow& w, const RangeArgs&, double* out) {
  return ExtrapolatedRate(w, true, true, out);
}
bool Increase(const RangeWindow& w, const RangeArgs&, double* out) {
  return ExtrapolatedRate(w, true, false, out);
}
bool Delta(const RangeWindow& w, const RangeArgs&, double* out) {
  return ExtrapolatedRate(w, false, false, out);
}

// irate/idelta: the last two samples only.
bool InstantValue(const RangeWindow& w, bool is_rate, double* out) {
  const size_t n = w.samples.size();
  if (n < 2) return false;
  const tsdb::Sample& last = w.samples[n - 1];
  const tsdb::Sample& prev = w.samples[n - 2];
  double result;
  if (is_rate && last.v < prev.v) {
    result = last.v;  // counter reset
  } else {
    result = last.v - prev.v;
  }
  const int64_t interval = last.t - prev.t;
  if (interval == 0) return false;
  if (is_rate) result /= static_cast<double>(interval) / 1000;
  *out = result;
  return true;
}
bool IRate(const RangeWindow& w, const RangeArgs&, double* out) {
  return InstantValue(w, true, out);
}
bool IDelta(const RangeWindow& w, const RangeArgs&, double* out) {
  return InstantValue(w, false, out);
}

bool Deriv(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.size() < 2) return false;
  double slope, intercept;
  LinearRegression(w.samples, w.samples[0].t, &slope, &intercept);
  *out = slope;
  return true;
}

bool PredictLinear(const RangeWindow& w, const RangeArgs& a, double* out) {
  if (w.samples.size() < 2) return false;
  double slope, intercept;
  LinearRegression(w.samples, w.eval_time, &slope, &intercept);
  *out = slope * a.a + intercept;
  return true;
}

bool Resets(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  int resets = 0;
  double prev = w.samples[0].v;
  for (size_t i = 1; i < w.samples.size(); ++i) {
    double cur = w.samples[i].v;
    if (cur < prev) ++resets;
    prev = cur;
  }
  *out = resets;
  return true;
}

bool Changes(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  int changes = 0;
  double prev = w.samples[0].v;
  for (size_t i = 1; i < w.samples.size(); ++i) {
    double cur = w.samples[i].v;
    if (cur != prev && !(std::isnan(cur) && std::isnan(prev))) ++changes;
    prev = cur;
  }
  *out = changes;
  return true;
}

double TrendValue(int i, double tf, double s0, double s1, double b) {
  if (i == 0) return b;
  return tf * (s1 - s0) + (1 - tf) * b;
}

// Double exponential smoothing. Factor validation happens in the evaluator,
// which can report an error.
bool HoltWinters(const RangeWindow& w, const RangeArgs& a, double* out) {
  const size_t n = w.samples.size();
  if (n < 2) return false;
  const double sf = a.a, tf = a.b;
  double s0 = 0, s1 = w.samples[0].v;
  double b = w.samples[1].v - w.samples[0].v;
  for (size_t i = 1; i < n; ++i) {
    double x = sf * w.samples[i].v;
    b = TrendValue(static_cast<int>(i) - 1, tf, s0, s1, b);
    double y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  *out = s1;
  return true;
}

bool AvgOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  double mean = 0, count = 0, c = 0;
  for (const tsdb::Sample& s : w.samples) {
    count++;
    if (std::isinf(mean)) {
      if (std::isinf(s.v) && (mean > 0) == (s.v > 0)) continue;
      if (!std::isinf(s.v) && !std::isnan(s.v)) continue;
    }
    KahanInc(s.v / count - mean / count, &mean, &c);
  }
  *out = std::isinf(mean) ? mean : mean + c;
  return true;
}

bool SumOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  double sum = 0, c = 0;
  for (const tsdb::Sample& s : w.samples) KahanInc(s.v, &sum, &c);
  *out = std::isinf(sum) ? sum : sum + c;
  return true;
}

bool CountOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  *out = static_cast<double>(w.samples.size());
  return true;
}

bool MinOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  double m = w.samples[0].v;
  for (const tsdb::Sample& s : w.samples) {
    if (s.v < m || std::isnan(m)) m = s.v;
  }
  *out = m;
  return true;
}

bool MaxOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  double m = w.samples[0].v;
  for (const tsdb::Sample& s : w.samples) {
    if (s.v > m || std::isnan(m)) m = s.v;
  }
  *out = m;
  return true;
}

bool LastOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  *out = w.samples.back().v;
  return true;
}

bool PresentOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  *out = 1;
  return true;
}

double StdvarOfWindow(const RangeWindow& w) {
  double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
  for (const tsdb::Sample& s : w.samples) {
    count++;
    double delta = s.v - (mean + cmean);
    KahanInc(delta / count, &mean, &cmean);
    KahanInc(delta * (s.v - (mean + cmean)), &aux, &caux);
  }
  return (aux + caux) / count;
}

bool StdvarOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  *out = StdvarOfWindow(w);
  return true;
}

bool StddevOverTime(const RangeWindow& w, const RangeArgs&, double* out) {
  if (w.samples.empty()) return false;
  *out = std::sqrt(StdvarOfWindow(w));
  return true;
}

bool QuantileOverTime(const RangeWindow& w, const RangeArgs& a, double* out) {
  if (w.samples.empty()) return false;
  std::vector<double>& values = *a.scratch;
  values.clear();
  for (const tsdb::Sample& s : w.samples) values.push_back(s.v);
  *out = Quantile(a.a, &values);
  return true;
}

double Sgn(double v) {
  if (v < 0) return -1;
  if (v > 0) return 1;
  return v;  // 0, -0 and NaN map to themselves
}
double Abs(double v) { return std::fabs(v); }
double Ceil(double v) { return std::ceil(v); }
double Floor(double v) { return std::floor(v); }
double Exp(double v) { return std::exp(v); }
double Sqrt(double v) { return std::sqrt(v); }
double Ln(double v) { return std::log(v); }
double Log2(double v) { return std::log2(v); }
double Log10(double v) { return std::log10(v); }
double Deg(double v) { return v * 180 / M_PI; }
double Rad(double v) { return v * M_PI / 180; }
double Sin(double v) { return std::sin(v); }
double Cos(double v) { return std::cos(v); }
double Tan(double v) { return std::tan(v); }
double Asin(double v) { return std::asin(v); }
double Acos(double v) { return std::acos(v); }
double Atan(double v) { return std::atan(v); }
double Sinh(double v) { return std::sinh(v); }
double Cosh(double v) { return std::cosh(v); }
double Tanh(double v) { return std::tanh(v); }
double Asinh(double v) { return std::asinh(v); }
double Acosh(double v) { return std::acosh(v); }
double Atanh(double v) { return std::atanh(v); }

// Prometheus's date functions apply Go's time.Unix(int64(v), 0).UTC() to
// every value, NaN and ±Inf included (go_time.h).
double DayOfMonth(double v) { return GoDateOf(v).day; }
double DayOfWeek(double v) { return GoDateOf(v).weekday; }
double DayOfYear(double v) { return GoDateOf(v).year_day; }
double DaysInMonth(double v) { return GoDateOf(v).days_in_month; }
double Hour(double v) { return GoDateOf(v).hour; }
double Minute(double v) { return GoDateOf(v).minute; }
double Month(double v) { return GoDateOf(v).month; }
double Year(double v) { return static_cast<double>(GoDateOf(v).year); }

}  // namespace

bool ExtrapolatedRate(const RangeWindow& w, bool is_counter, bool is_rate,
                      double* out) {
  const auto& s = w.samples;
  const size_t n = s.size();
  if (n < 2) return false;
  double result = s[n - 1].v - s[0].v;
  if (is_counter) {
    // Each drop adds the value before it, one by one in sample order as in
    // Prometheus.
    double last = 0;
    for (const tsdb::Sample& x : s) {
      if (x.v < last) result += last;
      last = x.v;
    }
  }
  *out = ExtrapolateRate(result, s[0], s[n - 1], n, w.range_start, w.range_end,
                         is_counter, is_rate);
  return true;
}

void RateExtrapolator::Remember(int64_t d_start, int64_t d_end,
                                int64_t d_sampled, size_t n, int64_t range) {
  d_start_ = d_start;
  d_end_ = d_end;
  d_sampled_ = d_sampled;
  n_ = n;
  range_ = range;
  to_start_ = static_cast<double>(d_start) / 1000;
  sampled_ = static_cast<double>(d_sampled) / 1000;
  factor_ = ExtrapolationFactor(to_start_, static_cast<double>(d_end) / 1000,
                                sampled_, n, range, is_rate_);
}

double RateExtrapolator::Clamped(double result, const tsdb::Sample& first,
                                 const tsdb::Sample& last, size_t n,
                                 int64_t range_start, int64_t range_end) const {
  return ExtrapolateRate(result, first, last, n, range_start, range_end,
                         is_counter_, is_rate_);
}

void LinearRegression(absl::Span<const tsdb::Sample> samples,
                      int64_t intercept_time_ms, double* slope,
                      double* intercept) {
  double n = 0, sum_x = 0, cx = 0, sum_y = 0, cy = 0, sum_xy = 0, cxy = 0,
         sum_x2 = 0, cx2 = 0;
  const double init_y = samples[0].v;
  bool const_y = true;
  for (size_t i = 0; i < samples.size(); ++i) {
    const tsdb::Sample& s = samples[i];
    if (const_y && i > 0 && s.v != init_y) const_y = false;
    n += 1;
    double x = static_cast<double>(s.t - intercept_time_ms) / 1e3;
    KahanInc(x, &sum_x, &cx);
    KahanInc(s.v, &sum_y, &cy);
    KahanInc(x * s.v, &sum_xy, &cxy);
    KahanInc(x * x, &sum_x2, &cx2);
  }
  if (const_y) {
    if (std::isinf(init_y)) {
      *slope = kNaN;
      *intercept = kNaN;
    } else {
      *slope = 0;
      *intercept = init_y;
    }
    return;
  }
  sum_x += cx;
  sum_y += cy;
  sum_xy += cxy;
  sum_x2 += cx2;
  double cov_xy = sum_xy - sum_x * sum_y / n;
  double var_x = sum_x2 - sum_x * sum_x / n;
  *slope = cov_xy / var_x;
  *intercept = sum_y / n - *slope * sum_x / n;
}

double Quantile(double q, std::vector<double>* values) {
  if (values->empty()) return kNaN;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  if (std::isnan(q)) return kNaN;
  // NaN sorts first, as Prometheus's vectorByValueHeap orders it.
  std::sort(values->begin(), values->end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    return a < b;
  });
  const double n = static_cast<double>(values->size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return (*values)[static_cast<size_t>(lower)] * (1 - weight) +
         (*values)[static_cast<size_t>(upper)] * weight;
}

double BucketQuantile(double q, std::vector<Bucket>* buckets_in) {
  std::vector<Bucket>& b = *buckets_in;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  if (b.empty()) return kNaN;
  std::sort(b.begin(), b.end(), [](const Bucket& x, const Bucket& y) {
    return x.upper_bound < y.upper_bound;
  });
  if (!(std::isinf(b.back().upper_bound) && b.back().upper_bound > 0)) {
    return kNaN;
  }
  // Coalesce buckets with the same bound (e.g. "1" and "1.0").
  size_t w = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (w > 0 && b[w - 1].upper_bound == b[i].upper_bound) {
      b[w - 1].count += b[i].count;
    } else {
      b[w++] = b[i];
    }
  }
  b.resize(w);
  // Force monotonic cumulative counts (scrapes are not atomic).
  double max = -std::numeric_limits<double>::infinity();
  for (Bucket& x : b) {
    if (x.count > max) {
      max = x.count;
    } else if (x.count < max) {
      x.count = max;
    }
  }
  if (b.size() < 2) return kNaN;
  const double observations = b.back().count;
  if (observations == 0) return kNaN;
  double rank = q * observations;
  // First bucket (excluding +Inf) whose count reaches the rank.
  size_t lo = 0, hi = b.size() - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b[mid].count >= rank) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  const size_t i = lo;
  if (i == b.size() - 1) return b[b.size() - 2].upper_bound;
  if (i == 0 && b[0].upper_bound <= 0) return b[0].upper_bound;
  double start = 0;
  double end = b[i].upper_bound;
  double count = b[i].count;
  if (i > 0) {
    start = b[i - 1].upper_bound;
    count -= b[i - 1].count;
    rank -= b[i - 1].count;
  }
  return start + (end - start) * (rank / count);
}

double GoMax(double a, double b) {
  if (std::isinf(a) && a > 0) return a;
  if (std::isinf(b) && b > 0) return b;
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  if (a == 0 && a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

double GoMin(double a, double b) {
  if (std::isinf(a) && a < 0) return a;
  if (std::isinf(b) && b < 0) return b;
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  if (a == 0 && a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

std::string FormatFloatForLabel(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

bool ParseGoFloat(const std::string& s, double* out) {
  if (s.empty()) return false;
  std::string lower;
  lower.reserve(s.size());
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(c)));
  absl::string_view body = lower;
  bool neg = false;
  if (body[0] == '+' || body[0] == '-') {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    *out = neg ? -std::numeric_limits<double>::infinity()
               : std::numeric_limits<double>::infinity();
    return true;
  }
  if (body == "nan") {
    *out = kNaN;
    return true;
  }
  if (body.empty() || !(std::isdigit(body[0]) || body[0] == '.')) return false;
  const char* begin = s.c_str();
  char* end = nullptr;
  double v = std::strtod(begin, &end);
  if (end != begin + s.size()) return false;
  *out = v;
  return true;
}

RangeFunction LookupRangeFunction(const std::string& name) {
  static const auto* table =
      new absl::flat_hash_map<std::string, RangeFunction>{
          {"rate", Rate},
          {"increase", Increase},
          {"delta", Delta},
          {"irate", IRate},
          {"idelta", IDelta},
          {"deriv", Deriv},
          {"predict_linear", PredictLinear},
          {"resets", Resets},
          {"changes", Changes},
          {"holt_winters", HoltWinters},
          {"avg_over_time", AvgOverTime},
          {"sum_over_time", SumOverTime},
          {"count_over_time", CountOverTime},
          {"min_over_time", MinOverTime},
          {"max_over_time", MaxOverTime},
          {"last_over_time", LastOverTime},
          {"present_over_time", PresentOverTime},
          {"stddev_over_time", StddevOverTime},
          {"stdvar_over_time", StdvarOverTime},
          {"quantile_over_time", QuantileOverTime},
      };
  auto it = table->find(name);
  return it == table->end() ? nullptr : it->second;
}

SimpleFunction LookupSimpleFunction(const std::string& name) {
  static const auto* table =
      new absl::flat_hash_map<std::string, SimpleFunction>{
          {"abs", Abs},     {"ceil", Ceil},   {"floor", Floor},
          {"exp", Exp},     {"sqrt", Sqrt},   {"ln", Ln},
          {"log2", Log2},   {"log10", Log10}, {"sgn", Sgn},
          {"deg", Deg},     {"rad", Rad},     {"sin", Sin},
          {"cos", Cos},     {"tan", Tan},     {"asin", Asin},
          {"acos", Acos},   {"atan", Atan},   {"sinh", Sinh},
          {"cosh", Cosh},   {"tanh", Tanh},   {"asinh", Asinh},
          {"acosh", Acosh}, {"atanh", Atanh},
      };
  auto it = table->find(name);
  return it == table->end() ? nullptr : it->second;
}

DateFunction LookupDateFunction(const std::string& name) {
  static const auto* table = new absl::flat_hash_map<std::string, DateFunction>{
      {"day_of_month", DayOfMonth},
      {"day_of_week", DayOfWeek},
      {"day_of_year", DayOfYear},
      {"days_in_month", DaysInMonth},
      {"hour", Hour},
      {"minute", Minute},
      {"month", Month},
      {"year", Year},
  };
  auto it = table->find(name);
  return it == table->end() ? nullptr : it->second;
}

}  // namespace vigil::promql
