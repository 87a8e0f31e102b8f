#include "alerting/rules/mem_storage.h"

#include <algorithm>

namespace vigil::alerting {
namespace {

class MemAppender : public tsdb::Appender {
 public:
  explicit MemAppender(MemStorage* st) : st_(st) {}
  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef, const tsdb::Labels& l,
                                         int64_t t, double v) override {
    batch_.push_back({l, {t, v}});
    return 1;
  }
  absl::Status Commit() override {
    st_->Commit(std::move(batch_));
    return absl::OkStatus();
  }
  void Rollback() override { batch_.clear(); }

 private:
  MemStorage* st_;
  std::vector<std::pair<tsdb::Labels, tsdb::Sample>> batch_;
};

class VecIterator : public tsdb::SeriesIterator {
 public:
  explicit VecIterator(std::vector<tsdb::Sample> s) : s_(std::move(s)) {}
  bool Next() override { return ++i_ < s_.size(); }
  bool Seek(int64_t t) override {
    if (i_ == static_cast<size_t>(-1)) i_ = 0;
    while (i_ < s_.size() && s_[i_].t < t) ++i_;
    return i_ < s_.size();
  }
  tsdb::Sample At() const override { return s_[i_]; }

 private:
  std::vector<tsdb::Sample> s_;
  size_t i_ = static_cast<size_t>(-1);
};

class MemQuerier : public tsdb::Querier {
 public:
  MemQuerier(std::map<tsdb::Labels, std::vector<tsdb::Sample>> data,
             int64_t mint, int64_t maxt)
      : data_(std::move(data)), mint_(mint), maxt_(maxt) {}
  absl::StatusOr<std::vector<tsdb::Series>> Select(
      const tsdb::SelectHints&,
      absl::Span<const tsdb::Matcher> matchers) override {
    std::vector<tsdb::Series> out;
    for (const auto& [l, samples] : data_) {
      bool ok = true;
      for (const tsdb::Matcher& m : matchers) {
        if (!m.Matches(l.Get(m.name()))) ok = false;
      }
      if (!ok) continue;
      std::vector<tsdb::Sample> in;
      for (const tsdb::Sample& s : samples) {
        if (s.t >= mint_ && s.t <= maxt_) in.push_back(s);
      }
      if (in.empty()) continue;
      out.push_back({l, std::make_unique<VecIterator>(std::move(in))});
    }
    return out;
  }
  absl::StatusOr<std::vector<std::string>> LabelNames(
      absl::Span<const tsdb::Matcher>) override {
    return std::vector<std::string>{};
  }
  absl::StatusOr<std::vector<std::string>> LabelValues(
      absl::string_view, absl::Span<const tsdb::Matcher>) override {
    return std::vector<std::string>{};
  }

 private:
  std::map<tsdb::Labels, std::vector<tsdb::Sample>> data_;
  int64_t mint_, maxt_;
};

}  // namespace

std::unique_ptr<tsdb::Appender> MemStorage::NewAppender() {
  return std::make_unique<MemAppender>(this);
}

absl::StatusOr<std::unique_ptr<tsdb::Querier>> MemStorage::NewQuerier(
    int64_t mint, int64_t maxt) {
  absl::MutexLock l(&mu_);
  return std::unique_ptr<tsdb::Querier>(
      std::make_unique<MemQuerier>(series_, mint, maxt));
}

void MemStorage::Commit(
    std::vector<std::pair<tsdb::Labels, tsdb::Sample>> batch) {
  absl::MutexLock l(&mu_);
  for (auto& [labels, s] : batch) {
    auto& v = series_[labels];
    if (!v.empty() && v.back().t >= s.t) continue;  // out of order
    v.push_back(s);
  }
}

std::optional<tsdb::Sample> MemStorage::Latest(const tsdb::Labels& labels,
                                               int64_t t) const {
  absl::MutexLock l(&mu_);
  auto it = series_.find(labels);
  if (it == series_.end()) return std::nullopt;
  std::optional<tsdb::Sample> best;
  for (const tsdb::Sample& s : it->second) {
    if (s.t <= t && s.t > t - 300000) best = s;
  }
  if (best && tsdb::IsStaleNaN(best->v)) return std::nullopt;
  return best;
}

std::vector<tsdb::Sample> MemStorage::SamplesOf(
    const tsdb::Labels& labels) const {
  absl::MutexLock l(&mu_);
  auto it = series_.find(labels);
  if (it == series_.end()) return {};
  return it->second;
}

std::vector<tsdb::Labels> MemStorage::AllSeries() const {
  absl::MutexLock l(&mu_);
  std::vector<tsdb::Labels> out;
  for (const auto& [k, v] : series_) out.push_back(k);
  return out;
}

}  // namespace vigil::alerting
