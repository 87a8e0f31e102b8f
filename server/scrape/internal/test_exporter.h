// A misbehaving-on-demand HTTP exporter for scrape tests: a raw-socket
// server on 127.0.0.1:<ephemeral> whose every response is produced by a
// handler, so tests can send slow, truncated, garbage, huge or gzip-bombed
// replies byte for byte.
//
//   TestExporter srv([](const TestExporter::Request& r) {
//     return TestExporter::Ok("up 1\n");
//   });
//   std::string url = srv.url("/metrics");
#ifndef VIGIL_SERVER_SCRAPE_INTERNAL_TEST_EXPORTER_H_
#define VIGIL_SERVER_SCRAPE_INTERNAL_TEST_EXPORTER_H_

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace vigil::scrape::testing {

class TestExporter {
 public:
  struct Request {
    std::string raw;  // request line and headers
    std::string target;
    // Lower-cased header name -> value of the first occurrence.
    std::string Header(const std::string& lower_name) const;
  };
  struct Reply {
    std::string bytes;         // written verbatim
    absl::Duration delay;      // before writing
    bool close_after = false;  // close the connection after writing
  };
  using Handler = std::function<Reply(const Request&)>;

  explicit TestExporter(Handler handler);
  ~TestExporter();

  int port() const { return port_; }
  std::string url(const std::string& path) const;
  int connections_accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }

  // A 200 response with Content-Length.
  static Reply Ok(const std::string& body,
                  const std::string& content_type =
                      "text/plain; version=0.0.4; charset=utf-8",
                  const std::string& extra_headers = "");
  static Reply Status(int code, const std::string& reason);
  static std::string Gzip(const std::string& data);

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
};

}  // namespace vigil::scrape::testing

#endif  // VIGIL_SERVER_SCRAPE_INTERNAL_TEST_EXPORTER_H_
