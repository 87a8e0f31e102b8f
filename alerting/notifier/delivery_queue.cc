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
  Pending p;
  p.req = std::move(req);
  p.backoff = options_.initial_backoff;
  queue_.push_back(std::move(p));
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
    const net::ClientOptions& options) {
  // Every field that changes what is sent or how the connection is made.
  auto same = [](const net::ClientOptions& a, const net::ClientOptions& b) {
    return a.tls == b.tls && a.auth == b.auth && a.proxy_url == b.proxy_url &&
           a.follow_redirects == b.follow_redirects && a.oauth2 == b.oauth2 &&
           a.user_agent == b.user_agent;
  };
  absl::MutexLock l(&clients_mu_);
  for (const auto& [o, c] : clients_) {
    if (same(o, options)) return c;
  }
  absl::StatusOr<std::shared_ptr<net::HttpClient>> c =
      net::HttpClient::Create(options);
  if (c.ok()) clients_.emplace_back(options, *c);
  return c;
}

void DeliveryQueue::Worker() {
  while (true) {
    Pending p;
    {
      absl::MutexLock l(&mu_);
      std::deque<Pending>::iterator pick;
      // The earliest retry time among waiting requests, to wake up for it.
      absl::Time wake = absl::InfiniteFuture();
      auto ready = [this, &pick, &wake]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        if (stop_) return true;
        const absl::Time now = absl::Now();
        wake = absl::InfiniteFuture();
        for (pick = queue_.begin(); pick != queue_.end(); ++pick) {
          if (pick->attempts > 0) {
            // A retry owns its URL's busy mark.
            if (pick->not_before <= now) return true;
            wake = std::min(wake, pick->not_before);
            continue;
          }
          if (std::find(busy_urls_.begin(), busy_urls_.end(), pick->req.url) ==
              busy_urls_.end()) {
            return true;
          }
        }
        return false;
      };
      while (!ready()) {
        const absl::Time w = wake;
        if (w == absl::InfiniteFuture()) {
          mu_.Await(absl::Condition(&ready));
        } else {
          mu_.AwaitWithDeadline(absl::Condition(&ready), w);
        }
      }
      if (stop_) return;
      p = std::move(*pick);
      queue_.erase(pick);
      if (p.attempts == 0) busy_urls_.push_back(p.req.url);
      ++in_flight_;
    }
    const bool finished = Attempt(&p);
    absl::MutexLock l(&mu_);
    --in_flight_;
    if (finished) {
      busy_urls_.erase(
          std::find(busy_urls_.begin(), busy_urls_.end(), p.req.url));
    } else {
      ++stats_.retries;
      // Back in the queue ahead of later requests for the same URL, which
      // stay blocked by the busy mark until this one is done.
      queue_.push_front(std::move(p));
    }
  }
}

bool DeliveryQueue::Attempt(Pending* p) {
  const absl::Time now = absl::Now();
  if (p->attempts == 0) p->first_attempt = now;
  ++p->attempts;
  absl::StatusOr<std::shared_ptr<net::HttpClient>> client =
      ClientFor(p->req.client);
  std::string error;
  bool retry = false;
  if (!client.ok()) {
    error = absl::StrCat("POST ", p->req.url, ": ", client.status().message());
  } else {
    net::Request hr;
    hr.method = "POST";
    hr.url = p->req.url;
    hr.body = p->req.body;
    hr.timeout = p->req.timeout > absl::ZeroDuration() ? p->req.timeout
                                                       : options_.timeout;
    hr.headers = p->req.headers;
    hr.headers.emplace_back("Content-Type", p->req.content_type);
    net::Response resp;
    absl::Status s = (*client)->Do(hr, &resp);
    if (s.ok() && resp.status / 100 == 2) {
      absl::MutexLock l(&mu_);
      ++stats_.sent;
      return true;
    }
    if (s.ok()) {
      error = absl::StrCat("POST ", p->req.url, ": HTTP ", resp.status);
      retry = resp.status / 100 == 5 || resp.status == 429;
    } else {
      error = std::string(s.message());
      retry = s.code() != absl::StatusCode::kInvalidArgument &&
              s.code() != absl::StatusCode::kNotFound;
    }
  }
  const bool attempts_left =
      options_.max_attempts <= 0 || p->attempts < options_.max_attempts;
  const absl::Time next = absl::Now() + p->backoff;
  absl::MutexLock l(&mu_);
  if (retry && attempts_left && !stop_ &&
      next - p->first_attempt <= options_.give_up_after) {
    p->not_before = next;
    p->backoff = std::min(p->backoff * 2, options_.max_backoff);
    last_error_ = error;
    return false;
  }
  ++stats_.failed;
  last_error_ = error;
  std::fprintf(stderr,
               "notifier: giving up on notification to %s after %d "
               "attempt(s): %s\n",
               p->req.url.c_str(), p->attempts, error.c_str());
  return true;
}

}  // namespace vigil::alerting::notifier
