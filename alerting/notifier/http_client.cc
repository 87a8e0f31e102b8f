#include "alerting/notifier/http_client.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace vigil::alerting::notifier {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

absl::StatusOr<ParsedURL> ParseHttpURL(const std::string& url) {
  if (absl::StartsWith(url, "https://")) {
    return absl::UnimplementedError(
        absl::StrCat("https is not supported: ", url));
  }
  if (!absl::StartsWith(url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("not an http URL: ", url));
  }
  std::string rest = url.substr(7);
  size_t slash = rest.find_first_of("/?");
  std::string hostport = rest.substr(0, slash);
  ParsedURL p;
  p.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!p.target.empty() && p.target[0] == '?') p.target = "/" + p.target;
  size_t at = hostport.rfind('@');
  if (at != std::string::npos) hostport = hostport.substr(at + 1);
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad host in ", url));
    }
    p.host = hostport.substr(1, close - 1);
    p.port = close + 2 <= hostport.size() ? hostport.substr(close + 2) : "";
  } else {
    size_t colon = hostport.rfind(':');
    p.host = hostport.substr(0, colon);
    if (colon != std::string::npos) p.port = hostport.substr(colon + 1);
  }
  if (p.port.empty()) p.port = "80";
  if (p.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing host in ", url));
  }
  return p;
}

std::string BasicAuthHeader(const std::string& user, const std::string& pass) {
  return "Basic " + absl::Base64Escape(user + ":" + pass);
}

absl::StatusOr<HttpResponse> HttpPost(const HttpRequest& req,
                                      absl::Duration timeout) {
  absl::StatusOr<ParsedURL> u = ParseHttpURL(req.url);
  if (!u.ok()) return u.status();
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> hreq{http::verb::post, u->target, 11};
  hreq.set(http::field::host,
           u->port == "80" ? u->host : absl::StrCat(u->host, ":", u->port));
  hreq.set(http::field::user_agent, "Vigil/0.1");
  hreq.set(http::field::content_type, req.content_type);
  for (const auto& [k, v] : req.headers) hreq.set(k, v);
  hreq.body() = req.body;
  hreq.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code result;
  const char* stage = "resolve";
  auto deadline = std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  // Beast applies tcp_stream deadlines to asynchronous operations only, so
  // the request runs as an async chain on a private io_context.
  resolver.async_resolve(
      u->host, u->port,
      [&](beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) {
          result = ec;
          return;
        }
        stage = "connect";
        stream.expires_after(deadline);
        stream.async_connect(results, [&](beast::error_code ec, tcp::endpoint) {
          if (ec) {
            result = ec;
            return;
          }
          stage = "write";
          stream.expires_after(deadline);
          http::async_write(stream, hreq, [&](beast::error_code ec, size_t) {
            if (ec) {
              result = ec;
              return;
            }
            stage = "read";
            stream.expires_after(deadline);
            http::async_read(
                stream, buffer, res,
                [&](beast::error_code ec, size_t) { result = ec; });
          });
        });
      });
  ioc.run_for(deadline * 4);
  if (!ioc.stopped()) {
    return absl::DeadlineExceededError(
        absl::StrCat("POST ", req.url, ": timeout during ", stage));
  }
  if (result) {
    if (result == beast::error::timeout) {
      return absl::DeadlineExceededError(
          absl::StrCat("POST ", req.url, ": timeout during ", stage));
    }
    return absl::UnavailableError(
        absl::StrCat("POST ", req.url, ": ", stage, ": ", result.message()));
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  return out;
}

DeliveryQueue::DeliveryQueue(Options options) : options_(options) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    threads_.emplace_back([this] { Worker(); });
  }
}

DeliveryQueue::~DeliveryQueue() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool DeliveryQueue::Enqueue(HttpRequest req) {
  absl::MutexLock l(&mu_);
  if (queue_.size() >= options_.max_queue) {
    ++stats_.dropped;
    std::fprintf(stderr, "notifier: queue full, dropping notification to %s\n",
                 req.url.c_str());
    return false;
  }
  queue_.push_back(std::move(req));
  return true;
}

bool DeliveryQueue::Drain(absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && in_flight_ == 0;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

DeliveryQueue::Stats DeliveryQueue::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void DeliveryQueue::Worker() {
  while (true) {
    HttpRequest req;
    {
      absl::MutexLock l(&mu_);
      std::deque<HttpRequest>::iterator pick;
      auto ready = [this, &pick]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        if (stop_) return true;
        for (pick = queue_.begin(); pick != queue_.end(); ++pick) {
          if (std::find(busy_urls_.begin(), busy_urls_.end(), pick->url) ==
              busy_urls_.end()) {
            return true;
          }
        }
        return false;
      };
      mu_.Await(absl::Condition(&ready));
      // absl may evaluate the condition on another thread: recompute.
      if (!ready() || stop_) return;
      req = std::move(*pick);
      queue_.erase(pick);
      busy_urls_.push_back(req.url);
      ++in_flight_;
    }
    absl::Duration backoff = options_.initial_backoff;
    bool ok = false;
    std::string last_error;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      absl::StatusOr<HttpResponse> r = HttpPost(req, options_.timeout);
      bool retry;
      if (r.ok() && r->status / 100 == 2) {
        ok = true;
        break;
      }
      if (r.ok()) {
        last_error = absl::StrCat("HTTP ", r->status);
        retry = r->status / 100 == 5 || r->status == 429;
      } else {
        last_error = std::string(r.status().message());
        retry = r.status().code() != absl::StatusCode::kUnimplemented &&
                r.status().code() != absl::StatusCode::kInvalidArgument;
      }
      if (!retry || attempt == options_.max_attempts) break;
      {
        absl::MutexLock l(&mu_);
        ++stats_.retries;
        auto stopped = [this]()
                           ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stopped), backoff)) break;
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    absl::MutexLock l(&mu_);
    --in_flight_;
    busy_urls_.erase(std::find(busy_urls_.begin(), busy_urls_.end(), req.url));
    if (ok) {
      ++stats_.sent;
    } else {
      ++stats_.failed;
      std::fprintf(stderr, "notifier: giving up on notification to %s: %s\n",
                   req.url.c_str(), last_error.c_str());
    }
  }
}

}  // namespace vigil::alerting::notifier
