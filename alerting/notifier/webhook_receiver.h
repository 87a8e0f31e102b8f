// A minimal HTTP/1.1 server on 127.0.0.1:<ephemeral> that records POSTs:
// the stand-in for the seed's Flask webhook receiver in tests.
//
//   WebhookReceiver r;           // listening after construction
//   r.FailNext(2, 503);          // first two requests answered 503
//   ... POST to r.url() ...
//   r.WaitFor(1, absl::Seconds(5));
//   r.Requests()[0].body;
#ifndef VIGIL_ALERTING_NOTIFIER_WEBHOOK_RECEIVER_H_
#define VIGIL_ALERTING_NOTIFIER_WEBHOOK_RECEIVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vigil::alerting::notifier {

class WebhookReceiver {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::string authorization;
    std::string content_type;
    std::string body;
  };

  WebhookReceiver();
  ~WebhookReceiver();

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>/"
  void FailNext(int n, int status);
  bool WaitFor(size_t n, absl::Duration timeout);
  std::vector<Request> Requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_status_ ABSL_GUARDED_BY(mu_) = 500;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_WEBHOOK_RECEIVER_H_
