#include "server/api/params.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/duration.h"

namespace vigil::server::api {
namespace {

// Go's strconv.ParseFloat accepts decimal and exponent forms plus "inf",
// "infinity" and "nan" in any case; strtod accepts the same plus hex floats,
// which Go also accepts.
bool ParseGoFloat(absl::string_view s, double* out) {
  if (s.empty() || s.front() == ' ' || s.front() == '\t' || s.front() == '\n') {
    return false;
  }
  std::string buf(s);
  char* end = nullptr;
  *out = std::strtod(buf.c_str(), &end);
  return end == buf.c_str() + buf.size();
}

}  // namespace

absl::StatusOr<int64_t> ParseTimeParam(absl::string_view s) {
  double f;
  if (ParseGoFloat(s, &f)) {
    if (std::isfinite(f) && std::fabs(f) < 9.2e15) {
      double whole;
      double frac = std::modf(f, &whole);
      return static_cast<int64_t>(whole) * 1000 +
             static_cast<int64_t>(std::round(frac * 1000));
    }
  } else {
    // Grafana and Prometheus's own UI send these for "all time".
    if (s == "-292273086-05-16T16:47:06Z") return kMinTimeMs;
    if (s == "292277025-08-18T07:12:54.999999999Z") return kMaxTimeMs;
    absl::Time t;
    std::string err;
    if (absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
      return absl::ToUnixMillis(t);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot parse \"", s, "\" to a valid timestamp"));
}

absl::StatusOr<int64_t> ParseDurationParam(absl::string_view s) {
  double f;
  if (ParseGoFloat(s, &f)) {
    double ns = f * 1e9;
    if (!(ns < 9.223372036854775807e18 && ns > -9.223372036854775807e18)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot parse \"", s, "\" to a valid duration. It overflows int64"));
    }
    return static_cast<int64_t>(ns) / 1'000'000;
  }
  absl::StatusOr<int64_t> d = ParsePromDuration(s);
  if (d.ok()) return d;
  return absl::InvalidArgumentError(
      absl::StrCat("cannot parse \"", s, "\" to a valid duration"));
}

}  // namespace vigil::server::api
