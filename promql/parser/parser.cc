// PromQL parser entry points.
//
// Parsing is two passes, as in Prometheus: the Boost.Spirit X3 grammar
// (grammar.cc) builds the tree and reports syntax errors, then a Checker
// pass type-checks the syntactically valid tree (Prometheus's checkAST).
// The first error wins. Errors travel internally as an
// internal::ParseFailure exception, caught here: no exception crosses the
// API, and the happy path throws nothing.
#include "promql/parser/parser.h"

#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "promql/parser/functions.h"
#include "promql/parser/internal.h"

namespace vigil::promql {
namespace {

using internal::Fail;
using internal::ParseFailure;

#define VIGIL_COLD __attribute__((noinline, cold))
#define VIGIL_NOINLINE __attribute__((noinline))

// ---------------------------------------------------------------------------
// Type checking, after a successful parse (Prometheus's checkAST).

// Prometheus prints ValueType with %s in a few messages ("matrix").
const char* InternalTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "none";
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "vector";
    case ValueType::kMatrix:
      return "matrix";
    case ValueType::kString:
      return "string";
  }
  return "unknown";
}

class Checker {
 public:
  explicit Checker(std::string_view in) : in_(in) {}

  ValueType Check(Expr* e) {
    switch (e->kind) {
      case ExprKind::kNumber:
      case ExprKind::kString:
      case ExprKind::kVectorSelector:
      case ExprKind::kMatrixSelector:
        break;
      case ExprKind::kParen:
        Check(static_cast<ParenExpr*>(e)->expr.get());
        break;
      case ExprKind::kSubquery: {
        auto* sq = static_cast<SubqueryExpr*>(e);
        ValueType t = Check(sq->expr.get());
        if (t != ValueType::kVector) {
          Fail(sq->pos_start,
               absl::StrCat("subquery is only allowed on instant vector, got ",
                            InternalTypeName(t), " instead"));
        }
        break;
      }
      case ExprKind::kUnary: {
        auto* u = static_cast<UnaryExpr*>(e);
        ValueType t = Check(u->expr.get());
        if (t != ValueType::kScalar && t != ValueType::kVector) {
          Fail(u->pos_start,
               "unary expression only allowed on expressions of type scalar "
               "or instant vector");
        }
        break;
      }
      case ExprKind::kBinary:
        CheckBinary(static_cast<BinaryExpr*>(e));
        break;
      case ExprKind::kCall:
        CheckCall(static_cast<Call*>(e));
        break;
      case ExprKind::kAggregate: {
        auto* a = static_cast<AggregateExpr*>(e);
        ExpectType(a->expr.get(), ValueType::kVector, "aggregation expression");
        if (a->op == AggregateOp::kTopK || a->op == AggregateOp::kBottomK ||
            a->op == AggregateOp::kQuantile) {
          ExpectType(a->param.get(), ValueType::kScalar,
                     "aggregation parameter");
        }
        if (a->op == AggregateOp::kCountValues) {
          ExpectType(a->param.get(), ValueType::kString,
                     "aggregation parameter");
        }
        break;
      }
    }
    return e->Type();
  }

 private:
  VIGIL_NOINLINE void ExpectType(Expr* e, ValueType want,
                                 std::string_view context) {
    ValueType got = Check(e);
    if (got != want) FailType(e, want, got, context);
  }

  [[noreturn]] static VIGIL_COLD void FailType(const Expr* e, ValueType want,
                                               ValueType got,
                                               std::string_view context) {
    Fail(e->pos_start,
         absl::StrCat("expected type ", ValueTypeName(want), " in ",
                      std::string(context), ", got ", ValueTypeName(got)));
  }

  // The operator sits after the left operand, behind whitespace, comments
  // and closing parentheses that belong to the operand's end.
  int OperatorPos(const BinaryExpr* b) const {
    size_t i = static_cast<size_t>(b->lhs->pos_end);
    while (i < in_.size()) {
      char c = in_[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
      } else if (c == '#') {
        while (i < in_.size() && in_[i] != '\n') ++i;
      } else {
        break;
      }
    }
    return static_cast<int>(i);
  }

  VIGIL_NOINLINE void CheckBinary(BinaryExpr* b) {
    const ValueType lt = Check(b->lhs.get());
    const ValueType rt = Check(b->rhs.get());
    ValidateBinary(b, lt, rt);
  }

