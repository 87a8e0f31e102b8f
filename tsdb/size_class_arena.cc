#include "tsdb/size_class_arena.h"

#include <array>
#include <cstring>
#include <new>

#include "tsdb/poison.h"

namespace vigil::tsdb {
namespace {

// Sizes that fill a 4 KiB page to within 2.5 % (4096 / k rounded down to
// 16 bytes): steps of 16 up to 256 (without 208, which leaves 144 bytes),
// then growth by about 1.15-1.3x, the step a buffer grown by 1.25x takes
// anyway. (The next size to fill a page, 2048, would be 1.5x.)
constexpr std::array<uint16_t, 25> kClassBytes = {
    16,  32,  48,  64,  80,  96,  112, 128, 144, 160, 176,  192, 224,
    240, 256, 288, 336, 400, 448, 512, 576, 672, 816, 1024, 1360};
static_assert(kClassBytes.back() == SizeClassArena::kMaxBlockBytes);

// Class index by (bytes + 15) / 16, for bytes up to kMaxBlockBytes.
constexpr auto kClassByUnits = [] {
  std::array<uint8_t, SizeClassArena::kMaxBlockBytes / 16 + 1> t{};
  size_t c = 0;
  for (size_t units = 0; units < t.size(); ++units) {
    while (kClassBytes[c] < units * 16) ++c;
    t[units] = static_cast<uint8_t>(c);
  }
  return t;
}();

}  // namespace

SizeClassArena::~SizeClassArena() {
  for (char* slab : slabs_) {
    UnpoisonMemory(slab, kSlabBytes);
    UnmapHugeAligned(slab, kSlabBytes);
  }
}

SizeClassArena& SizeClassArena::Global() {
  // Never destroyed: encoders may be destroyed during static destruction.
  static SizeClassArena* const arena = new SizeClassArena();
  return *arena;
}

int SizeClassArena::ClassOf(size_t bytes) {
  return kClassByUnits[(bytes + 15) / 16];
}

size_t SizeClassArena::BlockSize(size_t bytes) {
  if (bytes > kMaxBlockBytes) return (bytes + kAlign - 1) & ~(kAlign - 1);
  return kClassBytes[ClassOf(bytes)];
}

SizeClassArena::PageInfo& SizeClassArena::Info(uint32_t page) {
  PageInfo* header = reinterpret_cast<PageInfo*>(slabs_[page / kPagesPerSlab]);
  return header[page % kPagesPerSlab];
}

char* SizeClassArena::PageStart(uint32_t page) const {
  return slabs_[page / kPagesPerSlab] + (page % kPagesPerSlab) * kPageBytes;
}

uint32_t SizeClassArena::PageOf(const void* p) const {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const char* slab = reinterpret_cast<const char*>(a & ~(kSlabBytes - 1));
  // The slab's index is kept in its header's first (never used) entry.
  uint32_t index;
  std::memcpy(&index, slab, sizeof index);
  return static_cast<uint32_t>(index * kPagesPerSlab +
                               (a & (kSlabBytes - 1)) / kPageBytes);
}

void SizeClassArena::Link(int c, uint32_t page) {
  PageInfo& info = Info(page);
  info.prev = kNoPage;
  info.next = avail_[c];
  if (avail_[c] != kNoPage) Info(avail_[c]).prev = page;
  avail_[c] = page;
  info.listed = true;
}

void SizeClassArena::Unlink(int c, uint32_t page) {
  PageInfo& info = Info(page);
  if (info.prev != kNoPage) {
    Info(info.prev).next = info.next;
  } else {
    avail_[c] = info.next;
  }
  if (info.next != kNoPage) Info(info.next).prev = info.prev;
  info.listed = false;
}

uint32_t SizeClassArena::NewPageLocked(int c, char** full) {
  uint32_t page;
  if (pool_ != kNoPage) {
    page = pool_;
    pool_ = Info(page).next;
    --stats_.pages_free;
  } else {
    if (next_page_ == kPagesPerSlab) {
      if (!slabs_.empty()) {
        *full = slabs_.back();
        ++stats_.full_slabs;
      }
      char* slab = MapHugeAligned(kSlabBytes);
      slabs_.push_back(slab);
      ++stats_.slabs;
      const uint32_t index = static_cast<uint32_t>(slabs_.size() - 1);
      std::memcpy(slab, &index, sizeof index);
      PoisonMemory(slab + kHeaderPages * kPageBytes,
                   kSlabBytes - kHeaderPages * kPageBytes);
      next_page_ = kHeaderPages;
    }
    page = static_cast<uint32_t>((slabs_.size() - 1) * kPagesPerSlab +
                                 next_page_++);
  }
  ++stats_.pages_in_use;
  PageInfo& info = Info(page);
  info.free_head = 0;
  info.used = 0;
  info.carved = 0;
  info.size_class = static_cast<uint8_t>(c);
  info.listed = false;
  return page;
}

void* SizeClassArena::Allocate(size_t bytes) {
  if (bytes > kMaxBlockBytes) {
    void* p = ::operator new(BlockSize(bytes));
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.blocks_in_use;
    ++stats_.large_in_use;
    return p;
  }
  const int c = ClassOf(bytes);
  const size_t size = kClassBytes[c];
  const size_t capacity = kPageBytes / size;
  char* p;
  char* full = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (avail_.empty()) avail_.assign(kClassBytes.size(), kNoPage);
    uint32_t page = avail_[c];
    if (page == kNoPage) {
      page = NewPageLocked(c, &full);
      Link(c, page);
    }
    PageInfo& info = Info(page);
    char* start = PageStart(page);
    if (info.free_head != 0) {
      p = start + info.free_head - 1;
      UnpoisonMemory(p, size);
      uint16_t next;
      std::memcpy(&next, p, sizeof next);
      info.free_head = next;
    } else {
      p = start + info.carved;
      info.carved = static_cast<uint16_t>(info.carved + size);
      UnpoisonMemory(p, size);
    }
    if (++info.used == capacity) Unlink(c, page);
    ++stats_.blocks_in_use;
  }
  // Outside the lock: the kernel copies the slab (~0.3 ms) meanwhile.
  if (full != nullptr && CollapseHugePages(full, kSlabBytes)) {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.collapsed;
  }
  return p;
}

void SizeClassArena::Free(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (bytes > kMaxBlockBytes) {
    {
      std::lock_guard<std::mutex> l(mu_);
      --stats_.blocks_in_use;
      --stats_.large_in_use;
    }
    ::operator delete(p);
    return;
  }
  const int c = ClassOf(bytes);
  std::lock_guard<std::mutex> l(mu_);
  --stats_.blocks_in_use;
  const uint32_t page = PageOf(p);
  PageInfo& info = Info(page);
  char* start = PageStart(page);
  if (--info.used == 0) {
    // Every block is free: the page goes back to the pool for any class.
    if (info.listed) Unlink(c, page);
    info.next = pool_;
    pool_ = page;
    --stats_.pages_in_use;
    ++stats_.pages_free;
    PoisonMemory(start, kPageBytes);
    return;
  }
  const uint16_t next = info.free_head;
  std::memcpy(p, &next, sizeof next);
  PoisonMemory(p, kClassBytes[c]);
  info.free_head = static_cast<uint16_t>(static_cast<char*>(p) - start + 1);
  if (!info.listed) Link(c, page);  // it was full
}

SizeClassArena::Stats SizeClassArena::GetStats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace vigil::tsdb
