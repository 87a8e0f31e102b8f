// The remote-write 1.0 receiver behind POST /api/v1/write
// (--web.enable-remote-write-receiver): a snappy block-compressed
// WriteRequest protobuf whose samples are appended to storage in one
// batch.
//
//   WriteHandler h(&db, &registry);
//   router.Handle("POST", "/api/v1/write",
//                 [&](const http::Request& r) { return h.Handle(r); });
//
// Answers: 204 when every sample was stored; 400 with the reason for a
// malformed body (bad snappy, bad protobuf, oversize); 400 naming the first
// rejected sample when some samples were out of order, duplicates, too old
// or had invalid labels -- the other samples of the request are still
// committed, and a 400 tells senders not to retry; 500 when storage fails
// (the batch is rolled back and the sender may retry).
//
// Thread-safe: requests are handled concurrently, each with its own
// appender.
#ifndef VIGIL_SERVER_REMOTE_WRITE_HANDLER_H_
#define VIGIL_SERVER_REMOTE_WRITE_HANDLER_H_

#include <cstddef>
#include <cstdint>

#include "server/http/request.h"
#include "server/metrics/registry.h"
#include "tsdb/appender.h"

namespace vigil::server::remote {

class WriteHandler {
 public:
  // `appendable` must outlive the handler; `registry` may be null.
  WriteHandler(tsdb::Appendable* appendable, metrics::Registry* registry,
               size_t max_decompressed_bytes = 256 << 20);

  http::Response Handle(const http::Request& req);

 private:
  tsdb::Appendable* const appendable_;
  const size_t max_decompressed_bytes_;
  metrics::Counter* samples_in_ = nullptr;
  metrics::Counter* series_in_ = nullptr;
  metrics::CounterFamily* rejected_ = nullptr;
  metrics::CounterFamily* requests_ = nullptr;
};

}  // namespace vigil::server::remote

#endif  // VIGIL_SERVER_REMOTE_WRITE_HANDLER_H_
