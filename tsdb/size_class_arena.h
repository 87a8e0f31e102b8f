// Memory for small blocks that every series holds one of and that grow as
// the series is scraped: the open chunks' encoded bytes
// (chunkenc::ChunkEncoder's buffer).
//
// A commit appends to each of its series' open chunks, so it writes the
// last bytes of 100k buffers scattered over the heap; in malloc's 4 KiB
// pages each costs a TLB miss and a page walk besides its cache miss. This
// arena carves blocks from 2 MiB slabs aligned to 2 MiB that the kernel
// backs with one transparent huge page each once full (see huge_pages.h),
// as SeriesArena does for the series objects.
//
// Unlike series, these blocks grow in step: series scraped together pass
// each size at about the same scrape, so a whole generation of smaller
// blocks is freed at once and not wanted again until the next chunk. Free
// lists by exact size would keep that generation (malloc coalesces it).
// So blocks come in size classes, each class filling 4 KiB pages of its
// own, and a page whose blocks are all free goes back to a pool that every
// class takes new pages from: what one generation frees, the next (larger)
// one reuses.
//
//   SizeClassArena& arena = SizeClassArena::Global();
//   size_t cap = SizeClassArena::BlockSize(n);  // >= n: the whole block
//   void* p = arena.Allocate(cap);
//   ...
//   arena.Free(p, cap);  // the size it was allocated with
//
// Thread-safe. Under AddressSanitizer free blocks are poisoned.
#ifndef VIGIL_TSDB_SIZE_CLASS_ARENA_H_
#define VIGIL_TSDB_SIZE_CLASS_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tsdb/huge_pages.h"

namespace vigil::tsdb {

class SizeClassArena {
 public:
  static constexpr size_t kSlabBytes = kHugePageBytes;
  static constexpr size_t kPageBytes = 4096;
  // Blocks are multiples of this (malloc's alignment).
  static constexpr size_t kAlign = 16;
  // Larger blocks (a chunk of ~135 samples of full-precision floats) come
  // from operator new.
  static constexpr size_t kMaxBlockBytes = 1360;

  struct Stats {
    int64_t slabs = 0;         // 2 MiB slabs mapped
    int64_t full_slabs = 0;    // of which every page was handed out
    int64_t collapsed = 0;     // of which collapsed into a huge page
    int64_t pages_in_use = 0;  // pages holding a class's blocks
    int64_t pages_free = 0;    // emptied pages waiting for any class
    int64_t blocks_in_use = 0;
    int64_t large_in_use = 0;  // of which from operator new
  };

  SizeClassArena() = default;
  SizeClassArena(const SizeClassArena&) = delete;
  SizeClassArena& operator=(const SizeClassArena&) = delete;
  // Unmaps every slab (blocks still in use become invalid); the global
  // arena is never destroyed.
  ~SizeClassArena();

  // The process-wide arena chunk encoders use.
  static SizeClassArena& Global();

  // The size of the block Allocate(bytes) returns: the smallest class that
  // holds `bytes`, or `bytes` rounded to kAlign above kMaxBlockBytes.
  // Callers that grow a buffer use all of it.
  static size_t BlockSize(size_t bytes);

  // A block of BlockSize(bytes) bytes, aligned to kAlign, with unspecified
  // contents. Throws std::bad_alloc when the system has no memory, as
  // operator new does.
  void* Allocate(size_t bytes);
  // Returns a block from Allocate(bytes), with the same `bytes` (or any
  // size with the same BlockSize). nullptr is ignored.
  void Free(void* p, size_t bytes);

  Stats GetStats() const;

 private:
  // Per page of a slab, in the slab's first pages (kHeaderPages): which
  // class the page serves, its free blocks (a list threaded through them
  // by page offset) and its place in its class's list of pages with free
  // blocks. Page ids are slab index * kPagesPerSlab + page.
  struct PageInfo {
    uint32_t prev;
    uint32_t next;
    uint16_t free_head;  // page offset + 1 of the first free block; 0: none
    uint16_t used;       // blocks handed out
    uint16_t carved;     // bytes of the page handed out at least once
    uint8_t size_class;
    bool listed;  // in avail_[size_class]
  };
  static constexpr size_t kPagesPerSlab = kSlabBytes / kPageBytes;
  static constexpr size_t kHeaderPages =
      (kPagesPerSlab * sizeof(PageInfo) + kPageBytes - 1) / kPageBytes;
  static constexpr uint32_t kNoPage = ~uint32_t{0};

  static int ClassOf(size_t bytes);
  PageInfo& Info(uint32_t page);
  char* PageStart(uint32_t page) const;
  uint32_t PageOf(const void* p) const;
  // The list of pages of class c with at least one free block.
  void Link(int c, uint32_t page);
  void Unlink(int c, uint32_t page);
  // A page for class c, from the pool or the newest slab; a slab that just
  // filled up is returned through *full, to collapse once the lock is
  // released.
  uint32_t NewPageLocked(int c, char** full);

  // A std::mutex, not absl::Mutex: Debian's Abseil runs deadlock detection
  // (a global graph update) on every absl::Mutex acquisition.
  mutable std::mutex mu_;
  std::vector<char*> slabs_;
  size_t next_page_ = kPagesPerSlab;  // next unused page of the newest slab
  uint32_t pool_ = kNoPage;           // emptied pages, linked through next
  std::vector<uint32_t> avail_;       // per class: pages with free blocks
  Stats stats_;
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_SIZE_CLASS_ARENA_H_
