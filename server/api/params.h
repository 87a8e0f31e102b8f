// Parsing of the HTTP API's time and duration parameters, with Prometheus's
// rules and error wording:
//
//   ParseTimeParam("1435781451.781")        -> 1435781451781 (ms)
//   ParseTimeParam("2015-07-01T20:10:51.781Z")
//   ParseDurationParam("5m") / ("300") / ("1.5")  -> ms
#ifndef VIGIL_SERVER_API_PARAMS_H_
#define VIGIL_SERVER_API_PARAMS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::server::api {

// The range used when start/end are absent (Prometheus's minTime/maxTime
// cover all representable times; these cover every ms timestamp storage can
// hold without overflow in arithmetic).
inline constexpr int64_t kMinTimeMs = -9223372036854775807LL / 2;
inline constexpr int64_t kMaxTimeMs = 9223372036854775807LL / 2;

// Unix seconds with optional decimals (rounded to ms) or RFC 3339. Errors:
// InvalidArgument `cannot parse "x" to a valid timestamp`.
absl::StatusOr<int64_t> ParseTimeParam(absl::string_view s);

// Float seconds or a Prometheus duration ("1m30s"), in ms. Errors:
// InvalidArgument `cannot parse "x" to a valid duration`.
absl::StatusOr<int64_t> ParseDurationParam(absl::string_view s);

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_PARAMS_H_
