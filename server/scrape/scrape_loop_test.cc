#include "server/scrape/scrape_loop.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scrape/internal/fake_appendable.h"
#include "server/scrape/internal/test_exporter.h"
#include "tsdb/sample.h"

namespace vigil::scrape {
namespace {

using ::testing::ElementsAre;
using testing::FakeAppendable;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TestExporter;

constexpr char kText[] = "text/plain; version=0.0.4";

// A scraper whose next answer the test sets.
class FakeScraper : public Scraper {
 public:
  absl::Status Scrape(absl::Duration, ScrapeBody* out) override {
    absl::MutexLock l(&mu_);
    if (!error_.ok()) return error_;
    out->content_type = content_type_;
    out->data = body_;
    return absl::OkStatus();
  }
  void Set(std::string body, std::string ct = kText) {
    absl::MutexLock l(&mu_);
    body_ = std::move(body);
    content_type_ = std::move(ct);
    error_ = absl::OkStatus();
  }
  void Fail(absl::Status s) {
    absl::MutexLock l(&mu_);
    error_ = std::move(s);
  }

 private:
  absl::Mutex mu_;
  std::string body_;
  std::string content_type_ = kText;
  absl::Status error_;
};

tsdb::Labels TargetLabels() {
  return *tsdb::Labels::FromPairs(
      {{"job", "node"}, {"instance", "h:9100"}, {"env", "prod"}});
}

absl::Time At(int64_t ms) { return absl::FromUnixMillis(ms); }

// "t:v" pairs; stale markers print as "t:stale".
std::vector<std::string> Dump(const std::vector<tsdb::Sample>& s) {
  std::vector<std::string> out;
  for (const tsdb::Sample& x : s) {
    out.push_back(tsdb::IsStaleNaN(x.v) ? absl::StrCat(x.t, ":stale")
                                        : absl::StrCat(x.t, ":", x.v));
  }
  return out;
}

class ScrapeLoopTest : public ::testing::Test {
 protected:
  void Make(ScrapeOptions o = {}) {
    auto s = std::make_unique<FakeScraper>();
    scraper_ = s.get();
    loop_ = std::make_unique<ScrapeLoop>(&db_, std::move(s), TargetLabels(),
                                         std::move(o));
  }
  absl::Status Scrape(int64_t ms, const std::string& body,
                      const std::string& ct = kText) {
    scraper_->Set(body, ct);
    return loop_->ScrapeOnce(At(ms));
  }
  std::vector<std::string> Get(const std::string& series) {
    return Dump(db_.Samples(series));
  }
  std::string Up() {
    return "up{env=\"prod\", instance=\"h:9100\", job=\"node\"}";
  }

