// A streaming JSON writer for API responses: appends straight into one
// std::string with no intermediate DOM, so serialising a large query result
// costs one pass and no allocation per sample. Output is byte-compatible
// with Prometheus's encoder: HTML-sensitive characters escaped like Go's
// encoding/json, sample values as strings in Go's 'f' format, timestamps as
// seconds with millisecond decimals.
//
//   std::string out;
//   JsonWriter w(&out);
//   w.BeginObject();
//   w.Key("value");
//   w.BeginArray();
//   w.Timestamp(1435781451781);   // 1435781451.781
//   w.SampleValue(1e21);          // "1000000000000000000000"
//   w.EndArray();
//   w.EndObject();
//
// The writer trusts its caller to nest Begin/End and Key/value correctly.
#ifndef VIGIL_SERVER_API_JSON_WRITER_H_
#define VIGIL_SERVER_API_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tsdb/labels.h"

namespace vigil::server::api {

// Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never
// an exponent; "NaN", "+Inf", "-Inf".
void AppendGoFloat(std::string* out, double v);

// Prometheus's timestamp encoding: ms/1000 with the remainder as exactly
// three decimals, omitted when zero ("1435781451.780", "1435781451").
void AppendTimestamp(std::string* out, int64_t ms);

// One point of a range result, `[<AppendTimestamp>,"<AppendGoFloat>"]`,
// formatted on the stack and appended at once (a 24 h range result has
// tens of thousands of them).
void AppendPoint(std::string* out, int64_t ms, double v);

// A JSON string literal with Go's escaping (including \u003c, \u003e,
// \u0026, \u2028 and \u2029).
void AppendJsonString(std::string* out, absl::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(absl::string_view key);
  void String(absl::string_view s);
  void Int(int64_t v);
  void Double(double v);  // a JSON number (finite values only)
  void Bool(bool b);
  void Null();
  // A pre-encoded JSON value.
  void Raw(absl::string_view json);
  // A sample value as a JSON string in Go's 'f' format.
  void SampleValue(double v);
  // A timestamp in seconds (see AppendTimestamp).
  void Timestamp(int64_t ms);
  // {"name":"value",...} in label order.
  void LabelSet(const tsdb::Labels& labels);

  std::string* out() { return out_; }

 private:
  void Open(char c);
  void Close(char c);
  void Separate();

  std::string* out_;
  // One entry per open container: true once it holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_JSON_WRITER_H_
