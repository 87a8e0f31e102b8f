#include "server/api/api.h"

#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/api/json_writer.h"
#include "server/api/params.h"
#include "server/http/http_server.h"
#include "server/http/router.h"
#include "server/http/test_client.h"

namespace vigil::server::api {
namespace {

using http::HttpGet;
using http::HttpPost;
using tsdb::Labels;

Labels L(std::vector<tsdb::Label> pairs) {
  return *Labels::FromPairs(std::move(pairs));
}

// --- A tiny in-memory store ------------------------------------------------

class VectorIterator : public tsdb::SeriesIterator {
 public:
  explicit VectorIterator(std::vector<tsdb::Sample> s) : s_(std::move(s)) {}
  bool Next() override { return ++i_ < static_cast<int>(s_.size()); }
  bool Seek(int64_t t) override {
    if (i_ < 0) i_ = 0;
    while (i_ < static_cast<int>(s_.size()) && s_[i_].t < t) ++i_;
    return i_ < static_cast<int>(s_.size());
  }
  tsdb::Sample At() const override { return s_[i_]; }

 private:
  std::vector<tsdb::Sample> s_;
  int i_ = -1;
};

class FakeStore : public tsdb::Queryable {
 public:
  void Add(const Labels& l, int64_t t, double v) {
    series_[l].push_back({t, v});
  }

  absl::StatusOr<std::unique_ptr<tsdb::Querier>> NewQuerier(
      int64_t mint, int64_t maxt) override {
    return std::unique_ptr<tsdb::Querier>(new Q(this, mint, maxt));
  }

 private:
  class Q : public tsdb::Querier {
   public:
    Q(FakeStore* s, int64_t mint, int64_t maxt)
        : s_(s), mint_(mint), maxt_(maxt) {}
    absl::StatusOr<std::vector<tsdb::Series>> Select(
        const tsdb::SelectHints&, absl::Span<const tsdb::Matcher> ms) override {
      std::vector<tsdb::Series> out;
      for (const auto& [l, samples] : s_->series_) {
        if (!Match(l, ms)) continue;
        std::vector<tsdb::Sample> in;
        for (const auto& x : samples) {
          if (x.t >= mint_ && x.t <= maxt_) in.push_back(x);
        }
        if (in.empty()) continue;
        out.push_back({l, std::make_unique<VectorIterator>(std::move(in))});
      }
      return out;
    }
    absl::StatusOr<std::vector<std::string>> LabelNames(
        absl::Span<const tsdb::Matcher> ms) override {
      std::set<std::string> names;
      for (const auto& [l, samples] : s_->series_) {
        if (!Match(l, ms)) continue;
        for (const auto& x : l) names.insert(x.name);
      }
      return std::vector<std::string>(names.begin(), names.end());
    }
    absl::StatusOr<std::vector<std::string>> LabelValues(
        absl::string_view name, absl::Span<const tsdb::Matcher> ms) override {
      std::set<std::string> values;
      for (const auto& [l, samples] : s_->series_) {
        if (!Match(l, ms) || !l.Has(name)) continue;
        values.insert(std::string(l.Get(name)));
      }
      return std::vector<std::string>(values.begin(), values.end());
    }

   private:
    static bool Match(const Labels& l, absl::Span<const tsdb::Matcher> ms) {
      for (const auto& m : ms) {
        if (!m.Matches(l.Get(m.name()))) return false;
      }
      return true;
    }
    FakeStore* s_;
    int64_t mint_, maxt_;
  };

  std::map<Labels, std::vector<tsdb::Sample>> series_;
};

// --- A canned query runner -------------------------------------------------

class FakeRunner : public QueryRunner {
 public:
  absl::StatusOr<promql::QueryResult> Instant(absl::string_view q, int64_t t,
                                              int64_t timeout) override {
    last_time = t;
    last_timeout = timeout;
    return Answer(q);
  }
  absl::StatusOr<promql::QueryResult> Range(absl::string_view q, int64_t start,
                                            int64_t end, int64_t step,
                                            int64_t timeout) override {
    last_start = start;
    last_end = end;
    last_step = step;
    return Answer(q);
  }

  int64_t last_time = 0, last_timeout = 0, last_start = 0, last_end = 0,
          last_step = 0;

