#include "alerting/notifier/silences.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "alerting/notifier/types.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting::notifier {
namespace {

std::string NewUUID() {
  static std::mt19937_64 rng{std::random_device{}()};
  static absl::Mutex mu;
  absl::MutexLock l(&mu);
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant
  char buf[40];
  std::snprintf(
      buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx",
      static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
      static_cast<unsigned>(a & 0xffff), static_cast<unsigned>(b >> 48),
      static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

nlohmann::json ToJSON(const Silence& s, const char* state) {
  nlohmann::json ms = nlohmann::json::array();
  for (const tsdb::Matcher& m : s.matchers) {
    bool regex = m.type() == tsdb::MatchType::kRegexMatch ||
                 m.type() == tsdb::MatchType::kRegexNoMatch;
    bool equal = m.type() == tsdb::MatchType::kEqual ||
                 m.type() == tsdb::MatchType::kRegexMatch;
    ms.push_back({{"name", m.name()},
                  {"value", m.value()},
                  {"isRegex", regex},
                  {"isEqual", equal}});
  }
  nlohmann::json j = {{"id", s.id},
                      {"matchers", ms},
                      {"startsAt", FormatRFC3339(s.starts_at_ms)},
                      {"endsAt", FormatRFC3339(s.ends_at_ms)},
                      {"updatedAt", FormatRFC3339(s.updated_at_ms)},
                      {"createdBy", s.created_by},
                      {"comment", s.comment}};
  if (state != nullptr) j["status"] = {{"state", state}};
  return j;
}

absl::StatusOr<Silence> FromJSON(const nlohmann::json& j) {
  Silence s;
  if (!j.is_object())
    return absl::InvalidArgumentError("silence must be an object");
  if (j.contains("id") && j["id"].is_string()) s.id = j["id"];
  if (j.contains("createdBy") && j["createdBy"].is_string()) {
    s.created_by = j["createdBy"];
  }
  if (j.contains("comment") && j["comment"].is_string())
    s.comment = j["comment"];
  auto time_field = [&](const char* name, int64_t* out) -> absl::Status {
    if (!j.contains(name)) return absl::OkStatus();
    if (!j[name].is_string() ||
        !ParseRFC3339(j[name].get<std::string>(), out)) {
      return absl::InvalidArgumentError(
          absl::StrCat("silence field \"", name, "\" is not an RFC 3339 time"));
    }
    return absl::OkStatus();
  };
  for (auto [name, out] :
       {std::pair<const char*, int64_t*>{"startsAt", &s.starts_at_ms},
        {"endsAt", &s.ends_at_ms},
        {"updatedAt", &s.updated_at_ms}}) {
    absl::Status st = time_field(name, out);
    if (!st.ok()) return st;
  }
  if (!j.contains("matchers") || !j["matchers"].is_array()) {
    return absl::InvalidArgumentError("silence has no matchers");
  }
  for (const nlohmann::json& m : j["matchers"]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() ||
        !m.contains("value") || !m["value"].is_string()) {
      return absl::InvalidArgumentError("matcher needs string name and value");
    }
    bool regex = m.value("isRegex", false);
    bool equal = m.value("isEqual", true);
    tsdb::MatchType t =
        regex ? (equal ? tsdb::MatchType::kRegexMatch
                       : tsdb::MatchType::kRegexNoMatch)
              : (equal ? tsdb::MatchType::kEqual : tsdb::MatchType::kNotEqual);
    absl::StatusOr<tsdb::Matcher> mm = tsdb::Matcher::Create(
        t, m["name"].get<std::string>(), m["value"].get<std::string>());
    if (!mm.ok()) return mm.status();
    s.matchers.push_back(*std::move(mm));
  }
  return s;
}

}  // namespace

const char* SilenceStateString(SilenceState s) {
  switch (s) {
    case SilenceState::kPending:
      return "pending";
    case SilenceState::kActive:
      return "active";
    case SilenceState::kExpired:
      return "expired";
  }
  return "unknown";
}

Silences::Silences(Clock* clock, std::string path)
    : clock_(clock), path_(std::move(path)) {}

absl::Status Silences::Load() {
  if (path_.empty()) return absl::OkStatus();
  std::ifstream in(path_);
  if (!in) return absl::OkStatus();
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::DataLossError(
        absl::StrCat(path_, ": silences file is not a JSON array"));
  }
  std::vector<Silence> loaded;
  for (const nlohmann::json& e : j) {
    absl::StatusOr<Silence> s = FromJSON(e);
    if (!s.ok()) {
      return absl::DataLossError(
          absl::StrCat(path_, ": bad silence: ", s.status().message()));
    }
    loaded.push_back(*std::move(s));
  }
  absl::MutexLock l(&mu_);
  silences_ = std::move(loaded);
  return absl::OkStatus();
}

