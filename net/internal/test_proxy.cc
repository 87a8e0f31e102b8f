#include "net/internal/test_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace vigil::net::testing {
namespace {

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t w = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

// Connects to "host:port" (host may be bracketed IPv6); -1 on failure.
int Dial(absl::string_view hostport) {
  std::string host, port;
  if (absl::StartsWith(hostport, "[")) {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return -1;
    host = std::string(hostport.substr(1, close - 1));
    port = std::string(absl::StripPrefix(hostport.substr(close + 1), ":"));
  } else {
    size_t colon = hostport.rfind(':');
    host = std::string(hostport.substr(0, colon));
    port = colon == absl::string_view::npos
               ? "80"
               : std::string(hostport.substr(colon + 1));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

// Copies bytes both ways until either side closes.
void Relay(int a, int b) {
  char buf[16384];
  for (;;) {
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(p, 2, 200) < 0 && errno != EINTR) return;
    for (int i = 0; i < 2; ++i) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);
      if (r <= 0) return;
      if (!WriteAll(p[1 - i].fd, absl::string_view(buf, r))) return;
    }
  }
}

}  // namespace

TestProxy::TestProxy(Options options) : options_(std::move(options)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TestProxy::~TestProxy() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  close(listen_fd_);
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  absl::MutexLock l(&mu_);
  for (int fd : fds_) close(fd);
}

std::string TestProxy::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

std::vector<std::string> TestProxy::request_lines() const {
  absl::MutexLock l(&mu_);
  return lines_;
}

std::vector<std::string> TestProxy::authorizations() const {
  absl::MutexLock l(&mu_);
  return auths_;
}

void TestProxy::AcceptLoop() {
  while (!stopping_) {
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    absl::MutexLock l(&mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TestProxy::Serve(int fd) {
  // Reads one request head; what follows it (a body, or the client's
  // first TLS bytes, which cannot come before our reply) is kept.
  std::string head;
  char buf[4096];
  size_t end;
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) return;  // fds_ closes it in the destructor
    head.append(buf, static_cast<size_t>(r));
  }
  std::string rest = head.substr(end + 4);
  head.resize(end + 2);
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  const std::string request_line = lines[0];
  std::string auth;
  for (const std::string& line : lines) {
    if (absl::StartsWithIgnoreCase(line, "proxy-authorization:")) {
      auth = std::string(absl::StripAsciiWhitespace(
          absl::string_view(line).substr(strlen("proxy-authorization:"))));
    }
  }
  {
    absl::MutexLock l(&mu_);
    lines_.push_back(request_line);
    auths_.push_back(auth);
  }
  if (!options_.require_authorization.empty() &&
      auth != options_.require_authorization) {
    WriteAll(fd,
             "HTTP/1.1 407 Proxy Authentication Required\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n");
    shutdown(fd, SHUT_WR);
    return;
  }
  std::vector<std::string> parts = absl::StrSplit(request_line, ' ');
  if (parts.size() != 3) return;
  if (parts[0] == "CONNECT") {
    if (options_.refuse_connect) {
      WriteAll(fd,
               "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n");
      shutdown(fd, SHUT_WR);
      return;
    }
    int up = Dial(parts[1]);
    if (up < 0) {
      WriteAll(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    WriteAll(fd, "HTTP/1.1 200 Connection established\r\n\r\n");
    Relay(fd, up);
    close(up);
    shutdown(fd, SHUT_RDWR);
    return;
  }
  // "GET http://host:port/path HTTP/1.1": forwarded in origin form; the
  // connection then relays whatever follows (one origin per connection is
  // all the tests need).
  absl::string_view target = parts[1];
  if (!absl::ConsumePrefix(&target, "http://")) return;
  size_t slash = target.find('/');
  absl::string_view hostport = target.substr(0, slash);
  std::string path = slash == absl::string_view::npos
                         ? "/"
                         : std::string(target.substr(slash));
  int up = Dial(hostport);
  if (up < 0) {
    WriteAll(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  std::string forward =
      absl::StrCat(parts[0], " ", path, " ", parts[2], "\r\n");
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty() ||
        absl::StartsWithIgnoreCase(lines[i], "proxy-authorization:")) {
      continue;
    }
    absl::StrAppend(&forward, lines[i], "\r\n");
  }
  absl::StrAppend(&forward, "\r\n", rest);
  if (WriteAll(up, forward)) Relay(fd, up);
  close(up);
  shutdown(fd, SHUT_RDWR);
}

}  // namespace vigil::net::testing