 private:
  absl::StatusOr<promql::QueryResult> Answer(absl::string_view q) {
    promql::QueryResult r;
    if (q == "vec") {
      promql::Vector v;
      v.push_back({L({{"__name__", "up"}, {"job", "a"}}), 1435781451781, 1});
      v.push_back({L({{"job", "b<&>"}}), 1435781451000, 1e21});
      r.value = v;
    } else if (q == "mat") {
      promql::Matrix m;
      m.push_back({L({{"job", "a"}}),
                   {{1000, 0.1},
                    {2500, std::numeric_limits<double>::quiet_NaN()},
                    {3000, -std::numeric_limits<double>::infinity()}}});
      r.value = m;
    } else if (q == "scalar") {
      r.value = promql::Scalar{1000, 1.5};
    } else if (q == "str") {
      r.value = promql::String{1000, "a\"b"};
    } else if (q == "warn") {
      r.value = promql::Vector{};
      r.warnings.push_back("something odd");
    } else if (q == "slow") {
      return absl::DeadlineExceededError(
          "query timed out in expression evaluation");
    } else if (q == "big") {
      return absl::ResourceExhaustedError(
          "query processing would load too many samples into memory in query "
          "execution");
    } else {
      return absl::InvalidArgumentError("1:1: parse error: unexpected thing");
    }
    return r;
  }
};

// --- HTTP fixture ----------------------------------------------------------

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.Add(L({{"__name__", "up"}, {"job", "node"}, {"instance", "a:1"}}),
               1000, 1);
    store_.Add(L({{"__name__", "up"}, {"job", "node"}, {"instance", "b:1"}}),
               1000, 0);
    store_.Add(L({{"__name__", "http_requests_total"}, {"job", "api"}}), 2000,
               5);
  }

