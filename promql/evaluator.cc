#include "promql/evaluator.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "promql/functions.h"
#include "promql/topk.h"
#include "re2/re2.h"
#include "tsdb/sample.h"

namespace vigil::promql {
namespace {

using tsdb::Labels;
using tsdb::LabelsBuilder;
using tsdb::Sample;

// "No value at this step". A signalling NaN: arithmetic never produces it
// (it yields quiet NaNs), and stored samples with exactly these bits are
// treated like the stale marker they resemble.
constexpr uint64_t kAbsentBits = 0x7ff00000000000a5ULL;

inline double AbsentValue() {
  double d;
  std::memcpy(&d, &kAbsentBits, sizeof d);
  return d;
}
inline bool IsAbsent(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b == kAbsentBits;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Evaluation timestamps start, start+interval, ..., n of them.
struct Steps {
  int64_t start = 0;
  int64_t interval = 1;
  int64_t n = 1;
  int64_t T(int64_t i) const { return start + i * interval; }
  int64_t last() const { return T(n - 1); }
};

// One output series: a value (or AbsentValue()) per step.
struct DSeries {
  Labels labels;
  std::vector<double> v;
};
struct VectorVal {
  std::vector<DSeries> series;
};
struct ScalarVal {
  std::vector<double> v;
};
struct StringVal {
  std::string s;
};
struct MatrixVal {
  Matrix m;
};
using Val = std::variant<ScalarVal, VectorVal, StringVal, MatrixVal>;

const Expr& Unparen(const Expr& e) {
  const Expr* p = &e;
  while (p->kind == ExprKind::kParen) {
    p = static_cast<const ParenExpr*>(p)->expr.get();
  }
  return *p;
}

Labels DropName(const Labels& l) {
  if (!l.Has(tsdb::kMetricName)) return l;
  return LabelsBuilder(l).Del(tsdb::kMetricName).Build();
}

int64_t PresentPoints(const VectorVal& v) {
  int64_t n = 0;
  for (const DSeries& s : v.series) {
    for (double x : s.v) n += !IsAbsent(x);
  }
  return n;
}

int64_t PointsOf(const Val& v) {
  if (const auto* vec = std::get_if<VectorVal>(&v)) return PresentPoints(*vec);
  if (const auto* s = std::get_if<ScalarVal>(&v)) {
    return static_cast<int64_t>(s->v.size());
  }
  if (const auto* m = std::get_if<MatrixVal>(&v)) {
    int64_t n = 0;
    for (const MatrixSeries& s : m->m) n += s.points.size();
    return n;
  }
  return 0;
}

void RemoveEmptySeries(VectorVal* v) {
  auto& s = v->series;
  s.erase(std::remove_if(s.begin(), s.end(),
                         [](const DSeries& d) {
                           for (double x : d.v) {
                             if (!IsAbsent(x)) return false;
                           }
                           return true;
                         }),
          s.end());
}

// Merges series that ended up with the same labels (after dropping the
// metric name, label_replace, ...). That is fine across steps; two values
// at one step is Prometheus's "same labelset" error.
absl::Status MergeDuplicates(VectorVal* v) {
  // Keyed by the series' own labels (no copies): each series learns the
  // index of the first one with equal labels, then moves in one pass.
  struct LabelsPtrHash {
    size_t operator()(const Labels* l) const {
      return absl::Hash<Labels>{}(*l);
    }
  };
  struct LabelsPtrEq {
    bool operator()(const Labels* a, const Labels* b) const { return *a == *b; }
  };
  std::vector<DSeries>& in = v->series;
  absl::flat_hash_map<const Labels*, size_t, LabelsPtrHash, LabelsPtrEq> seen;
  seen.reserve(in.size());
  std::vector<size_t> first(in.size());
  bool any_duplicate = false;
  for (size_t k = 0; k < in.size(); ++k) {
    auto [it, inserted] = seen.emplace(&in[k].labels, k);
    first[k] = it->second;
    any_duplicate |= !inserted;
  }
  if (!any_duplicate) return absl::OkStatus();
  std::vector<DSeries> out;
  out.reserve(seen.size());
  std::vector<size_t> slot(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    if (first[k] == k) {
      slot[k] = out.size();
      out.push_back(std::move(in[k]));
      continue;
    }
    DSeries& dst = out[slot[first[k]]];
    const DSeries& src = in[k];
    for (size_t i = 0; i < src.v.size(); ++i) {
      if (IsAbsent(src.v[i])) continue;
      if (!IsAbsent(dst.v[i])) {
        return absl::InvalidArgumentError(
            "vector cannot contain metrics with the same labelset");
      }
      dst.v[i] = src.v[i];
    }
  }
  v->series = std::move(out);
  return absl::OkStatus();
}

// Runs fn(worker, i) for i in [0, n) on up to `threads` threads. Workers
// get disjoint indices, so writes to per-index outputs need no locking.
void ParallelFor(size_t n, int threads,
                 const std::function<void(int, size_t)>& fn) {
  int t = std::min<int64_t>(threads, static_cast<int64_t>(n));
  if (t <= 1) {
    for (size_t i = 0; i < n; ++i) fn(0, i);
    return;
  }
  std::atomic<size_t> next{0};
  auto body = [&](int worker) {
    for (;;) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) return;
      fn(worker, i);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  for (int w = 1; w < t; ++w) pool.emplace_back(body, w);
  body(0);
  for (std::thread& th : pool) th.join();
}

// Ceil to a multiple of `interval` the way Prometheus aligns subquery steps.
int64_t AlignUp(int64_t t, int64_t interval) {
  int64_t a = interval * (t / interval);
  if (a < t) a += interval;
  return a;
}

bool VectorElemBinop(BinaryOp op, double l, double r, double* out) {
  switch (op) {
    case BinaryOp::kAdd:
      *out = l + r;
      return true;
    case BinaryOp::kSub:
      *out = l - r;
      return true;
    case BinaryOp::kMul:
      *out = l * r;
      return true;
    case BinaryOp::kDiv:
      *out = l / r;
      return true;
    case BinaryOp::kPow:
      *out = std::pow(l, r);
      return true;
    case BinaryOp::kMod:
      *out = std::fmod(l, r);
      return true;
    case BinaryOp::kAtan2:
      *out = std::atan2(l, r);
      return true;
    case BinaryOp::kEql:
      *out = l;
      return l == r;
    case BinaryOp::kNeq:
      *out = l;
      return l != r;
    case BinaryOp::kGtr:
      *out = l;
      return l > r;
    case BinaryOp::kLss:
      *out = l;
      return l < r;
    case BinaryOp::kGte:
      *out = l;
      return l >= r;
    case BinaryOp::kLte:
      *out = l;
      return l <= r;
    default:
      *out = kNaN;
      return false;
  }
}

const char* TypeName(ValueType t) {
  switch (t) {
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    case ValueType::kString:
      return "string";
    case ValueType::kNone:
      break;
  }
  return "none";
}

bool IsSetOperator(BinaryOp op) {
  return op == BinaryOp::kAnd || op == BinaryOp::kOr || op == BinaryOp::kUnless;
}

bool IsComparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::kEql:
    case BinaryOp::kNeq:
    case BinaryOp::kGtr:
    case BinaryOp::kLss:
    case BinaryOp::kGte:
    case BinaryOp::kLte:
      return true;
    default:
      return false;
  }
}

bool DropsMetricName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kPow:
    case BinaryOp::kMod:
      return true;
    default:
      return false;
  }
}

// Signature labels for vector matching: on(...) keeps the listed labels,
// ignoring(...) (or no modifier) drops them and the metric name.
Labels MatchLabels(const Labels& l, const VectorMatching& m) {
  LabelsBuilder b(l);
  if (m.on) {
    b.Keep(m.matching_labels);
  } else {
    for (const std::string& n : m.matching_labels) b.Del(n);
    b.Del(tsdb::kMetricName);
  }
  return b.Build();
}

uint64_t Signature(const Labels& l, const VectorMatching& m) {
  if (m.on) return l.HashFor(m.matching_labels, true);
  std::vector<std::string> names = m.matching_labels;
  names.emplace_back(tsdb::kMetricName);
  return l.HashFor(names, false);
}

// Go regexp.Expand semantics for label_replace's replacement template.
std::string ExpandTemplate(const std::string& tmpl, const re2::RE2& re,
                           const std::vector<re2::StringPiece>& groups) {
  std::string out;
  const auto& named = re.NamedCapturingGroups();
  size_t i = 0;
  while (i < tmpl.size()) {
    char c = tmpl[i];
    if (c != '$' || i + 1 >= tmpl.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (tmpl[i + 1] == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    std::string name;
    size_t j;
    bool ok = false;
    if (tmpl[i + 1] == '{') {
      size_t close = tmpl.find('}', i + 2);
      if (close != std::string::npos) {
        name = tmpl.substr(i + 2, close - i - 2);
        j = close + 1;
        ok = !name.empty();
        for (char ch : name) {
          if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) {
            ok = false;
          }
        }
      }
    } else {
      j = i + 1;
      while (j < tmpl.size() &&
             (std::isalnum(static_cast<unsigned char>(tmpl[j])) ||
              tmpl[j] == '_')) {
        ++j;
      }
      name = tmpl.substr(i + 1, j - i - 1);
      ok = !name.empty();
    }
    if (!ok) {
      // Malformed reference: Go copies the '$' literally.
      out.push_back('$');
      ++i;
      continue;
    }
    bool numeric = std::all_of(name.begin(), name.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch));
    });
    int idx = -1;
    if (numeric) {
      if (name.size() < 10) idx = std::stoi(name);
    } else {
      auto it = named.find(name);
      if (it != named.end()) idx = it->second;
    }
    if (idx >= 0 && static_cast<size_t>(idx) < groups.size() &&
        groups[idx].data() != nullptr) {
      out.append(groups[idx].data(), groups[idx].size());
    }
    i = j;
  }
  return out;
}

bool IsStreamingAggregate(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSum:
    case AggregateOp::kAvg:
    case AggregateOp::kMin:
    case AggregateOp::kMax:
    case AggregateOp::kCount:
    case AggregateOp::kGroup:
    case AggregateOp::kStddev:
    case AggregateOp::kStdvar:
      return true;
    default:
      return false;
  }
}

// Only avg/stddev/stdvar keep a running mean.
bool AggregateHasMean(AggregateOp op) {
  return op == AggregateOp::kAvg || op == AggregateOp::kStddev ||
         op == AggregateOp::kStdvar;
}

