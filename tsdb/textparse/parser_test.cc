#include "tsdb/textparse/parser.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::tsdb::textparse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Renders every entry as one line so whole inputs compare at a glance.
std::string Describe(Parser& p, Entry e) {
  switch (e) {
    case Entry::kSeries: {
      std::string s = absl::StrCat("series ", p.Series(),
                                   " name=", p.MetricName(), " labels=[");
      for (const LabelRef& l : p.Labels()) {
        absl::StrAppend(&s, l.name, "=", l.value, ";");
      }
      absl::StrAppend(&s, "] v=", p.Value());
      if (p.Timestamp()) absl::StrAppend(&s, " t=", *p.Timestamp());
      if (p.HasExemplar()) {
        absl::StrAppend(&s, " ex=", p.exemplar().labels, ":",
                        p.exemplar().value);
        if (p.exemplar().timestamp_ms) {
          absl::StrAppend(&s, "@", *p.exemplar().timestamp_ms);
        }
      }
      return s;
    }
    case Entry::kHelp:
      return absl::StrCat("help ", p.FamilyName(), " ", p.Help());
    case Entry::kType:
      return absl::StrCat("type ", p.FamilyName(), " ",
                          MetricTypeName(p.Type()));
    case Entry::kUnit:
      return absl::StrCat("unit ", p.FamilyName(), " ", p.Unit());
    case Entry::kComment:
      return absl::StrCat("comment ", p.Comment());
    case Entry::kEOF:
      return "eof";
    case Entry::kInvalid:
      return absl::StrCat("error ", p.status().message());
  }
  return "?";
}

std::vector<std::string> ParseAll(absl::string_view in, Format f) {
  Parser p(in, f);
  std::vector<std::string> out;
  for (;;) {
    Entry e = p.Next();
    out.push_back(Describe(p, e));
    if (e == Entry::kEOF || e == Entry::kInvalid) break;
  }
  return out;
}

std::vector<std::string> Text(absl::string_view in) {
  return ParseAll(in, Format::kPrometheusText);
}
std::vector<std::string> OM(absl::string_view in) {
  return ParseAll(in, Format::kOpenMetrics);
}

std::string LastError(const std::vector<std::string>& v) { return v.back(); }

// --- Prometheus text format ---------------------------------------------

TEST(TextParserTest, EmptyInput) { EXPECT_THAT(Text(""), ElementsAre("eof")); }

TEST(TextParserTest, FullExample) {
  const char* in =
      "# HELP go_gc_seconds A summary of the GC invocation durations.\n"
      "# TYPE go_gc_seconds summary\n"
      "go_gc_seconds{quantile=\"0\"} 4.9351e-05\n"
      "go_gc_seconds_sum 1.5 1234567\n"
      "\n"
      "# a free comment\n"
      "up 1\n";
  EXPECT_THAT(
      Text(in),
      ElementsAre(
          "help go_gc_seconds A summary of the GC invocation durations.",
          "type go_gc_seconds summary",
          "series go_gc_seconds{quantile=\"0\"} name=go_gc_seconds "
          "labels=[quantile=0;] v=4.9351e-05",
          "series go_gc_seconds_sum name=go_gc_seconds_sum labels=[] v=1.5 "
          "t=1234567",
          "comment a free comment", "series up name=up labels=[] v=1", "eof"));
}

TEST(TextParserTest, AllTypes) {
  EXPECT_THAT(Text("# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n"
                   "# TYPE d summary\n# TYPE e untyped\n"),
              ElementsAre("type a counter", "type b gauge", "type c histogram",
                          "type d summary", "type e unknown", "eof"));
}

TEST(TextParserTest, OpenMetricsOnlyTypesRejected) {
  EXPECT_THAT(LastError(Text("# TYPE a info\n")),
              "error line 1: invalid metric type \"info\"");
  EXPECT_THAT(LastError(Text("# TYPE a unknown\n")),
              HasSubstr("invalid metric type"));
}

TEST(TextParserTest, TypeTrailingGarbage) {
  EXPECT_THAT(LastError(Text("# TYPE a counter x\n")),
              HasSubstr("line 1: unexpected text after metric type"));
}

