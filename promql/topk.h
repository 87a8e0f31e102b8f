// Which series topk/bottomk keep, chosen exactly as Prometheus chooses them.
//
// Among equal values the choice is not "the first ones in input order":
// Prometheus feeds the group's samples, in input order, through a k-element
// binary heap (Go's container/heap), and a new value only displaces the
// heap's root when strictly better. With ties the survivors depend on the
// heap's sift order, so matching Prometheus's answers (range queries over
// counters with equal rates are full of ties) means running the same heap.
//
//   std::vector<size_t> kept;
//   SelectTopK({5, 1, 1, 3}, /*k=*/2, /*top=*/true, &kept);  // {0, 3}
#ifndef VIGIL_PROMQL_TOPK_H_
#define VIGIL_PROMQL_TOPK_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vigil::promql {

// `values` in input order (NaN allowed: it ranks below every number for
// topk and above for bottomk, as in Prometheus); k >= 1. Fills `kept` with
// the positions (into `values`) of the survivors, best first; the order
// among equal values is unspecified, as it is in Prometheus.
void SelectTopK(const std::vector<double>& values, int64_t k, bool top,
                std::vector<size_t>* kept);

}  // namespace vigil::promql

#endif  // VIGIL_PROMQL_TOPK_H_