  FakeAppendable db_;
  FakeScraper* scraper_ = nullptr;
  std::unique_ptr<ScrapeLoop> loop_;
};

const char kA[] = "a{env=\"prod\", instance=\"h:9100\", job=\"node\", x=\"1\"}";
const char kB[] = "b{env=\"prod\", instance=\"h:9100\", job=\"node\"}";

TEST_F(ScrapeLoopTest, AppendsSamplesWithTargetLabelsAndReport) {
  Make();
  ASSERT_TRUE(Scrape(1000, "# TYPE a counter\na{x=\"1\"} 5\nb 7\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:5"));
  EXPECT_THAT(Get(kB), ElementsAre("1000:7"));
  EXPECT_THAT(Get(Up()), ElementsAre("1000:1"));
  EXPECT_THAT(Get("scrape_samples_scraped{env=\"prod\", instance=\"h:9100\", "
                  "job=\"node\"}"),
              ElementsAre("1000:2"));
  EXPECT_THAT(Get("scrape_samples_post_metric_relabeling{env=\"prod\", "
                  "instance=\"h:9100\", job=\"node\"}"),
              ElementsAre("1000:2"));
  EXPECT_THAT(Get("scrape_series_added{env=\"prod\", instance=\"h:9100\", "
                  "job=\"node\"}"),
              ElementsAre("1000:2"));
  EXPECT_EQ(db_.Samples("scrape_duration_seconds{env=\"prod\", "
                        "instance=\"h:9100\", job=\"node\"}")
                .size(),
            1u);
  ScrapeStatus st = loop_->status();
  EXPECT_EQ(st.health, TargetHealth::kUp);
  EXPECT_EQ(st.last_scrape, At(1000));
  EXPECT_EQ(st.last_error, "");
}

TEST_F(ScrapeLoopTest, SteadyStateUsesCacheRefs) {
  Make();
  const std::string body = "a{x=\"1\"} 1\nb 2\n";
  ASSERT_TRUE(Scrape(1000, body).ok());
  int by_labels = db_.appends_by_labels();
  ASSERT_TRUE(Scrape(2000, body).ok());
  ASSERT_TRUE(Scrape(3000, body).ok());
  // No label-based append after the first scrape: samples and report
  // series all go by ref.
  EXPECT_EQ(db_.appends_by_labels(), by_labels);
  EXPECT_EQ(loop_->counters().cache_hits.load(), 4u);
  EXPECT_EQ(loop_->counters().cache_misses.load(), 2u);
  EXPECT_EQ(loop_->last_report().series_added, 0u);
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:1", "3000:1"));
}

TEST_F(ScrapeLoopTest, OrderPredictionSurvivesInsertionsAndRemovals) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 1\nc 1\nd 1\n").ok());
  // Same order: every line predicted.
  ASSERT_TRUE(Scrape(2000, "a{x=\"1\"} 2\nb 2\nc 2\nd 2\n").ok());
  EXPECT_EQ(loop_->counters().cache_predicted.load(), 4u);
  // New line in the middle and one removed: the rest still resolve, the
  // prediction resynchronises after the hash lookup.
  ASSERT_TRUE(Scrape(3000, "a{x=\"1\"} 3\nnew 3\nc 3\nd 3\n").ok());
  EXPECT_EQ(loop_->counters().cache_predicted.load(), 4u + 2u);
  // Reordered: all found by hash, values land on the right series.
  ASSERT_TRUE(Scrape(4000, "d 4\nc 4\nnew 4\na{x=\"1\"} 4\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:2", "3000:3", "4000:4"));
  EXPECT_THAT(Get(kB), ElementsAre("1000:1", "2000:2", "3000:stale"));
  EXPECT_THAT(Get("d{env=\"prod\", instance=\"h:9100\", job=\"node\"}"),
              ElementsAre("1000:1", "2000:2", "3000:3", "4000:4"));
  EXPECT_EQ(loop_->counters().cache_misses.load(), 5u);
  // A failed scrape keeps the old order usable afterwards.
  EXPECT_FALSE(Scrape(5000, "d 5\nbad line\n").ok());
  ASSERT_TRUE(Scrape(6000, "d 6\nc 6\nnew 6\na{x=\"1\"} 6\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:2", "3000:3", "4000:4",
                                   "5000:stale", "6000:6"));
}

TEST_F(ScrapeLoopTest, StaleMarkerWhenSeriesDisappears) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 2\n").ok());
  ASSERT_TRUE(Scrape(2000, "b 3\n").ok());
  ASSERT_TRUE(Scrape(3000, "b 4\n").ok());
  ASSERT_TRUE(Scrape(4000, "a{x=\"1\"} 9\nb 5\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:stale", "4000:9"));
  EXPECT_THAT(Get(kB), ElementsAre("1000:2", "2000:3", "3000:4", "4000:5"));
}

TEST_F(ScrapeLoopTest, SameSeriesUnderDifferentLineIsNotStaled) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\n").ok());
  ASSERT_TRUE(Scrape(2000, "a{x=\"1\",} 2\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:2"));
}