  void Start(ApiOptions opts = {}, ApiHooks hooks = {}) {
    if (!opts.now_ms) opts.now_ms = [] { return int64_t{60'000}; };
    api_ = std::make_unique<Api>(opts, &store_, &runner_, hooks);
    api_->Register(&router_);
    server_ = std::make_unique<http::HttpServer>(
        http::HttpServerOptions{"127.0.0.1:0"},
        [this](http::Request* r) { return router_.Dispatch(r); });
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }
  http::TestResponse Get(const std::string& target) {
    return HttpGet(server_->port(), target);
  }

  FakeStore store_;
  FakeRunner runner_;
  http::Router router_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<http::HttpServer> server_;
};

TEST_F(ApiTest, InstantVectorShape) {
  Start();
  auto r = Get("/api/v1/query?query=vec&time=1435781451.781");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
            "\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":\"a\"},"
            "\"value\":[1435781451.781,\"1\"]},"
            "{\"metric\":{\"job\":\"b\\u003c\\u0026\\u003e\"},"
            "\"value\":[1435781451,\"1000000000000000000000\"]}]}}");
  EXPECT_EQ(runner_.last_time, 1435781451781);
}

TEST_F(ApiTest, InstantDefaultsTimeToNowAndParsesTimeout) {
  Start();
  auto r = Get("/api/v1/query?query=scalar&timeout=1m30s");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(runner_.last_time, 60'000);
  EXPECT_EQ(runner_.last_timeout, 90'000);
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
            "\"result\":[1,\"1.5\"]}}");
}

TEST_F(ApiTest, StringResultShape) {
  Start();
  EXPECT_EQ(Get("/api/v1/query?query=str").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"string\","
            "\"result\":[1,\"a\\\"b\"]}}");
}

// Regression: the second series of a matrix was written without the comma
// that separates it from the first (found by the comparison harness: the
// quantile range query returned invalid JSON).
TEST(WriteQueryResultTest, MatrixSeriesAreCommaSeparated) {
  promql::Matrix m;
  for (const char* job : {"a", "b"}) {
    promql::MatrixSeries s;
    s.metric = *tsdb::Labels::FromPairs({{"job", job}});
    s.points = {{1000, 1.5}, {2000, 2}};
    m.push_back(std::move(s));
  }
  std::string out;
  JsonWriter w(&out);
  WriteQueryResult(promql::Value(m), &w);
  EXPECT_EQ(out,
            "{\"resultType\":\"matrix\",\"result\":["
            "{\"metric\":{\"job\":\"a\"},\"values\":[[1,\"1.5\"],[2,\"2\"]]},"
            "{\"metric\":{\"job\":\"b\"},\"values\":[[1,\"1.5\"],[2,\"2\"]]}"
            "]}");
}

// Range results format each point on the stack in one go; the text must be
// what the separate formatters (and so Prometheus) write.
TEST(WriteQueryResultTest, PointsAsTimestampAndGoFloat) {
  const double inf = std::numeric_limits<double>::infinity();
  const double values[] = {0,
                           -0.0,
                           1.5,
                           -2,
                           0.1,
                           1e21,
                           1e-7,
                           123456789.123,
                           5e-324,
                           -1.7976931348623157e308,
                           inf,
                           -inf,
                           std::numeric_limits<double>::quiet_NaN()};
  const int64_t times[] = {0,
                           1,
                           -1,
                           999,
                           1000,
                           -1001,
                           1795298400123,
                           std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max()};
  for (double v : values) {
    for (int64_t t : times) {
      std::string want = "[";
      AppendTimestamp(&want, t);
      want += ",\"";
      AppendGoFloat(&want, v);
      want += "\"]";
      std::string got = "x";
      AppendPoint(&got, t, v);
      EXPECT_EQ(got, "x" + want) << t << " " << v;
    }
  }
  std::string s;
  AppendPoint(&s, -1500, -0.0);
  EXPECT_EQ(s, "[-1.500,\"-0\"]");
  s.clear();
  AppendPoint(&s, 1435781451780, 1e21);
  EXPECT_EQ(s, "[1435781451.780,\"1000000000000000000000\"]");
}

TEST_F(ApiTest, RangeMatrixShapeViaPostForm) {
  Start();
  auto r = HttpPost(server_->port(), "/api/v1/query_range",
                    "query=mat&start=2015-07-01T20:10:30.781Z&end=1435781460"
                    "&step=15");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
            "\"result\":[{\"metric\":{\"job\":\"a\"},\"values\":[[1,\"0.1\"],"
            "[2.500,\"NaN\"],[3,\"-Inf\"]]}]}}");
  EXPECT_EQ(runner_.last_start, 1435781430781);
  EXPECT_EQ(runner_.last_end, 1435781460000);
  EXPECT_EQ(runner_.last_step, 15000);
}

TEST_F(ApiTest, WarningsAreReported) {
  Start();
  EXPECT_EQ(Get("/api/v1/query?query=warn").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
            "\"result\":[]},\"warnings\":[\"something odd\"]}");
}

TEST_F(ApiTest, QueryErrorsMapToPrometheusTypesAndCodes) {
  Start();
  auto r = Get("/api/v1/query?query=nonsense");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"invalid parameter \\\"query\\\": 1:1: parse error: unexpected "
            "thing\"}");
  r = Get("/api/v1/query?query=slow");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":"
            "\"query timed out in expression evaluation\"}");
  r = Get("/api/v1/query?query=big");
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("\"errorType\":\"execution\""), std::string::npos);
  r = Get("/api/v1/query?query=vec&time=yesterday");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"invalid parameter \\\"time\\\": cannot parse \\\"yesterday\\\" "
            "to a valid timestamp\"}");
  r = Get("/api/v1/query?query=vec&timeout=soon");
  EXPECT_EQ(r.status, 400);
}

TEST_F(ApiTest, RangeParameterErrors) {
  Start();
  auto r = Get("/api/v1/query_range?query=mat&start=10&end=5&step=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("end timestamp must not be before start time"),
            std::string::npos);
  r = Get("/api/v1/query_range?query=mat&start=0&end=5&step=0");
  EXPECT_NE(r.body.find("zero or negative query resolution step widths"),
            std::string::npos);
  r = Get("/api/v1/query_range?query=mat&start=0&end=100000&step=1");
  EXPECT_NE(r.body.find("exceeded maximum resolution of 11,000 points"),
            std::string::npos);
  r = Get("/api/v1/query_range?query=mat&end=5&step=1");
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"invalid parameter \\\"start\\\": cannot parse \\\"\\\" to a "
            "valid timestamp\"}");
}

