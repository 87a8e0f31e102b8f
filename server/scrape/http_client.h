// A small synchronous HTTP/1.1 GET client for scraping, on Boost.Beast.
//
// One HttpClient holds at most one keep-alive connection and is meant to be
// owned by one scrape loop, so consecutive scrapes of a target reuse the
// TCP connection. Every call has a deadline covering resolve, connect, write
// and read. Bodies sent with `Content-Encoding: gzip` are inflated here and
// the size limit applies to the inflated bytes, so a gzip bomb stops at the
// limit instead of exhausting memory.
//
//   HttpClient client;
//   HttpRequest req;
//   req.url = "http://127.0.0.1:9100/metrics";
//   req.timeout = absl::Seconds(10);
//   HttpResponse resp;
//   absl::Status s = client.Get(req, &resp);
//
// Only plain http:// URLs are supported; https:// is rejected with
// Unimplemented.
//
// Thread-compatible: one thread at a time per client.
#ifndef VIGIL_SERVER_SCRAPE_HTTP_CLIENT_H_
#define VIGIL_SERVER_SCRAPE_HTTP_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vigil::scrape {

inline constexpr char kVigilVersion[] = "0.1.0";

// The User-Agent every scrape sends: "Vigil/<version>".
std::string UserAgent();

struct ParsedUrl {
  std::string scheme;  // "http"
  std::string host;    // without brackets for IPv6
  std::string port;    // defaulted from the scheme when absent
  std::string target;  // path plus "?query", at least "/"
};

// Splits an absolute http(s) URL. InvalidArgument naming the URL otherwise.
absl::StatusOr<ParsedUrl> ParseUrl(absl::string_view url);

struct HttpRequest {
  std::string url;
  absl::Duration timeout = absl::Seconds(10);
  // Applies to the (decompressed) body; 0 means no limit.
  int64_t body_size_limit = 0;
  std::string accept;
  // Extra headers, e.g. {"Authorization", "Bearer x"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string content_type;
  std::string body;  // decompressed
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the GET. Any status code is a successful exchange (the caller
  // decides what non-200 means). Errors: DeadlineExceeded on timeout,
  // ResourceExhausted when the body exceeds the limit, Unimplemented for
  // https, Unavailable for connection failures, DataLoss for truncated or
  // corrupt bodies. All messages name the URL.
  absl::Status Get(const HttpRequest& request, HttpResponse* response);

  // Closes the kept-alive connection, if any.
  void Close();

  // Number of TCP connections opened so far (for tests of keep-alive).
  int connections_opened() const { return connections_opened_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int connections_opened_ = 0;
};

// Inflates a gzip stream, failing with ResourceExhausted as soon as the
// output would exceed `limit` bytes (0 = unlimited). Exposed for tests.
absl::Status GunzipLimited(absl::string_view in, int64_t limit,
                           std::string* out);

}  // namespace vigil::scrape

#endif  // VIGIL_SERVER_SCRAPE_HTTP_CLIENT_H_