TEST_F(ScrapeLoopTest, SeriesUnderTwoVanishedLinesIsStaledOnce) {
  Make();
  ASSERT_TRUE(Scrape(1000, "b 1\na{x=\"1\"} 1\na{x=\"1\",} 1\n").ok());
  ASSERT_TRUE(Scrape(2000, "b 2\n").ok());
  ASSERT_TRUE(Scrape(3000, "b 3\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:stale"));
  EXPECT_EQ(loop_->last_report().stale_markers, 0u);
}

TEST_F(ScrapeLoopTest, SteadyStateLinesArePredictedWithoutLabelParsing) {
  Make();
  // Exemplar-free OpenMetrics and text with timestamps: every line of the
  // later scrapes is matched by the parser's fast path.
  const char* om = "# TYPE a counter\na_total{x=\"1\"} 1 1.5\nb 2\n# EOF\n";
  ASSERT_TRUE(Scrape(1000, om, "application/openmetrics-text").ok());
  ASSERT_TRUE(Scrape(2000, om, "application/openmetrics-text").ok());
  EXPECT_EQ(loop_->counters().cache_predicted.load(), 2u);
  // A changed value on the same lines still lands on the same series.
  ASSERT_TRUE(Scrape(3000,
                     "# TYPE a counter\na_total{x=\"1\"} 7 2.5\nb 8\n# EOF\n",
                     "application/openmetrics-text")
                  .ok());
  EXPECT_EQ(loop_->counters().cache_predicted.load(), 4u);
  EXPECT_THAT(Get("b{env=\"prod\", instance=\"h:9100\", job=\"node\"}"),
              ElementsAre("1000:2", "2000:2", "3000:8"));
  EXPECT_THAT(Get("a_total{env=\"prod\", instance=\"h:9100\", job=\"node\", "
                  "x=\"1\"}"),
              ElementsAre("1500:1", "2500:7"));
}

std::vector<std::string> DumpMetadata(const ScrapeLoop& loop) {
  std::vector<std::string> out;
  // Holds the list: a range-for over *loop.metadata() would outlive it.
  const std::shared_ptr<const std::vector<MetricMetadata>> list =
      loop.metadata();
  for (const MetricMetadata& m : *list) {
    out.push_back(absl::StrCat(m.metric, " ",
                               tsdb::textparse::MetricTypeName(m.type), " \"",
                               m.help, "\" \"", m.unit, "\""));
  }
  return out;
}

TEST_F(ScrapeLoopTest, MetadataFollowsTypeHelpAndUnitLines) {
  Make();
  EXPECT_THAT(DumpMetadata(*loop_), IsEmpty());
  const std::string body =
      "# HELP b_bytes Bytes.\n# TYPE b_bytes gauge\nb_bytes 1\n"
      "# HELP a Help with \\\\ and \\n.\n# TYPE a counter\na 1\n"
      "# TYPE u untyped\nu 1\n# HELP h_only Only help.\nh_only 1\n";
  ASSERT_TRUE(Scrape(1000, body).ok());
  auto first = loop_->metadata();
  EXPECT_THAT(
      DumpMetadata(*loop_),
      ElementsAre("a counter \"Help with \\ and \n.\" \"\"",
                  "b_bytes gauge \"Bytes.\" \"\"",
                  "h_only unknown \"Only help.\" \"\"", "u unknown \"\" \"\""));
  // Unchanged metadata: the published list is not rebuilt.
  ASSERT_TRUE(Scrape(2000, body).ok());
  EXPECT_EQ(loop_->metadata(), first);
  // A changed HELP text is picked up.
  std::string changed = body;
  changed.replace(changed.find("Bytes."), 6, "Bytes!");
  ASSERT_TRUE(Scrape(3000, changed).ok());
  EXPECT_NE(loop_->metadata(), first);
  EXPECT_THAT(DumpMetadata(*loop_)[1], "b_bytes gauge \"Bytes!\" \"\"");
  // OpenMetrics UNIT.
  ASSERT_TRUE(Scrape(4000,
                     "# TYPE c_seconds counter\n# UNIT c_seconds seconds\n"
                     "c_seconds_total 1\n# EOF\n",
                     "application/openmetrics-text")
                  .ok());
  EXPECT_THAT(DumpMetadata(*loop_),
              ::testing::Contains("c_seconds counter \"\" \"seconds\""));
}

