// The PromQL phrase grammar in Boost.Spirit X3.
//
// The grammar reads characters (the lexical rules are in lexical.h) and
// builds the ast.h tree through semantic actions on a Builder that the
// actions reach through x3::with. Rules carry no attributes: X3's attribute
// machinery would copy move-only nodes around and compiles slowly, while a
// stack of finished operands (plus stacks of pending operators, calls and
// parentheses) builds the tree in one pass without copies.
//
// The grammar is deterministic: every alternative is chosen by its first
// token (or a lookahead that runs no actions), and once an action has run
// any later mismatch is an error, raised by an x3::expect point. So the
// Builder never has to undo work. Expectation points are named after
// Prometheus's error context ("in label matching, expected string"); the
// handler at the entry point turns an x3::expectation_failure into
// "unexpected <token> <context>" at the failing token. A few names starting
// with \x01 select messages that need more than the token (an unclosed
// parenthesis is reported where it was opened).
//
// Precedence, loosest first, all left-associative except `^`:
//   or < and unless < == != > < >= <= < + - < * / % atan2 < ^
// A unary sign binds like `*`: only `^` binds tighter, so -2^2 is -(2^2)
// and -a*b is (-a)*b, as in Prometheus's yacc grammar (%prec MUL). Signs
// stack (- -a) and may start the right operand of any operator (a ^ -b).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "promql/parser/functions.h"
#include "promql/parser/go_string.h"
#include "promql/parser/internal.h"
#include "promql/parser/lexical.h"
#include "promql/parser/parser.h"

namespace vigil::promql::internal {
namespace {

namespace x3 = boost::spirit::x3;
using Range = boost::iterator_range<const char*>;

// Names of expectation points with special messages (see the file comment).
constexpr char kOperandWhat[] = "\x01operand";
constexpr char kEndWhat[] = "\x01end";
constexpr char kParenWhat[] = "\x01paren";
constexpr char kArgsOpenWhat[] = "\x01args_open";
constexpr char kArgsCloseWhat[] = "\x01args_close";

struct Item {
  ExprPtr e;
  int height;  // of the tree, for the kMaxDepth limit
};

// Whether `s` at `pos` is the keyword `by` or `without` (any case).
bool IsGroupingKeywordAt(std::string_view s, int pos) {
  size_t end = static_cast<size_t>(pos);
  while (end < s.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(s[end])) ||
          s[end] == '_' || s[end] == ':')) {
    ++end;
  }
  const std::string_view w = s.substr(pos, end - pos);
  return IsWord(w, "by") || IsWord(w, "without");
}

[[noreturn]] __attribute__((noinline, cold)) void FailTooDeep(int pos) {
  Fail(pos, absl::StrCat("expression nesting too deep (more than ", kMaxDepth,
                         " levels)"));
}

void CheckHeight(int h, int pos) {
  if (h > kMaxDepth) FailTooDeep(pos);
}

// A function call or aggregation whose arguments are being parsed.
struct CallFrame {
  bool is_aggregate = false;
  AggregateOp op = AggregateOp::kSum;
  const FunctionSignature* sig = nullptr;
  int pos = 0;       // of the name
  int open_pos = 0;  // of "("
  size_t base = 0;   // operand stack size before the arguments
  bool grouped = false;
  bool without = false;
  std::vector<std::string> grouping;
  std::vector<ExprPtr> args;
  int args_height = 0;
};

// Parser state for one parse. Semantic actions call these methods.
class Builder {
 public:
  Builder(std::string_view in, int stack_levels)
      : in_(in), stack_levels_(stack_levels) {}

  int Pos(const char* it) const { return static_cast<int>(it - in_.data()); }
  std::string_view Text(const Range& r) const {
    return std::string_view(r.begin(), r.size());
  }

  ExprPtr TakeResult() { return std::move(stack_.back().e); }
  std::unique_ptr<VectorSelector> TakeSelector() {
    return std::unique_ptr<VectorSelector>(
        static_cast<VectorSelector*>(stack_.back().e.release()));
  }

  // --- nesting --------------------------------------------------------------
  void Enter(int pos) {
    if (++depth_ > stack_levels_) {
      if (depth_ > kMaxDepth) FailTooDeep(pos);
      throw NeedsLargeStack{};
    }
  }
  void Leave() { --depth_; }

  // --- names ----------------------------------------------------------------
  // What a name at an operand position starts: decided once from the name
  // and the token after it, so the grammar's alternatives need no repeated
  // lookahead.
  enum class WordKind { kInfNan, kAggregate, kCall, kReserved, kName };
  void ClassifyWord(const Range& r) {
    const std::string_view w = Text(r);
    const std::string_view rest(r.end(), in_.data() + in_.size() - r.end());
    int next = 0;
    PeekToken(rest, &next);
    const bool paren =
        static_cast<size_t>(next) < rest.size() && rest[next] == '(';
    AggregateOp op;
    if (IsWord(w, "inf") || IsWord(w, "nan")) {
      word_kind_ = WordKind::kInfNan;
    } else if (IsAggregateWord(w, &op) &&
               (paren || IsGroupingKeywordAt(rest, next))) {
      word_kind_ = WordKind::kAggregate;
    } else if (paren) {
      word_kind_ = WordKind::kCall;
    } else if (IsReservedWord(w)) {
      word_kind_ = WordKind::kReserved;
    } else {
      word_kind_ = WordKind::kName;
    }
  }
  WordKind word_kind() const { return word_kind_; }

