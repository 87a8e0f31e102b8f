// Streaming, zero-copy parsers for the two exposition formats a scrape can
// return: the Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//
//   Parser p(body, DetectFormat(content_type));
//   for (Entry e = p.Next(); e != Entry::kEOF; e = p.Next()) {
//     if (e == Entry::kInvalid) return p.status();  // "line 3: ..."
//     if (e != Entry::kSeries) continue;
//     Use(p.Series(), p.MetricName(), p.Labels(), p.Value(), p.Timestamp());
//   }
//
// The parser never copies the input: every string_view it hands out points
// into `input` (which must outlive the parser) except unescaped label values
// and HELP text, which live in a scratch buffer owned by the parser. All
// views are valid only until the next call to Next().
//
// Grammar accepted (both formats unless noted):
//   series   := metric_name [ '{' [ label { ',' label } [ ',' ] ] '}' ]
//               SP value [ SP timestamp ] [ SP '#' SP exemplar ]   (OM only)
//   label    := label_name '=' '"' escaped_value '"'
//   escapes  := \\ \" \n   (unknown escapes are kept verbatim)
//   value    := Go-ParseFloat-like float, NaN, +Inf, -Inf, Inf
//   timestamp:= text: int64 milliseconds; OM: float seconds (converted to ms)
//   comments := text: '# HELP name text', '# TYPE name type', any other '#'
//               line is a comment; blank lines are skipped; tokens may be
//               separated by runs of spaces/tabs.
//               OM: '# HELP', '# TYPE', '# UNIT', '# EOF' only; separators are
//               single spaces; no blank lines; '# EOF' is required and must
//               be the last line.
// Label values that are empty are treated as absent and left out of Labels()
// (they still appear in Series()). Exemplars are parsed when well-formed and
// exposed through exemplar(); a malformed exemplar is dropped, never an error.
//
// Thread-compatible: one parser per thread.
#ifndef VIGIL_TSDB_TEXTPARSE_PARSER_H_
#define VIGIL_TSDB_TEXTPARSE_PARSER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tsdb/labels.h"

namespace vigil::tsdb::textparse {

enum class Format {
  kPrometheusText,  // text/plain;version=0.0.4 (also the fallback)
  kOpenMetrics,     // application/openmetrics-text;version=1.0.0
};

// Picks the parser for an HTTP Content-Type. Anything that is not
// application/openmetrics-text (including empty or unknown types) is parsed
// as Prometheus text, as Prometheus does.
Format DetectFormat(absl::string_view content_type);
// The Content-Type a server would send for `format`.
std::string ContentTypeFor(Format format);

enum class Entry {
  kInvalid,  // parse error; status() says where and why. Sticky.
  kType,
  kHelp,
  kUnit,     // OpenMetrics only
  kComment,  // text format only
  kSeries,
  kEOF,  // end of input (OpenMetrics: after '# EOF')
};

enum class MetricType {
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,  // OM
  kSummary,
  kInfo,      // OM
  kStateset,  // OM
  kUnknown,   // OM "unknown" and text "untyped"
};

absl::string_view MetricTypeName(MetricType type);

// One label of the current series. Views into the input or the scratch
// buffer; valid until the next Next().
struct LabelRef {
  absl::string_view name;
  absl::string_view value;
};

struct Exemplar {
  absl::string_view labels;  // raw `{...}` text, escapes not undone
  double value = 0;
  std::optional<int64_t> timestamp_ms;
};

class Parser {
 public:
  Parser(absl::string_view input, Format format);

  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Advances to the next entry and returns its kind. After kInvalid or kEOF
  // every further call returns the same.
  Entry Next();

  // The scrape cache's fast path. If the next line is a series line whose
  // `name{labels}` bytes equal `expected_series` (a Series() seen before,
  // hence already validated), only the value and timestamp are parsed:
  // returns kSeries with predicted() true, and Series(), Value(),
  // Timestamp() valid — but not MetricName(), Labels() or BuildLabels(),
  // which would need the label parse this skips. In every other case
  // (different series, comment, exemplar, odd spacing, invalid value...)
  // behaves exactly as Next(), with predicted() false. Either way the entry
  // returned, its line number and any error are the ones Next() would give.
  Entry NextPredicted(absl::string_view expected_series);
  // True when the last entry came from NextPredicted()'s fast path.
  bool predicted() const { return predicted_; }
  // True when every line of the input has been read. The importer parses a
  // large input as line-aligned pieces on several threads; a piece that is
  // not the input's end stops here instead of asking Next() for the
  // OpenMetrics "# EOF" that only the last piece has.
  bool AtEnd() const { return pos_ >= end_; }