// Adds one input series (n steps, AbsentValue() where it has none) to a
// group's running state of a streaming aggregation: val/cnt (and mn for
// AggregateHasMean) hold n zero-initialised doubles each. Folding a
// group's series in input order gives Prometheus's bits.
void FoldSeries(AggregateOp op, const double* v, int64_t n, double* val,
                double* cnt, double* mn) {
  switch (op) {
    case AggregateOp::kSum:
      for (int64_t i = 0; i < n; ++i) {
        if (IsAbsent(v[i])) continue;
        val[i] += v[i];
        cnt[i] += 1;
      }
      break;
    case AggregateOp::kCount:
    case AggregateOp::kGroup:
      for (int64_t i = 0; i < n; ++i) {
        if (!IsAbsent(v[i])) cnt[i] += 1;
      }
      break;
    case AggregateOp::kMax:
      for (int64_t i = 0; i < n; ++i) {
        if (IsAbsent(v[i])) continue;
        if (cnt[i] == 0 || val[i] < v[i] || std::isnan(val[i])) {
          val[i] = v[i];
        }
        cnt[i] += 1;
      }
      break;
    case AggregateOp::kMin:
      for (int64_t i = 0; i < n; ++i) {
        if (IsAbsent(v[i])) continue;
        if (cnt[i] == 0 || val[i] > v[i] || std::isnan(val[i])) {
          val[i] = v[i];
        }
        cnt[i] += 1;
      }
      break;
    case AggregateOp::kAvg:
      for (int64_t i = 0; i < n; ++i) {
        if (IsAbsent(v[i])) continue;
        if (cnt[i] == 0) {
          mn[i] = v[i];
          cnt[i] = 1;
          continue;
        }
        cnt[i] += 1;
        if (std::isinf(mn[i])) {
          if (std::isinf(v[i]) && (mn[i] > 0) == (v[i] > 0)) continue;
          if (!std::isinf(v[i]) && !std::isnan(v[i])) continue;
        }
        mn[i] += v[i] / cnt[i] - mn[i] / cnt[i];
      }
      break;
    case AggregateOp::kStddev:
    case AggregateOp::kStdvar:
      for (int64_t i = 0; i < n; ++i) {
        if (IsAbsent(v[i])) continue;
        if (cnt[i] == 0) {
          mn[i] = v[i];
          val[i] = 0;
          cnt[i] = 1;
          continue;
        }
        cnt[i] += 1;
        double delta = v[i] - mn[i];
        mn[i] += delta / cnt[i];
        val[i] += delta * (v[i] - mn[i]);
      }
      break;
    default:
      break;
  }
}

// A group's result per step from FoldSeries's state; AbsentValue() where
// no series had a value.
void FinishGroup(AggregateOp op, const double* val, const double* cnt,
                 const double* mn, int64_t n, double* out) {
  // One loop per operation: this runs for every group and step.
  auto finish = [&](auto value_of) {
    for (int64_t i = 0; i < n; ++i) {
      out[i] = cnt[i] == 0 ? AbsentValue() : value_of(i);
    }
  };
  switch (op) {
    case AggregateOp::kSum:
    case AggregateOp::kMax:
    case AggregateOp::kMin:
      finish([&](int64_t i) { return val[i]; });
      break;
    case AggregateOp::kCount:
      finish([&](int64_t i) { return cnt[i]; });
      break;
    case AggregateOp::kGroup:
      finish([](int64_t) { return 1.0; });
      break;
    case AggregateOp::kAvg:
      finish([&](int64_t i) { return mn[i]; });
      break;
    case AggregateOp::kStdvar:
      finish([&](int64_t i) { return val[i] / cnt[i]; });
      break;
    case AggregateOp::kStddev:
      finish([&](int64_t i) { return std::sqrt(val[i] / cnt[i]); });
      break;
    default:
      std::fill(out, out + n, AbsentValue());
      break;
  }
}

class Evaluator {
 public:
  Evaluator(const EvalParams& p, tsdb::Queryable* storage)
      : p_(p), storage_(storage) {}

  absl::StatusOr<Val> Eval(const Expr& e, const Steps& s);
  absl::StatusOr<MatrixVal> EvalRangeTop(const Expr& e, int64_t t);

  int64_t peak_samples() const { return peak_; }
  int64_t total_samples() const { return total_.load(); }
  int64_t series_selected() const { return series_; }

 private:
  // Where a range function's input comes from: storage (streamed one series
  // at a time) or a subquery's materialised result.
  struct RangeSource {
    int64_t range_ms = 0;
    int64_t offset_ms = 0;
    bool has_at = false;
    int64_t at_ms = 0;
    std::vector<Labels> labels;
    // Storage-backed:
    std::unique_ptr<tsdb::Querier> querier;
    std::vector<tsdb::Series> series;
    // Subquery-backed:
    std::vector<std::vector<Sample>> points;

    int64_t EvalTime(int64_t t) const {
      return (has_at ? at_ms : t) - offset_ms;
    }
  };

  absl::Status CheckInterrupt() const;
  absl::Status Account(int64_t points);
  absl::Status CheckDense(size_t series, int64_t steps) const;
  int64_t AtTime(AtModifier at, int64_t at_ms) const;

  absl::StatusOr<Val> Dispatch(const Expr& e, const Steps& s);
  absl::StatusOr<VectorVal> EvalVectorSelector(const VectorSelector& vs,
                                               const Steps& s, bool timestamps);
  absl::Status OpenRangeSource(const Expr& arg, const Steps& s,
                               RangeSource* src);
  // Loads series i of `src` (stale markers removed) into *buf or returns a
  // view of in-memory points.
  absl::StatusOr<absl::Span<const Sample>> LoadRange(RangeSource* src, size_t i,
                                                     std::vector<Sample>* buf);
  absl::StatusOr<ScalarVal> EvalScalarArg(const Expr& e, const Steps& s);
  absl::StatusOr<Val> EvalCall(const Call& c, const Steps& s);
  absl::StatusOr<Val> EvalRangeCall(const Call& c, const Steps& s,
                                    size_t matrix_arg);

  // A range function call ready to run series by series: its source opened,
  // its scalar arguments evaluated. Shared by EvalRangeCall and the fused
  // aggregation over a range call (TryFusedAggregate).
  struct RangeCall {
    RangeFunction fn = nullptr;
    std::vector<ScalarVal> scalars;
    bool holt = false;
    // last_over_time keeps the metric name; every other function drops it.
    bool keep_name = false;
    // rate/increase: counter resets are found once per series.
    bool counter_fn = false;
    // rate/increase/delta run their kernel inline (see ExtrapolateRate).
    bool extrapolated = false;
    bool is_rate = false;
    RangeSource src;
    // Worker threads worth using for this many series and steps.
    int threads = 1;
  };
  // Per-thread buffers of a range call's series loop.
  struct RangeWorker {
    std::vector<Sample> buf;
    std::vector<double> scratch;
    std::vector<uint32_t> resets;
    // The fused aggregation's row and accumulators.
    std::vector<double> row, value, count, mean;
  };
  absl::Status PrepareRangeCall(const Call& c, const Steps& s,
                                size_t matrix_arg, RangeCall* rc);
  // Evaluates series `idx` of `rc` at every step into out[0, s.n)
  // (AbsentValue() where there is no result); returns how many steps have
  // a value.
  absl::StatusOr<int64_t> RangeCallSeries(RangeCall& rc, const Steps& s,
                                          size_t idx, RangeWorker& w,
                                          double* out);
  // The unfused result of a prepared range call: one series per input
  // series with a value somewhere, names dropped and duplicates merged.
  absl::StatusOr<VectorVal> RunRangeCall(RangeCall& rc, const Steps& s);
  // sum/avg/count/group/min/max/stddev/stdvar directly over a range
  // function of a selector: every group is folded by one worker from its
  // members' rows, in series order, so no series x steps intermediate is
  // materialised and the sums are the same bits as the unfused path's.
  // kNotFused when the expression does not have that shape (nothing was
  // evaluated then); kInput when it does but cannot be folded per group
  // (*out is the range call's result, the aggregation's input); kOutput
  // when *out is the aggregation's result.
  enum class Fused { kNotFused, kInput, kOutput };
  absl::StatusOr<Fused> TryFusedAggregate(const AggregateExpr& a,
                                          const Steps& s, VectorVal* out);
  absl::StatusOr<Val> EvalAbsentOverTime(const Call& c, const Steps& s);
  absl::StatusOr<Val> EvalHistogramQuantile(const Call& c, const Steps& s);
  absl::StatusOr<Val> EvalLabelReplace(const Call& c, const Steps& s);
  absl::StatusOr<Val> EvalLabelJoin(const Call& c, const Steps& s);
  absl::StatusOr<Val> EvalBinary(const BinaryExpr& b, const Steps& s);
  absl::StatusOr<VectorVal> VectorBinop(const BinaryExpr& b, VectorVal lhs,
                                        VectorVal rhs, const Steps& s);
  absl::StatusOr<VectorVal> SetOp(const BinaryExpr& b, VectorVal lhs,
                                  VectorVal rhs, const Steps& s);
  absl::StatusOr<Val> EvalAggregate(const AggregateExpr& a, const Steps& s);
  absl::StatusOr<VectorVal> EvalVectorArg(const Expr& e, const Steps& s);

  const EvalParams& p_;
  tsdb::Queryable* storage_;
  int64_t live_ = 0;
  int64_t peak_ = 0;
  std::atomic<int64_t> total_{0};
  int64_t series_ = 0;
};

absl::Status Evaluator::CheckInterrupt() const {
  if (p_.cancelled != nullptr && p_.cancelled->load()) {
    return absl::CancelledError("query was canceled in query execution");
  }
  if (p_.deadline != absl::InfiniteFuture() && absl::Now() > p_.deadline) {
    return absl::DeadlineExceededError("query timed out in query execution");
  }
  return absl::OkStatus();
}

// Results are dense (one slot per series and step), so a selector over many
// short-lived series in a long range query needs far more memory than its
// sample count. Refuse before allocating rather than exhaust memory.
absl::Status Evaluator::CheckDense(size_t series, int64_t steps) const {
  if (static_cast<double>(series) * static_cast<double>(steps) >
      2.0 * static_cast<double>(p_.max_samples)) {
    return absl::ResourceExhaustedError(
        "query processing would load too many samples into memory in query "
        "execution");
  }
  return absl::OkStatus();
}

absl::Status Evaluator::Account(int64_t points) {
  live_ += points;
  peak_ = std::max(peak_, live_);
  if (live_ > p_.max_samples) {
    return absl::ResourceExhaustedError(
        "query processing would load too many samples into memory in query "
        "execution");
  }
  return absl::OkStatus();
}

int64_t Evaluator::AtTime(AtModifier at, int64_t at_ms) const {
  switch (at) {
    case AtModifier::kTimestamp:
      return at_ms;
    case AtModifier::kStart:
      return p_.start_ms;
    case AtModifier::kEnd:
      return p_.end_ms;
    case AtModifier::kNone:
      break;
  }
  return 0;
}

absl::StatusOr<Val> Evaluator::Eval(const Expr& e, const Steps& s) {
  if (absl::Status st = CheckInterrupt(); !st.ok()) return st;
  const int64_t before = live_;
  absl::StatusOr<Val> v = Dispatch(e, s);
  if (!v.ok()) return v;
  // The children's results are consumed; only this node's output stays live.
  live_ = before;
  if (absl::Status st = Account(PointsOf(*v)); !st.ok()) return st;
  return v;
}

absl::StatusOr<VectorVal> Evaluator::EvalVectorArg(const Expr& e,
                                                   const Steps& s) {
  absl::StatusOr<Val> v = Eval(e, s);
  if (!v.ok()) return v.status();
  if (auto* vec = std::get_if<VectorVal>(&*v)) return std::move(*vec);
  return absl::InvalidArgumentError(
      absl::StrCat("expected instant vector at position ", e.pos_start));
}

