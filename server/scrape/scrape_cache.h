// The scrape cache of one target: what a scrape loop remembers about each
// exposition line (`name{labels}` as the target printed it), found by the
// line's bytes.
//
// It is sized for many targets with thousands of series each: per line it
// holds a 32-byte entry, the line's bytes packed into shared 64 KiB blocks
// (no allocation and no header per key), an 8-byte slot of an
// open-addressing index kept at most 3/4 full, and nothing else. The
// std::node_hash_map<std::string, ...> it replaces cost a node allocation,
// a string allocation and a slot per line (~215 B per series at 10 x 5,000
// series against ~100 B here for the same lines).
//
//   ScrapeCache cache;
//   ScrapeCache::Id id = cache.Find(line);
//   if (id == ScrapeCache::kNotFound) id = cache.Insert(line);
//   CacheEntry& e = cache.entry(id);
//
// Ids are dense indexes, stable until their entry is erased, and reused
// after that. Entry references are invalidated by Insert (the entry array
// may grow). Not thread-safe: a cache belongs to one scrape loop.
#ifndef VIGIL_SERVER_SCRAPE_SCRAPE_CACHE_H_
#define VIGIL_SERVER_SCRAPE_SCRAPE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "tsdb/appender.h"

namespace vigil::scrape {

// What the scrape loop knows about one exposition line. Iteration numbers
// are the low 32 bits of the loop's scrape counter and are only compared
// by difference, so they wrap harmlessly.
struct CacheEntry {
  tsdb::SeriesRef ref = 0;    // 0: not resolved (or not trusted)
  uint32_t attempt_iter = 0;  // last scrape attempt that saw the line
  uint32_t ok_iter = 0;       // last successful scrape that saw it
  uint32_t order_pos = 0;     // index in the loop's order (checked before use)
  bool dropped = false;       // relabeling dropped the series
  bool explicit_timestamp = false;  // no staleness for these
  bool in_added = false;            // resolved in the scrape in progress
  bool ok_once = false;             // seen by at least one successful scrape

 private:
  friend class ScrapeCache;
  // Where the key's bytes are: block << 16 | offset (kDeadLoc: erased).
  uint32_t key_loc_ = 0;
  uint32_t key_len_ = 0;
};

class ScrapeCache {
 public:
  using Id = uint32_t;
  static constexpr Id kNotFound = std::numeric_limits<Id>::max();

  ScrapeCache();
  ScrapeCache(const ScrapeCache&) = delete;
  ScrapeCache& operator=(const ScrapeCache&) = delete;

  // Number of cached lines.
  size_t size() const { return live_; }

  // The id of `key`, or kNotFound.
  Id Find(absl::string_view key) const;
  // Adds `key`, which must not be cached, with a default entry. Returns
  // kNotFound only when the cache cannot hold more key bytes (4 GiB).
  Id Insert(absl::string_view key);
  // Removes the entry of `id` (which must be live).
  void Erase(Id id);
  // Removes every entry for which pred(const CacheEntry&) is true; returns
  // how many.
  template <typename Pred>
  size_t EraseIf(Pred pred);

  CacheEntry& entry(Id id) { return entries_[id]; }
  const CacheEntry& entry(Id id) const { return entries_[id]; }
  absl::string_view key(Id id) const {
    const CacheEntry& e = entries_[id];
    return absl::string_view(KeyData(e), e.key_len_);
  }
  // For prefetching: the address of the entry and of its key's bytes.
  const void* EntryAddress(Id id) const { return &entries_[id]; }
  const void* KeyAddress(Id id) const { return KeyData(entries_[id]); }

  // Gives back what growth and erasures left unused: spare entry and id
  // capacity, and key blocks holding mostly erased keys. Call when the set
  // of lines has settled (it copies the live keys when it compacts).
  void Shrink();

  // Bytes allocated by the cache (entries, index, key blocks).
  size_t MemoryBytes() const;

 private:
  static constexpr int kBlockBits = 16;
  static constexpr size_t kBlockSize = size_t{1} << kBlockBits;
  // One less than the locations allow, so no key's location is kDeadLoc.
  static constexpr uint32_t kMaxBlocks = (uint32_t{1} << (32 - kBlockBits)) - 1;
  static constexpr uint32_t kDeadLoc = std::numeric_limits<uint32_t>::max();

  struct Block {
    std::unique_ptr<char[]> data;
    size_t size = 0;  // allocated bytes (kBlockSize, or one large key)
  };

  static uint64_t Hash(absl::string_view key);
  const char* KeyData(const CacheEntry& e) const {
    return blocks_[e.key_loc_ >> kBlockBits].data.get() +
           (e.key_loc_ & (kBlockSize - 1));
  }
  // Copies `key` into the blocks; false when they are full.
  bool StoreKey(absl::string_view key, uint32_t* loc);
  void IndexInsert(uint32_t tag, Id id);
  void IndexErase(uint32_t tag, Id id);
  void Rehash(size_t num_slots);
  void CompactKeys();

  std::vector<CacheEntry> entries_;
  std::vector<Id> free_ids_;
  size_t live_ = 0;
  // Open addressing with linear probing: each slot is
  // (32-bit hash tag) << 32 | (id + 1), 0 when empty. The home slot is
  // tag & mask_, so growing needs no key bytes.
  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
  // Key bytes, in blocks that never move; keys do not straddle blocks.
  std::vector<Block> blocks_;
  size_t tail_used_ = kBlockSize;  // bytes used in the last normal block
  size_t tail_block_ = 0;          // index of the last normal block
  size_t live_key_bytes_ = 0;
  size_t dead_key_bytes_ = 0;
};

template <typename Pred>
size_t ScrapeCache::EraseIf(Pred pred) {
  size_t n = 0;
  for (Id id = 0; id < entries_.size(); ++id) {
    const CacheEntry& e = entries_[id];
    if (e.key_loc_ == kDeadLoc || !pred(e)) continue;
    Erase(id);
    ++n;
  }
  return n;
}

}  // namespace vigil::scrape

#endif  // VIGIL_SERVER_SCRAPE_SCRAPE_CACHE_H_
