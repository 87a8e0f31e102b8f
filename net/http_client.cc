#include "net/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <cstring>
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

// A blocking view of a connected plain-TCP socket for Beast's synchronous
// algorithms: each read or write that would block waits in poll() for the
// request's deadline, in the calling thread. Plain http uses it instead of
// the connection's io_context because a scrape body arrives as many
// segments, and through the reactor each one cost a registration, an
// epoll_wait and a handler dispatch on top of the recv (a third of
// `vigil serve`'s CPU when scraping 10 x 5,000 series every second).
// Works whatever the descriptor's O_NONBLOCK flag (MSG_DONTWAIT).
class PollStream {
 public:
  PollStream(int fd, Clock::time_point deadline)
      : fd_(fd), deadline_(deadline) {}

  // Set when a wait reached the deadline (the error is then timed_out).
  bool timed_out() const { return timed_out_; }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers,
                   beast::error_code& ec) {
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers); ++it) {
      asio::mutable_buffer b = *it;
      if (b.size() > 0) return Recv(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(boost::system::system_error(ec));
    return n;
  }

  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, beast::error_code& ec) {
    iovec iov[16];
    size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers) && n < 16; ++it) {
      asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[n].iov_base = const_cast<void*>(b.data());
      iov[n].iov_len = b.size();
      ++n;
    }
    ec = {};
    if (n == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    for (;;) {
      ssize_t w = sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w >= 0) return static_cast<size_t>(w);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!Wait(POLLOUT, ec)) return 0;
        continue;
      }
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
  }
  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    beast::error_code ec;
    size_t n = write_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(boost::system::system_error(ec));
    return n;
  }

  // One recv of at most `len` bytes, waiting for data; 0 with eof when
  // the peer closed.
  size_t Recv(void* p, size_t len, beast::error_code& ec) {
    ec = {};
    for (;;) {
      ssize_t r = recv(fd_, p, len, MSG_DONTWAIT);
      if (r > 0) return static_cast<size_t>(r);
      if (r == 0) {
        ec = asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!Wait(POLLIN, ec)) return 0;
        continue;
      }
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
  }

  // Makes the socket report readable only once `n` bytes are queued (or
  // the peer closed), so a body that trickles in costs fewer wake-ups.
  // `n` must not exceed the bytes still expected, or the wait runs into
  // the deadline. Returns false if the kernel refused.
  bool SetLowWater(int n) {
    if (n == low_water_) return true;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &n, sizeof(n)) != 0) {
      return false;
    }
    low_water_ = n;
    return true;
  }
  int low_water() const { return low_water_; }

 private:
  bool Wait(short events, beast::error_code& ec) {
    for (;;) {
      int ms = -1;
      if (deadline_ != Clock::time_point::max()) {
        auto left = deadline_ - Clock::now();
        if (left <= Clock::duration::zero()) {
          timed_out_ = true;
          ec = asio::error::timed_out;
          return false;
        }
        // Rounded up: a wait of 0 ms would spin until the deadline.
        ms = static_cast<int>(
            std::chrono::ceil<std::chrono::milliseconds>(left).count());
      }
      pollfd pfd{fd_, events, 0};
      int rc = poll(&pfd, 1, ms);
      if (rc > 0) return true;  // errors and hang-ups show in the recv
      if (rc < 0 && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
        return false;
      }
    }
  }

  const int fd_;
  const Clock::time_point deadline_;
  bool timed_out_ = false;
  int low_water_ = 1;  // the kernel's default
};

// The low-water mark for the next wait of a body with `left` bytes to
// come: large enough that a body arriving in many small segments is read
// in few wake-ups, never more than what is still expected.
int BodyLowWater(size_t left) {
  constexpr size_t kMax = 128 << 10;
  return static_cast<int>(std::max<size_t>(1, std::min(left, kMax)));
}

