#include "server/http/http_server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vigil::server::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, RequestHandler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        acceptor_(net::make_strand(ioc_)) {}

  ~Impl() { Shutdown(absl::ZeroDuration()); }

  absl::Status Start();
  void Shutdown(absl::Duration grace);
  int port() const { return port_; }
  int active() const { return active_.load(); }

 private:
  class Session;
  friend class Session;

  void Accept();
  void OnSessionClosed();

  const HttpServerOptions options_;
  const RequestHandler handler_;

  // Declared before ioc_ so they outlive sessions the io_context destroys.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::weak_ptr<Session>> sessions_;  // guarded by mu_
  std::atomic<int> active_{0};
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
  int port_ = 0;

  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

// One connection. All of its work runs on its own strand, so its members
// need no locking; the server only posts CloseIfIdle onto that strand.
class HttpServer::Impl::Session
    : public std::enable_shared_from_this<HttpServer::Impl::Session> {
 public:
  Session(Impl* server, tcp::socket socket, bool reject)
      : server_(server), stream_(std::move(socket)), reject_(reject) {}

  ~Session() { server_->OnSessionClosed(); }

  void Run() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->Begin(); });
  }

  // Closes the connection unless a request is being handled or written.
  void CloseIfIdle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.socket().close(ec);
      }
    });
  }

 private:
  void Begin() {
    beast::error_code ec;
    tcp::endpoint ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = absl::StrCat(ep.address().to_string(), ":", ep.port());
    }
    if (reject_) {
      SendError(503, "too many open connections\n");
      return;
    }
    ReadHeader();
  }

  void ReadHeader() {
    if (server_->stopping_.load()) return Close();
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_->options_.max_header_bytes));
    parser_->body_limit(server_->options_.max_body_bytes);
    reading_ = true;
    stream_.expires_after(ToChrono(server_->options_.read_timeout));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnHeader(ec);
        });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return SendError(431, "request header fields too large\n");
    }
    // Beast checks a declared Content-Length against the body limit as soon
    // as the header is parsed.
    if (ec == bhttp::error::body_limit) {
      return SendError(413, "request body too large\n");
    }
    if (ec) return Close();
    boost::optional<std::uint64_t> len = parser_->content_length();
    if (len && *len > server_->options_.max_body_bytes) {
      return SendError(413, "request body too large\n");
    }
    if (parser_->is_done()) return OnRequest();
    const auto& hdr = parser_->get();
    auto expect = hdr.find(bhttp::field::expect);
    if (expect != hdr.end() &&
        absl::EqualsIgnoreCase(
            absl::string_view(expect->value().data(), expect->value().size()),
            "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(
          bhttp::status::continue_, hdr.version());
      stream_.expires_after(ToChrono(server_->options_.write_timeout));
      bhttp::async_write(
          stream_, *cont,
          [self = shared_from_this(), cont](beast::error_code ec, std::size_t) {
            if (ec) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(ToChrono(server_->options_.read_timeout));
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec == bhttp::error::body_limit) {
            return self->SendError(413, "request body too large\n");
          }
          if (ec) return self->Close();
          self->OnRequest();
        });
  }

  void OnRequest() {
    reading_ = false;
    bhttp::request<bhttp::string_body> msg = parser_->release();
    parser_.reset();

    Request req;
    req.method = std::string(msg.method_string());
    absl::string_view target(msg.target().data(), msg.target().size());
    size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != absl::string_view::npos) {
      req.raw_query = std::string(target.substr(q + 1));
    }
    for (const auto& f : msg) {
      req.headers.emplace_back(
          absl::AsciiStrToLower(absl::string_view(f.name_string().data(),
                                                  f.name_string().size())),
          std::string(f.value()));
    }
    req.body = std::move(msg.body());
    req.remote_address = remote_;

    bool keep_alive = msg.keep_alive();
    Response resp;
    absl::Status form_status = FillForm(&req);
    if (!form_status.ok()) {
      resp = Response::Text(400, std::string(form_status.message()) + "\n");
    } else {
      resp = server_->handler_(&req);
    }
    Write(std::move(resp), msg.version(), keep_alive, req.method == "HEAD");
  }

  static absl::Status FillForm(Request* req) {
    if (req->method == "POST" || req->method == "PUT") {
      absl::string_view ct = req->Header("content-type");
      if (absl::StartsWith(ct, "application/x-www-form-urlencoded")) {
        absl::StatusOr<Params> body = ParseUrlEncoded(req->body);
        if (!body.ok()) return body.status();
        req->form = *std::move(body);
      }
    }
    absl::StatusOr<Params> query = ParseUrlEncoded(req->raw_query);
    if (!query.ok()) return query.status();
    for (auto& kv : *query) req->form.push_back(std::move(kv));
    return absl::OkStatus();
  }

  void SendError(int status, std::string body) {
    reading_ = false;
    Write(Response::Text(status, std::move(body)), 11, /*keep_alive=*/false,
          /*head=*/false);
  }

  void Write(Response resp, unsigned version, bool keep_alive, bool head) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version);
    res->result(static_cast<unsigned>(resp.status));
    if (!resp.content_type.empty()) {
      res->set(bhttp::field::content_type, resp.content_type);
    }
    for (const auto& [k, v] : resp.headers) res->set(k, v);
    bool close = !keep_alive || server_->stopping_.load();
    res->keep_alive(!close);
    res->body() = std::move(resp.body);
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length still tells the size.
    stream_.expires_after(ToChrono(server_->options_.write_timeout));
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, close](
                           beast::error_code ec, std::size_t) {
                         if (ec || close) return self->Close();
                         self->ReadHeader();
                       });
  }

  void Close() {
    reading_ = false;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  Impl* const server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const bool reject_;
  bool reading_ = false;  // waiting for (part of) a request
  std::string remote_;
};

