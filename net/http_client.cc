#include "net/http_client.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
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
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "net/gzip.h"
#include "net/url.h"

namespace vigil::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace internal {

struct TlsContext {
  SSL_CTX* ctx = nullptr;
  // The system trust store is loaded before the first https connection
  // that needs it, not at Create (see ConfigureClientTls).
  bool needs_system_roots = false;
  absl::once_flag system_roots_once;
  absl::Status system_roots_status;

  ~TlsContext() { SSL_CTX_free(ctx); }
};

// One connection. Asio is used only to resolve and connect (each
// connection has its own io_context, so whichever thread holds it can
// drive it without a shared event loop); requests and responses, TLS
// included, are then read and written synchronously by the calling thread
// (see SyncStream). Declaration order matters: the socket must be
// destroyed before the io_context.
struct Conn {
  asio::io_context ioc;
  std::optional<tcp::socket> socket;
  SSL* ssl = nullptr;  // owned; https only
  beast::flat_buffer buffer;
  Clock::time_point idle_since;

  int fd() { return socket->native_handle(); }
  bool open() { return socket && socket->is_open(); }
  void Close() {
    if (socket) {
      boost::system::error_code ignored;
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->close(ignored);
    }
  }
  ~Conn() {
    if (ssl != nullptr) SSL_free(ssl);
    Close();
  }

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
  boost::system::error_code ec;
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

// The oldest entry of this thread's OpenSSL error queue, which is then
// cleared, or "" when it is empty.
std::string TakeOpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// Why a TLS handshake failed, in words: certificate verification results
// first (they explain most failures), then OpenSSL's own reason.
std::string HandshakeError(SSL* ssl, const beast::error_code& ec,
                           const std::string& openssl_error) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return absl::StrCat("tls: failed to verify certificate: ",
                        X509_verify_cert_error_string(verify));
  }
  if (!openssl_error.empty()) {
    return absl::StrCat("tls: handshake failed: ", openssl_error);
  }
  return absl::StrCat("tls: handshake failed: ", ec.message());
}

// A socket BIO that writes with MSG_NOSIGNAL: OpenSSL's own socket BIO
// uses write(), and a server that closed a kept-alive connection would
// then kill the process with SIGPIPE instead of failing the write.
int SockBioWrite(BIO* b, const char* data, int len) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  BIO_clear_retry_flags(b);
  ssize_t w;
  do {
    w = send(fd, data, static_cast<size_t>(len), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    BIO_set_retry_write(b);
  }
  return static_cast<int>(w);
}

int SockBioRead(BIO* b, char* data, int len) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  BIO_clear_retry_flags(b);
  ssize_t r;
  do {
    r = recv(fd, data, static_cast<size_t>(len), MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    BIO_set_retry_read(b);
  }
  return static_cast<int>(r);
}

long SockBioCtrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int SockBioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* SockBioMethod() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "vigil socket");
    BIO_meth_set_write(m, SockBioWrite);
    BIO_meth_set_read(m, SockBioRead);
    BIO_meth_set_ctrl(m, SockBioCtrl);
    BIO_meth_set_create(m, SockBioCreate);
    return m;
  }();
  return method;
}

using BeastRequest = http::request<http::string_body>;

// A blocking view of a connected socket, plain or TLS, for Beast's
// synchronous algorithms: each read or write that would block waits in
// poll() for the request's deadline, in the calling thread. The
// connection's io_context is not used past connect because a scrape body
// arrives as many segments, and through the reactor each one cost a
// registration, an epoll_wait and a handler dispatch on top of the recv (a
// third of `vigil serve`'s CPU when scraping 10 x 5,000 series every
// second). TLS runs OpenSSL's non-blocking SSL_read/SSL_write on the
// non-blocking socket, waiting for whichever direction OpenSSL asks for.
class SyncStream {
 public:
  // `ssl` is null for plain TCP. The socket must be non-blocking when
  // `ssl` is set (plain TCP uses MSG_DONTWAIT and works either way).
  SyncStream(int fd, SSL* ssl, Clock::time_point deadline)
      : fd_(fd), ssl_(ssl), deadline_(deadline) {}

