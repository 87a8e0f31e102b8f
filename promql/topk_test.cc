#include "promql/topk.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vigil::promql {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::vector<size_t> Top(const std::vector<double>& v, int64_t k,
                        bool top = true) {
  std::vector<size_t> kept;
  SelectTopK(v, k, top, &kept);
  return kept;
}

TEST(SelectTopKTest, DistinctValuesBestFirst) {
  EXPECT_THAT(Top({5, 1, 4, 3}, 2), ElementsAre(0, 2));
  EXPECT_THAT(Top({5, 1, 4, 3}, 2, false), ElementsAre(1, 3));
  EXPECT_THAT(Top({5, 1, 4, 3}, 10), ElementsAre(0, 2, 3, 1));
  EXPECT_TRUE(Top({5, 1}, 0).empty());
  EXPECT_TRUE(Top({}, 3).empty());
}

// Prometheus's heap, not "first in input order": with k = 2 and input
// 1, 1, 3 the 3 displaces the root, which is the first 1, so the second 1
// survives. (A stable sort would keep the first.)
TEST(SelectTopKTest, TiesResolvedByPrometheusHeap) {
  EXPECT_THAT(Top({1, 1, 3}, 2), UnorderedElementsAre(1, 2));
  EXPECT_THAT(Top({1, 1, 0}, 2, false), UnorderedElementsAre(1, 2));
  // Equal values never displace the root.
  EXPECT_THAT(Top({2, 2, 2, 2}, 2), UnorderedElementsAre(0, 1));
  // k = 3 over 1, 1, 1, 5, 5: the first 5 pops root 0 (the last element,
  // the third 1, moves to the root) and is pushed; the second 5 pops the
  // third 1, the second 1 sifts up to the root and survives.
  EXPECT_THAT(Top({1, 1, 1, 5, 5}, 3), UnorderedElementsAre(1, 3, 4));
  // Prometheus's own case from the differential suite: equal middle values
  // in label order a, b; the later one survives.
  EXPECT_THAT(Top({0.05, 0.0566, 0.0566, 0.0966}, 2),
              UnorderedElementsAre(2, 3));
}

TEST(SelectTopKTest, NaNRanksLast) {
  const double nan = std::nan("");
  EXPECT_THAT(Top({nan, 1, nan}, 1), ElementsAre(1));
  EXPECT_THAT(Top({nan, 1, nan}, 1, false), ElementsAre(1));
  EXPECT_THAT(Top({nan, 1, 2}, 3), ElementsAre(2, 1, 0));
  // A NaN root is displaced by any value, even -Inf or another NaN.
  EXPECT_THAT(Top({nan, -INFINITY}, 1), ElementsAre(1));
  EXPECT_THAT(Top({nan, nan}, 1), ElementsAre(1));
  EXPECT_THAT(Top({1, nan, nan}, 2, false), UnorderedElementsAre(0, 2));
}

}  // namespace
}  // namespace vigil::promql
