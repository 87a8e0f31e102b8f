#include "tsdb/series_arena.h"

#include <algorithm>
#include <new>

#include "tsdb/poison.h"

namespace vigil::tsdb {

SeriesArena::~SeriesArena() {
  for (char* slab : slabs_) {
    UnpoisonMemory(slab, kSlabBytes);
    UnmapHugeAligned(slab, kSlabBytes);
  }
}

SeriesArena& SeriesArena::Global() {
  // Never destroyed: series may be freed during static destruction.
  static SeriesArena* const arena = new SeriesArena();
  return *arena;
}

size_t SeriesArena::RoundUp(size_t bytes) {
  return std::max(kAlign, (bytes + kAlign - 1) & ~(kAlign - 1));
}

void* SeriesArena::Allocate(size_t bytes) {
  const size_t n = RoundUp(bytes);
  if (n > kMaxBlockBytes) {
    void* p = ::operator new(n);
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.blocks_in_use;
    ++stats_.large_in_use;
    return p;
  }
  void* p;
  char* full = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = free_.find(n);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      if (next_ == nullptr || next_ + n > end_) full = NewSlabLocked();
      p = next_;
      next_ += n;
    }
    UnpoisonMemory(p, n);
    ++stats_.blocks_in_use;
  }
  // Outside the lock: the kernel copies the slab (~0.3 ms) meanwhile.
  if (full != nullptr && CollapseHugePages(full, kSlabBytes)) {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.collapsed;
  }
  return p;
}

char* SeriesArena::NewSlabLocked() {
  char* full = nullptr;
  if (next_ != nullptr) {  // full up to less than one block
    full = end_ - kSlabBytes;
    ++stats_.full_slabs;
  }
  char* slab = MapHugeAligned(kSlabBytes);
  slabs_.push_back(slab);
  ++stats_.slabs;
  PoisonMemory(slab, kSlabBytes);
  next_ = slab;
  end_ = slab + kSlabBytes;
  return full;
}

void SeriesArena::Free(void* p, size_t bytes) {
  if (p == nullptr) return;
  const size_t n = RoundUp(bytes);
  {
    std::lock_guard<std::mutex> l(mu_);
    --stats_.blocks_in_use;
    if (n <= kMaxBlockBytes) {
      PoisonMemory(p, n);
      free_[n].push_back(p);
      return;
    }
    --stats_.large_in_use;
  }
  ::operator delete(p);
}

SeriesArena::Stats SeriesArena::GetStats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace vigil::tsdb