absl::StatusOr<ScalarVal> Evaluator::EvalScalarArg(const Expr& e,
                                                   const Steps& s) {
  absl::StatusOr<Val> v = Eval(e, s);
  if (!v.ok()) return v.status();
  if (auto* sc = std::get_if<ScalarVal>(&*v)) return std::move(*sc);
  return absl::InvalidArgumentError(
      absl::StrCat("expected scalar at position ", e.pos_start));
}

absl::StatusOr<Val> Evaluator::Dispatch(const Expr& e, const Steps& s) {
  switch (e.kind) {
    case ExprKind::kNumber: {
      double v = static_cast<const NumberLiteral&>(e).value;
      return Val(ScalarVal{std::vector<double>(s.n, v)});
    }
    case ExprKind::kString:
      return Val(StringVal{static_cast<const StringLiteral&>(e).value});
    case ExprKind::kParen:
      return Eval(*static_cast<const ParenExpr&>(e).expr, s);
    case ExprKind::kVectorSelector: {
      absl::StatusOr<VectorVal> v = EvalVectorSelector(
          static_cast<const VectorSelector&>(e), s, /*timestamps=*/false);
      if (!v.ok()) return v.status();
      return Val(std::move(*v));
    }
    case ExprKind::kMatrixSelector:
    case ExprKind::kSubquery: {
      if (s.n != 1) {
        return absl::InvalidArgumentError(
            "invalid expression type \"range vector\" for range query, must "
            "be Scalar or instant Vector");
      }
      absl::StatusOr<MatrixVal> m = EvalRangeTop(e, s.start);
      if (!m.ok()) return m.status();
      return Val(std::move(*m));
    }
    case ExprKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      absl::StatusOr<Val> v = Eval(*u.expr, s);
      if (!v.ok() || u.op != '-') return v;
      if (auto* sc = std::get_if<ScalarVal>(&*v)) {
        for (double& x : sc->v) x = -x;
        return v;
      }
      if (auto* vec = std::get_if<VectorVal>(&*v)) {
        for (DSeries& d : vec->series) {
          d.labels = DropName(d.labels);
          for (double& x : d.v) {
            if (!IsAbsent(x)) x = -x;
          }
        }
        if (absl::Status st = MergeDuplicates(vec); !st.ok()) return st;
        return v;
      }
      return absl::InvalidArgumentError("unary minus on a non-numeric value");
    }
    case ExprKind::kBinary:
      return EvalBinary(static_cast<const BinaryExpr&>(e), s);
    case ExprKind::kCall:
      return EvalCall(static_cast<const Call&>(e), s);
    case ExprKind::kAggregate:
      return EvalAggregate(static_cast<const AggregateExpr&>(e), s);
  }
  return absl::InternalError("unknown expression kind");
}

// ---------------------------------------------------------------------------
// Selectors

absl::StatusOr<VectorVal> Evaluator::EvalVectorSelector(
    const VectorSelector& vs, const Steps& s, bool timestamps) {
  const bool has_at = vs.at != AtModifier::kNone;
  const int64_t at = AtTime(vs.at, vs.at_ms);
  auto eval_time = [&](int64_t i) {
    return (has_at ? at : s.T(i)) - vs.offset_ms;
  };
  const int64_t first = eval_time(0), last = eval_time(s.n - 1);
  const int64_t mint = first - p_.lookback_ms;
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> q =
      storage_->NewQuerier(mint, last);
  if (!q.ok()) return q.status();
  tsdb::SelectHints hints;
  hints.start = mint;
  hints.end = last;
  hints.step = s.n > 1 ? s.interval : 0;
  absl::StatusOr<std::vector<tsdb::Series>> series =
      (*q)->Select(hints, vs.matchers);
  if (!series.ok()) return series.status();

  series_ += static_cast<int64_t>(series->size());
  if (absl::Status st = CheckDense(series->size(), s.n); !st.ok()) return st;
  VectorVal out;
  out.series.resize(series->size());
  // Each series costs at least one chunk decode, so many series pay for a
  // thread even in an instant query.
  const int threads =
      series->size() >= 64 && (s.n >= 16 || series->size() >= 256)
          ? p_.max_threads
          : 1;
  std::vector<std::vector<Sample>> bufs(std::max(threads, 1));
  std::mutex mu;
  absl::Status error;
  std::atomic<int64_t> loaded{0};
  ParallelFor(series->size(), threads, [&](int worker, size_t idx) {
    tsdb::Series& ser = (*series)[idx];
    std::vector<Sample>& buf = bufs[worker];
    buf.clear();
    // Iterators of different series may run concurrently (querier.h).
    absl::Status st = ser.iterator->ReadAll(&buf);
    if (st.ok() && idx % 64 == 0) st = CheckInterrupt();
    if (!st.ok()) {
      std::lock_guard<std::mutex> l(mu);
      if (error.ok()) error = st;
      return;
    }
    loaded.fetch_add(buf.size(), std::memory_order_relaxed);
    DSeries& d = out.series[idx];
    d.labels = std::move(ser.labels);
    d.v.assign(s.n, AbsentValue());
    size_t j = 0;
    const size_t m = buf.size();
    for (int64_t i = 0; i < s.n; ++i) {
      const int64_t te = eval_time(i);
      while (j < m && buf[j].t <= te) ++j;
      if (j == 0) continue;
      const Sample& x = buf[j - 1];
      if (x.t < te - p_.lookback_ms || tsdb::IsStaleNaN(x.v) || IsAbsent(x.v)) {
        continue;
      }
      d.v[i] = timestamps ? static_cast<double>(x.t) / 1000 : x.v;
    }
  });
  if (!error.ok()) return error;
  total_ += loaded.load();
  RemoveEmptySeries(&out);
  return out;
}

absl::Status Evaluator::OpenRangeSource(const Expr& arg_in, const Steps& s,
                                        RangeSource* src) {
  const Expr& arg = Unparen(arg_in);
  if (arg.kind == ExprKind::kMatrixSelector) {
    const auto& ms = static_cast<const MatrixSelector&>(arg);
    const VectorSelector& vs = *ms.vector;
    src->range_ms = ms.range_ms;
    src->offset_ms = vs.offset_ms;
    src->has_at = vs.at != AtModifier::kNone;
    src->at_ms = AtTime(vs.at, vs.at_ms);
    const int64_t first = src->EvalTime(s.T(0));
    const int64_t last = src->EvalTime(s.last());
    const int64_t mint = first - ms.range_ms;
    absl::StatusOr<std::unique_ptr<tsdb::Querier>> q =
        storage_->NewQuerier(mint, last);
    if (!q.ok()) return q.status();
    tsdb::SelectHints hints;
    hints.start = mint;
    hints.end = last;
    hints.step = s.n > 1 ? s.interval : 0;
    hints.range = ms.range_ms;
    absl::StatusOr<std::vector<tsdb::Series>> series =
        (*q)->Select(hints, vs.matchers);
    if (!series.ok()) return series.status();
    series_ += static_cast<int64_t>(series->size());
    src->querier = std::move(*q);
    src->series = std::move(*series);
    // Only the iterators are used from here on.
    src->labels.reserve(src->series.size());
    for (tsdb::Series& x : src->series) {
      src->labels.push_back(std::move(x.labels));
    }
    return absl::OkStatus();
  }
  if (arg.kind != ExprKind::kSubquery) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected range vector at position ", arg.pos_start));
  }
  const auto& sq = static_cast<const SubqueryExpr&>(arg);
  src->range_ms = sq.range_ms;
  src->offset_ms = sq.offset_ms;
  src->has_at = sq.at != AtModifier::kNone;
  src->at_ms = AtTime(sq.at, sq.at_ms);
  const int64_t interval =
      sq.step_ms > 0 ? sq.step_ms : p_.default_evaluation_interval_ms;
  if (interval <= 0) {
    return absl::InvalidArgumentError("subquery step must be positive");
  }
  const int64_t first = src->EvalTime(s.T(0));
  const int64_t last = src->EvalTime(s.last());
  Steps inner;
  inner.start = AlignUp(first - sq.range_ms, interval);
  inner.interval = interval;
  if (last < inner.start) return absl::OkStatus();
  inner.n = (last - inner.start) / interval + 1;
  absl::StatusOr<VectorVal> v = EvalVectorArg(*sq.expr, inner);
  if (!v.ok()) return v.status();
  src->labels.reserve(v->series.size());
  src->points.reserve(v->series.size());
  for (DSeries& d : v->series) {
    std::vector<Sample> pts;
    for (int64_t i = 0; i < inner.n; ++i) {
      if (!IsAbsent(d.v[i])) pts.push_back({inner.T(i), d.v[i]});
    }
    src->labels.push_back(std::move(d.labels));
    src->points.push_back(std::move(pts));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<const Sample>> Evaluator::LoadRange(
    RangeSource* src, size_t i, std::vector<Sample>* buf) {
  if (src->series.empty()) return absl::Span<const Sample>(src->points[i]);
  buf->clear();
  // Range functions never see stale markers. Each chunk's samples are
  // looked at as they are decoded (still in the caches); only a series
  // that has stale markers is compacted.
  uint64_t bad = 0;
  auto scan = [&](size_t begin) {
    const Sample* p = buf->data();
    const size_t n = buf->size();
    for (size_t j = begin; j < n; ++j) {
      const uint64_t bits = tsdb::ValueBits(p[j].v);
      bad |= static_cast<uint64_t>(bits == tsdb::kStaleNaNBits) |
             static_cast<uint64_t>(bits == kAbsentBits);
    }
  };
  // Iterators of different series may run concurrently (querier.h).
  absl::Status st = src->series[i].iterator->ReadAllBatched(buf, scan);
  if (!st.ok()) return st;
  total_.fetch_add(buf->size(), std::memory_order_relaxed);
  if (bad == 0) return absl::Span<const Sample>(*buf);
  buf->erase(std::remove_if(buf->begin(), buf->end(),
                            [](const Sample& x) {
                              const uint64_t b = tsdb::ValueBits(x.v);
                              return b == tsdb::kStaleNaNBits ||
                                     b == kAbsentBits;
                            }),
             buf->end());
  return absl::Span<const Sample>(*buf);
}

absl::StatusOr<MatrixVal> Evaluator::EvalRangeTop(const Expr& e, int64_t t) {
  Steps s;
  s.start = t;
  s.n = 1;
  RangeSource src;
  if (absl::Status st = OpenRangeSource(e, s, &src); !st.ok()) return st;
  MatrixVal out;
  std::vector<Sample> buf;
  const int64_t te = src.EvalTime(t);
  for (size_t i = 0; i < src.labels.size(); ++i) {
    absl::StatusOr<absl::Span<const Sample>> pts = LoadRange(&src, i, &buf);
    if (!pts.ok()) return pts.status();
    MatrixSeries ms;
    for (const Sample& x : *pts) {
      if (x.t >= te - src.range_ms && x.t <= te) ms.points.push_back(x);
    }
    if (ms.points.empty()) continue;
    ms.metric = src.labels[i];
    out.m.push_back(std::move(ms));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Functions

absl::Status Evaluator::PrepareRangeCall(const Call& c, const Steps& s,
                                         size_t matrix_arg, RangeCall* rc) {
  rc->fn = LookupRangeFunction(c.func);
  if (rc->fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown range function \"", c.func, "\""));
  }
  // Scalar arguments, one value per step.
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (i == matrix_arg) continue;
    absl::StatusOr<ScalarVal> v = EvalScalarArg(*c.args[i], s);
    if (!v.ok()) return v.status();
    rc->scalars.push_back(std::move(*v));
  }
  rc->holt = c.func == "holt_winters";
  if (absl::Status st = OpenRangeSource(*c.args[matrix_arg], s, &rc->src);
      !st.ok()) {
    return st;
  }
  rc->keep_name = c.func == "last_over_time";
  rc->counter_fn = c.func == "rate" || c.func == "increase";
  rc->extrapolated = rc->counter_fn || c.func == "delta";
  rc->is_rate = c.func == "rate";
  const size_t nseries = rc->src.labels.size();
  if (absl::Status st = CheckDense(nseries, s.n); !st.ok()) return st;
  // Storage-backed series cost at least one chunk decode each, so many of
  // them pay for a thread even in an instant query.
  const bool decodes = !rc->src.series.empty();
  rc->threads = nseries >= 32 && (s.n >= 16 || (decodes && nseries >= 256))
                    ? p_.max_threads
                    : 1;
  return absl::OkStatus();
}

