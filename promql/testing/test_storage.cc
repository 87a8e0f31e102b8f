#include "promql/testing/test_storage.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vigil::promql::testing {
namespace {

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

class VectorIterator : public tsdb::SeriesIterator {
 public:
  VectorIterator(TestStorage::SamplesPtr samples, size_t begin, size_t end)
      : samples_(std::move(samples)), pos_(begin), begin_(begin), end_(end) {}

  bool Next() override {
    if (!started_) {
      started_ = true;
      return pos_ < end_;
    }
    if (pos_ < end_) ++pos_;
    return pos_ < end_;
  }
  bool Seek(int64_t t) override {
    if (!started_) started_ = true;
    if (pos_ >= end_) return false;
    if ((*samples_)[pos_].t >= t) return true;
    auto first = samples_->begin() + pos_;
    auto last = samples_->begin() + end_;
    auto it = std::lower_bound(
        first, last, t,
        [](const tsdb::Sample& s, int64_t ts) { return s.t < ts; });
    pos_ = it - samples_->begin();
    return pos_ < end_;
  }
  tsdb::Sample At() const override { return (*samples_)[pos_]; }
  absl::Status ReadAll(std::vector<tsdb::Sample>* out) override {
    size_t from = started_ ? pos_ + 1 : pos_;
    if (started_ && pos_ >= end_) from = end_;
    if (from < end_) {
      out->insert(out->end(), samples_->begin() + from,
                  samples_->begin() + end_);
    }
    started_ = true;
    pos_ = end_;
    return absl::OkStatus();
  }

 private:
  TestStorage::SamplesPtr samples_;
  size_t pos_;
  [[maybe_unused]] size_t begin_;
  size_t end_;
  bool started_ = false;
};

class TestQuerier : public tsdb::Querier {
 public:
  TestQuerier(std::vector<std::pair<tsdb::Labels, TestStorage::SamplesPtr>> s,
              int64_t mint, int64_t maxt)
      : series_(std::move(s)), mint_(mint), maxt_(maxt) {}

  absl::StatusOr<std::vector<tsdb::Series>> Select(
      const tsdb::SelectHints& hints,
      absl::Span<const tsdb::Matcher> matchers) override {
    std::vector<tsdb::Series> out;
    for (const auto& [labels, samples] : series_) {
      if (!Matches(labels, matchers)) continue;
      auto cmp = [](const tsdb::Sample& s, int64_t t) { return s.t < t; };
      size_t b =
          std::lower_bound(samples->begin(), samples->end(), mint_, cmp) -
          samples->begin();
      size_t e = std::lower_bound(samples->begin(), samples->end(),
                                  maxt_ == INT64_MAX ? maxt_ : maxt_ + 1, cmp) -
                 samples->begin();
      if (maxt_ == INT64_MAX) e = samples->size();
      if (b >= e) continue;
      out.push_back(tsdb::Series{
          labels, std::make_unique<VectorIterator>(samples, b, e)});
    }
    return out;
  }

