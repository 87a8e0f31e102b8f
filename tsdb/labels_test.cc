#include "tsdb/labels.h"

#include <gtest/gtest.h>

namespace vigil::tsdb {
namespace {

TEST(LabelsTest, SortsAndDropsEmptyValues) {
  auto l = Labels::FromPairs(
      {{"job", "node"}, {"__name__", "up"}, {"zone", ""}, {"a", "1"}});
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].name, "__name__");
  EXPECT_EQ((*l)[1].name, "a");
  EXPECT_EQ((*l)[2].name, "job");
  EXPECT_EQ(l->Get("zone"), "");
  EXPECT_FALSE(l->Has("zone"));
  EXPECT_EQ(l->ToString(), "up{a=\"1\", job=\"node\"}");
}

TEST(LabelsTest, RejectsBadNamesDuplicatesAndUtf8) {
  EXPECT_FALSE(Labels::FromPairs({{"", "x"}}).ok());
  EXPECT_FALSE(Labels::FromPairs({{"1abc", "x"}}).ok());
  EXPECT_FALSE(Labels::FromPairs({{"a-b", "x"}}).ok());
  EXPECT_FALSE(Labels::FromPairs({{"a", "x"}, {"a", "y"}}).ok());
  EXPECT_FALSE(Labels::FromPairs({{"a", std::string("\xff\xfe")}}).ok());
  EXPECT_FALSE(Labels::FromPairs({{"a", std::string("\xed\xa0\x80")}}).ok());
  auto utf8 = Labels::FromPairs({{"a", "h\xc3\xa9llo \xe2\x82\xac"}});
  EXPECT_TRUE(utf8.ok()) << utf8.status();
  auto err = Labels::FromPairs({{"a", "x"}, {"a", "y"}}).status();
  EXPECT_NE(err.message().find("duplicate label name \"a\""),
            std::string::npos);
}

TEST(LabelsTest, HashAndOrder) {
  auto a = *Labels::FromPairs({{"a", "1"}, {"b", "2"}});
  auto b = *Labels::FromPairs({{"b", "2"}, {"a", "1"}});
  auto c = *Labels::FromPairs({{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.Hash(), b.Hash());
  EXPECT_NE(a.Hash(), c.Hash());
  EXPECT_TRUE(a < c);
  EXPECT_FALSE(c < a);
  // "ab"+"c" must not collide with "a"+"bc".
  auto d = *Labels::FromPairs({{"ab", "c"}});
  auto e = *Labels::FromPairs({{"a", "bc"}});
  EXPECT_NE(d.Hash(), e.Hash());
  EXPECT_EQ(a.HashFor({"a"}, true), c.HashFor({"a"}, true));
  EXPECT_NE(a.HashFor({"a"}, false), c.HashFor({"a"}, false));
}

TEST(LabelsTest, BuilderSetDelKeep) {
  auto base = *Labels::FromPairs({{"__name__", "x"}, {"b", "2"}});
  LabelsBuilder b(base);
  b.Set("a", "1").Set("b", "").Set("c", "3");
  Labels out = b.Build();
  EXPECT_EQ(out.ToString(), "x{a=\"1\", c=\"3\"}");
  b.Keep({"a"});
  EXPECT_EQ(b.Build().ToString(), "{a=\"1\"}");
  EXPECT_EQ(Labels().ToString(), "{}");
}

TEST(LabelsTest, ToStringEscapes) {
  auto l = *Labels::FromPairs({{"a", "q\"b\\n\nx"}});
  EXPECT_EQ(l.ToString(), "{a=\"q\\\"b\\\\n\\nx\"}");
}

}  // namespace
}  // namespace vigil::tsdb

namespace vigil::tsdb {
namespace {

TEST(LabelsTest, HashLabelViewsMatchesHash) {
  Labels l = *Labels::FromPairs(
      {{"__name__", "up"}, {"job", "node"}, {"instance", "a:1"}});
  std::vector<LabelView> views;
  for (const Label& x : l) views.emplace_back(x.name, x.value);
  EXPECT_EQ(HashLabelViews(views.data(), views.size()), l.Hash());
  EXPECT_EQ(HashLabelViews(nullptr, 0), Labels().Hash());
  views[1].second = "other";
  EXPECT_NE(HashLabelViews(views.data(), views.size()), l.Hash());
}

}  // namespace
}  // namespace vigil::tsdb
