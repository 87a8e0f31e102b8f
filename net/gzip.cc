#include "net/gzip.h"

#include <zlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace vigil::net {

absl::Status GunzipLimited(absl::string_view in, int64_t limit,
                           std::string* out) {
  out->clear();
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header, not raw zlib.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("gzip: inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  constexpr size_t kChunk = 64 << 10;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    size_t old = out->size();
    size_t grow = kChunk;
    if (limit > 0) {
      // One byte past the limit tells "exactly at limit" from "over".
      size_t room = static_cast<size_t>(limit) + 1 - old;
      if (room == 0) break;
      grow = std::min(grow, room);
    }
    out->resize(old + grow);
    zs.next_out = reinterpret_cast<Bytef*>(&(*out)[old]);
    zs.avail_out = static_cast<uInt>(grow);
    rc = inflate(&zs, Z_NO_FLUSH);
    out->resize(old + grow - zs.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK) {
      std::string msg = zs.msg != nullptr ? zs.msg : "inflate error";
      inflateEnd(&zs);
      out->clear();
      return absl::DataLossError(absl::StrCat("gzip: corrupt body: ", msg));
    }
    if (limit > 0 && out->size() > static_cast<size_t>(limit)) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      out->clear();
      return absl::DataLossError("gzip: truncated body");
    }
  }
  inflateEnd(&zs);
  if (limit > 0 && out->size() > static_cast<size_t>(limit)) {
    out->clear();
    return absl::ResourceExhaustedError(absl::StrCat(
        "body size limit exceeded: decompressed body is larger than ", limit,
        " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace vigil::net
