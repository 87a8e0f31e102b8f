// Helpers shared by the tests that open a DB on disk (persistence,
// recovery): a fresh per-process directory, options without background
// maintenance, and matchers known to be valid.
#ifndef VIGIL_TSDB_TESTING_DB_TEST_UTIL_H_
#define VIGIL_TSDB_TESTING_DB_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tsdb/db.h"
#include "tsdb/matcher.h"

namespace vigil::tsdb::testing {

// A matcher from arguments the test knows to be valid.
inline Matcher M(MatchType t, std::string n, std::string v) {
  return *Matcher::Create(t, std::move(n), std::move(v));
}

// An empty directory under $TEST_TMPDIR (or /tmp), unique to this process
// so tests that fork children or run in parallel do not share one.
inline std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir =
      absl::StrCat(base ? base : "/tmp", "/", name, "_", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

// Options for a DB at `path` with no retention and no background
// maintenance: tests call RunMaintenance themselves.
inline DBOptions Opts(const std::string& path) {
  DBOptions o;
  o.path = path;
  o.retention = absl::ZeroDuration();
  o.maintenance_interval = absl::ZeroDuration();
  return o;
}

}  // namespace vigil::tsdb::testing

#endif  // VIGIL_TSDB_TESTING_DB_TEST_UTIL_H_