TEST_F(ScrapeLoopTest, MetadataOfVanishedFamiliesIsForgotten) {
  Make();
  ASSERT_TRUE(
      Scrape(1000, "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n").ok());
  for (int i = 2; i <= 25; ++i) {
    ASSERT_TRUE(Scrape(i * 1000, "# TYPE b gauge\nb 1\n").ok());
  }
  EXPECT_THAT(DumpMetadata(*loop_), ElementsAre("b gauge \"\" \"\""));
}

TEST_F(ScrapeLoopTest, ParseErrorRollsBackAndStalesEverything) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 2\n").ok());
  absl::Status s = Scrape(2000, "a{x=\"1\"} 2\nb oops\n");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 2: invalid value"));
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:stale"));
  EXPECT_THAT(Get(kB), ElementsAre("1000:2", "2000:stale"));
  EXPECT_THAT(Get(Up()), ElementsAre("1000:1", "2000:0"));
  EXPECT_EQ(loop_->status().health, TargetHealth::kDown);
  // A second failure writes no new markers; recovery resumes the series.
  EXPECT_FALSE(Scrape(3000, "garbage garbage\n").ok());
  ASSERT_TRUE(Scrape(4000, "a{x=\"1\"} 4\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("1000:1", "2000:stale", "4000:4"));
  EXPECT_THAT(Get(Up()), ElementsAre("1000:1", "2000:0", "3000:0", "4000:1"));
}

TEST_F(ScrapeLoopTest, FetchErrorMarksTargetDown) {
  Make();
  ASSERT_TRUE(Scrape(1000, "b 2\n").ok());
  scraper_->Fail(absl::UnavailableError("server returned HTTP status 500"));
  EXPECT_FALSE(loop_->ScrapeOnce(At(2000)).ok());
  EXPECT_THAT(Get(kB), ElementsAre("1000:2", "2000:stale"));
  EXPECT_THAT(Get(Up()), ElementsAre("1000:1", "2000:0"));
  ScrapeStatus st = loop_->status();
  EXPECT_EQ(st.health, TargetHealth::kDown);
  EXPECT_EQ(st.last_error, "server returned HTTP status 500");
  EXPECT_EQ(loop_->counters().failed_scrapes.load(), 1u);
}

TEST_F(ScrapeLoopTest, SampleLimitRejectsWholeScrape) {
  ScrapeOptions o;
  o.sample_limit = 2;
  Make(o);
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 2\n").ok());
  absl::Status s = Scrape(2000, "a{x=\"1\"} 1\nb 2\nc 3\nd 4\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sample limit exceeded"));
  EXPECT_THAT(Get(kB), ElementsAre("1000:2", "2000:stale"));
  EXPECT_THAT(Get(Up()), ElementsAre("1000:1", "2000:0"));
  EXPECT_THAT(Get("scrape_samples_scraped{env=\"prod\", instance=\"h:9100\", "
                  "job=\"node\"}"),
              ElementsAre("1000:2", "2000:4"));
  EXPECT_EQ(loop_->counters().sample_limit_exceeded.load(), 1u);
  EXPECT_THAT(Get("c{env=\"prod\", instance=\"h:9100\", job=\"node\"}"),
              IsEmpty());
}

TEST_F(ScrapeLoopTest, SampleLimitCountsAfterRelabeling) {
  ScrapeOptions o;
  o.sample_limit = 1;
  o.metric_relabel = [](tsdb::LabelsBuilder* lb) {
    return lb->Get("__name__") != "drop_me";
  };
  Make(o);
  EXPECT_TRUE(Scrape(1000, "drop_me 1\ndrop_me{a=\"b\"} 1\nb 2\n").ok());
  EXPECT_EQ(loop_->last_report().samples_scraped, 3u);
  EXPECT_EQ(loop_->last_report().samples_post_relabel, 1u);
}

