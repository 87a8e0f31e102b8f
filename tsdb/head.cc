#include "tsdb/head.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace vigil::tsdb {

// --- SymbolTable ------------------------------------------------------------

SymbolTable::SymbolTable()
    : blocks_(new std::unique_ptr<std::string[]>[kMaxBlocks]) {}

uint32_t SymbolTable::Intern(absl::string_view s) {
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
  }
  absl::MutexLock l(&mu_);
  auto it = ids_.find(s);
  if (it != ids_.end()) return it->second;
  const uint32_t id = next_++;
  auto& block = blocks_[id >> kBlockBits];
  if (block == nullptr) block.reset(new std::string[size_t{1} << kBlockBits]);
  std::string& slot = block[id & ((1u << kBlockBits) - 1)];
  slot.assign(s.data(), s.size());
  ids_.emplace(absl::string_view(slot), id);
  bytes_ += s.size();
  return id;
}

void SymbolTable::InternMany(absl::Span<const absl::string_view> strs,
                             uint32_t* ids) {
  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < strs.size(); ++i) {
    const absl::string_view s = strs[i];
    auto it = ids_.find(s);
    if (it != ids_.end()) {
      ids[i] = it->second;
      continue;
    }
    const uint32_t id = next_++;
    auto& block = blocks_[id >> kBlockBits];
    if (block == nullptr) block.reset(new std::string[size_t{1} << kBlockBits]);
    std::string& slot = block[id & ((1u << kBlockBits) - 1)];
    slot.assign(s.data(), s.size());
    ids_.emplace(absl::string_view(slot), id);
    bytes_ += s.size();
    ids[i] = id;
  }
}