// The rate/increase/delta kernel over one series' samples p[0, np): two
// indices slide over the samples, and the counter resets (for a counter
// function) are found as the upper index passes them, so the samples are
// read once. With kCheck the samples come straight from storage and may
// hold stale markers (or samples with the absent value's bits), which
// range functions must not see: the kernel then returns false as soon as
// its upper index meets one, and the caller removes them and runs it
// again. Samples the upper index never reaches (after the last window)
// cannot affect the result, so they are not looked at.
template <bool kCheck, bool kCounter>
bool ExtrapolatedKernel(const Sample* p, size_t np,
                        RateExtrapolator& extrapolate, const Steps& s,
                        int64_t range_ms, bool has_at, int64_t at_ms,
                        int64_t offset_ms, std::vector<uint32_t>* resets,
                        double* out, int64_t* present_out) {
  resets->clear();
  int64_t present = 0;
  size_t lo = 0, hi = 0, r = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    const int64_t te = (has_at ? at_ms : s.T(i)) - offset_ms;
    const int64_t start = te - range_ms;
    // The previous sample's value is read back rather than carried in a
    // variable: a double live across the (rare) push_back would be kept
    // on the stack, a store and a reload on every sample's critical path.
    while (hi < np && p[hi].t <= te) {
      const double v = p[hi].v;
      if (kCheck && __builtin_expect(v != v, 0)) {
        const uint64_t bits = tsdb::ValueBits(v);
        if (bits == tsdb::kStaleNaNBits || bits == kAbsentBits) return false;
      }
      // False for NaN on either side.
      if (kCounter && hi > 0 && __builtin_expect(v < p[hi - 1].v, 0)) {
        resets->push_back(static_cast<uint32_t>(hi));
      }
      ++hi;
    }
    while (lo < hi && p[lo].t < start) ++lo;
    if (hi - lo < 2) continue;
    double result = p[hi - 1].v - p[lo].v;
    if (kCounter) {
      const size_t nr = resets->size();
      if (nr != 0) {
        // Drops strictly inside the window (every reset found so far is
        // below hi), added to the result one by one in sample order as
        // Prometheus does (summing them first rounds differently).
        const uint32_t* rs = resets->data();
        while (r < nr && rs[r] <= lo) ++r;
        for (size_t k = r; k < nr; ++k) result += p[rs[k] - 1].v;
      }
    }
    out[i] = extrapolate(result, p[lo], p[hi - 1], hi - lo, start, te);
    ++present;
  }
  *present_out = present;
  return true;
}

// Whether any value of p[0, n) is NaN (stale markers are NaNs) and
// whether any is below the one before it (a counter reset). Two samples at
// a time with SSE2 (part of x86-64) and no branch per sample: most series
// have neither, and then the kernel need not look at each sample.
void ScanValues(const Sample* p, size_t n, bool* any_nan, bool* any_drop) {
  size_t j = 0;
  bool has_nan = false, has_drop = false;
#if defined(__SSE2__)
  __m128d nan = _mm_setzero_pd();
  __m128d drop = _mm_setzero_pd();
  // Lane 1 holds the value before the pair.
  __m128d before = _mm_set1_pd(-std::numeric_limits<double>::infinity());
  for (; j + 2 <= n; j += 2) {
    const __m128d v = _mm_loadh_pd(_mm_load_sd(&p[j].v), &p[j + 1].v);
    // (value before p[j], p[j].v): what p[j] and p[j + 1] follow.
    const __m128d prev = _mm_shuffle_pd(before, v, 0b01);
    nan = _mm_or_pd(nan, _mm_cmpunord_pd(v, v));
    drop = _mm_or_pd(drop, _mm_cmplt_pd(v, prev));  // false with a NaN
    before = v;
  }
  has_nan = _mm_movemask_pd(nan) != 0;
  has_drop = _mm_movemask_pd(drop) != 0;
#endif
  for (; j < n; ++j) {
    const double prev =
        j > 0 ? p[j - 1].v : -std::numeric_limits<double>::infinity();
    has_nan |= p[j].v != p[j].v;
    has_drop |= p[j].v < prev;
  }
  *any_nan = has_nan;
  *any_drop = has_drop;
}

// ExtrapolatedKernel for samples without NaNs and, for a counter function,
// without resets (ScanValues), so nothing is checked per sample. The
// window's ends advance by the same number of samples at most steps of a
// regularly scraped series: each end first tries its previous advance
// (two comparisons) before walking.
void ExtrapolatedKernelPlain(const Sample* p, size_t np,
                             RateExtrapolator& extrapolate, const Steps& s,
                             int64_t range_ms, bool has_at, int64_t at_ms,
                             int64_t offset_ms, double* out,
                             int64_t* present_out) {
  int64_t present = 0;
  size_t lo = 0, hi = 0, lo_step = 0, hi_step = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    const int64_t te = (has_at ? at_ms : s.T(i)) - offset_ms;
    const int64_t start = te - range_ms;
    // hi: the first sample after te (timestamps increase strictly).
    const size_t old_hi = hi;
    const size_t h = hi + hi_step;
    if (h <= np && (h == hi || p[h - 1].t <= te) && (h == np || p[h].t > te)) {
      hi = h;
    } else {
      while (hi < np && p[hi].t <= te) ++hi;
    }
    hi_step = hi - old_hi;
    // lo: the first sample at or after start, at most hi.
    const size_t old_lo = lo;
    const size_t l = lo + lo_step;
    if (l <= hi && (l == lo || p[l - 1].t < start) &&
        (l == hi || p[l].t >= start)) {
      lo = l;
    } else {
      while (lo < hi && p[lo].t < start) ++lo;
    }
    lo_step = lo - old_lo;
    if (hi - lo < 2) continue;
    out[i] = extrapolate(p[hi - 1].v - p[lo].v, p[lo], p[hi - 1], hi - lo,
                         start, te);
    ++present;
  }
  *present_out = present;
}

// ExtrapolatedKernel for a function known at run time.
template <bool kCheck>
bool RunExtrapolatedKernel(bool counter, const Sample* p, size_t np,
                           RateExtrapolator& extrapolate, const Steps& s,
                           int64_t range_ms, bool has_at, int64_t at_ms,
                           int64_t offset_ms, std::vector<uint32_t>* resets,
                           double* out, int64_t* present) {
  return counter ? ExtrapolatedKernel<kCheck, true>(
                       p, np, extrapolate, s, range_ms, has_at, at_ms,
                       offset_ms, resets, out, present)
                 : ExtrapolatedKernel<kCheck, false>(
                       p, np, extrapolate, s, range_ms, has_at, at_ms,
                       offset_ms, resets, out, present);
}

absl::StatusOr<int64_t> Evaluator::RangeCallSeries(RangeCall& rc,
                                                   const Steps& s, size_t idx,
                                                   RangeWorker& w,
                                                   double* out) {
  std::fill(out, out + s.n, AbsentValue());
  const RangeSource& src = rc.src;
  if (rc.extrapolated) {
    RateExtrapolator extrapolate(rc.counter_fn, rc.is_rate);
    int64_t present = 0;
    if (!rc.src.series.empty()) {
      // Straight from storage: the kernel looks for stale markers itself
      // instead of a separate pass over the samples.
      w.buf.clear();
      absl::Status st = rc.src.series[idx].iterator->ReadAll(&w.buf);
      if (st.ok() && idx % 64 == 0) st = CheckInterrupt();
      if (!st.ok()) return st;
      total_.fetch_add(w.buf.size(), std::memory_order_relaxed);
      bool any_nan, any_drop;
      ScanValues(w.buf.data(), w.buf.size(), &any_nan, &any_drop);
      if (!any_nan && !(rc.counter_fn && any_drop)) {
        ExtrapolatedKernelPlain(w.buf.data(), w.buf.size(), extrapolate, s,
                                src.range_ms, src.has_at, src.at_ms,
                                src.offset_ms, out, &present);
        return present;
      }
      if (RunExtrapolatedKernel<true>(rc.counter_fn, w.buf.data(), w.buf.size(),
                                      extrapolate, s, src.range_ms, src.has_at,
                                      src.at_ms, src.offset_ms, &w.resets, out,
                                      &present)) {
        return present;
      }
      std::fill(out, out + s.n, AbsentValue());
      w.buf.erase(std::remove_if(w.buf.begin(), w.buf.end(),
                                 [](const Sample& x) {
                                   const uint64_t b = tsdb::ValueBits(x.v);
                                   return b == tsdb::kStaleNaNBits ||
                                          b == kAbsentBits;
                                 }),
                  w.buf.end());
      RunExtrapolatedKernel<false>(rc.counter_fn, w.buf.data(), w.buf.size(),
                                   extrapolate, s, src.range_ms, src.has_at,
                                   src.at_ms, src.offset_ms, &w.resets, out,
                                   &present);
      return present;
    }
    if (idx % 64 == 0) {
      if (absl::Status st = CheckInterrupt(); !st.ok()) return st;
    }
    const std::vector<Sample>& pts = src.points[idx];
    RunExtrapolatedKernel<false>(
        rc.counter_fn, pts.data(), pts.size(), extrapolate, s, src.range_ms,
        src.has_at, src.at_ms, src.offset_ms, &w.resets, out, &present);
    return present;
  }
  absl::StatusOr<absl::Span<const Sample>> pts_or =
      LoadRange(&rc.src, idx, &w.buf);
  absl::Status st = pts_or.status();
  if (st.ok() && idx % 64 == 0) st = CheckInterrupt();
  if (!st.ok()) return st;
  const absl::Span<const Sample> pts = *pts_or;
  if (pts.empty()) return 0;
  int64_t present = 0;
  size_t lo = 0, hi = 0;
  RangeArgs args;
  args.scratch = &w.scratch;
  RangeWindow win;
  // rate and increase (the only counter functions) returned above.
  for (int64_t i = 0; i < s.n; ++i) {
    const int64_t te = src.EvalTime(s.T(i));
    const int64_t start = te - src.range_ms;
    while (hi < pts.size() && pts[hi].t <= te) ++hi;
    while (lo < hi && pts[lo].t < start) ++lo;
    if (lo == hi) continue;
    if (!rc.scalars.empty()) args.a = rc.scalars[0].v[i];
    if (rc.scalars.size() > 1) args.b = rc.scalars[1].v[i];
    if (rc.holt) {
      if (args.a <= 0 || args.a >= 1 || std::isnan(args.a)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", args.a));
      }
      if (args.b <= 0 || args.b >= 1 || std::isnan(args.b)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "invalid trend factor. Expected: 0 < tf < 1, got: %f", args.b));
      }
    }
    win.samples = pts.subspan(lo, hi - lo);
    win.range_start = start;
    win.range_end = te;
    win.eval_time = s.T(i);
    double v;
    if (rc.fn(win, args, &v)) {
      out[i] = v;
      ++present;
    }
  }
  return present;
}