TEST_F(ScrapeLoopTest, LabelLimits) {
  {
    ScrapeOptions o;
    o.label_limit = 5;  // __name__ + 3 target labels + 1
    Make(o);
    EXPECT_TRUE(Scrape(1000, "a{x=\"1\"} 1\n").ok());
    absl::Status s = Scrape(2000, "a{x=\"1\"} 1\nc{x=\"1\",y=\"2\"} 1\n");
    EXPECT_THAT(std::string(s.message()), HasSubstr("label_limit exceeded"));
  }
  {
    ScrapeOptions o;
    o.label_name_length_limit = 4;
    Make(o);
    absl::Status s = Scrape(1000, "a{xxxxx=\"1\"} 1\n");
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("label_name_length_limit exceeded"));
  }
  {
    ScrapeOptions o;
    o.label_value_length_limit = 4;
    Make(o);
    absl::Status s = Scrape(1000, "a{x=\"12345\"} 1\n");
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("label_value_length_limit exceeded"));
    EXPECT_EQ(loop_->status().health, TargetHealth::kDown);
  }
}

TEST_F(ScrapeLoopTest, ConflictingLabelsGetExportedPrefix) {
  Make();
  ASSERT_TRUE(
      Scrape(1000, "a{job=\"other\",exported_env=\"x\",env=\"dev\"} 1\n").ok());
  EXPECT_THAT(Get("a{env=\"prod\", exported_env=\"x\", "
                  "exported_exported_env=\"dev\", exported_job=\"other\", "
                  "instance=\"h:9100\", job=\"node\"}"),
              ElementsAre("1000:1"));
}

TEST_F(ScrapeLoopTest, HonorLabelsKeepsExposedValues) {
  ScrapeOptions o;
  o.honor_labels = true;
  Make(o);
  ASSERT_TRUE(Scrape(1000, "a{job=\"other\"} 1\n").ok());
  EXPECT_THAT(Get("a{env=\"prod\", instance=\"h:9100\", job=\"other\"}"),
              ElementsAre("1000:1"));
}

TEST_F(ScrapeLoopTest, HonorLabelsExposedEmptyValueRemovesTargetLabel) {
  ScrapeOptions o;
  o.honor_labels = true;
  Make(o);
  // `job=""` is exposed, so the target's job is not added; the empty label
  // itself is then dropped, leaving the series without a job (Prometheus's
  // result). The second scrape goes through the scrape cache.
  ASSERT_TRUE(Scrape(1000, "a{job=\"\"} 1\n").ok());
  ASSERT_TRUE(Scrape(2000, "a{job=\"\"} 2\n").ok());
  EXPECT_THAT(Get("a{env=\"prod\", instance=\"h:9100\"}"),
              ElementsAre("1000:1", "2000:2"));
}

TEST_F(ScrapeLoopTest, ExposedEmptyValueWithoutHonorLabelsKeepsTargetLabel) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{job=\"\"} 1\n").ok());
  EXPECT_THAT(Get("a{env=\"prod\", instance=\"h:9100\", job=\"node\"}"),
              ElementsAre("1000:1"));
}

TEST_F(ScrapeLoopTest, HonorTimestamps) {
  Make();
  ASSERT_TRUE(Scrape(5000, "b 1 1234\n").ok());
  EXPECT_THAT(Get(kB), ElementsAre("1234:1"));
  // Explicitly timestamped series get no staleness markers.
  ASSERT_TRUE(Scrape(6000, "").ok());
  EXPECT_THAT(Get(kB), ElementsAre("1234:1"));

  ScrapeOptions o;
  o.honor_timestamps = false;
  FakeAppendable db2;
  ScrapeLoop loop2(&db2, std::make_unique<FakeScraper>(), TargetLabels(), o);
  ASSERT_TRUE(
      loop2.AppendScrape({kText, "b 1 1234\n"}, At(5000), absl::ZeroDuration())
          .ok());
  EXPECT_THAT(Dump(db2.Samples(kB)), ElementsAre("5000:1"));
}

