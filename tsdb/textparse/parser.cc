#include "tsdb/textparse/parser.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/charconv.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vigil::tsdb::textparse {
namespace {

// Character classes by table lookup: the series scanner runs once per byte of
// every scrape, so a load beats a chain of range compares.
enum : uint8_t {
  kMetricStart = 1,  // [a-zA-Z_:]
  kMetricChar = 2,   // [a-zA-Z0-9_:]
  kLabelStart = 4,   // [a-zA-Z_]
  kLabelChar = 8,    // [a-zA-Z0-9_]
  kBlank = 16,       // ' ' '\t'
};

struct CharTable {
  uint8_t c[256];
  constexpr CharTable() : c() {
    for (int i = 0; i < 256; ++i) {
      bool alpha = (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z');
      bool digit = i >= '0' && i <= '9';
      uint8_t f = 0;
      if (alpha || i == '_') f |= kMetricStart | kLabelStart;
      if (i == ':') f |= kMetricStart | kMetricChar;
      if (alpha || digit || i == '_') f |= kMetricChar | kLabelChar;
      if (i == ' ' || i == '\t') f |= kBlank;
      c[i] = f;
    }
  }
};
constexpr CharTable kChars;

inline bool Is(char ch, uint8_t cls) {
  return (kChars.c[static_cast<unsigned char>(ch)] & cls) != 0;
}

// Quotes a token for an error message, cut to a readable length.
std::string Quote(const char* b, const char* e) {
  constexpr size_t kMax = 32;
  size_t n = static_cast<size_t>(e - b);
  std::string out = "\"";
  out.append(b, n > kMax ? kMax : n);
  if (n > kMax) out += "...";
  out += "\"";
  return out;
}

// The token starting at b: up to the next blank.
const char* TokenEnd(const char* b, const char* e) {
  while (b < e && !Is(*b, kBlank)) ++b;
  return b;
}

const char* SkipBlanks(const char* b, const char* e) {
  while (b < e && Is(*b, kBlank)) ++b;
  return b;
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool ParseInt64(absl::string_view s, int64_t* out) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    neg = s[i] == '-';
    ++i;
  }
  if (i == s.size()) return false;
  uint64_t v = 0;
  constexpr uint64_t kLimit = uint64_t{std::numeric_limits<int64_t>::max()};
  for (; i < s.size(); ++i) {
    unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    if (v > (kLimit + 1 - d) / 10) return false;
    v = v * 10 + d;
  }
  if (!neg && v > kLimit) return false;
  *out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

// OpenMetrics timestamps are seconds with an optional fraction. A plain
// decimal is converted exactly (digits past milliseconds are truncated, as
// int64(ts*1000) would without its rounding error); anything else goes
// through a double.
bool ParseSecondsToMillis(absl::string_view s, int64_t* out) {
  constexpr absl::string_view kDigits = "0123456789";
  size_t dot = s.find('.');
  absl::string_view ip = s.substr(0, dot);
  absl::string_view fp;
  if (dot != absl::string_view::npos) fp = s.substr(dot + 1);
  absl::string_view ip_digits = ip;
  if (!ip_digits.empty() && ip_digits[0] == '-') ip_digits.remove_prefix(1);
  bool plain =
      !ip_digits.empty() && ip_digits.size() <= 15 &&
      ip_digits.find_first_not_of(kDigits) == absl::string_view::npos &&
      (dot == absl::string_view::npos ||
       (!fp.empty() &&
        fp.find_first_not_of(kDigits) == absl::string_view::npos));
  if (plain) {
    int64_t secs;
    if (!ParseInt64(ip, &secs)) return false;
    int64_t ms = 0;
    for (size_t i = 0; i < 3; ++i) {
      ms = ms * 10 + (i < fp.size() ? fp[i] - '0' : 0);
    }
    *out = secs * 1000 + (ip[0] == '-' ? -ms : ms);
    return true;
  }
  double d;
  if (!ParseFloatValue(s, &d) || !std::isfinite(d)) return false;
  d *= 1000;
  if (!(d > -9.2e18 && d < 9.2e18)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

// Undoes \\ \" \n in [b, e) and appends to *out. Other escapes are kept
// verbatim, as Prometheus does.
void Unescape(const char* b, const char* e, bool quote_escapes,
              std::string* out) {
  while (b < e) {
    char c = *b++;
    if (c == '\\' && b < e) {
      char n = *b;
      if (n == '\\' || n == 'n' || (quote_escapes && n == '"')) {
        out->push_back(n == 'n' ? '\n' : n);
        ++b;
        continue;
      }
    }
    out->push_back(c);
  }
}

}  // namespace

bool ParseFloatValue(absl::string_view s, double* out) {
  if (s.empty()) return false;
  const char* p = s.data();
  const char* e = p + s.size();
  // Fast path: [-]digits[.digits][e[+-]digits] with at most 15 digits and
  // a net power of ten within ±22 is exact as mantissa * or / 10^k (both
  // exactly representable, one rounding).
  {
    const char* q = p;
    bool neg = false;
    if (*q == '-') {
      neg = true;
      ++q;
    }
    uint64_t mant = 0;
    int digits = 0;
    int frac = -1;
    const char* start = q;
    for (; q < e; ++q) {
      unsigned d = static_cast<unsigned char>(*q) - '0';
      if (d <= 9) {
        mant = mant * 10 + d;
        ++digits;
        if (frac >= 0) ++frac;
      } else if (*q == '.' && frac < 0) {
        frac = 0;
      } else {
        break;
      }
    }
    int scale = frac > 0 ? -frac : 0;
    if (q < e && (*q == 'e' || *q == 'E') && digits > 0) {
      // Exponent forms ("1.23456789e+10", Go's %g) take the same path when
      // the combined power of ten stays within the exact range (Clinger).
      const char* x = q + 1;
      bool xneg = false;
      if (x < e && (*x == '+' || *x == '-')) xneg = *x++ == '-';
      int exp = 0;
      const char* xs = x;
      while (x < e && x - xs < 4) {
        unsigned d = static_cast<unsigned char>(*x) - '0';
        if (d > 9) break;
        exp = exp * 10 + static_cast<int>(d);
        ++x;
      }
      if (x == e && x != xs) {
        scale += xneg ? -exp : exp;
        q = e;
      }
    }
    if (q == e && q != start && digits > 0 && digits <= 15 && frac != 0 &&
        scale >= -22 && scale <= 22) {
      double v = static_cast<double>(mant);
      if (scale < 0) {
        v /= kPow10[-scale];
      } else if (scale > 0) {
        v *= kPow10[scale];
      }
      *out = neg ? -v : v;
      return true;
    }
  }
  if (*p == '+') {
    ++p;
    if (p == e || *p == '-' || *p == '+') return false;
  }
  double v;
  absl::from_chars_result r = absl::from_chars(p, e, v);
  if (r.ec == std::errc::invalid_argument || r.ptr != e) {
    // absl spells infinity "inf"/"infinity" and NaN "nan" case-insensitively
    // already; anything left over is garbage.
    return false;
  }
  if (r.ec == std::errc::result_out_of_range) {
    // Go returns ±Inf or 0 for out-of-range values; from_chars leaves v
    // untouched, so recompute the direction from the exponent sign.
    absl::string_view t(p, static_cast<size_t>(e - p));
    size_t x = t.find_first_of("eE");
    bool tiny =
        x != absl::string_view::npos && x + 1 < t.size() && t[x + 1] == '-';
    bool neg = !t.empty() && t[0] == '-';
    v = tiny ? 0.0 : std::numeric_limits<double>::infinity();
    if (neg) v = -v;
  }
  *out = v;
  return true;
}

Format DetectFormat(absl::string_view content_type) {
  absl::string_view mt = content_type.substr(0, content_type.find(';'));
  mt = absl::StripAsciiWhitespace(mt);
  if (absl::EqualsIgnoreCase(mt, "application/openmetrics-text")) {
    return Format::kOpenMetrics;
  }
  return Format::kPrometheusText;
}

std::string ContentTypeFor(Format format) {
  switch (format) {
    case Format::kOpenMetrics:
      return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case Format::kPrometheusText:
      break;
  }
  return "text/plain; version=0.0.4; charset=utf-8";
}

absl::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGaugeHistogram:
      return "gaugehistogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kInfo:
      return "info";
    case MetricType::kStateset:
      return "stateset";
    case MetricType::kUnknown:
      break;
  }
  return "unknown";
}

Parser::Parser(absl::string_view input, Format format)
    : pos_(input.data()), end_(input.data() + input.size()), format_(format) {
  labels_.reserve(16);
}

Entry Parser::Fail(absl::string_view reason) {
  status_ =
      absl::InvalidArgumentError(absl::StrCat("line ", line_, ": ", reason));
  state_ = Entry::kInvalid;
  return state_;
}

Entry Parser::NextPredicted(absl::string_view expected_series) {
  if (state_ != Entry::kInvalid && state_ != Entry::kEOF &&
      !expected_series.empty() && TryPredicted(expected_series)) {
    return Entry::kSeries;
  }
  return Next();
}

// Why this gives the same answer as the full parser: `expected` was the
// Series() of a line that parsed, and the label parse of `name{labels}`
// does not depend on what follows the closing brace. A bare metric name is
// the exception (the text format allows blanks before '{'), but then the
// token after the blanks starts with '{' and fails as a value, which sends
// the line to the full parser. Everything after the series must be exactly
// what the full parser accepts as value [timestamp]; anything else (tabs in
// OpenMetrics, '\r' inside the line, exemplars, garbage) falls back.
bool Parser::TryPredicted(absl::string_view expected) {
  const size_t n = expected.size();
  const char* b = pos_;
  if (static_cast<size_t>(end_ - b) <= n || b[n] == '\n' ||
      std::memcmp(b, expected.data(), n) != 0) {
    return false;
  }
  const bool om = format_ == Format::kOpenMetrics;
  const char* p = b + n;
  if (om) {
    if (*p != ' ') return false;
    ++p;
  } else {
    if (!Is(*p, kBlank)) return false;
    while (p < end_ && Is(*p, kBlank)) ++p;
  }
  // Value: up to a blank or the end of the line.
  const char* vs = p;
  while (p < end_ && *p != '\n' && *p != '\r' && !Is(*p, kBlank)) ++p;
  double value;
  if (p == vs ||
      !ParseFloatValue(absl::string_view(vs, static_cast<size_t>(p - vs)),
                       &value)) {
    return false;
  }
  bool has_ts = false;
  int64_t ts = 0;
  if (om) {
    if (p < end_ && *p == ' ') {
      const char* t = ++p;
      while (p < end_ && *p != '\n' && *p != '\r' && !Is(*p, kBlank)) ++p;
      if (p == t || *t == '#' ||
          !ParseSecondsToMillis(
              absl::string_view(t, static_cast<size_t>(p - t)), &ts)) {
        return false;
      }
      has_ts = true;
    }
  } else {
    while (p < end_ && Is(*p, kBlank)) ++p;
    if (p < end_ && *p != '\n' && *p != '\r') {
      const char* t = p;
      while (p < end_ && *p != '\n' && *p != '\r' && !Is(*p, kBlank)) ++p;
      if (!ParseInt64(absl::string_view(t, static_cast<size_t>(p - t)), &ts)) {
        return false;
      }
      has_ts = true;
      while (p < end_ && Is(*p, kBlank)) ++p;
    }
  }
  if (p < end_ && *p != '\n') return false;  // '\r', or text after the value
  // Committed: the line is exactly what the full parser would accept.
  ++line_;
  pos_ = p < end_ ? p + 1 : end_;
  series_ = absl::string_view(b, n);
  metric_name_ = absl::string_view();
  labels_.clear();
  empty_label_names_.clear();
  value_ = value;
  timestamp_ms_ = ts;
  has_timestamp_ = has_ts;
  has_exemplar_ = false;
  predicted_ = true;
  return true;
}

Entry Parser::Next() {
  predicted_ = false;
  if (state_ == Entry::kInvalid || state_ == Entry::kEOF) return state_;
  const bool om = format_ == Format::kOpenMetrics;
  for (;;) {
    if (pos_ >= end_) {
      if (om) {
        ++line_;
        return Fail("missing \"# EOF\" at end of OpenMetrics input");
      }
      state_ = Entry::kEOF;
      return state_;
    }
    ++line_;
    const char* b = pos_;
    const char* nl = static_cast<const char*>(
        std::memchr(b, '\n', static_cast<size_t>(end_ - b)));
    const char* e = nl != nullptr ? nl : end_;
    pos_ = nl != nullptr ? nl + 1 : end_;
    if (om) {
      if (b == e) return Fail("unexpected blank line");
      if (*b == '#') return ParseOpenMetricsComment(b, e);
      return ParseSeries(b, e);
    }
    if (e > b && e[-1] == '\r') --e;
    b = SkipBlanks(b, e);
    if (b == e) continue;  // blank lines are fine in the text format
    if (*b == '#') return ParseTextComment(b, e);
    return ParseSeries(b, e);
  }
}

Entry Parser::ParseTextComment(const char* b, const char* e) {
  const char* p = SkipBlanks(b + 1, e);
  const char* w = TokenEnd(p, e);
  absl::string_view word(p, static_cast<size_t>(w - p));
  // "# HELP" / "# TYPE" are metadata only when followed by a blank or the
  // end of line; "# HELPER" is a comment.
  if (word == "HELP") return ParseMetadata(Entry::kHelp, w, e);
  if (word == "TYPE") return ParseMetadata(Entry::kType, w, e);
  text_ = absl::string_view(p, static_cast<size_t>(e - p));
  return Entry::kComment;
}

Entry Parser::ParseOpenMetricsComment(const char* b, const char* e) {
  absl::string_view line(b, static_cast<size_t>(e - b));
  if (line == "# EOF") {
    if (pos_ != end_) {
      ++line_;
      return Fail("unexpected content after \"# EOF\"");
    }
    state_ = Entry::kEOF;
    return state_;
  }
  if (absl::StartsWith(line, "# HELP ")) {
    return ParseMetadata(Entry::kHelp, b + 6, e);
  }
  if (absl::StartsWith(line, "# TYPE ")) {
    return ParseMetadata(Entry::kType, b + 6, e);
  }
  if (absl::StartsWith(line, "# UNIT ")) {
    return ParseMetadata(Entry::kUnit, b + 6, e);
  }
  return Fail(absl::StrCat("invalid comment ", Quote(b, e),
                           "; expected # HELP, # TYPE, # UNIT or # EOF"));
}

// `p` points just past the keyword, at the separator.
Entry Parser::ParseMetadata(Entry kind, const char* p, const char* e) {
  const bool om = format_ == Format::kOpenMetrics;
  const char* kw = kind == Entry::kHelp   ? "HELP"
                   : kind == Entry::kType ? "TYPE"
                                          : "UNIT";
  if (om) {
    ++p;  // the single space checked by the caller
  } else {
    p = SkipBlanks(p, e);
  }
  const char* n = p;
  if (n == e || !Is(*n, kMetricStart)) {
    return Fail(absl::StrCat("expected metric name after # ", kw, ", got ",
                             Quote(n, TokenEnd(n, e))));
  }
  while (n < e && Is(*n, kMetricChar)) ++n;
  family_ = absl::string_view(p, static_cast<size_t>(n - p));
  const char* t;
  if (n == e) {
    t = e;
  } else if (om) {
    if (*n != ' ') {
      return Fail(absl::StrCat("invalid metric name in # ", kw, ": ",
                               Quote(p, TokenEnd(p, e))));
    }
    t = n + 1;
  } else {
    if (!Is(*n, kBlank)) {
      return Fail(absl::StrCat("invalid metric name in # ", kw, ": ",
                               Quote(p, TokenEnd(p, e))));
    }
    t = SkipBlanks(n, e);
  }
  switch (kind) {
    case Entry::kHelp: {
      const char* bs = static_cast<const char*>(
          std::memchr(t, '\\', static_cast<size_t>(e - t)));
      if (bs == nullptr) {
        text_ = absl::string_view(t, static_cast<size_t>(e - t));
      } else {
        scratch_.clear();
        scratch_.reserve(static_cast<size_t>(e - t));
        Unescape(t, e, /*quote_escapes=*/om, &scratch_);
        text_ = scratch_;
      }
      return Entry::kHelp;
    }
    case Entry::kUnit:
      text_ = absl::string_view(t, static_cast<size_t>(e - t));
      return Entry::kUnit;
    default:
      break;
  }
  const char* te = om ? e : TokenEnd(t, e);
  absl::string_view ts(t, static_cast<size_t>(te - t));
  if (!om && SkipBlanks(te, e) != e) {
    return Fail(
        absl::StrCat("unexpected text after metric type: ", Quote(te, e)));
  }
  if (ts == "counter") {
    type_ = MetricType::kCounter;
  } else if (ts == "gauge") {
    type_ = MetricType::kGauge;
  } else if (ts == "histogram") {
    type_ = MetricType::kHistogram;
  } else if (ts == "summary") {
    type_ = MetricType::kSummary;
  } else if (!om && ts == "untyped") {
    type_ = MetricType::kUnknown;
  } else if (om && ts == "unknown") {
    type_ = MetricType::kUnknown;
  } else if (om && ts == "gaugehistogram") {
    type_ = MetricType::kGaugeHistogram;
  } else if (om && ts == "info") {
    type_ = MetricType::kInfo;
  } else if (om && ts == "stateset") {
    type_ = MetricType::kStateset;
  } else {
    return Fail(absl::StrCat("invalid metric type ", Quote(t, te)));
  }
  text_ = ts;
  return Entry::kType;
}

Entry Parser::ParseSeries(const char* b, const char* e) {
  const bool om = format_ == Format::kOpenMetrics;
  const char* p = b;
  if (!Is(*p, kMetricStart)) {
    return Fail(
        absl::StrCat("expected metric name, got ", Quote(p, TokenEnd(p, e))));
  }
  ++p;
  while (p < e && Is(*p, kMetricChar)) ++p;
  metric_name_ = absl::string_view(b, static_cast<size_t>(p - b));
  labels_.clear();
  empty_label_names_.clear();
  has_exemplar_ = false;
  has_timestamp_ = false;
  if (p < e && *p != '{' && !Is(*p, kBlank)) {
    return Fail(absl::StrCat("invalid metric name ", Quote(b, TokenEnd(b, e))));
  }
  if (!om) p = SkipBlanks(p, e);
  if (p < e && *p == '{') {
    bool reserved = false;
    ++p;
    for (;;) {
      if (!om) p = SkipBlanks(p, e);
      if (p == e) return Fail("unexpected end of line inside label set");
      if (*p == '}') break;
      const char* ns = p;
      if (!Is(*p, kLabelStart)) {
        return Fail(absl::StrCat("expected label name, got ",
                                 Quote(p, TokenEnd(p, e))));
      }
      ++p;
      while (p < e && Is(*p, kLabelChar)) ++p;
      absl::string_view name(ns, static_cast<size_t>(p - ns));
      if (!om) p = SkipBlanks(p, e);
      if (p == e || *p != '=') {
        return Fail(absl::StrCat("expected '=' after label name \"", name,
                                 "\", got ", Quote(p, TokenEnd(p, e))));
      }
      ++p;
      if (!om) p = SkipBlanks(p, e);
      if (p == e || *p != '"') {
        return Fail(absl::StrCat("expected label value, got ",
                                 Quote(p, TokenEnd(p, e))));
      }
      const char* vs = ++p;
      bool escaped = false;
      while (p < e && *p != '"') {
        if (*p == '\\') {
          escaped = true;
          if (++p == e) break;
        }
        ++p;
      }
      if (p >= e) {
        return Fail(absl::StrCat("unterminated value of label \"", name, "\""));
      }
      absl::string_view value(vs, static_cast<size_t>(p - vs));
      ++p;  // closing quote
      if (escaped) {
        if (!reserved) {
          // Never reallocated for the rest of this line: earlier views stay
          // valid because unescaping only shrinks.
          scratch_.clear();
          scratch_.reserve(static_cast<size_t>(e - b));
          reserved = true;
        }
        size_t start = scratch_.size();
        Unescape(value.data(), value.data() + value.size(),
                 /*quote_escapes=*/true, &scratch_);
        value =
            absl::string_view(scratch_.data() + start, scratch_.size() - start);
      }
      if (!value.empty()) {
        labels_.push_back(LabelRef{name, value});
      } else {
        empty_label_names_.push_back(name);
      }
      if (!om) p = SkipBlanks(p, e);
      if (p == e) return Fail("unexpected end of line inside label set");
      if (*p == ',') {
        ++p;
        continue;
      }
      if (*p == '}') break;
      return Fail(absl::StrCat("expected ',' or '}' after value of label \"",
                               name, "\", got ", Quote(p, TokenEnd(p, e))));
    }
    ++p;  // '}'
  }
  // Series() ends at the metric name or the closing brace.
  const char* se = p;
  if (!om) {
    while (se > b && Is(se[-1], kBlank)) --se;
  }
  series_ = absl::string_view(b, static_cast<size_t>(se - b));

  // Value.
  if (om) {
    if (p == e || *p != ' ') {
      return Fail(absl::StrCat("expected a single space before the value, got ",
                               Quote(p, TokenEnd(p, e))));
    }
    ++p;
  } else {
    if (p == se && (p == e || !Is(*p, kBlank))) {
      return Fail("expected value after metric");
    }
    p = SkipBlanks(p, e);
  }
  if (p == e) return Fail("expected value after metric");
  const char* ve = TokenEnd(p, e);
  if (!ParseFloatValue(absl::string_view(p, static_cast<size_t>(ve - p)),
                       &value_)) {
    return Fail(absl::StrCat("invalid value ", Quote(p, ve)));
  }
  p = ve;
  if (!om) {
    p = SkipBlanks(p, e);
    if (p == e) return Entry::kSeries;
    const char* te = TokenEnd(p, e);
    if (!ParseInt64(absl::string_view(p, static_cast<size_t>(te - p)),
                    &timestamp_ms_)) {
      return Fail(absl::StrCat("invalid timestamp ", Quote(p, te)));
    }
    has_timestamp_ = true;
    if (SkipBlanks(te, e) != e) {
      return Fail(absl::StrCat("unexpected text after timestamp: ",
                               Quote(SkipBlanks(te, e), e)));
    }
    return Entry::kSeries;
  }
  // OpenMetrics: [ SP timestamp ] [ SP # SP exemplar ]
  if (p == e) return Entry::kSeries;
  if (*p != ' ' || p + 1 == e) {
    return Fail(absl::StrCat("unexpected text after value: ", Quote(p, e)));
  }
  ++p;
  if (*p != '#') {
    const char* te = TokenEnd(p, e);
    if (!ParseSecondsToMillis(absl::string_view(p, static_cast<size_t>(te - p)),
                              &timestamp_ms_)) {
      return Fail(absl::StrCat("invalid timestamp ", Quote(p, te)));
    }
    has_timestamp_ = true;
    p = te;
    if (p == e) return Entry::kSeries;
    if (*p != ' ' || p + 1 == e || p[1] != '#') {
      return Fail(
          absl::StrCat("unexpected text after timestamp: ", Quote(p, e)));
    }
    ++p;
  }
  // p at '#': exemplar. Malformed exemplars are dropped, not fatal.
  has_exemplar_ = ParseExemplar(p + 1, e);
  return Entry::kSeries;
}

// [b, e) is " {labels} value [timestamp]".
bool Parser::ParseExemplar(const char* b, const char* e) {
  const char* p = b;
  if (p == e || *p != ' ') return false;
  ++p;
  if (p == e || *p != '{') return false;
  const char* ls = p;
  bool in_quotes = false;
  for (++p; p < e; ++p) {
    if (in_quotes) {
      if (*p == '\\') {
        ++p;
      } else if (*p == '"') {
        in_quotes = false;
      }
    } else if (*p == '"') {
      in_quotes = true;
    } else if (*p == '}') {
      break;
    }
  }
  if (p >= e) return false;
  ++p;
  exemplar_.labels = absl::string_view(ls, static_cast<size_t>(p - ls));
  if (p == e || *p != ' ') return false;
  ++p;
  const char* ve = TokenEnd(p, e);
  if (!ParseFloatValue(absl::string_view(p, static_cast<size_t>(ve - p)),
                       &exemplar_.value)) {
    return false;
  }
  exemplar_.timestamp_ms.reset();
  p = ve;
  if (p == e) return true;
  if (*p != ' ') return false;
  ++p;
  const char* te = TokenEnd(p, e);
  int64_t ts;
  if (te != e || !ParseSecondsToMillis(
                     absl::string_view(p, static_cast<size_t>(te - p)), &ts)) {
    return false;
  }
  exemplar_.timestamp_ms = ts;
  return true;
}

absl::StatusOr<tsdb::Labels> Parser::BuildLabels() const {
  std::vector<tsdb::Label> pairs;
  pairs.reserve(labels_.size() + 1);
  pairs.push_back(
      tsdb::Label{std::string(kMetricName), std::string(metric_name_)});
  for (const LabelRef& l : labels_) {
    pairs.push_back(tsdb::Label{std::string(l.name), std::string(l.value)});
  }
  absl::StatusOr<tsdb::Labels> out = tsdb::Labels::FromPairs(std::move(pairs));
  if (!out.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_, ": ", out.status().message()));
  }
  return out;
}

}  // namespace vigil::tsdb::textparse
