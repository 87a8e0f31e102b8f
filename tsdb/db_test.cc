#include "tsdb/db.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"

namespace vigil::tsdb {
namespace {

Labels L(std::vector<Label> pairs) {
  return *Labels::FromPairs(std::move(pairs));
}

Matcher M(MatchType t, std::string n, std::string v) {
  return *Matcher::Create(t, std::move(n), std::move(v));
}

std::unique_ptr<DB> OpenMem() {
  DBOptions o;
  o.retention = absl::ZeroDuration();
  o.maintenance_interval = absl::ZeroDuration();
  auto db = DB::Open(o);
  EXPECT_TRUE(db.ok()) << db.status();
  return *std::move(db);
}

// Selects and returns {labels string -> samples}.
std::vector<std::pair<std::string, std::vector<Sample>>> Query(
    DB* db, std::vector<Matcher> ms, int64_t mint = 0,
    int64_t maxt = std::numeric_limits<int64_t>::max()) {
  auto q = db->NewQuerier(mint, maxt);
  EXPECT_TRUE(q.ok());
  auto series = (*q)->Select(SelectHints{}, ms);
  EXPECT_TRUE(series.ok()) << series.status();
  std::vector<std::pair<std::string, std::vector<Sample>>> out;
  for (Series& s : *series) {
    std::vector<Sample> buf;
    EXPECT_TRUE(s.iterator->ReadAll(&buf).ok());
    out.emplace_back(s.labels.ToString(), std::move(buf));
  }
  return out;
}

TEST(DBTest, AppendCommitSelectSortedByLabels) {
  auto db = OpenMem();
  auto app = db->NewAppender();
  ASSERT_TRUE(
      app->Append(0, L({{"__name__", "up"}, {"job", "b"}}), 1000, 1).ok());
  ASSERT_TRUE(
      app->Append(0, L({{"__name__", "up"}, {"job", "a"}}), 1000, 2).ok());
  // Not visible before Commit.
  EXPECT_TRUE(
      Query(db.get(), {M(MatchType::kEqual, "__name__", "up")}).empty());
  ASSERT_TRUE(app->Commit().ok());
  auto r = Query(db.get(), {M(MatchType::kEqual, "__name__", "up")});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].first, "up{job=\"a\"}");
  EXPECT_EQ(r[1].first, "up{job=\"b\"}");
  ASSERT_EQ(r[0].second.size(), 1u);
  EXPECT_EQ(r[0].second[0].t, 1000);
  EXPECT_EQ(r[0].second[0].v, 2);
  EXPECT_EQ(db->MinTime(), 1000);
  EXPECT_EQ(db->MaxTime(), 1000);
  EXPECT_EQ(db->Stats().head_series, 2);
  EXPECT_EQ(db->Stats().samples_appended, 2);
}

TEST(DBTest, RejectionsAreClassified) {
  auto db = OpenMem();
  auto app = db->NewAppender();
  Labels l = L({{"__name__", "x"}});
  auto ref = app->Append(0, l, 1000, 1);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ClassifyAppendError(app->Append(*ref, l, 999, 1).status()),
            AppendError::kOutOfOrder);
  EXPECT_EQ(ClassifyAppendError(app->Append(*ref, l, 1000, 2).status()),
            AppendError::kDuplicate);
  EXPECT_TRUE(app->Append(*ref, l, 1000, 1).ok());  // identical: ignored
  // NaN duplicates compare by bits.
  ASSERT_TRUE(app->Append(*ref, l, 2000, std::nan("")).ok());
  EXPECT_TRUE(app->Append(*ref, l, 2000, std::nan("")).ok());
  EXPECT_EQ(
      ClassifyAppendError(app->Append(*ref, l, 2000, StaleNaN()).status()),
      AppendError::kDuplicate);
  EXPECT_EQ(ClassifyAppendError(
                app->Append(0, L({{"job", "nometric"}}), 1000, 1).status()),
            AppendError::kInvalidLabels);
  EXPECT_EQ(ClassifyAppendError(app->Append(0, Labels(), 1000, 1).status()),
            AppendError::kInvalidLabels);
  EXPECT_EQ(ClassifyAppendError(
                app->Append(0,
                            Labels::FromSortedUnchecked(
                                {{"__name__", "a"}, {"b", "1"}, {"b", "2"}}),
                            1000, 1)
                    .status()),
            AppendError::kInvalidLabels);
  ASSERT_TRUE(app->Commit().ok());
  auto r = Query(db.get(), {M(MatchType::kEqual, "__name__", "x")});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].second.size(), 2u);
  EXPECT_TRUE(std::isnan(r[0].second[1].v));
  DBStats st = db->Stats();
  EXPECT_EQ(st.out_of_order, 1);
  EXPECT_EQ(st.duplicate, 2);
  EXPECT_EQ(st.invalid_labels, 3);
  // Out of order against committed data, in a new batch.
  auto app2 = db->NewAppender();
  EXPECT_EQ(ClassifyAppendError(app2->Append(*ref, l, 1500, 1).status()),
            AppendError::kOutOfOrder);
  EXPECT_FALSE(app2->Commit().ok() && app2->Commit().ok());
}