TEST(TextParserTest, HelpEscapes) {
  EXPECT_THAT(Text("# HELP m a\\\\b\\nc \\\"q\\\"\n"),
              ElementsAre("help m a\\b\nc \\\"q\\\"", "eof"));
}

TEST(TextParserTest, HelpWithoutText) {
  EXPECT_THAT(Text("# HELP m\n"), ElementsAre("help m ", "eof"));
}

TEST(TextParserTest, HelpWithoutName) {
  EXPECT_THAT(LastError(Text("# HELP \n")),
              HasSubstr("line 1: expected metric name after # HELP"));
}

TEST(TextParserTest, HelperIsAComment) {
  EXPECT_THAT(Text("# HELPER x\n#\n"),
              ElementsAre("comment HELPER x", "comment ", "eof"));
}

TEST(TextParserTest, LabelEscapes) {
  EXPECT_THAT(
      Text("m{a=\"x\\\\y\",b=\"q\\\"q\",c=\"n\\nn\",d=\"t\\tt\"} 1\n"),
      ElementsAre("series m{a=\"x\\\\y\",b=\"q\\\"q\",c=\"n\\nn\",d=\"t\\tt\"}"
                  " name=m labels=[a=x\\y;b=q\"q;c=n\nn;d=t\\tt;] v=1",
                  "eof"));
}

TEST(TextParserTest, EmptyLabelValueIsAbsent) {
  EXPECT_THAT(
      Text("m{a=\"\",b=\"1\"} 2\n"),
      ElementsAre("series m{a=\"\",b=\"1\"} name=m labels=[b=1;] v=2", "eof"));
}

TEST(TextParserTest, EmptyLabelNamesAreReportedPerLine) {
  Parser p("m{a=\"\",b=\"1\",c=\"\"} 2\nn{b=\"\"} 3\no 4\n",
           Format::kPrometheusText);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_THAT(p.EmptyLabelNames(), ElementsAre("a", "c"));
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_THAT(p.EmptyLabelNames(), ElementsAre("b"));
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_TRUE(p.EmptyLabelNames().empty());
}

TEST(TextParserTest, TrailingCommaAndEmptyBraces) {
  EXPECT_THAT(Text("m{a=\"1\",} 2\nn{} 3\n"),
              ElementsAre("series m{a=\"1\",} name=m labels=[a=1;] v=2",
                          "series n{} name=n labels=[] v=3", "eof"));
}

TEST(TextParserTest, WhitespaceIsFlexible) {
  EXPECT_THAT(Text("  m { a = \"1\" , b=\"2\" }\t 2 \t 100  \n"),
              ElementsAre("series m { a = \"1\" , b=\"2\" } name=m "
                          "labels=[a=1;b=2;] v=2 t=100",
                          "eof"));
}

TEST(TextParserTest, SpecialValues) {
  Parser p("a NaN\nb +Inf\nc -Inf\nd Inf\ne -0\nf 1e3\ng .5\nh +5\n",
           Format::kPrometheusText);
  std::vector<double> v;
  while (p.Next() == Entry::kSeries) v.push_back(p.Value());
  ASSERT_TRUE(p.status().ok()) << p.status();
  ASSERT_EQ(v.size(), 8u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[2], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[3], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[4], 0.0);
  EXPECT_TRUE(std::signbit(v[4]));
  EXPECT_EQ(v[5], 1000.0);
  EXPECT_EQ(v[6], 0.5);
  EXPECT_EQ(v[7], 5.0);
}

TEST(TextParserTest, FloatFastPathIsExact) {
  const char* cases[] = {"0.1",
                         "123456.789",
                         "1.7976931348623157e308",
                         "4.9351e-05",
                         "99999999999999",
                         "0.000000000000001",
                         "123456789012345",
                         "1234567890123456789",
                         "1.23456789e+10",
                         "1e22",
                         "1e23",
                         "-2.5E-3",
                         "9.99999999999999e-7",
                         "1e-22",
                         "123456789012345e-30",
                         "7e",
                         "1e+",
                         "1e5x"};
  for (const char* c : cases) {
    double got;
    char* end;
    double want = std::strtod(c, &end);
    if (*end != '\0') {
      EXPECT_FALSE(ParseFloatValue(c, &got)) << c;
      continue;
    }
    ASSERT_TRUE(ParseFloatValue(c, &got)) << c;
    EXPECT_EQ(got, want) << c;
  }
}