TEST_F(ApiTest, SeriesLabelsAndValues) {
  Start();
  auto r = Get("/api/v1/series?match[]=up&match[]=%7Bjob%3D%22api%22%7D");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":["
            "{\"__name__\":\"http_requests_total\",\"job\":\"api\"},"
            "{\"__name__\":\"up\",\"instance\":\"a:1\",\"job\":\"node\"},"
            "{\"__name__\":\"up\",\"instance\":\"b:1\",\"job\":\"node\"}]}");
  r = Get("/api/v1/series?match[]=up&start=1.5&end=3");
  EXPECT_EQ(r.body, "{\"status\":\"success\",\"data\":[]}");
  r = Get("/api/v1/series");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"no "
            "match[] parameter provided\"}");
  r = Get("/api/v1/series?match[]=%7B");
  EXPECT_EQ(r.status, 400);

  EXPECT_EQ(Get("/api/v1/labels").body,
            "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\","
            "\"job\"]}");
  EXPECT_EQ(Get("/api/v1/labels?match[]=http_requests_total").body,
            "{\"status\":\"success\",\"data\":[\"__name__\",\"job\"]}");
  EXPECT_EQ(Get("/api/v1/label/job/values").body,
            "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
  EXPECT_EQ(Get("/api/v1/label/job/values?limit=1").body,
            "{\"status\":\"success\",\"data\":[\"api\"]}");
  EXPECT_EQ(Get("/api/v1/label/nope/values").body,
            "{\"status\":\"success\",\"data\":[]}");
  r = Get("/api/v1/label/1bad/values");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
            "\"invalid label name: \\\"1bad\\\"\"}");
}

TEST_F(ApiTest, Federate) {
  ApiOptions opts;
  opts.external_labels = {{"replica", "x"}};
  Start(opts);
  auto r = Get("/federate?match[]=%7B__name__%3D~%22.%2B%22%7D");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "# TYPE http_requests_total untyped\n"
            "http_requests_total{job=\"api\",replica=\"x\"} 5 2000\n"
            "# TYPE up untyped\n"
            "up{instance=\"a:1\",job=\"node\",replica=\"x\"} 1 1000\n"
            "up{instance=\"b:1\",job=\"node\",replica=\"x\"} 0 1000\n");
}

