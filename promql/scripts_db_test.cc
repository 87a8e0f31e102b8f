// Runs every testdata/promql/*.test script against the real storage engine
// (in-memory tsdb::DB) instead of TestStorage, so the engine's expectations
// about Select/ReadAll hold for the DB's iterators too.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "promql/testing/script_runner.h"
#include "tsdb/db.h"

namespace vigil::promql::testing {
namespace {

class DBScriptStorage : public ScriptStorage, public tsdb::Queryable {
 public:
  DBScriptStorage() { Reopen(); }

  tsdb::Queryable* queryable() override { return this; }

  absl::StatusOr<std::unique_ptr<tsdb::Querier>> NewQuerier(
      int64_t mint, int64_t maxt) override {
    return db_->NewQuerier(mint, maxt);
  }

  absl::Status Load(
      const std::vector<std::pair<tsdb::Labels, std::vector<tsdb::Sample>>>&
          series) override {
    std::unique_ptr<tsdb::Appender> app = db_->NewAppender();
    for (const auto& [labels, samples] : series) {
      for (const tsdb::Sample& x : samples) {
        absl::StatusOr<tsdb::SeriesRef> ref = app->Append(0, labels, x.t, x.v);
        if (!ref.ok()) return ref.status();
      }
    }
    return app->Commit();
  }

  absl::Status Clear() override {
    Reopen();
    return absl::OkStatus();
  }

 private:
  void Reopen() {
    db_.reset();
    tsdb::DBOptions o;
    o.now_ms = [] { return int64_t{0}; };  // scripts live near the epoch
    o.maintenance_interval = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<tsdb::DB>> db = tsdb::DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }

  std::unique_ptr<tsdb::DB> db_;
};

TEST(ScriptsOnDB, AllScriptsPass) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator("testdata/promql")) {
    if (e.path().extension() == ".test") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) {
    absl::StatusOr<ScriptResult> r =
        RunScriptFile(f, [] { return std::make_unique<DBScriptStorage>(); });
    ASSERT_TRUE(r.ok()) << r.status();
    for (const std::string& line : r->failures) ADD_FAILURE() << line;
    std::cout << f << ": " << r->passed << " passed, " << r->failed
              << " failed\n";
  }
}

}  // namespace
}  // namespace vigil::promql::testing