  // --- literals -------------------------------------------------------------
  void PushNumber(const Range& r) {
    auto n = std::make_unique<NumberLiteral>();
    n->value = ConvertNumberAt(r);
    n->pos_start = Pos(r.begin());
    n->pos_end = last_end_ = Pos(r.end());
    Push(std::move(n), 1);
  }
  void PushInfNan(const Range& r) {
    auto n = std::make_unique<NumberLiteral>();
    n->value = (*r.begin() | 0x20) == 'i'
                   ? std::numeric_limits<double>::infinity()
                   : std::numeric_limits<double>::quiet_NaN();
    n->pos_start = Pos(r.begin());
    n->pos_end = last_end_ = Pos(r.end());
    Push(std::move(n), 1);
  }
  void PushString(const Range& r) {
    auto s = std::make_unique<StringLiteral>();
    s->value = Unquote(r);
    s->pos_start = Pos(r.begin());
    s->pos_end = last_end_ = Pos(r.end());
    Push(std::move(s), 1);
  }

  // --- selectors ------------------------------------------------------------
  void BeginNamedSelector(const Range& r) {
    sel_name_.assign(r.begin(), r.end());
    sel_start_ = Pos(r.begin());
    last_end_ = Pos(r.end());
    matchers_.clear();
    matchers_.reserve(4);  // moved into the node, with room for __name__
  }
  void BeginUnnamedSelector(const Range& r) {
    sel_name_.clear();
    sel_start_ = Pos(r.begin());
    matchers_.clear();
    matchers_.reserve(4);
  }
  void SetLabel(const Range& r) { label_.assign(r.begin(), r.end()); }
  void SetMatchOp(const Range& r) {
    const std::string_view op = Text(r);
    match_type_ = op == "="    ? tsdb::MatchType::kEqual
                  : op == "!=" ? tsdb::MatchType::kNotEqual
                  : op == "=~" ? tsdb::MatchType::kRegexMatch
                               : tsdb::MatchType::kRegexNoMatch;
  }
  void AddMatcher(const Range& r) {
    auto m = tsdb::Matcher::Create(match_type_, std::move(label_), Unquote(r));
    if (!m.ok()) Fail(Pos(r.begin()), std::string(m.status().message()));
    matchers_.push_back(*std::move(m));
  }
  void CloseBrace(const Range& r) { last_end_ = Pos(r.end()); }
  void FinishSelector() {
    auto vs = std::make_unique<VectorSelector>();
    vs->pos_start = sel_start_;
    vs->pos_end = last_end_;
    vs->matchers = std::move(matchers_);
    matchers_.clear();
    if (!sel_name_.empty()) {
      for (const tsdb::Matcher& m : vs->matchers) {
        if (m.name() == "__name__") {
          Fail(sel_start_, absl::StrCat("metric name must not be set twice: ",
                                        QuoteString(sel_name_), " or ",
                                        QuoteString(m.value())));
        }
      }
      // Prometheus appends the name matcher after the braces' matchers.
      auto m =
          tsdb::Matcher::Create(tsdb::MatchType::kEqual, "__name__", sel_name_);
      if (!m.ok()) Fail(sel_start_, std::string(m.status().message()));
      vs->matchers.push_back(*std::move(m));
      vs->name = std::move(sel_name_);
      sel_name_.clear();
    } else {
      bool non_empty = false;
      for (const tsdb::Matcher& m : vs->matchers) {
        if (!m.MatchesEmpty()) non_empty = true;
      }
      if (!non_empty) {
        Fail(sel_start_,
             "vector selector must contain at least one non-empty matcher");
      }
    }
    Push(std::move(vs), 1);
  }

  // --- grouping labels ------------------------------------------------------
  void ClearLabels() { labels_.clear(); }
  void AddLabel(const Range& r) { labels_.emplace_back(r.begin(), r.end()); }
  void CloseLabels(const Range& r) { last_end_ = Pos(r.end()); }

  // --- parentheses ----------------------------------------------------------
  void OpenParen(const Range& r) { open_parens_.push_back(Pos(r.begin())); }
  void CloseParen(const Range& r) {
    Item inner = Pop();
    auto p = std::make_unique<ParenExpr>();
    p->pos_start = open_parens_.back();
    open_parens_.pop_back();
    p->pos_end = last_end_ = Pos(r.end());
    p->expr = std::move(inner.e);
    const int h = inner.height + 1;
    CheckHeight(h, p->pos_start);
    Push(std::move(p), h);
  }

