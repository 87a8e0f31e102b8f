// Helpers for process-level tests: spawning and stopping processes by PID,
// free loopback ports, polling, and the files the peer processes
// (e2e_peer.py) read and write.
//
//   Process p({"/usr/bin/python3", "server/e2e/e2e_peer.py", "receiver",
//              absl::StrCat(port), out}, dir + "/receiver.log");
//   ASSERT_TRUE(WaitUntil([&] { return ReadFile(log).find("ready") !=
//                                    std::string::npos; }, absl::Seconds(5)));
//   p.Signal(SIGTERM);  p.Wait(absl::Seconds(5));
//
// Not thread-safe; one test thread drives everything.
#ifndef VIGIL_SERVER_E2E_E2E_UTIL_H_
#define VIGIL_SERVER_E2E_E2E_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace vigil::e2e {

// Wall-clock Unix milliseconds (the clock Vigil and the peers stamp with).
int64_t NowMs();

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// A child process. The destructor SIGKILLs and reaps it if still running,
// so a failing test never leaves it behind.
class Process {
 public:
  // Runs argv[0] (a path, not searched in PATH) with stdout and stderr
  // appended to `log_path`.
  Process(std::vector<std::string> argv, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  void Signal(int sig);
  // Waits for exit: the exit code, 128 + signal number when killed by a
  // signal, or -1 when still running after `timeout`.
  int Wait(absl::Duration timeout);

 private:
  pid_t pid_ = -1;
};

// Polls `done` every `poll` until it returns true (true) or `timeout`
// passes (false).
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout,
               absl::Duration poll = absl::Milliseconds(20));

std::string ReadFile(const std::string& path);  // "" when missing
// Replaces `path` atomically (temp file + rename), so a reader never sees
// a half-written value.
void WriteFile(const std::string& path, const std::string& text);

// A fresh, empty directory under $TEST_TMPDIR named after the running test.
std::string TestDir();

// One POST recorded by `e2e_peer.py receiver`.
struct Received {
  int64_t t_ms = 0;  // receive time, Unix ms
  std::string path;
  std::string body;
};
std::vector<Received> ReadReceived(const std::string& out_file);

// Go's RFC 3339 time as Unix ms; -1 when it does not parse.
int64_t ParseTimeMs(const std::string& rfc3339);

// Alertmanager's fingerprint of a label set (FNV-1a 64 over the sorted
// names and values, each followed by 0xff), as the webhook's %016x.
std::string AlertmanagerFingerprint(
    const std::vector<std::pair<std::string, std::string>>& sorted_labels);

}  // namespace vigil::e2e

#endif  // VIGIL_SERVER_E2E_E2E_UTIL_H_
