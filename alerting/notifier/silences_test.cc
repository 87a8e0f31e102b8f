#include "alerting/notifier/silences.h"

#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"

namespace vigil::alerting::notifier {
namespace {

tsdb::Labels L(std::vector<tsdb::Label> p) {
  return *tsdb::Labels::FromPairs(std::move(p));
}

Silence Make(int64_t start, int64_t end) {
  Silence s;
  s.matchers.push_back(*tsdb::Matcher::Create(tsdb::MatchType::kEqual,
                                              "service", "go-demo_main"));
  s.starts_at_ms = start;
  s.ends_at_ms = end;
  s.created_by = "ops";
  s.comment = "deploy";
  return s;
}

TEST(SilencesTest, ActiveWindowMutesAndPersists) {
  FakeClock clock(1000000);
  std::string path =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                             : "/tmp") +
      "/silences.json";
  std::remove(path.c_str());
  Silences s(&clock, path);
  ASSERT_TRUE(s.Load().ok());
  absl::StatusOr<std::string> id = s.Set(Make(1000000, 2000000));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->size(), 36u);
  tsdb::Labels alert = L({{"alertname", "x"}, {"service", "go-demo_main"}});
  EXPECT_TRUE(s.Mutes(alert));
  EXPECT_FALSE(s.Mutes(L({{"service", "other"}})));

  // A pending silence does not mute yet.
  absl::StatusOr<std::string> later = s.Set(Make(3000000, 4000000));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(s.State(*s.Get(*later)), SilenceState::kPending);

  // Reload from disk.
  Silences again(&clock, path);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.List().size(), 2u);
  EXPECT_TRUE(again.Mutes(alert));
  EXPECT_EQ(again.Get(*id)->comment, "deploy");

  ASSERT_TRUE(s.Expire(*id).ok());
  EXPECT_FALSE(s.Mutes(alert));
  EXPECT_EQ(s.Expire(*id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.Expire("nope").code(), absl::StatusCode::kNotFound);
  clock.SetMs(2500000);
  EXPECT_NE(s.ListJSON().find("\"state\":\"expired\""), std::string::npos);
}

TEST(SilencesTest, Validation) {
  FakeClock clock(1000000);
  Silences s(&clock, "");
  Silence none;
  none.ends_at_ms = 2000000;
  EXPECT_FALSE(s.Set(none).ok());
  Silence empty_match = Make(0, 2000000);
  empty_match.matchers = {
      *tsdb::Matcher::Create(tsdb::MatchType::kRegexMatch, "a", ".*")};
  EXPECT_FALSE(s.Set(empty_match).ok());
  EXPECT_FALSE(s.Set(Make(1500000, 1200000)).ok());
  Silence unknown = Make(0, 2000000);
  unknown.id = "missing";
  EXPECT_EQ(s.Set(unknown).status().code(), absl::StatusCode::kNotFound);
}

TEST(SilencesTest, ParsePostable) {
  absl::StatusOr<Silence> s = Silences::ParsePostable(R"({
    "matchers": [{"name": "alertname", "value": "Nginx.*", "isRegex": true},
                 {"name": "job", "value": "nginx", "isRegex": false, "isEqual": false}],
    "startsAt": "2024-04-26T17:21:05.311Z", "endsAt": "2024-04-26T19:21:05Z",
    "createdBy": "me", "comment": "c"})");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->matchers.size(), 2u);
  EXPECT_EQ(s->matchers[0].type(), tsdb::MatchType::kRegexMatch);
  EXPECT_EQ(s->matchers[1].type(), tsdb::MatchType::kNotEqual);
  EXPECT_EQ(s->starts_at_ms, 1714152065311);
  EXPECT_FALSE(Silences::ParsePostable("{").ok());
  EXPECT_FALSE(Silences::ParsePostable("{\"matchers\": 1}").ok());
}

}  // namespace
}  // namespace vigil::alerting::notifier