TEST_F(ApiTest, StatusEndpoints) {
  ApiOptions opts;
  opts.flags = {{"web.listen-address", "0.0.0.0:9090"}, {"a", "b"}};
  opts.build_info.revision = "abc";
  ApiHooks hooks;
  hooks.config_yaml = [] { return std::string("global:\n  x: 1\n"); };
  hooks.tsdb_status = [](int limit) -> absl::StatusOr<TsdbStatusData> {
    TsdbStatusData d;
    d.num_series = 3;
    d.series_count_by_metric_name = {{"up", 2}, {"x", 1}};
    return d;
  };
  Start(opts, hooks);
  EXPECT_EQ(Get("/api/v1/status/buildinfo").body,
            "{\"status\":\"success\",\"data\":{\"version\":\"0.1.0\","
            "\"revision\":\"abc\",\"branch\":\"main\",\"buildUser\":"
            "\"unknown\",\"buildDate\":\"unknown\",\"goVersion\":"
            "\"unknown\"}}");
  EXPECT_EQ(Get("/api/v1/status/flags").body,
            "{\"status\":\"success\",\"data\":{\"a\":\"b\","
            "\"web.listen-address\":\"0.0.0.0:9090\"}}");
  EXPECT_EQ(Get("/api/v1/status/config").body,
            "{\"status\":\"success\",\"data\":{\"yaml\":\"global:\\n  x: "
            "1\\n\"}}");
  EXPECT_EQ(Get("/api/v1/status/tsdb").body,
            "{\"status\":\"success\",\"data\":{\"headStats\":{\"numSeries\":3,"
            "\"numLabelPairs\":0,\"chunkCount\":0,\"minTime\":0,\"maxTime\":0},"
            "\"seriesCountByMetricName\":[{\"name\":\"up\",\"value\":2},"
            "{\"name\":\"x\",\"value\":1}],\"labelValueCountByLabelName\":[],"
            "\"memoryInBytesByLabelName\":[],\"seriesCountByLabelValuePair\":"
            "[]}}");
  auto rt = Get("/api/v1/status/runtimeinfo");
  EXPECT_EQ(rt.status, 200);
  EXPECT_NE(rt.body.find("\"storageRetention\":\"15d\""), std::string::npos);
  EXPECT_EQ(Get("/api/v1/targets").body,
            "{\"status\":\"success\",\"data\":{\"activeTargets\":[],"
            "\"droppedTargets\":[]}}");
  EXPECT_EQ(Get("/api/v1/rules").body,
            "{\"status\":\"success\",\"data\":{\"groups\":[]}}");
  EXPECT_EQ(Get("/api/v1/alerts").body,
            "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
  EXPECT_EQ(Get("/api/v1/metadata").body,
            "{\"status\":\"success\",\"data\":{}}");
  EXPECT_EQ(Get("/api/v1/query_exemplars?query=up").body,
            "{\"status\":\"success\",\"data\":[]}");
  EXPECT_EQ(Get("/api/v1/alertmanagers").status, 200);
  EXPECT_EQ(Get("/api/v1/status/walreplay").status, 200);
}

TEST_F(ApiTest, FormatQuery) {
  Start();
  auto r = Get("/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":\"sum by (job) "
            "(rate(x[5m]))\"}");
  r = Get("/api/v1/format_query?query=sum(");
  EXPECT_EQ(r.status, 400);
}

TEST_F(ApiTest, HealthReadyAndLifecycleGuards) {
  bool ready = false;
  ApiHooks hooks;
  hooks.ready = [&ready] { return ready; };
  hooks.metrics_text = [] { return std::string("m 1\n"); };
  Start({}, hooks);
  EXPECT_EQ(Get("/-/healthy").status, 200);
  EXPECT_EQ(Get("/-/ready").status, 503);
  EXPECT_EQ(Get("/api/v1/query?query=vec").status, 503);
  ready = true;
  EXPECT_EQ(Get("/-/ready").status, 200);
  auto r = HttpPost(server_->port(), "/-/reload", "");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "Lifecycle API is not enabled.");
  EXPECT_EQ(HttpPost(server_->port(), "/-/quit", "").status, 403);
  r = HttpPost(server_->port(), "/api/v1/admin/tsdb/snapshot", "");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body,
            "{\"status\":\"error\",\"errorType\":\"unavailable\",\"error\":"
            "\"admin APIs disabled\"}");
  r = Get("/metrics");
  EXPECT_EQ(r.body, "m 1\n");
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(ApiTest, LifecycleAndAdminWhenEnabled) {
  ApiOptions opts;
  opts.enable_lifecycle = true;
  opts.enable_admin_api = true;
  int reloads = 0, quits = 0;
  std::vector<std::string> deleted;
  ApiHooks hooks;
  hooks.reload = [&] {
    return ++reloads == 1 ? absl::OkStatus()
                          : absl::InvalidArgumentError("bad.yml:3: oops");
  };
  hooks.quit = [&] { ++quits; };
  hooks.delete_series = [&](absl::Span<const tsdb::Matcher> ms, int64_t mint,
                            int64_t maxt) {
    deleted.push_back(absl::StrCat(ms[0].ToString(), " ", mint, " ", maxt));
    return absl::OkStatus();
  };
  hooks.snapshot = [](bool skip_head) -> absl::StatusOr<std::string> {
    return std::string(skip_head ? "snap-nohead" : "snap");
  };
  Start(opts, hooks);
  int port = server_->port();
  EXPECT_EQ(HttpPost(port, "/-/reload", "").status, 200);
  auto r = HttpPost(port, "/-/reload", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("bad.yml:3: oops"), std::string::npos);
  EXPECT_EQ(HttpPost(port, "/-/quit", "").status, 200);
  EXPECT_EQ(quits, 1);
  r = HttpPost(port,
               "/api/v1/admin/tsdb/delete_series?match[]=up&start=1&end=2", "");
  EXPECT_EQ(r.status, 204);
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0], "__name__=\"up\" 1000 2000");
  r = HttpPost(port, "/api/v1/admin/tsdb/snapshot?skip_head=true", "");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"name\":\"snap-nohead\"}}");
  EXPECT_EQ(HttpPost(port, "/api/v1/admin/tsdb/clean_tombstones", "").status,
            503);  // no hook: not available, never a fake success
}