TEST(TextParserTest, NoTrailingNewline) {
  EXPECT_THAT(Text("m 1"), ElementsAre("series m name=m labels=[] v=1", "eof"));
}

TEST(TextParserTest, CarriageReturn) {
  EXPECT_THAT(Text("m 1\r\n"),
              ElementsAre("series m name=m labels=[] v=1", "eof"));
}

TEST(TextParserTest, NegativeTimestamp) {
  EXPECT_THAT(Text("m 1 -5\n"),
              ElementsAre("series m name=m labels=[] v=1 t=-5", "eof"));
}

TEST(TextParserTest, Errors) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {
      {"m\n", "line 1: expected value after metric"},
      {"m \n", "line 1: expected value after metric"},
      {"\n\nm{a=1} 1\n", "line 3: expected label value, got \"1}\""},
      {"m{a\"1\"} 1\n", "line 1: expected '=' after label name \"a\""},
      {"m{1=\"x\"} 1\n", "line 1: expected label name, got \"1=\"x\"}\""},
      {"m{a=\"x} 1\n", "line 1: unterminated value of label \"a\""},
      {"m{a=\"x\" b=\"y\"} 1\n",
       "line 1: expected ',' or '}' after value of label \"a\""},
      {"m{a=\"x\"\n", "line 1: unexpected end of line inside label set"},
      {"m abc\n", "line 1: invalid value \"abc\""},
      {"m 1 abc\n", "line 1: invalid timestamp \"abc\""},
      {"m 1 1.5\n", "line 1: invalid timestamp \"1.5\""},
      {"m 1 99999999999999999999\n", "line 1: invalid timestamp"},
      {"m 1 2 3\n", "line 1: unexpected text after timestamp: \"3\""},
      {"1m 1\n", "line 1: expected metric name, got \"1m\""},
      {"m-x 1\n", "line 1: invalid metric name \"m-x\""},
      {"m{a=\"x\"}1\n", "line 1: expected value after metric"},
      {"m 1 # {a=\"b\"} 1\n", "line 1: invalid timestamp \"#\""},
      {"# TYPE m bogus\n", "line 1: invalid metric type \"bogus\""},
      {"# TYPE m\n", "line 1: invalid metric type \"\""},
      {"m 1\nm 0x\n", "line 2: invalid value \"0x\""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> got = Text(c.in);
    EXPECT_THAT(LastError(got), HasSubstr(absl::StrCat("error ", c.want)))
        << c.in;
  }
}

TEST(TextParserTest, ErrorIsSticky) {
  Parser p("m x\nup 1\n", Format::kPrometheusText);
  EXPECT_EQ(p.Next(), Entry::kInvalid);
  EXPECT_EQ(p.Next(), Entry::kInvalid);
  EXPECT_FALSE(p.status().ok());
}

TEST(TextParserTest, ColonsInMetricName) {
  EXPECT_THAT(Text("job:rate5m:sum 1\n"),
              ElementsAre("series job:rate5m:sum name=job:rate5m:sum labels=[] "
                          "v=1",
                          "eof"));
  EXPECT_THAT(LastError(Text("m{a:b=\"1\"} 1\n")),
              HasSubstr("expected '=' after label name \"a\""));
}

