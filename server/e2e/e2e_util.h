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
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/compat/peer_util.h"

namespace vigil::e2e {

// Wall-clock Unix milliseconds (the clock Vigil and the peers stamp with).
int64_t NowMs();

// Processes, ports, polling and scratch files are shared with the
// compatibility tests (server/compat/peer_util.h).
using compat::FreePort;
using compat::Process;
using compat::ReadFile;
using compat::TestDir;
using compat::WaitUntil;
// Replaces `path` atomically (temp file + rename), so a reader never sees
// a half-written value.
using compat::WriteFile;

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