  // --- calls and aggregations -----------------------------------------------
  void BeginCall(const Range& r) {
    const std::string_view name = Text(r);
    const FunctionSignature* sig = LookupFunction(name);
    if (sig == nullptr) {
      Fail(Pos(r.begin()), absl::StrCat("unknown function with name \"",
                                        std::string(name), "\""));
    }
    CallFrame& f = frames_.emplace_back();
    f.sig = sig;
    f.pos = Pos(r.begin());
  }
  void BeginAggregate(const Range& r) {
    CallFrame& f = frames_.emplace_back();
    f.is_aggregate = true;
    IsAggregateWord(Text(r), &f.op);
    f.pos = Pos(r.begin());
  }
  void SetGroupingKind(bool without) {
    frames_.back().without = without;
    frames_.back().grouped = true;
  }
  void SetGrouping() { frames_.back().grouping = std::move(labels_); }
  bool Grouped() const { return frames_.back().grouped; }
  void OpenArgs(const Range& r) {
    CallFrame& f = frames_.back();
    f.open_pos = Pos(r.begin());
    f.base = stack_.size();
  }
  void CloseArgs(const Range& r) {
    CallFrame& f = frames_.back();
    int max_h = 0;
    f.args.reserve(stack_.size() - f.base);
    for (size_t i = f.base; i < stack_.size(); ++i) {
      max_h = std::max(max_h, stack_[i].height);
      f.args.push_back(std::move(stack_[i].e));
    }
    stack_.resize(f.base);
    f.args_height = max_h + 1;
    CheckHeight(f.args_height, f.open_pos);
    last_end_ = Pos(r.end());
  }
  void FinishCall() {
    CallFrame f = std::move(frames_.back());
    frames_.pop_back();
    auto call = std::make_unique<Call>();
    call->func = std::string(f.sig->name);
    call->return_type = f.sig->return_type;
    call->pos_start = f.pos;
    call->pos_end = last_end_;
    call->args = std::move(f.args);
    Push(std::move(call), f.args_height);
  }
  void FinishAggregate() {
    CallFrame f = std::move(frames_.back());
    frames_.pop_back();
    auto agg = std::make_unique<AggregateExpr>();
    agg->op = f.op;
    agg->pos_start = f.pos;
    agg->pos_end = last_end_;
    agg->without = f.without;
    agg->grouping = std::move(f.grouping);
    if (f.args.empty()) {
      Fail(f.pos, "no arguments for aggregate expression provided");
    }
    const bool has_param =
        f.op == AggregateOp::kTopK || f.op == AggregateOp::kBottomK ||
        f.op == AggregateOp::kQuantile || f.op == AggregateOp::kCountValues;
    const size_t want = has_param ? 2 : 1;
    if (f.args.size() != want) {
      Fail(f.pos,
           absl::StrCat("wrong number of arguments for aggregate expression "
                        "provided, expected ",
                        want, ", got ", f.args.size()));
    }
    if (has_param) agg->param = std::move(f.args[0]);
    agg->expr = std::move(f.args.back());
    Push(std::move(agg), f.args_height);
  }

  // --- ranges, subqueries, offset and @ -------------------------------------
  void OpenBracket(const Range& r) {
    bracket_pos_ = Pos(r.begin());
    in_bracket_ = true;
    step_ms_ = 0;
  }
  void SetRange(const Range& r) { range_ms_ = Duration(r); }
  void SetStep(const Range& r) { step_ms_ = Duration(r); }
  void MakeRange(const Range& r) {
    in_bracket_ = false;
    last_end_ = Pos(r.end());
    Item& top = stack_.back();
    if (top.e->kind != ExprKind::kVectorSelector) {
      Fail(bracket_pos_, "ranges only allowed for vector selectors");
    }
    auto* vs = static_cast<VectorSelector*>(top.e.get());
    if (vs->offset_ms != 0) {
      Fail(bracket_pos_, "no offset modifiers allowed before range");
    }
    if (vs->at != AtModifier::kNone) {
      Fail(bracket_pos_, "no @ modifiers allowed before range");
    }
    auto ms = std::make_unique<MatrixSelector>();
    ms->pos_start = vs->pos_start;
    ms->pos_end = last_end_;
    ms->range_ms = range_ms_;
    ms->vector.reset(static_cast<VectorSelector*>(top.e.release()));
    top.e = std::move(ms);
    top.height += 1;
  }
  void MakeSubquery(const Range& r) {
    in_bracket_ = false;
    last_end_ = Pos(r.end());
    Item& top = stack_.back();
    auto sq = std::make_unique<SubqueryExpr>();
    sq->range_ms = range_ms_;
    sq->step_ms = step_ms_;
    sq->pos_start = top.e->pos_start;
    sq->pos_end = last_end_;
    sq->expr = std::move(top.e);
    top.e = std::move(sq);
    top.height += 1;
    CheckHeight(top.height, top.e->pos_start);
  }
  void SetNegative(bool negative) { negative_ = negative; }
  void ApplyOffset(const Range& r) {
    int64_t ms = Duration(r);
    if (negative_) ms = -ms;
    last_end_ = Pos(r.end());
    Expr* e = stack_.back().e.get();
    int64_t* target = nullptr;
    switch (e->kind) {
      case ExprKind::kVectorSelector:
        target = &static_cast<VectorSelector*>(e)->offset_ms;
        break;
      case ExprKind::kMatrixSelector:
        target = &static_cast<MatrixSelector*>(e)->vector->offset_ms;
        break;
      case ExprKind::kSubquery:
        target = &static_cast<SubqueryExpr*>(e)->offset_ms;
        break;
      default:
        Fail(e->pos_start,
             "offset modifier must be preceded by an instant vector selector "
             "or range vector selector or a subquery");
    }
    if (*target != 0) {
      Fail(e->pos_start, "offset may not be set multiple times");
    }
    *target = ms;
    e->pos_end = last_end_;
  }
  void SetAtModifier(AtModifier mod) { at_mod_ = mod; }
  void ApplyAtStartEnd(const Range& r) {
    last_end_ = Pos(r.end());
    ApplyAt(at_mod_, 0);
  }
  void ApplyAtTimestamp(const Range& r) {
    last_end_ = Pos(r.end());
    const double n = (negative_ ? -1 : 1) * ConvertNumberAt(r);
    const double v = n * 1000.0;
    if (!std::isfinite(v) || std::fabs(v) > 9.2e18) {
      char buf[400];  // %f of up to 1.8e308
      std::snprintf(buf, sizeof(buf), "%f", n);
      Fail(stack_.back().e->pos_start,
           absl::StrCat("timestamp out of bounds for @ modifier: ", buf));
    }
    ApplyAt(AtModifier::kTimestamp, static_cast<int64_t>(std::llround(v)));
  }

