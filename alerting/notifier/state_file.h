// Small JSON state files of the built-in Alertmanager (silences, the
// notification log): read whole when present, replaced atomically (temp
// file, then rename) so a crash leaves the old or the new content.
#ifndef VIGIL_ALERTING_NOTIFIER_STATE_FILE_H_
#define VIGIL_ALERTING_NOTIFIER_STATE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vigil::alerting::notifier {

// False (and `out` untouched) when `path` cannot be opened, e.g. before the
// first save.
bool ReadStateFile(const std::string& path, std::string* out);

// Writes `content` to `path` + ".tmp" and renames it over `path`. Errors
// name the file and `what` ("silences", "the notification log").
absl::Status ReplaceStateFile(const std::string& path,
                              absl::string_view content,
                              absl::string_view what);

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_STATE_FILE_H_
