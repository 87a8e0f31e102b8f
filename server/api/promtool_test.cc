// Drives the API with Debian's promtool (Prometheus 2.42's own client) against
// the real DB and PromQL engine, so a client that speaks Prometheus's API
// verbatim accepts our answers. Skipped when /usr/bin/promtool is missing.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "promql/engine.h"
#include "server/api/api.h"
#include "server/api/engine_runner.h"
#include "server/http/http_server.h"
#include "server/http/router.h"
#include "tsdb/db.h"

namespace vigil::server::api {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

struct CmdResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CmdResult RunCmd(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

tsdb::Labels L(std::vector<tsdb::Label> pairs) {
  return *tsdb::Labels::FromPairs(std::move(pairs));
}

class PromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << "promtool not installed";
    tsdb::DBOptions opts;  // in memory
    opts.maintenance_interval = absl::ZeroDuration();
    opts.retention = absl::Hours(24 * 365 * 100);  // data sits at 1970
    auto db = tsdb::DB::Open(opts);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto app = db_->NewAppender();
    for (int64_t t = 0; t <= 600'000; t += 15'000) {
      ASSERT_TRUE(
          app->Append(
                 0,
                 L({{"__name__", "up"}, {"job", "node"}, {"instance", "a:1"}}),
                 t, 1)
              .ok());
      ASSERT_TRUE(
          app->Append(
                 0,
                 L({{"__name__", "up"}, {"job", "node"}, {"instance", "b:1"}}),
                 t, 0)
              .ok());
      ASSERT_TRUE(
          app->Append(0,
                      L({{"__name__", "http_requests_total"}, {"job", "api"}}),
                      t, static_cast<double>(t / 1500))
              .ok());
    }
    ASSERT_TRUE(app->Commit().ok());

    engine_ =
        std::make_unique<promql::Engine>(promql::EngineOptions{}, db_.get());
    runner_ = std::make_unique<EngineRunner>(engine_.get(), 4, nullptr);
    ApiOptions aopts;
    aopts.now_ms = [] { return int64_t{300'000}; };
    api_ = std::make_unique<Api>(aopts, db_.get(), runner_.get(), ApiHooks{});
    api_->Register(&router_);
    server_ = std::make_unique<http::HttpServer>(
        http::HttpServerOptions{"127.0.0.1:0"},
        [this](http::Request* r) { return router_.Dispatch(r); });
    ASSERT_TRUE(server_->Start().ok());
    url_ = absl::StrCat("http://127.0.0.1:", server_->port());
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  CmdResult Promtool(const std::string& args) {
    return RunCmd(absl::StrCat(kPromtool, " query ", args));
  }

  std::unique_ptr<tsdb::DB> db_;
  std::unique_ptr<promql::Engine> engine_;
  std::unique_ptr<EngineRunner> runner_;
  http::Router router_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<http::HttpServer> server_;
  std::string url_;
};

TEST_F(PromtoolTest, InstantQuery) {
  CmdResult r = Promtool(absl::StrCat("instant --time=300 ", url_, " up"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "up{instance=\"a:1\", job=\"node\"} => 1 @[300]\n"
            "up{instance=\"b:1\", job=\"node\"} => 0 @[300]\n");
  r = Promtool(absl::StrCat("instant --time=300 ", url_,
                            " 'sum(rate(http_requests_total[1m]))'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "{} => 0.6666666666666666 @[300]\n");
  r = Promtool(absl::StrCat("instant --time=300.5 ", url_, " 'vector(1e21)'"));
  EXPECT_EQ(r.output, "{} => 1000000000000000000000 @[300.5]\n");
}

TEST_F(PromtoolTest, RangeQuery) {
  CmdResult r = Promtool(absl::StrCat("range --start=0 --end=60 --step=30s ",
                                      url_, " 'up{instance=\"a:1\"}'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "up{instance=\"a:1\", job=\"node\"} =>\n"
            "1 @[0]\n1 @[30]\n1 @[60]\n");
}

// promtool's default series/labels range is around the current time; our
// data sits at the epoch, so the range is explicit.
TEST_F(PromtoolTest, SeriesAndLabels) {
  CmdResult r =
      Promtool(absl::StrCat("series --start=0 --end=600 --match=up ", url_));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "{__name__=\"up\", instance=\"a:1\", job=\"node\"}\n"
            "{__name__=\"up\", instance=\"b:1\", job=\"node\"}\n");
  r = Promtool(absl::StrCat("labels --start=0 --end=600 ", url_, " job"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "api\nnode\n");
  r = Promtool(
      absl::StrCat("labels --start=0 --end=600 --match=http_requests_total ",
                   url_, " __name__"));
  EXPECT_EQ(r.output, "http_requests_total\n");
}

TEST_F(PromtoolTest, ErrorsAreReportedToTheClient) {
  CmdResult r = Promtool(absl::StrCat("instant ", url_, " 'sum('"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("bad_data"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace vigil::server::api