  // --- operators ------------------------------------------------------------
  void PushSign(const Range& r) {
    signs_.push_back({*r.begin(), Pos(r.begin())});
  }
  void ReduceUnary() {
    const auto [sign, pos] = signs_.back();
    signs_.pop_back();
    Item& top = stack_.back();
    if (top.e->kind == ExprKind::kNumber) {
      // Prometheus folds the sign into the literal.
      auto* num = static_cast<NumberLiteral*>(top.e.get());
      if (sign == '-') num->value = -num->value;
      num->pos_start = pos;
      return;
    }
    auto u = std::make_unique<UnaryExpr>();
    u->op = sign;
    u->pos_start = pos;
    u->pos_end = top.e->pos_end;
    u->expr = std::move(top.e);
    top.e = std::move(u);
    top.height += 1;
    CheckHeight(top.height, pos);
  }
  void StartBinary(BinaryOp op) {
    auto b = std::make_unique<BinaryExpr>();
    b->op = op;
    ops_.push_back(std::move(b));
  }
  BinaryExpr& PendingBinary() { return *ops_.back(); }
  void SetMatching(bool on) {
    BinaryExpr& b = PendingBinary();
    b.matching.on = on;
    b.has_matching = true;
  }
  void SetMatchingLabels() {
    PendingBinary().matching.matching_labels = std::move(labels_);
  }
  void SetIncludeLabels() {
    PendingBinary().matching.include = std::move(labels_);
  }
  void ReduceBinary() {
    Item rhs = Pop();
    Item& lhs = stack_.back();
    std::unique_ptr<BinaryExpr> b = std::move(ops_.back());
    ops_.pop_back();
    b->pos_start = lhs.e->pos_start;
    b->pos_end = rhs.e->pos_end;
    b->lhs = std::move(lhs.e);
    b->rhs = std::move(rhs.e);
    lhs.height = 1 + std::max(lhs.height, rhs.height);
    lhs.e = std::move(b);
    CheckHeight(lhs.height, lhs.e->pos_start);
  }

  // --- errors ---------------------------------------------------------------
  // Turns a failed expectation point into Prometheus's message.
  [[noreturn]] void OnExpectationFailure(const char* where,
                                         const std::string& which) {
    int pos = Pos(where);
    const NextToken next = PeekToken(in_, &pos);
    if (which == kOperandWhat || which == kEndWhat) {
      if (next == NextToken::kRightParen) {
        Fail(pos, "unexpected right parenthesis ')'");
      }
      FailUnexpected(in_, pos, "", in_bracket_);
    }
    if (which == kParenWhat) {
      if (next == NextToken::kEnd) {
        Fail(open_parens_.back(), "unclosed left parenthesis");
      }
      FailUnexpected(in_, pos, "in paren expression, expected \")\"",
                     in_bracket_);
    }
    if (which == kArgsOpenWhat || which == kArgsCloseWhat) {
      const CallFrame& f = frames_.back();
      const char* context =
          f.is_aggregate ? "in aggregation" : "in call to function";
      if (which == kArgsOpenWhat) FailUnexpected(in_, pos, context);
      if (next == NextToken::kEnd) {
        Fail(f.open_pos, "unclosed left parenthesis");
      }
      FailUnexpected(in_, pos,
                     absl::StrCat(context, ", expected \",\" or \")\""));
    }
    FailUnexpected(in_, pos, which, in_bracket_);
  }

