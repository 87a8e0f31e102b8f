#include "promql/value.h"

namespace vigil::promql {

const char* ResultTypeName(const Value& v) {
  switch (v.index()) {
    case 0:
      return "scalar";
    case 1:
      return "vector";
    case 2:
      return "matrix";
    case 3:
      return "string";
  }
  return "unknown";
}

}  // namespace vigil::promql
