// Test-only HTTP proxy on 127.0.0.1:<ephemeral>: CONNECT tunnels (for
// https targets) and absolute-URI requests (for http targets), relayed to
// the origin byte for byte, with every request line recorded.
//
//   TestProxy proxy;
//   ClientOptions o;
//   o.proxy_url = proxy.url();  // "http://127.0.0.1:<port>"
//   ... requests ...
//   proxy.request_lines();  // {"CONNECT 127.0.0.1:8443 HTTP/1.1", ...}
//
// Every connection is served on its own thread; the destructor closes the
// listener and every connection and joins them.
#ifndef VIGIL_NET_INTERNAL_TEST_PROXY_H_
#define VIGIL_NET_INTERNAL_TEST_PROXY_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace vigil::net::testing {

class TestProxy {
 public:
  struct Options {
    // When set, requests without `Proxy-Authorization: <this>` get 407.
    std::string require_authorization;
    // Answer CONNECT with 403 instead of tunnelling.
    bool refuse_connect = false;
  };
  TestProxy() : TestProxy(Options{}) {}
  explicit TestProxy(Options options);
  ~TestProxy();
  TestProxy(const TestProxy&) = delete;
  TestProxy& operator=(const TestProxy&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>"
  // First lines of the requests the proxy received, in order.
  std::vector<std::string> request_lines() const;
  // Proxy-Authorization values received ("" when absent), in order.
  std::vector<std::string> authorizations() const;

 private:
  void AcceptLoop();
  void Serve(int fd);

  const Options options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> auths_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vigil::net::testing

#endif  // VIGIL_NET_INTERNAL_TEST_PROXY_H_
