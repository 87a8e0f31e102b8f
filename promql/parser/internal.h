// Pieces shared by the parser's translation units: the error type that
// travels through the grammar, token descriptions for "unexpected ..."
// messages, and the grammar's entry points. Not part of the public API.
#ifndef VIGIL_PROMQL_PARSER_INTERNAL_H_
#define VIGIL_PROMQL_PARSER_INTERNAL_H_

#include <memory>
#include <string>
#include <string_view>

#include "promql/parser/ast.h"

namespace vigil::promql::internal {

// A parse or type error at byte offset `pos`. Thrown inside the parser and
// caught by the public entry points, so no exception crosses the API and the
// happy path throws nothing.
struct ParseFailure {
  int pos;
  std::string msg;
};

[[noreturn]] void Fail(int pos, std::string msg);

// Deeper trees are rejected: recursion (in the grammar, the engine and the
// destructors) stays far below any stack limit.
constexpr int kMaxDepth = 1000;

// Throws the error for an unexpected token at `pos` (after skipping blanks
// and comments): "unexpected <what> <context>", or the token's own error when
// the text there is not a token at all ("unexpected character: '$'",
// "unterminated quoted string"). `in_bracket`: inside [...], where ':'
// separates range and step instead of being part of a name.
[[noreturn]] void FailUnexpected(std::string_view in, int pos,
                                 std::string_view context,
                                 bool in_bracket = false);

// What the text starts with after blanks and comments at `*pos`, as far as
// error messages care. Advances `*pos` past the blanks.
enum class NextToken { kEnd, kRightParen, kOther };
NextToken PeekToken(std::string_view in, int* pos);

// Go's strconv.ParseInt(s, 0, 64) then ParseFloat, as Prometheus converts
// number literals: "0x1F" is hex, "017" octal, everything else decimal.
// False when the value does not fit.
bool ConvertNumber(std::string_view text, double* out);

// Whether `s` equals `lower_kw` ignoring ASCII case.
bool IsWord(std::string_view s, std::string_view lower_kw);

// Whether `word` (any case) names an aggregation operator, and which.
bool IsAggregateWord(std::string_view word, AggregateOp* op);
// Operator keywords that can never start an operand (and, on, bool, ...).
bool IsReservedWord(std::string_view word);

// Thrown by ParseTree when the input nests deeper than its `stack_levels`
// allowance: the caller retries on a thread with a larger stack.
struct NeedsLargeStack {};

// The X3 grammar (grammar.cc). Both throw ParseFailure. ParseTree recurses
// at most `stack_levels` (<= kMaxDepth) levels deep, else throws
// NeedsLargeStack.
ExprPtr ParseTree(std::string_view in, int stack_levels = kMaxDepth);
std::unique_ptr<VectorSelector> ParseSelectorTree(std::string_view in);

}  // namespace vigil::promql::internal

#endif  // VIGIL_PROMQL_PARSER_INTERNAL_H_
