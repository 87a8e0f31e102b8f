#include "tsdb/postings.h"

#include <algorithm>
#include <queue>

namespace vigil::tsdb {

PostingsList Intersect(absl::Span<const uint64_t> a,
                       absl::Span<const uint64_t> b) {
  if (a.size() > b.size()) std::swap(a, b);
  PostingsList out;
  if (a.empty()) return out;
  out.reserve(a.size());
  if (b.size() > 16 * a.size()) {
    // Gallop: binary-search each element of the short list in the long one.
    auto it = b.begin();
    for (uint64_t x : a) {
      it = std::lower_bound(it, b.end(), x);
      if (it == b.end()) break;
      if (*it == x) out.push_back(x);
    }
    return out;
  }
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      out.push_back(a[i]);
      ++i;
      ++j;
    }
  }
  return out;
}

PostingsList IntersectAll(std::vector<absl::Span<const uint64_t>> lists) {
  if (lists.empty()) return {};
  std::sort(lists.begin(), lists.end(),
            [](absl::Span<const uint64_t> x, absl::Span<const uint64_t> y) {
              return x.size() < y.size();
            });
  PostingsList acc(lists[0].begin(), lists[0].end());
  for (size_t i = 1; i < lists.size() && !acc.empty(); ++i) {
    acc = Intersect(acc, lists[i]);
  }
  return acc;
}

PostingsList Union(const std::vector<absl::Span<const uint64_t>>& lists) {
  if (lists.empty()) return {};
  if (lists.size() == 1) return PostingsList(lists[0].begin(), lists[0].end());
  size_t total = 0;
  for (auto l : lists) total += l.size();
  PostingsList out;
  out.reserve(total);
  if (lists.size() <= 4) {
    for (auto l : lists) out.insert(out.end(), l.begin(), l.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  // k-way merge with a heap of (value, list index, position).
  using Entry = std::pair<uint64_t, std::pair<size_t, size_t>>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  for (size_t i = 0; i < lists.size(); ++i) {
    if (!lists[i].empty()) heap.push({lists[i][0], {i, 0}});
  }
  while (!heap.empty()) {
    Entry e = heap.top();
    heap.pop();
    if (out.empty() || out.back() != e.first) out.push_back(e.first);
    const size_t li = e.second.first;
    const size_t pos = e.second.second + 1;
    if (pos < lists[li].size()) heap.push({lists[li][pos], {li, pos}});
  }
  return out;
}

PostingsList Subtract(absl::Span<const uint64_t> a,
                      absl::Span<const uint64_t> b) {
  PostingsList out;
  out.reserve(a.size());
  size_t j = 0;
  for (uint64_t x : a) {
    while (j < b.size() && b[j] < x) ++j;
    if (j < b.size() && b[j] == x) continue;
    out.push_back(x);
  }
  return out;
}

void InsertPosting(PostingsList* list, uint64_t ref) {
  if (list->empty() || list->back() < ref) {
    list->push_back(ref);
    return;
  }
  auto it = std::lower_bound(list->begin(), list->end(), ref);
  if (it != list->end() && *it == ref) return;
  list->insert(it, ref);
}

void ErasePosting(PostingsList* list, uint64_t ref) {
  auto it = std::lower_bound(list->begin(), list->end(), ref);
  if (it != list->end() && *it == ref) list->erase(it);
}

}  // namespace vigil::tsdb
