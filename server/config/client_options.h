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

// TLS and authentication (basic_auth, authorization, bearer_token,
// bearer_token_file; secret files are read by the client at every
// request). proxy_url, follow_redirects and enable_http2 are not used.
net::ClientOptions ClientOptionsFromConfig(const HttpClientConfig& c);

}  // namespace vigil::config

#endif  // VIGIL_SERVER_CONFIG_CLIENT_OPTIONS_H_