absl::StatusOr<VectorVal> Evaluator::RunRangeCall(RangeCall& rc,
                                                  const Steps& s) {
  const size_t nseries = rc.src.labels.size();
  VectorVal out;
  out.series.resize(nseries);
  std::vector<RangeWorker> ws(std::max(rc.threads, 1));
  std::mutex mu;
  absl::Status error;
  ParallelFor(nseries, rc.threads, [&](int worker, size_t idx) {
    DSeries& d = out.series[idx];
    d.v.resize(s.n);
    absl::StatusOr<int64_t> present =
        RangeCallSeries(rc, s, idx, ws[worker], d.v.data());
    if (!present.ok()) {
      std::lock_guard<std::mutex> l(mu);
      if (error.ok()) error = present.status();
      return;
    }
    if (*present == 0) return;
    d.labels = rc.keep_name ? rc.src.labels[idx] : DropName(rc.src.labels[idx]);
  });
  if (!error.ok()) return error;
  RemoveEmptySeries(&out);
  if (!rc.keep_name) {
    if (absl::Status st = MergeDuplicates(&out); !st.ok()) return st;
  }
  return out;
}

absl::StatusOr<Val> Evaluator::EvalRangeCall(const Call& c, const Steps& s,
                                             size_t matrix_arg) {
  RangeCall rc;
  if (absl::Status st = PrepareRangeCall(c, s, matrix_arg, &rc); !st.ok()) {
    return st;
  }
  absl::StatusOr<VectorVal> out = RunRangeCall(rc, s);
  if (!out.ok()) return out.status();
  return Val(std::move(*out));
}

// Labels absent()/absent_over_time() give their single output series: the
// equality matchers of a plain selector argument, minus names matched twice.
Labels AbsentLabels(const Expr& arg_in) {
  const Expr& arg = Unparen(arg_in);
  const VectorSelector* vs = nullptr;
  if (arg.kind == ExprKind::kVectorSelector) {
    vs = static_cast<const VectorSelector*>(&arg);
  } else if (arg.kind == ExprKind::kMatrixSelector) {
    vs = static_cast<const MatrixSelector&>(arg).vector.get();
  }
  if (vs == nullptr) return Labels();
  LabelsBuilder b;
  std::vector<std::string> drop;
  for (const tsdb::Matcher& m : vs->matchers) {
    if (m.name() == tsdb::kMetricName) continue;
    if (m.type() == tsdb::MatchType::kEqual && b.Get(m.name()).empty()) {
      b.Set(m.name(), m.value());
    } else {
      drop.push_back(m.name());
    }
  }
  for (const std::string& n : drop) b.Del(n);
  return b.Build();
}

absl::StatusOr<Val> Evaluator::EvalAbsentOverTime(const Call& c,
                                                  const Steps& s) {
  RangeSource src;
  if (absl::Status st = OpenRangeSource(*c.args[0], s, &src); !st.ok()) {
    return st;
  }
  std::vector<bool> present(s.n, false);
  std::vector<Sample> buf;
  for (size_t idx = 0; idx < src.labels.size(); ++idx) {
    absl::StatusOr<absl::Span<const Sample>> pts = LoadRange(&src, idx, &buf);
    if (!pts.ok()) return pts.status();
    size_t lo = 0, hi = 0;
    for (int64_t i = 0; i < s.n; ++i) {
      const int64_t te = src.EvalTime(s.T(i));
      while (hi < pts->size() && (*pts)[hi].t <= te) ++hi;
      while (lo < hi && (*pts)[lo].t < te - src.range_ms) ++lo;
      if (lo < hi) present[i] = true;
    }
  }
  VectorVal out;
  DSeries d;
  d.labels = AbsentLabels(*c.args[0]);
  d.v.assign(s.n, AbsentValue());
  for (int64_t i = 0; i < s.n; ++i) {
    if (!present[i]) d.v[i] = 1;
  }
  out.series.push_back(std::move(d));
  RemoveEmptySeries(&out);
  return Val(std::move(out));
}

absl::StatusOr<Val> Evaluator::EvalHistogramQuantile(const Call& c,
                                                     const Steps& s) {
  absl::StatusOr<ScalarVal> q = EvalScalarArg(*c.args[0], s);
  if (!q.ok()) return q.status();
  absl::StatusOr<VectorVal> in = EvalVectorArg(*c.args[1], s);
  if (!in.ok()) return in.status();
  // Group buckets by all labels but `le` (the metric name included, as
  // Prometheus does), once per series.
  struct Group {
    Labels out_labels;
    std::vector<std::pair<double, size_t>> members;  // (le, series index)
  };
  std::vector<Group> groups;
  absl::flat_hash_map<Labels, size_t> index;
  for (size_t i = 0; i < in->series.size(); ++i) {
    const Labels& l = in->series[i].labels;
    double le;
    if (!ParseGoFloat(std::string(l.Get("le")), &le)) continue;
    Labels key = LabelsBuilder(l).Del("le").Build();
    auto [it, inserted] = index.emplace(key, groups.size());
    if (inserted) {
      groups.push_back(
          Group{LabelsBuilder(key).Del(tsdb::kMetricName).Build(), {}});
    }
    groups[it->second].members.emplace_back(le, i);
  }
  // Buckets in bound order once per group, so BucketQuantile's sort finds
  // them sorted at every step (ties keep series order, as its sort does).
  for (Group& g : groups) {
    std::stable_sort(
        g.members.begin(), g.members.end(),
        [](const std::pair<double, size_t>& x,
           const std::pair<double, size_t>& y) { return x.first < y.first; });
  }
  VectorVal out;
  out.series.resize(groups.size());
  // Groups are independent: a wide range query spreads them over threads.
  const int threads = groups.size() >= 8 && s.n * in->series.size() >= 100'000
                          ? p_.max_threads
                          : 1;
  std::vector<std::vector<Bucket>> bufs(std::max(threads, 1));
  ParallelFor(groups.size(), threads, [&](int worker, size_t g) {
    std::vector<Bucket>& buckets = bufs[worker];
    DSeries& d = out.series[g];
    d.labels = groups[g].out_labels;
    d.v.assign(s.n, AbsentValue());
    for (int64_t i = 0; i < s.n; ++i) {
      buckets.clear();
      for (const auto& [le, idx] : groups[g].members) {
        double v = in->series[idx].v[i];
        if (!IsAbsent(v)) buckets.push_back({le, v});
      }
      if (buckets.empty()) continue;
      d.v[i] = BucketQuantile(q->v[i], &buckets);
    }
  });
  RemoveEmptySeries(&out);
  if (absl::Status st = MergeDuplicates(&out); !st.ok()) return st;
  return Val(std::move(out));
}

absl::StatusOr<std::string> StringArg(const Expr& e) {
  const Expr& u = Unparen(e);
  if (u.kind != ExprKind::kString) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected string literal at position ", e.pos_start));
  }
  return static_cast<const StringLiteral&>(u).value;
}

absl::StatusOr<Val> Evaluator::EvalLabelReplace(const Call& c, const Steps& s) {
  std::string args[4];
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::string> a = StringArg(*c.args[i + 1]);
    if (!a.ok()) return a.status();
    args[i] = std::move(*a);
  }
  const std::string& dst = args[0];
  const std::string& repl = args[1];
  const std::string& src_label = args[2];
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  re2::RE2 re("^(?:" + args[3] + ")$", opts);
  if (!re.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid regular expression in label_replace(): ", args[3]));
  }
  if (!tsdb::IsValidLabelName(dst)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid destination label name in label_replace(): ", dst));
  }
  absl::StatusOr<VectorVal> in = EvalVectorArg(*c.args[0], s);
  if (!in.ok()) return in.status();
  std::vector<re2::StringPiece> groups(re.NumberOfCapturingGroups() + 1);
  for (DSeries& d : in->series) {
    absl::string_view v = d.labels.Get(src_label);
    re2::StringPiece input(v.data(), v.size());
    if (!re.Match(input, 0, input.size(), re2::RE2::UNANCHORED, groups.data(),
                  static_cast<int>(groups.size()))) {
      continue;
    }
    std::string res = ExpandTemplate(repl, re, groups);
    d.labels = LabelsBuilder(d.labels).Set(dst, res).Build();
  }
  if (absl::Status st = MergeDuplicates(&*in); !st.ok()) return st;
  return Val(std::move(*in));
}

absl::StatusOr<Val> Evaluator::EvalLabelJoin(const Call& c, const Steps& s) {
  absl::StatusOr<std::string> dst = StringArg(*c.args[1]);
  if (!dst.ok()) return dst.status();
  absl::StatusOr<std::string> sep = StringArg(*c.args[2]);
  if (!sep.ok()) return sep.status();
  std::vector<std::string> srcs;
  for (size_t i = 3; i < c.args.size(); ++i) {
    absl::StatusOr<std::string> a = StringArg(*c.args[i]);
    if (!a.ok()) return a.status();
    if (!tsdb::IsValidLabelName(*a)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid source label name in label_join(): ", *a));
    }
    srcs.push_back(std::move(*a));
  }
  if (!tsdb::IsValidLabelName(*dst)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid destination label name in label_join(): ", *dst));
  }
  absl::StatusOr<VectorVal> in = EvalVectorArg(*c.args[0], s);
  if (!in.ok()) return in.status();
  for (DSeries& d : in->series) {
    std::string joined;
    for (size_t i = 0; i < srcs.size(); ++i) {
      if (i > 0) joined += *sep;
      absl::string_view v = d.labels.Get(srcs[i]);
      joined.append(v.data(), v.size());
    }
    d.labels = LabelsBuilder(d.labels).Set(*dst, joined).Build();
  }
  if (absl::Status st = MergeDuplicates(&*in); !st.ok()) return st;
  return Val(std::move(*in));
}

