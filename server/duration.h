// Prometheus's duration and size syntax, shared by flags, the HTTP API and
// the embedded config:
//
//   ParsePromDuration("1h30m")   -> 5'400'000 ms
//   ParsePromDuration("15d")     -> 1'296'000'000 ms
//   FormatPromDuration(5400000)  -> "1h30m"
//   ParseByteSize("512MB")       -> 536'870'912 (units are powers of 1024)
#ifndef VIGIL_SERVER_DURATION_H_
#define VIGIL_SERVER_DURATION_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::server {

// Units y (365d), w, d, h, m, s, ms, each at most once and in that order,
// as in Prometheus's model.ParseDuration. "0" is accepted. Errors are
// InvalidArgument naming the input.
absl::StatusOr<int64_t> ParsePromDuration(absl::string_view s);

// The inverse of ParsePromDuration, in the largest units that divide
// evenly: 90000 -> "1m30s", 0 -> "0s".
std::string FormatPromDuration(int64_t ms);

// B, KB, MB, GB, TB, PB, EB with base 1024 (Prometheus's
// units.Base2Bytes); a bare number is bytes.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view s);

}  // namespace vigil::server

#endif  // VIGIL_SERVER_DURATION_H_