absl::Status HttpServer::Impl::Start() {
  const std::string& addr = options_.listen_address;
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", addr, "\": missing port (want host:port)"));
  }
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  if (!absl::SimpleAtoi(addr.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", addr, "\": invalid port"));
  }
  beast::error_code ec;
  net::ip::address ip;
  if (host.empty()) {
    ip = net::ip::address_v4::any();
  } else if (host == "localhost") {
    ip = net::ip::address_v4::loopback();
  } else {
    ip = net::ip::make_address(host, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address \"", addr, "\": invalid host: ", ec.message()));
    }
  }
  tcp::endpoint ep(ip, static_cast<unsigned short>(port));
  auto fail = [&](absl::string_view what) {
    return absl::UnavailableError(absl::StrCat(
        "listen address \"", addr, "\": ", what, ": ", ec.message()));
  };
  acceptor_.open(ep.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  acceptor_.bind(ep, ec);
  if (ec) return fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint().port();

  started_ = true;
  work_.emplace(ioc_.get_executor());
  Accept();
  int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  return absl::OkStatus();
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec,
                                                        tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || stopping_.load()) return;
      // Transient failures (EMFILE, ECONNABORTED): keep accepting.
      Accept();
      return;
    }
    // Responses go out as several writes (header, body chunks); without
    // TCP_NODELAY, Nagle's algorithm holds the tail back until the client's
    // delayed ACK, adding tens of milliseconds to each request.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    bool reject = active_.load() >= options_.max_connections;
    active_.fetch_add(1);
    auto session = std::make_shared<Session>(this, std::move(socket), reject);
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Drop expired entries now and then so the list stays small.
      if (sessions_.size() > 64 &&
          sessions_.size() > 2 * static_cast<size_t>(active_.load())) {
        std::vector<std::weak_ptr<Session>> live;
        for (auto& w : sessions_) {
          if (!w.expired()) live.push_back(std::move(w));
        }
        sessions_ = std::move(live);
      }
      sessions_.push_back(session);
    }
    session->Run();
    if (!stopping_.load()) Accept();
  });
}

void HttpServer::Impl::OnSessionClosed() {
  active_.fetch_sub(1);
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void HttpServer::Impl::Shutdown(absl::Duration grace) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    sessions_.clear();
  }
  for (auto& s : live) s->CloseIfIdle();
  live.clear();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, ToChrono(grace), [this] { return active_.load() == 0; });
  }
  work_.reset();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

HttpServer::HttpServer(HttpServerOptions options, RequestHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() = default;

absl::Status HttpServer::Start() { return impl_->Start(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }
int HttpServer::active_connections() const { return impl_->active(); }

}  // namespace vigil::server::http