absl::StatusOr<Val> Evaluator::EvalCall(const Call& c, const Steps& s) {
  const std::string& f = c.func;
  // Range-vector functions: find the matrix argument.
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Expr& a = Unparen(*c.args[i]);
    if (a.kind == ExprKind::kMatrixSelector || a.kind == ExprKind::kSubquery) {
      if (f == "absent_over_time") return EvalAbsentOverTime(c, s);
      return EvalRangeCall(c, s, i);
    }
  }
  if (f == "time") {
    ScalarVal out;
    out.v.resize(s.n);
    for (int64_t i = 0; i < s.n; ++i) out.v[i] = s.T(i) / 1000.0;
    return Val(std::move(out));
  }
  if (f == "pi") return Val(ScalarVal{std::vector<double>(s.n, M_PI)});
  if (f == "vector") {
    absl::StatusOr<ScalarVal> v = EvalScalarArg(*c.args[0], s);
    if (!v.ok()) return v.status();
    VectorVal out;
    out.series.push_back(DSeries{Labels(), std::move(v->v)});
    return Val(std::move(out));
  }
  if (f == "scalar") {
    absl::StatusOr<VectorVal> v = EvalVectorArg(*c.args[0], s);
    if (!v.ok()) return v.status();
    ScalarVal out;
    out.v.assign(s.n, kNaN);
    std::vector<int> count(s.n, 0);
    for (const DSeries& d : v->series) {
      for (int64_t i = 0; i < s.n; ++i) {
        if (IsAbsent(d.v[i])) continue;
        if (++count[i] == 1) {
          out.v[i] = d.v[i];
        } else {
          out.v[i] = kNaN;
        }
      }
    }
    return Val(std::move(out));
  }
  if (f == "timestamp") {
    const Expr& a = Unparen(*c.args[0]);
    absl::StatusOr<VectorVal> v =
        a.kind == ExprKind::kVectorSelector
            ? EvalVectorSelector(static_cast<const VectorSelector&>(a), s,
                                 /*timestamps=*/true)
            : EvalVectorArg(a, s);
    if (!v.ok()) return v.status();
    for (DSeries& d : v->series) {
      d.labels = DropName(d.labels);
      if (a.kind == ExprKind::kVectorSelector) continue;
      for (int64_t i = 0; i < s.n; ++i) {
        if (!IsAbsent(d.v[i])) d.v[i] = s.T(i) / 1000.0;
      }
    }
    if (absl::Status st = MergeDuplicates(&*v); !st.ok()) return st;
    return Val(std::move(*v));
  }
  if (f == "absent") {
    absl::StatusOr<VectorVal> v = EvalVectorArg(*c.args[0], s);
    if (!v.ok()) return v.status();
    DSeries d;
    d.labels = AbsentLabels(*c.args[0]);
    d.v.assign(s.n, 1.0);
    for (const DSeries& in : v->series) {
      for (int64_t i = 0; i < s.n; ++i) {
        if (!IsAbsent(in.v[i])) d.v[i] = AbsentValue();
      }
    }
    VectorVal out;
    out.series.push_back(std::move(d));
    RemoveEmptySeries(&out);
    return Val(std::move(out));
  }
  if (f == "histogram_quantile") return EvalHistogramQuantile(c, s);
  if (f == "label_replace") return EvalLabelReplace(c, s);
  if (f == "label_join") return EvalLabelJoin(c, s);
  if (f == "sort" || f == "sort_desc") {
    absl::StatusOr<VectorVal> v = EvalVectorArg(*c.args[0], s);
    if (!v.ok()) return v.status();
    if (s.n == 1) {
      // Both directions put NaN last, as Prometheus does.
      const bool desc = f == "sort_desc";
      std::stable_sort(v->series.begin(), v->series.end(),
                       [desc](const DSeries& a, const DSeries& b) {
                         const double x = a.v[0], y = b.v[0];
                         if (std::isnan(x)) return false;
                         if (std::isnan(y)) return true;
                         return desc ? x > y : x < y;
                       });
    }
    return Val(std::move(*v));
  }
  if (f == "histogram_count" || f == "histogram_sum" ||
      f == "histogram_fraction" || f == "histogram_stddev" ||
      f == "histogram_stdvar") {
    // Native histograms are not stored; float series yield nothing.
    for (const ExprPtr& a : c.args) {
      absl::StatusOr<Val> v = Eval(*a, s);
      if (!v.ok()) return v.status();
    }
    return Val(VectorVal{});
  }

  // Element-wise functions over one instant vector, with scalar params.
  SimpleFunction simple = LookupSimpleFunction(f);
  DateFunction date = LookupDateFunction(f);
  const bool is_clamp = f == "clamp" || f == "clamp_min" || f == "clamp_max";
  const bool is_round = f == "round";
  if (simple == nullptr && date == nullptr && !is_clamp && !is_round) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown function \"", f, "\""));
  }
  VectorVal in;
  if (date != nullptr && c.args.empty()) {
    DSeries d;
    d.v.resize(s.n);
    for (int64_t i = 0; i < s.n; ++i) d.v[i] = s.T(i) / 1000.0;
    in.series.push_back(std::move(d));
  } else {
    absl::StatusOr<VectorVal> v = EvalVectorArg(*c.args[0], s);
    if (!v.ok()) return v.status();
    in = std::move(*v);
  }
  std::vector<ScalarVal> params;
  for (size_t i = 1; i < c.args.size(); ++i) {
    absl::StatusOr<ScalarVal> v = EvalScalarArg(*c.args[i], s);
    if (!v.ok()) return v.status();
    params.push_back(std::move(*v));
  }
  for (DSeries& d : in.series) {
    d.labels = DropName(d.labels);
    for (int64_t i = 0; i < s.n; ++i) {
      double& x = d.v[i];
      if (IsAbsent(x)) continue;
      if (simple != nullptr) {
        x = simple(x);
      } else if (date != nullptr) {
        x = date(x);
      } else if (is_round) {
        double to_nearest = params.empty() ? 1 : params[0].v[i];
        double inv = 1.0 / to_nearest;
        x = std::floor(x * inv + 0.5) / inv;
      } else if (f == "clamp") {
        double lo = params[0].v[i], hi = params[1].v[i];
        if (hi < lo) {
          x = AbsentValue();
        } else {
          x = GoMax(lo, GoMin(hi, x));
        }
      } else if (f == "clamp_min") {
        x = GoMax(x, params[0].v[i]);
      } else {
        x = GoMin(x, params[0].v[i]);
      }
    }
  }
  if (is_clamp) RemoveEmptySeries(&in);
  if (absl::Status st = MergeDuplicates(&in); !st.ok()) return st;
  return Val(std::move(in));
}

// ---------------------------------------------------------------------------
// Binary operators

absl::StatusOr<Val> Evaluator::EvalBinary(const BinaryExpr& b, const Steps& s) {
  absl::StatusOr<Val> l = Eval(*b.lhs, s);
  if (!l.ok()) return l;
  absl::StatusOr<Val> r = Eval(*b.rhs, s);
  if (!r.ok()) return r;
  auto* ls = std::get_if<ScalarVal>(&*l);
  auto* rs = std::get_if<ScalarVal>(&*r);
  auto* lv = std::get_if<VectorVal>(&*l);
  auto* rv = std::get_if<VectorVal>(&*r);
  const bool cmp = IsComparison(b.op);
  if (ls != nullptr && rs != nullptr) {
    for (int64_t i = 0; i < s.n; ++i) {
      double v;
      bool keep = VectorElemBinop(b.op, ls->v[i], rs->v[i], &v);
      ls->v[i] = cmp ? (keep ? 1.0 : 0.0) : v;
    }
    return l;
  }
  if ((lv != nullptr && rs != nullptr) || (ls != nullptr && rv != nullptr)) {
    const bool swap = ls != nullptr;
    VectorVal& vec = swap ? *rv : *lv;
    const ScalarVal& sc = swap ? *ls : *rs;
    const bool drop = DropsMetricName(b.op) || b.return_bool;
    for (DSeries& d : vec.series) {
      if (drop) d.labels = DropName(d.labels);
      for (int64_t i = 0; i < s.n; ++i) {
        double& x = d.v[i];
        if (IsAbsent(x)) continue;
        double lhs = x, rhs = sc.v[i];
        if (swap) std::swap(lhs, rhs);
        double v;
        bool keep = VectorElemBinop(b.op, lhs, rhs, &v);
        if (cmp && swap) v = rhs;
        if (b.return_bool) {
          v = keep ? 1.0 : 0.0;
          keep = true;
        }
        x = keep ? v : AbsentValue();
      }
    }
    if (cmp && !b.return_bool) RemoveEmptySeries(&vec);
    if (drop) {
      if (absl::Status st = MergeDuplicates(&vec); !st.ok()) return st;
    }
    return Val(std::move(vec));
  }
  if (lv != nullptr && rv != nullptr) {
    absl::StatusOr<VectorVal> out =
        IsSetOperator(b.op) ? SetOp(b, std::move(*lv), std::move(*rv), s)
                            : VectorBinop(b, std::move(*lv), std::move(*rv), s);
    if (!out.ok()) return out.status();
    return Val(std::move(*out));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "binary operator not defined between these operand types at position ",
      b.pos_start));
}

absl::StatusOr<VectorVal> Evaluator::SetOp(const BinaryExpr& b, VectorVal lhs,
                                           VectorVal rhs, const Steps& s) {
  const VectorMatching& m = b.matching;
  // Signature -> dense id, shared by both sides.
  absl::flat_hash_map<uint64_t, int> ids;
  auto id_of = [&](const Labels& l) {
    auto [it, inserted] = ids.emplace(Signature(l, m), ids.size());
    return it->second;
  };
  std::vector<int> lid(lhs.series.size()), rid(rhs.series.size());
  for (size_t i = 0; i < lhs.series.size(); ++i) {
    lid[i] = id_of(lhs.series[i].labels);
  }
  for (size_t i = 0; i < rhs.series.size(); ++i) {
    rid[i] = id_of(rhs.series[i].labels);
  }
  // present[id * n + step]: some series of that side has a value there.
  auto presence = [&](const VectorVal& v, const std::vector<int>& id) {
    std::vector<bool> p(ids.size() * s.n, false);
    for (size_t k = 0; k < v.series.size(); ++k) {
      const size_t base = static_cast<size_t>(id[k]) * s.n;
      for (int64_t i = 0; i < s.n; ++i) {
        if (!IsAbsent(v.series[k].v[i])) p[base + i] = true;
      }
    }
    return p;
  };
  if (b.op == BinaryOp::kOr) {
    std::vector<bool> lp = presence(lhs, lid);
    VectorVal out = std::move(lhs);
    for (size_t k = 0; k < rhs.series.size(); ++k) {
      DSeries& d = rhs.series[k];
      const size_t base = static_cast<size_t>(rid[k]) * s.n;
      for (int64_t i = 0; i < s.n; ++i) {
        if (lp[base + i]) d.v[i] = AbsentValue();
      }
      out.series.push_back(std::move(d));
    }
    RemoveEmptySeries(&out);
    if (absl::Status st = MergeDuplicates(&out); !st.ok()) return st;
    return out;
  }
  std::vector<bool> rp = presence(rhs, rid);
  const bool want = b.op == BinaryOp::kAnd;
  for (size_t k = 0; k < lhs.series.size(); ++k) {
    DSeries& d = lhs.series[k];
    const size_t base = static_cast<size_t>(lid[k]) * s.n;
    for (int64_t i = 0; i < s.n; ++i) {
      if (rp[base + i] != want) d.v[i] = AbsentValue();
    }
  }
  RemoveEmptySeries(&lhs);
  return lhs;
}