  absl::StatusOr<std::vector<std::string>> LabelNames(
      absl::Span<const tsdb::Matcher> matchers) override {
    std::vector<std::string> names;
    for (const auto& [labels, samples] : series_) {
      if (!Matches(labels, matchers)) continue;
      for (const tsdb::Label& l : labels) names.push_back(l.name);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  absl::StatusOr<std::vector<std::string>> LabelValues(
      absl::string_view name,
      absl::Span<const tsdb::Matcher> matchers) override {
    std::vector<std::string> values;
    for (const auto& [labels, samples] : series_) {
      if (!Matches(labels, matchers)) continue;
      absl::string_view v = labels.Get(name);
      if (!v.empty()) values.emplace_back(v);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
  }

 private:
  static bool Matches(const tsdb::Labels& l,
                      absl::Span<const tsdb::Matcher> matchers) {
    for (const tsdb::Matcher& m : matchers) {
      if (!m.Matches(l.Get(m.name()))) return false;
    }
    return true;
  }

  std::vector<std::pair<tsdb::Labels, TestStorage::SamplesPtr>> series_;
  int64_t mint_, maxt_;
};

}  // namespace

class TestAppender : public tsdb::Appender {
 public:
  explicit TestAppender(TestStorage* st) : st_(st) {}
  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef ref,
                                         const tsdb::Labels& labels, int64_t t,
                                         double v) override {
    if (ref != 0 && ref <= refs_.size()) {
      pending_.push_back({ref - 1, t, v});
      return ref;
    }
    if (labels.empty()) {
      return tsdb::MakeAppendError(tsdb::AppendError::kInvalidLabels,
                                   "empty label set");
    }
    refs_.push_back(labels);
    pending_.push_back({refs_.size() - 1, t, v});
    return refs_.size();
  }
  absl::Status Commit() override {
    for (const Pending& p : pending_) {
      // Per-sample rejections do not fail the batch, as in Prometheus.
      st_->AppendChecked(refs_[p.idx], p.t, p.v).IgnoreError();
    }
    pending_.clear();
    return absl::OkStatus();
  }
  void Rollback() override { pending_.clear(); }

 private:
  struct Pending {
    size_t idx;
    int64_t t;
    double v;
  };
  TestStorage* st_;
  std::vector<tsdb::Labels> refs_;
  std::vector<Pending> pending_;
};

void TestStorage::Add(const tsdb::Labels& labels, int64_t t, double v) {
  std::lock_guard<std::mutex> l(mu_);
  SamplesPtr& p = series_[labels];
  if (p == nullptr) {
    p = std::make_shared<std::vector<tsdb::Sample>>();
  } else if (p.use_count() > 1) {
    p = std::make_shared<std::vector<tsdb::Sample>>(*p);
  }
  std::vector<tsdb::Sample>& s = *p;
  if (s.empty() || s.back().t < t) {
    s.push_back({t, v});
    return;
  }
  auto it = std::lower_bound(
      s.begin(), s.end(), t,
      [](const tsdb::Sample& a, int64_t ts) { return a.t < ts; });
  if (it != s.end() && it->t == t) {
    it->v = v;
  } else {
    s.insert(it, {t, v});
  }
}

void TestStorage::AddSeries(const tsdb::Labels& labels,
                            const std::vector<tsdb::Sample>& samples) {
  std::lock_guard<std::mutex> l(mu_);
  SamplesPtr& p = series_[labels];
  if (p == nullptr) {
    p = std::make_shared<std::vector<tsdb::Sample>>();
  } else if (p.use_count() > 1) {
    p = std::make_shared<std::vector<tsdb::Sample>>(*p);
  }
  p->insert(p->end(), samples.begin(), samples.end());
}

absl::Status TestStorage::AppendChecked(const tsdb::Labels& labels, int64_t t,
                                        double v) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = series_.find(labels);
    if (it != series_.end() && !it->second->empty()) {
      const tsdb::Sample& last = it->second->back();
      if (t < last.t) {
        return tsdb::MakeAppendError(tsdb::AppendError::kOutOfOrder,
                                     labels.ToString());
      }
      if (t == last.t) {
        if (SameBits(v, last.v)) return absl::OkStatus();
        return tsdb::MakeAppendError(tsdb::AppendError::kDuplicate,
                                     labels.ToString());
      }
    }
  }
  Add(labels, t, v);
  return absl::OkStatus();
}

void TestStorage::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  series_.clear();
}

size_t TestStorage::NumSeries() const {
  std::lock_guard<std::mutex> l(mu_);
  return series_.size();
}

absl::StatusOr<std::unique_ptr<tsdb::Querier>> TestStorage::NewQuerier(
    int64_t mint, int64_t maxt) {
  std::vector<std::pair<tsdb::Labels, SamplesPtr>> snapshot;
  {
    std::lock_guard<std::mutex> l(mu_);
    snapshot.reserve(series_.size());
    for (const auto& [labels, samples] : series_) {
      snapshot.emplace_back(labels, samples);
    }
  }
  return std::unique_ptr<tsdb::Querier>(
      new TestQuerier(std::move(snapshot), mint, maxt));
}

std::unique_ptr<tsdb::Appender> TestStorage::NewAppender() {
  return std::make_unique<TestAppender>(this);
}

}  // namespace vigil::promql::testing