TEST(TextParserTest, NeverReadsPastEnd) {
  // Every prefix of a valid input either parses or fails cleanly; under
  // ASan a read past the buffer would abort. Copy each prefix into its own
  // exactly sized heap buffer so the sanitizer sees the end.
  const std::string in =
      "# HELP m h\\n\n# TYPE m counter\nm{a=\"x\\\"\",b=\"y\"} 1.5 123\n";
  for (size_t n = 0; n <= in.size(); ++n) {
    std::unique_ptr<char[]> buf(new char[n]);
    std::memcpy(buf.get(), in.data(), n);
    Parser p(absl::string_view(buf.get(), n), Format::kPrometheusText);
    Entry e;
    do {
      e = p.Next();
    } while (e != Entry::kEOF && e != Entry::kInvalid);
    Parser q(absl::string_view(buf.get(), n), Format::kOpenMetrics);
    do {
      e = q.Next();
    } while (e != Entry::kEOF && e != Entry::kInvalid);
  }
}

TEST(TextParserTest, BuildLabels) {
  Parser p("m{b=\"2\",a=\"1\",c=\"\"} 1\nd{a=\"1\",a=\"2\"} 1\n",
           Format::kPrometheusText);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  absl::StatusOr<tsdb::Labels> l = p.BuildLabels();
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->ToString(), "m{a=\"1\", b=\"2\"}");
  ASSERT_EQ(p.Next(), Entry::kSeries);
  l = p.BuildLabels();
  EXPECT_FALSE(l.ok());
  EXPECT_THAT(std::string(l.status().message()), HasSubstr("line 2:"));
}

TEST(TextParserTest, SeriesStableAcrossValues) {
  Parser p("m{a=\"1\"} 1 5\nm{a=\"1\"}  2\n", Format::kPrometheusText);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  std::string first(p.Series());
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(first, p.Series());
}

// --- OpenMetrics ----------------------------------------------------------

TEST(OpenMetricsParserTest, FullExample) {
  const char* in =
      "# HELP a_seconds Help \\\"quoted\\\" \\\\ \\n.\n"
      "# TYPE a_seconds counter\n"
      "# UNIT a_seconds seconds\n"
      "a_seconds_total{x=\"1\"} 3 1520879607.789\n"
      "a_seconds_created{x=\"1\"} 1520879600\n"
      "# TYPE h histogram\n"
      "h_bucket{le=\"+Inf\"} 2 # {trace_id=\"abc\"} 1.5 1520879607.5\n"
      "h_bucket{le=\"1\"} 1 123 # {} 0.5\n"
      "# EOF\n";
  EXPECT_THAT(
      OM(in),
      ElementsAre(
          "help a_seconds Help \"quoted\" \\ \n.", "type a_seconds counter",
          "unit a_seconds seconds",
          "series a_seconds_total{x=\"1\"} name=a_seconds_total labels=[x=1;] "
          "v=3 t=1520879607789",
          "series a_seconds_created{x=\"1\"} name=a_seconds_created "
          "labels=[x=1;] v=1.52088e+09",
          "type h histogram",
          "series h_bucket{le=\"+Inf\"} name=h_bucket labels=[le=+Inf;] v=2 "
          "ex={trace_id=\"abc\"}:1.5@1520879607500",
          "series h_bucket{le=\"1\"} name=h_bucket labels=[le=1;] v=1 t=123000 "
          "ex={}:0.5",
          "eof"));
}

TEST(OpenMetricsParserTest, AllTypes) {
  EXPECT_THAT(
      OM("# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n"
         "# TYPE d gaugehistogram\n# TYPE e summary\n# TYPE f info\n"
         "# TYPE g stateset\n# TYPE h unknown\n# EOF\n"),
      ElementsAre("type a counter", "type b gauge", "type c histogram",
                  "type d gaugehistogram", "type e summary", "type f info",
                  "type g stateset", "type h unknown", "eof"));
  EXPECT_THAT(LastError(OM("# TYPE a untyped\n# EOF\n")),
              HasSubstr("line 1: invalid metric type \"untyped\""));
}

TEST(OpenMetricsParserTest, EofRequired) {
  EXPECT_THAT(LastError(OM("a 1\n")),
              "error line 2: missing \"# EOF\" at end of OpenMetrics input");
  EXPECT_THAT(LastError(OM("")), HasSubstr("missing \"# EOF\""));
}

