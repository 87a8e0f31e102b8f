// An in-memory tsdb::Queryable + tsdb::Appendable for engine and rule tests.
// It keeps every series as a sorted vector of samples, so its answers are
// obviously right and independent of the real storage engine.
//
//   TestStorage st;
//   st.Add(*Labels::FromPairs({{"__name__", "up"}}), 1000, 1);
//   Engine engine(EngineOptions{}, &st);
//
// Thread-safe. Queriers see a snapshot: later appends do not change the
// samples of series a querier already returned.
#ifndef VIGIL_PROMQL_TESTING_TEST_STORAGE_H_
#define VIGIL_PROMQL_TESTING_TEST_STORAGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"
#include "tsdb/querier.h"
#include "tsdb/sample.h"

namespace vigil::promql::testing {

class TestStorage : public tsdb::Queryable, public tsdb::Appendable {
 public:
  TestStorage() = default;
  TestStorage(const TestStorage&) = delete;
  TestStorage& operator=(const TestStorage&) = delete;

  // Adds one sample. Samples may arrive in any order; a sample with an
  // existing timestamp replaces the old value (tests use this to overwrite).
  void Add(const tsdb::Labels& labels, int64_t t, double v);
  // Appends many samples to one series at once (bulk loading for
  // benchmarks); `samples` must be sorted and newer than existing ones.
  void AddSeries(const tsdb::Labels& labels,
                 const std::vector<tsdb::Sample>& samples);
  // Removes every series.
  void Clear();
  // Number of series stored.
  size_t NumSeries() const;

  absl::StatusOr<std::unique_ptr<tsdb::Querier>> NewQuerier(
      int64_t mint, int64_t maxt) override;
  std::unique_ptr<tsdb::Appender> NewAppender() override;

  // Shared, immutable once handed to a querier (copy-on-write in Add).
  using SamplesPtr = std::shared_ptr<std::vector<tsdb::Sample>>;

 private:
  friend class TestAppender;
  // Append path with Prometheus's rejection rules (out of order, duplicate).
  absl::Status AppendChecked(const tsdb::Labels& labels, int64_t t, double v);

  // std::mutex: Debian's Abseil has no TSan annotations.
  mutable std::mutex mu_;
  std::map<tsdb::Labels, SamplesPtr> series_;  // guarded by mu_
};

}  // namespace vigil::promql::testing

#endif  // VIGIL_PROMQL_TESTING_TEST_STORAGE_H_
