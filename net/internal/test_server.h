// Test-only HTTP/1.1 server on 127.0.0.1:<ephemeral>, plain or TLS, and
// throw-away certificates for it.
//
//   absl::StatusOr<TestCerts> certs = GenerateTestCerts(TestTmpDir());
//   TestServer::Options o;
//   o.tls = true;
//   o.cert_file = certs->server_cert;  o.key_file = certs->server_key;
//   TestServer srv(o, [](const TestServer::Request& r) {
//     return TestServer::Reply{200, "up 1\n"};
//   });
//   srv.url("/metrics");  // "https://127.0.0.1:<port>/metrics"
//
// Every connection is served on its own thread; handlers may run
// concurrently. The destructor closes the listener and all connections.
#ifndef VIGIL_NET_INTERNAL_TEST_SERVER_H_
#define VIGIL_NET_INTERNAL_TEST_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vigil::net::testing {

// PEM files written by GenerateTestCerts.
struct TestCerts {
  std::string ca_cert;      // self-signed CA that signed server and client
  std::string server_cert;  // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  std::string server_key;
  std::string client_cert;  // CN=vigil-client, signed by ca_cert
  std::string client_key;
  std::string other_ca_cert;  // an unrelated CA
  std::string other_cert;     // client cert signed by other_ca_cert
  std::string other_key;
};

// Creates the certificates under `dir` with the `openssl` command line
// tool. FailedPrecondition when the tool is missing.
absl::StatusOr<TestCerts> GenerateTestCerts(const std::string& dir);

// $TEST_TMPDIR, or /tmp.
std::string TestTmpDir();

// `data` as a gzip stream (for Content-Encoding: gzip replies).
std::string Gzip(const std::string& data);

class TestServer {
 public:
  struct Options {
    bool tls = false;
    std::string cert_file;
    std::string key_file;
    // When set, clients must present a certificate signed by this CA.
    std::string client_ca_file;
  };
  struct Request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string Header(const std::string& lower_name) const;
  };
  struct Reply {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    absl::Duration delay;      // before answering
    bool close_after = false;  // close the connection after answering
    std::string raw;           // when set, written verbatim instead
  };
  using Handler = std::function<Reply(const Request&)>;

  TestServer(Options options, Handler handler);
  ~TestServer();

  int port() const { return port_; }
  std::string url(const std::string& path) const;
  int connections_accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }
  int handshakes_failed() const { return handshakes_failed_.load(); }

 private:
  struct Impl;
  void AcceptLoop();
  void Serve(int conn_index);

  Options options_;
  Handler handler_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> handshakes_failed_{0};
  std::thread accept_thread_;
};

}  // namespace vigil::net::testing

#endif  // VIGIL_NET_INTERNAL_TEST_SERVER_H_
