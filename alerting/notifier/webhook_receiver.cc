#include "alerting/notifier/webhook_receiver.h"

#include "absl/strings/str_cat.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace vigil::alerting::notifier {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

struct WebhookReceiver::Impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
};

WebhookReceiver::WebhookReceiver() : impl_(std::make_unique<Impl>()) {
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] {
    while (true) {
      beast::error_code ec;
      tcp::socket sock(impl_->ioc);
      impl_->acceptor.accept(sock, ec);
      if (ec || stopping_) return;
      beast::flat_buffer buf;
      while (true) {
        http::request<http::string_body> req;
        http::read(sock, buf, req, ec);
        if (ec) break;
        int status = 200;
        {
          absl::MutexLock l(&mu_);
          Request r;
          r.method = std::string(req.method_string());
          r.target = std::string(req.target());
          r.authorization = std::string(req[http::field::authorization]);
          r.content_type = std::string(req[http::field::content_type]);
          r.body = req.body();
          requests_.push_back(std::move(r));
          if (fail_next_ > 0) {
            --fail_next_;
            status = fail_status_;
          }
        }
        http::response<http::string_body> res{static_cast<http::status>(status),
                                              req.version()};
        res.set(http::field::content_type, "application/json");
        res.body() = "{\"message\": \"Webhook received successfully\"}";
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(sock, res, ec);
        if (ec || !req.keep_alive()) break;
      }
      sock.shutdown(tcp::socket::shutdown_both, ec);
    }
  });
}

WebhookReceiver::~WebhookReceiver() {
  beast::error_code ec;
  // Unblock the blocking accept() with a connection of our own.
  stopping_ = true;
  {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  }
  // Only after the thread is gone: it may still be inside accept(), and
  // closing the acceptor under it is a data race (TSan reports it).
  thread_.join();
  impl_->acceptor.close(ec);
}

std::string WebhookReceiver::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/");
}

void WebhookReceiver::FailNext(int n, int status) {
  absl::MutexLock l(&mu_);
  fail_next_ = n;
  fail_status_ = status;
}

bool WebhookReceiver::WaitFor(size_t n, absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return requests_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<WebhookReceiver::Request> WebhookReceiver::Requests() const {
  absl::MutexLock l(&mu_);
  return requests_;
}

}  // namespace vigil::alerting::notifier
