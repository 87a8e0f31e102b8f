// The table of PromQL functions the parser knows: argument types, how many
// trailing arguments are optional, and the result type. The engine keeps its
// own implementations keyed by the same names; this table is what type
// checking and Call::return_type come from.
//
//   const FunctionSignature* f = LookupFunction("rate");
//   // f->arg_types == {kMatrix}, f->return_type == kVector
#ifndef VIGIL_PROMQL_PARSER_FUNCTIONS_H_
#define VIGIL_PROMQL_PARSER_FUNCTIONS_H_

#include <string_view>
#include <vector>

#include "promql/parser/ast.h"

namespace vigil::promql {

struct FunctionSignature {
  std::string_view name;
  std::vector<ValueType> arg_types;
  // 0: exactly arg_types.size() arguments. n > 0: the last entry of
  // arg_types is optional and may repeat up to n times. -1: the last entry
  // may repeat without limit (label_join's source labels).
  int variadic = 0;
  ValueType return_type = ValueType::kVector;
};

// Returns nullptr for an unknown name. Names are case-sensitive, as in
// Prometheus. The returned pointer is valid for the life of the program.
const FunctionSignature* LookupFunction(std::string_view name);

// Every known function, sorted by name.
const std::vector<FunctionSignature>& AllFunctions();

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_PARSER_FUNCTIONS_H_
