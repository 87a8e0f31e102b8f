// Silences: label matchers plus a time window during which matching alerts
// are not notified. Kept in memory and persisted to a JSON file on every
// change (write to a temp file, then rename), so they survive restarts.
// Creation, update and expiry follow Alertmanager 0.25's rules and error
// texts; server/api/silences_api.h serves them as /api/v2/silences.
//
//   Silences s(clock, "/data/silences.json");
//   absl::Status st = s.Load();
//   Silence x;  x.matchers = {...};  x.ends_at_ms = now + 3600000;
//   absl::StatusOr<std::string> id = s.Set(x);
//   s.Mutes(alert_labels);  // true while x is active
//
// Thread-safe.
#ifndef VIGIL_ALERTING_NOTIFIER_SILENCES_H_
#define VIGIL_ALERTING_NOTIFIER_SILENCES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "alerting/clock.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"

namespace vigil::alerting::notifier {

struct Silence {
  std::string id;  // set by Set()
  std::vector<tsdb::Matcher> matchers;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string created_by;
  std::string comment;
};

enum class SilenceState { kPending, kActive, kExpired };
const char* SilenceStateString(SilenceState s);  // "pending", "active", ...

class Silences {
 public:
  // `path` may be empty: no persistence.
  Silences(Clock* clock, std::string path);

  // Reads the file if it exists (missing file is not an error).
  absl::Status Load();

  // Creates a silence (empty id) or changes silence `s.id`, as
  // Alertmanager does: a change that keeps the matchers and only moves
  // times that are still in the future (or the end of an active silence)
  // updates in place; any other change expires the old silence and creates
  // a new one with a new id. Returns the id that now holds `s`.
  // Errors: InvalidArgument "silence invalid: ..." (no matcher, every
  // matcher matches the empty string, end before start); NotFound "silence
  // not found" for an unknown id. A start in the past becomes now.
  absl::StatusOr<std::string> Set(Silence s);
  // Expires a silence now (no-op when already expired). NotFound "silence
  // not found" for unknown ids.
  absl::Status Expire(const std::string& id);
  absl::StatusOr<Silence> Get(const std::string& id) const;
  std::vector<Silence> List() const;
  SilenceState State(const Silence& s) const;

  // True when an active silence matches `labels`.
  bool Mutes(const tsdb::Labels& labels) const;
  // Ids of the active silences matching `labels` (Alertmanager's
  // "silencedBy"), in creation order.
  std::vector<std::string> MutedBy(const tsdb::Labels& labels) const;

  // Parses a v2 PostableSilence JSON body into a Silence. Errors are
  // InvalidArgument with Alertmanager's wording ("createdBy in body is
  // required", "silence invalid: invalid label matcher 0: ...").
  static absl::StatusOr<Silence> ParsePostable(const std::string& json);

 private:
  absl::Status SaveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CanUpdate(const Silence& old, const Silence& s, int64_t now) const;

  Clock* clock_;
  std::string path_;
  mutable absl::Mutex mu_;
  std::vector<Silence> silences_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_SILENCES_H_
