#include "server/e2e/e2e_util.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace vigil::e2e {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::vector<Received> ReadReceived(const std::string& out_file) {
  std::vector<Received> out;
  for (absl::string_view line :
       absl::StrSplit(ReadFile(out_file), '\n', absl::SkipEmpty())) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    // The receiver appends whole lines; a torn last line is retried later.
    if (j.is_discarded()) break;
    Received r;
    r.t_ms = j.value("t_ms", int64_t{0});
    r.path = j.value("path", "");
    r.body = j.value("body", "");
    out.push_back(std::move(r));
  }
  return out;
}

int64_t ParseTimeMs(const std::string& s) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return -1;
  return absl::ToUnixMillis(t);
}

std::string AlertmanagerFingerprint(
    const std::vector<std::pair<std::string, std::string>>& sorted_labels) {
  uint64_t h = 14695981039346656037ULL;
  auto add = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (const auto& [name, value] : sorted_labels) {
    for (unsigned char c : name) add(c);
    add(0xff);
    for (unsigned char c : value) add(c);
    add(0xff);
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace vigil::e2e
