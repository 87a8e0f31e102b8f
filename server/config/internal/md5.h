// MD5 (RFC 1321), only for relabeling's `hashmod`, which must assign the same
// shard as Prometheus. Not for security.
#ifndef VIGIL_SERVER_CONFIG_INTERNAL_MD5_H_
#define VIGIL_SERVER_CONFIG_INTERNAL_MD5_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace vigil::config::internal {

std::array<uint8_t, 16> Md5(absl::string_view data);

}  // namespace vigil::config::internal

#endif  // VIGIL_SERVER_CONFIG_INTERNAL_MD5_H_