  // OK unless Next() returned kInvalid; the message starts with
  // "line N: ".
  const absl::Status& status() const { return status_; }
  // 1-based line number of the current entry.
  int line() const { return line_; }
  Format format() const { return format_; }

  // --- Valid after kSeries ---
  // The exact bytes `name{labels}` as they appear in the input (no trailing
  // whitespace). Identical exposition lines give identical Series(), so the
  // scrape cache keys on it.
  absl::string_view Series() const { return series_; }
  absl::string_view MetricName() const { return metric_name_; }
  // Labels other than the metric name, in exposition order, values
  // unescaped, empty values omitted.
  const std::vector<LabelRef>& Labels() const { return labels_; }
  // Names of the labels the line exposed with an empty value (`a=""`), in
  // exposition order. Such a label is absent from the series, but
  // honor_labels still counts it as exposed: Prometheus then leaves the
  // target's label of that name off instead of adding it.
  const std::vector<absl::string_view>& EmptyLabelNames() const {
    return empty_label_names_;
  }
  double Value() const { return value_; }
  // Milliseconds since the epoch, if the line had a timestamp.
  std::optional<int64_t> Timestamp() const {
    if (!has_timestamp_) return std::nullopt;
    return timestamp_ms_;
  }
  bool HasExemplar() const { return has_exemplar_; }
  const Exemplar& exemplar() const { return exemplar_; }
  // Builds validated, sorted tsdb::Labels including __name__. Allocates;
  // meant for cache misses and importers, not the steady state.
  absl::StatusOr<tsdb::Labels> BuildLabels() const;

  // --- Valid after kHelp, kType, kUnit ---
  absl::string_view FamilyName() const { return family_; }
  absl::string_view Help() const { return text_; }  // unescaped
  absl::string_view Unit() const { return text_; }
  MetricType Type() const { return type_; }

  // --- Valid after kComment: the text after '#', leading blanks removed.
  absl::string_view Comment() const { return text_; }

 private:
  Entry Fail(absl::string_view reason);
  Entry ParseSeries(const char* b, const char* e);
  Entry ParseTextComment(const char* b, const char* e);
  Entry ParseOpenMetricsComment(const char* b, const char* e);
  Entry ParseMetadata(Entry kind, const char* b, const char* e);
  bool ParseExemplar(const char* b, const char* e);
  // NextPredicted's fast path for the text formats; false (nothing changed)
  // when the line needs the full parser.
  bool TryPredicted(absl::string_view expected_series);

  const char* pos_;
  const char* const end_;
  const Format format_;
  int line_ = 0;
  Entry state_ = Entry::kSeries;  // kInvalid / kEOF once finished
  absl::Status status_;

  absl::string_view series_;
  absl::string_view metric_name_;
  std::vector<LabelRef> labels_;
  std::vector<absl::string_view> empty_label_names_;
  double value_ = 0;
  int64_t timestamp_ms_ = 0;
  bool has_timestamp_ = false;
  bool has_exemplar_ = false;
  bool predicted_ = false;
  Exemplar exemplar_;

  absl::string_view family_;
  absl::string_view text_;
  MetricType type_ = MetricType::kUnknown;

  // Holds unescaped label values / HELP text for the current entry. Reserved
  // to the line length before use so views into it stay valid.
  std::string scratch_;
};

// Parses a float the way the exposition formats spell them (Go's
// strconv.ParseFloat subset: decimal, exponent, NaN, [+-]Inf, Infinity,
// case-insensitive). Exposed for the importer and tests.
bool ParseFloatValue(absl::string_view s, double* out);

}  // namespace vigil::tsdb::textparse

#endif  // VIGIL_TSDB_TEXTPARSE_PARSER_H_
