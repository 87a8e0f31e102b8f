#include "net/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "absl/base/call_once.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "net/gzip.h"
#include "net/url.h"

namespace vigil::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace internal {

struct TlsContext {
  ssl::context ctx{ssl::context::tls_client};
  // The system trust store is loaded before the first https connection
  // that needs it, not at Create (see ConfigureClientTls).
  bool needs_system_roots = false;
  absl::once_flag system_roots_once;
  absl::Status system_roots_status;
};

// One connection with its own io_context, so that whichever thread holds
// it can drive it to completion without a shared event loop. Declaration
// order matters: the streams must be destroyed before the io_context.
struct Conn {
  asio::io_context ioc;
  std::optional<beast::tcp_stream> tcp;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since;

  tcp::socket& socket() {
    return tls ? beast::get_lowest_layer(*tls).socket() : tcp->socket();
  }
  bool open() { return (tcp || tls) && socket().is_open(); }
  void Close() {
    if (tcp || tls) {
      beast::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_both, ignored);
      socket().close(ignored);
    }
  }
  ~Conn() { Close(); }

  // Runs the io_context until `*done` or `deadline`. On timeout cancels
  // the pending operation (by closing the socket), drains its handler and
  // returns false; the connection is then unusable.
  bool RunUntil(Clock::time_point deadline, const bool* done,
                tcp::resolver* resolver = nullptr) {
    ioc.restart();
    while (!*done && Clock::now() < deadline) {
      if (ioc.run_one_until(deadline) == 0 && ioc.stopped()) break;
    }
    if (*done) return true;
    if (resolver != nullptr) resolver->cancel();
    Close();
    ioc.restart();
    ioc.run();
    return false;
  }
};

}  // namespace internal

namespace {

Clock::time_point ToDeadline(absl::Duration d) {
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return Clock::time_point::max();
  }
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            absl::ToChronoNanoseconds(d));
}

// "Get", "Post": Go's spelling in client errors.
std::string GoMethod(absl::string_view method) {
  std::string m = absl::AsciiStrToLower(method);
  if (!m.empty()) m[0] = absl::ascii_toupper(m[0]);
  return m;
}

bool IsIpAddress(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

absl::StatusOr<std::string> ReadSecret(const std::string& file,
                                       absl::string_view what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "unable to read ", what, " \"", file, "\": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

// The Authorization header for `auth`, or "" for none.
absl::StatusOr<std::string> AuthHeader(const ClientAuth& auth) {
  if (!auth.username.empty() || !auth.password.empty() ||
      !auth.password_file.empty()) {
    std::string password = auth.password;
    if (!auth.password_file.empty()) {
      absl::StatusOr<std::string> p =
          ReadSecret(auth.password_file, "basic auth password file");
      if (!p.ok()) return p.status();
      password = *std::move(p);
    }
    return BasicAuthHeader(auth.username, password);
  }
  std::string cred = auth.credentials;
  if (!auth.credentials_file.empty()) {
    absl::StatusOr<std::string> c =
        ReadSecret(auth.credentials_file, "credentials file");
    if (!c.ok()) return c.status();
    cred = *std::move(c);
  }
  if (cred.empty()) return std::string();
  return absl::StrCat(auth.type.empty() ? "Bearer" : auth.type, " ", cred);
}

// Why a TLS handshake failed, in words: certificate verification results
// first (they explain most failures), then OpenSSL's own reason.
std::string HandshakeError(SSL* ssl, const beast::error_code& ec) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return absl::StrCat("tls: failed to verify certificate: ",
                        X509_verify_cert_error_string(verify));
  }
  return absl::StrCat("tls: handshake failed: ", ec.message());
}

using BeastRequest = http::request<http::string_body>;

}  // namespace

std::string DefaultUserAgent() { return absl::StrCat("Vigil/", kVigilVersion); }

std::string BasicAuthHeader(absl::string_view user, absl::string_view pass) {
  return absl::StrCat("Basic ",
                      absl::Base64Escape(absl::StrCat(user, ":", pass)));
}