absl::StatusOr<VectorVal> Evaluator::VectorBinop(const BinaryExpr& b,
                                                 VectorVal lhs, VectorVal rhs,
                                                 const Steps& s) {
  const VectorMatching& m = b.matching;
  const bool swapped = m.card == Cardinality::kOneToMany;
  if (m.card == Cardinality::kManyToMany) {
    return absl::InvalidArgumentError(
        "many-to-many only allowed for set operators");
  }
  // From here on `many` is the side whose series each produce output and
  // `one` the side that must be unique per signature.
  VectorVal& many = swapped ? rhs : lhs;
  VectorVal& one = swapped ? lhs : rhs;
  absl::flat_hash_map<uint64_t, int> ids;
  std::vector<int> one_id(one.series.size());
  for (size_t k = 0; k < one.series.size(); ++k) {
    auto [it, ins] = ids.emplace(Signature(one.series[k].labels, m),
                                 static_cast<int>(ids.size()));
    one_id[k] = it->second;
  }
  std::vector<int> many_id(many.series.size(), -1);
  for (size_t k = 0; k < many.series.size(); ++k) {
    auto it = ids.find(Signature(many.series[k].labels, m));
    if (it != ids.end()) many_id[k] = it->second;
  }
  const size_t ngroups = ids.size();

  // Output series per (many, one) pair, created on first use.
  VectorVal out;
  absl::flat_hash_map<Labels, size_t> out_index;
  absl::flat_hash_map<std::pair<size_t, size_t>, size_t> pair_out;
  auto result_labels = [&](const Labels& ml, const Labels& ol) {
    LabelsBuilder lb(ml);
    if (DropsMetricName(b.op)) lb.Del(tsdb::kMetricName);
    if (m.card == Cardinality::kOneToOne) {
      if (m.on) {
        lb.Keep(m.matching_labels);
      } else {
        for (const std::string& n : m.matching_labels) lb.Del(n);
      }
    }
    for (const std::string& n : m.include) {
      absl::string_view v = ol.Get(n);
      if (!v.empty()) {
        lb.Set(n, v);
      } else {
        lb.Del(n);
      }
    }
    if (b.return_bool) lb.Del(tsdb::kMetricName);
    return lb.Build();
  };

  std::vector<int> one_at(ngroups, -1);            // one-side series per group
  std::vector<int64_t> matched_step(ngroups, -1);  // one-to-one uniqueness
  std::vector<int64_t> out_step;                   // many-to-one uniqueness
  for (int64_t i = 0; i < s.n; ++i) {
    if (i % 256 == 0) {
      if (absl::Status st = CheckInterrupt(); !st.ok()) return st;
    }
    // Nothing can match when the many side is empty at this step; like
    // Prometheus, skip the uniqueness check of the one side then.
    bool any_many = false;
    for (size_t k = 0; k < many.series.size() && !any_many; ++k) {
      any_many = !IsAbsent(many.series[k].v[i]);
    }
    if (!any_many) continue;
    std::fill(one_at.begin(), one_at.end(), -1);
    for (size_t k = 0; k < one.series.size(); ++k) {
      if (IsAbsent(one.series[k].v[i])) continue;
      int& slot = one_at[one_id[k]];
      if (slot >= 0) {
        const Labels& a = one.series[k].labels;
        const Labels& c = one.series[slot].labels;
        return absl::InvalidArgumentError(absl::StrCat(
            "found duplicate series for the match group ",
            MatchLabels(a, m).ToString(), " on the ",
            swapped ? "left" : "right", " hand-side of the operation: [",
            a.ToString(), ", ", c.ToString(),
            "];many-to-many matching not allowed: matching labels must be "
            "unique on one side"));
      }
      slot = static_cast<int>(k);
    }
    for (size_t k = 0; k < many.series.size(); ++k) {
      const int g = many_id[k];
      if (g < 0) continue;
      const double mv = many.series[k].v[i];
      if (IsAbsent(mv)) continue;
      const int o = one_at[g];
      if (o < 0) continue;
      double vl = mv, vr = one.series[o].v[i];
      if (swapped) std::swap(vl, vr);
      double value;
      bool keep = VectorElemBinop(b.op, vl, vr, &value);
      if (b.return_bool) {
        value = keep ? 1.0 : 0.0;
      } else if (!keep) {
        continue;
      }
      if (m.card == Cardinality::kOneToOne) {
        if (matched_step[g] == i) {
          return absl::InvalidArgumentError(
              "multiple matches for labels: many-to-one matching must be "
              "explicit (group_left/group_right)");
        }
        matched_step[g] = i;
      }
      auto key = std::make_pair(k, static_cast<size_t>(o));
      auto pit = pair_out.find(key);
      size_t oi;
      if (pit != pair_out.end()) {
        oi = pit->second;
      } else {
        Labels rl = result_labels(many.series[k].labels, one.series[o].labels);
        auto [it, ins] = out_index.emplace(rl, out.series.size());
        if (ins) {
          out.series.push_back(
              DSeries{std::move(rl), std::vector<double>(s.n, AbsentValue())});
          out_step.push_back(-1);
        }
        oi = it->second;
        pair_out.emplace(key, oi);
      }
      if (out_step[oi] == i) {
        if (m.card == Cardinality::kOneToOne) {
          return absl::InvalidArgumentError(
              "vector cannot contain metrics with the same labelset");
        }
        return absl::InvalidArgumentError(
            "multiple matches for labels: grouping labels must ensure unique "
            "matches");
      }
      out_step[oi] = i;
      out.series[oi].v[i] = value;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Aggregations

absl::StatusOr<Val> Evaluator::EvalAggregate(const AggregateExpr& a,
                                             const Steps& s) {
  ScalarVal param;
  std::string value_label;
  if (a.op == AggregateOp::kTopK || a.op == AggregateOp::kBottomK ||
      a.op == AggregateOp::kQuantile) {
    absl::StatusOr<ScalarVal> p = EvalScalarArg(*a.param, s);
    if (!p.ok()) return p.status();
    param = std::move(*p);
  } else if (a.op == AggregateOp::kCountValues) {
    absl::StatusOr<Val> p = Eval(*a.param, s);
    if (!p.ok()) return p.status();
    auto* str = std::get_if<StringVal>(&*p);
    if (str == nullptr) {
      return absl::InvalidArgumentError("count_values needs a string label");
    }
    value_label = str->s;
    if (!tsdb::IsValidLabelName(value_label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid label name \"", value_label, "\""));
    }
  }
  VectorVal in;
  absl::StatusOr<Fused> fused = TryFusedAggregate(a, s, &in);
  if (!fused.ok()) return fused.status();
  if (*fused == Fused::kOutput) return Val(std::move(in));
  if (*fused == Fused::kNotFused) {
    absl::StatusOr<VectorVal> in_or = EvalVectorArg(*a.expr, s);
    if (!in_or.ok()) return in_or.status();
    in = std::move(*in_or);
  }

  auto group_labels = [&](const Labels& l) {
    LabelsBuilder lb(l);
    if (a.without) {
      for (const std::string& n : a.grouping) lb.Del(n);
      lb.Del(tsdb::kMetricName);
    } else {
      lb.Keep(a.grouping);
    }
    return lb.Build();
  };

  if (a.op == AggregateOp::kCountValues) {
    std::vector<std::string> grouping = a.grouping;
    if (!a.without) grouping.push_back(value_label);
    VectorVal out;
    absl::flat_hash_map<Labels, size_t> index;
    for (int64_t i = 0; i < s.n; ++i) {
      for (const DSeries& d : in.series) {
        if (IsAbsent(d.v[i])) continue;
        Labels l = LabelsBuilder(d.labels)
                       .Set(value_label, FormatFloatForLabel(d.v[i]))
                       .Build();
        LabelsBuilder lb(l);
        if (a.without) {
          for (const std::string& n : grouping) lb.Del(n);
          lb.Del(tsdb::kMetricName);
        } else {
          lb.Keep(grouping);
        }
        auto [it, ins] = index.emplace(lb.Build(), out.series.size());
        if (ins) {
          out.series.push_back(
              DSeries{it->first, std::vector<double>(s.n, AbsentValue())});
        }
        double& x = out.series[it->second].v[i];
        x = IsAbsent(x) ? 1 : x + 1;
      }
    }
    return Val(std::move(out));
  }

  // Group ids, computed once per series.
  std::vector<int> gid(in.series.size());
  std::vector<Labels> glabels;
  {
    absl::flat_hash_map<Labels, int> index;
    for (size_t k = 0; k < in.series.size(); ++k) {
      Labels g = group_labels(in.series[k].labels);
      auto [it, ins] = index.emplace(g, static_cast<int>(glabels.size()));
      if (ins) glabels.push_back(std::move(g));
      gid[k] = it->second;
    }
  }
  const size_t ng = glabels.size();
  const int64_t n = s.n;

  if (a.op == AggregateOp::kTopK || a.op == AggregateOp::kBottomK) {
    const bool top = a.op == AggregateOp::kTopK;
    std::vector<std::vector<size_t>> members(ng);
    for (size_t k = 0; k < in.series.size(); ++k) members[gid[k]].push_back(k);
    VectorVal out;
    std::vector<int> out_of(in.series.size(), -1);
    std::vector<double> cand_v;
    std::vector<size_t> cand_idx, kept;
    for (int64_t i = 0; i < n; ++i) {
      const double kp = param.v[i];
      // Prometheus's convertibleToInt64: NaN and values past the largest
      // double below 2^63 are an error, not an empty result.
      if (!(kp <= 9223372036854774784.0 && kp >= -9223372036854775808.0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Scalar value ",
            std::isnan(kp)   ? std::string("NaN")
            : std::isinf(kp) ? std::string(kp > 0 ? "+Inf" : "-Inf")
                             : absl::StrCat(kp),
            " overflows int64"));
      }
      const int64_t k = static_cast<int64_t>(kp);
      if (k < 1) continue;
      for (size_t g = 0; g < ng; ++g) {
        cand_v.clear();
        cand_idx.clear();
        for (size_t idx : members[g]) {
          double v = in.series[idx].v[i];
          if (IsAbsent(v)) continue;
          cand_v.push_back(v);
          cand_idx.push_back(idx);
        }
        // Input order is the selector's (sorted by labels), as in
        // Prometheus, whose heap decides among equal values.
        SelectTopK(cand_v, k, top, &kept);
        for (size_t c : kept) {
          const size_t idx = cand_idx[c];
          if (out_of[idx] < 0) {
            out_of[idx] = static_cast<int>(out.series.size());
            out.series.push_back(DSeries{
                in.series[idx].labels, std::vector<double>(n, AbsentValue())});
          }
          out.series[out_of[idx]].v[i] = cand_v[c];
        }
      }
    }
    return Val(std::move(out));
  }

  if (a.op == AggregateOp::kQuantile) {
    std::vector<std::vector<size_t>> members(ng);
    for (size_t k = 0; k < in.series.size(); ++k) members[gid[k]].push_back(k);
    VectorVal out;
    out.series.resize(ng);
    std::vector<double> vals;
    for (size_t g = 0; g < ng; ++g) {
      out.series[g].labels = glabels[g];
      out.series[g].v.assign(n, AbsentValue());
      for (int64_t i = 0; i < n; ++i) {
        vals.clear();
        for (size_t idx : members[g]) {
          double v = in.series[idx].v[i];
          if (!IsAbsent(v)) vals.push_back(v);
        }
        if (!vals.empty()) out.series[g].v[i] = Quantile(param.v[i], &vals);
      }
    }
    RemoveEmptySeries(&out);
    return Val(std::move(out));
  }

  // Streaming aggregations: per (group, step) state, series-major loop.
  // Only avg/stddev/stdvar keep a running mean: for a wide range query
  // these arrays are megabytes, zeroed on the (serial) main thread.
  const bool has_mean = AggregateHasMean(a.op);
  std::vector<double> value(ng * n, 0), count(ng * n, 0);
  std::vector<double> mean(has_mean ? ng * n : 0, 0);
  for (size_t k = 0; k < in.series.size(); ++k) {
    const size_t base = static_cast<size_t>(gid[k]) * n;
    FoldSeries(a.op, in.series[k].v.data(), n, value.data() + base,
               count.data() + base, has_mean ? mean.data() + base : nullptr);
  }
  VectorVal out;
  out.series.resize(ng);
  for (size_t g = 0; g < ng; ++g) {
    DSeries& d = out.series[g];
    d.labels = glabels[g];
    d.v.resize(n);
    const size_t base = g * n;
    FinishGroup(a.op, value.data() + base, count.data() + base,
                has_mean ? mean.data() + base : nullptr, n, d.v.data());
  }
  return Val(std::move(out));
}

absl::StatusOr<Evaluator::Fused> Evaluator::TryFusedAggregate(
    const AggregateExpr& a, const Steps& s, VectorVal* result) {
  if (!p_.fuse_aggregations || !IsStreamingAggregate(a.op)) {
    return Fused::kNotFused;
  }
  const Expr& arg = Unparen(*a.expr);
  if (arg.kind != ExprKind::kCall) return Fused::kNotFused;
  const Call& c = static_cast<const Call&>(arg);
  size_t matrix_arg = c.args.size();
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (Unparen(*c.args[i]).kind == ExprKind::kMatrixSelector) matrix_arg = i;
  }
  if (matrix_arg == c.args.size() || c.func == "absent_over_time" ||
      LookupRangeFunction(c.func) == nullptr) {
    return Fused::kNotFused;
  }
  // What Eval would do for the call node before evaluating it.
  if (absl::Status st = CheckInterrupt(); !st.ok()) return st;
  RangeCall rc;
  if (absl::Status st = PrepareRangeCall(c, s, matrix_arg, &rc); !st.ok()) {
    return st;
  }
  const std::vector<Labels>& labels = rc.src.labels;
  const size_t nseries = labels.size();
  // Dropping the metric name merges series that differ only by it (and
  // fails when they overlap in time); fold only when that cannot happen:
  // the selected series are unique, so with one metric name they stay
  // unique without it.
  bool unique = true;
  if (!rc.keep_name && nseries > 1) {
    const absl::string_view name0 = labels[0].Get(tsdb::kMetricName);
    for (size_t k = 1; k < nseries && unique; ++k) {
      unique = labels[k].Get(tsdb::kMetricName) == name0;
    }
  }
  // Group ids of the function's output labels. Only `by (__name__)` can
  // see the name the function drops.
  const bool drop_first = !rc.keep_name && !a.without &&
                          std::find(a.grouping.begin(), a.grouping.end(),
                                    tsdb::kMetricName) != a.grouping.end();
  std::vector<int> gid(nseries);
  std::vector<Labels> glabels;
  std::vector<std::vector<uint32_t>> members;
  if (unique) {
    absl::flat_hash_map<Labels, int> index;
    for (size_t k = 0; k < nseries; ++k) {
      LabelsBuilder lb(drop_first ? DropName(labels[k]) : labels[k]);
      if (a.without) {
        for (const std::string& n : a.grouping) lb.Del(n);
        lb.Del(tsdb::kMetricName);
      } else {
        lb.Keep(a.grouping);
      }
      Labels g = lb.Build();
      auto [it, ins] = index.emplace(g, static_cast<int>(glabels.size()));
      if (ins) {
        glabels.push_back(std::move(g));
        members.emplace_back();
      }
      gid[k] = it->second;
      members[it->second].push_back(static_cast<uint32_t>(k));
    }
  }
  const size_t ng = glabels.size();
  // Workers take whole groups (splitting one would change the order of its
  // sum), so fold only when the groups can keep every thread busy: at least
  // two per thread and none bigger than a thread's share of the series.
  size_t largest = 0;
  for (const std::vector<uint32_t>& m : members) {
    largest = std::max(largest, m.size());
  }
  const size_t threads_wanted = static_cast<size_t>(rc.threads);
  const bool balanced =
      rc.threads <= 1 ||
      (ng >= 2 * threads_wanted && largest * threads_wanted <= nseries);
  if (!unique || !balanced) {
    absl::StatusOr<VectorVal> v = RunRangeCall(rc, s);
    if (!v.ok()) return v.status();
    if (absl::Status st = Account(PresentPoints(*v)); !st.ok()) return st;
    *result = std::move(*v);
    return Fused::kInput;
  }

  const int64_t n = s.n;
  const bool has_mean = AggregateHasMean(a.op);
  const int threads = std::min<int64_t>(rc.threads, ng);
  std::vector<RangeWorker> ws(std::max(threads, 1));
  std::vector<char> has_data(nseries, 0);
  VectorVal out;
  out.series.resize(ng);
  std::mutex mu;
  absl::Status error;
  std::atomic<int64_t> points{0};
  ParallelFor(ng, threads, [&](int worker, size_t g) {
    RangeWorker& w = ws[worker];
    w.row.resize(n);
    w.value.assign(n, 0);
    w.count.assign(n, 0);
    if (has_mean) w.mean.assign(n, 0);
    int64_t group_points = 0;
    for (uint32_t k : members[g]) {
      absl::StatusOr<int64_t> present =
          RangeCallSeries(rc, s, k, w, w.row.data());
      if (!present.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (error.ok()) error = present.status();
        return;
      }
      if (*present == 0) continue;
      has_data[k] = 1;
      group_points += *present;
      FoldSeries(a.op, w.row.data(), n, w.value.data(), w.count.data(),
                 has_mean ? w.mean.data() : nullptr);
    }
    points.fetch_add(group_points, std::memory_order_relaxed);
    DSeries& d = out.series[g];
    d.v.resize(n);
    FinishGroup(a.op, w.value.data(), w.count.data(),
                has_mean ? w.mean.data() : nullptr, n, d.v.data());
  });
  if (!error.ok()) return error;
  // The function's output would have been held in memory unfused; count it
  // against max_samples the same way.
  if (absl::Status st = Account(points.load()); !st.ok()) return st;
  // Groups in the order their first series with data appears, as the
  // unfused aggregation orders them; groups without data are dropped.
  std::vector<DSeries> ordered;
  ordered.reserve(ng);
  std::vector<char> placed(ng, 0);
  for (size_t k = 0; k < nseries; ++k) {
    const int g = gid[k];
    if (!has_data[k] || placed[g]) continue;
    placed[g] = 1;
    out.series[g].labels = std::move(glabels[g]);
    ordered.push_back(std::move(out.series[g]));
  }
  out.series = std::move(ordered);
  *result = std::move(out);
  return Fused::kOutput;
}

}  // namespace

