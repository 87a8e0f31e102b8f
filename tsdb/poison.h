// Marks memory an arena holds but has not handed out (free blocks, the
// unused rest of a slab) as off limits under AddressSanitizer, so a use of
// a freed block is still reported when the block never goes back to
// malloc. No-ops in other builds.
#ifndef VIGIL_TSDB_POISON_H_
#define VIGIL_TSDB_POISON_H_

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace vigil::tsdb {

inline void PoisonMemory(const void* p, size_t n) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

inline void UnpoisonMemory(const void* p, size_t n) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_POISON_H_