 private:
  void Push(ExprPtr e, int height) { stack_.push_back({std::move(e), height}); }
  Item Pop() {
    Item i = std::move(stack_.back());
    stack_.pop_back();
    return i;
  }

  double ConvertNumberAt(const Range& r) {
    double v = 0;
    if (!ConvertNumber(Text(r), &v)) {
      Fail(Pos(r.begin()), absl::StrCat("error parsing number: \"",
                                        std::string(Text(r)), "\""));
    }
    return v;
  }

  std::string Unquote(const Range& r) {
    size_t off = 0;
    auto s = UnquoteGoString(absl::string_view(r.begin(), r.size()), &off);
    if (!s.ok()) {
      Fail(Pos(r.begin()) + static_cast<int>(off),
           std::string(s.status().message()));
    }
    return *std::move(s);
  }

  int64_t Duration(const Range& r) {
    auto ms = ParseDuration(absl::string_view(r.begin(), r.size()));
    if (!ms.ok()) Fail(Pos(r.begin()), std::string(ms.status().message()));
    // Prometheus rejects zero ranges, steps and offsets in queries.
    if (*ms == 0) Fail(Pos(r.begin()), "duration must be greater than 0");
    return *ms;
  }

  void ApplyAt(AtModifier mod, int64_t ts_ms) {
    Expr* e = stack_.back().e.get();
    AtModifier* target_mod = nullptr;
    int64_t* target_ms = nullptr;
    switch (e->kind) {
      case ExprKind::kVectorSelector: {
        auto* vs = static_cast<VectorSelector*>(e);
        target_mod = &vs->at;
        target_ms = &vs->at_ms;
        break;
      }
      case ExprKind::kMatrixSelector: {
        auto* vs = static_cast<MatrixSelector*>(e)->vector.get();
        target_mod = &vs->at;
        target_ms = &vs->at_ms;
        break;
      }
      case ExprKind::kSubquery: {
        auto* sq = static_cast<SubqueryExpr*>(e);
        target_mod = &sq->at;
        target_ms = &sq->at_ms;
        break;
      }
      default:
        Fail(e->pos_start,
             "@ modifier must be preceded by an instant vector selector or "
             "range vector selector or a subquery");
    }
    if (*target_mod != AtModifier::kNone) {
      Fail(e->pos_start, "@ <timestamp> may not be set multiple times");
    }
    *target_mod = mod;
    *target_ms = ts_ms;
    e->pos_end = last_end_;
  }

  std::string_view in_;
  // Inline capacities cover typical queries without heap allocation.
  absl::InlinedVector<Item, 8> stack_;  // finished operands
  absl::InlinedVector<std::unique_ptr<BinaryExpr>, 8> ops_;  // awaiting rhs
  absl::InlinedVector<std::pair<char, int>, 4>
      signs_;  // unary signs, positions
  absl::InlinedVector<CallFrame, 4> frames_;
  absl::InlinedVector<int, 8> open_parens_;
  const int stack_levels_;
  int depth_ = 0;
  WordKind word_kind_ = WordKind::kName;
  int last_end_ = 0;  // end of the last token an action saw

  // The selector being parsed (selectors do not nest).
  std::string sel_name_;
  int sel_start_ = 0;
  std::vector<tsdb::Matcher> matchers_;
  std::string label_;
  tsdb::MatchType match_type_ = tsdb::MatchType::kEqual;

  // Labels of the grouping list being parsed (lists do not nest).
  std::vector<std::string> labels_;

  // The [range:step], offset or @ being parsed.
  bool in_bracket_ = false;
  int bracket_pos_ = 0;
  int64_t range_ms_ = 0;
  int64_t step_ms_ = 0;
  bool negative_ = false;
  AtModifier at_mod_ = AtModifier::kNone;
};

// ---------------------------------------------------------------------------
// Grammar plumbing.

struct BuilderTag;

template <typename Context>
Builder& GetBuilder(const Context& ctx) {
  return x3::get<BuilderTag>(ctx).get();
}

// Semantic actions: `Do(&Builder::Method)` calls the method with the matched
// text (x3::raw) or with nothing.
template <typename... Args>
auto Do(void (Builder::*method)(Args...)) {
  return [method](auto& ctx) {
    Builder& b = GetBuilder(ctx);
    if constexpr (sizeof...(Args) == 0) {
      (b.*method)();
    } else {
      (b.*method)(x3::_attr(ctx));
    }
  };
}
template <typename T>
auto Do(void (Builder::*method)(T), T value) {
  return [method, value](auto& ctx) { (GetBuilder(ctx).*method)(value); };
}