TEST(DBTest, RollbackDiscardsAndRefSkipsLabels) {
  auto db = OpenMem();
  auto app = db->NewAppender();
  auto ref = app->Append(0, L({{"__name__", "x"}}), 1000, 1);
  ASSERT_TRUE(ref.ok());
  app->Rollback();
  EXPECT_TRUE(Query(db.get(), {M(MatchType::kEqual, "__name__", "x")}).empty());
  auto app2 = db->NewAppender();
  // Empty labels are fine with a known ref.
  auto ref2 = app2->Append(*ref, Labels(), 2000, 5);
  ASSERT_TRUE(ref2.ok());
  EXPECT_EQ(*ref2, *ref);
  EXPECT_FALSE(app2->Append(12345, Labels(), 2000, 5).ok());
  ASSERT_TRUE(app2->Commit().ok());
  auto r = Query(db.get(), {M(MatchType::kEqual, "__name__", "x")});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].second.size(), 1u);
  EXPECT_EQ(r[0].second[0].v, 5);
}

TEST(DBTest, MatcherSemantics) {
  auto db = OpenMem();
  auto app = db->NewAppender();
  ASSERT_TRUE(
      app->Append(0, L({{"__name__", "m"}, {"env", "prod"}, {"job", "api"}}), 1,
                  1)
          .ok());
  ASSERT_TRUE(
      app->Append(0, L({{"__name__", "m"}, {"env", "dev"}, {"job", "api-2"}}),
                  1, 1)
          .ok());
  ASSERT_TRUE(app->Append(0, L({{"__name__", "m"}, {"job", "db"}}), 1, 1).ok());
  ASSERT_TRUE(
      app->Append(0, L({{"__name__", "other"}, {"job", "api"}}), 1, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto names = [&](std::vector<Matcher> ms) {
    std::vector<std::string> out;
    for (auto& [l, s] : Query(db.get(), ms)) out.push_back(l);
    return out;
  };
  const Matcher m = M(MatchType::kEqual, "__name__", "m");
  EXPECT_EQ(names({m, M(MatchType::kEqual, "env", "")}),
            std::vector<std::string>{"m{job=\"db\"}"});
  EXPECT_EQ(names({m, M(MatchType::kNotEqual, "env", "")}).size(), 2u);
  EXPECT_EQ(names({m, M(MatchType::kNotEqual, "env", "prod")}),
            (std::vector<std::string>{"m{env=\"dev\", job=\"api-2\"}",
                                      "m{job=\"db\"}"}));
  // Anchored: "api" does not match "api-2".
  EXPECT_EQ(names({M(MatchType::kRegexMatch, "job", "api")}),
            (std::vector<std::string>{"m{env=\"prod\", job=\"api\"}",
                                      "other{job=\"api\"}"}));
  EXPECT_EQ(names({m, M(MatchType::kRegexNoMatch, "job", "api.*")}),
            std::vector<std::string>{"m{job=\"db\"}"});
  // A regex matching "" also selects series without the label.
  EXPECT_EQ(names({m, M(MatchType::kRegexMatch, "env", "prod|")}),
            (std::vector<std::string>{"m{env=\"prod\", job=\"api\"}",
                                      "m{job=\"db\"}"}));
  EXPECT_TRUE(names({M(MatchType::kEqual, "job", "nope")}).empty());
  EXPECT_TRUE(names({M(MatchType::kEqual, "nolabel", "x")}).empty());
  EXPECT_EQ(names({m, M(MatchType::kRegexMatch, "env", ".+")}).size(), 2u);

  auto q = *db->NewQuerier(0, 10);
  EXPECT_EQ(*q->LabelNames({}),
            (std::vector<std::string>{"__name__", "env", "job"}));
  EXPECT_EQ(*q->LabelNames({M(MatchType::kEqual, "__name__", "other")}),
            (std::vector<std::string>{"__name__", "job"}));
  EXPECT_EQ(*q->LabelValues("job", {}),
            (std::vector<std::string>{"api", "api-2", "db"}));
  EXPECT_EQ(*q->LabelValues("job", {M(MatchType::kEqual, "env", "prod")}),
            (std::vector<std::string>{"api"}));
  EXPECT_TRUE(q->LabelValues("nolabel", {})->empty());
  // Outside the data's time range nothing is reported.
  auto q2 = *db->NewQuerier(100, 200);
  EXPECT_TRUE(q2->LabelNames({})->empty());
}

TEST(DBTest, ManySamplesAcrossChunksWithRangeSeekAndHints) {
  auto db = OpenMem();
  Labels l = L({{"__name__", "c"}});
  SeriesRef ref = 0;
  const int kN = 5000;
  for (int i = 0; i < kN; i += 100) {
    auto app = db->NewAppender();
    for (int j = i; j < i + 100; ++j) {
      auto r = app->Append(ref, l, int64_t{j} * 15000, j);
      ASSERT_TRUE(r.ok()) << r.status();
      ref = *r;
    }
    ASSERT_TRUE(app->Commit().ok());
  }
  EXPECT_GT(db->Stats().head_chunks, kN / kSamplesPerChunk);
  auto all = Query(db.get(), {M(MatchType::kEqual, "__name__", "c")});
  ASSERT_EQ(all.size(), 1u);
  ASSERT_EQ(all[0].second.size(), static_cast<size_t>(kN));
  for (int j = 0; j < kN; ++j) {
    ASSERT_EQ(all[0].second[j].t, int64_t{j} * 15000);
    ASSERT_EQ(all[0].second[j].v, j);
  }
  // Querier range is inclusive on both ends.
  auto part = Query(db.get(), {M(MatchType::kEqual, "__name__", "c")},
                    15000 * 10, 15000 * 20);
  ASSERT_EQ(part[0].second.size(), 11u);

  auto q = *db->NewQuerier(0, std::numeric_limits<int64_t>::max());
  SelectHints hints;
  hints.start = 15000 * 1000;
  hints.end = 15000 * 1001;
  auto ss = *q->Select(hints, {M(MatchType::kEqual, "__name__", "c")});
  ASSERT_EQ(ss.size(), 1u);
  SeriesIterator* it = ss[0].iterator.get();
  ASSERT_TRUE(it->Seek(15000 * 1000));
  EXPECT_EQ(it->At().t, 15000 * 1000);
  ASSERT_TRUE(it->Next());
  EXPECT_EQ(it->At().t, 15000 * 1001);
  ASSERT_TRUE(it->Seek(15000 * 1001));  // never backwards
  EXPECT_EQ(it->At().t, 15000 * 1001);

  auto ss2 = *q->Select(SelectHints{}, {M(MatchType::kEqual, "__name__", "c")});
  SeriesIterator* it2 = ss2[0].iterator.get();
  ASSERT_TRUE(it2->Seek(15000 * 4000 + 1));
  EXPECT_EQ(it2->At().t, 15000 * 4001);
  ASSERT_TRUE(it2->Next());
  std::vector<Sample> rest;
  ASSERT_TRUE(it2->ReadAll(&rest).ok());
  ASSERT_EQ(rest.size(), static_cast<size_t>(kN - 4003));
  EXPECT_EQ(rest.front().t, 15000 * 4003);
  EXPECT_FALSE(it2->Next());
  EXPECT_FALSE(it2->Seek(int64_t{15000} * kN));

  hints.start = -100;
  hints.end = -1;
  EXPECT_TRUE(
      q->Select(hints, {M(MatchType::kEqual, "__name__", "c")})->empty());
}

TEST(DBTest, ChunksCutAtRangeBoundary) {
  auto db = OpenMem();
  Labels l = L({{"__name__", "c"}});
  auto app = db->NewAppender();
  ASSERT_TRUE(app->Append(0, l, kChunkRangeMs - 1, 1).ok());
  ASSERT_TRUE(app->Append(0, l, kChunkRangeMs, 2).ok());
  ASSERT_TRUE(app->Append(0, l, -5, 0).status().ok() == false);
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(db->Stats().head_chunks, 2);
}

TEST(DBTest, ConcurrentAppendersAndQueriers) {
  auto db = OpenMem();
  constexpr int kWriters = 4, kSeries = 200, kRounds = 200;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::vector<SeriesRef> refs(kSeries, 0);
      for (int r = 0; r < kRounds; ++r) {
        auto app = db->NewAppender();
        for (int s = 0; s < kSeries; ++s) {
          Labels l = L({{"__name__", "load"},
                        {"w", absl::StrCat(w)},
                        {"s", absl::StrCat(s)}});
          auto ref = app->Append(refs[s], l, int64_t{r} * 1000, r);
          ASSERT_TRUE(ref.ok()) << ref.status();
          refs[s] = *ref;
        }
        ASSERT_TRUE(app->Commit().ok());
      }
    });
  }
  for (int qn = 0; qn < 2; ++qn) {
    threads.emplace_back([&] {
      while (!done.load()) {
        auto res = Query(db.get(), {M(MatchType::kEqual, "__name__", "load")});
        for (auto& [l, samples] : res) {
          for (size_t i = 1; i < samples.size(); ++i) {
            ASSERT_LT(samples[i - 1].t, samples[i].t) << l;
          }
        }
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (size_t i = kWriters; i < threads.size(); ++i) threads[i].join();
  auto res = Query(db.get(), {M(MatchType::kEqual, "__name__", "load")});
  ASSERT_EQ(res.size(), static_cast<size_t>(kWriters * kSeries));
  for (auto& [l, samples] : res)
    ASSERT_EQ(samples.size(), size_t{kRounds}) << l;
  EXPECT_EQ(db->Stats().samples_appended,
            int64_t{kWriters} * kSeries * kRounds);
}

}  // namespace
}  // namespace vigil::tsdb