  // Set when a wait reached the deadline (the error is then timed_out).
  bool timed_out() const { return timed_out_; }
  // OpenSSL's reason for the last TLS failure, "" if none.
  const std::string& tls_error() const { return tls_error_; }

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
    ec = {};
    if (ssl_ != nullptr) {
      // SSL_write takes one buffer: the (small) header pieces Beast hands
      // over are gathered into one TLS record; large bodies go as they are.
      auto it = asio::buffer_sequence_begin(buffers);
      auto end = asio::buffer_sequence_end(buffers);
      while (it != end && asio::const_buffer(*it).size() == 0) ++it;
      if (it == end) return 0;
      asio::const_buffer first = *it;
      if (first.size() >= kGather)
        return TlsWrite(first.data(), first.size(), ec);
      gather_.clear();
      for (; it != end && gather_.size() < kGather; ++it) {
        asio::const_buffer b = *it;
        size_t take = std::min(b.size(), kGather - gather_.size());
        gather_.append(static_cast<const char*>(b.data()), take);
      }
      return TlsWrite(gather_.data(), gather_.size(), ec);
    }
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

  // One read of at most `len` bytes, waiting for data; 0 with eof when
  // the peer closed.
  size_t Recv(void* p, size_t len, beast::error_code& ec) {
    ec = {};
    if (ssl_ != nullptr) return TlsRead(p, len, ec);
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

  // The TLS client handshake, waiting as OpenSSL asks.
  void Handshake(beast::error_code& ec) {
    ec = {};
    for (;;) {
      ERR_clear_error();
      errno = 0;  // SSL_ERROR_SYSCALL reads it
      int r = SSL_connect(ssl_);
      if (r == 1) return;
      if (!WaitForTls(r, ec)) return;
    }
  }

  // Makes the socket report readable only once `n` bytes are queued (or
  // the peer closed), so a body that trickles in costs fewer wake-ups.
  // `n` must not exceed the bytes still expected, or the wait runs into
  // the deadline. Returns false if the kernel refused. TLS streams keep
  // the default: OpenSSL may hold part of a record already, so the bytes
  // still on the wire are not known exactly.
  bool SetLowWater(int n) {
    if (ssl_ != nullptr) return true;
    if (n == low_water_) return true;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &n, sizeof(n)) != 0) {
      return false;
    }
    low_water_ = n;
    return true;
  }

 private:
  static constexpr size_t kGather = 16 << 10;

  size_t TlsRead(void* p, size_t len, beast::error_code& ec) {
    const int n = static_cast<int>(
        std::min<size_t>(len, std::numeric_limits<int>::max()));
    for (;;) {
      ERR_clear_error();
      errno = 0;  // SSL_ERROR_SYSCALL reads it
      int r = SSL_read(ssl_, p, n);
      if (r > 0) return static_cast<size_t>(r);
      if (!WaitForTls(r, ec)) return 0;
    }
  }

  size_t TlsWrite(const void* p, size_t len, beast::error_code& ec) {
    const int n = static_cast<int>(
        std::min<size_t>(len, std::numeric_limits<int>::max()));
    for (;;) {
      ERR_clear_error();
      errno = 0;  // SSL_ERROR_SYSCALL reads it
      int r = SSL_write(ssl_, p, n);
      if (r > 0) return static_cast<size_t>(r);
      if (!WaitForTls(r, ec)) return 0;
    }
  }

  // After an SSL_* call returned `r` <= 0: waits if OpenSSL wants to read
  // or write and returns true to retry; otherwise sets `ec` and returns
  // false. A peer that closed (with or without close_notify) reads as eof,
  // as a plain socket would, so idle-closed connections are recognised.
  bool WaitForTls(int r, beast::error_code& ec) {
    const int saved_errno = errno;
    switch (SSL_get_error(ssl_, r)) {
      case SSL_ERROR_WANT_READ:
        return Wait(POLLIN, ec);
      case SSL_ERROR_WANT_WRITE:
        return Wait(POLLOUT, ec);
      case SSL_ERROR_ZERO_RETURN:
        ec = asio::error::eof;
        return false;
      case SSL_ERROR_SYSCALL:
        tls_error_ = TakeOpenSslError();
        if (saved_errno == EINTR) return true;
        if (saved_errno != 0 && saved_errno != EAGAIN) {
          ec.assign(saved_errno, boost::system::system_category());
        } else {
          ec = asio::error::eof;  // the peer closed without close_notify
        }
        return false;
      default:
        tls_error_ = TakeOpenSslError();
        if (tls_error_.empty()) tls_error_ = "TLS protocol error";
        ec = asio::error::no_protocol_option;
        return false;
    }
  }

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
      if (rc > 0) return true;  // errors and hang-ups show in the read
      if (rc < 0 && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
        return false;
      }
    }
  }

  const int fd_;
  SSL* const ssl_;
  const Clock::time_point deadline_;
  bool timed_out_ = false;
  int low_water_ = 1;  // the kernel's default
  std::string tls_error_;
  std::string gather_;
};

