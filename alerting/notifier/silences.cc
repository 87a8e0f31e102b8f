#include "alerting/notifier/silences.h"

#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "alerting/notifier/state_file.h"
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

// The persisted form: a PostableSilence plus id and updatedAt.
nlohmann::json ToJSON(const Silence& s) {
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
  return j;
}

bool ValidLabelName(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// `required` names the fields a PostableSilence must have; the persisted
// file uses the same shape and is read with required = false.
absl::StatusOr<Silence> FromJSON(const nlohmann::json& j, bool required) {
  Silence s;
  if (!j.is_object()) {
    return absl::InvalidArgumentError("silence must be a JSON object");
  }
  if (required) {
    for (const char* f :
         {"comment", "createdBy", "endsAt", "matchers", "startsAt"}) {
      if (!j.contains(f) || j[f].is_null()) {
        return absl::InvalidArgumentError(
            absl::StrCat(f, " in body is required"));
      }
    }
  }
  auto string_field = [&](const char* name, std::string* out) -> absl::Status {
    if (!j.contains(name) || j[name].is_null()) return absl::OkStatus();
    if (!j[name].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " in body must be of type string"));
    }
    *out = j[name].get<std::string>();
    return absl::OkStatus();
  };
  for (auto [name, out] : {std::pair<const char*, std::string*>{"id", &s.id},
                           {"createdBy", &s.created_by},
                           {"comment", &s.comment}}) {
    absl::Status st = string_field(name, out);
    if (!st.ok()) return st;
  }
  for (auto [name, out] :
       {std::pair<const char*, int64_t*>{"startsAt", &s.starts_at_ms},
        {"endsAt", &s.ends_at_ms},
        {"updatedAt", &s.updated_at_ms}}) {
    if (!j.contains(name) || j[name].is_null()) continue;
    if (!j[name].is_string() ||
        !ParseRFC3339(j[name].get<std::string>(), out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " in body must be of type date-time"));
    }
  }
  if (!j.contains("matchers") || !j["matchers"].is_array()) {
    return absl::InvalidArgumentError("matchers in body must be of type array");
  }
  if (required && j["matchers"].empty()) {
    return absl::InvalidArgumentError(
        "matchers in body should have at least 1 items");
  }
  int i = 0;
  for (const nlohmann::json& m : j["matchers"]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() ||
        !m.contains("value") || !m["value"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "matchers.", i, " in body needs a string name and value"));
    }
    bool regex = m.contains("isRegex") && m["isRegex"].is_boolean() &&
                 m["isRegex"].get<bool>();
    bool equal = !m.contains("isEqual") || !m["isEqual"].is_boolean() ||
                 m["isEqual"].get<bool>();
    tsdb::MatchType t =
        regex ? (equal ? tsdb::MatchType::kRegexMatch
                       : tsdb::MatchType::kRegexNoMatch)
              : (equal ? tsdb::MatchType::kEqual : tsdb::MatchType::kNotEqual);
    std::string name = m["name"].get<std::string>();
    std::string value = m["value"].get<std::string>();
    if (!ValidLabelName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("silence invalid: invalid label matcher ", i,
                       ": invalid label name \"", name, "\""));
    }
    absl::StatusOr<tsdb::Matcher> mm = tsdb::Matcher::Create(t, name, value);
    if (!mm.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("silence invalid: invalid label matcher ", i,
                       ": invalid regular expression \"", value,
                       "\": ", mm.status().message()));
    }
    s.matchers.push_back(*std::move(mm));
    ++i;
  }
  return s;
}

