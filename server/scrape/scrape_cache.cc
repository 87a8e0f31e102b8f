#include "server/scrape/scrape_cache.h"

#include <cstring>
#include <utility>

#include "absl/hash/hash.h"

namespace vigil::scrape {
namespace {

constexpr size_t kMinSlots = 16;

inline uint32_t TagOf(uint64_t slot) {
  return static_cast<uint32_t>(slot >> 32);
}
inline ScrapeCache::Id IdOf(uint64_t slot) {
  return static_cast<ScrapeCache::Id>((slot & 0xffffffffu) - 1);
}
inline uint64_t MakeSlot(uint32_t tag, ScrapeCache::Id id) {
  return (uint64_t{tag} << 32) | (uint64_t{id} + 1);
}

}  // namespace

ScrapeCache::ScrapeCache() : slots_(kMinSlots, 0), mask_(kMinSlots - 1) {}

uint64_t ScrapeCache::Hash(absl::string_view key) {
  return absl::Hash<absl::string_view>{}(key);
}

ScrapeCache::Id ScrapeCache::Find(absl::string_view key) const {
  const uint32_t tag = static_cast<uint32_t>(Hash(key));
  for (size_t i = tag & mask_;; i = (i + 1) & mask_) {
    const uint64_t slot = slots_[i];
    if (slot == 0) return kNotFound;
    if (TagOf(slot) != tag) continue;
    const Id id = IdOf(slot);
    const CacheEntry& e = entries_[id];
    if (e.key_len_ == key.size() &&
        std::memcmp(KeyData(e), key.data(), key.size()) == 0) {
      return id;
    }
  }
}

bool ScrapeCache::StoreKey(absl::string_view key, uint32_t* loc) {
  if (key.size() > kBlockSize) {
    // A key of its own block, at offset 0.
    if (blocks_.size() >= kMaxBlocks) return false;
    Block b;
    b.data.reset(new char[key.size()]);
    b.size = key.size();
    std::memcpy(b.data.get(), key.data(), key.size());
    *loc = static_cast<uint32_t>(blocks_.size() << kBlockBits);
    blocks_.push_back(std::move(b));
    return true;
  }
  if (tail_used_ + key.size() > kBlockSize) {
    if (blocks_.size() >= kMaxBlocks) return false;
    Block b;
    b.data.reset(new char[kBlockSize]);
    b.size = kBlockSize;
    tail_block_ = blocks_.size();
    tail_used_ = 0;
    blocks_.push_back(std::move(b));
  }
  std::memcpy(blocks_[tail_block_].data.get() + tail_used_, key.data(),
              key.size());
  *loc = static_cast<uint32_t>((tail_block_ << kBlockBits) | tail_used_);
  tail_used_ += key.size();
  return true;
}

ScrapeCache::Id ScrapeCache::Insert(absl::string_view key) {
  uint32_t loc = 0;
  if (key.size() > std::numeric_limits<uint32_t>::max() ||
      !StoreKey(key, &loc)) {
    return kNotFound;
  }
  if ((live_ + 1) * 4 > slots_.size() * 3) Rehash(slots_.size() * 2);
  Id id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
    entries_[id] = CacheEntry();
  } else {
    id = static_cast<Id>(entries_.size());
    entries_.emplace_back();
  }
  CacheEntry& e = entries_[id];
  e.key_loc_ = loc;
  e.key_len_ = static_cast<uint32_t>(key.size());
  IndexInsert(static_cast<uint32_t>(Hash(key)), id);
  ++live_;
  live_key_bytes_ += key.size();
  return id;
}

void ScrapeCache::Erase(Id id) {
  CacheEntry& e = entries_[id];
  IndexErase(static_cast<uint32_t>(Hash(key(id))), id);
  live_key_bytes_ -= e.key_len_;
  dead_key_bytes_ += e.key_len_;
  e.key_loc_ = kDeadLoc;
  e.key_len_ = 0;
  free_ids_.push_back(id);
  --live_;
}

void ScrapeCache::IndexInsert(uint32_t tag, Id id) {
  size_t i = tag & mask_;
  while (slots_[i] != 0) i = (i + 1) & mask_;
  slots_[i] = MakeSlot(tag, id);
}

void ScrapeCache::IndexErase(uint32_t tag, Id id) {
  size_t i = tag & mask_;
  while (slots_[i] != MakeSlot(tag, id)) i = (i + 1) & mask_;
  // Backward-shift deletion: move later members of the probe run into the
  // hole when the hole lies between their home slot and where they are,
  // so lookups never need tombstones.
  for (size_t j = (i + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
    const size_t home = TagOf(slots_[j]) & mask_;
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = 0;
}

void ScrapeCache::Rehash(size_t num_slots) {
  std::vector<uint64_t> old;
  old.swap(slots_);
  slots_.assign(num_slots, 0);
  mask_ = num_slots - 1;
  for (uint64_t slot : old) {
    if (slot == 0) continue;
    size_t i = TagOf(slot) & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

void ScrapeCache::CompactKeys() {
  std::vector<Block> old;
  old.swap(blocks_);
  tail_used_ = kBlockSize;
  tail_block_ = 0;
  for (CacheEntry& e : entries_) {
    if (e.key_loc_ == kDeadLoc) continue;
    const Block& b = old[e.key_loc_ >> kBlockBits];
    const absl::string_view k(b.data.get() + (e.key_loc_ & (kBlockSize - 1)),
                              e.key_len_);
    // Cannot fail: the live keys fitted before and take no more room now.
    StoreKey(k, &e.key_loc_);
  }
  dead_key_bytes_ = 0;
}

void ScrapeCache::Shrink() {
  // Ids at the end of the array that are free can go; others stay (ids are
  // stable).
  while (!entries_.empty() && entries_.back().key_loc_ == kDeadLoc) {
    entries_.pop_back();
  }
  if (entries_.size() < free_ids_.size() + live_) {
    std::vector<Id> keep;
    keep.reserve(entries_.size() - live_);
    for (Id id : free_ids_) {
      if (id < entries_.size()) keep.push_back(id);
    }
    free_ids_.swap(keep);
  }
  entries_.shrink_to_fit();
  free_ids_.shrink_to_fit();
  if (dead_key_bytes_ > kBlockSize && dead_key_bytes_ > live_key_bytes_ / 2) {
    CompactKeys();
  }
  // The index only shrinks when far too large (it is rebuilt from tags).
  size_t want = kMinSlots;
  while ((live_ + 1) * 4 > want * 3) want *= 2;
  if (want * 4 <= slots_.size()) Rehash(want);
}

size_t ScrapeCache::MemoryBytes() const {
  size_t n = entries_.capacity() * sizeof(CacheEntry) +
             free_ids_.capacity() * sizeof(Id) +
             slots_.capacity() * sizeof(uint64_t) +
             blocks_.capacity() * sizeof(Block);
  for (const Block& b : blocks_) n += b.size;
  return n;
}

}  // namespace vigil::scrape