absl::StatusOr<QueryResult> Evaluate(const Expr& expr, const EvalParams& p,
                                     tsdb::Queryable* storage,
                                     QueryStats* stats) {
  Steps s;
  const bool range = p.step_ms > 0;
  if (range) {
    if (p.end_ms < p.start_ms) {
      return absl::InvalidArgumentError(
          "end timestamp must not be before start time");
    }
    s.start = p.start_ms;
    s.interval = p.step_ms;
    s.n = (p.end_ms - p.start_ms) / p.step_ms + 1;
    // Prometheus's limit is on (end-start)/step, i.e. one more point.
    if (s.n - 1 > p.max_points_per_series) {
      return absl::InvalidArgumentError(
          "exceeded maximum resolution of 11,000 points per timeseries. Try "
          "decreasing the query resolution (?step=XX)");
    }
    ValueType t = expr.Type();
    if (t != ValueType::kScalar && t != ValueType::kVector) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid expression type \"", TypeName(t),
                       "\" for range query, must be Scalar or instant Vector"));
    }
  } else {
    s.start = p.start_ms;
    s.interval = 1;
    s.n = 1;
  }
  Evaluator ev(p, storage);
  absl::StatusOr<Val> v = ev.Eval(expr, s);
  QueryStats qs;
  qs.peak_samples = ev.peak_samples();
  qs.total_samples = ev.total_samples();
  qs.series_selected = ev.series_selected();
  if (stats != nullptr) *stats = qs;
  if (!v.ok()) {
    // The query was valid: what failed is its execution (many-to-many
    // matching, duplicate output series, a bad smoothing factor...), which
    // Prometheus reports as errorType "execution" (HTTP 422), not as bad
    // input. Timeouts, cancellation and limits keep their own codes.
    if (v.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::FailedPreconditionError(v.status().message());
    }
    return v.status();
  }
  QueryResult result;
  result.stats = qs;
  if (!range) {
    if (auto* sc = std::get_if<ScalarVal>(&*v)) {
      result.value = Scalar{p.start_ms, sc->v[0]};
    } else if (auto* str = std::get_if<StringVal>(&*v)) {
      result.value = String{p.start_ms, str->s};
    } else if (auto* m = std::get_if<MatrixVal>(&*v)) {
      result.value = std::move(m->m);
    } else {
      Vector out;
      for (DSeries& d : std::get<VectorVal>(*v).series) {
        if (IsAbsent(d.v[0])) continue;
        out.push_back(VectorSample{std::move(d.labels), p.start_ms, d.v[0]});
      }
      result.value = std::move(out);
    }
    return result;
  }
  Matrix out;
  if (auto* sc = std::get_if<ScalarVal>(&*v)) {
    MatrixSeries ms;
    for (int64_t i = 0; i < s.n; ++i) ms.points.push_back({s.T(i), sc->v[i]});
    out.push_back(std::move(ms));
  } else if (auto* vec = std::get_if<VectorVal>(&*v)) {
    for (DSeries& d : vec->series) {
      MatrixSeries ms;
      for (int64_t i = 0; i < s.n; ++i) {
        if (!IsAbsent(d.v[i])) ms.points.push_back({s.T(i), d.v[i]});
      }
      if (ms.points.empty()) continue;
      ms.metric = std::move(d.labels);
      out.push_back(std::move(ms));
    }
    std::sort(out.begin(), out.end(),
              [](const MatrixSeries& a, const MatrixSeries& b) {
                return a.metric < b.metric;
              });
  } else {
    return absl::InvalidArgumentError(
        "invalid expression type for range query, must be Scalar or instant "
        "Vector");
  }
  result.value = std::move(out);
  return result;
}

}  // namespace vigil::promql