std::optional<uint32_t> SymbolTable::Find(absl::string_view s) const {
  absl::ReaderMutexLock l(&mu_);
  auto it = ids_.find(s);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

absl::string_view SymbolTable::Lookup(uint32_t id) const {
  return blocks_[id >> kBlockBits][id & ((1u << kBlockBits) - 1)];
}

size_t SymbolTable::size() const {
  absl::ReaderMutexLock l(&mu_);
  return next_;
}

size_t SymbolTable::bytes() const {
  absl::ReaderMutexLock l(&mu_);
  return bytes_;
}

// --- Chunks
// -------------------------------------------------------------------

absl::Status DecodeChunk(const ChunkData& chunk, int64_t mint, int64_t maxt,
                         int64_t* last_t, std::vector<Sample>* out) {
  const int64_t lo = std::max(
      mint,
      *last_t == std::numeric_limits<int64_t>::min() ? mint : *last_t + 1);
  absl::Status s;
  const size_t before = out->size();
  switch (chunk.encoding) {
    case ChunkEncoding::kRaw: {
      RawChunkDecoder dec(chunk.bytes);
      s = dec.DecodeRange(lo, maxt, out);
      break;
    }
    case ChunkEncoding::kXor: {
      chunkenc::ChunkDecoder dec(chunk.bytes);
      s = dec.DecodeRange(lo, maxt, out);
      break;
    }
    case ChunkEncoding::kRange:
      s = chunkenc::RangeChunkDecoder(chunk.bytes).DecodeRange(lo, maxt, out);
      break;
    default:
      return absl::DataLossError(absl::StrCat(
          "unknown chunk encoding ", static_cast<int>(chunk.encoding)));
  }
  if (out->size() > before) *last_t = out->back().t;
  if (!s.ok()) {
    return absl::DataLossError(
        absl::StrCat("chunk [", chunk.min_time, ", ", chunk.max_time, "] with ",
                     chunk.num_samples, " samples, ", chunk.bytes.size(),
                     " bytes, encoding ", static_cast<int>(chunk.encoding),
                     ": ", s.message()));
  }
  return s;
}

AppendError CheckSample(int64_t max_time, uint64_t last_bits, int64_t t,
                        double v) {
  if (t > max_time) return AppendError::kNone;
  if (t < max_time) return AppendError::kOutOfOrder;
  // An identical duplicate is reported as kNone by the caller's check of
  // t == max_time; distinguish here.
  return ValueBits(v) == last_bits ? AppendError::kNone
                                   : AppendError::kDuplicate;
}

// --- Head
// -----------------------------------------------------------------------

Head::Head()
    : hash_stripes_(new Stripe[kStripes]),
      ref_blocks_(new std::atomic<SeriesSlot*>[kRefBlocks]) {
  for (size_t i = 0; i < kRefBlocks; ++i) ref_blocks_[i].store(nullptr);
}

Head::~Head() {
  for (size_t i = 0; i < kRefBlocks; ++i) {
    SeriesSlot* block = ref_blocks_[i].load();
    if (block == nullptr) continue;
    for (size_t j = 0; j < (size_t{1} << kRefBlockBits); ++j) {
      MemSeries::Delete(block[j].series.load());
    }
    UnmapHugeAligned(reinterpret_cast<char*>(block), kRefBlockBytes);
  }
}

SeriesSlot* Head::RefSlot(SeriesRef ref, bool create) {
  SeriesSlot* slot = Slot(ref);
  if (slot != nullptr || !create) return slot;
  const size_t b = static_cast<size_t>(ref >> kRefBlockBits);
  if (b >= kRefBlocks) return nullptr;
  absl::MutexLock l(&ref_alloc_mu_);
  SeriesSlot* block = ref_blocks_[b].load(std::memory_order_acquire);
  if (block == nullptr) {
    // Zero bytes are a valid unused slot (null series, max_time 0, lock
    // free, not logged); max_time and logged are set when a series takes
    // the slot.
    static_assert(std::is_standard_layout_v<SeriesSlot>);
    char* mem = MapHugeAligned(kRefBlockBytes);
    if (b > 0) {
      // A head of 64k+ series, to which one partly used huge page is
      // noise; the first block is (nearly) full and is collapsed into one
      // too (again a no-op once it is one). A smaller head keeps just the
      // 4 KiB pages of its slots.
      AdviseHugePages(mem, kRefBlockBytes);
      SeriesSlot* first = ref_blocks_[0].load(std::memory_order_acquire);
      if (first != nullptr) {
        CollapseHugePages(reinterpret_cast<char*>(first), kRefBlockBytes);
      }
    }
    block = reinterpret_cast<SeriesSlot*>(mem);
    ref_blocks_[b].store(block, std::memory_order_release);
  }
  return &block[ref & ((SeriesRef{1} << kRefBlockBits) - 1)];
}

bool Head::SameLabels(const MemSeries& s, const Labels& labels) const {
  if (s.syms.size() != 2 * labels.size()) return false;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (symbols_.Lookup(s.syms[2 * i]) != labels[i].name ||
        symbols_.Lookup(s.syms[2 * i + 1]) != labels[i].value) {
      return false;
    }
  }
  return true;
}

MemSeries* MemSeries::New(SeriesRef r, uint64_t h,
                          absl::Span<const uint32_t> syms, SeriesSlot* slot) {
  static_assert(sizeof(MemSeries) % alignof(uint32_t) == 0,
                "the ids follow the object");
  void* p = SeriesArena::Global().Allocate(sizeof(MemSeries) +
                                           syms.size() * sizeof(uint32_t));
  uint32_t* ids =
      reinterpret_cast<uint32_t*>(static_cast<char*>(p) + sizeof(MemSeries));
  if (!syms.empty()) {
    std::memcpy(ids, syms.data(), syms.size() * sizeof(uint32_t));
  }
  slot->max_time = std::numeric_limits<int64_t>::min();
  slot->logged.store(false, std::memory_order_relaxed);
  return new (p) MemSeries(r, h, ids, syms.size(), slot);
}

void MemSeries::Delete(MemSeries* s) {
  if (s == nullptr) return;
  const size_t bytes = sizeof(MemSeries) + s->syms.size() * sizeof(uint32_t);
  s->~MemSeries();
  SeriesArena::Global().Free(s, bytes);
}