TEST_F(ScrapeLoopTest, OpenMetricsTimestampsAndEof) {
  Make();
  ASSERT_TRUE(Scrape(5000, "b 1 1.5\n# EOF\n",
                     "application/openmetrics-text; version=1.0.0")
                  .ok());
  EXPECT_THAT(Get(kB), ElementsAre("1500:1"));
  EXPECT_FALSE(
      Scrape(6000, "b 1\n", "application/openmetrics-text; version=1.0.0")
          .ok());
}

TEST_F(ScrapeLoopTest, MetricRelabelingRewritesAndDrops) {
  ScrapeOptions o;
  o.metric_relabel = [](tsdb::LabelsBuilder* lb) {
    if (lb->Get("__name__") == "b") return false;
    lb->Set("team", "infra");
    return true;
  };
  Make(o);
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 2\n").ok());
  ASSERT_TRUE(Scrape(2000, "a{x=\"1\"} 1\nb 2\n").ok());
  EXPECT_THAT(Get("a{env=\"prod\", instance=\"h:9100\", job=\"node\", "
                  "team=\"infra\", x=\"1\"}"),
              ElementsAre("1000:1", "2000:1"));
  EXPECT_THAT(Get(kB), IsEmpty());
  EXPECT_EQ(loop_->last_report().samples_scraped, 2u);
  EXPECT_EQ(loop_->last_report().samples_post_relabel, 1u);
}

TEST_F(ScrapeLoopTest, SeriesForgottenByStorageIsResolvedAgain) {
  // The cache keeps only refs of committed series; when storage drops one
  // (delete, retention) its labels are rebuilt from the cached line,
  // escapes, target labels and relabeling included.
  ScrapeOptions o;
  o.metric_relabel = [](tsdb::LabelsBuilder* lb) {
    lb->Set("team", "infra");
    return true;
  };
  Make(o);
  const std::string body = "a{x=\"q\\\"z\\\\n\"} 1\nb 2\n";
  const std::string a =
      "a{env=\"prod\", instance=\"h:9100\", job=\"node\", team=\"infra\", "
      "x=\"q\\\"z\\\\n\"}";
  const std::string b =
      "b{env=\"prod\", instance=\"h:9100\", job=\"node\", team=\"infra\"}";
  ASSERT_TRUE(Scrape(1000, body).ok());
  ASSERT_THAT(Get(a), ElementsAre("1000:1"));
  db_.Forget(a);
  const int by_labels = db_.appends_by_labels();
  ASSERT_TRUE(Scrape(2000, body).ok());
  EXPECT_THAT(Get(a), ElementsAre("2000:1"));
  EXPECT_THAT(Get(b), ElementsAre("1000:2", "2000:2"));
  EXPECT_EQ(db_.appends_by_labels(), by_labels + 1);
  EXPECT_EQ(loop_->last_report().series_added, 1u);
  // The new ref is cached: later scrapes go by ref again.
  ASSERT_TRUE(Scrape(3000, body).ok());
  EXPECT_THAT(Get(a), ElementsAre("2000:1", "3000:1"));
  EXPECT_EQ(db_.appends_by_labels(), by_labels + 1);
  EXPECT_EQ(loop_->last_report().series_added, 0u);
  // Forgotten while the target vanishes: the stale marker has nowhere to
  // go, and nothing else breaks.
  db_.Forget(a);
  ASSERT_TRUE(Scrape(4000, "b 2\n").ok());
  EXPECT_THAT(Get(a), IsEmpty());
  EXPECT_THAT(Get(b), ElementsAre("1000:2", "2000:2", "3000:2", "4000:2"));
}

