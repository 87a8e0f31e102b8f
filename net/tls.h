// Client TLS settings (Prometheus's `tls_config`) and their OpenSSL setup.
//
//   TlsOptions tls;
//   tls.ca_file = "/etc/prometheus/ca.pem";
//   absl::Status s = ValidateTlsOptions(tls);  // at config load
//
// HttpClient (net/http_client.h) applies the options; this header is also
// what config loaders call to reject unreadable or malformed PEM files
// early, with an error naming the field and the file.
#ifndef VIGIL_NET_TLS_H_
#define VIGIL_NET_TLS_H_

#include <string>

#include "absl/status/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace vigil::net {

struct TlsOptions {
  // PEM CA certificates to verify the server with. Empty: the system's
  // trust store. When set, only these CAs are trusted (as in Go).
  std::string ca_file;
  // PEM client certificate (chain) and key, for servers that require
  // client certificates. Both or neither.
  std::string cert_file;
  std::string key_file;
  // Name for SNI and certificate verification instead of the URL's host.
  std::string server_name;
  // Accept any server certificate. The connection is still encrypted.
  bool insecure_skip_verify = false;
  // "TLS10", "TLS11", "TLS12" or "TLS13"; empty means TLS12, the default
  // of Prometheus's (Go's) HTTP client.
  std::string min_version;

  bool operator==(const TlsOptions& o) const;
  bool operator!=(const TlsOptions& o) const { return !(*this == o); }
};

// Checks that the files named by `tls` exist and hold PEM data of the
// right kind (certificates in ca_file and cert_file, a private key in
// key_file that matches cert_file), that cert_file and key_file come
// together and that min_version is known. Errors are InvalidArgument or
// NotFound and read like
//   tls_config ca_file "/etc/ca.pem": no PEM certificate found
absl::Status ValidateTlsOptions(const TlsOptions& tls);

// Loads `tls` into a client SSL_CTX: trust store, client certificate,
// minimum protocol version and verification mode. Errors as
// ValidateTlsOptions. Host name checks are per connection (HttpClient).
// Without `load_system_roots` the system trust store (used when ca_file is
// empty) is left for the caller to load: parsing it costs ~0.5 s of CPU,
// which plain-http clients should not pay.
absl::Status ConfigureClientTls(const TlsOptions& tls, ssl_ctx_st* ctx,
                                bool load_system_roots = true);

}  // namespace vigil::net

#endif  // VIGIL_NET_TLS_H_
