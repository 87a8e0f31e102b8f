// Labels identify a series: a set of (name, value) pairs sorted by name,
// including the metric name under "__name__". The type is immutable once
// built; use LabelsBuilder to derive a modified copy.
//
//   absl::StatusOr<Labels> l = Labels::FromPairs({{"__name__", "up"},
//                                                 {"job", "node"}});
//   l->Get("job");  // "node"
//
// An empty value means "label absent" (Prometheus semantics), so builders
// drop labels whose value is empty.
#ifndef VIGIL_TSDB_LABELS_H_
#define VIGIL_TSDB_LABELS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::tsdb {

inline constexpr absl::string_view kMetricName = "__name__";

// A label pair as views, e.g. of a head series' interned symbols: writing
// series definitions from these needs no Labels (two strings per pair)
// per series.
using LabelView = std::pair<absl::string_view, absl::string_view>;

struct Label {
  std::string name;
  std::string value;

  friend bool operator==(const Label& a, const Label& b) {
    return a.name == b.name && a.value == b.value;
  }
  friend bool operator!=(const Label& a, const Label& b) { return !(a == b); }
};

class Labels {
 public:
  using const_iterator = std::vector<Label>::const_iterator;

  Labels() = default;

  // Validates and sorts `pairs`: rejects empty or malformed names
  // ([a-zA-Z_][a-zA-Z0-9_]*), duplicate names and invalid UTF-8 values.
  // Pairs with an empty value are dropped.
  static absl::StatusOr<Labels> FromPairs(std::vector<Label> pairs);

  // Trusts the caller: `pairs` must already be sorted by name, unique and
  // free of empty values. For hot paths that produce labels in order.
  static Labels FromSortedUnchecked(std::vector<Label> pairs);

  // Returns the value of `name`, or "" when absent.
  absl::string_view Get(absl::string_view name) const;
  bool Has(absl::string_view name) const;
  absl::string_view MetricName() const { return Get(kMetricName); }

  size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  const_iterator begin() const { return labels_.begin(); }
  const_iterator end() const { return labels_.end(); }
  const Label& operator[](size_t i) const { return labels_[i]; }

  // Stable 64-bit hash of all pairs (xxhash-like quality, not cryptographic).
  uint64_t Hash() const;
  // Hash of only the named labels (`include` true) or of all but them.
  uint64_t HashFor(const std::vector<std::string>& names, bool include) const;

  // Prometheus's text form: name{a="b", c="d"}, or {a="b"} with no name.
  std::string ToString() const;

  friend bool operator==(const Labels& a, const Labels& b) {
    return a.labels_ == b.labels_;
  }
  friend bool operator!=(const Labels& a, const Labels& b) { return !(a == b); }
  // Lexicographic order over (name, value) pairs, as Prometheus sorts series.
  friend bool operator<(const Labels& a, const Labels& b);

  template <typename H>
  friend H AbslHashValue(H h, const Labels& l) {
    for (const Label& x : l.labels_)
      h = H::combine(std::move(h), x.name, x.value);
    return H::combine(std::move(h), l.labels_.size());
  }

 private:
  std::vector<Label> labels_;
};

// A (name, value) pair viewing someone else's bytes.
using LabelView = std::pair<absl::string_view, absl::string_view>;
// The same hash as Labels::Hash() of the same sorted pairs, without
// building a Labels (recovery hashes millions of stored label sets).
uint64_t HashLabelViews(const LabelView* pairs, size_t n);

// Checks a label name against [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidLabelName(absl::string_view name);
// Checks a metric name against [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(absl::string_view name);

// Builds a new Labels from a base by setting and deleting names.
class LabelsBuilder {
 public:
  LabelsBuilder() = default;
  explicit LabelsBuilder(const Labels& base);

  void Reset(const Labels& base);
  // Setting an empty value deletes the label.
  LabelsBuilder& Set(absl::string_view name, absl::string_view value);
  LabelsBuilder& Del(absl::string_view name);
  absl::string_view Get(absl::string_view name) const;
  // Keeps only the named labels.
  LabelsBuilder& Keep(const std::vector<std::string>& names);
  Labels Build() const;

 private:
  std::vector<Label> labels_;  // kept sorted by name
};

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_LABELS_H_