  // The checks on one binary node once both operand types are known.
  VIGIL_NOINLINE void ValidateBinary(BinaryExpr* b, ValueType lt,
                                     ValueType rt) {
    const char* op = BinaryOpString(b->op);
    if (b->return_bool && !IsComparisonOp(b->op)) {
      Fail(OperatorPos(b),
           "bool modifier can only be used on comparison operators");
    }
    if (IsComparisonOp(b->op) && !b->return_bool && lt == ValueType::kScalar &&
        rt == ValueType::kScalar) {
      Fail(OperatorPos(b),
           "comparisons between scalars must use BOOL modifier");
    }
    if (IsSetOp(b->op) && b->matching.card == Cardinality::kOneToOne) {
      b->matching.card = Cardinality::kManyToMany;
    }
    if (b->matching.on) {
      for (const std::string& l1 : b->matching.matching_labels) {
        for (const std::string& l2 : b->matching.include) {
          if (l1 == l2) {
            Fail(
                OperatorPos(b),
                absl::StrCat("label ", QuoteString(l1),
                             " must not occur in ON and GROUP clause at once"));
          }
        }
      }
    }
    if (lt != ValueType::kScalar && lt != ValueType::kVector) {
      Fail(b->lhs->pos_start,
           "binary expression must contain only scalar and instant vector "
           "types");
    }
    if (rt != ValueType::kScalar && rt != ValueType::kVector) {
      Fail(b->rhs->pos_start,
           "binary expression must contain only scalar and instant vector "
           "types");
    }
    if (lt != ValueType::kVector || rt != ValueType::kVector) {
      if (b->has_matching && (!b->matching.matching_labels.empty() ||
                              !b->matching.include.empty() ||
                              b->matching.card == Cardinality::kManyToOne ||
                              b->matching.card == Cardinality::kOneToMany)) {
        Fail(b->pos_start,
             "vector matching only allowed between instant vectors");
      }
      b->has_matching = false;
      b->matching = VectorMatching();
    } else {
      b->has_matching = true;
      if (IsSetOp(b->op)) {
        if (b->matching.card == Cardinality::kOneToMany ||
            b->matching.card == Cardinality::kManyToOne) {
          Fail(b->pos_start,
               absl::StrCat("no grouping allowed for \"", op, "\" operation"));
        }
      }
    }
    if ((lt == ValueType::kScalar || rt == ValueType::kScalar) &&
        IsSetOp(b->op)) {
      Fail(b->pos_start, absl::StrCat("set operator \"", op,
                                      "\" not allowed in binary scalar "
                                      "expression"));
    }
  }

  VIGIL_NOINLINE void CheckCall(Call* c) {
    const FunctionSignature* sig = CheckArgCount(c);
    const std::string_view context = CallContext(c);
    const size_t nargs = sig->arg_types.size();
    for (size_t i = 0; i < c->args.size(); ++i) {
      const size_t k = std::min(i, nargs - 1);
      ExpectType(c->args[i].get(), sig->arg_types[k], context);
    }
  }

  // "call to function \"rate\"", kept alive for the whole check.
  std::string_view CallContext(const Call* c) {
    contexts_.push_back(absl::StrCat("call to function \"", c->func, "\""));
    return contexts_.back();
  }

  VIGIL_NOINLINE const FunctionSignature* CheckArgCount(const Call* c) {
    const FunctionSignature* sig = LookupFunction(c->func);
    // ParseCall rejected unknown names already.
    const size_t nargs = sig->arg_types.size();
    const size_t got = c->args.size();
    if (sig->variadic == 0) {
      if (got != nargs) {
        Fail(c->pos_start,
             absl::StrCat("expected ", nargs, " argument(s) in call to \"",
                          c->func, "\", got ", got));
      }
    } else {
      const size_t min = nargs - 1;
      if (got < min) {
        Fail(c->pos_start, absl::StrCat("expected at least ", min,
                                        " argument(s) in call to \"", c->func,
                                        "\", got ", got));
      }
      if (sig->variadic > 0 && got > min + sig->variadic) {
        Fail(c->pos_start,
             absl::StrCat("expected at most ", min + sig->variadic,
                          " argument(s) in call to \"", c->func, "\", got ",
                          got));
      }
    }
    return sig;
  }

