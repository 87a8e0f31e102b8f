// A tiny in-memory Appendable + Queryable for rule tests: every series is a
// sorted vector of samples. Commit makes a batch visible; Rollback drops it.
#ifndef VIGIL_ALERTING_RULES_MEM_STORAGE_H_
#define VIGIL_ALERTING_RULES_MEM_STORAGE_H_

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "tsdb/appender.h"
#include "tsdb/querier.h"
#include "tsdb/sample.h"

namespace vigil::alerting {

class MemStorage : public tsdb::Appendable, public tsdb::Queryable {
 public:
  std::unique_ptr<tsdb::Appender> NewAppender() override;
  absl::StatusOr<std::unique_ptr<tsdb::Querier>> NewQuerier(
      int64_t mint, int64_t maxt) override;

  // Latest sample of `labels` at or before t (within 5m), if any.
  std::optional<tsdb::Sample> Latest(const tsdb::Labels& labels,
                                     int64_t t) const;
  std::vector<tsdb::Sample> SamplesOf(const tsdb::Labels& labels) const;
  std::vector<tsdb::Labels> AllSeries() const;

  void Commit(std::vector<std::pair<tsdb::Labels, tsdb::Sample>> batch);

 private:
  mutable absl::Mutex mu_;
  std::map<tsdb::Labels, std::vector<tsdb::Sample>> series_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_MEM_STORAGE_H_