TEST(OpenMetricsParserTest, EofWithoutNewline) {
  EXPECT_THAT(OM("a 1\n# EOF"),
              ElementsAre("series a name=a labels=[] v=1", "eof"));
}

TEST(OpenMetricsParserTest, ContentAfterEof) {
  EXPECT_THAT(LastError(OM("# EOF\na 1\n")),
              "error line 2: unexpected content after \"# EOF\"");
  EXPECT_THAT(LastError(OM("# EOF\n\n")),
              HasSubstr("unexpected content after \"# EOF\""));
}

TEST(OpenMetricsParserTest, TimestampsAreSeconds) {
  EXPECT_THAT(OM("a 1 1\nb 1 -1.5\nc 1 1.0001\nd 1 1e3\ne 1 0.001\n# EOF\n"),
              ElementsAre("series a name=a labels=[] v=1 t=1000",
                          "series b name=b labels=[] v=1 t=-1500",
                          "series c name=c labels=[] v=1 t=1000",
                          "series d name=d labels=[] v=1 t=1000000",
                          "series e name=e labels=[] v=1 t=1", "eof"));
}

TEST(OpenMetricsParserTest, MalformedExemplarIsDropped) {
  EXPECT_THAT(OM("a 1 # {x=\"y\"\nb 2 # {} \nc 3 # bogus\n# EOF\n"),
              ElementsAre("series a name=a labels=[] v=1",
                          "series b name=b labels=[] v=2",
                          "series c name=c labels=[] v=3", "eof"));
}

TEST(OpenMetricsParserTest, Errors) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {
      {"\n# EOF\n", "line 1: unexpected blank line"},
      {"a 1\n\n# EOF\n", "line 2: unexpected blank line"},
      {"# random comment\n# EOF\n", "line 1: invalid comment"},
      {"a  1\n# EOF\n", "line 1: invalid value \"\""},
      {"a 1 \n# EOF\n", "line 1: unexpected text after value"},
      {"a{b = \"1\"} 1\n# EOF\n", "line 1: expected '=' after label name"},
      {" a 1\n# EOF\n", "line 1: expected metric name"},
      {"a 1 x\n# EOF\n", "line 1: invalid timestamp \"x\""},
      {"a 1 1 2\n# EOF\n", "line 1: unexpected text after timestamp"},
      {"a\t1\n# EOF\n", "line 1: expected a single space before the value"},
      {"# TYPE a\tcounter\n# EOF\n", "line 1: invalid metric name in # TYPE"},
      {"# EOF \n", "line 1: invalid comment"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(LastError(OM(c.in)), HasSubstr(absl::StrCat("error ", c.want)))
        << c.in;
  }
}

TEST(OpenMetricsParserTest, LabelsAndEscapes) {
  EXPECT_THAT(OM("a{x=\"a\\\"b\",y=\"\",} 1\n# EOF\n"),
              ElementsAre("series a{x=\"a\\\"b\",y=\"\",} name=a "
                          "labels=[x=a\"b;] v=1",
                          "eof"));
}

// --- Content types ------------------------------------------------------

TEST(FormatTest, Detect) {
  EXPECT_EQ(DetectFormat("application/openmetrics-text; version=1.0.0; "
                         "charset=utf-8"),
            Format::kOpenMetrics);
  EXPECT_EQ(DetectFormat("Application/OpenMetrics-Text"), Format::kOpenMetrics);
  EXPECT_EQ(DetectFormat("text/plain; version=0.0.4"), Format::kPrometheusText);
  EXPECT_EQ(DetectFormat(""), Format::kPrometheusText);
  EXPECT_EQ(DetectFormat("application/json"), Format::kPrometheusText);
  EXPECT_EQ(DetectFormat(ContentTypeFor(Format::kOpenMetrics)),
            Format::kOpenMetrics);
  EXPECT_EQ(DetectFormat(ContentTypeFor(Format::kPrometheusText)),
            Format::kPrometheusText);
}

// --- NextPredicted: the scrape cache's fast path ----------------------------

