// net::HttpClient options from the `http_client_config` parts of
// prometheus.yml (scrape configs, alerting.alertmanagers, remote_write).
//
//   absl::StatusOr<std::shared_ptr<net::HttpClient>> c =
//       net::HttpClient::Create(ClientOptionsFromConfig(scrape_config));
#ifndef VIGIL_SERVER_CONFIG_CLIENT_OPTIONS_H_
#define VIGIL_SERVER_CONFIG_CLIENT_OPTIONS_H_

#include "net/http_client.h"
#include "net/tls.h"
#include "server/config/config.h"

namespace vigil::config {

net::TlsOptions TlsOptionsFromConfig(const TlsConfig& tls);

// TLS, authentication (basic_auth, authorization, oauth2, bearer_token,
// bearer_token_file; secret files are read by the client at every
// request), proxy_url and follow_redirects. enable_http2 has no effect:
// the client speaks HTTP/1.1, which every server Prometheus scrapes
// accepts.
net::ClientOptions ClientOptionsFromConfig(const HttpClientConfig& c);

}  // namespace vigil::config

#endif  // VIGIL_SERVER_CONFIG_CLIENT_OPTIONS_H_
