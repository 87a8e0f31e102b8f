#include "tsdb/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <fstream>
#include <new>
#include <string>

// Linux 6.1's value; glibc 2.36's headers predate it. An older kernel
// answers EINVAL.
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace vigil::tsdb {

char* MapHugeAligned(size_t bytes) {
  // Map one huge page more and unmap what lies outside the aligned part.
  const size_t n = bytes + kHugePageBytes;
  void* m = mmap(nullptr, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned =
      (begin + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  if (aligned > begin) munmap(m, aligned - begin);
  const uintptr_t end = aligned + bytes;
  if (begin + n > end) munmap(reinterpret_cast<void*>(end), begin + n - end);
  return reinterpret_cast<char*>(aligned);
}

void UnmapHugeAligned(char* p, size_t bytes) {
  if (p != nullptr) munmap(p, bytes);
}

bool AdviseHugePages(char* p, size_t bytes) {
  return madvise(p, bytes, MADV_HUGEPAGE) == 0;
}

namespace {

// MADV_COLLAPSE ignores the system-wide setting; an operator who turned
// huge pages off gets none from us either.
bool HugePagesTurnedOff() {
  static const bool off = [] {
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string setting;
    std::getline(f, setting);
    return setting.find("[never]") != std::string::npos;
  }();
  return off;
}

}  // namespace

bool CollapseHugePages(char* p, size_t bytes) {
  AdviseHugePages(p, bytes);
  if (HugePagesTurnedOff()) return false;
  return madvise(p, bytes, MADV_COLLAPSE) == 0;
}

}  // namespace vigil::tsdb