MemSeries* Head::Insert(SeriesRef ref, uint64_t hash, const Labels& labels) {
  absl::InlinedVector<uint32_t, 32> syms;
  syms.reserve(2 * labels.size());
  for (const Label& l : labels) {
    syms.push_back(symbols_.Intern(l.name));
    syms.push_back(symbols_.Intern(l.value));
  }
  SeriesSlot* slot = RefSlot(ref, /*create=*/true);
  if (slot == nullptr) {
    // More than 2^32 refs; cannot happen in practice.
    std::abort();
  }
  MemSeries* s = MemSeries::New(ref, hash, syms, slot);
  slot->series.store(s, std::memory_order_release);
  {
    absl::MutexLock l(&index_mu_);
    for (size_t i = 0; i < s->syms.size(); i += 2) {
      InsertPosting(&postings_[s->syms[i]][s->syms[i + 1]], ref);
    }
    InsertPosting(&all_, ref);
  }
  num_series_.fetch_add(1);
  return s;
}

std::pair<MemSeries*, bool> Head::GetOrCreate(const Labels& labels) {
  const uint64_t hash = labels.Hash();
  Stripe& hs = hash_stripes_[hash % kStripes];
  const LabelsKey key{hash, &labels, this};
  {
    absl::ReaderMutexLock l(&hs.mu);
    auto it = hs.by_hash.find(key);
    if (it != hs.by_hash.end()) return {*it, false};
  }
  absl::MutexLock l(&hs.mu);
  auto it = hs.by_hash.find(key);
  if (it != hs.by_hash.end()) return {*it, false};
  MemSeries* s = Insert(next_ref_.fetch_add(1), hash, labels);
  hs.by_hash.insert(s);
  return {s, true};
}

MemSeries* Head::Find(const Labels& labels) const {
  const uint64_t hash = labels.Hash();
  Stripe& hs = hash_stripes_[hash % kStripes];
  absl::ReaderMutexLock l(&hs.mu);
  auto it = hs.by_hash.find(LabelsKey{hash, &labels, this});
  return it == hs.by_hash.end() ? nullptr : *it;
}

MemSeries* Head::CreateWithRef(SeriesRef ref, const Labels& labels) {
  if (MemSeries* existing = Get(ref)) return existing;
  SeriesRef next = next_ref_.load();
  while (next <= ref && !next_ref_.compare_exchange_weak(next, ref + 1)) {
  }
  const uint64_t hash = labels.Hash();
  Stripe& hs = hash_stripes_[hash % kStripes];
  absl::MutexLock l(&hs.mu);
  MemSeries* s = Insert(ref, hash, labels);
  hs.by_hash.insert(s);
  return s;
}

void Head::ReserveSeries(size_t n) {
  // Stripes are chosen by hash: a binomial count around n / kStripes.
  const size_t per_stripe = n / kStripes;
  const size_t extra = per_stripe + per_stripe / 8 + 8;
  for (size_t i = 0; i < kStripes; ++i) {
    Stripe& hs = hash_stripes_[i];
    absl::MutexLock l(&hs.mu);
    hs.by_hash.reserve(hs.by_hash.size() + extra);
  }
}

