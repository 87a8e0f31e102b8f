// A Go text/template subset, as used by Prometheus rule annotations/labels and
// by Alertmanager receivers (Slack titles, texts). Templates are parsed once,
// at load time; every construct or function this implementation does not
// support is a parse error with a position, never an empty string at
// runtime.
//
//   TemplateOptions opts = RuleTemplateOptions();
//   absl::StatusOr<Template> t = Template::Parse(
//       "{{ $labels.instance }} is at {{ $value | humanize }}", opts, "t");
//   TemplateValue data = RuleTemplateData(labels, 1234.5, {}, "");
//   absl::StatusOr<std::string> s = t->Execute(data);  // "... at 1.234k"
//
// Supported: text, {{- / -}} trim markers, comments, pipelines with `|`,
// field chains (.A.B, $x.A), variables ($x := p, $x = p), if / else if /
// else, range (with $i, $e := and else), with / else, parenthesised
// pipelines, string/raw-string/number/bool/nil constants, and the functions
// listed in template.cc (Go builtins eq ne lt le gt ge and or not len index
// print printf println, Prometheus/Alertmanager humanize* toUpper toLower
// title reReplaceAll match join safeHtml stripPort ...).
// Not supported: define/template/block/break/continue, method calls.
//
// Thread-safety: a parsed Template is immutable; Execute may be called
// concurrently.
#ifndef VIGIL_ALERTING_TEMPLATE_TEMPLATE_H_
#define VIGIL_ALERTING_TEMPLATE_TEMPLATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::alerting {

// A dynamically typed value as seen by a template: Go's nil, bool, int,
// float64, string, map[string]... (missing key reads as ""), struct (missing
// field is an execution error) and slice.
class TemplateValue {
 public:
  using Map = std::map<std::string, TemplateValue>;
  using List = std::vector<TemplateValue>;
  enum class Kind { kNil, kBool, kInt, kFloat, kString, kMap, kStruct, kList };

  TemplateValue() = default;
  static TemplateValue Bool(bool b);
  static TemplateValue Int(int64_t i);
  static TemplateValue Float(double d);
  static TemplateValue String(std::string s);
  static TemplateValue FromMap(Map m);     // Go map: missing key -> ""
  static TemplateValue FromStruct(Map m);  // Go struct: missing field errors
  static TemplateValue FromList(List l);
  // A Go map[string]string from label-like pairs.
  static TemplateValue StringMap(const std::map<std::string, std::string>& m);

  Kind kind() const { return kind_; }
  bool bool_value() const { return b_; }
  int64_t int_value() const { return i_; }
  double float_value() const { return d_; }
  const std::string& string_value() const { return s_; }
  const Map& map() const;
  const List& list() const;

  // Go's truth: false, 0, nil, and empty strings/maps/slices are false.
  bool Truthy() const;
  // Go's %v rendering ("1e+06", "map[a:b]", "[x y]", "<no value>").
  std::string ToString() const;
  // Go's type name for error messages ("float64", "string", ...).
  const char* TypeName() const;

 private:
  Kind kind_ = Kind::kNil;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<const Map> map_;
  std::shared_ptr<const List> list_;
};

struct TemplateOptions {
  // Variables that exist before the template starts (besides `$`), e.g.
  // "labels", "value" for rule templates. Any other $name that is not
  // declared inside the template is a parse error, as in Go.
  std::vector<std::string> predefined_variables;
  // Text prepended (and run) before the template, e.g. the Prometheus
  // preamble {{$labels := .Labels}}. Parse errors in it are not expected.
  std::string preamble;
};

namespace template_internal {
struct Node;
}

class Template {
 public:
  // Parses `text`. Errors are InvalidArgument and read
  // "template: NAME:LINE:COL: message".
  static absl::StatusOr<Template> Parse(absl::string_view text,
                                        const TemplateOptions& options,
                                        absl::string_view name = "template");

  // Runs the template with `dot` as the data. Execution errors (wrong
  // argument types, missing struct fields, bad regexps) are returned as
  // InvalidArgument naming the template and position.
  absl::StatusOr<std::string> Execute(const TemplateValue& dot) const;

  // True when the text contains no actions (fast path: Execute returns it).
  bool IsPlainText() const { return plain_; }
  const std::string& name() const { return name_; }

 private:
  Template() = default;
  std::string name_;
  bool plain_ = false;
  std::string plain_text_;
  std::shared_ptr<const template_internal::Node> root_;
};

// Go's strconv formatting of a float64 with the %v verb (shortest
// round-trip digits, exponent form below 1e-4 and from 1e21... as Go).
std::string FormatGoFloat(double v);
// Go's fmt "%.<prec>g".
std::string FormatGoG(double v, int prec);

// Prometheus's template functions on numbers.
absl::StatusOr<std::string> Humanize(double v);
absl::StatusOr<std::string> Humanize1024(double v);
absl::StatusOr<std::string> HumanizeDuration(double v);
absl::StatusOr<std::string> HumanizePercentage(double v);
absl::StatusOr<std::string> HumanizeTimestamp(double v);

// Go's time.Time String() of a UTC millisecond timestamp:
// "2024-04-26 17:21:05.311 +0000 UTC".
std::string FormatGoTime(int64_t unix_ms);

// The pieces every Go time format here is made of (String(), RFC3339Nano,
// strfmt.DateTime): "YYYY-MM-DD<sep>hh:mm:ss" of a UTC millisecond
// timestamp, with the millisecond part (0..999, also before 1970) in *ms;
// and Go's fraction of it with trailing zeros trimmed (".31", "" for 0).
std::string FormatUTCSeconds(int64_t unix_ms, char sep, int* ms);
std::string GoFraction(int ms);

// Go's %q of a string (strconv.Quote for ASCII text): "a\"b", control bytes
// as \xNN. Templates' printf "%q" and Alertmanager's route and group keys.
std::string GoQuote(absl::string_view s);

// Options for Prometheus rule templates: $labels, $externalLabels,
// $externalURL and $value, defined from .Labels, .ExternalLabels,
// .ExternalURL and .Value.
TemplateOptions RuleTemplateOptions();

// The data Prometheus gives alert label/annotation templates.
TemplateValue RuleTemplateData(
    const std::map<std::string, std::string>& labels, double value,
    const std::map<std::string, std::string>& external_labels,
    const std::string& external_url);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_TEMPLATE_TEMPLATE_H_
