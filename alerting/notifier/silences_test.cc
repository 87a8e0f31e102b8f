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

  EXPECT_EQ(s.MutedBy(alert), std::vector<std::string>{*id});
  ASSERT_TRUE(s.Expire(*id).ok());
  EXPECT_FALSE(s.Mutes(alert));
  EXPECT_TRUE(s.MutedBy(alert).empty());
  // Expiring twice is fine (Alertmanager 0.25 answers 200 both times).
  EXPECT_TRUE(s.Expire(*id).ok());
  EXPECT_EQ(s.Expire("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.State(*s.Get(*id)), SilenceState::kExpired);
}

// Alertmanager's update rules: same matchers and a compatible time change
// keep the id; anything else expires the old silence and makes a new one.
TEST(SilencesTest, UpdateInPlaceOrReplace) {
  FakeClock clock(1000000);
  Silences s(&clock, "");
  absl::StatusOr<std::string> id = s.Set(Make(1000000, 2000000));
  ASSERT_TRUE(id.ok());
  clock.SetMs(1100000);
  // Active: extending the end keeps the id.
  Silence longer = *s.Get(*id);
  longer.ends_at_ms = 3000000;
  longer.comment = "longer";
  EXPECT_EQ(*s.Set(longer), *id);
  EXPECT_EQ(s.Get(*id)->ends_at_ms, 3000000);
  EXPECT_EQ(s.Get(*id)->updated_at_ms, 1100000);
  EXPECT_EQ(s.List().size(), 1u);
  // Active: moving the start is a new silence; the old one expires now.
  Silence moved = *s.Get(*id);
  moved.starts_at_ms = 1200000;
  absl::StatusOr<std::string> id2 = s.Set(moved);
  ASSERT_TRUE(id2.ok());
  EXPECT_NE(*id2, *id);
  EXPECT_EQ(s.State(*s.Get(*id)), SilenceState::kExpired);
  EXPECT_EQ(s.State(*s.Get(*id2)), SilenceState::kPending);
  // Different matchers: replaced too.
  Silence other = *s.Get(*id2);
  other.matchers = {
      *tsdb::Matcher::Create(tsdb::MatchType::kEqual, "service", "x")};
  absl::StatusOr<std::string> id3 = s.Set(other);
  ASSERT_TRUE(id3.ok());
  EXPECT_NE(*id3, *id2);
  EXPECT_EQ(s.List().size(), 3u);
  // An expired silence given by id is re-created under a new id.
  Silence again = *s.Get(*id);
  again.ends_at_ms = 5000000;
  absl::StatusOr<std::string> id4 = s.Set(again);
  ASSERT_TRUE(id4.ok());
  EXPECT_NE(*id4, *id);
  EXPECT_EQ(s.Get(*id4)->starts_at_ms, 1100000);  // start moved to now
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
  // Alertmanager's wording for the errors clients see.
  EXPECT_EQ(Silences::ParsePostable(R"({"matchers": [], "startsAt":
      "2024-04-26T17:21:05Z", "endsAt": "2024-04-26T19:21:05Z",
      "comment": "c"})")
                .status()
                .message(),
            "createdBy in body is required");
  EXPECT_EQ(Silences::ParsePostable(R"({"matchers": [{"name": "a b",
      "value": "x"}], "startsAt": "2024-04-26T17:21:05Z", "endsAt":
      "2024-04-26T19:21:05Z", "createdBy": "me", "comment": "c"})")
                .status()
                .message(),
            "silence invalid: invalid label matcher 0: invalid label name "
            "\"a b\"");
  EXPECT_EQ(Silences::ParsePostable(R"({"matchers": [{"name": "a",
      "value": "(", "isRegex": true}], "startsAt": "2024-04-26T17:21:05Z",
      "endsAt": "2024-04-26T19:21:05Z", "createdBy": "me", "comment": "c"})")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vigil::alerting::notifier