// Like Describe, but without the parts NextPredicted does not fill in
// (metric name and labels), so both paths render identically.
std::string DescribeNoLabels(Parser& p, Entry e) {
  if (e != Entry::kSeries) return Describe(p, e);
  std::string s =
      absl::StrCat("line ", p.line(), " series ", p.Series(), " v=", p.Value());
  if (p.Timestamp()) absl::StrAppend(&s, " t=", *p.Timestamp());
  if (p.HasExemplar()) absl::StrAppend(&s, " ex=", p.exemplar().labels);
  return s;
}

struct PredictedRun {
  std::vector<std::string> entries;
  int predicted = 0;
};

// Parses `in` predicting each series line to be `guess(i)` for the i-th
// series line.
template <typename Guess>
PredictedRun ParsePredicted(absl::string_view in, Format f, Guess guess) {
  Parser p(in, f);
  PredictedRun run;
  int i = 0;
  for (;;) {
    std::string g = guess(i);
    Entry e = p.NextPredicted(g);
    if (p.predicted()) {
      ++run.predicted;
      EXPECT_EQ(e, Entry::kSeries);
      EXPECT_EQ(p.Series(), g);
    }
    if (e == Entry::kSeries) ++i;
    run.entries.push_back(DescribeNoLabels(p, e));
    if (e == Entry::kEOF || e == Entry::kInvalid) break;
  }
  return run;
}

// The full parse of `in`: entries and the Series() of each series line.
PredictedRun ParseFull(absl::string_view in, Format f,
                       std::vector<std::string>* series) {
  Parser p(in, f);
  PredictedRun run;
  for (;;) {
    Entry e = p.Next();
    if (e == Entry::kSeries) series->emplace_back(p.Series());
    run.entries.push_back(DescribeNoLabels(p, e));
    if (e == Entry::kEOF || e == Entry::kInvalid) break;
  }
  return run;
}

// Every body is parsed three ways: Next() only, NextPredicted() with the
// right series, and NextPredicted() with a wrong one. All three must agree
// entry by entry, including the line number and the reason of an error.
void ExpectSameAsFullParse(absl::string_view in, Format f, int min_predicted) {
  SCOPED_TRACE(in);
  std::vector<std::string> series;
  PredictedRun full = ParseFull(in, f, &series);
  PredictedRun right = ParsePredicted(in, f, [&](int i) {
    return i < static_cast<int>(series.size()) ? series[i] : std::string();
  });
  EXPECT_EQ(right.entries, full.entries);
  EXPECT_GE(right.predicted, min_predicted);
  PredictedRun wrong =
      ParsePredicted(in, f, [](int) { return std::string("other{a=\"1\"}"); });
  EXPECT_EQ(wrong.entries, full.entries);
  EXPECT_EQ(wrong.predicted, 0);
}

TEST(PredictedParseTest, TextSteadyStateLinesTakeTheFastPath) {
  ExpectSameAsFullParse(
      "# HELP a help\n# TYPE a counter\n"
      "a{x=\"1\",y=\"2\"} 1.5\n"
      "a{x=\"1\",y=\"3\"}   2 1700000000000\n"
      "  b 3e-05\n"
      "c{} +Inf\n"
      "d NaN\t\n"
      "e{x=\"\\\"q\\\\\"} -1 -5  \n"
      "f 7",
      // All but "  b": lines with leading blanks take the full parser.
      Format::kPrometheusText, 6);
}

TEST(PredictedParseTest, OpenMetricsSteadyStateLinesTakeTheFastPath) {
  ExpectSameAsFullParse(
      "# TYPE a counter\n"
      "a_total{x=\"1\"} 1.5\n"
      "a_total{x=\"2\"} 2 1700000000.123\n"
      "b 4\n"
      "# EOF\n",
      Format::kOpenMetrics, 3);
}

