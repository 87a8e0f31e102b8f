#include "promql/parser/parser.h"

#include "gtest/gtest.h"

namespace vigil::promql {
namespace {

std::string Fmt(const std::string& q) {
  auto e = ParseExpr(q);
  if (!e.ok()) return "ERROR: " + std::string(e.status().message());
  return FormatExpr(**e);
}

TEST(ParserTest, Smoke) {
  EXPECT_EQ(Fmt("sum(rate(x[5m])) by (job)"), "sum by (job) (rate(x[5m]))");
}

}  // namespace
}  // namespace vigil::promql
