// Bounded gzip decoding for HTTP response bodies.
//
//   std::string out;
//   absl::Status s = GunzipLimited(body, /*limit=*/10 << 20, &out);
//
// The limit applies to the decompressed bytes and decoding stops as soon
// as it is passed, so a small "gzip bomb" cannot exhaust memory.
#ifndef VIGIL_NET_GZIP_H_
#define VIGIL_NET_GZIP_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vigil::net {

// Inflates the gzip stream `in` into *out (replacing its contents).
// `limit` <= 0 means unlimited. Errors: ResourceExhausted when the output
// would exceed `limit` bytes (*out is then cleared, never truncated data),
// DataLoss for corrupt or truncated input.
absl::Status GunzipLimited(absl::string_view in, int64_t limit,
                           std::string* out);

}  // namespace vigil::net

#endif  // VIGIL_NET_GZIP_H_
