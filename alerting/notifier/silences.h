// Silences: label matchers plus a time window during which matching alerts
// are not notified. Kept in memory and persisted to a JSON file on every
// change (write to a temp file, then rename). These functions back the
// server's /api/v2/silences endpoints.
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

  // Creates a silence (empty id) or updates an existing, non-expired one.
  // Validates: at least one matcher, not all matchers match the empty
  // string, ends_at after starts_at. starts_at in the past is moved to now.
  // Returns the id.
  absl::StatusOr<std::string> Set(Silence s);
  // Expires a silence now. NotFound for unknown ids; FailedPrecondition
  // when already expired.
  absl::Status Expire(const std::string& id);
  absl::StatusOr<Silence> Get(const std::string& id) const;
  std::vector<Silence> List() const;
  SilenceState State(const Silence& s) const;

  // True when an active silence matches `labels`.
  bool Mutes(const tsdb::Labels& labels) const;

  // The silences as the API returns them (JSON array, v2 shape).
  std::string ListJSON() const;
  // Parses a v2 PostableSilence JSON body into a Silence.
  static absl::StatusOr<Silence> ParsePostable(const std::string& json);

 private:
  absl::Status SaveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* clock_;
  std::string path_;
  mutable absl::Mutex mu_;
  std::vector<Silence> silences_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_SILENCES_H_