// The low-water mark for the next wait of a body with `left` bytes to
// come: large enough that a body arriving in many small segments is read
// in few wake-ups, never more than what is still expected.
int BodyLowWater(size_t left) {
  constexpr size_t kMax = 128 << 10;
  return static_cast<int>(std::max<size_t>(1, std::min(left, kMax)));
}

// Reads a Content-Length body of `n` bytes into `out`: first what followed
// the header in `buffer`, then straight from the stream into `out` (one
// copy, no parser in between). The socket's low-water mark is back at 1
// when this returns without error.
void ReadBodyInto(SyncStream& ss, beast::flat_buffer& buffer, size_t n,
                  std::string* out, beast::error_code& ec) {
  ec = {};
  out->resize(n);
  size_t got = std::min(buffer.size(), n);
  if (got > 0) {
    std::memcpy(out->data(), buffer.data().data(), got);
    buffer.consume(got);
  }
  while (got < n) {
    if (!ss.SetLowWater(BodyLowWater(n - got))) ss.SetLowWater(1);
    size_t r = ss.Recv(out->data() + got, n - got, ec);
    if (ec) return;
    got += r;
  }
  if (!ss.SetLowWater(1)) ec = asio::error::fault;
}

bool IsGzip(const http::response<http::string_body>& res) {
  auto ce = res.find(http::field::content_encoding);
  return ce != res.end() &&
         absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                    ce->value().data(), ce->value().size())),
                                "gzip");
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

// The URL a Location header points to, resolved against `base` (RFC 3986
// reference resolution for the forms servers send: absolute, scheme
// relative, absolute path, relative path, query only).
std::string ResolveLocation(const Url& base, absl::string_view location) {
  location = absl::StripAsciiWhitespace(location);
  if (absl::StrContains(location.substr(0, location.find_first_of("/?#")),
                        ":")) {
    return std::string(location);  // has a scheme
  }
  if (absl::StartsWith(location, "//")) {
    return absl::StrCat(base.scheme, ":", location);
  }
  const std::string origin = absl::StrCat(base.scheme, "://", base.HostPort());
  if (absl::StartsWith(location, "/")) return absl::StrCat(origin, location);
  absl::string_view path = base.target;
  path = path.substr(0, path.find('?'));
  if (location.empty() || location[0] == '?' || location[0] == '#') {
    return absl::StrCat(origin, path, location);
  }
  path = path.substr(0, path.rfind('/') + 1);
  return absl::StrCat(origin, path, location);
}

