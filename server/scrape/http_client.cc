#include "server/scrape/http_client.h"

#include <zlib.h>

#include <chrono>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace vigil::scrape {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

}  // namespace

std::string UserAgent() { return absl::StrCat("Vigil/", kVigilVersion); }

absl::StatusOr<ParsedUrl> ParseUrl(absl::string_view url) {
  ParsedUrl out;
  size_t sep = url.find("://");
  if (sep == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", url, "\": missing scheme"));
  }
  out.scheme = absl::AsciiStrToLower(url.substr(0, sep));
  absl::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find_first_of("/?");
  absl::string_view hostport = rest.substr(0, slash);
  out.target =
      slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!out.target.empty() && out.target[0] == '?') out.target.insert(0, "/");
  if (size_t at = hostport.rfind('@'); at != absl::string_view::npos) {
    hostport = hostport.substr(at + 1);  // userinfo is not used for auth here
  }
  if (hostport.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", url, "\": missing host"));
  }
  absl::string_view port;
  if (hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("URL \"", url, "\": unterminated IPv6 address"));
    }
    out.host = std::string(hostport.substr(1, close - 1));
    absl::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("URL \"", url, "\": bad port"));
      }
      port = after.substr(1);
    }
  } else {
    size_t colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != absl::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (port.empty()) {
    out.port = out.scheme == "https" ? "443" : "80";
  } else {
    int p;
    if (!absl::SimpleAtoi(port, &p) || p <= 0 || p > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("URL \"", url, "\": bad port \"", port, "\""));
    }
    out.port = std::string(port);
  }
  if (out.scheme != "http" && out.scheme != "https") {
    return absl::InvalidArgumentError(absl::StrCat(
        "URL \"", url, "\": unsupported scheme \"", out.scheme, "\""));
  }
  return out;
}

absl::Status GunzipLimited(absl::string_view in, int64_t limit,
                           std::string* out) {
  out->clear();
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header, not raw zlib.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("gzip: inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  constexpr size_t kChunk = 64 << 10;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    size_t old = out->size();
    size_t grow = kChunk;
    if (limit > 0) {
      // One byte past the limit tells "exactly at limit" from "over".
      size_t room = static_cast<size_t>(limit) + 1 - old;
      if (room == 0) break;
      grow = std::min(grow, room);
    }
    out->resize(old + grow);
    zs.next_out = reinterpret_cast<Bytef*>(&(*out)[old]);
    zs.avail_out = static_cast<uInt>(grow);
    rc = inflate(&zs, Z_NO_FLUSH);
    out->resize(old + grow - zs.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK) {
      inflateEnd(&zs);
      return absl::DataLossError(
          absl::StrCat("gzip: corrupt body: ",
                       zs.msg != nullptr ? zs.msg : "inflate error"));
    }
    if (limit > 0 && out->size() > static_cast<size_t>(limit)) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return absl::DataLossError("gzip: truncated body");
    }
  }
  inflateEnd(&zs);
  if (limit > 0 && out->size() > static_cast<size_t>(limit)) {
    out->clear();
    return absl::ResourceExhaustedError(absl::StrCat(
        "body size limit exceeded: decompressed body is larger than ", limit,
        " bytes"));
  }
  return absl::OkStatus();
}

struct HttpClient::Impl {
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  std::string connected_to;  // "host:port" of `stream`
  beast::flat_buffer buffer;

  void CloseStream() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->socket().close(ignored);
      stream.reset();
    }
    connected_to.clear();
    buffer.clear();
  }

  // Runs the io_context until `*done` or the deadline. On timeout cancels
  // the pending operation, drains its handler and returns false.
  bool RunUntil(std::chrono::steady_clock::time_point deadline, bool* done,
                tcp::resolver* resolver = nullptr) {
    ioc.restart();
    while (!*done && std::chrono::steady_clock::now() < deadline) {
      if (ioc.run_one_until(deadline) == 0 && ioc.stopped()) break;
    }
    if (*done) return true;
    if (resolver != nullptr) resolver->cancel();
    if (stream) {
      beast::error_code ignored;
      stream->socket().cancel(ignored);
      stream->socket().close(ignored);
    }
    ioc.restart();
    ioc.run();
    stream.reset();
    connected_to.clear();
    buffer.clear();
    return false;
  }
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() { impl_->CloseStream(); }

