// PromQL's lexical grammar as Boost.Spirit X3 parsers: names, numbers and
// durations. Shared by the phrase grammar (grammar.cc) and the token
// describer that words error messages (token.cc), so both agree on where a
// token ends. Internal to the parser.
#ifndef VIGIL_PROMQL_PARSER_LEXICAL_H_
#define VIGIL_PROMQL_PARSER_LEXICAL_H_

#include "boost/spirit/home/x3.hpp"

namespace vigil::promql::lexical {

namespace x3 = boost::spirit::x3;

// Characters that continue a name. Keywords must not be followed by one
// ("offset5" is a name, not "offset 5").
const auto name_char = x3::ascii::alnum | x3::lit('_') | x3::lit(':');
// Characters that may not follow a number or duration ("1a" is an error).
const auto word_char = x3::ascii::alnum | x3::lit('_');

// Metric names may contain ':' (recording rules); label names may not.
const auto metric_name =
    (x3::ascii::alpha | x3::lit('_') | x3::lit(':')) >> *name_char;
const auto label_name = (x3::ascii::alpha | x3::lit('_')) >> *word_char;

const auto hex_number = x3::lit('0') >> (x3::lit('x') | x3::lit('X')) >>
                        +x3::ascii::xdigit;
const auto mantissa =
    (+x3::ascii::digit >> -(x3::lit('.') >> *x3::ascii::digit)) |
    (x3::lit('.') >> +x3::ascii::digit);
const auto exponent = (x3::lit('e') | x3::lit('E')) >>
                      -(x3::lit('+') | x3::lit('-')) >> +x3::ascii::digit;
const auto number = hex_number | (mantissa >> -exponent);

// Unit order and repetition are checked by ParseDuration, which words the
// error.
const auto duration_unit = x3::lit("ms") | x3::lit('y') | x3::lit('w') |
                           x3::lit('d') | x3::lit('h') | x3::lit('m') |
                           x3::lit('s');
const auto duration = +(+x3::ascii::digit >> duration_unit);

// String literal extents; the text is decoded by UnquoteGoString, which
// knows Go's escapes and words their errors.
const auto double_quoted = x3::lit('"') >>
                           *((x3::lit('\\') >> x3::char_) |
                             (x3::char_ - x3::char_("\"\\\n"))) >>
                           x3::lit('"');
const auto single_quoted = x3::lit('\'') >>
                           *((x3::lit('\\') >> x3::char_) |
                             (x3::char_ - x3::char_("'\\\n"))) >>
                           x3::lit('\'');
const auto raw_string = x3::lit('`') >>
                        *(x3::char_ - x3::lit('`')) >> x3::lit('`');
const auto string = double_quoted | single_quoted | raw_string;

// Blanks and `# comments` up to the end of the line. A hand-written
// primitive: it runs before every token, and the equivalent
// char_(" \t\r\n") | ('#' >> *(char_ - '\n')) costs several times more.
struct Skipper : x3::parser<Skipper> {
  using attribute_type = x3::unused_type;
  static const bool has_attribute = false;

  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, const It& last, const Ctx&, RCtx&, Attr&) const {
    const It start = first;
    while (first != last) {
      const char c = *first;
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++first;
      } else if (c == '#') {
        while (first != last && *first != '\n') ++first;
      } else {
        break;
      }
    }
    return first != start;
  }
};
constexpr Skipper skipper{};

// A case-insensitive ASCII keyword that is not the start of a longer name:
// Kw("offset") matches "OFFSET 5m" but not "offset5". `word` is lower case.
// Hand-written because x3::no_case goes through the C library's locale-aware
// tolower for every character.
struct Keyword : x3::parser<Keyword> {
  using attribute_type = x3::unused_type;
  static const bool has_attribute = false;

  constexpr explicit Keyword(const char* w) : word(w) {}

  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, const It& last, const Ctx& ctx, RCtx&, Attr&) const {
    x3::skip_over(first, last, ctx);
    It it = first;
    for (const char* w = word; *w != '\0'; ++w, ++it) {
      if (it == last) return false;
      char c = *it;
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != *w) return false;
    }
    if (it != last) {
      const char c = *it;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == ':') {
        return false;
      }
    }
    first = it;
    return true;
  }

  const char* word;
};

}  // namespace vigil::promql::lexical

#endif  // VIGIL_PROMQL_PARSER_LEXICAL_H_
