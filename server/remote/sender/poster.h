// The sender's one HTTP operation, behind an interface so tests use an
// in-process fake and the transport can change (the shared client in net/
// replaces the notifier's Beast POST when it lands) without touching the
// queue logic.
//
//   std::unique_ptr<Poster> p = NewHttpPoster();
//   absl::StatusOr<PostResponse> r =
//       p->Post({.url = u, .headers = h, .body = b}, absl::Seconds(30));
#ifndef VIGIL_SERVER_REMOTE_SENDER_POSTER_H_
#define VIGIL_SERVER_REMOTE_SENDER_POSTER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/http_client.h"

namespace vigil::server::remote::sender {

struct PostRequest {
  std::string url;
  // Complete header list, Content-Type included.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct PostResponse {
  int status = 0;
  std::string body;
};

class Poster {
 public:
  virtual ~Poster() = default;
  // One POST. Any HTTP status is a successful call; connection failures are
  // Unavailable, a timeout DeadlineExceeded, an unsupported URL
  // Unimplemented or InvalidArgument. Thread-safe.
  virtual absl::StatusOr<PostResponse> Post(const PostRequest& req,
                                            absl::Duration timeout) = 0;
};

// HTTP/1.1 (http or https) through a net::HttpClient with default options.
std::unique_ptr<Poster> NewHttpPoster();
// Through `client`, e.g. one built from the remote_write config's TLS and
// auth settings (config::ClientOptionsFromConfig). Connections are kept
// alive between posts.
std::unique_ptr<Poster> NewHttpPoster(std::shared_ptr<net::HttpClient> client);

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_POSTER_H_
