// Helpers for tests that run real processes (vigil, prometheus, promtool,
// victoria-metrics): child processes stopped by PID, free loopback ports,
// polling, scratch directories, and finding the Debian peer binaries.
//
//   if (!HavePeer("/usr/bin/victoria-metrics")) GTEST_SKIP() << "...";
//   int port = FreePort();
//   Process vm({"/usr/bin/victoria-metrics", ...}, dir + "/vm.log");
//   ASSERT_TRUE(WaitUntil([&] { return HttpGet(port, "/health").status ==
//                                      200; }, absl::Seconds(20)));
//   vm.Signal(SIGTERM);
//   vm.Wait(absl::Seconds(10));
//
// Not thread-safe; one test thread drives everything.
#ifndef VIGIL_SERVER_COMPAT_PEER_UTIL_H_
#define VIGIL_SERVER_COMPAT_PEER_UTIL_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace vigil::compat {

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// The vigil binary under test: $VIGIL_BIN when set, else the runfiles path
// of //server:vigil ("server/vigil").
std::string VigilBinary();

// True when `path` exists and is executable.
bool HavePeer(const std::string& path);

// A child process with stdout and stderr appended to `log_path`. The
// destructor SIGKILLs and reaps it if it is still running.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  void Signal(int sig);
  // Exit code, 128 + signal when killed, -1 when still running at timeout.
  int Wait(absl::Duration timeout);
  // SIGTERM, then SIGKILL after `grace`.
  void Stop(absl::Duration grace = absl::Seconds(10));

 private:
  pid_t pid_ = -1;
};

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout,
               absl::Duration poll = absl::Milliseconds(50));

std::string ReadFile(const std::string& path);  // "" when missing
void WriteFile(const std::string& path, const std::string& text);

// A fresh, empty directory under $TEST_TMPDIR named after the running test.
std::string TestDir();

// Runs a shell command line; returns its stdout and sets *exit_code.
std::string RunCommand(const std::string& cmd, int* exit_code);

}  // namespace vigil::compat

#endif  // VIGIL_SERVER_COMPAT_PEER_UTIL_H_