absl::Status HttpClient::Get(const HttpRequest& request,
                             HttpResponse* response) {
  absl::StatusOr<ParsedUrl> url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  if (url->scheme == "https") {
    return absl::UnimplementedError(absl::StrCat(
        "Get \"", request.url, "\": https scrape targets are not supported"));
  }
  const auto deadline =
      std::chrono::steady_clock::now() + ToChrono(request.timeout);
  auto fail = [&](absl::StatusCode code, absl::string_view what) {
    impl_->CloseStream();
    return absl::Status(code,
                        absl::StrCat("Get \"", request.url, "\": ", what));
  };
  auto timeout = [&](absl::string_view phase) {
    return fail(absl::StatusCode::kDeadlineExceeded,
                absl::StrCat("context deadline exceeded (", phase, " after ",
                             absl::FormatDuration(request.timeout), ")"));
  };

  http::request<http::empty_body> req{http::verb::get, url->target, 11};
  std::string hostport = absl::StrCat(url->host, ":", url->port);
  req.set(http::field::host, url->port == "80"
                                 ? url->host
                                 : absl::StrCat(url->host, ":", url->port));
  req.set(http::field::user_agent, UserAgent());
  if (!request.accept.empty()) req.set(http::field::accept, request.accept);
  req.set(http::field::accept_encoding, "gzip");
  req.set("X-Prometheus-Scrape-Timeout-Seconds",
          absl::StrCat(absl::ToDoubleSeconds(request.timeout)));
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.keep_alive(true);

  // A reused connection may have been closed by the server while idle; the
  // first failure on it is retried once on a fresh connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused =
        impl_->stream.has_value() && impl_->connected_to == hostport;
    if (!reused) {
      impl_->CloseStream();
      tcp::resolver resolver(impl_->ioc);
      bool done = false;
      beast::error_code ec;
      tcp::resolver::results_type results;
      resolver.async_resolve(
          url->host, url->port,
          [&](beast::error_code e, tcp::resolver::results_type r) {
            ec = e;
            results = std::move(r);
            done = true;
          });
      if (!impl_->RunUntil(deadline, &done, &resolver)) {
        return timeout("resolving host");
      }
      if (ec) {
        return fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("resolving ", url->host, ": ", ec.message()));
      }
      impl_->stream.emplace(impl_->ioc);
      done = false;
      impl_->stream->async_connect(
          results, [&](beast::error_code e, const tcp::endpoint&) {
            ec = e;
            done = true;
          });
      if (!impl_->RunUntil(deadline, &done)) return timeout("connecting");
      if (ec) {
        return fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("dial tcp ", hostport, ": ", ec.message()));
      }
      beast::error_code ignored;
      impl_->stream->socket().set_option(tcp::no_delay(true), ignored);
      impl_->connected_to = hostport;
      ++connections_opened_;
    }

    bool done = false;
    beast::error_code ec;
    http::async_write(*impl_->stream, req, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    if (!impl_->RunUntil(deadline, &done)) return timeout("sending request");
    if (ec) {
      impl_->CloseStream();
      if (reused) continue;
      return fail(absl::StatusCode::kUnavailable,
                  absl::StrCat("write: ", ec.message()));
    }

    http::response_parser<http::string_body> parser;
    parser.header_limit(64 << 10);
    // The wire limit equals the configured limit: a compressed body larger
    // than the limit cannot inflate to less in practice, and the inflated
    // size is checked again below.
    if (request.body_size_limit > 0) {
      parser.body_limit(static_cast<uint64_t>(request.body_size_limit));
    } else {
      // Not boost::none: Boost 1.74 compares Content-Length against the
      // optional and treats "none" as smaller than everything.
      parser.body_limit(std::numeric_limits<uint64_t>::max());
    }
    done = false;
    // Header first: Boost 1.74's parser loses its body_limit error for
    // Content-Length bodies, so that case is checked here.
    http::async_read_header(*impl_->stream, impl_->buffer, parser,
                            [&](beast::error_code e, size_t) {
                              ec = e;
                              done = true;
                            });
    if (!impl_->RunUntil(deadline, &done)) return timeout("reading response");
    if (!ec && request.body_size_limit > 0 && parser.content_length() &&
        *parser.content_length() >
            static_cast<uint64_t>(request.body_size_limit)) {
      ec = http::error::body_limit;
    }
    if (!ec && !parser.is_done()) {
      done = false;
      http::async_read(*impl_->stream, impl_->buffer, parser,
                       [&](beast::error_code e, size_t) {
                         ec = e;
                         done = true;
                       });
      if (!impl_->RunUntil(deadline, &done)) {
        return timeout("reading response");
      }
    }
    if (ec) {
      if (ec == http::error::body_limit) {
        return fail(absl::StatusCode::kResourceExhausted,
                    absl::StrCat("body size limit exceeded: body is larger "
                                 "than ",
                                 request.body_size_limit, " bytes"));
      }
      // Nothing read at all on a reused connection: the server closed it
      // while idle. Retry on a new one.
      if (reused &&
          (ec == http::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::connection_reset) &&
          !parser.got_some()) {
        impl_->CloseStream();
        continue;
      }
      absl::StatusCode code = parser.got_some()
                                  ? absl::StatusCode::kDataLoss
                                  : absl::StatusCode::kUnavailable;
      return fail(code, absl::StrCat("read: ", ec.message()));
    }
    http::response<http::string_body> res = parser.release();
    if (!res.keep_alive()) impl_->CloseStream();

    response->status = static_cast<int>(res.result_int());
    response->reason = std::string(res.reason());
    auto ct = res.find(http::field::content_type);
    response->content_type =
        ct == res.end() ? std::string() : std::string(ct->value());
    auto ce = res.find(http::field::content_encoding);
    if (ce != res.end() &&
        absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                   ce->value().data(), ce->value().size())),
                               "gzip")) {
      absl::Status s =
          GunzipLimited(res.body(), request.body_size_limit, &response->body);
      if (!s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("Get \"", request.url, "\": ", s.message()));
      }
    } else {
      response->body = std::move(res.body());
    }
    return absl::OkStatus();
  }
  return fail(absl::StatusCode::kUnavailable, "connection closed by server");
}

}  // namespace vigil::scrape
