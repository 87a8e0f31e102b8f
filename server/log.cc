#include "server/log.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/api/json_writer.h"

namespace vigil::server {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_json{false};

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// logfmt quotes values with spaces, quotes, '=' or non-printables.
void AppendLogfmtValue(std::string* out, absl::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\') quote = true;
  }
  if (!quote) {
    out->append(v.data(), v.size());
    return;
  }
  api::AppendJsonString(out, v);  // same escaping as Go's %q for ASCII
}

}  // namespace

LogLevel ParseLogLevel(absl::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

void ConfigureLogging(LogLevel min_level, LogFormat format) {
  g_min_level.store(static_cast<int>(min_level));
  g_json.store(format == LogFormat::kJson);
}

void Log(LogLevel level, absl::string_view msg, const LogFields& fields) {
  if (static_cast<int>(level) < g_min_level.load()) return;
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone());
  std::string line;
  if (g_json.load()) {
    line = "{\"ts\":";
    api::AppendJsonString(&line, ts);
    absl::StrAppend(&line, ",\"level\":\"", LevelName(level), "\",\"msg\":");
    api::AppendJsonString(&line, msg);
    for (const auto& [k, v] : fields) {
      line.push_back(',');
      api::AppendJsonString(&line, k);
      line.push_back(':');
      api::AppendJsonString(&line, v);
    }
    line.append("}\n");
  } else {
    absl::StrAppend(&line, "ts=", ts, " level=", LevelName(level), " msg=");
    AppendLogfmtValue(&line, msg);
    for (const auto& [k, v] : fields) {
      absl::StrAppend(&line, " ", k, "=");
      AppendLogfmtValue(&line, v);
    }
    line.push_back('\n');
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace vigil::server