TEST(PredictedParseTest, LinesTheFastPathDeclinesStillParse) {
  // CRLF, exemplars, a bare name followed by blanks and labels: the full
  // parser decides, with the same result.
  ExpectSameAsFullParse("a 1\r\nb{x=\"1\"} 2\r\n", Format::kPrometheusText, 0);
  ExpectSameAsFullParse("a {x=\"1\"} 1\nb\t{y=\"2\"} 2\n",
                        Format::kPrometheusText, 0);
  ExpectSameAsFullParse(
      "a_total 1 # {id=\"x\"} 1\na_total 2 1.5 # {id=\"y\"} 2 1\n# EOF\n",
      Format::kOpenMetrics, 0);
}

TEST(PredictedParseTest, InvalidLinesFailExactlyAsInTheFullParse) {
  const char* text_cases[] = {
      "a{x=\"1\"} 1\na{x=\"1\"} x\n",      // bad value
      "a{x=\"1\"} 1\na{x=\"1\"} 1 2 3\n",  // text after timestamp
      "a{x=\"1\"} 1\na{x=\"1\"} 1 1.5\n",  // float timestamp
      "a{x=\"1\"} 1\na{x=\"1\"}\n",        // no value
      "a{x=\"1\"} 1\na{x=\"1\"} \n",       // blank instead of value
      "a{x=\"1\"} 1\na{x=\"1\"}1\n",       // no separator
      "a{x=\"1\"} 1\na{x=\"1\"} 1 # c\n",  // comment after value
      "a 1\na",                            // truncated, no newline
      "a 1\na 99999999999999999999999 1e99999\n",
  };
  for (const char* c : text_cases) {
    ExpectSameAsFullParse(c, Format::kPrometheusText, 0);
  }
  const char* om_cases[] = {
      "a 1\na  1\n# EOF\n",     // two spaces
      "a 1\na 1 \n# EOF\n",     // trailing space
      "a 1\na\t1\n# EOF\n",     // tab
      "a 1\na 1 x\n# EOF\n",    // bad timestamp
      "a 1\na 1 1 1\n# EOF\n",  // text after timestamp
      "a 1\na 1\n",             // missing # EOF
      "a 1\na 1\r\n# EOF\n",    // CR
  };
  for (const char* c : om_cases)
    ExpectSameAsFullParse(c, Format::kOpenMetrics, 0);
}

TEST(PredictedParseTest, InvalidLineIsReportedWithItsNumberAndReason) {
  Parser p("a{x=\"1\"} 1\n\na{x=\"1\"} one\n", Format::kPrometheusText);
  ASSERT_EQ(p.NextPredicted("a{x=\"1\"}"), Entry::kSeries);
  EXPECT_TRUE(p.predicted());
  EXPECT_EQ(p.NextPredicted("a{x=\"1\"}"), Entry::kInvalid);
  EXPECT_FALSE(p.predicted());
  EXPECT_EQ(p.status().message(), "line 3: invalid value \"one\"");
}

TEST(PredictedParseTest, PredictionMayNotRunPastTheBuffer) {
  // The expected series is longer than what is left of the input; the
  // buffer ends without a newline right after a matching prefix.
  std::string body = "abc{x=\"1\"}";
  std::unique_ptr<char[]> exact(new char[body.size()]);
  std::memcpy(exact.get(), body.data(), body.size());
  Parser p(absl::string_view(exact.get(), body.size()),
           Format::kPrometheusText);
  EXPECT_EQ(p.NextPredicted("abc{x=\"1\"} 1"), Entry::kInvalid);
  Parser q(absl::string_view(exact.get(), body.size() - 1),
           Format::kPrometheusText);
  EXPECT_EQ(q.NextPredicted("abc{x=\"1\"}"), Entry::kInvalid);
  // A value ending exactly at the end of the buffer.
  std::string v = "a 12";
  std::unique_ptr<char[]> vb(new char[v.size()]);
  std::memcpy(vb.get(), v.data(), v.size());
  Parser r(absl::string_view(vb.get(), v.size()), Format::kPrometheusText);
  ASSERT_EQ(r.NextPredicted("a"), Entry::kSeries);
  EXPECT_TRUE(r.predicted());
  EXPECT_EQ(r.Value(), 12);
  EXPECT_EQ(r.NextPredicted("a"), Entry::kEOF);
}

}  // namespace
}  // namespace vigil::tsdb::textparse
