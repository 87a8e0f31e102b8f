// The PromQL syntax tree produced by the parser and walked by the engine.
// Nodes are immutable after parsing and owned by their parent through
// unique_ptr; the root is owned by the caller (or the engine's parse cache,
// which shares it read-only between threads).
#ifndef VIGIL_PROMQL_PARSER_AST_H_
#define VIGIL_PROMQL_PARSER_AST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tsdb/matcher.h"

namespace vigil::promql {

enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };

// "scalar", "instant vector", "range vector", "string" — the words
// Prometheus uses in type errors.
const char* ValueTypeName(ValueType t);

enum class ExprKind {
  kNumber,
  kString,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kParen,
  kUnary,
  kBinary,
  kCall,
  kAggregate,
};

struct Expr {
  explicit Expr(ExprKind k) : kind(k) {}
  virtual ~Expr() = default;
  // The static type of the expression's result.
  virtual ValueType Type() const = 0;

  const ExprKind kind;
  // Byte offsets of this node in the query text, for error messages.
  int pos_start = 0;
  int pos_end = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct NumberLiteral : Expr {
  NumberLiteral() : Expr(ExprKind::kNumber) {}
  ValueType Type() const override { return ValueType::kScalar; }
  double value = 0;
};

struct StringLiteral : Expr {
  StringLiteral() : Expr(ExprKind::kString) {}
  ValueType Type() const override { return ValueType::kString; }
  std::string value;  // unescaped
};

// The `@` modifier: a fixed timestamp, or the query's start()/end().
enum class AtModifier { kNone, kTimestamp, kStart, kEnd };

struct VectorSelector : Expr {
  VectorSelector() : Expr(ExprKind::kVectorSelector) {}
  ValueType Type() const override { return ValueType::kVector; }
  std::string name;  // metric name if given outside braces, else ""
  // All matchers, including __name__="name" when a name was given.
  std::vector<tsdb::Matcher> matchers;
  int64_t offset_ms = 0;  // may be negative
  AtModifier at = AtModifier::kNone;
  int64_t at_ms = 0;  // when at == kTimestamp
};

struct MatrixSelector : Expr {
  MatrixSelector() : Expr(ExprKind::kMatrixSelector) {}
  ValueType Type() const override { return ValueType::kMatrix; }
  std::unique_ptr<VectorSelector> vector;  // carries offset and @
  int64_t range_ms = 0;
};

struct SubqueryExpr : Expr {
  SubqueryExpr() : Expr(ExprKind::kSubquery) {}
  ValueType Type() const override { return ValueType::kMatrix; }
  ExprPtr expr;
  int64_t range_ms = 0;
  int64_t step_ms = 0;  // 0: use the engine's default evaluation interval
  int64_t offset_ms = 0;
  AtModifier at = AtModifier::kNone;
  int64_t at_ms = 0;
};

struct ParenExpr : Expr {
  ParenExpr() : Expr(ExprKind::kParen) {}
  ValueType Type() const override { return expr->Type(); }
  ExprPtr expr;
};

struct UnaryExpr : Expr {
  UnaryExpr() : Expr(ExprKind::kUnary) {}
  ValueType Type() const override { return expr->Type(); }
  char op = '-';  // '-' or '+'
  ExprPtr expr;
};

enum class BinaryOp {
  kAdd, kSub, kMul, kDiv, kMod, kPow,
  kEql, kNeq, kGtr, kLss, kGte, kLte,
  kAnd, kOr, kUnless,
  kAtan2,
};
const char* BinaryOpString(BinaryOp op);
bool IsComparisonOp(BinaryOp op);
bool IsSetOp(BinaryOp op);  // and, or, unless

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  // Labels of on(...) (on == true) or ignoring(...) (on == false).
  std::vector<std::string> matching_labels;
  bool on = false;
  // Extra labels copied from the "one" side by group_left/group_right(...).
  std::vector<std::string> include;
};

struct BinaryExpr : Expr {
  BinaryExpr() : Expr(ExprKind::kBinary) {}
  ValueType Type() const override {
    if (lhs->Type() == ValueType::kScalar && rhs->Type() == ValueType::kScalar)
      return ValueType::kScalar;
    return ValueType::kVector;
  }
  BinaryOp op = BinaryOp::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
  bool return_bool = false;  // comparison with the `bool` modifier
  // Set when both sides are vectors (set operators get kManyToMany).
  bool has_matching = false;
  VectorMatching matching;
};

struct Call : Expr {
  Call() : Expr(ExprKind::kCall) {}
  ValueType Type() const override { return return_type; }
  std::string func;  // lower-case function name as written
  std::vector<ExprPtr> args;
  ValueType return_type = ValueType::kVector;
};

enum class AggregateOp {
  kSum, kAvg, kMin, kMax, kCount, kStddev, kStdvar,
  kTopK, kBottomK, kQuantile, kCountValues, kGroup,
};
const char* AggregateOpString(AggregateOp op);

struct AggregateExpr : Expr {
  AggregateExpr() : Expr(ExprKind::kAggregate) {}
  ValueType Type() const override { return ValueType::kVector; }
  AggregateOp op = AggregateOp::kSum;
  ExprPtr expr;
  ExprPtr param;  // topk/bottomk/quantile/count_values, else null
  std::vector<std::string> grouping;
  bool without = false;
};

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_PARSER_AST_H_