// The proxy's "Basic ..." credentials from its URL's userinfo, or "".
std::string ProxyAuthorization(const Url& proxy) {
  if (proxy.userinfo.empty()) return "";
  absl::string_view userinfo = proxy.userinfo;
  const size_t colon = userinfo.find(':');
  absl::string_view user = userinfo.substr(0, colon);
  absl::string_view pass = colon == absl::string_view::npos
                               ? absl::string_view()
                               : userinfo.substr(colon + 1);
  return BasicAuthHeader(user, pass);
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
  if (!c->options_.proxy_url.empty()) {
    absl::StatusOr<Url> p = ParseUrl(c->options_.proxy_url);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("proxy_url: ", p.status().message()));
    }
    if (p->scheme != "http") {
      return absl::InvalidArgumentError(absl::StrCat(
          "proxy_url \"", c->options_.proxy_url,
          "\": only http:// proxies are supported (the proxy tunnels "
          "https targets with CONNECT)"));
    }
    c->proxy_authorization_ = ProxyAuthorization(*p);
    c->proxy_ = std::make_unique<Url>(*std::move(p));
  }
  if (c->options_.oauth2) {
    absl::StatusOr<std::unique_ptr<OAuth2TokenSource>> ts =
        OAuth2TokenSource::Create(*c->options_.oauth2);
    if (!ts.ok()) return ts.status();
    c->oauth2_ = *std::move(ts);
  }
  c->tls_ = std::make_unique<internal::TlsContext>();
  c->tls_->ctx = SSL_CTX_new(TLS_client_method());
  if (c->tls_->ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("creating a TLS context: ", TakeOpenSslError()));
  }
  // Partial and moved writes: SyncStream retries a write from wherever
  // the caller's buffer now is.
  SSL_CTX_set_mode(c->tls_->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                     SSL_MODE_AUTO_RETRY);
  // A peer closing without close_notify reads as end of stream, as in Go;
  // HTTP's own framing (Content-Length, chunks) catches truncated bodies,
  // and a kept-alive connection the server dropped must look closed so
  // the request is retried.
  SSL_CTX_set_options(c->tls_->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  absl::Status s = ConfigureClientTls(c->options_.tls, c->tls_->ctx,
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
  // Redirects are followed as Go's client does for Prometheus (at most
  // 10; 301/302/303 turn a POST into a body-less GET; 307/308 repeat the
  // request). Credentials go only to the host the request was made for:
  // both the client's auth and an Authorization header given in the
  // request are dropped once a redirect leaves it.
  const Request* current = &request;
  std::optional<Request> redirected;
  const std::string first_host = url->HostPort();
  const absl::Time start = absl::Now();
  for (int redirects = 0;; ++redirects) {
    const bool same_host = url->HostPort() == first_host;
    // A kept-alive connection may have been closed by the server while
    // idle; a failure on it before any response byte is retried once on a
    // fresh connection (DoOnce takes idle connections on the first try).
    bool retry = false;
    absl::Status s =
        DoOnce(*current, *url, /*reuse=*/true, same_host, response, &retry);
    if (!s.ok() && retry) {
      s = DoOnce(*current, *url, /*reuse=*/false, same_host, response, &retry);
    }
    if (!s.ok() || !options_.follow_redirects ||
        !IsRedirect(response->status) || response->location.empty()) {
      return s;
    }
    const std::string what =
        absl::StrCat(GoMethod(current->method), " \"", current->url, "\"");
    if (redirects == 10) {
      return absl::UnavailableError(
          absl::StrCat(what, ": stopped after 10 redirects"));
    }
    std::string next = ResolveLocation(*url, response->location);
    absl::StatusOr<Url> next_url = ParseUrl(next);
    if (!next_url.ok()) {
      return absl::UnavailableError(absl::StrCat(
          what, ": failed to follow redirect: ", next_url.status().message()));
    }
    Request r = *current;
    r.url = std::move(next);
    // The remaining time: the request's timeout covers all hops.
    const bool bounded = request.timeout > absl::ZeroDuration() &&
                         request.timeout != absl::InfiniteDuration();
    if (bounded) r.timeout = request.timeout - (absl::Now() - start);
    if (bounded && r.timeout <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          what, ": context deadline exceeded (following redirects after ",
          absl::FormatDuration(request.timeout), ")"));
    }
    const std::string method = absl::AsciiStrToUpper(r.method);
    if ((response->status == 301 || response->status == 302) &&
        method == "POST") {
      r.method = "GET";
      r.body.clear();
    } else if (response->status == 303 && method != "GET" && method != "HEAD") {
      r.method = "GET";
      r.body.clear();
    }
    if (next_url->HostPort() != first_host) {
      r.headers.erase(
          std::remove_if(r.headers.begin(), r.headers.end(),
                         [](const std::pair<std::string, std::string>& h) {
                           return absl::EqualsIgnoreCase(h.first,
                                                         "authorization");
                         }),
          r.headers.end());
    }
    redirected = std::move(r);
    current = &*redirected;
    url = *std::move(next_url);
  }
}

