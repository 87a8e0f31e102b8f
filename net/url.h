// Splitting absolute http(s) URLs into the parts a client connects with.
//
//   absl::StatusOr<Url> u = ParseUrl("https://[::1]:9100/metrics?x=1");
//   // u->scheme "https", u->host "::1", u->port "9100",
//   // u->target "/metrics?x=1"
#ifndef VIGIL_NET_URL_H_
#define VIGIL_NET_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::net {

struct Url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // without brackets for IPv6
  std::string port;    // defaulted from the scheme when absent
  std::string target;  // path plus "?query", at least "/"
  // "user:pass" from "scheme://user:pass@host", raw. Never sent to a
  // target (credentials come from the client's configuration, as in
  // Prometheus); a proxy_url's userinfo becomes Proxy-Authorization.
  std::string userinfo;

  // "host:port" with brackets around IPv6 hosts.
  std::string HostPort() const;
  // The Host header: the port is left out when it is the scheme's default.
  std::string HostHeader() const;
};

// Parses an absolute http:// or https:// URL. InvalidArgument naming the
// URL and what is wrong otherwise (missing scheme or host, bad port,
// unsupported scheme).
absl::StatusOr<Url> ParseUrl(absl::string_view url);

// Go's url.QueryEscape: letters, digits and "-_.~" stay, a space becomes
// "+", every other byte "%XX" (upper-case hex). Scrape `params`, alert
// generator URLs and Alertmanager links are built with it, so they read
// exactly as Prometheus's and Alertmanager's do.
std::string QueryEscape(absl::string_view s);

}  // namespace vigil::net

#endif  // VIGIL_NET_URL_H_
