#include "promql/parser/go_string.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vigil::promql {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Byte length of the UTF-8 sequence starting with `c` (1 for invalid), so
// an error message quotes a whole character.
size_t Utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

absl::Status Error(size_t at, size_t* error_offset, std::string msg) {
  if (error_offset != nullptr) *error_offset = at;
  return absl::InvalidArgumentError(std::move(msg));
}

}  // namespace

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

absl::StatusOr<std::string> UnquoteGoString(absl::string_view in,
                                            size_t* error_offset) {
  if (in.empty() || (in[0] != '"' && in[0] != '\'' && in[0] != '`')) {
    return Error(0, error_offset, "string literal must start with a quote");
  }
  const char quote = in[0];
  std::string value;
  size_t i = 1;
  if (quote == '`') {
    const size_t close = in.find('`', 1);
    if (close == absl::string_view::npos) {
      return Error(0, error_offset, "unterminated raw string");
    }
    if (close + 1 != in.size()) {
      return Error(close + 1, error_offset, "text after string literal");
    }
    return std::string(in.substr(1, close - 1));
  }
  // Fast path: no escapes.
  size_t j = 1;
  while (j < in.size() && in[j] != quote && in[j] != '\\' && in[j] != '\n') {
    ++j;
  }
  if (j + 1 == in.size() && in[j] == quote) {
    return std::string(in.substr(1, j - 1));
  }
  value.reserve(in.size());
  for (;;) {
    if (i >= in.size() || in[i] == '\n') {
      return Error(0, error_offset, "unterminated quoted string");
    }
    const char c = in[i];
    if (c == quote) break;
    if (c != '\\') {
      value.push_back(c);
      ++i;
      continue;
    }
    const size_t esc = i++;
    if (i >= in.size()) {
      return Error(0, error_offset, "unterminated quoted string");
    }
    const char e = in[i++];
    switch (e) {
      case 'a':
        value.push_back('\a');
        continue;
      case 'b':
        value.push_back('\b');
        continue;
      case 'f':
        value.push_back('\f');
        continue;
      case 'n':
        value.push_back('\n');
        continue;
      case 'r':
        value.push_back('\r');
        continue;
      case 't':
        value.push_back('\t');
        continue;
      case 'v':
        value.push_back('\v');
        continue;
      case '\\':
        value.push_back('\\');
        continue;
      default:
        break;
    }
    // Only the literal's own quote may be escaped, as in Go.
    if (e == quote) {
      value.push_back(e);
      continue;
    }
    if (e >= '0' && e <= '7') {
      int v = e - '0';
      for (int k = 0; k < 2; ++k) {
        if (i >= in.size() || in[i] < '0' || in[i] > '7') {
          return Error(esc, error_offset,
                       "invalid octal escape sequence in string");
        }
        v = v * 8 + (in[i++] - '0');
      }
      if (v > 255) {
        return Error(esc, error_offset, "octal escape value > 255 in string");
      }
      value.push_back(static_cast<char>(v));
      continue;
    }
    const int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0) {
      const size_t n = std::min(Utf8Length(static_cast<unsigned char>(e)),
                                in.size() - i + 1);
      return Error(esc, error_offset,
                   absl::StrCat("unknown escape sequence '",
                                in.substr(i - 1, n), "' in string"));
    }
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      const int h = i < in.size() ? HexValue(in[i]) : -1;
      if (h < 0) {
        return Error(esc, error_offset,
                     "invalid hex escape sequence in string");
      }
      v = v * 16 + static_cast<uint32_t>(h);
      ++i;
    }
    if (e == 'x') {
      // \x is a byte, not a code point.
      value.push_back(static_cast<char>(v));
    } else {
      if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) {
        return Error(esc, error_offset,
                     "escape sequence is an invalid Unicode code point");
      }
      AppendUtf8(v, &value);
    }
  }
  if (i + 1 != in.size()) {
    return Error(i + 1, error_offset, "text after string literal");
  }
  return value;
}

}  // namespace vigil::promql
