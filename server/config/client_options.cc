#include "server/config/client_options.h"

#include <utility>

namespace vigil::config {

net::TlsOptions TlsOptionsFromConfig(const TlsConfig& tls) {
  net::TlsOptions o;
  o.ca_file = tls.ca_file;
  o.cert_file = tls.cert_file;
  o.key_file = tls.key_file;
  o.server_name = tls.server_name;
  o.insecure_skip_verify = tls.insecure_skip_verify;
  o.min_version = tls.min_version;
  return o;
}

net::ClientOptions ClientOptionsFromConfig(const HttpClientConfig& c) {
  net::ClientOptions o;
  o.tls = TlsOptionsFromConfig(c.tls_config);
  if (c.basic_auth) {
    o.auth.username = c.basic_auth->username;
    o.auth.password = c.basic_auth->password;
    o.auth.password_file = c.basic_auth->password_file;
  } else if (c.authorization) {
    o.auth.type =
        c.authorization->type.empty() ? "Bearer" : c.authorization->type;
    o.auth.credentials = c.authorization->credentials;
    o.auth.credentials_file = c.authorization->credentials_file;
  } else {
    o.auth.credentials = c.bearer_token;
    o.auth.credentials_file = c.bearer_token_file;
  }
  if (c.oauth2) {
    net::OAuth2Options a;
    a.client_id = c.oauth2->client_id;
    a.client_secret = c.oauth2->client_secret;
    a.client_secret_file = c.oauth2->client_secret_file;
    a.scopes = c.oauth2->scopes;
    a.token_url = c.oauth2->token_url;
    a.endpoint_params = c.oauth2->endpoint_params;
    a.tls = TlsOptionsFromConfig(c.oauth2->tls_config);
    a.proxy_url = c.oauth2->proxy_url;
    o.oauth2 = std::move(a);
  }
  o.proxy_url = c.proxy_url;
  o.follow_redirects = c.follow_redirects;
  return o;
}

}  // namespace vigil::config
