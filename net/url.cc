#include "net/url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vigil::net {

std::string Url::HostPort() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

std::string Url::HostHeader() const {
  const bool default_port = (scheme == "http" && port == "80") ||
                            (scheme == "https" && port == "443");
  if (!default_port) return HostPort();
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]");
  return host;
}

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  Url out;
  size_t sep = url.find("://");
  if (sep == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", url, "\": missing scheme"));
  }
  out.scheme = absl::AsciiStrToLower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    return absl::InvalidArgumentError(absl::StrCat(
        "URL \"", url, "\": unsupported scheme \"", out.scheme, "\""));
  }
  absl::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find_first_of("/?#");
  absl::string_view hostport = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    absl::string_view target = rest.substr(slash);
    // The fragment is never sent.
    target = target.substr(0, target.find('#'));
    out.target = std::string(target);
  }
  if (out.target.empty() || out.target[0] != '/') out.target.insert(0, "/");
  if (size_t at = hostport.rfind('@'); at != absl::string_view::npos) {
    out.userinfo = std::string(hostport.substr(0, at));
    hostport = hostport.substr(at + 1);
  }
  if (hostport.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", url, "\": missing host"));
  }
  absl::string_view port;
  if (hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("URL \"", url, "\": unterminated IPv6 address"));
    }
    out.host = std::string(hostport.substr(1, close - 1));
    absl::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("URL \"", url, "\": bad port"));
      }
      port = after.substr(1);
    }
  } else {
    size_t colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != absl::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", url, "\": missing host"));
  }
  if (port.empty()) {
    out.port = out.scheme == "https" ? "443" : "80";
  } else {
    int p;
    if (!absl::SimpleAtoi(port, &p) || p <= 0 || p > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("URL \"", url, "\": bad port \"", port, "\""));
    }
    out.port = std::string(port);
  }
  return out;
}

std::string QueryEscape(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace vigil::net