void Head::CreateBatch(absl::Span<const SeriesInit> batch, MemSeries** out,
                       CreateBatchScratch* scratch) {
  CreateBatchScratch local;
  CreateBatchScratch& sc = scratch != nullptr ? *scratch : local;
  // Series come in ref (creation) order, so neighbours mostly share label
  // names and many values (job, instance, ...): a string equal to the one
  // at the same position of the previous series takes that one's id
  // instead of a symbol table lookup (hashing and probing a table that at
  // 1M series no longer fits in cache).
  size_t total = 0;
  for (const SeriesInit& init : batch) total += 2 * init.num_labels;
  constexpr uint32_t kLookUp = ~uint32_t{0};
  std::vector<uint32_t>& ids = sc.ids;
  std::vector<uint32_t>& same_as = sc.same_as;
  std::vector<absl::string_view>& strs = sc.strs;
  std::vector<uint32_t>& strs_at = sc.strs_at;  // where strs[k]'s id goes
  std::vector<size_t>& first = sc.first;
  ids.resize(total);
  same_as.assign(total, kLookUp);
  strs.clear();
  strs_at.clear();
  first.assign(batch.size() + 1, 0);
  size_t pos = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    first[i] = pos;
    const SeriesInit& init = batch[i];
    const SeriesInit* prev = i > 0 ? &batch[i - 1] : nullptr;
    for (size_t j = 0; j < init.num_labels; ++j) {
      for (int part = 0; part < 2; ++part, ++pos) {
        const absl::string_view str =
            part == 0 ? init.labels[j].first : init.labels[j].second;
        if (prev != nullptr && j < prev->num_labels &&
            (part == 0 ? prev->labels[j].first : prev->labels[j].second) ==
                str) {
          same_as[pos] = static_cast<uint32_t>(first[i - 1] + 2 * j + part);
          continue;
        }
        strs.push_back(str);
        strs_at.push_back(static_cast<uint32_t>(pos));
      }
    }
  }
  first[batch.size()] = pos;
  sc.found.resize(strs.size());
  symbols_.InternMany(strs, sc.found.data());
  for (size_t k = 0; k < strs.size(); ++k) ids[strs_at[k]] = sc.found[k];
  // same_as always points backwards, so one forward pass resolves chains.
  for (size_t p = 0; p < total; ++p) {
    if (same_as[p] != kLookUp) ids[p] = ids[same_as[p]];
  }
  SeriesRef max_ref = 0;
  size_t created = 0;
  std::vector<bool>& is_new = sc.is_new;
  is_new.assign(batch.size(), false);
  for (size_t i = 0; i < batch.size(); ++i) {
    const SeriesInit& init = batch[i];
    if (MemSeries* existing = Get(init.ref)) {
      out[i] = existing;
      continue;
    }
    is_new[i] = true;
    const uint64_t hash = HashLabelViews(init.labels, init.num_labels);
    SeriesSlot* slot = RefSlot(init.ref, /*create=*/true);
    if (slot == nullptr) std::abort();  // more than 2^32 refs
    MemSeries* s = MemSeries::New(
        init.ref, hash,
        absl::MakeConstSpan(ids.data() + first[i], first[i + 1] - first[i]),
        slot);
    slot->series.store(s, std::memory_order_release);
    {
      Stripe& hs = hash_stripes_[hash % kStripes];
      absl::MutexLock l(&hs.mu);
      hs.by_hash.insert(s);
    }
    out[i] = s;
    max_ref = std::max(max_ref, init.ref);
    ++created;
  }
  {
    absl::MutexLock l(&index_mu_);
    // The postings list of a label pair the previous new series had at the
    // same position is reused without the two map lookups. The pointer is
    // still valid: label names are unique and sorted within a series, so
    // between the two uses nothing was inserted into that name's value map
    // (the only thing that could move its lists).
    absl::InlinedVector<PostingsList*, 16> prev_lists;
    const uint32_t* prev_ids = nullptr;
    size_t prev_n = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!is_new[i]) continue;
      MemSeries* s = out[i];
      const uint32_t* sym = ids.data() + first[i];
      const size_t n = first[i + 1] - first[i];
      if (prev_lists.size() < n / 2) prev_lists.resize(n / 2, nullptr);
      for (size_t k = 0; k < n; k += 2) {
        PostingsList* list;
        if (k < prev_n && prev_ids[k] == sym[k] &&
            prev_ids[k + 1] == sym[k + 1]) {
          list = prev_lists[k / 2];
        } else {
          list = &postings_[sym[k]][sym[k + 1]];
        }
        InsertPosting(list, s->ref);
        prev_lists[k / 2] = list;
      }
      InsertPosting(&all_, s->ref);
      prev_ids = sym;
      prev_n = n;
    }
  }
  SeriesRef next = next_ref_.load();
  while (next <= max_ref &&
         !next_ref_.compare_exchange_weak(next, max_ref + 1)) {
  }
  num_series_.fetch_add(created);
}

