#include "promql/parser/parser.h"

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "promql/parser/functions.h"

namespace vigil::promql {
namespace {

// FormatExpr of the parsed query, or "ERROR: <message>".
std::string Fmt(const std::string& q) {
  auto e = ParseExpr(q);
  if (!e.ok()) return "ERROR: " + std::string(e.status().message());
  return FormatExpr(**e);
}

// The error message of a query that must fail.
std::string Err(const std::string& q) {
  auto e = ParseExpr(q);
  if (e.ok()) return "OK: " + FormatExpr(**e);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << q;
  return std::string(e.status().message());
}

ExprPtr MustParse(const std::string& q) {
  auto e = ParseExpr(q);
  EXPECT_TRUE(e.ok()) << q << ": " << e.status();
  if (!e.ok()) return nullptr;
  return *std::move(e);
}

double Number(const std::string& q) {
  ExprPtr e = MustParse(q);
  if (e == nullptr || e->kind != ExprKind::kNumber) {
    ADD_FAILURE() << q << " is not a number literal";
    return 0;
  }
  return static_cast<NumberLiteral*>(e.get())->value;
}

std::string String(const std::string& q) {
  ExprPtr e = MustParse(q);
  if (e == nullptr || e->kind != ExprKind::kString) {
    ADD_FAILURE() << q << " is not a string literal";
    return "";
  }
  return static_cast<StringLiteral*>(e.get())->value;
}

// --- Literals ---------------------------------------------------------------

TEST(ParserTest, NumberLiterals) {
  EXPECT_EQ(Number("1"), 1);
  EXPECT_EQ(Number("1.5"), 1.5);
  EXPECT_EQ(Number(".5"), 0.5);
  EXPECT_EQ(Number("5."), 5);
  EXPECT_EQ(Number("1e3"), 1000);
  EXPECT_EQ(Number("1E-3"), 0.001);
  EXPECT_EQ(Number("2.5e+2"), 250);
  EXPECT_EQ(Number("0x1F"), 31);
  EXPECT_EQ(Number("0XfF"), 255);
  EXPECT_EQ(Number("017"), 15);  // Go's ParseInt base 0: octal
  EXPECT_EQ(Number("09"), 9);
  EXPECT_EQ(Number("20000000"), 20000000);
  EXPECT_EQ(Number("-1"), -1);  // sign folded into the literal
  EXPECT_EQ(Number("+1"), 1);
  EXPECT_EQ(Number("- 2.5"), -2.5);
  EXPECT_TRUE(std::isinf(Number("Inf")));
  EXPECT_GT(Number("inf"), 0);
  EXPECT_LT(Number("-Inf"), 0);
  EXPECT_LT(Number("-INF"), 0);
  EXPECT_TRUE(std::isnan(Number("NaN")));
  EXPECT_TRUE(std::isnan(Number("nan")));
}

TEST(ParserTest, NumberFormatting) {
  // Prometheus prints literals with Go's fmt.Sprint (%v).
  EXPECT_EQ(Fmt("0.8"), "0.8");
  EXPECT_EQ(Fmt("1e3"), "1000");
  EXPECT_EQ(Fmt("1e-3"), "0.001");
  EXPECT_EQ(Fmt("0.0001"), "0.0001");
  EXPECT_EQ(Fmt("0.00001"), "1e-05");
  EXPECT_EQ(Fmt("0x10"), "16");
  EXPECT_EQ(Fmt("123456"), "123456");
  EXPECT_EQ(Fmt("1234567"), "1.234567e+06");
  EXPECT_EQ(Fmt("20000000"), "2e+07");
  EXPECT_EQ(Fmt("1e21"), "1e+21");
  EXPECT_EQ(Fmt("1.5e300"), "1.5e+300");
  EXPECT_EQ(Fmt("-2.5e-7"), "-2.5e-07");
  EXPECT_EQ(Fmt("0"), "0");
  EXPECT_EQ(Fmt("100"), "100");
  EXPECT_EQ(Fmt("3.14159"), "3.14159");
  EXPECT_EQ(Fmt("Inf"), "+Inf");
  EXPECT_EQ(Fmt("-inf"), "-Inf");
  EXPECT_EQ(Fmt("NaN"), "NaN");
  EXPECT_EQ(Fmt("0.1 + 0.2"), "0.1 + 0.2");
}

TEST(ParserTest, StringLiterals) {
  EXPECT_EQ(String(R"("abc")"), "abc");
  EXPECT_EQ(String(R"('abc')"), "abc");
  EXPECT_EQ(String("`a\\nb`"), "a\\nb");  // raw: no escapes
  EXPECT_EQ(String("`multi\nline`"), "multi\nline");
  EXPECT_EQ(String(R"("a\nb\tc\\d\"e")"), "a\nb\tc\\d\"e");
  EXPECT_EQ(String(R"('it\'s')"), "it's");
  EXPECT_EQ(String(R"("\a\b\f\r\v")"), "\a\b\f\r\v");
  EXPECT_EQ(String(R"("\x41\x42")"), "AB");
  EXPECT_EQ(String(R"("\101")"), "A");  // octal
  EXPECT_EQ(String(R"("\u00e9")"), "\xC3\xA9");
  EXPECT_EQ(String(R"("\U0001F600")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(String("\"h\xC3\xA9llo \xE2\x9C\x93\""),
            "h\xC3\xA9llo \xE2\x9C\x93");
  EXPECT_EQ(String(R"("")"), "");
}

TEST(ParserTest, StringFormatting) {
  EXPECT_EQ(Fmt(R"('single')"), R"("single")");
  EXPECT_EQ(Fmt(R"("a\"b\\c\n")"), R"("a\"b\\c\n")");
  EXPECT_EQ(Fmt("`raw\"q`"), R"("raw\"q")");
  EXPECT_EQ(Fmt("\"\xE2\x9C\x93\""), "\"\xE2\x9C\x93\"");
  EXPECT_EQ(Fmt(R"("\x01")"), R"("\x01")");
}

TEST(ParserTest, StringErrors) {
  EXPECT_EQ(Err(R"("abc)"), "1:1: parse error: unterminated quoted string");
  EXPECT_EQ(Err("\"ab\nc\""), "1:1: parse error: unterminated quoted string");
  EXPECT_EQ(Err("`abc"), "1:1: parse error: unterminated raw string");
  EXPECT_EQ(Err(R"("\q")"),
            "1:2: parse error: unknown escape sequence 'q' in string");
  EXPECT_EQ(Err(R"("\'")"),
            "1:2: parse error: unknown escape sequence ''' in string");
  EXPECT_EQ(Err(R"("\xZZ")"),
            "1:2: parse error: invalid hex escape sequence in string");
  EXPECT_EQ(Err(R"("\uD800")"),
            "1:2: parse error: escape sequence is an invalid Unicode code "
            "point");
  EXPECT_EQ(Err(R"("\400")"),
            "1:2: parse error: octal escape value > 255 in string");
}

TEST(ParserTest, Durations) {
  EXPECT_EQ(*ParseDuration("5m"), 300000);
  EXPECT_EQ(*ParseDuration("1h30m"), 5400000);
  EXPECT_EQ(*ParseDuration("10s"), 10000);
  EXPECT_EQ(*ParseDuration("1d"), 86400000);
  EXPECT_EQ(*ParseDuration("1w"), 7 * 86400000LL);
  EXPECT_EQ(*ParseDuration("1y"), 365 * 86400000LL);
  EXPECT_EQ(*ParseDuration("100ms"), 100);
  EXPECT_EQ(*ParseDuration("1m5s100ms"), 65100);
  EXPECT_EQ(*ParseDuration("0"), 0);
  EXPECT_EQ(*ParseDuration("0s"), 0);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("5").ok());
  EXPECT_FALSE(ParseDuration("m").ok());
  EXPECT_FALSE(ParseDuration("5x").ok());
  EXPECT_FALSE(ParseDuration("1m1h").ok());  // units out of order
  EXPECT_FALSE(ParseDuration("1m1m").ok());  // repeated unit
  EXPECT_FALSE(ParseDuration("1.5h").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999y").ok());
  EXPECT_EQ(ParseDuration("1m1h").status().message(),
            "not a valid duration string: \"1m1h\"");
}

TEST(ParserTest, DurationFormatting) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(300000), "5m");
  EXPECT_EQ(FormatDuration(5400000), "1h30m");
  EXPECT_EQ(FormatDuration(100), "100ms");
  EXPECT_EQ(FormatDuration(90LL * 86400000), "90d");  // not 12w6d
  EXPECT_EQ(FormatDuration(14LL * 86400000), "2w");
  EXPECT_EQ(FormatDuration(365LL * 86400000), "1y");
  EXPECT_EQ(FormatDuration(61500), "1m1s500ms");
  EXPECT_EQ(Fmt("x[90m]"), "x[1h30m]");
  EXPECT_EQ(Fmt("x[86400s]"), "x[1d]");
}

// --- Selectors --------------------------------------------------------------

TEST(ParserTest, VectorSelectors) {
  ExprPtr e = MustParse(R"(http_requests_total{job="api", code!~"5.."})");
  ASSERT_EQ(e->kind, ExprKind::kVectorSelector);
  auto* vs = static_cast<VectorSelector*>(e.get());
  EXPECT_EQ(vs->name, "http_requests_total");
  ASSERT_EQ(vs->matchers.size(), 3u);
  EXPECT_EQ(vs->matchers[0].name(), "job");
  EXPECT_EQ(vs->matchers[0].type(), tsdb::MatchType::kEqual);
  EXPECT_EQ(vs->matchers[1].type(), tsdb::MatchType::kRegexNoMatch);
  EXPECT_EQ(vs->matchers[2].name(), "__name__");
  EXPECT_EQ(vs->matchers[2].value(), "http_requests_total");
  EXPECT_EQ(vs->pos_start, 0);
  EXPECT_EQ(vs->pos_end, 43);

  EXPECT_EQ(Fmt("foo"), "foo");
  EXPECT_EQ(Fmt("foo:bar:rate5m"), "foo:bar:rate5m");
  EXPECT_EQ(Fmt(":foo"), ":foo");
  EXPECT_EQ(Fmt("foo{}"), "foo");
  EXPECT_EQ(Fmt(R"(foo{a="b",})"), R"(foo{a="b"})");
  EXPECT_EQ(Fmt(R"(foo{b="1", a=~"x.*", c!="", d!~'y'})"),
            R"(foo{a=~"x.*",b="1",c!="",d!~"y"})");
  EXPECT_EQ(Fmt(R"({__name__=~"a.*"})"), R"({__name__=~"a.*"})");
  EXPECT_EQ(Fmt(R"({__name__="up"})"), R"({__name__="up"})");
  EXPECT_EQ(Fmt(R"({job="x"})"), R"({job="x"})");
  EXPECT_EQ(Fmt("{a=\"\\n\"}"), "{a=\"\\n\"}");
}

TEST(ParserTest, LabelNamesMayBeKeywords) {
  EXPECT_EQ(Fmt(R"(foo{by="x", on="y", bool="z", offset="1", sum="2"})"),
            R"(foo{bool="z",by="x",offset="1",on="y",sum="2"})");
  EXPECT_EQ(Fmt(R"({and="1", or="2", unless="3", without="4", group_left="5",
                    ignoring="6", start="7", end="8", inf="9", nan="10"})"),
            R"({and="1",end="8",group_left="5",ignoring="6",inf="9",nan="10",)"
            R"(or="2",start="7",unless="3",without="4"})");
  EXPECT_EQ(Fmt("sum by (on, by, bool, offset) (x)"),
            "sum by (on, by, bool, offset) (x)");
}

TEST(ParserTest, KeywordsAreCaseInsensitive) {
  EXPECT_EQ(Fmt("SUM BY (a) (X)"), "sum by (a) (X)");
  EXPECT_EQ(Fmt("Count(x) WithOut (a)"), "count without (a) (x)");
  EXPECT_EQ(Fmt("topK(1, x)"), "topk(1, x)");
  EXPECT_EQ(Fmt("COUNT_VALUES(\"v\", x)"), "count_values(\"v\", x)");
  EXPECT_EQ(Fmt("a AND ON(b) c"), "a and on (b) c");
  EXPECT_EQ(Fmt("a * IGNORING(b) GROUP_LEFT(c) d"),
            "a * ignoring (b) group_left (c) d");
  EXPECT_EQ(Fmt("a > BOOL 1"), "a > bool 1");
  EXPECT_EQ(Fmt("x OFFSET 5m"), "x offset 5m");
  EXPECT_EQ(Fmt("x @ START()"), "x @ start()");
  EXPECT_EQ(Fmt("a Unless b"), "a unless b");
  // Function names are not keywords: they stay case-sensitive.
  EXPECT_EQ(Err("Rate(x[5m])"),
            "1:1: parse error: unknown function with name \"Rate\"");
  // Metric and label names keep their case.
  EXPECT_EQ(Fmt("Up{Job=\"A\"}"), "Up{Job=\"A\"}");
}

TEST(ParserTest, WhitespaceAndComments) {
  EXPECT_EQ(Fmt("\tsum(\n  rate(x[5m])  # per second\n) by (job)\n"),
            "sum by (job) (rate(x[5m]))");
  EXPECT_EQ(Fmt("x{a=\"#not a comment\"}"), "x{a=\"#not a comment\"}");
  EXPECT_EQ(Fmt("x # trailing comment"), "x");
  EXPECT_EQ(Fmt("x\r\n+\r\ny"), "x + y");
}

TEST(ParserTest, KeywordsAndAggregatorsAsMetricNames) {
  // Prometheus accepts these words as metric names where no keyword fits.
  EXPECT_EQ(Fmt("sum"), "sum");
  EXPECT_EQ(Fmt("count + 1"), "count + 1");
  EXPECT_EQ(Fmt(R"(offset{a="b"})"), R"(offset{a="b"})");
  EXPECT_EQ(Fmt("rate"), "rate");  // a function name without "(" is a metric
}

TEST(ParserTest, SelectorErrors) {
  EXPECT_EQ(Err("{}"),
            "1:1: parse error: vector selector must contain at least one "
            "non-empty matcher");
  EXPECT_EQ(Err(R"({a=""})"),
            "1:1: parse error: vector selector must contain at least one "
            "non-empty matcher");
  EXPECT_EQ(Err(R"({a=~".*"})"),
            "1:1: parse error: vector selector must contain at least one "
            "non-empty matcher");
  EXPECT_EQ(Err(R"(x + {a!~".+", b=""})"),
            "1:5: parse error: vector selector must contain at least one "
            "non-empty matcher");
  EXPECT_EQ(Fmt(R"({a=~".+"})"), R"({a=~".+"})");
  EXPECT_EQ(Err(R"(foo{__name__="bar"})"),
            "1:1: parse error: metric name must not be set twice: \"foo\" or "
            "\"bar\"");
  EXPECT_EQ(Err(R"(foo{a="b")"),
            "1:10: parse error: unexpected end of input in label matching, "
            "expected \",\" or \"}\"");
  EXPECT_EQ(Err(R"(foo{a})"),
            "1:6: parse error: unexpected \"}\" in label matching, expected "
            "label matching operator");
  EXPECT_EQ(Err(R"(foo{a=b})"),
            "1:7: parse error: unexpected identifier \"b\" in label matching, "
            "expected string");
  EXPECT_EQ(Err(R"(foo{a=="b"})"),
            "1:6: parse error: unexpected <op:==> in label matching, expected "
            "label matching operator");
  EXPECT_EQ(Err(R"(foo{a:b="c"})"),
            "1:5: parse error: unexpected identifier \"a:b\" in label "
            "matching, expected label");
  EXPECT_EQ(Err(R"(foo{a="b" c="d"})"),
            "1:11: parse error: unexpected identifier \"c\" in label "
            "matching, expected \",\" or \"}\"");
  EXPECT_EQ(Err(R"(foo{a=~"("})"),
            "1:8: parse error: invalid regular expression \"(\": missing ): "
            "^(?:()$");
  EXPECT_EQ(Err("foo{a!\"b\"}"),
            "1:6: parse error: unexpected character after '!': '\"'");
}

TEST(ParserTest, MetricSelectorApi) {
  auto m = ParseMetricSelector(R"(up{job="x"})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].name(), "job");
  EXPECT_EQ((*m)[1].name(), "__name__");
  EXPECT_EQ((*m)[1].value(), "up");

  m = ParseMetricSelector(R"({__name__=~"a.*"})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);

  EXPECT_FALSE(ParseMetricSelector("").ok());
  EXPECT_FALSE(ParseMetricSelector("up + 1").ok());
  EXPECT_FALSE(ParseMetricSelector("rate(x[5m])").ok());
  EXPECT_FALSE(ParseMetricSelector("{}").ok());
  EXPECT_FALSE(ParseMetricSelector("up[5m]").ok());
}

// --- Ranges, subqueries, offset and @ --------------------------------------

TEST(ParserTest, RangesAndSubqueries) {
  ExprPtr e = MustParse("foo[5m]");
  ASSERT_EQ(e->kind, ExprKind::kMatrixSelector);
  EXPECT_EQ(static_cast<MatrixSelector*>(e.get())->range_ms, 300000);
  EXPECT_EQ(e->Type(), ValueType::kMatrix);

  e = MustParse("rate(foo[5m])[1h:5m]");
  ASSERT_EQ(e->kind, ExprKind::kSubquery);
  auto* sq = static_cast<SubqueryExpr*>(e.get());
  EXPECT_EQ(sq->range_ms, 3600000);
  EXPECT_EQ(sq->step_ms, 300000);

  e = MustParse("foo[1h:]");
  ASSERT_EQ(e->kind, ExprKind::kSubquery);
  EXPECT_EQ(static_cast<SubqueryExpr*>(e.get())->step_ms, 0);

  EXPECT_EQ(Fmt("foo[1h:]"), "foo[1h:]");
  EXPECT_EQ(Fmt("rate(foo[5m])[30m:1m]"), "rate(foo[5m])[30m:1m]");
  EXPECT_EQ(Fmt("(a + b)[1h:1m]"), "(a + b)[1h:1m]");
  EXPECT_EQ(Fmt("max_over_time(rate(x[1m])[1h:])"),
            "max_over_time(rate(x[1m])[1h:])");
  EXPECT_EQ(Fmt("sum(x)[5m:] offset 1m"), "sum(x)[5m:] offset 1m");
  EXPECT_EQ(Fmt("foo offset 5m [10m:]"), "foo offset 5m[10m:]");
  EXPECT_EQ(Fmt("foo [ 5m ]"), "foo[5m]");
}

TEST(ParserTest, RangeErrors) {
  EXPECT_EQ(Err("(foo)[5m]"),
            "1:6: parse error: ranges only allowed for vector selectors");
  EXPECT_EQ(Err("rate(foo[5m])[5m]"),
            "1:14: parse error: ranges only allowed for vector selectors");
  EXPECT_EQ(Err("foo[5m][5m]"),
            "1:8: parse error: ranges only allowed for vector selectors");
  EXPECT_EQ(Err("foo offset 1m [5m]"),
            "1:15: parse error: no offset modifiers allowed before range");
  EXPECT_EQ(Err("foo @ 1 [5m]"),
            "1:9: parse error: no @ modifiers allowed before range");
  EXPECT_EQ(Err("foo[0s]"),
            "1:5: parse error: duration must be greater than 0");
  EXPECT_EQ(Err("foo[5m:0s]"),
            "1:8: parse error: duration must be greater than 0");
  EXPECT_EQ(Err("foo[5]"),
            "1:5: parse error: unexpected number \"5\" in subquery or range "
            "selector, expected duration");
  EXPECT_EQ(Err("foo[]"),
            "1:5: parse error: unexpected \"]\" in subquery or range "
            "selector, expected duration");
  EXPECT_EQ(Err("foo[5m"),
            "1:7: parse error: unexpected end of input in subquery or range "
            "selector, expected \"]\" or \":\"");
  EXPECT_EQ(Err("foo[5m1h]"),
            "1:5: parse error: not a valid duration string: \"5m1h\"");
  EXPECT_EQ(Err("foo[1.5h]"),
            "1:5: parse error: bad number or duration syntax: \"1.5h\"");
  EXPECT_EQ(Err("1[5m:]"),
            "1:1: parse error: subquery is only allowed on instant vector, got "
            "scalar instead");
  EXPECT_EQ(Err("foo[5m][10m:]"),
            "1:1: parse error: subquery is only allowed on instant vector, got "
            "matrix instead");
  EXPECT_EQ(Err("foo[5m:1m:]"),
            "1:10: parse error: unexpected \":\" in subquery, expected \"]\"");
}

TEST(ParserTest, OffsetAndAt) {
  ExprPtr e = MustParse("foo offset 5m");
  auto* vs = static_cast<VectorSelector*>(e.get());
  EXPECT_EQ(vs->offset_ms, 300000);
  e = MustParse("foo offset -5m");
  EXPECT_EQ(static_cast<VectorSelector*>(e.get())->offset_ms, -300000);
  e = MustParse("foo @ 1609746000");
  vs = static_cast<VectorSelector*>(e.get());
  EXPECT_EQ(vs->at, AtModifier::kTimestamp);
  EXPECT_EQ(vs->at_ms, 1609746000000);
  e = MustParse("foo[5m] @ start() offset 1m");
  auto* ms = static_cast<MatrixSelector*>(e.get());
  EXPECT_EQ(ms->vector->at, AtModifier::kStart);
  EXPECT_EQ(ms->vector->offset_ms, 60000);
  e = MustParse("foo[1h:] @ end()");
  EXPECT_EQ(static_cast<SubqueryExpr*>(e.get())->at, AtModifier::kEnd);

  EXPECT_EQ(Fmt("foo offset 5m"), "foo offset 5m");
  EXPECT_EQ(Fmt("foo OFFSET 1h30m"), "foo offset 1h30m");
  EXPECT_EQ(Fmt("foo offset -5m"), "foo offset -5m");
  EXPECT_EQ(Fmt("foo offset 5m @ 100"), "foo @ 100.000 offset 5m");
  EXPECT_EQ(Fmt("foo @ 100 offset 5m"), "foo @ 100.000 offset 5m");
  EXPECT_EQ(Fmt("foo @ 1.5"), "foo @ 1.500");
  EXPECT_EQ(Fmt("foo @ -100"), "foo @ -100.000");
  EXPECT_EQ(Fmt("foo @ start()"), "foo @ start()");
  EXPECT_EQ(Fmt("foo @ END()"), "foo @ end()");
  EXPECT_EQ(Fmt(R"(foo{a="b"}[5m] offset 1m @ 10)"),
            R"(foo{a="b"}[5m] @ 10.000 offset 1m)");
  EXPECT_EQ(Fmt("rate(foo[5m] offset 1w)"), "rate(foo[5m] offset 1w)");
  EXPECT_EQ(Fmt("foo[1h:5m] offset 10m @ 50"),
            "foo[1h:5m] @ 50.000 offset 10m");
  // offset binds tighter than any operator.
  EXPECT_EQ(Fmt("a + b offset 5m"), "a + b offset 5m");
  EXPECT_EQ(Fmt("-foo offset 5m"), "-foo offset 5m");
}

TEST(ParserTest, OffsetAndAtErrors) {
  EXPECT_EQ(Err("sum(foo) offset 5m"),
            "1:1: parse error: offset modifier must be preceded by an "
            "instant vector selector or range vector selector or a subquery");
  EXPECT_EQ(Err("(foo) offset 5m"),
            "1:1: parse error: offset modifier must be preceded by an instant "
            "vector selector or range vector selector or a subquery");
  EXPECT_EQ(Err("1 offset 5m"),
            "1:1: parse error: offset modifier must be preceded by an instant "
            "vector selector or range vector selector or a subquery");
  EXPECT_EQ(Err("foo offset 5m offset 1m"),
            "1:1: parse error: offset may not be set multiple times");
  EXPECT_EQ(Err("foo offset"),
            "1:11: parse error: unexpected end of input in offset, expected "
            "duration");
  EXPECT_EQ(Err("foo offset 5"),
            "1:12: parse error: unexpected number \"5\" in offset, expected "
            "duration");
  EXPECT_EQ(Err("sum(foo) @ 100"),
            "1:1: parse error: @ modifier must be preceded by an instant "
            "vector selector or range vector selector or a subquery");
  EXPECT_EQ(Err("foo @ 1 @ 2"),
            "1:1: parse error: @ <timestamp> may not be set multiple times");
  EXPECT_EQ(Err("foo @ start() @ end()"),
            "1:1: parse error: @ <timestamp> may not be set multiple times");
  EXPECT_EQ(Err("foo @ Inf"),
            "1:7: parse error: unexpected identifier \"Inf\" in @, expected "
            "timestamp");
  EXPECT_EQ(Err("foo @ 1e19"),
            "1:1: parse error: timestamp out of bounds for @ modifier: "
            "10000000000000000000.000000");
  EXPECT_FALSE(ParseExpr("foo @ 1e300").ok());
  EXPECT_EQ(Err("foo offset 0s"),
            "1:12: parse error: duration must be greater than 0");
  EXPECT_EQ(Err("foo @ start"),
            "1:12: parse error: unexpected end of input in @, expected \"(\"");
}

// --- Operators --------------------------------------------------------------

TEST(ParserTest, Precedence) {
  // Printing does not add parentheses, so check the tree shape directly.
  auto shape = [](const std::string& q) {
    std::function<std::string(const Expr&)> rec = [&](const Expr& e) {
      switch (e.kind) {
        case ExprKind::kBinary: {
          const auto& b = static_cast<const BinaryExpr&>(e);
          return "(" + rec(*b.lhs) + " " + BinaryOpString(b.op) + " " +
                 rec(*b.rhs) + ")";
        }
        case ExprKind::kUnary: {
          const auto& u = static_cast<const UnaryExpr&>(e);
          return std::string("(") + u.op + rec(*u.expr) + ")";
        }
        default:
          return FormatExpr(e);
      }
    };
    ExprPtr e = MustParse(q);
    return e ? rec(*e) : "";
  };
  EXPECT_EQ(shape("a + b * c"), "(a + (b * c))");
  EXPECT_EQ(shape("a * b + c"), "((a * b) + c)");
  EXPECT_EQ(shape("a - b - c"), "((a - b) - c)");
  EXPECT_EQ(shape("a / b * 100"), "((a / b) * 100)");
  EXPECT_EQ(shape("a ^ b ^ c"), "(a ^ (b ^ c))");
  EXPECT_EQ(shape("a * b ^ c"), "(a * (b ^ c))");
  EXPECT_EQ(shape("a % b atan2 c"), "((a % b) atan2 c)");
  EXPECT_EQ(shape("a + b atan2 c"), "(a + (b atan2 c))");
  EXPECT_EQ(shape("a > b + 1"), "(a > (b + 1))");
  EXPECT_EQ(shape("a > b > 0.8"), "((a > b) > 0.8)");
  EXPECT_EQ(shape("a and b or c"), "((a and b) or c)");
  EXPECT_EQ(shape("a or b and c"), "(a or (b and c))");
  EXPECT_EQ(shape("a or b unless c"), "(a or (b unless c))");
  EXPECT_EQ(shape("a unless b and c"), "((a unless b) and c)");
  EXPECT_EQ(shape("a and b == c"), "(a and (b == c))");
  EXPECT_EQ(shape("a == b != c"), "((a == b) != c)");
  // Unary minus binds tighter than binary operators except ^.
  EXPECT_EQ(shape("-a ^ b"), "(-(a ^ b))");
  EXPECT_EQ(shape("-a * b"), "((-a) * b)");
  EXPECT_EQ(shape("-a + b"), "((-a) + b)");
  EXPECT_EQ(shape("a * -b"), "(a * (-b))");
  EXPECT_EQ(shape("a ^ -b"), "(a ^ (-b))");
  EXPECT_EQ(shape("- - a"), "(-(-a))");
  EXPECT_EQ(shape("-2 ^ 2"), "(-(2 ^ 2))");
  EXPECT_EQ(shape("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
  EXPECT_EQ(shape("1 - -1"), "(1 - -1)");
  EXPECT_EQ(shape("(a + b) * c"), "((a + b) * c)");
}

TEST(ParserTest, OperatorFormatting) {
  EXPECT_EQ(Fmt("a+b"), "a + b");
  EXPECT_EQ(Fmt("a>=b"), "a >= b");
  EXPECT_EQ(Fmt("a AND b"), "a and b");
  EXPECT_EQ(Fmt("a Or b"), "a or b");
  EXPECT_EQ(Fmt("a UNLESS b"), "a unless b");
  EXPECT_EQ(Fmt("a ATAN2 b"), "a atan2 b");
  EXPECT_EQ(Fmt("a > bool 1"), "a > bool 1");
  EXPECT_EQ(Fmt("1 == BOOL 1"), "1 == bool 1");
  EXPECT_EQ(Fmt("a + on(x,y) b"), "a + on (x, y) b");
  EXPECT_EQ(Fmt("a + on() b"), "a + on () b");
  EXPECT_EQ(Fmt("a + ignoring(x) b"), "a + ignoring (x) b");
  EXPECT_EQ(Fmt("a + ignoring() b"), "a + b");
  EXPECT_EQ(Fmt("a * on(x) group_left(y) b"), "a * on (x) group_left (y) b");
  EXPECT_EQ(Fmt("a * on(x) group_left b"), "a * on (x) group_left () b");
  EXPECT_EQ(Fmt("a / ignoring(x) GROUP_RIGHT(y, z) b"),
            "a / ignoring (x) group_right (y, z) b");
  EXPECT_EQ(Fmt("a > bool on(x) b"), "a > bool on (x) b");
  EXPECT_EQ(Fmt("a and on(x) b"), "a and on (x) b");
  EXPECT_EQ(Fmt("-a"), "-a");
  EXPECT_EQ(Fmt("+a"), "+a");
  EXPECT_EQ(Fmt("-(1)"), "-(1)");
  EXPECT_EQ(Fmt("((a))"), "((a))");
  EXPECT_EQ(Fmt("a + 1 # comment\n- b"), "a + 1 - b");
}

TEST(ParserTest, BinaryExprFields) {
  ExprPtr e = MustParse("a * on(x) group_left(y) b");
  ASSERT_EQ(e->kind, ExprKind::kBinary);
  auto* b = static_cast<BinaryExpr*>(e.get());
  EXPECT_EQ(b->op, BinaryOp::kMul);
  EXPECT_TRUE(b->has_matching);
  EXPECT_TRUE(b->matching.on);
  EXPECT_EQ(b->matching.card, Cardinality::kManyToOne);
  EXPECT_EQ(b->matching.matching_labels, std::vector<std::string>{"x"});
  EXPECT_EQ(b->matching.include, std::vector<std::string>{"y"});

  e = MustParse("a and b");
  b = static_cast<BinaryExpr*>(e.get());
  EXPECT_TRUE(b->has_matching);
  EXPECT_EQ(b->matching.card, Cardinality::kManyToMany);

  e = MustParse("a or ignoring(x) b");
  b = static_cast<BinaryExpr*>(e.get());
  EXPECT_EQ(b->matching.card, Cardinality::kManyToMany);
  EXPECT_FALSE(b->matching.on);

  e = MustParse("a / b");
  b = static_cast<BinaryExpr*>(e.get());
  EXPECT_TRUE(b->has_matching);
  EXPECT_EQ(b->matching.card, Cardinality::kOneToOne);
  EXPECT_EQ(b->Type(), ValueType::kVector);

  e = MustParse("a * 2");
  b = static_cast<BinaryExpr*>(e.get());
  EXPECT_FALSE(b->has_matching);

  e = MustParse("1 + 2");
  EXPECT_EQ(e->Type(), ValueType::kScalar);
  e = MustParse("1 < bool 2");
  EXPECT_TRUE(static_cast<BinaryExpr*>(e.get())->return_bool);
  e = MustParse("a * on(x) group_right b");
  EXPECT_EQ(static_cast<BinaryExpr*>(e.get())->matching.card,
            Cardinality::kOneToMany);
}

TEST(ParserTest, BinaryErrors) {
  EXPECT_EQ(Err("1 > 2"),
            "1:3: parse error: comparisons between scalars must use BOOL "
            "modifier");
  EXPECT_EQ(Err("a + bool b"),
            "1:3: parse error: bool modifier can only be used on comparison "
            "operators");
  EXPECT_EQ(Err("1 and 2"),
            "1:1: parse error: set operator \"and\" not allowed in binary "
            "scalar expression");
  EXPECT_EQ(Err("a or 1"),
            "1:1: parse error: set operator \"or\" not allowed in binary "
            "scalar expression");
  EXPECT_EQ(Err("a and on(x) group_left(y) b"),
            "1:1: parse error: no grouping allowed for \"and\" operation");
  EXPECT_EQ(Err("a + on(x) group_left(x) b"),
            "1:3: parse error: label \"x\" must not occur in ON and GROUP "
            "clause at once");
  EXPECT_EQ(Err("a + on(x) 1"),
            "1:1: parse error: vector matching only allowed between instant "
            "vectors");
  EXPECT_EQ(Err("x[5m] + 1"),
            "1:1: parse error: binary expression must contain only scalar and "
            "instant vector types");
  EXPECT_EQ(Err("1 + x[5m]"),
            "1:5: parse error: binary expression must contain only scalar and "
            "instant vector types");
  EXPECT_EQ(Err(R"("a" + 1)"),
            "1:1: parse error: binary expression must contain only scalar and "
            "instant vector types");
  EXPECT_EQ(Err("-x[5m]"),
            "1:1: parse error: unary expression only allowed on expressions "
            "of type scalar or instant vector");
  EXPECT_EQ(Err(R"(-"a")"),
            "1:1: parse error: unary expression only allowed on expressions "
            "of type scalar or instant vector");
  EXPECT_EQ(Err("a +"), "1:4: parse error: unexpected end of input");
  EXPECT_EQ(Err("a + * b"), "1:5: parse error: unexpected <op:*>");
  EXPECT_EQ(Err("a b"), "1:3: parse error: unexpected identifier \"b\"");
  EXPECT_EQ(Err("a group_left b"), "1:3: parse error: unexpected <group_left>");
  EXPECT_EQ(Err("a + on b"),
            "1:8: parse error: unexpected identifier \"b\" in grouping opts, "
            "expected \"(\"");
  EXPECT_EQ(Err("and"), "1:1: parse error: unexpected <and>");
  EXPECT_EQ(Err("a + on(x,,) b"),
            "1:10: parse error: unexpected \",\" in grouping opts, expected "
            "label");
}

// --- Aggregations -----------------------------------------------------------

TEST(ParserTest, Aggregations) {
  EXPECT_EQ(Fmt("sum(x)"), "sum(x)");
  EXPECT_EQ(Fmt("sum by (job) (x)"), "sum by (job) (x)");
  EXPECT_EQ(Fmt("sum(x) by (job)"), "sum by (job) (x)");
  EXPECT_EQ(Fmt("SUM(x) BY (job, instance)"), "sum by (job, instance) (x)");
  EXPECT_EQ(Fmt("avg without (a) (x)"), "avg without (a) (x)");
  EXPECT_EQ(Fmt("max(x) WITHOUT (a,)"), "max without (a) (x)");
  EXPECT_EQ(Fmt("min without () (x)"), "min without () (x)");
  EXPECT_EQ(Fmt("count by () (x)"), "count(x)");
  EXPECT_EQ(Fmt("stddev(x)"), "stddev(x)");
  EXPECT_EQ(Fmt("stdvar(x)"), "stdvar(x)");
  EXPECT_EQ(Fmt("group(x)"), "group(x)");
  EXPECT_EQ(Fmt("topk(5, x)"), "topk(5, x)");
  EXPECT_EQ(Fmt("bottomk by (a) (5, x)"), "bottomk by (a) (5, x)");
  EXPECT_EQ(Fmt("quantile(0.9, x) by (le)"), "quantile by (le) (0.9, x)");
  EXPECT_EQ(Fmt(R"(count_values("value", x))"), R"(count_values("value", x))");
  EXPECT_EQ(Fmt("topk(scalar(y), x)"), "topk(scalar(y), x)");
  EXPECT_EQ(Fmt("sum(x,)"), "sum(x)");

  ExprPtr e = MustParse("topk(3, x) without (a, b)");
  ASSERT_EQ(e->kind, ExprKind::kAggregate);
  auto* a = static_cast<AggregateExpr*>(e.get());
  EXPECT_EQ(a->op, AggregateOp::kTopK);
  EXPECT_TRUE(a->without);
  EXPECT_EQ(a->grouping, (std::vector<std::string>{"a", "b"}));
  ASSERT_NE(a->param, nullptr);
  EXPECT_EQ(a->param->kind, ExprKind::kNumber);
  EXPECT_EQ(a->expr->kind, ExprKind::kVectorSelector);
  EXPECT_EQ(a->Type(), ValueType::kVector);
}

TEST(ParserTest, AggregationErrors) {
  EXPECT_EQ(Err("sum()"),
            "1:1: parse error: no arguments for aggregate expression provided");
  EXPECT_EQ(Err("sum(x, y)"),
            "1:1: parse error: wrong number of arguments for aggregate "
            "expression provided, expected 1, got 2");
  EXPECT_EQ(Err("topk(x)"),
            "1:1: parse error: wrong number of arguments for aggregate "
            "expression provided, expected 2, got 1");
  EXPECT_EQ(Err("sum(x[5m])"),
            "1:5: parse error: expected type instant vector in aggregation "
            "expression, got range vector");
  EXPECT_EQ(Err("sum(1)"),
            "1:5: parse error: expected type instant vector in aggregation "
            "expression, got scalar");
  EXPECT_EQ(Err("topk(x, y)"),
            "1:6: parse error: expected type scalar in aggregation parameter, "
            "got instant vector");
  EXPECT_EQ(Err(R"(quantile("a", y))"),
            "1:10: parse error: expected type scalar in aggregation "
            "parameter, got string");
  EXPECT_EQ(Err("count_values(1, y)"),
            "1:14: parse error: expected type string in aggregation "
            "parameter, got scalar");
  EXPECT_EQ(Err("sum by (a) (x) by (b)"), "1:16: parse error: unexpected <by>");
  EXPECT_EQ(Err("sum by (a) x"),
            "1:12: parse error: unexpected identifier \"x\" in aggregation");
  EXPECT_EQ(Err("sum by a (x)"),
            "1:8: parse error: unexpected identifier \"a\" in grouping opts, "
            "expected \"(\"");
  EXPECT_EQ(Err("sum by (a b) (x)"),
            "1:11: parse error: unexpected identifier \"b\" in grouping opts, "
            "expected \",\" or \")\"");
  EXPECT_EQ(Err("sum by (\"a\") (x)"),
            "1:9: parse error: unexpected string \"a\" in grouping opts, "
            "expected label");
  EXPECT_EQ(Err("sum(x"), "1:4: parse error: unclosed left parenthesis");
}

// --- Function calls ---------------------------------------------------------

TEST(ParserTest, FunctionCalls) {
  EXPECT_EQ(Fmt("rate(x[5m])"), "rate(x[5m])");
  EXPECT_EQ(Fmt("time()"), "time()");
  EXPECT_EQ(Fmt("pi()"), "pi()");
  EXPECT_EQ(Fmt("round(x)"), "round(x)");
  EXPECT_EQ(Fmt("round(x, 5)"), "round(x, 5)");
  EXPECT_EQ(Fmt("hour()"), "hour()");
  EXPECT_EQ(Fmt("hour(x)"), "hour(x)");
  EXPECT_EQ(Fmt("histogram_quantile(0.9, sum(rate(x_bucket[5m])) by (le))"),
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))");
  EXPECT_EQ(Fmt(R"q(label_replace(up, "a", "$1", "b", "(.*)"))q"),
            R"q(label_replace(up, "a", "$1", "b", "(.*)"))q");
  EXPECT_EQ(Fmt(R"(label_join(up, "a", ",", "b", "c", "d"))"),
            R"(label_join(up, "a", ",", "b", "c", "d"))");
  EXPECT_EQ(Fmt(R"(label_join(up, "a", ","))"), R"(label_join(up, "a", ","))");
  EXPECT_EQ(Fmt("holt_winters(x[1h], 0.5, 0.5)"),
            "holt_winters(x[1h], 0.5, 0.5)");
  EXPECT_EQ(Fmt("quantile_over_time(0.5, x[1h])"),
            "quantile_over_time(0.5, x[1h])");
  EXPECT_EQ(Fmt("vector(1)"), "vector(1)");
  EXPECT_EQ(Fmt("scalar(x) + 1"), "scalar(x) + 1");
  EXPECT_EQ(Fmt("clamp(x, 0, 1)"), "clamp(x, 0, 1)");
  EXPECT_EQ(Fmt("abs(x,)"), "abs(x)");

  ExprPtr e = MustParse("scalar(x)");
  ASSERT_EQ(e->kind, ExprKind::kCall);
  EXPECT_EQ(static_cast<Call*>(e.get())->return_type, ValueType::kScalar);
  EXPECT_EQ(e->Type(), ValueType::kScalar);
  e = MustParse("rate(x[5m])");
  EXPECT_EQ(e->Type(), ValueType::kVector);
  EXPECT_EQ(static_cast<Call*>(e.get())->func, "rate");
  // time() is a scalar, so comparing it with a scalar needs bool.
  EXPECT_EQ(Fmt("time() > bool 1"), "time() > bool 1");
}

TEST(ParserTest, EveryFunctionIsKnown) {
  const char* const kNames[] = {"abs",
                                "absent",
                                "absent_over_time",
                                "acos",
                                "acosh",
                                "asin",
                                "asinh",
                                "atan",
                                "atanh",
                                "avg_over_time",
                                "ceil",
                                "changes",
                                "clamp",
                                "clamp_max",
                                "clamp_min",
                                "cos",
                                "cosh",
                                "count_over_time",
                                "day_of_month",
                                "day_of_week",
                                "day_of_year",
                                "days_in_month",
                                "deg",
                                "delta",
                                "deriv",
                                "exp",
                                "floor",
                                "histogram_quantile",
                                "holt_winters",
                                "hour",
                                "idelta",
                                "increase",
                                "irate",
                                "label_join",
                                "label_replace",
                                "last_over_time",
                                "ln",
                                "log10",
                                "log2",
                                "max_over_time",
                                "min_over_time",
                                "minute",
                                "month",
                                "pi",
                                "predict_linear",
                                "present_over_time",
                                "quantile_over_time",
                                "rad",
                                "rate",
                                "resets",
                                "round",
                                "scalar",
                                "sgn",
                                "sin",
                                "sinh",
                                "sort",
                                "sort_desc",
                                "sqrt",
                                "stddev_over_time",
                                "stdvar_over_time",
                                "sum_over_time",
                                "tan",
                                "tanh",
                                "time",
                                "timestamp",
                                "vector",
                                "year"};
  for (const char* name : kNames) {
    const FunctionSignature* f = LookupFunction(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->name, name);
  }
  EXPECT_EQ(AllFunctions().size(), std::size(kNames));
  EXPECT_EQ(LookupFunction("foo"), nullptr);
  EXPECT_EQ(LookupFunction("RATE"), nullptr);
}

TEST(ParserTest, FunctionErrors) {
  EXPECT_EQ(Err("foo(x)"),
            "1:1: parse error: unknown function with name \"foo\"");
  EXPECT_EQ(Err("RATE(x[5m])"),
            "1:1: parse error: unknown function with name \"RATE\"");
  EXPECT_EQ(Err("rate(x)"),
            "1:6: parse error: expected type range vector in call to function "
            "\"rate\", got instant vector");
  EXPECT_EQ(Err("rate(x[5m], x[5m])"),
            "1:1: parse error: expected 1 argument(s) in call to \"rate\", got "
            "2");
  EXPECT_EQ(Err("time(x)"),
            "1:1: parse error: expected 0 argument(s) in call to \"time\", got "
            "1");
  EXPECT_EQ(Err("abs()"),
            "1:1: parse error: expected 1 argument(s) in call to \"abs\", got "
            "0");
  EXPECT_EQ(Err("round()"),
            "1:1: parse error: expected at least 1 argument(s) in call to "
            "\"round\", got 0");
  EXPECT_EQ(Err("round(x, 1, 2)"),
            "1:1: parse error: expected at most 2 argument(s) in call to "
            "\"round\", got 3");
  EXPECT_EQ(Err("hour(x, y)"),
            "1:1: parse error: expected at most 1 argument(s) in call to "
            "\"hour\", got 2");
  EXPECT_EQ(Err(R"(label_join(x, "a"))"),
            "1:1: parse error: expected at least 3 argument(s) in call to "
            "\"label_join\", got 2");
  EXPECT_EQ(Err(R"(label_join(x, "a", ",", 1))"),
            "1:25: parse error: expected type string in call to function "
            "\"label_join\", got scalar");
  EXPECT_EQ(Err("abs(x[5m])"),
            "1:5: parse error: expected type instant vector in call to "
            "function \"abs\", got range vector");
  EXPECT_EQ(Err(R"(vector("a"))"),
            "1:8: parse error: expected type scalar in call to function "
            "\"vector\", got string");
  EXPECT_EQ(Err("histogram_quantile(x, y)"),
            "1:20: parse error: expected type scalar in call to function "
            "\"histogram_quantile\", got instant vector");
  EXPECT_EQ(Err("rate(x[5m]"), "1:5: parse error: unclosed left parenthesis");
  EXPECT_EQ(Err("rate(x[5m] y)"),
            "1:12: parse error: unexpected identifier \"y\" in call to "
            "function, expected \",\" or \")\"");
}

// --- Positions, lexer and general errors ------------------------------------

TEST(ParserTest, ErrorPositionsAreLineAndColumn) {
  EXPECT_EQ(Err("foo +\n  bar baz"),
            "2:7: parse error: unexpected identifier \"baz\"");
  EXPECT_EQ(Err("sum(\n  rate(x)\n)"),
            "2:8: parse error: expected type range vector in call to function "
            "\"rate\", got instant vector");
}

TEST(ParserTest, GeneralErrors) {
  EXPECT_EQ(Err(""), "1:1: parse error: no expression found in input");
  EXPECT_EQ(Err("   "), "1:1: parse error: no expression found in input");
  EXPECT_EQ(Err("# only a comment"),
            "1:1: parse error: no expression found in input");
  EXPECT_EQ(Err("1e400"), "1:1: parse error: error parsing number: \"1e400\"");
  EXPECT_EQ(Fmt("1e-400"), "0");
  EXPECT_EQ(Err("(foo"), "1:1: parse error: unclosed left parenthesis");
  EXPECT_EQ(Err("foo)"), "1:4: parse error: unexpected right parenthesis ')'");
  EXPECT_EQ(Err(")"), "1:1: parse error: unexpected right parenthesis ')'");
  EXPECT_EQ(Err("()"), "1:2: parse error: unexpected right parenthesis ')'");
  EXPECT_EQ(Err("(a b)"),
            "1:4: parse error: unexpected identifier \"b\" in paren "
            "expression, expected \")\"");
  EXPECT_EQ(Err("5m"), "1:1: parse error: unexpected duration \"5m\"");
  EXPECT_EQ(Err("1a"),
            "1:1: parse error: bad number or duration syntax: \"1a\"");
  EXPECT_EQ(Err("foo $ bar"), "1:5: parse error: unexpected character: '$'");
  EXPECT_EQ(Err("foo \xE2\x82\xAC"),
            "1:5: parse error: unexpected character: '\xE2\x82\xAC'");
  EXPECT_EQ(Err("foo !"),
            "1:5: parse error: unexpected character after '!': end of input");
  EXPECT_EQ(Err("0x"),
            "1:1: parse error: bad number or duration syntax: \"0x\"");
  EXPECT_EQ(Err("0xFFFFFFFFFFFFFFFFFF"),
            "1:1: parse error: error parsing number: \"0xFFFFFFFFFFFFFFFFFF\"");
  EXPECT_EQ(Err("[5m]"), "1:1: parse error: unexpected \"[\"");
  EXPECT_EQ(Err("foo{a=\"b\"} @"),
            "1:13: parse error: unexpected end of input in @, expected "
            "timestamp");
  // A syntax error before a lexer error is reported first.
  EXPECT_EQ(Err("foo bar $"),
            "1:5: parse error: unexpected identifier \"bar\"");
}

TEST(ParserTest, NodePositions) {
  ExprPtr e = MustParse("  sum(rate(x[5m])) by (job) > 1");
  ASSERT_EQ(e->kind, ExprKind::kBinary);
  auto* b = static_cast<BinaryExpr*>(e.get());
  EXPECT_EQ(b->pos_start, 2);
  EXPECT_EQ(b->pos_end, 31);
  EXPECT_EQ(b->lhs->pos_start, 2);
  EXPECT_EQ(b->lhs->pos_end, 27);
  EXPECT_EQ(b->rhs->pos_start, 30);
}

// --- Nesting ----------------------------------------------------------------

TEST(ParserTest, DeepNestingWithinLimit) {
  std::string q;
  for (int i = 0; i < 200; ++i) q += "(";
  q += "x";
  for (int i = 0; i < 200; ++i) q += ")";
  EXPECT_EQ(Fmt(q), q);

  std::string calls = "x";
  for (int i = 0; i < 150; ++i) calls = "abs(" + calls + ")";
  EXPECT_EQ(Fmt(calls), calls);

  std::string chain = "x";
  for (int i = 0; i < 500; ++i) chain += " + x";
  EXPECT_EQ(Fmt(chain), chain);

  std::string neg = std::string(300, '-') + "x";
  EXPECT_TRUE(ParseExpr(neg).ok());
}

// Just under the limit, every recursive construct must fit on the stack
// (also under ASan, whose frames are several times larger).
TEST(ParserTest, NestingNearTheLimitDoesNotOverflow) {
  const int n = 990;
  // `levels` is how many nesting levels one repetition adds.
  auto nest = [&](const std::string& open, const std::string& inner,
                  const std::string& close, int levels) {
    std::string q;
    for (int i = 0; i < n / levels; ++i) q += open;
    q += inner;
    for (int i = 0; i < n / levels; ++i) q += close;
    return q;
  };
  for (const std::string& q :
       {nest("(", "x", ")", 1), nest("abs(", "x", ")", 1),
        nest("sum by (a) (", "x", ")", 1), nest("topk(1, ", "x", ")", 1),
        nest("-", "x", "", 1), nest("-(", "x", ")", 2),
        nest("last_over_time((", "x", ")[5m:])", 3), nest("x + (", "x", ")", 2),
        nest("x ^ (", "x", ")", 2), nest("rate(abs(", "x", ")[5m:])", 3),
        nest("(", "x", " > bool 1)", 2)}) {
    auto e = ParseExpr(q);
    ASSERT_TRUE(e.ok()) << q.substr(0, 40) << ": " << e.status();
    EXPECT_FALSE(FormatExpr(**e).empty());
  }
  std::string pow = "x";
  for (int i = 0; i < n; ++i) pow += " ^ x";
  EXPECT_TRUE(ParseExpr(pow).ok());
  std::string sub = "x";
  for (int i = 0; i < n; ++i) sub = "(" + sub + ")[1m:]";
  EXPECT_FALSE(ParseExpr(sub).ok());  // 2 levels each: over the limit
}

TEST(ParserTest, AbsurdNestingIsAnError) {
  std::string q(100000, '(');
  EXPECT_EQ(Err(q),
            "1:1001: parse error: expression nesting too deep (more than 1000 "
            "levels)");
  std::string closed = std::string(5000, '(') + "x" + std::string(5000, ')');
  EXPECT_FALSE(ParseExpr(closed).ok());

  std::string chain = "x";
  for (int i = 0; i < 5000; ++i) chain += "+x";
  EXPECT_EQ(Err(chain),
            "1:1: parse error: expression nesting too deep (more than 1000 "
            "levels)");

  std::string pow = "x";
  for (int i = 0; i < 5000; ++i) pow += "^x";
  EXPECT_FALSE(ParseExpr(pow).ok());

  EXPECT_FALSE(ParseExpr(std::string(100000, '-') + "x").ok());
}

// --- The seed expressions (SEEDS.md section 1) ------------------------------

struct SeedCase {
  const char* id;
  const char* query;
  const char* formatted;  // expected FormatExpr output
};

const SeedCase kSeeds[] = {
    {"E1", "haproxy_backend_sessions_total", "haproxy_backend_sessions_total"},
    {"E2",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"})",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"})"},
    {"E3", "sum by (instance) (node_memory_MemFree)",
     "sum by (instance) (node_memory_MemFree)"},
    {"E4",
     R"(container_memory_usage_bytes{container_label_com_docker_stack_namespace="exporter"})",
     R"(container_memory_usage_bytes{container_label_com_docker_stack_namespace="exporter"})"},
    {"E5",
     R"(container_memory_usage_bytes{container_label_com_docker_stack_namespace="go-demo"})",
     R"(container_memory_usage_bytes{container_label_com_docker_stack_namespace="go-demo"})"},
    {"E6",
     R"(container_spec_memory_limit_bytes{container_label_com_docker_stack_namespace!=""})",
     R"(container_spec_memory_limit_bytes{container_label_com_docker_stack_namespace!=""})"},
    {"E7",
     R"(container_memory_usage_bytes{container_label_com_docker_stack_namespace!=""} / container_spec_memory_limit_bytes{container_label_com_docker_stack_namespace!=""} * 100)",
     R"(container_memory_usage_bytes{container_label_com_docker_stack_namespace!=""} / container_spec_memory_limit_bytes{container_label_com_docker_stack_namespace!=""} * 100)"},
    {"E8",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 20000000)",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 2e+07)"},
    {"E9",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 1000000)",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 1e+06)"},
    {"E10",
     R"(container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"})",
     R"(container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"})"},
    {"E11",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo"} > 0.8)",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo"} > 0.8)"},
    {"E12",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8)",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8)"},
    {"E13",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo"}>container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo"} > 0.8)",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo"} > container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo"} > 0.8)"},
    {"E14",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}> container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.05)",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.05)"},
    {"E15",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}>container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8)", R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8)"},
    {"E16",
     "(sum by (instance) (node_memory_MemTotal) - sum by (instance) "
     "(node_memory_MemFree + node_memory_Buffers + node_memory_Cached)) / sum "
     "by (instance) (node_memory_MemTotal) > 0.8",
     "(sum by (instance) (node_memory_MemTotal) - sum by (instance) "
     "(node_memory_MemFree + node_memory_Buffers + node_memory_Cached)) / sum "
     "by (instance) (node_memory_MemTotal) > 0.8"},
    {"E17",
     "(sum(node_memory_MemTotal) BY (instance) - sum(node_memory_MemFree + "
     "node_memory_Buffers + node_memory_Cached) BY (instance)) / "
     "sum(node_memory_MemTotal) BY (instance) > 0.8",
     "(sum by (instance) (node_memory_MemTotal) - sum by (instance) "
     "(node_memory_MemFree + node_memory_Buffers + node_memory_Cached)) / sum "
     "by (instance) (node_memory_MemTotal) > 0.8"},
    {"E18",
     R"((node_filesystem_size{fstype="aufs"} - node_filesystem_free{fstype="aufs"}) / node_filesystem_size{fstype="aufs"} > 0.8)",
     R"((node_filesystem_size{fstype="aufs"} - node_filesystem_free{fstype="aufs"}) / node_filesystem_size{fstype="aufs"} > 0.8)"},
    {"E19", "http_server_resp_time_sum / http_server_resp_time_count",
     "http_server_resp_time_sum / http_server_resp_time_count"},
    {"E20",
     "rate(http_server_resp_time_sum[5m]) / "
     "rate(http_server_resp_time_count[5m])",
     "rate(http_server_resp_time_sum[5m]) / "
     "rate(http_server_resp_time_count[5m])"},
    {"E21",
     R"(rate(http_server_resp_time_sum{service="go-demo"}[5m]) / rate(http_server_resp_time_count{service="go-demo"}[5m]))",
     R"(rate(http_server_resp_time_sum{service="go-demo"}[5m]) / rate(http_server_resp_time_count{service="go-demo"}[5m]))"},
    {"E22",
     "sum(rate(http_server_resp_time_sum[5m])) by (job) / "
     "sum(rate(http_server_resp_time_count[5m])) by (job)",
     "sum by (job) (rate(http_server_resp_time_sum[5m])) / sum by (job) "
     "(rate(http_server_resp_time_count[5m]))"},
    {"E23",
     "sum(rate(http_server_resp_time_sum[5m])) by (job) / "
     "sum(rate(http_server_resp_time_count[5m])) by (job) > 0.1",
     "sum by (job) (rate(http_server_resp_time_sum[5m])) / sum by (job) "
     "(rate(http_server_resp_time_count[5m])) > 0.1"},
    {"E24", "http_server_resp_time_sum > 0.25",
     "http_server_resp_time_sum > 0.25"},
    {"E25",
     R"(sum(rate(http_server_resp_time_bucket{le="0.1"}[5m])) by (job) / sum(rate(http_server_resp_time_count[5m])) by (job))",
     R"(sum by (job) (rate(http_server_resp_time_bucket{le="0.1"}[5m])) / sum by (job) (rate(http_server_resp_time_count[5m])))"},
    {"E26",
     R"(sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])))",
     R"(sum(rate(http_server_resp_time_bucket{job="go-demo_main",le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])))"},
    {"E27",
     R"(sum(rate(http_server_resp_time_count{code=~"^5..$"}[5m])) by (job))",
     R"(sum by (job) (rate(http_server_resp_time_count{code=~"^5..$"}[5m])))"},
    {"E28",
     R"(sum(rate(http_server_resp_time_count{code=~"^5..$"}[5m])) by (job) / sum(rate(http_server_resp_time_count[5m])) by (job))",
     R"(sum by (job) (rate(http_server_resp_time_count{code=~"^5..$"}[5m])) / sum by (job) (rate(http_server_resp_time_count[5m])))"},
    {"E29",
     R"(sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) < 0.99)",
     R"(sum(rate(http_server_resp_time_bucket{job="go-demo_main",le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) < 0.99)"},
    // E30 is invalid; see SeedE30IsRejected.
    {"E31",
     R"(sum(rate(http_server_resp_time_bucket{job="my-service", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="my-service"}[5m])) < 0.99)",
     R"(sum(rate(http_server_resp_time_bucket{job="my-service",le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="my-service"}[5m])) < 0.99)"},
    {"E32",
     R"(sum(rate(http_server_resp_time_bucket{job="my-service", le="0.025"}[5m])) / sum(rate(http_server_resp_time_count{job="my-service"}[5m])) > 0.75)",
     R"(sum(rate(http_server_resp_time_bucket{job="my-service",le="0.025"}[5m])) / sum(rate(http_server_resp_time_count{job="my-service"}[5m])) > 0.75)"},
    {"E33",
     R"(sum(rate(http_server_resp_time_count{job="go-demo_main", code=~"^5..$$"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.001)",
     R"(sum(rate(http_server_resp_time_count{code=~"^5..$$",job="go-demo_main"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.001)"},
    {"E34",
     R"(sum(rate(http_server_resp_time_count{job="go-demo_main", code=~"^5..$$"}[5m])) by (path))",
     R"(sum by (path) (rate(http_server_resp_time_count{code=~"^5..$$",job="go-demo_main"}[5m])))"},
    {"E35",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name!=""})",
     R"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name!=""})"},
    {"E36",
     "sum(node_memory_MemTotal) - sum(node_memory_MemFree + "
     "node_memory_Buffers + node_memory_Cached)",
     "sum(node_memory_MemTotal) - sum(node_memory_MemFree + "
     "node_memory_Buffers + node_memory_Cached)"},
    {"E37", "sum(node_memory_MemTotal)", "sum(node_memory_MemTotal)"},
    {"E38",
     "(sum(node_memory_MemTotal) - sum(node_memory_MemFree + "
     "node_memory_Buffers + node_memory_Cached)) / sum(node_memory_MemTotal)",
     "(sum(node_memory_MemTotal) - sum(node_memory_MemFree + "
     "node_memory_Buffers + node_memory_Cached)) / sum(node_memory_MemTotal)"},
    {"E39",
     R"((sum(node_memory_MemTotal{job="exporter_node-exporter-manager"}) - sum(node_memory_MemFree{job="exporter_node-exporter-manager"} + node_memory_Buffers{job="exporter_node-exporter-manager"} + node_memory_Cached{job="exporter_node-exporter-manager"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-manager"}) > 0.8)", R"((sum(node_memory_MemTotal{job="exporter_node-exporter-manager"}) - sum(node_memory_MemFree{job="exporter_node-exporter-manager"} + node_memory_Buffers{job="exporter_node-exporter-manager"} + node_memory_Cached{job="exporter_node-exporter-manager"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-manager"}) > 0.8)"},
    {"E40",
     R"((sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) - sum(node_memory_MemFree{job="exporter_node-exporter-worker"} + node_memory_Buffers{job="exporter_node-exporter-worker"} + node_memory_Cached{job="exporter_node-exporter-worker"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) > 0.8)",
     R"((sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) - sum(node_memory_MemFree{job="exporter_node-exporter-worker"} + node_memory_Buffers{job="exporter_node-exporter-worker"} + node_memory_Cached{job="exporter_node-exporter-worker"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) > 0.8)"},
    {"E41",
     R"((sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) - sum(node_memory_MemFree{job="exporter_node-exporter-worker"} + node_memory_Buffers{job="exporter_node-exporter-worker"} + node_memory_Cached{job="exporter_node-exporter-worker"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) < 0.05)", R"((sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) - sum(node_memory_MemFree{job="exporter_node-exporter-worker"} + node_memory_Buffers{job="exporter_node-exporter-worker"} + node_memory_Cached{job="exporter_node-exporter-worker"})) / sum(node_memory_MemTotal{job="exporter_node-exporter-worker"}) < 0.05)"},
    {"E42",
     R"(count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}))",
     R"(count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}))"},
    {"E43",
     R"(count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) != 3)",
     R"(count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) != 3)"},
    {"E44", R"(nginx_connections_active{job="nginx"} >= 100)",
     R"(nginx_connections_active{job="nginx"} >= 100)"},
};

TEST(ParserTest, SeedExpressionsParseAndFormat) {
  for (const SeedCase& c : kSeeds) {
    EXPECT_EQ(Fmt(c.query), c.formatted) << c.id;
    // Formatting is a fixed point: the canonical text parses to itself.
    EXPECT_EQ(Fmt(c.formatted), c.formatted) << c.id;
  }
}

TEST(ParserTest, SeedE13IsChainedComparison) {
  ExprPtr e = MustParse(kSeeds[12].query);
  ASSERT_EQ(e->kind, ExprKind::kBinary);
  auto* outer = static_cast<BinaryExpr*>(e.get());
  EXPECT_EQ(outer->op, BinaryOp::kGtr);
  EXPECT_EQ(outer->rhs->kind, ExprKind::kNumber);
  ASSERT_EQ(outer->lhs->kind, ExprKind::kBinary);
  EXPECT_EQ(static_cast<BinaryExpr*>(outer->lhs.get())->op, BinaryOp::kGtr);
}

TEST(ParserTest, SeedE30IsRejected) {
  const std::string e30 =
      R"(sum(rate(http_server_resp_time_bucket{job="my-service", le="0.025"})[5m]) / sum(rate(http_server_resp_time_count{job="my-service"}[5m])) > 0.75)";
  EXPECT_EQ(Err(e30),
            "1:69: parse error: ranges only allowed for vector selectors");
}

TEST(ParserTest, SeedE33DollarDollarIsAValidRegex) {
  ExprPtr e = MustParse(kSeeds[31].query);
  ASSERT_NE(e, nullptr);
}

// Token soup: whatever parses must format to text that parses back to the
// same canonical form; nothing may crash or leak (run under ASan too).
// "Inf" is left out: like Prometheus we print +Inf, which reparses as a
// unary plus.
TEST(ParserTest, RandomTokenSoupRoundTrips) {
  const char* const kPieces[] = {"x",
                                 "y{a=\"b\"}",
                                 "{c=~\"d.*\"}",
                                 "1",
                                 "2.5",
                                 "Inf",
                                 "\"s\"",
                                 "(",
                                 ")",
                                 "[5m]",
                                 "[1h:]",
                                 "[1h:5m]",
                                 "+",
                                 "-",
                                 "*",
                                 "/",
                                 "%",
                                 "^",
                                 "==",
                                 "!=",
                                 ">",
                                 "<",
                                 ">=",
                                 "<=",
                                 "and",
                                 "or",
                                 "unless",
                                 "atan2",
                                 "bool",
                                 "on(a)",
                                 "ignoring(a)",
                                 "group_left(b)",
                                 "group_right",
                                 "sum",
                                 "topk",
                                 "by (a)",
                                 "without (a)",
                                 "rate",
                                 "abs",
                                 "time",
                                 "round",
                                 ",",
                                 "offset 5m",
                                 "offset -1m",
                                 "@ 10",
                                 "@ start()",
                                 "count_values"};
  uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
  };
  int parsed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string q;
    const int n = 1 + static_cast<int>(next() % 12);
    for (int k = 0; k < n; ++k) {
      q += kPieces[next() % std::size(kPieces)];
      if (next() % 2) q += " ";
    }
    auto e = ParseExpr(q);
    if (!e.ok()) {
      EXPECT_NE(std::string(e.status().message()).find("parse error"),
                std::string::npos)
          << q;
      continue;
    }
    ++parsed;
    const std::string once = FormatExpr(**e);
    auto again = ParseExpr(once);
    ASSERT_TRUE(again.ok()) << q << " -> " << once << ": " << again.status();
    EXPECT_EQ(FormatExpr(**again), once) << q;
  }
  EXPECT_GT(parsed, 50);
}