SilenceState Silences::State(const Silence& s) const {
  int64_t now = clock_->NowMs();
  if (s.ends_at_ms <= now) return SilenceState::kExpired;
  if (s.starts_at_ms > now) return SilenceState::kPending;
  return SilenceState::kActive;
}

absl::StatusOr<std::string> Silences::Set(Silence s) {
  if (s.matchers.empty()) {
    return absl::InvalidArgumentError("silence must have at least one matcher");
  }
  bool all_empty = true;
  for (const tsdb::Matcher& m : s.matchers) {
    if (!m.MatchesEmpty()) all_empty = false;
  }
  if (all_empty) {
    return absl::InvalidArgumentError(
        "at least one matcher must not match the empty string");
  }
  int64_t now = clock_->NowMs();
  if (s.starts_at_ms < now) s.starts_at_ms = now;
  if (s.ends_at_ms <= s.starts_at_ms) {
    return absl::InvalidArgumentError("end time must not be before start time");
  }
  s.updated_at_ms = now;
  absl::MutexLock l(&mu_);
  if (!s.id.empty()) {
    bool found = false;
    for (Silence& old : silences_) {
      if (old.id != s.id) continue;
      found = true;
      if (State(old) == SilenceState::kExpired) {
        return absl::FailedPreconditionError(
            absl::StrCat("silence ", s.id, " is expired"));
      }
      old = s;
    }
    if (!found) {
      return absl::NotFoundError(absl::StrCat("silence ", s.id, " not found"));
    }
  } else {
    s.id = NewUUID();
    silences_.push_back(s);
  }
  absl::Status st = SaveLocked();
  if (!st.ok()) return st;
  return s.id;
}

absl::Status Silences::Expire(const std::string& id) {
  absl::MutexLock l(&mu_);
  for (Silence& s : silences_) {
    if (s.id != id) continue;
    if (State(s) == SilenceState::kExpired) {
      return absl::FailedPreconditionError(
          absl::StrCat("silence ", id, " already expired"));
    }
    int64_t now = clock_->NowMs();
    s.ends_at_ms = now;
    if (s.starts_at_ms > now) s.starts_at_ms = now;
    s.updated_at_ms = now;
    return SaveLocked();
  }
  return absl::NotFoundError(absl::StrCat("silence ", id, " not found"));
}

absl::StatusOr<Silence> Silences::Get(const std::string& id) const {
  absl::MutexLock l(&mu_);
  for (const Silence& s : silences_) {
    if (s.id == id) return s;
  }
  return absl::NotFoundError(absl::StrCat("silence ", id, " not found"));
}

std::vector<Silence> Silences::List() const {
  absl::MutexLock l(&mu_);
  return silences_;
}

bool Silences::Mutes(const tsdb::Labels& labels) const {
  absl::MutexLock l(&mu_);
  for (const Silence& s : silences_) {
    if (State(s) != SilenceState::kActive) continue;
    bool all = true;
    for (const tsdb::Matcher& m : s.matchers) {
      if (!m.Matches(labels.Get(m.name()))) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

std::string Silences::ListJSON() const {
  absl::MutexLock l(&mu_);
  nlohmann::json arr = nlohmann::json::array();
  for (const Silence& s : silences_) {
    arr.push_back(ToJSON(s, SilenceStateString(State(s))));
  }
  return arr.dump();
}

absl::StatusOr<Silence> Silences::ParsePostable(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("body is not JSON");
  return FromJSON(j);
}

absl::Status Silences::SaveLocked() const {
  if (path_.empty()) return absl::OkStatus();
  nlohmann::json arr = nlohmann::json::array();
  for (const Silence& s : silences_) arr.push_back(ToJSON(s, nullptr));
  std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << arr.dump();
    out.flush();
    if (!out) {
      return absl::InternalError(absl::StrCat(tmp, ": cannot write silences"));
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat(path_, ": cannot rename silences file"));
  }
  return absl::OkStatus();
}

}  // namespace vigil::alerting::notifier