// --- Encoding units ------------------------------------------------------

std::string GoF(double v) {
  std::string s;
  AppendGoFloat(&s, v);
  return s;
}

TEST(JsonWriterTest, GoFloatFormat) {
  EXPECT_EQ(GoF(0), "0");
  EXPECT_EQ(GoF(-0.0), "-0");
  EXPECT_EQ(GoF(1), "1");
  EXPECT_EQ(GoF(0.1), "0.1");
  EXPECT_EQ(GoF(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(GoF(1e21), "1000000000000000000000");
  EXPECT_EQ(GoF(1e-7), "0.0000001");
  EXPECT_EQ(GoF(123456789.125), "123456789.125");
  EXPECT_EQ(GoF(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(GoF(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(GoF(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(GoF(std::numeric_limits<double>::max()).size(), 309u);
  EXPECT_EQ(GoF(std::numeric_limits<double>::denorm_min()).substr(0, 6),
            "0.0000");
}

TEST(JsonWriterTest, Timestamps) {
  auto ts = [](int64_t ms) {
    std::string s;
    AppendTimestamp(&s, ms);
    return s;
  };
  EXPECT_EQ(ts(1435781451781), "1435781451.781");
  EXPECT_EQ(ts(1435781451780), "1435781451.780");
  EXPECT_EQ(ts(1435781451001), "1435781451.001");
  EXPECT_EQ(ts(1435781451000), "1435781451");
  EXPECT_EQ(ts(0), "0");
  EXPECT_EQ(ts(-1500), "-1.500");
}

TEST(JsonWriterTest, Escaping) {
  std::string s;
  AppendJsonString(&s, "a\"\\\n\t\x01<>&\xe2\x80\xa8é");
  EXPECT_EQ(s, "\"a\\\"\\\\\\n\\t\\u0001\\u003c\\u003e\\u0026\\u2028é\"");
}

TEST(JsonWriterTest, NestedStructure) {
  std::string s;
  JsonWriter w(&s);
  w.BeginObject();
  w.Key("a");
  w.BeginArray();
  w.Int(1);
  w.BeginObject();
  w.EndObject();
  w.Null();
  w.EndArray();
  w.Key("b");
  w.Bool(true);
  w.Key("c");
  w.BeginArray();
  w.Double(0.000012);
  w.Double(1.5e-7);
  w.Double(60);
  w.Double(1e21);
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(s,
            "{\"a\":[1,{},null],\"b\":true,"
            "\"c\":[0.000012,1.5e-7,60,1e+21]}");
}

TEST(ParamsTest, Times) {
  EXPECT_EQ(*ParseTimeParam("1435781451.781"), 1435781451781);
  EXPECT_EQ(*ParseTimeParam("1435781451"), 1435781451000);
  EXPECT_EQ(*ParseTimeParam("1.0006"), 1001);  // rounded to ms
  EXPECT_EQ(*ParseTimeParam("2015-07-01T20:10:51.781Z"), 1435781451781);
  EXPECT_EQ(*ParseTimeParam("2015-07-01T22:10:51+02:00"), 1435781451000);
  EXPECT_FALSE(ParseTimeParam("").ok());
  EXPECT_FALSE(ParseTimeParam("2015-07-01").ok());
  EXPECT_EQ(ParseTimeParam("x").status().message(),
            "cannot parse \"x\" to a valid timestamp");
}

TEST(ParamsTest, Durations) {
  EXPECT_EQ(*ParseDurationParam("15"), 15000);
  EXPECT_EQ(*ParseDurationParam("0.5"), 500);
  EXPECT_EQ(*ParseDurationParam("1m30s"), 90000);
  EXPECT_EQ(*ParseDurationParam("250ms"), 250);
  EXPECT_EQ(*ParseDurationParam("1d"), 86400000);
  EXPECT_EQ(ParseDurationParam("1x").status().message(),
            "cannot parse \"1x\" to a valid duration");
  EXPECT_FALSE(ParseDurationParam("1e300").ok());
}

}  // namespace
}  // namespace vigil::server::api
