#include "server/api/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace vigil::server::api {

namespace {

// Fixed notation with the fewest digits that round-trip needs up to 309
// integer digits (the largest double) or ~770 fraction digits (the
// smallest).
constexpr size_t kMaxGoFloat = 800;
constexpr size_t kMaxTimestamp = 26;

// AppendGoFloat into buf (kMaxGoFloat bytes); returns the end.
char* FormatGoFloat(char* buf, double v) {
  if (std::isnan(v)) {
    std::memcpy(buf, "NaN", 3);
    return buf + 3;
  }
  if (std::isinf(v)) {
    std::memcpy(buf, v > 0 ? "+Inf" : "-Inf", 4);
    return buf + 4;
  }
  return std::to_chars(buf, buf + kMaxGoFloat, v, std::chars_format::fixed).ptr;
}

// AppendTimestamp into buf (kMaxTimestamp bytes); returns the end.
char* FormatTimestamp(char* p, int64_t ms) {
  uint64_t t;
  if (ms < 0) {
    *p++ = '-';
    t = static_cast<uint64_t>(-(ms + 1)) + 1;
  } else {
    t = static_cast<uint64_t>(ms);
  }
  p = std::to_chars(p, p + 21, t / 1000).ptr;
  const unsigned frac = static_cast<unsigned>(t % 1000);
  if (frac != 0) {
    *p++ = '.';
    *p++ = static_cast<char>('0' + frac / 100);
    *p++ = static_cast<char>('0' + frac / 10 % 10);
    *p++ = static_cast<char>('0' + frac % 10);
  }
  return p;
}

}  // namespace

void AppendGoFloat(std::string* out, double v) {
  char buf[kMaxGoFloat];
  out->append(buf, FormatGoFloat(buf, v) - buf);
}

void AppendTimestamp(std::string* out, int64_t ms) {
  char buf[kMaxTimestamp];
  out->append(buf, FormatTimestamp(buf, ms) - buf);
}

void AppendPoint(std::string* out, int64_t ms, double v) {
  char buf[kMaxTimestamp + kMaxGoFloat + 6];
  char* p = buf;
  *p++ = '[';
  p = FormatTimestamp(p, ms);
  *p++ = ',';
  *p++ = '"';
  p = FormatGoFloat(p, v);
  *p++ = '"';
  *p++ = ']';
  out->append(buf, p - buf);
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
