// Memory the kernel may back with transparent huge pages (2 MiB), for the
// head's per-series state that every scrape touches in ref order: series
// objects (SeriesArena) and the ref -> series slots (Head). With 4 KiB pages
// each series touched costs a TLB miss and a page walk besides its cache
// misses; with 2 MiB pages 100k series fit in a few dozen TLB entries.
#ifndef VIGIL_TSDB_HUGE_PAGES_H_
#define VIGIL_TSDB_HUGE_PAGES_H_

#include <cstddef>

namespace vigil::tsdb {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// `bytes` (a multiple of kHugePageBytes) of zero-filled memory aligned to
// kHugePageBytes, in 4 KiB pages until advised. Throws std::bad_alloc when
// the system has no memory, as operator new does.
char* MapHugeAligned(size_t bytes);
// Returns memory from MapHugeAligned to the system.
void UnmapHugeAligned(char* p, size_t bytes);
// Asks the kernel to back [p, p + bytes) with huge pages from now on:
// pages not touched yet fault in as huge pages, and khugepaged may later
// collapse the ones already there. Only a hint: false when the kernel has
// no transparent huge pages or refused, and the memory works the same.
bool AdviseHugePages(char* p, size_t bytes);
// Advises [p, p + bytes) (fully used memory: a huge page costs nothing
// more) and has the kernel replace its 4 KiB pages by huge pages right
// away (MADV_COLLAPSE, Linux 6.1+; the contents stay, concurrent access is
// safe), instead of whenever khugepaged gets to it (16 MB every 10 s by
// default). Skipped when huge pages are turned off system-wide ("never").
// False if nothing was collapsed; the memory works the same.
bool CollapseHugePages(char* p, size_t bytes);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_HUGE_PAGES_H_