TEST_F(ScrapeLoopTest, LabelsRestoredAfterRolledBackReResolution) {
  // A ref lost in a scrape that then fails is re-resolved by labels on the
  // next good scrape.
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 2\n").ok());
  db_.Forget(kA);
  EXPECT_FALSE(Scrape(2000, "a{x=\"1\"} 2\nb oops\n").ok());
  ASSERT_TRUE(Scrape(3000, "a{x=\"1\"} 3\nb 3\n").ok());
  EXPECT_THAT(Get(kA), ElementsAre("3000:3"));
  EXPECT_THAT(Get(kB), ElementsAre("1000:2", "2000:stale", "3000:3"));
}

TEST_F(ScrapeLoopTest, RelabelingAwayTheNameFailsTheScrape) {
  ScrapeOptions o;
  o.metric_relabel = [](tsdb::LabelsBuilder* lb) {
    lb->Del("__name__");
    return true;
  };
  Make(o);
  absl::Status s = Scrape(1000, "a 1\n");
  EXPECT_THAT(std::string(s.message()), HasSubstr("no metric name"));
}

TEST_F(ScrapeLoopTest, DuplicateAndOutOfOrderAreCountedNotFatal) {
  Make();
  ASSERT_TRUE(Scrape(1000, "b 1 500\n").ok());
  // Same series twice with different values, then an older timestamp.
  absl::Status s = Scrape(2000, "b 1 600\nb 2 600\nb 3 100\n");
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(loop_->counters().duplicate.load(), 1u);
  EXPECT_EQ(loop_->counters().out_of_order.load(), 1u);
  EXPECT_THAT(Get(kB), ElementsAre("500:1", "600:1"));
}

TEST_F(ScrapeLoopTest, InvalidLabelsFailTheScrape) {
  Make();
  absl::Status s = Scrape(1000, "a{x=\"1\",x=\"2\"} 1\n");
  EXPECT_THAT(std::string(s.message()), HasSubstr("duplicate label name"));
  s = Scrape(2000, "a{x=\"\xff\"} 1\n");
  EXPECT_THAT(std::string(s.message()), HasSubstr("UTF-8"));
}

TEST_F(ScrapeLoopTest, StopWritesStaleMarkersForEverything) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 2\n").ok());
  loop_->Stop(/*write_stale_markers=*/true);
  std::vector<tsdb::Sample> a = db_.Samples(kA);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(tsdb::IsStaleNaN(a[1].v));
  std::vector<tsdb::Sample> up = db_.Samples(Up());
  ASSERT_EQ(up.size(), 2u);
  EXPECT_TRUE(tsdb::IsStaleNaN(up[1].v));
}

TEST_F(ScrapeLoopTest, StopWithoutMarkers) {
  Make();
  ASSERT_TRUE(Scrape(1000, "b 2\n").ok());
  loop_->Stop(/*write_stale_markers=*/false);
  EXPECT_THAT(Get(kB), ElementsAre("1000:2"));
}

TEST_F(ScrapeLoopTest, CacheEvictsLongGoneLines) {
  Make();
  ASSERT_TRUE(Scrape(1000, "a{x=\"1\"} 1\nb 1\n").ok());
  EXPECT_EQ(loop_->cache_size(), 2u);
  for (int i = 2; i < 20; ++i) ASSERT_TRUE(Scrape(i * 1000, "b 1\n").ok());
  EXPECT_EQ(loop_->cache_size(), 1u);
}

TEST_F(ScrapeLoopTest, OffsetIsStableAndWithinInterval) {
  ScrapeOptions o;
  o.interval = absl::Seconds(15);
  Make(o);
  absl::Duration off = loop_->offset();
  EXPECT_GE(off, absl::ZeroDuration());
  EXPECT_LT(off, absl::Seconds(15));
  Make(o);
  EXPECT_EQ(loop_->offset(), off);
}