  std::string_view in_;
  // Strings referenced by string_views on the recursion path; a deque keeps
  // them at stable addresses.
  std::deque<std::string> contexts_;
};

absl::Status ToStatus(std::string_view in, const ParseFailure& f) {
  int line = 1;
  int last_break = -1;
  const int pos = std::clamp(f.pos, 0, static_cast<int>(in.size()));
  for (int i = 0; i < pos; ++i) {
    if (in[i] == '\n') {
      ++line;
      last_break = i;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(line, ":", pos - last_break, ": parse error: ", f.msg));
}

std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

// Nesting levels parsed on the caller's stack. The X3 grammar takes about
// 9 KiB of stack per level unoptimized (several times that under ASan), so
// this fits any thread; deeper input is re-parsed on a thread with
// kLargeStackBytes, where all kMaxDepth valid levels fit.
constexpr int kCallerStackLevels = 64;
constexpr size_t kLargeStackBytes = size_t{256} << 20;  // reserved, not used

absl::StatusOr<ExprPtr> ParseAndCheck(std::string_view in, int stack_levels) {
  try {
    ExprPtr e = internal::ParseTree(in, stack_levels);
    Checker(in).Check(e.get());
    return e;
  } catch (const ParseFailure& f) {
    return ToStatus(in, f);
  }
}

struct LargeStackJob {
  std::string_view in;
  absl::StatusOr<ExprPtr> result;
};

void* RunLargeStackJob(void* arg) {
  auto* job = static_cast<LargeStackJob*>(arg);
  job->result = ParseAndCheck(job->in, internal::kMaxDepth);
  return nullptr;
}

absl::StatusOr<ExprPtr> ParseOnLargeStack(std::string_view in) {
  LargeStackJob job{in, absl::InternalError("parser thread did not run")};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kLargeStackBytes);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, RunLargeStackJob, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a parser thread for a deeply nested "
                     "expression: error ",
                     rc));
  }
  pthread_join(thread, nullptr);
  return std::move(job.result);
}

}  // namespace

absl::StatusOr<ExprPtr> ParseExpr(absl::string_view input) {
  const std::string_view in = ToStd(input);
  try {
    return ParseAndCheck(in, kCallerStackLevels);
  } catch (const internal::NeedsLargeStack&) {
    return ParseOnLargeStack(in);
  }
}

absl::StatusOr<std::vector<tsdb::Matcher>> ParseMetricSelector(
    absl::string_view input) {
  const std::string_view in = ToStd(input);
  try {
    std::unique_ptr<VectorSelector> vs = internal::ParseSelectorTree(in);
    return std::move(vs->matchers);
  } catch (const ParseFailure& f) {
    return ToStatus(in, f);
  }
}

absl::StatusOr<int64_t> ParseDuration(absl::string_view input) {
  const std::string_view s = ToStd(input);
  if (s.empty()) return absl::InvalidArgumentError("empty duration string");
  if (s == "0") return 0;
  // Units from largest to smallest; each at most once, in this order.
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"y", int64_t{365} * 24 * 3600 * 1000},
      {"w", int64_t{7} * 24 * 3600 * 1000},
      {"d", int64_t{24} * 3600 * 1000},
      {"h", int64_t{3600} * 1000},
      {"m", int64_t{60} * 1000},
      {"s", 1000},
      {"ms", 1},
  };
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid duration string: \"", std::string(s), "\""));
  };
  size_t i = 0;
  size_t next_unit = 0;
  int64_t total = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i) return invalid();
    size_t k = j;
    while (k < s.size() &&
           absl::ascii_isalpha(static_cast<unsigned char>(s[k]))) {
      ++k;
    }
    const std::string_view unit = s.substr(j, k - j);
    size_t u = next_unit;
    while (u < std::size(kUnits) && unit != kUnits[u].first) ++u;
    if (u == std::size(kUnits)) return invalid();
    next_unit = u + 1;
    int64_t n = 0;
    for (size_t d = i; d < j; ++d) {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        return absl::InvalidArgumentError("duration out of range");
      }
      n = n * 10 + (s[d] - '0');
    }
    if (n > (std::numeric_limits<int64_t>::max() - total) / kUnits[u].second) {
      return absl::InvalidArgumentError("duration out of range");
    }
    total += n * kUnits[u].second;
    i = k;
  }
  return total;
}

}  // namespace vigil::promql