// nest[p]: p is one level deeper in the tree; deeper than kMaxDepth is an
// error at the position where the level starts.
template <typename Subject>
struct NestDirective : x3::unary_parser<Subject, NestDirective<Subject>> {
  using base_type = x3::unary_parser<Subject, NestDirective<Subject>>;
  static const bool is_pass_through_unary = true;
  constexpr NestDirective(const Subject& subject) : base_type(subject) {}

  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, const It& last, const Ctx& ctx, RCtx& rctx,
             Attr& attr) const {
    x3::skip_over(first, last, ctx);
    Builder& b = GetBuilder(ctx);
    b.Enter(b.Pos(first));
    const bool ok = this->subject.parse(first, last, ctx, rctx, attr);
    b.Leave();
    return ok;
  }
};
struct NestGen {
  template <typename Subject>
  constexpr NestDirective<
      typename x3::extension::as_parser<Subject>::value_type>
  operator[](const Subject& subject) const {
    return {x3::as_parser(subject)};
  }
};
constexpr NestGen nest{};

// An expectation point named `what` (the error context).
struct ExpectId;
template <typename P>
constexpr auto Expect(const char* what, const P& p) {
  return x3::expect[x3::rule<ExpectId>{what} = p];
}

constexpr lexical::Keyword Kw(const char* word) {
  return lexical::Keyword(word);
}

// Tokens, as the text they cover.
const auto number_tok =
    x3::raw[x3::lexeme[lexical::number >> !lexical::word_char]];
const auto duration_tok =
    x3::raw[x3::lexeme[lexical::duration >> !lexical::word_char]];
const auto string_tok = x3::raw[x3::lexeme[lexical::string]];
const auto name_tok = x3::raw[x3::lexeme[lexical::metric_name]];
const auto label_tok =
    x3::raw[x3::lexeme[lexical::label_name >> !x3::lit(':')]];
const auto match_op_tok =
    x3::raw[x3::lexeme[x3::lit("=~") | x3::lit("!=") | x3::lit("!~") |
                       (x3::lit('=') >> !x3::lit('='))]];
template <typename P>
constexpr auto Tok(const P& p) {
  return x3::raw[p];
}

// ---------------------------------------------------------------------------
// Rules.

x3::rule<class ExprId> const expr = "expression";
x3::rule<class OrId> const or_expr = "or expression";
x3::rule<class AndId> const and_expr = "and expression";
x3::rule<class CmpId> const cmp_expr = "comparison";
x3::rule<class AddId> const add_expr = "additive expression";
x3::rule<class MulId> const mul_expr = "multiplicative expression";
x3::rule<class UnaryId> const unary_expr = "unary expression";
x3::rule<class PowId> const pow_expr = "power expression";
x3::rule<class PostfixId> const postfix_expr = "postfix expression";
x3::rule<class PrimaryId> const primary = "operand";
x3::rule<class ParenId> const paren_expr = "paren expression";
x3::rule<class CallId> const call_expr = "function call";
x3::rule<class AggId> const agg_expr = "aggregation";
x3::rule<class ArgsId> const args = "arguments";
x3::rule<class MatchersId> const matchers = "label matchers";
x3::rule<class GroupingId> const grouping = "grouping labels";
x3::rule<class BinModsId> const bin_modifiers = "binary modifiers";
x3::rule<class PostfixOpId> const postfix_op = "postfix modifier";
x3::rule<class SelectorOnlyId> const selector_only = "metric selector";
x3::rule<class TopId> const top = "query";

// `(a, b, ...)` after by/without/on/ignoring/group_*. Any name without ':'
// is a label here, keywords included.
const auto grouping_label = Expect("in grouping opts, expected label",
                                   label_tok[Do(&Builder::AddLabel)]);
const auto close_labels = Tok(x3::lit(')'))[Do(&Builder::CloseLabels)];
const auto grouping_def =
    Expect("in grouping opts, expected \"(\"",
           x3::lit('(')[Do(&Builder::ClearLabels)]) >>
    (close_labels |
     (grouping_label >> *(x3::lit(',') >> (&x3::lit(')') | grouping_label)) >>
      Expect("in grouping opts, expected \",\" or \")\"", close_labels)));

// `{name op "value", ...}`; a trailing comma is allowed.
const auto matcher =
    Expect("in label matching, expected label",
           label_tok[Do(&Builder::SetLabel)]) >>
    Expect("in label matching, expected label matching operator",
           match_op_tok[Do(&Builder::SetMatchOp)]) >>
    Expect("in label matching, expected string",
           string_tok[Do(&Builder::AddMatcher)]);
const auto close_brace = Tok(x3::lit('}'))[Do(&Builder::CloseBrace)];
const auto matchers_def =
    x3::lit('{') >>
    (close_brace |
     (matcher >> *(x3::lit(',') >> (&x3::lit('}') | matcher)) >>
      Expect("in label matching, expected \",\" or \"}\"", close_brace)));

const auto named_selector = (name_tok[Do(&Builder::BeginNamedSelector)] >>
                             -matchers)[Do(&Builder::FinishSelector)];
