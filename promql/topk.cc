#include "promql/topk.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace vigil::promql {
namespace {

// Go's container/heap over positions into `values`, with Prometheus's
// vectorByValueHeap (topk) / vectorByReverseValueHeap (bottomk) order: the
// root is the worst kept value, and NaN is "less" than anything. Prometheus
// 2.42 replaces a root by heap.Pop then heap.Push (not heap.Fix), which
// decides which of several equal values stays.
class GoHeap {
 public:
  GoHeap(const std::vector<double>& values, bool top, std::vector<size_t>* h)
      : values_(values), top_(top), h_(*h) {}

  void Push(size_t pos) {
    h_.push_back(pos);
    Up(h_.size() - 1);
  }
  // heap.Pop: the root goes to the end, the rest is sifted, the end removed.
  void PopRoot() {
    const size_t n = h_.size() - 1;
    std::swap(h_[0], h_[n]);
    Down(0, n);
    h_.pop_back();
  }
  double Root() const { return values_[h_[0]]; }

 private:
  bool Less(size_t i, size_t j) const {
    const double a = values_[h_[i]], b = values_[h_[j]];
    if (std::isnan(a)) return true;
    return top_ ? a < b : a > b;
  }
  void Up(size_t j) {
    while (j > 0) {
      const size_t i = (j - 1) / 2;
      if (!Less(j, i)) break;
      std::swap(h_[i], h_[j]);
      j = i;
    }
  }
  bool Down(size_t i0, size_t n) {
    size_t i = i0;
    while (true) {
      const size_t j1 = 2 * i + 1;
      if (j1 >= n) break;
      size_t j = j1;
      if (j1 + 1 < n && Less(j1 + 1, j1)) j = j1 + 1;
      if (!Less(j, i)) break;
      std::swap(h_[i], h_[j]);
      i = j;
    }
    return i > i0;
  }

  const std::vector<double>& values_;
  const bool top_;
  std::vector<size_t>& h_;
};

}  // namespace

void SelectTopK(const std::vector<double>& values, int64_t k, bool top,
                std::vector<size_t>* kept) {
  kept->clear();
  if (k < 1) return;
  GoHeap heap(values, top, kept);
  for (size_t pos = 0; pos < values.size(); ++pos) {
    const double v = values[pos];
    const bool full = static_cast<int64_t>(kept->size()) >= k;
    if (full) {
      const double root = heap.Root();
      // A NaN root is replaced by anything, NaN included.
      if (!(top ? root < v : root > v) && !std::isnan(root)) continue;
      if (k == 1) {
        (*kept)[0] = pos;  // Prometheus replaces in place
        continue;
      }
      heap.PopRoot();
    }
    heap.Push(pos);
  }
  // Best first: NaN last, like the order Prometheus returns.
  std::stable_sort(kept->begin(), kept->end(), [&](size_t a, size_t b) {
    const double x = values[a], y = values[b];
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
    return top ? x > y : x < y;
  });
}

}  // namespace vigil::promql
