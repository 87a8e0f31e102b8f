// Notification delivery: a bounded queue with worker threads that POSTs
// through net::HttpClient (http or https) and retries connection errors,
// 5xx and 429 with exponential backoff for up to `give_up_after` (10 minutes
// by default), so a receiver that is down for minutes still gets every
// notification once it is back. A request waiting for its next attempt does
// not hold a worker: other receivers keep being served. Requests that do not
// fit in the queue, or fail for good, are dropped, counted and logged to
// stderr.
//
//   DeliveryQueue q(DeliveryQueue::Options{});
//   HttpRequest req;
//   req.url = "https://hooks.example/alert";
//   req.body = json;
//   req.client.tls.ca_file = "/etc/alertmanager/ca.pem";  // tls_config
//   q.Enqueue(std::move(req));
//   q.Drain(absl::Seconds(5));   // tests: wait until the queue is empty
//
// Requests to the same URL are delivered one at a time, in order. One
// client (connection pool) is kept per distinct client setting.
#ifndef VIGIL_ALERTING_NOTIFIER_DELIVERY_QUEUE_H_
#define VIGIL_ALERTING_NOTIFIER_DELIVERY_QUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/http_client.h"
#include "net/tls.h"

namespace vigil::alerting::notifier {

// One notification POST.
struct HttpRequest {
  std::string url;
  std::string body;
  std::string content_type = "application/json";
  // Extra headers, e.g. {"Authorization", "Bearer x"}.
  std::vector<std::pair<std::string, std::string>> headers;
  // How to reach the receiver: its http_config (tls_config, auth, oauth2,
  // proxy_url, follow_redirects).
  net::ClientOptions client;
  // Zero: the queue's Options::timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

// "Basic base64(user:pass)".
std::string BasicAuthHeader(const std::string& user, const std::string& pass);

class DeliveryQueue {
 public:
  struct Options {
    size_t max_queue = 10'000;
    int workers = 2;
    // 0: no limit on attempts; `give_up_after` bounds the retries.
    int max_attempts = 0;
    // Measured from the first attempt.
    absl::Duration give_up_after = absl::Minutes(10);
    absl::Duration timeout = absl::Seconds(10);
    absl::Duration initial_backoff = absl::Milliseconds(500);
    absl::Duration max_backoff = absl::Seconds(30);
  };
  struct Stats {
    int64_t sent = 0;     // 2xx received
    int64_t failed = 0;   // gave up after retries or non-retryable status
    int64_t dropped = 0;  // queue full
    int64_t retries = 0;
  };

  explicit DeliveryQueue(Options options);
  ~DeliveryQueue();  // stops workers; pending requests are dropped
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // False (and counted as dropped) when the queue is full.
  bool Enqueue(HttpRequest req);
  // Waits until no request is queued or in flight, or the timeout passes.
  bool Drain(absl::Duration timeout);
  Stats stats() const;
  // The last delivery error (for tests and logs); empty if none.
  std::string last_error() const;

 private:
  // A queued request and its retry state.
  struct Pending {
    HttpRequest req;
    int attempts = 0;  // made so far; > 0 means "waiting to be retried"
    absl::Time first_attempt;
    absl::Time not_before = absl::InfinitePast();
    absl::Duration backoff;
  };
  void Worker();
  // Makes one attempt; true when the request is finished (sent or given
  // up), false when it should be retried at p->not_before.
  bool Attempt(Pending* p);
  // The client for `options`, created on first use. Errors (unreadable TLS
  // files) fail the delivery without retries.
  absl::StatusOr<std::shared_ptr<net::HttpClient>> ClientFor(
      const net::ClientOptions& options);

  Options options_;
  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // URLs with a request in flight or waiting to be retried: requests to one
  // URL are delivered in order (a "resolved" must not overtake its
  // "firing").
  std::vector<std::string> busy_urls_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  absl::Mutex clients_mu_;
  std::vector<std::pair<net::ClientOptions, std::shared_ptr<net::HttpClient>>>
      clients_ ABSL_GUARDED_BY(clients_mu_);

  std::vector<std::thread> threads_;
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_DELIVERY_QUEUE_H_
