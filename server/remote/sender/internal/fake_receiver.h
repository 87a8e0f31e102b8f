// A remote-write receiver for tests: a real HTTP server on 127.0.0.1 that
// decodes WriteRequests, records samples and headers, and can be told to
// answer the next requests with an error status.
#ifndef VIGIL_SERVER_REMOTE_SENDER_INTERNAL_FAKE_RECEIVER_H_
#define VIGIL_SERVER_REMOTE_SENDER_INTERNAL_FAKE_RECEIVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/http_server.h"

namespace vigil::server::remote::sender::testing {

class FakeReceiver {
 public:
  struct Got {
    std::string series;  // {a="b", ...} in label order
    int64_t t;
    double v;
  };
  struct Metadata {
    int type;  // remote::MetricMetadata::MetricType
    std::string family, help, unit;
  };
  // Port 0 picks a free one. `threads` requests are handled at a time.
  explicit FakeReceiver(int port = 0, int threads = 2);
  ~FakeReceiver();

  int port() const { return port_; }
  std::string url() const;
  // The next `times` requests (all when negative) are answered `status`.
  void Fail(int status, int times);
  // Every request from now on takes at least `d` to answer (a slow
  // receiver); requests are handled concurrently.
  void SetDelay(absl::Duration d);
  void Stop();

  bool WaitForSamples(size_t n, absl::Duration timeout);
  std::vector<Got> samples() const;
  int requests() const;         // successful ones
  int failed_requests() const;  // answered with Fail's status
  size_t max_samples_per_request() const;
  // Metadata entries received, in arrival order, and the requests that
  // carried them.
  std::vector<Metadata> metadata() const;
  int metadata_requests() const;
  size_t max_metadata_per_request() const;
  // Requests being handled at once, at most.
  int max_concurrent() const;
  // Headers of the last request (lower-case names).
  std::vector<std::pair<std::string, std::string>> last_headers() const;
  std::string Header(const std::string& name) const;

 private:
  http::Response Handle(http::Request* r);

  int port_ = 0;
  std::unique_ptr<http::HttpServer> server_;
  mutable absl::Mutex mu_;
  std::vector<Got> got_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_per_request_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Metadata> metadata_ ABSL_GUARDED_BY(mu_);
  int metadata_requests_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_metadata_per_request_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration delay_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_status_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_times_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<std::string, std::string>> headers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace vigil::server::remote::sender::testing

#endif  // VIGIL_SERVER_REMOTE_SENDER_INTERNAL_FAKE_RECEIVER_H_
