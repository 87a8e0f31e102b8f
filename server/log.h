// Minimal structured logging to stderr in Prometheus's two formats:
//
//   logfmt: ts=2026-01-02T03:04:05.678Z level=info msg="Server is ready"
//   addr=:9090 json:
//   {"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"...","addr":":9090"}
//
//   ConfigureLogging(LogLevel::kInfo, LogFormat::kLogfmt);
//   LogInfo("Listening", {{"address", addr}});
//
// Thread-safe: one line is written with one call.
#ifndef VIGIL_SERVER_LOG_H_
#define VIGIL_SERVER_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace vigil::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kLogfmt, kJson };

using LogFields = std::vector<std::pair<std::string, std::string>>;

// "debug", "info", "warn", "error"; anything else reads as info.
LogLevel ParseLogLevel(absl::string_view s);
void ConfigureLogging(LogLevel min_level, LogFormat format);

void Log(LogLevel level, absl::string_view msg, const LogFields& fields = {});
inline void LogDebug(absl::string_view m, const LogFields& f = {}) {
  Log(LogLevel::kDebug, m, f);
}
inline void LogInfo(absl::string_view m, const LogFields& f = {}) {
  Log(LogLevel::kInfo, m, f);
}
inline void LogWarn(absl::string_view m, const LogFields& f = {}) {
  Log(LogLevel::kWarn, m, f);
}
inline void LogError(absl::string_view m, const LogFields& f = {}) {
  Log(LogLevel::kError, m, f);
}

}  // namespace vigil::server

#endif  // VIGIL_SERVER_LOG_H_
