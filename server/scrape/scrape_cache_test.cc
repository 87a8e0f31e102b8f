#include "server/scrape/scrape_cache.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vigil::scrape {
namespace {

std::string Line(int i) {
  return absl::StrCat("node_cpu_seconds_total{cpu=\"", i % 64, "\",mode=\"m",
                      i / 64, "\"}");
}

TEST(ScrapeCacheTest, EmptyFindsNothing) {
  ScrapeCache c;
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.Find(""), ScrapeCache::kNotFound);
  EXPECT_EQ(c.Find("up"), ScrapeCache::kNotFound);
}

TEST(ScrapeCacheTest, InsertFindEraseAndEntriesKeepTheirState) {
  ScrapeCache c;
  const ScrapeCache::Id a = c.Insert("a{x=\"1\"}");
  const ScrapeCache::Id b =
      c.Insert("a{x=\"1\",}");             // same series, other bytes
  const ScrapeCache::Id e = c.Insert("");  // the empty key too
  ASSERT_NE(a, b);
  c.entry(a).ref = 7;
  c.entry(b).ref = 8;
  EXPECT_EQ(c.Find("a{x=\"1\"}"), a);
  EXPECT_EQ(c.Find("a{x=\"1\",}"), b);
  EXPECT_EQ(c.Find(""), e);
  EXPECT_EQ(c.Find("a{x=\"1\""), ScrapeCache::kNotFound);  // a prefix
  EXPECT_EQ(c.key(b), "a{x=\"1\",}");
  EXPECT_EQ(c.entry(a).ref, 7u);
  c.Erase(a);
  EXPECT_EQ(c.Find("a{x=\"1\"}"), ScrapeCache::kNotFound);
  EXPECT_EQ(c.Find("a{x=\"1\",}"), b);
  EXPECT_EQ(c.size(), 2u);
  // The freed id is reused with a fresh entry.
  const ScrapeCache::Id d = c.Insert("b");
  EXPECT_EQ(d, a);
  EXPECT_EQ(c.entry(d).ref, 0u);
  EXPECT_FALSE(c.entry(d).ok_once);
  EXPECT_EQ(c.key(d), "b");
}

// Many keys through growth, random erasures and re-insertions, checked
// against a std::map model after every step.
TEST(ScrapeCacheTest, MatchesAModelThroughGrowthAndErasure) {
  ScrapeCache c;
  std::map<std::string, ScrapeCache::Id> model;
  std::mt19937 rng(42);
  for (int round = 0; round < 20000; ++round) {
    const std::string k = Line(rng() % 3000);
    auto it = model.find(k);
    if (it == model.end()) {
      ASSERT_EQ(c.Find(k), ScrapeCache::kNotFound) << k;
      const ScrapeCache::Id id = c.Insert(k);
      ASSERT_NE(id, ScrapeCache::kNotFound);
      c.entry(id).ref = id + 1000;
      model[k] = id;
    } else if (rng() % 3 == 0) {
      ASSERT_EQ(c.Find(k), it->second);
      c.Erase(it->second);
      model.erase(it);
    } else {
      ASSERT_EQ(c.Find(k), it->second) << k;
    }
    ASSERT_EQ(c.size(), model.size());
  }
  for (const auto& [k, id] : model) {
    ASSERT_EQ(c.Find(k), id);
    EXPECT_EQ(c.key(id), k);
    EXPECT_EQ(c.entry(id).ref, id + 1000u);
  }
}

// Keys that share long prefixes and lengths, as exporters print them,
// still find their own entries (the index compares bytes, not only hash
// tags), and deleting from the middle of a probe run keeps the rest of the
// run reachable.
TEST(ScrapeCacheTest, DeletesInsideProbeRunsKeepOthersReachable) {
  ScrapeCache c;
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) {
    keys.push_back(
        absl::StrCat("http_request_duration_seconds_bucket{le=\"", i, "\"}"));
  }
  std::vector<ScrapeCache::Id> ids;
  for (const auto& k : keys) ids.push_back(c.Insert(k));
  for (size_t i = 0; i < keys.size(); i += 2) c.Erase(ids[i]);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(c.Find(keys[i]), ScrapeCache::kNotFound) << keys[i];
    } else {
      EXPECT_EQ(c.Find(keys[i]), ids[i]) << keys[i];
    }
  }
}

TEST(ScrapeCacheTest, KeysLargerThanABlock) {
  ScrapeCache c;
  const std::string big(200000, 'x');
  const std::string big2 = big + "y";
  const ScrapeCache::Id a = c.Insert("small");
  const ScrapeCache::Id b = c.Insert(big);
  const ScrapeCache::Id d = c.Insert(big2);
  const ScrapeCache::Id e = c.Insert("after");
  EXPECT_EQ(c.Find(big), b);
  EXPECT_EQ(c.Find(big2), d);
  EXPECT_EQ(c.key(b), big);
  EXPECT_EQ(c.key(a), "small");
  EXPECT_EQ(c.key(e), "after");
  c.Erase(b);
  c.Shrink();  // compacts: the big key was more than half the bytes
  EXPECT_EQ(c.Find(big), ScrapeCache::kNotFound);
  EXPECT_EQ(c.key(d), big2);
  EXPECT_EQ(c.key(a), "small");
  EXPECT_EQ(c.Find("after"), e);
}

// Evicting most lines (a target that dropped its series) and shrinking
// gives the memory back and keeps the survivors' ids, keys and state. (The
// entry array only shrinks down to the highest live id: ids are stable.)
TEST(ScrapeCacheTest, EraseIfAndShrinkGiveMemoryBack) {
  ScrapeCache c;
  std::vector<ScrapeCache::Id> ids;
  for (int i = 0; i < 50000; ++i) {
    ids.push_back(c.Insert(Line(i)));
    c.entry(ids.back()).attempt_iter = i < 500 ? 0 : 1;
  }
  const size_t full = c.MemoryBytes();
  // ~45 B of key, a 32 B entry (in an array grown by doubling) and 8 B
  // index slots at most 3/4 full per line.
  EXPECT_LT(full, 50000u * 120);
  const size_t erased =
      c.EraseIf([](const CacheEntry& e) { return e.attempt_iter != 0; });
  EXPECT_EQ(erased, 49500u);
  EXPECT_EQ(c.size(), 500u);
  c.Shrink();
  EXPECT_LT(c.MemoryBytes(), full / 20);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(c.Find(Line(i)), ids[i]);
    EXPECT_EQ(c.key(ids[i]), Line(i));
  }
  for (int i = 500; i < 50000; i += 997) {
    EXPECT_EQ(c.Find(Line(i)), ScrapeCache::kNotFound);
  }
  // Inserting again after the shrink works (and reuses ids).
  const ScrapeCache::Id again = c.Insert(Line(700));
  EXPECT_EQ(c.Find(Line(700)), again);
  EXPECT_EQ(c.size(), 501u);
}

TEST(ScrapeCacheTest, ShrinkOfAnEmptiedCache) {
  ScrapeCache c;
  for (int i = 0; i < 1000; ++i) c.Insert(Line(i));
  EXPECT_EQ(c.EraseIf([](const CacheEntry&) { return true; }), 1000u);
  c.Shrink();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.Find(Line(5)), ScrapeCache::kNotFound);
  EXPECT_EQ(c.Insert(Line(5)), 0u);
  EXPECT_EQ(c.Find(Line(5)), 0u);
}

}  // namespace
}  // namespace vigil::scrape
