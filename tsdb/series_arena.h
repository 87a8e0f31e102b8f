// Memory for the head's series objects (MemSeries with its symbol ids).
//
// A scrape's commit touches three cache lines of each of its series, in
// ref order but scattered over the heap: with 100k series in 4 KiB pages
// nearly every series costs a TLB miss and a page walk as well as its
// cache misses. The arena carves series from 2 MiB slabs aligned to 2 MiB,
// which the kernel can back with one transparent huge page each (see
// huge_pages.h), so 100k series take ~15 TLB entries instead of ~7,500.
// Blocks of every size share the slabs; a freed block is reused by the
// next allocation of the same size.
//
// Only full slabs get huge pages: when a slab fills up the arena has the
// kernel collapse its 4 KiB pages into one huge page (CollapseHugePages),
// so no huge page is ever partly unused and a head of a few thousand
// series keeps just the 4 KiB pages it touches. Slabs are never returned
// to the system (as with malloc's heap, a head that shrank keeps its
// peak).
//
//   SeriesArena& arena = SeriesArena::Global();
//   void* p = arena.Allocate(n);
//   ...
//   arena.Free(p, n);  // the size it was allocated with
//
// Thread-safe. Under AddressSanitizer free blocks are poisoned, so a use
// of a removed series is still reported.
#ifndef VIGIL_TSDB_SERIES_ARENA_H_
#define VIGIL_TSDB_SERIES_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "tsdb/huge_pages.h"

namespace vigil::tsdb {

class SeriesArena {
 public:
  static constexpr size_t kSlabBytes = kHugePageBytes;
  // Blocks are multiples of this (malloc's alignment).
  static constexpr size_t kAlign = 16;
  // Larger blocks (a series with thousands of labels) come from operator
  // new.
  static constexpr size_t kMaxBlockBytes = size_t{16} << 10;

  struct Stats {
    int64_t slabs = 0;       // 2 MiB slabs mapped
    int64_t full_slabs = 0;  // of which full (advised for huge pages)
    int64_t collapsed = 0;   // of which collapsed into a huge page
    int64_t blocks_in_use = 0;
    int64_t large_in_use = 0;  // of which from operator new
  };

  SeriesArena() = default;
  SeriesArena(const SeriesArena&) = delete;
  SeriesArena& operator=(const SeriesArena&) = delete;
  // Unmaps every slab (blocks still in use become invalid); the global
  // arena is never destroyed.
  ~SeriesArena();

  // The process-wide arena MemSeries uses.
  static SeriesArena& Global();

  // A block of at least `bytes` bytes, aligned to kAlign. Throws
  // std::bad_alloc when the system has no memory, as operator new does.
  void* Allocate(size_t bytes);
  // Returns a block from Allocate(bytes), with the same `bytes`. nullptr
  // is ignored.
  void Free(void* p, size_t bytes);

  Stats GetStats() const;

 private:
  static size_t RoundUp(size_t bytes);
  // Starts a new slab; returns the one that just filled up (to collapse
  // once the lock is released), if any.
  char* NewSlabLocked();

  // A std::mutex, not absl::Mutex: series creation takes it once per
  // series, and Debian's Abseil runs deadlock detection (a global graph
  // update) on every absl::Mutex acquisition.
  mutable std::mutex mu_;
  char* next_ = nullptr;  // bump pointer into the newest slab
  char* end_ = nullptr;
  std::vector<char*> slabs_;
  absl::flat_hash_map<size_t, std::vector<void*>> free_;  // by size
  Stats stats_;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_SERIES_ARENA_H_