const auto brace_selector =
    (Tok(&x3::lit('{'))[Do(&Builder::BeginUnnamedSelector)] >>
     matchers)[Do(&Builder::FinishSelector)];

// `( expr, expr, ... )`; a trailing comma is allowed.
const auto close_args = Tok(x3::lit(')'))[Do(&Builder::CloseArgs)];
const auto args_def =
    x3::expect[x3::rule<ExpectId>{kArgsOpenWhat} =
                   Tok(x3::lit('('))[Do(&Builder::OpenArgs)]] >>
    (close_args |
     (expr >> *(x3::lit(',') >> (&x3::lit(')') | expr)) >>
      x3::expect[x3::rule<ExpectId>{kArgsCloseWhat} = close_args]));

const auto call_expr_def =
    (name_tok[Do(&Builder::BeginCall)] >> args)[Do(&Builder::FinishCall)];

// `sum by (a) (x)` or `sum (x) by (a)`; only one grouping clause.
const auto grouping_clause =
    (Kw("by")[Do(&Builder::SetGroupingKind, false)] |
     Kw("without")[Do(&Builder::SetGroupingKind, true)]) >>
    grouping[Do(&Builder::SetGrouping)];
const auto not_grouped =
    x3::eps[([](auto& ctx) { x3::_pass(ctx) = !GetBuilder(ctx).Grouped(); })];
const auto agg_expr_def =
    (name_tok[Do(&Builder::BeginAggregate)] >> -grouping_clause >> args >>
     -(not_grouped >> grouping_clause))[Do(&Builder::FinishAggregate)];

const auto paren_expr_def =
    Tok(x3::lit('('))[Do(&Builder::OpenParen)] >> expr >>
    x3::expect[x3::rule<ExpectId>{kParenWhat} =
                   Tok(x3::lit(')'))[Do(&Builder::CloseParen)]];

// A name is classified once (Builder::ClassifyWord); the branch predicates
// then pick the alternative. Operator keywords (and, on, bool, ...) match
// no branch and fail as an unexpected token.
auto WordIs(Builder::WordKind kind) {
  return x3::eps[([kind](auto& ctx) {
    x3::_pass(ctx) = GetBuilder(ctx).word_kind() == kind;
  })];
}
const auto name_operand = &name_tok[Do(&Builder::ClassifyWord)] >>
                          ((WordIs(Builder::WordKind::kInfNan) >>
                            name_tok[Do(&Builder::PushInfNan)]) |
                           (WordIs(Builder::WordKind::kAggregate) >> agg_expr) |
                           (WordIs(Builder::WordKind::kCall) >> call_expr) |
                           (WordIs(Builder::WordKind::kName) >>
                            named_selector));

const auto primary_def = number_tok[Do(&Builder::PushNumber)] |
                         string_tok[Do(&Builder::PushString)] | paren_expr |
                         brace_selector | name_operand;

// `[5m]`, `[1h:5m]`, `offset -5m`, `@ 123`, `@ start()`.
const auto range_or_subquery =
    Tok(x3::lit('['))[Do(&Builder::OpenBracket)] >>
    Expect("in subquery or range selector, expected duration",
           duration_tok[Do(&Builder::SetRange)]) >>
    (Tok(x3::lit(']'))[Do(&Builder::MakeRange)] |
     (Expect("in subquery or range selector, expected \"]\" or \":\"",
             x3::lit(':')) >>
      -duration_tok[Do(&Builder::SetStep)] >>
      Expect("in subquery, expected \"]\"",
             Tok(x3::lit(']'))[Do(&Builder::MakeSubquery)])));
const auto offset_modifier = Kw("offset")[Do(&Builder::SetNegative, false)] >>
                             -x3::lit('-')[Do(&Builder::SetNegative, true)] >>
                             Expect("in offset, expected duration",
                                    duration_tok[Do(&Builder::ApplyOffset)]);
const auto at_modifier =
    x3::lit('@')[Do(&Builder::SetNegative, false)] >>
    (((Kw("start")[Do(&Builder::SetAtModifier, AtModifier::kStart)] |
       Kw("end")[Do(&Builder::SetAtModifier, AtModifier::kEnd)]) >>
      Expect("in @, expected \"(\"", x3::lit('(')) >>
      Expect("in @, expected \")\"",
             Tok(x3::lit(')'))[Do(&Builder::ApplyAtStartEnd)])) |
     (-(x3::lit('-')[Do(&Builder::SetNegative, true)] | x3::lit('+')) >>
      Expect("in @, expected timestamp",
             number_tok[Do(&Builder::ApplyAtTimestamp)])));
const auto postfix_op_def = range_or_subquery | offset_modifier | at_modifier;

const auto postfix_expr_def =
    x3::expect[x3::rule<ExpectId>{kOperandWhat} = primary] >> *postfix_op;

// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`.
const auto bin_modifiers_def = -Kw("bool")[([](auto& ctx) {
  GetBuilder(ctx).PendingBinary().return_bool = true;
})] >> -((Kw("on")[Do(&Builder::SetMatching, true)] |
          Kw("ignoring")[Do(&Builder::SetMatching, false)]) >>
         grouping[Do(&Builder::SetMatchingLabels)] >>
         -((Kw("group_left")[([](auto& ctx) {
              GetBuilder(ctx).PendingBinary().matching.card =
                  Cardinality::kManyToOne;
            })] |
            Kw("group_right")[([](auto& ctx) {
              GetBuilder(ctx).PendingBinary().matching.card =
                  Cardinality::kOneToMany;
            })]) >>
           -(&x3::lit('(') >> grouping[Do(&Builder::SetIncludeLabels)])));

auto Op(BinaryOp op) { return Do(&Builder::StartBinary, op); }

const auto or_op = Kw("or")[Op(BinaryOp::kOr)];
const auto and_op =
    Kw("and")[Op(BinaryOp::kAnd)] | Kw("unless")[Op(BinaryOp::kUnless)];
const auto cmp_op =
    x3::lit("==")[Op(BinaryOp::kEql)] | x3::lit("!=")[Op(BinaryOp::kNeq)] |
    x3::lit(">=")[Op(BinaryOp::kGte)] | x3::lit("<=")[Op(BinaryOp::kLte)] |
    x3::lit('>')[Op(BinaryOp::kGtr)] | x3::lit('<')[Op(BinaryOp::kLss)];
const auto add_op =
    x3::lit('+')[Op(BinaryOp::kAdd)] | x3::lit('-')[Op(BinaryOp::kSub)];
const auto mul_op =
    x3::lit('*')[Op(BinaryOp::kMul)] | x3::lit('/')[Op(BinaryOp::kDiv)] |
    x3::lit('%')[Op(BinaryOp::kMod)] | Kw("atan2")[Op(BinaryOp::kAtan2)];
const auto pow_op = x3::lit('^')[Op(BinaryOp::kPow)];

const auto reduce_binary = Do(&Builder::ReduceBinary);

const auto or_expr_def = and_expr >> *((or_op >> bin_modifiers >>
                                        nest[and_expr])[reduce_binary]);
const auto and_expr_def = cmp_expr >> *((and_op >> bin_modifiers >>
                                         nest[cmp_expr])[reduce_binary]);
const auto cmp_expr_def = add_expr >> *((cmp_op >> bin_modifiers >>
                                         nest[add_expr])[reduce_binary]);
const auto add_expr_def = mul_expr >> *((add_op >> bin_modifiers >>
                                         nest[mul_expr])[reduce_binary]);
const auto mul_expr_def = unary_expr >> *((mul_op >> bin_modifiers >>
                                           nest[unary_expr])[reduce_binary]);
const auto unary_expr_def =
    (Tok(x3::lit('-') | x3::lit('+'))[Do(&Builder::PushSign)] >>
     nest[unary_expr])[Do(&Builder::ReduceUnary)] |
    pow_expr;
// Right-associative: the right operand recurses.
const auto pow_expr_def = postfix_expr >> -((pow_op >> bin_modifiers >>
                                             nest[unary_expr])[reduce_binary]);

const auto expr_def = nest[or_expr];

const auto top_def = expr >> x3::expect[x3::rule<ExpectId>{kEndWhat} = x3::eoi];

// The HTTP API's match[]: a name (any word) and/or braces, nothing else.
const auto selector_only_def =
    x3::expect[x3::rule<ExpectId>{"expected metric selector"} =
                   (named_selector | brace_selector)] >>
    x3::expect[x3::rule<ExpectId>{""} = x3::eoi];

BOOST_SPIRIT_DEFINE(expr, or_expr, and_expr, cmp_expr, add_expr, mul_expr,
                    unary_expr, pow_expr, postfix_expr, primary, paren_expr,
                    call_expr, agg_expr, args, matchers, grouping,
                    bin_modifiers, postfix_op, selector_only, top);

template <typename Rule>
void Run(Builder& b, std::string_view in, const Rule& rule) {
  const char* first = in.data();
  const char* const last = in.data() + in.size();
  try {
    const bool ok = x3::phrase_parse(
        first, last, x3::with<BuilderTag>(std::ref(b))[rule], lexical::skipper);
    // Every failure after the first token is an expectation point, so a
    // plain mismatch means nothing matched at all.
    if (!ok) FailUnexpected(in, 0, "");
  } catch (const x3::expectation_failure<const char*>& e) {
    b.OnExpectationFailure(e.where(), e.which());
  }
}

}  // namespace

ExprPtr ParseTree(std::string_view in, int stack_levels) {
  int start = 0;
  if (PeekToken(in, &start) == NextToken::kEnd) {
    Fail(0, "no expression found in input");
  }
  Builder b(in, stack_levels);
  Run(b, in, top);
  return b.TakeResult();
}

std::unique_ptr<VectorSelector> ParseSelectorTree(std::string_view in) {
  Builder b(in, kMaxDepth);
  Run(b, in, selector_only);
  return b.TakeSelector();
}

}  // namespace vigil::promql::internal