bool ClientAuth::operator==(const ClientAuth& o) const {
  return username == o.username && password == o.password &&
         password_file == o.password_file && type == o.type &&
         credentials == o.credentials && credentials_file == o.credentials_file;
}

HttpClient::HttpClient(ClientOptions options) : options_(std::move(options)) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<std::shared_ptr<HttpClient>> HttpClient::Create(
    ClientOptions options) {
  std::shared_ptr<HttpClient> c(new HttpClient(std::move(options)));
  c->tls_ = std::make_unique<internal::TlsContext>();
  absl::Status s =
      ConfigureClientTls(c->options_.tls, c->tls_->ctx.native_handle(),
                         /*load_system_roots=*/false);
  if (!s.ok()) return s;
  c->tls_->needs_system_roots =
      c->options_.tls.ca_file.empty() && !c->options_.tls.insecure_skip_verify;
  return c;
}

int HttpClient::idle_connections() const {
  absl::MutexLock l(&mu_);
  return idle_total_;
}

void HttpClient::CloseIdleConnections() {
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<Conn>>> old;
  {
    absl::MutexLock l(&mu_);
    old.swap(idle_);
    idle_total_ = 0;
  }
}

std::unique_ptr<HttpClient::Conn> HttpClient::TakeIdle(const std::string& key) {
  std::vector<std::unique_ptr<Conn>> expired;  // closed outside the lock
  std::unique_ptr<Conn> conn;
  const Clock::time_point now = Clock::now();
  const auto max_idle = std::chrono::duration_cast<Clock::duration>(
      absl::ToChronoNanoseconds(options_.idle_timeout));
  absl::MutexLock l(&mu_);
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  std::vector<std::unique_ptr<Conn>>& v = it->second;
  while (!v.empty() && conn == nullptr) {
    std::unique_ptr<Conn> c = std::move(v.back());
    v.pop_back();
    --idle_total_;
    if (now - c->idle_since > max_idle) {
      expired.push_back(std::move(c));
    } else {
      conn = std::move(c);
    }
  }
  if (v.empty()) idle_.erase(it);
  return conn;
}

void HttpClient::PutIdle(const std::string& key, std::unique_ptr<Conn> conn) {
  conn->idle_since = Clock::now();
  absl::MutexLock l(&mu_);
  if (idle_total_ >= options_.max_idle_total) return;
  std::vector<std::unique_ptr<Conn>>& v = idle_[key];
  if (static_cast<int>(v.size()) >= options_.max_idle_per_host) return;
  v.push_back(std::move(conn));
  ++idle_total_;
}

absl::Status HttpClient::Do(const Request& request, Response* response) {
  absl::StatusOr<Url> url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  // A kept-alive connection may have been closed by the server while idle;
  // a failure on it before any response byte is retried once on a fresh
  // connection (DoOnce only takes idle connections on the first attempt).
  bool retry = false;
  absl::Status s = DoOnce(request, *url, /*reuse=*/true, response, &retry);
  if (!s.ok() && retry) {
    s = DoOnce(request, *url, /*reuse=*/false, response, &retry);
  }
  return s;
}