ChunkPtr ChunkOf(const HeadChunkEncoder& enc) {
  if (enc.num_samples() == 0) return nullptr;
  auto c = std::make_shared<ChunkData>();
  c->min_time = enc.min_time();
  c->max_time = enc.max_time();
  c->num_samples = enc.num_samples();
  c->encoding = kHeadChunkEncoding;
  c->bytes = std::string(enc.Bytes());
  return c;
}

ChunkPtr RangeChunkOf(chunkenc::RangeChunkEncoder* enc) {
  if (enc->num_samples() == 0) return nullptr;
  auto c = std::make_shared<ChunkData>();
  c->min_time = enc->min_time();
  c->max_time = enc->max_time();
  c->num_samples = enc->num_samples();
  c->encoding = ChunkEncoding::kRange;
  c->bytes = enc->Finish();
  return c;
}

ChunkPtr Head::SealLocked(MemSeries* s) {
  ChunkPtr c = ChunkOf(s->open);
  if (c == nullptr) return nullptr;
  s->open = HeadChunkEncoder();
  s->sealed.push_back(c);
  return c;
}

void Head::AppendLocked(MemSeries* s, int64_t t, double v, ChunkPtr* sealed) {
  // t is newer than the open chunk's first sample, so it is in another
  // chunk range iff it is past the end of that sample's range (one
  // division instead of two; unsigned: the difference may exceed
  // INT64_MAX).
  if (s->open.num_samples() > 0 &&
      (s->open.num_samples() >= s->samples_per_chunk ||
       static_cast<uint64_t>(t) -
               static_cast<uint64_t>(ChunkRangeStart(s->open.min_time())) >=
           static_cast<uint64_t>(kChunkRangeMs))) {
    ChunkPtr c = SealLocked(s);
    if (sealed != nullptr) *sealed = std::move(c);
  }
  // t is after every sample of the series, so it lowers min_time only if
  // the series had none: then the open chunk is empty too (min_time is on
  // a cache line the usual append does not touch).
  if (s->open.num_samples() == 0 && t < s->min_time) s->min_time = t;
  s->open.Append(t, v);
  s->max_time = t;
  s->last_bits = ValueBits(v);
  s->last_bits_unknown = false;
}

Labels Head::LabelsOf(const MemSeries& s) const {
  std::vector<Label> pairs;
  pairs.reserve(s.syms.size() / 2);
  for (size_t i = 0; i < s.syms.size(); i += 2) {
    absl::string_view n = symbols_.Lookup(s.syms[i]);
    absl::string_view v = symbols_.Lookup(s.syms[i + 1]);
    pairs.push_back(Label{std::string(n), std::string(v)});
  }
  return Labels::FromSortedUnchecked(std::move(pairs));
}

void Head::AppendLabelViews(const MemSeries& s,
                            std::vector<LabelView>* out) const {
  for (size_t i = 0; i < s.syms.size(); i += 2) {
    out->emplace_back(symbols_.Lookup(s.syms[i]),
                      symbols_.Lookup(s.syms[i + 1]));
  }
}

