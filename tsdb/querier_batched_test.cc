// SeriesIterator::ReadAllBatched on the DB: the batches it reports are
// consecutive, cover exactly what it appended, and the samples are those
// ReadAll returns, for series read only from the store (chunk by chunk from
// RocksDB's blocks) and for series that also have head chunks.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tsdb/db.h"
#include "tsdb/testing/db_test_util.h"

namespace vigil::tsdb {
namespace {

using testing::M;
using testing::Opts;
using testing::TempDir;

Labels L(std::vector<Label> pairs) {
  return *Labels::FromPairs(std::move(pairs));
}

constexpr int kSeries = 3;
constexpr int kRounds = 2000;  // ~17 chunks per series; the last in the head

void Fill(DB* db) {
  for (int r = 0; r < kRounds; ++r) {
    auto app = db->NewAppender();
    for (int s = 0; s < kSeries; ++s) {
      // Series 1 has a stale marker now and then.
      const double v =
          s == 1 && r % 301 == 7 ? StaleNaN() : static_cast<double>(r * 3 + s);
      ASSERT_TRUE(app->Append(0, L({{"__name__", "m"}, {"s", absl::StrCat(s)}}),
                              int64_t{r} * 15000, v)
                      .ok());
    }
    ASSERT_TRUE(app->Commit().ok());
  }
}

SelectHints Hints(int64_t mint, int64_t maxt) {
  SelectHints h;
  h.start = mint;
  h.end = maxt;
  return h;
}

std::vector<std::vector<Sample>> ReadAllOf(DB* db, int64_t mint, int64_t maxt) {
  auto q = *db->NewQuerier(mint, maxt);
  auto series =
      q->Select(Hints(mint, maxt), {M(MatchType::kEqual, "__name__", "m")});
  EXPECT_TRUE(series.ok()) << series.status();
  std::vector<std::vector<Sample>> out;
  for (Series& s : *series) {
    std::vector<Sample> buf;
    EXPECT_TRUE(s.iterator->ReadAll(&buf).ok());
    out.push_back(std::move(buf));
  }
  return out;
}

// Reads every series with ReadAllBatched into a buffer that already holds
// `prefix` samples; checks the batches and returns what was appended.
std::vector<std::vector<Sample>> ReadBatchedOf(DB* db, int64_t mint,
                                               int64_t maxt, size_t prefix,
                                               size_t* max_batches) {
  auto q = *db->NewQuerier(mint, maxt);
  auto series =
      q->Select(Hints(mint, maxt), {M(MatchType::kEqual, "__name__", "m")});
  EXPECT_TRUE(series.ok()) << series.status();
  std::vector<std::vector<Sample>> out;
  *max_batches = 0;
  for (Series& s : *series) {
    std::vector<Sample> buf(prefix, Sample{-1, -1});
    size_t next = prefix;
    size_t batches = 0;
    absl::Status st = s.iterator->ReadAllBatched(&buf, [&](size_t begin) {
      // Consecutive, non-empty, and everything before `begin` is final.
      EXPECT_EQ(begin, next);
      EXPECT_GT(buf.size(), begin);
      next = buf.size();
      ++batches;
    });
    EXPECT_TRUE(st.ok()) << st;
    EXPECT_EQ(next, buf.size()) << "the last batch was not reported";
    for (size_t i = 0; i < prefix; ++i) EXPECT_EQ(buf[i].t, -1);
    *max_batches = std::max(*max_batches, batches);
    out.emplace_back(buf.begin() + prefix, buf.end());
  }
  return out;
}

void ExpectSame(const std::vector<std::vector<Sample>>& a,
                const std::vector<std::vector<Sample>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << i;
    for (size_t j = 0; j < a[i].size(); ++j) {
      ASSERT_EQ(a[i][j].t, b[i][j].t) << i << " " << j;
      ASSERT_EQ(ValueBits(a[i][j].v), ValueBits(b[i][j].v)) << i << " " << j;
    }
  }
}

TEST(ReadAllBatchedTest, StoreOnlyAndWithHeadChunks) {
  const std::string dir = TempDir("read_all_batched");
  DBOptions opts = Opts(dir);
  // Closed ranges move from the head chunk log to the store unmerged: the
  // store then has chunks of ~120 samples to read one by one.
  opts.chunk_merge_samples_per_round = 0;
  {
    auto db = *DB::Open(opts);
    Fill(db.get());
    ASSERT_TRUE(db->MergeChunks().ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto db = *DB::Open(opts);
  const int64_t end = int64_t{kRounds - 1} * 15000;
  // [0, 1/2]: persisted chunks only, one batch per chunk. Then ranges that
  // reach the head, start inside a chunk, or hold nothing.
  const std::pair<int64_t, int64_t> ranges[] = {
      {0, end / 2}, {0, end}, {end / 3 + 7, end}, {end + 1, end + 100000}};
  for (const auto& [mint, maxt] : ranges) {
    SCOPED_TRACE(absl::StrCat("[", mint, ", ", maxt, "]"));
    for (size_t prefix : {0, 5}) {
      size_t max_batches = 0;
      auto batched = ReadBatchedOf(db.get(), mint, maxt, prefix, &max_batches);
      ExpectSame(batched, ReadAllOf(db.get(), mint, maxt));
      if (maxt == end / 2) {
        EXPECT_GT(max_batches, 5u) << "store-only reads come chunk by chunk";
      }
    }
  }
}

}  // namespace
}  // namespace vigil::tsdb
