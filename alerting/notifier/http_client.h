// Notification delivery over HTTP/1.1: a single POST with a deadline
// (Boost.Beast), and a bounded delivery queue with worker threads that
// retries connection errors, 5xx and 429 with exponential backoff. Requests
// that do not fit in the queue, or fail for good, are dropped, counted and
// logged to stderr.
//
//   DeliveryQueue q(DeliveryQueue::Options{});
//   q.Enqueue({.url = "http://127.0.0.1:3000/", .body = json});
//   q.Drain(absl::Seconds(5));   // tests: wait until the queue is empty
//
// Requests to the same URL are delivered one at a time, in order.
//
// Only http:// URLs are supported (https:// fails with Unimplemented).
#ifndef VIGIL_ALERTING_NOTIFIER_HTTP_CLIENT_H_
#define VIGIL_ALERTING_NOTIFIER_HTTP_CLIENT_H_

#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vigil::alerting::notifier {

struct HttpRequest {
  std::string url;
  std::string body;
  std::string content_type = "application/json";
  // Extra headers, e.g. {"Authorization", "Bearer x"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

struct ParsedURL {
  std::string host;
  std::string port;
  std::string target;  // path + query, at least "/"
};
absl::StatusOr<ParsedURL> ParseHttpURL(const std::string& url);

// One POST. Fails with Unavailable on connection errors, DeadlineExceeded
// on timeout; any HTTP status is a successful call.
absl::StatusOr<HttpResponse> HttpPost(const HttpRequest& req,
                                      absl::Duration timeout);

// "Basic base64(user:pass)".
std::string BasicAuthHeader(const std::string& user, const std::string& pass);

class DeliveryQueue {
 public:
  struct Options {
    size_t max_queue = 10'000;
    int workers = 2;
    int max_attempts = 5;
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

 private:
  void Worker();

  Options options_;
  mutable absl::Mutex mu_;
  std::deque<HttpRequest> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // URLs with a request in flight: requests to one URL are delivered in
  // order (a "resolved" must not overtake its "firing").
  std::vector<std::string> busy_urls_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_HTTP_CLIENT_H_