bool SameMatchers(const std::vector<tsdb::Matcher>& a,
                  const std::vector<tsdb::Matcher>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type() != b[i].type() || a[i].name() != b[i].name() ||
        a[i].value() != b[i].value()) {
      return false;
    }
  }
  return true;
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
  std::string text;
  if (!ReadStateFile(path_, &text)) return absl::OkStatus();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::DataLossError(
        absl::StrCat(path_, ": silences file is not a JSON array"));
  }
  std::vector<Silence> loaded;
  for (const nlohmann::json& e : j) {
    absl::StatusOr<Silence> s = FromJSON(e, /*required=*/false);
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

// Alertmanager's canUpdate: same matchers, and only changes a running
// silence could take (an active one keeps its start and may not end in the
// past; a pending one may not start in the past).
bool Silences::CanUpdate(const Silence& old, const Silence& s,
                         int64_t now) const {
  if (!SameMatchers(old.matchers, s.matchers)) return false;
  switch (State(old)) {
    case SilenceState::kActive:
      return s.starts_at_ms == old.starts_at_ms && s.ends_at_ms >= now;
    case SilenceState::kPending:
      return s.starts_at_ms >= now;
    case SilenceState::kExpired:
      return false;
  }
  return false;
}

absl::StatusOr<std::string> Silences::Set(Silence s) {
  if (s.matchers.empty()) {
    return absl::InvalidArgumentError(
        "silence invalid: at least one matcher required");
  }
  bool all_empty = true;
  for (const tsdb::Matcher& m : s.matchers) {
    if (!m.MatchesEmpty()) all_empty = false;
  }
  if (all_empty) {
    return absl::InvalidArgumentError(
        "silence invalid: at least one matcher must not match the empty "
        "string");
  }
  if (s.ends_at_ms < s.starts_at_ms) {
    return absl::InvalidArgumentError(
        "silence invalid: end time must not be before start time");
  }
  int64_t now = clock_->NowMs();
  absl::MutexLock l(&mu_);
  Silence* old = nullptr;
  if (!s.id.empty()) {
    for (Silence& x : silences_) {
      if (x.id == s.id) old = &x;
    }
    if (old == nullptr) return absl::NotFoundError("silence not found");
  }
  s.updated_at_ms = now;
  if (old != nullptr && CanUpdate(*old, s, now)) {
    *old = s;
  } else {
    if (old != nullptr && State(*old) != SilenceState::kExpired) {
      // Replaced: the old silence ends now and a new one takes over.
      old->ends_at_ms = now;
      if (old->starts_at_ms > now) old->starts_at_ms = now;
      old->updated_at_ms = now;
    }
    s.id = NewUUID();
    if (s.starts_at_ms < now) s.starts_at_ms = now;
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
    if (State(s) == SilenceState::kExpired) return absl::OkStatus();
    int64_t now = clock_->NowMs();
    s.ends_at_ms = now;
    if (s.starts_at_ms > now) s.starts_at_ms = now;
    s.updated_at_ms = now;
    return SaveLocked();
  }
  return absl::NotFoundError("silence not found");
}

absl::StatusOr<Silence> Silences::Get(const std::string& id) const {
  absl::MutexLock l(&mu_);
  for (const Silence& s : silences_) {
    if (s.id == id) return s;
  }
  return absl::NotFoundError("silence not found");
}

std::vector<Silence> Silences::List() const {
  absl::MutexLock l(&mu_);
  return silences_;
}

namespace {

bool MatchesAll(const std::vector<tsdb::Matcher>& ms, const tsdb::Labels& l) {
  for (const tsdb::Matcher& m : ms) {
    if (!m.Matches(l.Get(m.name()))) return false;
  }
  return true;
}

}  // namespace

bool Silences::Mutes(const tsdb::Labels& labels) const {
  absl::MutexLock l(&mu_);
  for (const Silence& s : silences_) {
    if (State(s) == SilenceState::kActive && MatchesAll(s.matchers, labels)) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> Silences::MutedBy(const tsdb::Labels& labels) const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> ids;
  for (const Silence& s : silences_) {
    if (State(s) == SilenceState::kActive && MatchesAll(s.matchers, labels)) {
      ids.push_back(s.id);
    }
  }
  return ids;
}

absl::StatusOr<Silence> Silences::ParsePostable(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("parsing silence body failed: not JSON");
  }
  return FromJSON(j, /*required=*/true);
}

absl::Status Silences::SaveLocked() const {
  if (path_.empty()) return absl::OkStatus();
  nlohmann::json arr = nlohmann::json::array();
  for (const Silence& s : silences_) arr.push_back(ToJSON(s));
  return ReplaceStateFile(path_, arr.dump(), "silences");
}

}  // namespace vigil::alerting::notifier
