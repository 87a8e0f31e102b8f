// The `vigil` binary. Everything lives in server/cli_commands.h so the
// dispatch table is testable; this file only hands over argv.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/cli_commands.h"

namespace {

// Releases the resident pages of this executable's read-only file mappings
// (code and constants). Startup (the static initializers of every linked
// library: RocksDB's option tables, protobuf descriptors, OpenSSL; flag and
// config parsing; recovery) touches code spread over most of the ~18 MB of
// text, and the kernel maps file pages in 64 KiB windows around each fault:
// ~14 MB of the binary stayed resident in `vigil serve` (~290 B per series
// at 50k series) though the steady state runs a small part of it. They are
// clean file pages: dropping them costs a later fault for code that runs
// again, nothing else. Pages shared with another process are left alone by
// the kernel.
void ReleaseExecutablePages() {
#ifdef MADV_PAGEOUT
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return;
  char line[4096 + 256];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long lo = 0, hi = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms,
                    &path_at) < 3 ||
        path_at == 0) {
      continue;
    }
    char* path = line + path_at;
    path[std::strcspn(path, "\n")] = '\0';
    // Writable mappings hold private (dirty) copies: nothing to drop.
    if (perms[1] == 'w' || std::strcmp(path, exe) != 0) continue;
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_PAGEOUT);
  }
  std::fclose(maps);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil with mutex deadlock detection on, which walks a
  // lock graph on every absl::Mutex acquisition (it tripled append cost in
  // the storage and scrape benchmarks). The release binary does not want it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc > 1 && std::strcmp(argv[1], "serve") == 0) {
    // Once startup is over (recovery of 1M series takes ~6 s), let the
    // code only startup ran leave memory; see ReleaseExecutablePages.
    std::thread([] {
      absl::SleepFor(absl::Seconds(15));
      ReleaseExecutablePages();
    }).detach();
  }
  return vigil::server::RunCli(argc, argv);
}
