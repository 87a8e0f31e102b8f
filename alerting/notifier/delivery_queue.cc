#include "alerting/notifier/delivery_queue.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace vigil::alerting::notifier {

std::string BasicAuthHeader(const std::string& user, const std::string& pass) {
  return net::BasicAuthHeader(user, pass);
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

std::string DeliveryQueue::last_error() const {
  absl::MutexLock l(&mu_);
  return last_error_;
}

absl::StatusOr<std::shared_ptr<net::HttpClient>> DeliveryQueue::ClientFor(
    const net::TlsOptions& tls) {
  absl::MutexLock l(&clients_mu_);
  for (const auto& [t, c] : clients_) {
    if (t == tls) return c;
  }
  net::ClientOptions o;
  o.tls = tls;
  absl::StatusOr<std::shared_ptr<net::HttpClient>> c =
      net::HttpClient::Create(std::move(o));
  if (c.ok()) clients_.emplace_back(tls, *c);
  return c;
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
    absl::StatusOr<std::shared_ptr<net::HttpClient>> client =
        ClientFor(req.tls);
    net::Request hr;
    hr.method = "POST";
    hr.url = req.url;
    hr.body = std::move(req.body);
    hr.timeout = options_.timeout;
    hr.headers = std::move(req.headers);
    hr.headers.emplace_back("Content-Type", req.content_type);
    net::Response resp;
    for (int attempt = 1; client.ok() && attempt <= options_.max_attempts;
         ++attempt) {
      absl::Status s = (*client)->Do(hr, &resp);
      bool retry;
      if (s.ok() && resp.status / 100 == 2) {
        ok = true;
        break;
      }
      if (s.ok()) {
        last_error = absl::StrCat("POST ", req.url, ": HTTP ", resp.status);
        retry = resp.status / 100 == 5 || resp.status == 429;
      } else {
        last_error = std::string(s.message());
        retry = s.code() != absl::StatusCode::kInvalidArgument &&
                s.code() != absl::StatusCode::kNotFound;
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
    if (!client.ok()) {
      last_error =
          absl::StrCat("POST ", req.url, ": ", client.status().message());
    }
    absl::MutexLock l(&mu_);
    --in_flight_;
    busy_urls_.erase(std::find(busy_urls_.begin(), busy_urls_.end(), req.url));
    if (ok) {
      ++stats_.sent;
    } else {
      ++stats_.failed;
      last_error_ = last_error;
      std::fprintf(stderr, "notifier: giving up on notification to %s: %s\n",
                   req.url.c_str(), last_error.c_str());
    }
  }
}

}  // namespace vigil::alerting::notifier
