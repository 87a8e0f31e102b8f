// Go string literals as PromQL writes them: "double" and 'single' quoted with
// Go escapes (\n, \x41, \101, \u00e9, \U0001F600, \" or \'), and `raw`
// without escapes. One implementation shared by the PromQL parser and the
// relabeling code (which needs the UTF-8 encoder).
//
//   absl::StatusOr<std::string> s = UnquoteGoString(R"("a\tb")");  // "a<TAB>b"
#ifndef VIGIL_PROMQL_PARSER_GO_STRING_H_
#define VIGIL_PROMQL_PARSER_GO_STRING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::promql {

// Decodes `literal`, which must start with its opening quote (", ' or `).
// Text after the closing quote is an error. On failure returns
// InvalidArgument with Prometheus's wording ("unterminated quoted string",
// "unknown escape sequence 'q' in string", ...) and, when `error_offset` is
// not null, stores the byte offset in `literal` the error refers to (the
// opening quote, or the backslash of a bad escape).
absl::StatusOr<std::string> UnquoteGoString(absl::string_view literal,
                                            size_t* error_offset = nullptr);

// Appends the UTF-8 encoding of code point `cp` (<= 0x10FFFF) to `out`.
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_PARSER_GO_STRING_H_