// Reads a Content-Length body of `n` bytes into `out`: first what followed
// the header in `buffer`, then straight from the socket into `out` (one
// copy, no parser in between). The socket's low-water mark is back at 1
// when this returns without error.
void ReadBodyInto(PollStream& ps, beast::flat_buffer& buffer, size_t n,
                  std::string* out, beast::error_code& ec) {
  ec = {};
  out->resize(n);
  size_t got = std::min(buffer.size(), n);
  if (got > 0) {
    std::memcpy(out->data(), buffer.data().data(), got);
    buffer.consume(got);
  }
  while (got < n) {
    if (!ps.SetLowWater(BodyLowWater(n - got))) ps.SetLowWater(1);
    size_t r = ps.Recv(out->data() + got, n - got, ec);
    if (ec) return;
    got += r;
  }
  if (!ps.SetLowWater(1)) ec = asio::error::fault;
}

bool IsGzip(const http::response<http::string_body>& res) {
  auto ce = res.find(http::field::content_encoding);
  return ce != res.end() &&
         absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                    ce->value().data(), ce->value().size())),
                                "gzip");
}

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

  // Plain http is driven synchronously with poll() (see PollStream); TLS
  // goes through the connection's io_context.
  std::optional<PollStream> ps;
  if (!https) ps.emplace(conn->socket().native_handle(), deadline);
  done = false;
  auto on_write = [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  };
  if (https) {
    http::async_write(*conn->tls, req, on_write);
    if (!conn->RunUntil(deadline, &done)) {
      return timeout("sending request", request.timeout);
    }
  } else {
    http::write(*ps, req, ec);
    if (ps->timed_out()) {
      conn->Close();
      return timeout("sending request", request.timeout);
    }
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
    if (!conn->RunUntil(deadline, &done)) {
      return timeout("reading response", request.timeout);
    }
  } else {
    http::read_header(*ps, conn->buffer, parser, ec);
  }
  if (!ec && limit > 0 && parser.content_length() &&
      *parser.content_length() > static_cast<uint64_t>(limit)) {
    ec = http::error::body_limit;
  }
  // A Content-Length body over plain http is read past the parser, into
  // the buffer it ends up in (the caller's body when not compressed).
  const bool gzip = request.accept_gzip && IsGzip(parser.get());
  std::string raw_body;
  bool body_read = false;
  if (!ec && !parser.is_done()) {
    if (https) {
      done = false;
      http::async_read(*conn->tls, conn->buffer, parser, on_read);
      if (!conn->RunUntil(deadline, &done)) {
        return timeout("reading response", request.timeout);
      }
    } else if (parser.content_length() && !parser.chunked()) {
      ReadBodyInto(*ps, conn->buffer,
                   static_cast<size_t>(*parser.content_length()),
                   gzip ? &raw_body : &response->body, ec);
      if (ec == asio::error::eof) ec = http::error::partial_message;
      body_read = true;
    } else {
      http::read(*ps, conn->buffer, parser, ec);
    }
  }
  if (ps && ps->timed_out()) {
    conn->Close();
    if (body_read && !gzip) response->body.clear();
    return timeout("reading response", request.timeout);
  }
  if (ec) {
    if (ec == http::error::body_limit) {
      return error(absl::StatusCode::kResourceExhausted,
                   absl::StrCat("body size limit exceeded: body is larger "
                                "than ",
                                limit, " bytes"));
    }
    if (body_read && !gzip) response->body.clear();
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
  // Bytes past the body mean a confused server: do not reuse.
  const bool keep = res.keep_alive() && conn->buffer.size() == 0;

  response->status = static_cast<int>(res.result_int());
  response->reason.assign(res.reason().data(), res.reason().size());
  auto ct = res.find(http::field::content_type);
  if (ct == res.end()) {
    response->content_type.clear();
  } else {
    response->content_type.assign(ct->value().data(), ct->value().size());
  }
  if (gzip) {
    absl::Status s = GunzipLimited(body_read ? raw_body : res.body(), limit,
                                   &response->body);
    if (!s.ok()) {
      response->body.clear();
      return error(s.code(), s.message());
    }
  } else if (!body_read) {
    response->body = std::move(res.body());
  }
  if (keep && conn->open()) {
    // An idle connection keeps no read buffer (up to 64 KiB each).
    conn->buffer.shrink_to_fit();
    PutIdle(key, std::move(conn));
  }
  return absl::OkStatus();
}

}  // namespace vigil::net
