// HTTP/1.1 server on Boost.Beast/Asio. Requests are read asynchronously by a
// small thread pool; each complete request is handed to one Handler call on
// a pool thread, and its Response is written back. Keep-alive and pipelined
// requests are served in order on each connection.
//
//   HttpServer server(HttpServerOptions{.listen_address = "127.0.0.1:0"},
//                     [&](const Request& r) { return router.Dispatch(&r); });
//   absl::Status s = server.Start();
//   int port = server.port();
//   ...
//   server.Shutdown(absl::Seconds(10));
//
// Protection against misbehaving clients: every request must arrive
// completely within read_timeout (so a slowloris client holding a half-sent
// header is dropped without blocking anyone else), responses must drain
// within write_timeout, headers and bodies are size-limited (431/413), and
// connections beyond max_connections are refused with 503.
//
// Thread-safety: Start and Shutdown are called by the owner thread; the
// handler is called concurrently from up to `threads` threads.
#ifndef VIGIL_SERVER_HTTP_HTTP_SERVER_H_
#define VIGIL_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/http/request.h"

namespace vigil::server::http {

struct HttpServerOptions {
  // "host:port"; ":9090" and "0.0.0.0:9090" listen on all IPv4 addresses.
  // Port 0 picks a free port (see HttpServer::port()).
  std::string listen_address = "0.0.0.0:9090";
  int threads = 4;
  int max_connections = 512;
  size_t max_header_bytes = 1 << 20;
  size_t max_body_bytes = 32 << 20;
  // Time allowed for one whole request, including the idle wait on a
  // keep-alive connection before it starts.
  absl::Duration read_timeout = absl::Seconds(60);
  absl::Duration write_timeout = absl::Seconds(60);
};

// Called for every complete request; must not throw.
using RequestHandler = std::function<Response(Request*)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, RequestHandler handler);
  ~HttpServer();  // Shutdown(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the pool. Fails naming the address when it
  // cannot be parsed or bound.
  absl::Status Start();

  // The bound port; valid after Start() succeeded.
  int port() const;

  // Stops accepting, closes idle connections, lets in-flight requests finish
  // for up to `grace`, then closes everything and joins the pool.
  void Shutdown(absl::Duration grace);

  // Connections currently open (for /metrics and tests).
  int active_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::server::http

#endif  // VIGIL_SERVER_HTTP_HTTP_SERVER_H_
