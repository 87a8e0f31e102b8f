#include "server/scrape/internal/test_exporter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace vigil::scrape::testing {

std::string TestExporter::Request::Header(const std::string& lower_name) const {
  for (absl::string_view line : absl::StrSplit(raw, "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::AsciiStrToLower(line.substr(0, colon)) == lower_name) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

TestExporter::TestExporter(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TestExporter::~TestExporter() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
  for (int fd : fds_) ::close(fd);
}

std::string TestExporter::url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void TestExporter::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++accepted_;
    std::lock_guard<std::mutex> l(mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TestExporter::Serve(int fd) {
  std::string buf;
  char tmp[4096];
  while (!stop_) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return;
      buf.append(tmp, static_cast<size_t>(n));
    }
    Request req;
    req.raw = buf.substr(0, end);
    buf.erase(0, end + 4);
    std::vector<std::string> first =
        absl::StrSplit(req.raw.substr(0, req.raw.find("\r\n")), ' ');
    if (first.size() > 1) req.target = first[1];
    ++requests_;
    Reply r = handler_(req);
    if (r.delay > absl::ZeroDuration()) absl::SleepFor(r.delay);
    size_t off = 0;
    while (off < r.bytes.size()) {
      ssize_t n =
          ::send(fd, r.bytes.data() + off, r.bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    if (r.close_after) {
      // Closed (not just shut down) by the destructor, so the descriptor
      // number cannot be reused under another owner meanwhile.
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
  }
}

TestExporter::Reply TestExporter::Ok(const std::string& body,
                                     const std::string& content_type,
                                     const std::string& extra_headers) {
  Reply r;
  r.bytes = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: ", content_type,
                         "\r\nContent-Length: ", body.size(), "\r\n",
                         extra_headers, "\r\n", body);
  return r;
}

TestExporter::Reply TestExporter::Status(int code, const std::string& reason) {
  Reply r;
  r.bytes = absl::StrCat("HTTP/1.1 ", code, " ", reason,
                         "\r\nContent-Length: 0\r\n\r\n");
  return r;
}

std::string TestExporter::Gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 9,
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

}  // namespace vigil::scrape::testing
