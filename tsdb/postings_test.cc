#include "tsdb/postings.h"

#include <gtest/gtest.h>

namespace vigil::tsdb {
namespace {

TEST(PostingsTest, IntersectMergesAndGallops) {
  EXPECT_EQ(Intersect(PostingsList{1, 3, 5}, PostingsList{3, 4, 5}),
            (PostingsList{3, 5}));
  EXPECT_TRUE(Intersect(PostingsList{}, PostingsList{1}).empty());
  PostingsList big;
  for (uint64_t i = 0; i < 10000; i += 2) big.push_back(i);
  EXPECT_EQ(Intersect(PostingsList{3, 4, 9998, 20000}, big),
            (PostingsList{4, 9998}));
}

TEST(PostingsTest, IntersectAllSmallestFirst) {
  PostingsList a{1, 2, 3, 4}, b{2, 4}, c{4, 5};
  EXPECT_EQ(IntersectAll({a, b, c}), (PostingsList{4}));
  EXPECT_TRUE(IntersectAll({}).empty());
}

TEST(PostingsTest, UnionSmallAndHeapPaths) {
  PostingsList a{1, 5}, b{2, 5}, c{0}, d{9}, e{3, 4}, f{};
  EXPECT_EQ(Union({a, b}), (PostingsList{1, 2, 5}));
  EXPECT_EQ(Union({a, b, c, d, e, f}), (PostingsList{0, 1, 2, 3, 4, 5, 9}));
  EXPECT_TRUE(Union({}).empty());
}

TEST(PostingsTest, Subtract) {
  EXPECT_EQ(Subtract(PostingsList{1, 2, 3, 4}, PostingsList{2, 4, 6}),
            (PostingsList{1, 3}));
  EXPECT_EQ(Subtract(PostingsList{1}, PostingsList{}), (PostingsList{1}));
}

TEST(PostingsTest, InsertAndEraseKeepOrder) {
  PostingsList l;
  InsertPosting(&l, 5);
  InsertPosting(&l, 2);
  InsertPosting(&l, 9);
  InsertPosting(&l, 5);
  EXPECT_EQ(l, (PostingsList{2, 5, 9}));
  ErasePosting(&l, 5);
  ErasePosting(&l, 7);
  EXPECT_EQ(l, (PostingsList{2, 9}));
}

}  // namespace
}  // namespace vigil::tsdb
