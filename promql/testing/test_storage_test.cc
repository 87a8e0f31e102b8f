#include "promql/testing/test_storage.h"

#include "gtest/gtest.h"

namespace vigil::promql::testing {
namespace {

tsdb::Labels L(const char* name, const char* job) {
  return *tsdb::Labels::FromPairs({{"__name__", name}, {"job", job}});
}

std::vector<tsdb::Sample> ReadAll(tsdb::Queryable* q, int64_t mint,
                                  int64_t maxt) {
  auto querier = *q->NewQuerier(mint, maxt);
  auto m = *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "job", "a");
  auto series = *querier->Select({}, {m});
  std::vector<tsdb::Sample> out;
  for (auto& s : series) EXPECT_TRUE(s.iterator->ReadAll(&out).ok());
  return out;
}

TEST(TestStorage, SelectRestrictsToQuerierRange) {
  TestStorage st;
  for (int i = 0; i < 10; ++i) st.Add(L("up", "a"), i * 1000, i);
  st.Add(L("up", "b"), 0, 1);
  auto s = ReadAll(&st, 2000, 4000);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].t, 2000);
  EXPECT_EQ(s[2].t, 4000);
}

TEST(TestStorage, SnapshotIsolation) {
  TestStorage st;
  st.Add(L("up", "a"), 0, 1);
  auto querier = *st.NewQuerier(0, 10000);
  st.Add(L("up", "a"), 1000, 2);
  auto m = *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "job", "a");
  auto series = *querier->Select({}, {m});
  std::vector<tsdb::Sample> out;
  ASSERT_TRUE(series[0].iterator->ReadAll(&out).ok());
  EXPECT_EQ(out.size(), 1u);
}

TEST(TestStorage, AppenderRejectsOutOfOrderButCommitsOthers) {
  TestStorage st;
  auto app = st.NewAppender();
  ASSERT_TRUE(app->Append(0, L("up", "a"), 2000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  app = st.NewAppender();
  ASSERT_TRUE(app->Append(0, L("up", "a"), 1000, 5).ok());
  ASSERT_TRUE(app->Append(0, L("up", "a"), 3000, 6).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto s = ReadAll(&st, 0, 10000);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].v, 6);
}

TEST(TestStorage, IteratorSeekAndNext) {
  TestStorage st;
  for (int i = 0; i < 5; ++i) st.Add(L("up", "a"), i * 10, i);
  auto querier = *st.NewQuerier(0, 100);
  auto m = *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "job", "a");
  auto series = *querier->Select({}, {m});
  auto& it = *series[0].iterator;
  ASSERT_TRUE(it.Seek(15));
  EXPECT_EQ(it.At().t, 20);
  ASSERT_TRUE(it.Next());
  EXPECT_EQ(it.At().t, 30);
  std::vector<tsdb::Sample> rest;
  ASSERT_TRUE(it.ReadAll(&rest).ok());
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].t, 40);
}

}  // namespace
}  // namespace vigil::promql::testing
