// OAuth 2.0 client credentials (RFC 6749 section 4.4) for HttpClient, as
// Prometheus's `oauth2` client config does it with golang.org/x/oauth2:
//
//   OAuth2Options o;
//   o.client_id = "vigil";
//   o.client_secret_file = "/etc/vigil/secret";
//   o.token_url = "https://auth.example/token";
//   ClientOptions c;
//   c.oauth2 = o;  // every request then carries "Bearer <access token>"
//
// The token is fetched with a POST of grant_type=client_credentials (plus
// `scope` and `endpoint_params`), the client credentials first in a Basic
// Authorization header and, if the server refuses that, in the form body
// (Go's auto-detection; the style that worked is remembered). It is
// cached until 10 s before it expires. The secret file is re-read for
// every request and a changed secret fetches a new token.
#ifndef VIGIL_NET_OAUTH2_H_
#define VIGIL_NET_OAUTH2_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/tls.h"

namespace vigil::net {

class HttpClient;

struct OAuth2Options {
  std::string client_id;
  std::string client_secret;
  std::string client_secret_file;  // wins over client_secret when set
  std::vector<std::string> scopes;
  std::string token_url;
  std::map<std::string, std::string> endpoint_params;
  // For the token endpoint only.
  TlsOptions tls;
  std::string proxy_url;

  bool operator==(const OAuth2Options& o) const;
};

// Thread-safe; concurrent requests share one token and one fetch.
class OAuth2TokenSource {
 public:
  // Loads the TLS options for the token endpoint; errors as
  // HttpClient::Create.
  static absl::StatusOr<std::unique_ptr<OAuth2TokenSource>> Create(
      OAuth2Options options);
  ~OAuth2TokenSource();

  // The Authorization header value ("Bearer <token>"), fetching a token
  // within `timeout` when none is valid. Errors read like Go's:
  //   oauth2: cannot fetch token: 401 Unauthorized
  //   Response: {"error":"invalid_client"}
  absl::StatusOr<std::string> AuthorizationHeader(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Tokens fetched so far (tests).
  int fetches() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit OAuth2TokenSource(OAuth2Options options);
  absl::Status Fetch(const std::string& secret, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FetchWithStyle(const std::string& secret, bool in_params,
                              absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OAuth2Options options_;
  std::shared_ptr<HttpClient> client_;

  mutable absl::Mutex mu_;
  std::string secret_ ABSL_GUARDED_BY(mu_);  // the token was fetched with
  std::string header_ ABSL_GUARDED_BY(mu_);  // "" when there is no token
  absl::Time expiry_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  int style_ ABSL_GUARDED_BY(mu_) = 0;  // 0 unknown, 1 header, 2 params
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vigil::net

#endif  // VIGIL_NET_OAUTH2_H_