TEST(ParserTest, ConcurrentParsesAreIndependent) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&failures] {
      for (int i = 0; i < 200; ++i) {
        for (const SeedCase& c : kSeeds) {
          auto e = ParseExpr(c.query);
          if (!e.ok() || FormatExpr(**e) != c.formatted) ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- Grammar coverage (the X3 grammar) -------------------------------------

// The tree with every binary and unary node parenthesized.
std::string Shape(const std::string& q) {
  std::function<std::string(const Expr&)> rec = [&](const Expr& e) {
    switch (e.kind) {
      case ExprKind::kBinary: {
        const auto& b = static_cast<const BinaryExpr&>(e);
        return "(" + rec(*b.lhs) + " " + BinaryOpString(b.op) + " " +
               rec(*b.rhs) + ")";
      }
      case ExprKind::kUnary: {
        const auto& u = static_cast<const UnaryExpr&>(e);
        return std::string("(") + u.op + rec(*u.expr) + ")";
      }
      default:
        return FormatExpr(e);
    }
  };
  ExprPtr e = MustParse(q);
  return e ? rec(*e) : "";
}

TEST(ParserTest, PrecedenceTableAllLevels) {
  EXPECT_EQ(Shape("a or b and c == d + e * f ^ g"),
            "(a or (b and (c == (d + (e * (f ^ g))))))");
  EXPECT_EQ(Shape("a ^ b * c + d == e and f or g"),
            "((((((a ^ b) * c) + d) == e) and f) or g)");
  EXPECT_EQ(Shape("a unless b or c and d"), "((a unless b) or (c and d))");
  EXPECT_EQ(Shape("a - b < bool c % d"), "((a - b) < (c % d))");
}

TEST(ParserTest, AssociativityPerLevel) {
  EXPECT_EQ(Shape("a or b or c"), "((a or b) or c)");
  EXPECT_EQ(Shape("a and b unless c and d"), "(((a and b) unless c) and d)");
  EXPECT_EQ(Shape("a == b != c > d < e >= f <= g"),
            "((((((a == b) != c) > d) < e) >= f) <= g)");
  EXPECT_EQ(Shape("a + b - c + d"), "(((a + b) - c) + d)");
  EXPECT_EQ(Shape("a atan2 b * c / d % e"), "((((a atan2 b) * c) / d) % e)");
  EXPECT_EQ(Shape("a ^ b ^ c ^ d"), "(a ^ (b ^ (c ^ d)))");
}

TEST(ParserTest, UnaryBinding) {
  EXPECT_EQ(Shape("-a ^ -b ^ c"), "(-(a ^ (-(b ^ c))))");
  EXPECT_EQ(Shape("a > -b"), "(a > (-b))");
  EXPECT_EQ(Shape("-a % b"), "((-a) % b)");
  EXPECT_EQ(Shape("+a - -b"), "((+a) - (-b))");
  EXPECT_EQ(Shape("-(a + b) * c"), "((-(a + b)) * c)");
  EXPECT_EQ(Shape("-1 ^ 2"), "(-(1 ^ 2))");
  EXPECT_EQ(Shape("- -1"), "1");  // both signs fold into the literal
  EXPECT_EQ(Number("- - -2"), -2);
  EXPECT_EQ(Err("-sum(x) offset 1m"),
            "1:2: parse error: offset modifier must be preceded by an instant "
            "vector selector or range vector selector or a subquery");
}

TEST(ParserTest, NumberLiteralForms) {
  EXPECT_EQ(Number("0x1F"), 31);
  EXPECT_EQ(Number("0X1f"), 31);
  EXPECT_EQ(Number("017"), 15);  // octal, as Go's ParseInt(s, 0, 64)
  EXPECT_EQ(Number("019"), 19);  // not octal: decimal float
  EXPECT_EQ(Number(".5"), 0.5);
  EXPECT_EQ(Number("5."), 5);
  EXPECT_EQ(Number("1e3"), 1000);
  EXPECT_EQ(Number("1E-2"), 0.01);
  EXPECT_EQ(Number("-0x10"), -16);
  EXPECT_EQ(Number("Inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(Number("-inf"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(Number("NaN")));
  EXPECT_TRUE(std::isnan(Number("nan")));
  EXPECT_EQ(Fmt("1 + Inf"), "1 + +Inf");
}

TEST(ParserTest, KeywordsCaseInsensitiveEverywhere) {
  EXPECT_EQ(Fmt("a ATAN2 b"), "a atan2 b");
  EXPECT_EQ(Fmt("x OfFsEt -5m"), "x offset -5m");
  EXPECT_EQ(Fmt("x @ End()"), "x @ end()");
  EXPECT_EQ(Fmt("sum WITHOUT (a) (x)"), "sum without (a) (x)");
  EXPECT_EQ(Fmt("Quantile(0.5, x) By (a)"), "quantile by (a) (0.5, x)");
  EXPECT_EQ(Fmt("a > BoOl on(b) GROUP_left c"),
            "a > bool on (b) group_left () c");
  EXPECT_EQ(Fmt("a Or b aNd c"), "a or b and c");
}

TEST(ParserTest, KeywordPrefixesAreNames) {
  EXPECT_EQ(Fmt("a + andy"), "a + andy");
  EXPECT_EQ(Fmt("offsets offset 1m"), "offsets offset 1m");
  EXPECT_EQ(Fmt("x + bool_x"), "x + bool_x");
  EXPECT_EQ(Fmt("sum_x + summary"), "sum_x + summary");
  EXPECT_EQ(Fmt("inf_x"), "inf_x");
  EXPECT_EQ(Fmt("on:rate5m"), "on:rate5m");
  EXPECT_EQ(Fmt("by"), "by");
  EXPECT_EQ(Fmt("x offset5m"),
            "ERROR: 1:3: parse error: unexpected "
            "identifier \"offset5m\"");
  EXPECT_EQ(Err("or"), "1:1: parse error: unexpected <or>");
  EXPECT_EQ(Err("a + bool"), "1:9: parse error: unexpected end of input");
  EXPECT_EQ(Err("on(a)"),
            "1:1: parse error: unknown function with name \"on\"");
}

TEST(ParserTest, ErrorPositionsSkipBlanksAndComments) {
  EXPECT_EQ(Err("sum(x) by # why\n  (a"),
            "2:5: parse error: unexpected end of input in grouping opts, "
            "expected \",\" or \")\"");
  EXPECT_EQ(Err("foo{a=\"b\",\n  c}"),
            "2:4: parse error: unexpected \"}\" in label matching, expected "
            "label matching operator");
  EXPECT_EQ(Err("rate(\n  x[5m] # comment\n  ,, )"),
            "3:4: parse error: unexpected \",\"");
  EXPECT_EQ(Err("x offset # c\n"),
            "2:1: parse error: unexpected end of input in offset, expected "
            "duration");
  EXPECT_EQ(Err("foo{a=\"b}"), "1:7: parse error: unterminated quoted string");
  EXPECT_EQ(Err("foo{a=\"x\\qy\"}"),
            "1:9: parse error: unknown escape sequence 'q' in string");
  EXPECT_EQ(Err("foo{a=`b}"), "1:7: parse error: unterminated raw string");
  EXPECT_EQ(Err("x[5m:1m"),
            "1:8: parse error: unexpected end of input in subquery, expected "
            "\"]\"");
  EXPECT_EQ(Err("x @ start("),
            "1:11: parse error: unexpected end of input in @, expected \")\"");
}

// The seeds' malformed scale-up query: the range applies to rate(...), not
// to a selector, and the error says so at the "[".
TEST(ParserTest, SeedMalformedRangeOnCallIsExplained) {
  EXPECT_EQ(
      Err(R"(sum(rate(http_server_resp_time_bucket{job="my-service", le="0.025"})[5m]))"),
      "1:69: parse error: ranges only allowed for vector selectors");
}

TEST(ParserTest, StringQuoteStylesInMatchersAndLiterals) {
  EXPECT_EQ(Fmt(R"(x{a='1', b="2", c=`3\n`})"), R"(x{a="1",b="2",c="3\\n"})");
  EXPECT_EQ(String(R"('it\'s')"), "it's");
  EXPECT_EQ(String("`a\"b`"), "a\"b");
  EXPECT_EQ(String(R"("\u00e9\x41\101")"),
            "\xC3\xA9"
            "AA");
}

// Up to 64 levels parse on the caller's stack; deeper input is parsed again
// on a large stack. Both paths must agree on trees and errors.
TEST(ParserTest, DeepInputOnLargeStackGivesSameResults) {
  for (int n : {62, 63, 64, 65, 66, 300}) {
    const std::string q = std::string(n, '(') + "x" + std::string(n, ')');
    EXPECT_EQ(Fmt(q), q) << n;
    const std::string neg = std::string(n, '-') + "x";
    EXPECT_TRUE(ParseExpr(neg).ok()) << n;
  }
  EXPECT_EQ(Err(std::string(100, '(') + "x +"),
            "1:104: parse error: unexpected end of input");
  EXPECT_EQ(Err("foo bar" + std::string(100, '(')),
            "1:5: parse error: unexpected identifier \"bar\"");
  EXPECT_EQ(Err(std::string(100, '(') + "x" + std::string(99, ')')),
            "1:1: parse error: unclosed left parenthesis");
  EXPECT_EQ(Err(std::string(70, '(') + "1 > 2" + std::string(70, ')')),
            "1:73: parse error: comparisons between scalars must use BOOL "
            "modifier");
}

TEST(ParserTest, MetricSelectorApiErrors) {
  EXPECT_TRUE(ParseMetricSelector("sum").ok());
  EXPECT_TRUE(ParseMetricSelector("and").ok());  // any name is a metric here
  EXPECT_EQ(ParseMetricSelector("(up)").status().message(),
            "1:1: parse error: unexpected \"(\" expected metric selector");
  EXPECT_EQ(ParseMetricSelector("up{a=\"b\"} x").status().message(),
            "1:11: parse error: unexpected identifier \"x\"");
}

}  // namespace
}  // namespace vigil::promql
