#include "net/oauth2.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "net/http_client.h"
#include "net/url.h"
#include "nlohmann/json.hpp"

namespace vigil::net {
namespace {

// Go's expiryDelta: a token this close to its expiry is not used.
constexpr absl::Duration kExpiryDelta = absl::Seconds(10);

absl::StatusOr<std::string> ReadSecretFile(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("unable to read oauth2 client_secret_file \"", file,
                     "\": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

// url.Values.Encode: keys sorted, both sides query-escaped.
std::string FormEncode(const std::map<std::string, std::string>& values) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : values) {
    parts.push_back(absl::StrCat(QueryEscape(k), "=", QueryEscape(v)));
  }
  return absl::StrJoin(parts, "&");
}

// Go's url.QueryUnescape for form bodies.
std::string FormUnescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               absl::ascii_isxdigit(s[i + 1]) &&
               absl::ascii_isxdigit(s[i + 2])) {
      out += static_cast<char>(
          std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Token.Type(): the canonical spelling of the usual types.
std::string TokenType(std::string t) {
  std::string lower = absl::AsciiStrToLower(t);
  if (lower.empty() || lower == "bearer") return "Bearer";
  if (lower == "mac") return "MAC";
  if (lower == "basic") return "Basic";
  return t;
}

}  // namespace

bool OAuth2Options::operator==(const OAuth2Options& o) const {
  return client_id == o.client_id && client_secret == o.client_secret &&
         client_secret_file == o.client_secret_file && scopes == o.scopes &&
         token_url == o.token_url && endpoint_params == o.endpoint_params &&
         tls == o.tls && proxy_url == o.proxy_url;
}

OAuth2TokenSource::OAuth2TokenSource(OAuth2Options options)
    : options_(std::move(options)) {}

OAuth2TokenSource::~OAuth2TokenSource() = default;

absl::StatusOr<std::unique_ptr<OAuth2TokenSource>> OAuth2TokenSource::Create(
    OAuth2Options options) {
  std::unique_ptr<OAuth2TokenSource> s(
      new OAuth2TokenSource(std::move(options)));
  ClientOptions c;
  c.tls = s->options_.tls;
  c.proxy_url = s->options_.proxy_url;
  absl::StatusOr<std::shared_ptr<HttpClient>> client = HttpClient::Create(c);
  if (!client.ok()) {
    return absl::Status(client.status().code(),
                        absl::StrCat("oauth2: ", client.status().message()));
  }
  s->client_ = *std::move(client);
  return s;
}

int OAuth2TokenSource::fetches() const {
  absl::MutexLock l(&mu_);
  return fetches_;
}

absl::StatusOr<std::string> OAuth2TokenSource::AuthorizationHeader(
    absl::Duration timeout) {
  std::string secret = options_.client_secret;
  if (!options_.client_secret_file.empty()) {
    absl::StatusOr<std::string> s = ReadSecretFile(options_.client_secret_file);
    if (!s.ok()) return s.status();
    secret = *std::move(s);
  }
  absl::MutexLock l(&mu_);
  const bool valid = !header_.empty() && secret == secret_ &&
                     (expiry_ == absl::InfiniteFuture() ||
                      absl::Now() < expiry_ - kExpiryDelta);
  if (!valid) {
    header_.clear();
    if (absl::Status s = Fetch(secret, timeout); !s.ok()) return s;
  }
  return header_;
}

absl::Status OAuth2TokenSource::Fetch(const std::string& secret,
                                      absl::Duration timeout) {
  ++fetches_;
  if (style_ != 0) return FetchWithStyle(secret, style_ == 2, timeout);
  // Go's AuthStyleAutoDetect: the header first, then the body.
  const absl::Time start = absl::Now();
  absl::Status s = FetchWithStyle(secret, /*in_params=*/false, timeout);
  if (s.ok()) {
    style_ = 1;
    return s;
  }
  absl::Duration left = timeout;
  if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
    left = timeout - (absl::Now() - start);
    if (left <= absl::ZeroDuration()) return s;
  }
  absl::Status p = FetchWithStyle(secret, /*in_params=*/true, left);
  if (p.ok()) style_ = 2;
  return p;
}

absl::Status OAuth2TokenSource::FetchWithStyle(const std::string& secret,
                                               bool in_params,
                                               absl::Duration timeout) {
  std::map<std::string, std::string> form = options_.endpoint_params;
  form["grant_type"] = "client_credentials";
  if (!options_.scopes.empty()) {
    form["scope"] = absl::StrJoin(options_.scopes, " ");
  }
  Request req;
  req.method = "POST";
  req.url = options_.token_url;
  req.timeout = timeout;
  req.body_size_limit = 1 << 20;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  if (in_params) {
    form["client_id"] = options_.client_id;
    if (!secret.empty()) form["client_secret"] = secret;
  } else {
    req.headers.emplace_back(
        "Authorization",
        BasicAuthHeader(QueryEscape(options_.client_id), QueryEscape(secret)));
  }
  req.body = FormEncode(form);
  Response resp;
  absl::Status s = client_->Do(req, &resp);
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("oauth2: cannot fetch token: ", s.message()));
  }
  if (resp.status < 200 || resp.status > 299) {
    return absl::UnauthenticatedError(
        absl::StrCat("oauth2: cannot fetch token: ", resp.status, " ",
                     resp.reason, "\nResponse: ", resp.body));
  }
  std::string access_token, token_type;
  int64_t expires_in = 0;
  const std::string content_type = absl::AsciiStrToLower(resp.content_type);
  if (absl::StartsWith(content_type, "application/x-www-form-urlencoded") ||
      absl::StartsWith(content_type, "text/plain")) {
    for (absl::string_view kv : absl::StrSplit(resp.body, '&')) {
      std::pair<std::string, std::string> p =
          absl::StrSplit(kv, absl::MaxSplits('=', 1));
      std::string k = FormUnescape(p.first);
      std::string v = FormUnescape(p.second);
      if (k == "access_token") access_token = v;
      if (k == "token_type") token_type = v;
      if (k == "expires_in") (void)absl::SimpleAtoi(v, &expires_in);
    }
  } else {
    nlohmann::json j = nlohmann::json::parse(resp.body, nullptr,
                                             /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::UnauthenticatedError(
          absl::StrCat("oauth2: cannot parse json: token response from ",
                       options_.token_url, " is not a JSON object"));
    }
    if (auto it = j.find("access_token"); it != j.end() && it->is_string()) {
      access_token = it->get<std::string>();
    }
    if (auto it = j.find("token_type"); it != j.end() && it->is_string()) {
      token_type = it->get<std::string>();
    }
    if (auto it = j.find("expires_in"); it != j.end()) {
      if (it->is_number()) {
        expires_in = static_cast<int64_t>(it->get<double>());
      } else if (it->is_string()) {
        (void)absl::SimpleAtoi(it->get<std::string>(), &expires_in);
      }
    }
  }
  if (access_token.empty()) {
    return absl::UnauthenticatedError(
        "oauth2: server response missing access_token");
  }
  header_ = absl::StrCat(TokenType(token_type), " ", access_token);
  secret_ = secret;
  expiry_ = expires_in > 0 ? absl::Now() + absl::Seconds(expires_in)
                           : absl::InfiniteFuture();
  return absl::OkStatus();
}

}  // namespace vigil::net