absl::Status HttpClient::DoOnce(const Request& request, const Url& url,
                                bool reuse, bool send_auth, Response* response,
                                bool* retry) {
  *retry = false;
  response->location.clear();
  const std::string what =
      absl::StrCat(GoMethod(request.method), " \"", request.url, "\"");
  auto error = [&](absl::StatusCode code, absl::string_view msg) {
    return absl::Status(code, absl::StrCat(what, ": ", msg));
  };
  // Once per client, outside the request's deadlines: see TlsContext.
  if (url.scheme == "https" && tls_->needs_system_roots) {
    internal::TlsContext* t = tls_.get();
    absl::call_once(t->system_roots_once, [t] {
      if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        t->system_roots_status =
            absl::InternalError("cannot load the system trust store");
      }
      ERR_clear_error();
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
  const bool https = url.scheme == "https";
  // Plain http through a proxy sends the absolute URL to the proxy; https
  // is tunnelled with CONNECT and then looks like a direct connection.
  const bool via_proxy = proxy_ != nullptr;
  const std::string target =
      via_proxy && !https
          ? absl::StrCat(url.scheme, "://", url.HostHeader(), url.target)
          : url.target;
  BeastRequest req{verb, target, 11};
  req.set(http::field::host, url.HostHeader());
  req.set(http::field::user_agent, options_.user_agent);
  if (request.accept_gzip) req.set(http::field::accept_encoding, "gzip");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  if (send_auth) {
    absl::StatusOr<std::string> auth =
        oauth2_ != nullptr ? oauth2_->AuthorizationHeader(request.timeout)
                           : AuthHeader(options_.auth);
    if (!auth.ok()) return error(auth.status().code(), auth.status().message());
    if (!auth->empty()) req.set(http::field::authorization, *auth);
  }
  if (via_proxy && !https && !proxy_authorization_.empty()) {
    req.set(http::field::proxy_authorization, proxy_authorization_);
  }
  if (!request.body.empty() || verb == http::verb::post ||
      verb == http::verb::put) {
    req.body() = request.body;
    req.prepare_payload();
  }
  req.keep_alive(true);

  const std::string key = via_proxy
                              ? absl::StrCat(url.scheme, "://", url.HostPort(),
                                             " via ", proxy_->HostPort())
                              : absl::StrCat(url.scheme, "://", url.HostPort());
  std::unique_ptr<Conn> conn;
  if (reuse) conn = TakeIdle(key);
  const bool reused = conn != nullptr;
  bool done = false;
  beast::error_code ec;

  if (!reused) {
    const std::string& dial_host = via_proxy ? proxy_->host : url.host;
    const std::string& dial_port = via_proxy ? proxy_->port : url.port;
    const std::string dial_hostport =
        via_proxy ? proxy_->HostPort() : url.HostPort();
    // Go's words for failures reaching the proxy.
    const std::string dial_prefix = via_proxy ? "proxyconnect tcp: " : "";
    conn = std::make_unique<Conn>();
    tcp::resolver resolver(conn->ioc);
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(
        dial_host, dial_port,
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
      return error(absl::StatusCode::kUnavailable,
                   absl::StrCat(dial_prefix, "dial tcp: lookup ", dial_host,
                                ": ", ec.message()));
    }
    conn->socket.emplace(conn->ioc);
    done = false;
    asio::async_connect(*conn->socket, endpoints,
                        [&](beast::error_code e, const tcp::endpoint&) {
                          ec = e;
                          done = true;
                        });
    if (!conn->RunUntil(connect_deadline, &done)) {
      return timeout("connecting", connect_limit);
    }
    if (ec) {
      return error(absl::StatusCode::kUnavailable,
                   absl::StrCat(dial_prefix, "dial tcp ", dial_hostport,
                                ": connect: ", ec.message()));
    }
    beast::error_code ignored;
    conn->socket->set_option(tcp::no_delay(true), ignored);
    conn->socket->non_blocking(true, ignored);
    ++connections_opened_;
    if (via_proxy && https) {
      SyncStream ps(conn->fd(), nullptr, connect_deadline);
      BeastRequest connect{http::verb::connect, url.HostPort(), 11};
      connect.set(http::field::host, url.HostPort());
      connect.set(http::field::user_agent, options_.user_agent);
      if (!proxy_authorization_.empty()) {
        connect.set(http::field::proxy_authorization, proxy_authorization_);
      }
      http::write(ps, connect, ec);
      http::response_parser<http::empty_body> cp;
      cp.skip(true);  // a CONNECT reply has no body: the tunnel follows
      if (!ec) http::read_header(ps, conn->buffer, cp, ec);
      if (ps.timed_out()) {
        return timeout("connecting through proxy", connect_limit);
      }
      if (ec) {
        return error(absl::StatusCode::kUnavailable,
                     absl::StrCat("proxyconnect tcp: ", proxy_->HostPort(),
                                  ": ", ec.message()));
      }
      if (cp.get().result_int() != 200) {
        return error(
            absl::StatusCode::kUnavailable,
            absl::StrCat("proxy ", proxy_->HostPort(), " refused CONNECT ",
                         url.HostPort(), ": ", cp.get().result_int(), " ",
                         std::string(cp.get().reason())));
      }
      if (conn->buffer.size() != 0) {
        return error(absl::StatusCode::kUnavailable,
                     absl::StrCat("proxy ", proxy_->HostPort(),
                                  " sent data before the TLS handshake"));
      }
    }
    if (https) {
      conn->ssl = SSL_new(tls_->ctx);
      BIO* bio = conn->ssl == nullptr ? nullptr : BIO_new(SockBioMethod());
      if (bio == nullptr) {
        return error(absl::StatusCode::kInternal,
                     absl::StrCat("tls: ", TakeOpenSslError()));
      }
      BIO_set_data(bio,
                   reinterpret_cast<void*>(static_cast<intptr_t>(conn->fd())));
      SSL_set_bio(conn->ssl, bio, bio);  // the SSL owns the BIO
      SSL* ssl = conn->ssl;
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
          ERR_clear_error();
          return error(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("tls: bad server name \"", name, "\""));
        }
      }
      SyncStream hs(conn->fd(), ssl, connect_deadline);
      hs.Handshake(ec);
      if (hs.timed_out()) {
        return timeout("TLS handshake", connect_limit);
      }
      if (ec) {
        return error(absl::StatusCode::kUnavailable,
                     absl::StrCat("TLS handshake with ", url.HostPort(), ": ",
                                  HandshakeError(ssl, ec, hs.tls_error())));
      }
    }
  }

  // A server that closed an idle kept-alive connection shows up as a
  // failed write or an empty read on it.
  auto closed_while_idle = [&](const beast::error_code& e, bool got_some) {
    return reused && !got_some &&
           (e == http::error::end_of_stream || e == asio::error::eof ||
            e == asio::error::connection_reset ||
            e == asio::error::broken_pipe);
  };

  SyncStream ss(conn->fd(), conn->ssl, deadline);
  http::write(ss, req, ec);
  if (ss.timed_out()) {
    conn->Close();
    return timeout("sending request", request.timeout);
  }
  if (ec) {
    if (reused) *retry = true;
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
  // Header first: Boost 1.74's parser loses its body_limit error for
  // Content-Length bodies, so that case is checked here.
  http::read_header(ss, conn->buffer, parser, ec);
  if (!ec && limit > 0 && parser.content_length() &&
      *parser.content_length() > static_cast<uint64_t>(limit)) {
    ec = http::error::body_limit;
  }
  // A redirect's body is not wanted; its Location is.
  const bool redirect = !ec && parser.is_header_done() &&
                        options_.follow_redirects &&
                        IsRedirect(parser.get().result_int());
  // A Content-Length body is read past the parser, into the buffer it
  // ends up in (the caller's body when not compressed).
  const bool gzip = !ec && request.accept_gzip && IsGzip(parser.get());
  std::string raw_body;
  bool body_read = false;
  if (!ec && !parser.is_done()) {
    if (parser.content_length() && !parser.chunked()) {
      ReadBodyInto(ss, conn->buffer,
                   static_cast<size_t>(*parser.content_length()),
                   gzip || redirect ? &raw_body : &response->body, ec);
      if (ec == asio::error::eof) ec = http::error::partial_message;
      body_read = true;
    } else {
      http::read(ss, conn->buffer, parser, ec);
    }
  }
  if (ss.timed_out()) {
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
    std::string why = ec.message();
    if (!ss.tls_error().empty()) why = ss.tls_error();
    return error(parser.got_some() ? absl::StatusCode::kDataLoss
                                   : absl::StatusCode::kUnavailable,
                 absl::StrCat("read: ", why));
  }
  http::response<http::string_body> res = parser.release();
  // Bytes past the body mean a confused server: do not reuse.
  const bool keep = res.keep_alive() && conn->buffer.size() == 0;

  response->status = static_cast<int>(res.result_int());
  response->location.clear();
  response->reason.assign(res.reason().data(), res.reason().size());
  auto ct = res.find(http::field::content_type);
  if (ct == res.end()) {
    response->content_type.clear();
  } else {
    response->content_type.assign(ct->value().data(), ct->value().size());
  }
  if (IsRedirect(response->status)) {
    auto loc = res.find(http::field::location);
    if (loc != res.end()) {
      response->location.assign(loc->value().data(), loc->value().size());
    }
  }
  if (redirect && !response->location.empty()) {
    response->body.clear();
  } else if (gzip) {
    absl::Status s = GunzipLimited(body_read ? raw_body : res.body(), limit,
                                   &response->body);
    if (!s.ok()) {
      response->body.clear();
      return error(s.code(), s.message());
    }
  } else if (body_read && redirect) {
    response->body = std::move(raw_body);
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
