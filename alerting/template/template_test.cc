#include "alerting/template/template.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"

namespace vigil::alerting {
namespace {

std::string Expand(const std::string& text, const TemplateValue& data) {
  absl::StatusOr<Template> t =
      Template::Parse(text, RuleTemplateOptions(), "t");
  if (!t.ok()) return "PARSE ERROR: " + std::string(t.status().message());
  absl::StatusOr<std::string> s = t->Execute(data);
  if (!s.ok()) return "EXEC ERROR: " + std::string(s.status().message());
  return *s;
}

TemplateValue Data(double value = 0.8109340477677033) {
  return RuleTemplateData({{"instance", "192.168.121.174:9113"},
                           {"job", "nginx"},
                           {"alertname", "Nginx 100 active connections"}},
                          value, {{"cluster", "eu1"}},
                          "http://prometheus:9090");
}

std::string ParseError(const std::string& text) {
  absl::StatusOr<Template> t =
      Template::Parse(text, RuleTemplateOptions(), "t");
  if (t.ok()) return "OK";
  return std::string(t.status().message());
}

TEST(TemplateTest, SeedAnnotation) {
  EXPECT_EQ(
      Expand("Nginx 100 active connections on {{ $labels.instance }}", Data()),
      "Nginx 100 active connections on 192.168.121.174:9113");
}

TEST(TemplateTest, LabelsAndValueForms) {
  EXPECT_EQ(Expand("{{ .Labels.job }}/{{ $labels.job }}", Data()),
            "nginx/nginx");
  EXPECT_EQ(Expand("{{ $value }}", Data()), "0.8109340477677033");
  EXPECT_EQ(Expand("{{ .Value }}", Data(1e6)), "1e+06");
  EXPECT_EQ(Expand("{{ $value }}", Data(100000)), "100000");
  EXPECT_EQ(Expand("{{ $value }}", Data(123456789)), "1.23456789e+08");
  EXPECT_EQ(Expand("{{ $value }}", Data(0.0001)), "0.0001");
  EXPECT_EQ(Expand("{{ $value }}", Data(0.00001)), "1e-05");
  EXPECT_EQ(Expand("{{ $value }}", Data(100)), "100");
  EXPECT_EQ(Expand("{{ $value }}", Data(NAN)), "NaN");
  EXPECT_EQ(Expand("{{ $value }}", Data(INFINITY)), "+Inf");
  EXPECT_EQ(Expand("{{ $value }}", Data(-INFINITY)), "-Inf");
  EXPECT_EQ(Expand("{{ $externalLabels.cluster }} {{ $externalURL }}", Data()),
            "eu1 http://prometheus:9090");
  EXPECT_EQ(Expand("[{{ $labels.missing }}]", Data()), "[]");
}

TEST(TemplateTest, Humanize) {
  EXPECT_EQ(*Humanize(1234.5678), "1.235k");
  EXPECT_EQ(*Humanize(0), "0");
  EXPECT_EQ(*Humanize(1), "1");
  EXPECT_EQ(*Humanize(999), "999");
  EXPECT_EQ(*Humanize(1e6), "1M");
  EXPECT_EQ(*Humanize(123456789), "123.5M");
  EXPECT_EQ(*Humanize(0.001), "1m");
  EXPECT_EQ(*Humanize(0.0012345), "1.234m");  // rounds half to even digits
  EXPECT_EQ(*Humanize(-1500), "-1.5k");
  EXPECT_EQ(*Humanize(NAN), "NaN");
  EXPECT_EQ(*Humanize(INFINITY), "+Inf");
  EXPECT_EQ(*Humanize(1e30), "1e+06Y");
  EXPECT_EQ(*Humanize1024(1024), "1ki");
  EXPECT_EQ(*Humanize1024(1), "1");
  EXPECT_EQ(*Humanize1024(1536 * 1024), "1.5Mi");
  EXPECT_EQ(*HumanizePercentage(0.8109340477677033), "81.09%");
  EXPECT_EQ(*HumanizeDuration(0), "0s");
  EXPECT_EQ(*HumanizeDuration(1.5), "1.5s");
  EXPECT_EQ(*HumanizeDuration(60), "1m 0s");
  EXPECT_EQ(*HumanizeDuration(3661), "1h 1m 1s");
  EXPECT_EQ(*HumanizeDuration(90061), "1d 1h 1m 1s");
  EXPECT_EQ(*HumanizeDuration(-90), "-1m 30s");
  EXPECT_EQ(*HumanizeDuration(0.001), "1ms");
  EXPECT_EQ(*HumanizeDuration(0.0000015), "1.5us");
  EXPECT_EQ(*HumanizeTimestamp(1714152065.311),
            "2024-04-26 17:21:05.311 +0000 UTC");
  EXPECT_EQ(*HumanizeTimestamp(0), "1970-01-01 00:00:00 +0000 UTC");
  EXPECT_EQ(Expand("{{ $value | humanize }}", Data(1234.5678)), "1.235k");
  EXPECT_EQ(Expand("{{ humanize $value }}", Data(1234.5678)), "1.235k");
  EXPECT_EQ(Expand("{{ \"1024\" | humanize1024 }}", Data()), "1ki");
  EXPECT_EQ(Expand("{{ \"abc\" | humanize }}", Data()).substr(0, 10),
            "EXEC ERROR");
}

TEST(TemplateTest, StringFunctions) {
  EXPECT_EQ(Expand("{{ \"firing\" | toUpper }}", Data()), "FIRING");
  EXPECT_EQ(Expand("{{ toLower \"ABC\" }}", Data()), "abc");
  EXPECT_EQ(Expand("{{ title \"hello wide world\" }}", Data()),
            "Hello Wide World");
  EXPECT_EQ(
      Expand("{{ reReplaceAll \":[0-9]+\" \"\" $labels.instance }}", Data()),
      "192.168.121.174");
  EXPECT_EQ(
      Expand("{{ reReplaceAll \"(.*):(.*)\" \"$2-$1\" $labels.instance }}",
             Data()),
      "9113-192.168.121.174");
  EXPECT_EQ(Expand("{{ $labels.instance | stripPort }}", Data()),
            "192.168.121.174");
  EXPECT_EQ(Expand("{{ printf \"%.2f\" $value }}", Data()), "0.81");
  EXPECT_EQ(Expand("{{ printf \"%s=%v\" \"a\" 3 }}", Data()), "a=3");
  EXPECT_EQ(Expand("{{ printf \"%d\" 3 }}", Data()), "3");
  EXPECT_EQ(Expand("{{ printf \"%q\" \"a\" }}", Data()), "\"a\"");
  EXPECT_EQ(Expand("{{ printf \"%d%%\" 50 }}", Data()), "50%");
  EXPECT_EQ(Expand("{{ printf \"%d\" $value }}", Data(1.5)),
            "%!d(float64=1.5)");
  EXPECT_EQ(Expand("{{ printf \"%s\" }}", Data()), "%!s(MISSING)");
  EXPECT_EQ(Expand("{{ len $labels }} {{ len \"abc\" }}", Data()), "3 3");
  EXPECT_EQ(Expand("{{ index $labels \"job\" }}", Data()), "nginx");
  EXPECT_EQ(Expand("{{ match \"^192\" $labels.instance }}", Data()), "true");
}

TEST(TemplateTest, ControlFlow) {
  EXPECT_EQ(Expand("{{ if gt $value 0.5 }}high{{ else }}low{{ end }}", Data()),
            "high");
  EXPECT_EQ(Expand("{{ if lt $value 0.5 }}low{{ else if lt $value 0.9 }}mid{{ "
                   "else }}high{{ end }}",
                   Data()),
            "mid");
  EXPECT_EQ(Expand("{{ if eq $labels.job \"nginx\" \"x\" }}y{{ end }}", Data()),
            "y");
  EXPECT_EQ(
      Expand("{{ if ne $labels.job \"nginx\" }}y{{ else }}n{{ end }}", Data()),
      "n");
  EXPECT_EQ(
      Expand("{{ if and (eq $labels.job \"nginx\") (not false) }}a{{ end }}",
             Data()),
      "a");
  EXPECT_EQ(Expand("{{ or \"\" \"fallback\" }}", Data()), "fallback");
  EXPECT_EQ(Expand("{{ with $labels.job }}job={{ . }}{{ end }}", Data()),
            "job=nginx");
  EXPECT_EQ(Expand("{{ with $labels.nope }}x{{ else }}none{{ end }}", Data()),
            "none");
  EXPECT_EQ(
      Expand("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
             Data()),
      "alertname=Nginx 100 active connections;instance=192.168.121.174:9113;"
      "job=nginx;");
  EXPECT_EQ(
      Expand("{{ $x := \"a\" }}{{ if true }}{{ $x = \"b\" }}{{ end }}{{ $x }}",
             Data()),
      "b");
  // Go refuses to compare int with float64.
  EXPECT_EQ(Expand("{{ if gt $value 1 }}x{{ end }}", Data()).substr(0, 10),
            "EXEC ERROR");
}

TEST(TemplateTest, TrimMarkersAndComments) {
  EXPECT_EQ(Expand("a  \n {{- \"b\" -}} \n  c", Data()), "abc");
  EXPECT_EQ(Expand("a {{/* comment */}} b", Data()), "a  b");
  EXPECT_EQ(Expand("a {{- /* comment */ -}} b", Data()), "ab");
  EXPECT_EQ(Expand("{{- if true }}\n  x\n{{- end }}", Data()), "\n  x");
}

TEST(TemplateTest, AlertmanagerData) {
  TemplateValue::Map alert1{{"Status", TemplateValue::String("firing")},
                            {"Labels", TemplateValue::StringMap({{"a", "1"}})}};
  TemplateValue::Map alert2{{"Status", TemplateValue::String("resolved")},
                            {"Labels", TemplateValue::StringMap({{"a", "2"}})}};
  TemplateValue::Map d{
      {"Status", TemplateValue::String("firing")},
      {"GroupLabels", TemplateValue::StringMap(
                          {{"service", "go-demo_main"}, {"status", "error"}})},
      {"CommonAnnotations",
       TemplateValue::StringMap({{"summary", "Memory is high"}})},
      {"Alerts", TemplateValue::FromList({TemplateValue::FromStruct(alert1),
                                          TemplateValue::FromStruct(alert2)})},
  };
  TemplateValue data = TemplateValue::FromStruct(d);
  TemplateOptions opts;
  auto run = [&](const std::string& text) {
    absl::StatusOr<Template> t = Template::Parse(text, opts, "slack");
    EXPECT_TRUE(t.ok()) << t.status();
    absl::StatusOr<std::string> s = t->Execute(data);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or("");
  };
  EXPECT_EQ(run("[{{ .Status | toUpper }}] {{ .GroupLabels.service }} service "
                "is in danger!"),
            "[FIRING] go-demo_main service is in danger!");
  EXPECT_EQ(run("{{ .CommonAnnotations.summary}}"), "Memory is high");
  EXPECT_EQ(run("{{ if eq .GroupLabels.status \"error\" }}danger{{ else "
                "}}good{{ end }}"),
            "danger");
  EXPECT_EQ(run("{{ range .Alerts }}{{ .Labels.a }}{{ end }}"), "12");
  EXPECT_EQ(run("{{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }}"), "1/1");
  absl::StatusOr<Template> t = Template::Parse("{{ .Nope }}", opts, "slack");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->Execute(data).ok());
}

TEST(TemplateTest, LoadTimeErrorsHavePositions) {
  EXPECT_EQ(ParseError("{{ nosuchfunc 1 }}"),
            "template: t:1:4: function \"nosuchfunc\" not defined");
  EXPECT_EQ(ParseError("a\n  {{ $nope }}"),
            "template: t:2:6: undefined variable \"$nope\"");
  EXPECT_EQ(ParseError("{{ if true }}x"),
            "template: t:1:1: unexpected EOF: {{if}} without {{end}}");
  EXPECT_EQ(ParseError("{{ end }}"), "template: t:1:1: unexpected {{end}}");
  EXPECT_EQ(ParseError("{{ template \"x\" }}"),
            "template: t:1:4: unsupported action \"template\"");
  EXPECT_EQ(ParseError("{{ $labels.x"), "template: t:1:13: unclosed action");
  EXPECT_EQ(ParseError("{{ \"abc }}"),
            "template: t:1:4: unterminated quoted string");
  EXPECT_EQ(ParseError("{{ }}"), "template: t:1:1: missing value for command");
  EXPECT_EQ(ParseError("{{ $labels.job 3 }}"),
            "template: t:1:16: can't give argument to non-function");
  EXPECT_EQ(ParseError("{{ (humanize 1 }}"),
            "template: t:1:4: unclosed left paren");
  EXPECT_EQ(ParseError("plain text"), "OK");
}

TEST(TemplateTest, GoFloatFormatting) {
  EXPECT_EQ(FormatGoFloat(0.1), "0.1");
  EXPECT_EQ(FormatGoFloat(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(FormatGoFloat(-2.5), "-2.5");
  EXPECT_EQ(FormatGoFloat(1.5e300), "1.5e+300");
  EXPECT_EQ(FormatGoFloat(999999), "999999");
  EXPECT_EQ(FormatGoFloat(1234567), "1.234567e+06");
  EXPECT_EQ(FormatGoG(12345.678, 4), "1.235e+04");
  EXPECT_EQ(FormatGoTime(1714152065311), "2024-04-26 17:21:05.311 +0000 UTC");
  EXPECT_EQ(FormatGoTime(1714152065300), "2024-04-26 17:21:05.3 +0000 UTC");
  EXPECT_EQ(FormatGoTime(-1), "1969-12-31 23:59:59.999 +0000 UTC");
  EXPECT_EQ(GoFraction(0), "");
  EXPECT_EQ(GoFraction(310), ".31");
}

}  // namespace
}  // namespace vigil::alerting