TEST(AcceptHeaderTest, MatchesPrometheus) {
  EXPECT_EQ(AcceptHeader({"OpenMetricsText1.0.0", "OpenMetricsText0.0.1",
                          "PrometheusText0.0.4"}),
            "application/openmetrics-text;version=1.0.0;q=0.5,"
            "application/openmetrics-text;version=0.0.1;q=0.4,"
            "text/plain;version=0.0.4;q=0.3,*/*;q=0.2");
  EXPECT_EQ(AcceptHeader({"PrometheusText0.0.4"}),
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.4");
}

// The loop thread against a real HTTP exporter whose series set changes.
TEST(ScrapeLoopHttpTest, RunsOnItsOwnAndHandlesChangingSeries) {
  absl::Mutex mu;
  int n = 0;
  TestExporter srv([&](const TestExporter::Request&) {
    absl::MutexLock l(&mu);
    ++n;
    std::string body = absl::StrCat("requests ", n, "\n");
    if (n % 2 == 1) absl::StrAppend(&body, "odd{k=\"v\"} 1\n");
    return TestExporter::Ok(body);
  });
  FakeAppendable db;
  ScrapeOptions o;
  o.interval = absl::Milliseconds(50);
  o.timeout = absl::Milliseconds(500);
  tsdb::Labels tl = *tsdb::Labels::FromPairs(
      {{"job", "j"}, {"instance", absl::StrCat("127.0.0.1:", srv.port())}});
  ScrapeLoop loop(
      &db,
      std::make_unique<HttpScraper>(
          srv.url("/metrics"), AcceptHeader({"PrometheusText0.0.4"}), 0,
          std::vector<std::pair<std::string, std::string>>{}),
      tl, o);
  loop.Start();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && loop.counters().scrapes.load() < 4) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  loop.Stop(/*write_stale_markers=*/true);
  ASSERT_GE(loop.counters().scrapes.load(), 4u);
  EXPECT_EQ(loop.status().health, TargetHealth::kUp);
  EXPECT_EQ(srv.connections_accepted(), 1);  // keep-alive
  std::string odd = absl::StrCat("odd{instance=\"127.0.0.1:", srv.port(),
                                 "\", job=\"j\", k=\"v\"}");
  std::vector<tsdb::Sample> s = db.Samples(odd);
  ASSERT_GE(s.size(), 3u);
  EXPECT_EQ(s[0].v, 1);
  EXPECT_TRUE(tsdb::IsStaleNaN(s[1].v));
  EXPECT_EQ(s[2].v, 1);
}

TEST(ScrapeLoopHttpTest, SlowTargetTimesOutAndIsDown) {
  TestExporter srv([](const TestExporter::Request&) {
    TestExporter::Reply r = TestExporter::Ok("up 1\n");
    r.delay = absl::Milliseconds(300);
    return r;
  });
  FakeAppendable db;
  ScrapeOptions o;
  o.timeout = absl::Milliseconds(50);
  ScrapeLoop loop(&db,
                  std::make_unique<HttpScraper>(
                      srv.url("/metrics"), "*/*", 0,
                      std::vector<std::pair<std::string, std::string>>{}),
                  TargetLabels(), o);
  absl::Status s = loop.ScrapeOnce(absl::Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(loop.status().health, TargetHealth::kDown);
  EXPECT_THAT(loop.status().last_error, HasSubstr("deadline exceeded"));
}

TEST(ScrapeLoopHttpTest, Non200IsDown) {
  TestExporter srv([](const TestExporter::Request&) {
    return TestExporter::Status(500, "Internal Server Error");
  });
  FakeAppendable db;
  ScrapeLoop loop(&db,
                  std::make_unique<HttpScraper>(
                      srv.url("/metrics"), "*/*", 0,
                      std::vector<std::pair<std::string, std::string>>{}),
                  TargetLabels(), ScrapeOptions{});
  absl::Status s = loop.ScrapeOnce(absl::Now());
  EXPECT_EQ(s.message(),
            "server returned HTTP status 500 Internal Server Error");
}

}  // namespace
}  // namespace vigil::scrape