absl::Status HttpClient::DoOnce(const Request& request, const Url& url,
                                bool reuse, Response* response, bool* retry) {
  *retry = false;
  const std::string what =
      absl::StrCat(GoMethod(request.method), " \"", request.url, "\"");
  auto error = [&](absl::StatusCode code, absl::string_view msg) {
    return absl::Status(code, absl::StrCat(what, ": ", msg));
  };
  // Once per client, outside the request's deadlines: see TlsContext.
  if (url.scheme == "https" && tls_->needs_system_roots) {
    internal::TlsContext* t = tls_.get();
    absl::call_once(t->system_roots_once, [t] {
      if (SSL_CTX_set_default_verify_paths(t->ctx.native_handle()) != 1) {
        t->system_roots_status =
            absl::InternalError("cannot load the system trust store");
      }
    });
    if (!t->system_roots_status.ok()) {
      return error(absl::StatusCode::kInternal,
                   t->system_roots_status.message());
    }
  }
  const Clock::time_point deadline = ToDeadline(request.timeout);
  Clock::time_point connect_deadline = deadline;
  if (request.connect_timeout > absl::ZeroDuration()) {
    connect_deadline = std::min(deadline, ToDeadline(request.connect_timeout));
  }
  auto timeout = [&](absl::string_view phase, absl::Duration limit) {
    return error(absl::StatusCode::kDeadlineExceeded,
                 absl::StrCat("context deadline exceeded (", phase, " after ",
                              absl::FormatDuration(limit), ")"));
  };

  http::verb verb = http::string_to_verb(
      beast::string_view(request.method.data(), request.method.size()));
  if (verb == http::verb::unknown) {
    return error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("unknown method \"", request.method, "\""));
  }
  BeastRequest req{verb, url.target, 11};
  req.set(http::field::host, url.HostHeader());
  req.set(http::field::user_agent, options_.user_agent);
  if (request.accept_gzip) req.set(http::field::accept_encoding, "gzip");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  absl::StatusOr<std::string> auth = AuthHeader(options_.auth);
  if (!auth.ok()) return error(auth.status().code(), auth.status().message());
  if (!auth->empty()) req.set(http::field::authorization, *auth);
  if (!request.body.empty() || verb == http::verb::post ||
      verb == http::verb::put) {
    req.body() = request.body;
    req.prepare_payload();
  }
  req.keep_alive(true);

  const bool https = url.scheme == "https";
  const std::string key = absl::StrCat(url.scheme, "://", url.HostPort());
  std::unique_ptr<Conn> conn;
  if (reuse) conn = TakeIdle(key);
  const bool reused = conn != nullptr;
  bool done = false;
  beast::error_code ec;

  if (!reused) {
    conn = std::make_unique<Conn>();
    tcp::resolver resolver(conn->ioc);
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(
        url.host, url.port,
        [&](beast::error_code e, tcp::resolver::results_type r) {
          ec = e;
          endpoints = std::move(r);
          done = true;
        });
    const absl::Duration connect_limit = connect_deadline == deadline
                                             ? request.timeout
                                             : request.connect_timeout;
    if (!conn->RunUntil(connect_deadline, &done, &resolver)) {
      return timeout("resolving host", connect_limit);
    }
    if (ec) {
      return error(
          absl::StatusCode::kUnavailable,
          absl::StrCat("dial tcp: lookup ", url.host, ": ", ec.message()));
    }
    if (https) {
      conn->tls.emplace(conn->ioc, tls_->ctx);
    } else {
      conn->tcp.emplace(conn->ioc);
    }
    beast::tcp_stream& lowest =
        https ? beast::get_lowest_layer(*conn->tls) : *conn->tcp;
    done = false;
    lowest.async_connect(endpoints,
                         [&](beast::error_code e, const tcp::endpoint&) {
                           ec = e;
                           done = true;
                         });
    if (!conn->RunUntil(connect_deadline, &done)) {
      return timeout("connecting", connect_limit);
    }
    if (ec) {
      return error(absl::StatusCode::kUnavailable,
                   absl::StrCat("dial tcp ", url.HostPort(),
                                ": connect: ", ec.message()));
    }
    beast::error_code ignored;
    conn->socket().set_option(tcp::no_delay(true), ignored);
    ++connections_opened_;
    if (https) {
      SSL* ssl = conn->tls->native_handle();
      const std::string& name = options_.tls.server_name.empty()
                                    ? url.host
                                    : options_.tls.server_name;
      const bool ip = IsIpAddress(name);
      // SNI carries DNS names only (RFC 6066), as in Go.
      if (!ip) SSL_set_tlsext_host_name(ssl, name.c_str());
      if (!options_.tls.insecure_skip_verify) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                                    name.c_str())
                    : SSL_set1_host(ssl, name.c_str());
        if (ok != 1) {
          return error(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("tls: bad server name \"", name, "\""));
        }
      }
      done = false;
      conn->tls->async_handshake(ssl::stream_base::client,
                                 [&](beast::error_code e) {
                                   ec = e;
                                   done = true;
                                 });
      if (!conn->RunUntil(connect_deadline, &done)) {
        return timeout("TLS handshake", connect_limit);
      }
      if (ec) {
        return error(absl::StatusCode::kUnavailable,
                     absl::StrCat("TLS handshake with ", url.HostPort(), ": ",
                                  HandshakeError(ssl, ec)));
      }
    }
  }

  // A server that closed an idle kept-alive connection shows up as a
  // failed write or an empty read on it.
  auto closed_while_idle = [&](const beast::error_code& e, bool got_some) {
    return reused && !got_some &&
           (e == http::error::end_of_stream || e == asio::error::eof ||
            e == asio::error::connection_reset ||
            e == asio::error::broken_pipe || e == ssl::error::stream_truncated);
  };

  done = false;
  auto on_write = [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  };
  if (https) {
    http::async_write(*conn->tls, req, on_write);
  } else {
    http::async_write(*conn->tcp, req, on_write);
  }
  if (!conn->RunUntil(deadline, &done)) {
    return timeout("sending request", request.timeout);
  }
  if (ec) {
    if (reused) {
      *retry = true;
    }
    return error(absl::StatusCode::kUnavailable,
                 absl::StrCat("write: ", ec.message()));
  }

  http::response_parser<http::string_body> parser;
  parser.header_limit(64 << 10);
  // The wire limit equals the configured limit: a compressed body larger
  // than the limit cannot inflate to less in practice, and the inflated
  // size is checked again below.
  const int64_t limit = request.body_size_limit;
  // Not boost::none: Boost 1.74 compares Content-Length against the
  // optional and treats "none" as smaller than everything.
  parser.body_limit(limit > 0 ? static_cast<uint64_t>(limit)
                              : std::numeric_limits<uint64_t>::max());
  if (verb == http::verb::head) parser.skip(true);
  auto on_read = [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  };
  done = false;
  // Header first: Boost 1.74's parser loses its body_limit error for
  // Content-Length bodies, so that case is checked here.
  if (https) {
    http::async_read_header(*conn->tls, conn->buffer, parser, on_read);
  } else {
    http::async_read_header(*conn->tcp, conn->buffer, parser, on_read);
  }
  if (!conn->RunUntil(deadline, &done)) {
    return timeout("reading response", request.timeout);
  }
  if (!ec && limit > 0 && parser.content_length() &&
      *parser.content_length() > static_cast<uint64_t>(limit)) {
    ec = http::error::body_limit;
  }
  if (!ec && !parser.is_done()) {
    done = false;
    if (https) {
      http::async_read(*conn->tls, conn->buffer, parser, on_read);
    } else {
      http::async_read(*conn->tcp, conn->buffer, parser, on_read);
    }
    if (!conn->RunUntil(deadline, &done)) {
      return timeout("reading response", request.timeout);
    }
  }
  if (ec) {
    if (ec == http::error::body_limit) {
      return error(absl::StatusCode::kResourceExhausted,
                   absl::StrCat("body size limit exceeded: body is larger "
                                "than ",
                                limit, " bytes"));
    }
    if (closed_while_idle(ec, parser.got_some())) {
      *retry = true;
      return error(absl::StatusCode::kUnavailable,
                   "connection closed by server");
    }
    return error(parser.got_some() ? absl::StatusCode::kDataLoss
                                   : absl::StatusCode::kUnavailable,
                 absl::StrCat("read: ", ec.message()));
  }
  http::response<http::string_body> res = parser.release();
  const bool keep = res.keep_alive();

  response->status = static_cast<int>(res.result_int());
  response->reason = std::string(res.reason());
  auto ct = res.find(http::field::content_type);
  response->content_type =
      ct == res.end() ? std::string() : std::string(ct->value());
  auto ce = res.find(http::field::content_encoding);
  if (request.accept_gzip && ce != res.end() &&
      absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                 ce->value().data(), ce->value().size())),
                             "gzip")) {
    absl::Status s = GunzipLimited(res.body(), limit, &response->body);
    if (!s.ok()) {
      response->body.clear();
      return error(s.code(), s.message());
    }
  } else {
    response->body = std::move(res.body());
  }
  if (keep && conn->open()) PutIdle(key, std::move(conn));
  return absl::OkStatus();
}

}  // namespace vigil::net