PostingsList Head::Select(absl::Span<const Matcher> matchers) const {
  absl::ReaderMutexLock l(&index_mu_);
  std::vector<PostingsList> positive;
  std::vector<PostingsList> negative;
  for (const Matcher& m : matchers) {
    auto name_id = symbols_.Find(m.name());
    const absl::flat_hash_map<uint32_t, PostingsList>* values = nullptr;
    if (name_id) {
      auto it = postings_.find(*name_id);
      if (it != postings_.end()) values = &it->second;
    }
    // Postings of series whose value of the label satisfies (or, with
    // want_match false, fails) the matcher. Series without the label are
    // never in these lists.
    auto collect = [&](bool want_match) -> PostingsList {
      if (values == nullptr) return {};
      const bool literal = (m.type() == MatchType::kEqual && want_match) ||
                           (m.type() == MatchType::kNotEqual && !want_match);
      if (literal) {
        auto v = symbols_.Find(m.value());
        if (!v) return {};
        auto vit = values->find(*v);
        return vit == values->end() ? PostingsList{} : vit->second;
      }
      std::vector<absl::Span<const uint64_t>> lists;
      for (const auto& [value_id, list] : *values) {
        if (m.Matches(symbols_.Lookup(value_id)) == want_match) {
          lists.push_back(list);
        }
      }
      return Union(lists);
    };
    if (m.MatchesEmpty()) {
      // Selects series lacking the label too: everything except the series
      // whose (non-empty) value fails the matcher.
      negative.push_back(collect(false));
    } else {
      positive.push_back(collect(true));
      if (positive.back().empty()) return {};
    }
  }
  PostingsList result;
  if (positive.empty()) {
    result = all_;
  } else {
    std::vector<absl::Span<const uint64_t>> spans(positive.begin(),
                                                  positive.end());
    result = IntersectAll(std::move(spans));
  }
  for (const PostingsList& n : negative) {
    if (result.empty()) break;
    if (!n.empty()) result = Subtract(result, n);
  }
  return result;
}

std::vector<std::string> Head::AllLabelNames() const {
  std::vector<std::string> out;
  absl::ReaderMutexLock l(&index_mu_);
  for (const auto& [name_id, values] : postings_) {
    for (const auto& [v, list] : values) {
      if (!list.empty()) {
        out.emplace_back(symbols_.Lookup(name_id));
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Head::AllLabelValues(absl::string_view name) const {
  std::vector<std::string> out;
  auto name_id = symbols_.Find(name);
  if (!name_id) return out;
  absl::ReaderMutexLock l(&index_mu_);
  auto it = postings_.find(*name_id);
  if (it == postings_.end()) return out;
  for (const auto& [v, list] : it->second) {
    if (!list.empty()) out.emplace_back(symbols_.Lookup(v));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Head::ForEachPosting(
    const std::function<void(absl::string_view, absl::string_view, size_t)>& fn)
    const {
  absl::ReaderMutexLock l(&index_mu_);
  for (const auto& [name_id, values] : postings_) {
    for (const auto& [v, list] : values) {
      if (!list.empty()) {
        fn(symbols_.Lookup(name_id), symbols_.Lookup(v), list.size());
      }
    }
  }
}

std::vector<MemSeriesPtr> Head::Remove(absl::Span<const SeriesRef> refs) {
  std::vector<MemSeriesPtr> removed;
  for (SeriesRef ref : refs) {
    SeriesSlot* slot = RefSlot(ref, /*create=*/false);
    if (slot == nullptr) continue;
    MemSeriesPtr owned(slot->series.exchange(nullptr));
    if (owned == nullptr) continue;
    {
      Stripe& hs = hash_stripes_[owned->hash % kStripes];
      absl::MutexLock l(&hs.mu);
      hs.by_hash.erase(owned.get());
    }
    {
      absl::MutexLock l(&index_mu_);
      for (size_t i = 0; i < owned->syms.size(); i += 2) {
        auto nit = postings_.find(owned->syms[i]);
        if (nit == postings_.end()) continue;
        auto vit = nit->second.find(owned->syms[i + 1]);
        if (vit == nit->second.end()) continue;
        ErasePosting(&vit->second, ref);
        if (vit->second.empty()) nit->second.erase(vit);
        if (nit->second.empty()) postings_.erase(nit);
      }
      ErasePosting(&all_, ref);
    }
    num_series_.fetch_sub(1);
    removed.push_back(std::move(owned));
  }
  return removed;
}

void Head::ForEach(const std::function<void(MemSeries*)>& fn) const {
  const SeriesRef last = next_ref_.load();
  for (SeriesRef ref = 1; ref < last; ++ref) {
    if (MemSeries* s = Get(ref)) fn(s);
  }
}

}  // namespace vigil::tsdb
