// The `vigil` binary. Everything lives in server/cli_commands.h so the
// dispatch table is testable; this file only hands over argv.
#include "absl/synchronization/mutex.h"
#include "server/cli_commands.h"

int main(int argc, char** argv) {
  // Debian builds Abseil with mutex deadlock detection on, which walks a
  // lock graph on every absl::Mutex acquisition (it tripled append cost in
  // the storage and scrape benchmarks). The release binary does not want it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return vigil::server::RunCli(argc, argv);
}
