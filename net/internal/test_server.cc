#include "net/internal/test_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace vigil::net::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

std::string TestTmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

std::string Gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

absl::StatusOr<TestCerts> GenerateTestCerts(const std::string& dir) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    return absl::FailedPreconditionError(
        "the openssl command line tool is not installed");
  }
  std::string d = absl::StrCat(dir, "/certs");
  mkdir(d.c_str(), 0755);
  TestCerts c;
  c.ca_cert = d + "/ca.pem";
  c.server_cert = d + "/server.pem";
  c.server_key = d + "/server-key.pem";
  c.client_cert = d + "/client.pem";
  c.client_key = d + "/client-key.pem";
  c.other_ca_cert = d + "/other-ca.pem";
  c.other_cert = d + "/other.pem";
  c.other_key = d + "/other-key.pem";
  // Tests of one process share TEST_TMPDIR: generate once.
  bool all_exist = true;
  for (const std::string* f :
       {&c.ca_cert, &c.server_cert, &c.server_key, &c.client_cert,
        &c.client_key, &c.other_ca_cert, &c.other_cert, &c.other_key}) {
    struct stat st;
    if (stat(f->c_str(), &st) != 0 || st.st_size == 0) all_exist = false;
  }
  if (all_exist) return c;
  {
    std::ofstream ext(d + "/server.ext");
    ext << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  }
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
  auto ca = [&](const std::string& name, const std::string& cn) {
    return absl::StrCat("openssl req -x509 ", ec,
                        " -nodes -days 2 -subj '/CN=", cn, "' -keyout ", d, "/",
                        name, "-key.pem -out ", d, "/", name, ".pem");
  };
  auto leaf = [&](const std::string& name, const std::string& cn,
                  const std::string& ca_name, const std::string& extfile) {
    return absl::StrCat(
        "openssl req ", ec, " -nodes -subj '/CN=", cn, "' -keyout ", d, "/",
        name, "-key.pem -out ", d, "/", name, ".csr && openssl x509 -req -in ",
        d, "/", name, ".csr -CA ", d, "/", ca_name, ".pem -CAkey ", d, "/",
        ca_name, "-key.pem -set_serial ",
        std::hash<std::string>()(name) % 100000, " -days 2 -out ", d, "/", name,
        ".pem", extfile.empty() ? "" : absl::StrCat(" -extfile ", extfile));
  };
  for (const std::string& cmd :
       {ca("ca", "Vigil Test CA"), ca("other-ca", "Other Test CA"),
        leaf("server", "localhost", "ca", d + "/server.ext"),
        leaf("client", "vigil-client", "ca", ""),
        leaf("other", "other-client", "other-ca", "")}) {
    std::string full = absl::StrCat(cmd, " >/dev/null 2>&1");
    if (std::system(full.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("command failed: ", cmd));
    }
  }
  return c;
}

std::string TestServer::Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct TestServer::Impl {
  asio::io_context ioc;
  std::optional<ssl::context> ctx;
  std::optional<tcp::acceptor> acceptor;
  absl::Mutex mu;
  std::deque<tcp::socket> sockets ABSL_GUARDED_BY(mu);
  std::vector<std::thread> threads ABSL_GUARDED_BY(mu);
};

TestServer::TestServer(Options options, Handler handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      impl_(std::make_unique<Impl>()) {
  if (options_.tls) {
    impl_->ctx.emplace(ssl::context::tls_server);
    impl_->ctx->use_certificate_chain_file(options_.cert_file);
    impl_->ctx->use_private_key_file(options_.key_file, ssl::context::pem);
    if (!options_.client_ca_file.empty()) {
      impl_->ctx->load_verify_file(options_.client_ca_file);
      impl_->ctx->set_verify_mode(ssl::verify_peer |
                                  ssl::verify_fail_if_no_peer_cert);
    }
  }
  impl_->acceptor.emplace(
      impl_->ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  port_ = impl_->acceptor->local_endpoint().port();
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TestServer::~TestServer() {
  stopping_ = true;
  // shutdown(2) wakes threads blocked in accept/read on these sockets.
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&impl_->mu);
    for (tcp::socket& s : impl_->sockets) {
      ::shutdown(s.native_handle(), SHUT_RDWR);
    }
    threads.swap(impl_->threads);
  }
  for (std::thread& t : threads) t.join();
}

std::string TestServer::url(const std::string& path) const {
  return absl::StrCat(options_.tls ? "https" : "http", "://127.0.0.1:", port_,
                      path);
}

void TestServer::AcceptLoop() {
  while (!stopping_) {
    tcp::socket s(impl_->ioc);
    beast::error_code ec;
    impl_->acceptor->accept(s, ec);
    if (ec || stopping_) return;
    // As Go's servers: no Nagle delay on replies written in pieces.
    s.set_option(tcp::no_delay(true), ec);
    ++accepted_;
    absl::MutexLock l(&impl_->mu);
    impl_->sockets.push_back(std::move(s));
    int index = static_cast<int>(impl_->sockets.size()) - 1;
    impl_->threads.emplace_back([this, index] { Serve(index); });
  }
}

void TestServer::Serve(int conn_index) {
  tcp::socket* sock;
  {
    absl::MutexLock l(&impl_->mu);
    sock = &impl_->sockets[conn_index];  // deque: stable address
  }
  auto serve = [&](auto& stream) {
    beast::flat_buffer buf;
    while (!stopping_) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(stream, buf, req, ec);
      if (ec) return;
      ++requests_;
      Request r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      for (const auto& f : req) {
        r.headers.emplace(absl::AsciiStrToLower(std::string(f.name_string())),
                          std::string(f.value()));
      }
      r.body = req.body();
      Reply reply = handler_(r);
      absl::Time until = absl::Now() + reply.delay;
      while (!stopping_ && absl::Now() < until) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (!reply.raw.empty()) {
        asio::write(stream, asio::buffer(reply.raw), ec);
      } else {
        http::response<http::string_body> res{
            static_cast<http::status>(reply.status), 11};
        for (const auto& [k, v] : reply.headers) res.set(k, v);
        res.body() = reply.body;
        res.prepare_payload();
        res.keep_alive(!reply.close_after);
        http::write(stream, res, ec);
      }
      if (ec || reply.close_after) return;
    }
  };
  if (options_.tls) {
    ssl::stream<tcp::socket&> stream(*sock, *impl_->ctx);
    beast::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) {
      ++handshakes_failed_;
    } else {
      serve(stream);
    }
  } else {
    serve(*sock);
  }
  beast::error_code ignored;
  sock->shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace vigil::net::testing
