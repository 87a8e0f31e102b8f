#include "server/duration.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vigil::server {
namespace {

struct Unit {
  const char* name;
  int64_t ms;
};

// Longest names first within the order Prometheus requires ("ms" before
// "m" would make "5m" ambiguous, so ms is tried before m at each step).
constexpr Unit kUnits[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};

}  // namespace

absl::StatusOr<int64_t> ParsePromDuration(absl::string_view s) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid duration string: \"", s, "\""));
  };
  if (s == "0") return 0;
  if (s.empty()) return bad();
  int64_t total = 0;
  size_t pos = 0;
  int next_unit = 0;  // index into kUnits; units must not repeat or go back
  while (pos < s.size()) {
    size_t start = pos;
    while (pos < s.size() && absl::ascii_isdigit(s[pos])) ++pos;
    if (pos == start) return bad();
    int64_t n;
    if (!absl::SimpleAtoi(s.substr(start, pos - start), &n)) return bad();
    size_t ustart = pos;
    while (pos < s.size() && absl::ascii_isalpha(s[pos])) ++pos;
    absl::string_view unit = s.substr(ustart, pos - ustart);
    int found = -1;
    for (int i = next_unit; i < static_cast<int>(std::size(kUnits)); ++i) {
      if (unit == kUnits[i].name) {
        found = i;
        break;
      }
    }
    if (found < 0) return bad();
    if (n > INT64_MAX / kUnits[found].ms) return bad();
    total += n * kUnits[found].ms;
    if (total < 0) return bad();
    next_unit = found + 1;
  }
  return total;
}

std::string FormatPromDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  // Prometheus prints weeks and years only when they divide evenly.
  int64_t rest = ms;
  for (const Unit& u : kUnits) {
    if (u.ms == kUnits[0].ms || u.ms == kUnits[1].ms) {
      if (rest % u.ms != 0) continue;
    }
    if (rest >= u.ms) {
      absl::StrAppend(&out, rest / u.ms, u.name);
      rest %= u.ms;
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view s) {
  size_t pos = 0;
  while (pos < s.size() && absl::ascii_isdigit(s[pos])) ++pos;
  int64_t n;
  if (pos == 0 || !absl::SimpleAtoi(s.substr(0, pos), &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid byte size: \"", s, "\""));
  }
  std::string unit = absl::AsciiStrToUpper(s.substr(pos));
  static constexpr const char* kNames[] = {"B",  "KB", "MB", "GB",
                                           "TB", "PB", "EB"};
  if (unit.empty()) return n;
  for (int i = 0; i < 7; ++i) {
    if (unit == kNames[i]) {
      int64_t mult = int64_t{1} << (10 * i);
      if (n > INT64_MAX / mult) break;
      return n * mult;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not a valid byte size: \"", s, "\""));
}

}  // namespace vigil::server
