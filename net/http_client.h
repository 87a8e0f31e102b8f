// Vigil's one HTTP/1.1 client: scrapes, notifications, remote write.
//
// http:// and https:// (OpenSSL), with
//  - a bounded pool of kept-alive connections per (scheme, host, port),
//  - a total deadline per request (resolve, connect, TLS handshake, write,
//    read) and an optional shorter connect deadline,
//  - a response body size limit that fails the request (never truncates),
//    applied to the decompressed bytes of gzip responses so a gzip bomb
//    stops at the limit,
//  - the client's authentication (basic auth, bearer token, any
//    `Authorization` type; secret files re-read per request, as Prometheus
//    does) and TLS options (net/tls.h),
//  - an optional HTTP proxy (absolute-URI requests for http targets,
//    CONNECT tunnels for https ones) and redirects followed as Go's client
//    follows them for Prometheus.
//
//   ClientOptions o;
//   o.tls.ca_file = "/etc/prometheus/ca.pem";
//   absl::StatusOr<std::shared_ptr<HttpClient>> c = HttpClient::Create(o);
//   Request req;
//   req.url = "https://10.0.0.1:10250/metrics";
//   req.timeout = absl::Seconds(10);
//   req.body_size_limit = 64 << 20;
//   Response resp;
//   absl::Status s = (*c)->Do(req, &resp);
//
// Thread-safe: one client serves any number of threads (e.g. all scrape
// loops of a job); concurrent requests to one host use separate
// connections. Each request runs in the calling thread: resolve and
// connect on the connection's own Asio io_context, then the exchange (TLS
// included) with poll() and non-blocking reads and writes. The client has
// no threads of its own.
#ifndef VIGIL_NET_HTTP_CLIENT_H_
#define VIGIL_NET_HTTP_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/oauth2.h"
#include "net/tls.h"

namespace vigil::net {

struct Url;
namespace internal {
struct Conn;
struct TlsContext;
}  // namespace internal

inline constexpr char kVigilVersion[] = "0.1.0";

// "Vigil/<version>", the default User-Agent.
std::string DefaultUserAgent();

// "Basic base64(user:pass)".
std::string BasicAuthHeader(absl::string_view user, absl::string_view pass);

// How the client authenticates; at most one kind should be set (the config
// parsers enforce that). Files are read at every request, so rotated
// secrets are picked up without a reload.
struct ClientAuth {
  // Basic auth when `username` or a password is set.
  std::string username;
  std::string password;
  std::string password_file;
  // `Authorization: <type> <credentials>` when credentials are set;
  // bearer_token / bearer_token_file map to type "Bearer".
  std::string type = "Bearer";
  std::string credentials;
  std::string credentials_file;

  bool operator==(const ClientAuth& o) const;
};

struct ClientOptions {
  TlsOptions tls;
  ClientAuth auth;
  std::string user_agent = DefaultUserAgent();
  // Idle connections kept per (scheme, host, port), and in total.
  int max_idle_per_host = 4;
  int max_idle_total = 256;
  // Idle connections older than this are closed instead of reused.
  absl::Duration idle_timeout = absl::Seconds(90);
  // "http://[user:pass@]host:port": every request goes through this HTTP
  // proxy. Plain http requests are sent to it with the absolute URL as
  // request target; https targets are reached through a CONNECT tunnel
  // (TLS is end to end). Userinfo becomes Proxy-Authorization (Basic).
  // Create rejects other schemes. Empty: direct connections.
  std::string proxy_url;
  // Follow 301/302/303/307/308 responses with a Location, at most 10 in a
  // row (then the request fails with "stopped after 10 redirects"). The
  // request's timeout covers all hops. Authorization (the client's and
  // any given in the request) is sent only while the redirects stay on
  // the first request's host and port. When false, a 3xx is returned as
  // the response (with `location` set).
  bool follow_redirects = true;
  // OAuth 2.0 client credentials (net/oauth2.h): every request carries
  // the token instead of `auth` (which must then be empty).
  std::optional<OAuth2Options> oauth2;
};

struct Request {
  std::string method = "GET";
  std::string url;
  // Sent with Content-Length when non-empty or the method is POST or PUT.
  std::string body;
  // Extra headers (Accept, Content-Type, ...). The client's auth, when
  // configured, replaces any Authorization given here.
  std::vector<std::pair<std::string, std::string>> headers;
  // Covers the whole exchange. Must be positive.
  absl::Duration timeout = absl::Seconds(10);
  // Resolve + connect + TLS handshake; zero means only `timeout` applies.
  absl::Duration connect_timeout = absl::ZeroDuration();
  // On the (decompressed) body; 0 means no limit.
  int64_t body_size_limit = 0;
  // Sends `Accept-Encoding: gzip` and inflates gzip responses.
  bool accept_gzip = true;
};

struct Response {
  int status = 0;
  std::string reason;
  std::string content_type;
  std::string body;  // decompressed
  // The Location header of a 3xx response, else empty.
  std::string location;
};

class HttpClient {
 public:
  // Loads the TLS material (CA, client certificate) once; errors name the
  // field and the file (see ValidateTlsOptions).
  static absl::StatusOr<std::shared_ptr<HttpClient>> Create(
      ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request. Any HTTP status is a successful exchange (the
  // caller decides what non-2xx means). A kept-alive connection that the
  // server closed while idle is replaced transparently. Errors, each naming
  // the method and URL like Go's (`Get "https://h/metrics": ...`):
  //   InvalidArgument    bad URL, unknown method
  //   DeadlineExceeded   a deadline passed (the message names the phase)
  //   Unavailable        DNS, connect, TLS handshake or certificate
  //                      verification failure, connection lost before a
  //                      response
  //   ResourceExhausted  body (or decompressed body) over the limit
  //   DataLoss           truncated or corrupt response
  //   NotFound/...       an auth secret file cannot be read
  absl::Status Do(const Request& request, Response* response);

  // Closes all idle connections.
  void CloseIdleConnections();

  const ClientOptions& options() const { return options_; }
  // Connections opened so far (keep-alive tests, metrics).
  int64_t connections_opened() const { return connections_opened_.load(); }
  int idle_connections() const;

 private:
  using Conn = internal::Conn;
  explicit HttpClient(ClientOptions options);

  // One attempt; `reuse` allows taking an idle connection; `send_auth`
  // adds the client's Authorization. *retry is set when a reused
  // connection turned out to be closed by the server.
  absl::Status DoOnce(const Request& request, const Url& url, bool reuse,
                      bool send_auth, Response* response, bool* retry);
  std::unique_ptr<Conn> TakeIdle(const std::string& key);
  void PutIdle(const std::string& key, std::unique_ptr<Conn> conn);

  const ClientOptions options_;
  std::unique_ptr<internal::TlsContext> tls_;
  std::unique_ptr<OAuth2TokenSource> oauth2_;  // null without oauth2
  std::unique_ptr<Url> proxy_;                 // null without proxy_url
  std::string proxy_authorization_;            // "Basic ..." or ""
  std::atomic<int64_t> connections_opened_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<Conn>>> idle_
      ABSL_GUARDED_BY(mu_);
  int idle_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vigil::net

#endif  // VIGIL_NET_HTTP_CLIENT_H_
