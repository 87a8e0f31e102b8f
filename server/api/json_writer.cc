#include "server/api/json_writer.h"

#include <charconv>
#include <cmath>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace vigil::server::api {

void AppendGoFloat(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  // Fixed notation with the fewest digits that round-trip; the largest
  // double needs 309 integer digits, the smallest ~770 fraction digits.
  char buf[800];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out->append(buf, r.ptr - buf);
}

void AppendTimestamp(std::string* out, int64_t ms) {
  uint64_t t;
  if (ms < 0) {
    out->push_back('-');
    t = static_cast<uint64_t>(-(ms + 1)) + 1;
  } else {
    t = static_cast<uint64_t>(ms);
  }
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, t / 1000);
  out->append(buf, r.ptr - buf);
  unsigned frac = static_cast<unsigned>(t % 1000);
  if (frac != 0) {
    out->push_back('.');
    out->push_back(static_cast<char>('0' + frac / 100));
    out->push_back(static_cast<char>('0' + frac / 10 % 10));
    out->push_back(static_cast<char>('0' + frac % 10));
  }
}

void AppendJsonString(std::string* out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t start = 0;
  auto flush = [&](size_t i) { out->append(s.data() + start, i - start); };
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      default:
        break;
    }
    if (esc != nullptr) {
      flush(i);
      out->append(esc);
      start = i + 1;
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      flush(i);
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
      start = i + 1;
    } else if (c == 0xE2 && i + 2 < s.size() &&
               static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
      // U+2028 / U+2029 break JavaScript string literals; Go escapes them.
      flush(i);
      out->append((static_cast<unsigned char>(s[i + 2]) == 0xA8) ? "\\u2028"
                                                                 : "\\u2029");
      i += 2;
      start = i + 1;
    }
  }
  flush(s.size());
  out->push_back('"');
}

void JsonWriter::Separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_element_.empty()) {
    if (has_element_.back()) out_->push_back(',');
    has_element_.back() = true;
  }
}

void JsonWriter::Open(char c) {
  Separate();
  out_->push_back(c);
  has_element_.push_back(false);
}

void JsonWriter::Close(char c) {
  out_->push_back(c);
  has_element_.pop_back();
}

void JsonWriter::Key(absl::string_view key) {
  Separate();
  AppendJsonString(out_, key);
  out_->push_back(':');
  after_key_ = true;
}

void JsonWriter::String(absl::string_view s) {
  Separate();
  AppendJsonString(out_, s);
}

void JsonWriter::Int(int64_t v) {
  Separate();
  absl::StrAppend(out_, v);
}

void JsonWriter::Double(double v) {
  Separate();
  if (!std::isfinite(v)) {
    out_->append("null");
    return;
  }
  // Go's encoding/json: 'f' format in [1e-6, 1e21), else 'e' with a
  // single-digit exponent where possible ("1e-7", not "1e-07").
  double a = std::fabs(v);
  if (a == 0 || (a >= 1e-6 && a < 1e21)) {
    AppendGoFloat(out_, v);
    return;
  }
  char buf[64];
  auto r =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, r.ptr - buf);
  size_t e = s.find('e');
  out_->append(s.data(), e + 2);  // mantissa, 'e', sign
  std::string_view digits = s.substr(e + 2);
  if (digits.size() == 2 && digits[0] == '0') digits.remove_prefix(1);
  out_->append(digits.data(), digits.size());
}

void JsonWriter::Bool(bool b) {
  Separate();
  out_->append(b ? "true" : "false");
}

void JsonWriter::Null() {
  Separate();
  out_->append("null");
}

void JsonWriter::Raw(absl::string_view json) {
  Separate();
  out_->append(json.data(), json.size());
}

void JsonWriter::SampleValue(double v) {
  Separate();
  out_->push_back('"');
  AppendGoFloat(out_, v);
  out_->push_back('"');
}

void JsonWriter::Timestamp(int64_t ms) {
  Separate();
  AppendTimestamp(out_, ms);
}

void JsonWriter::LabelSet(const tsdb::Labels& labels) {
  Separate();
  out_->push_back('{');
  bool first = true;
  for (const tsdb::Label& l : labels) {
    if (!first) out_->push_back(',');
    first = false;
    AppendJsonString(out_, l.name);
    out_->push_back(':');
    AppendJsonString(out_, l.value);
  }
  out_->push_back('}');
}

}  // namespace vigil::server::api
