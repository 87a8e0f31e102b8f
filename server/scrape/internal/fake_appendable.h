// An in-memory Appendable for scrape tests: records committed samples per
// series, enforces in-order appends like the head (out of order, duplicate)
// and remembers whether each append came with a ref (cache hit) or labels.
#ifndef VIGIL_SERVER_SCRAPE_INTERNAL_FAKE_APPENDABLE_H_
#define VIGIL_SERVER_SCRAPE_INTERNAL_FAKE_APPENDABLE_H_

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"
#include "tsdb/sample.h"

namespace vigil::scrape::testing {

class FakeAppendable : public tsdb::Appendable {
 public:
  struct Series {
    tsdb::Labels labels;
    std::vector<tsdb::Sample> samples;
  };

  std::unique_ptr<tsdb::Appender> NewAppender() override;

  // Committed samples of the series printed as `labels.ToString()`.
  std::vector<tsdb::Sample> Samples(const std::string& series) const {
    absl::MutexLock l(&mu_);
    auto it = by_name_.find(series);
    if (it == by_name_.end()) return {};
    return series_[it->second - 1].samples;
  }
  std::vector<std::string> SeriesNames() const {
    absl::MutexLock l(&mu_);
    std::vector<std::string> out;
    for (const auto& [k, v] : by_name_) out.push_back(k);
    return out;
  }
  int appends_with_ref() const {
    absl::MutexLock l(&mu_);
    return with_ref_;
  }
  int appends_by_labels() const {
    absl::MutexLock l(&mu_);
    return by_labels_;
  }
  int commits() const {
    absl::MutexLock l(&mu_);
    return commits_;
  }
  // Drops a series as deletion or retention would: its ref answers
  // NotFound from now on and its labels start a new series.
  void Forget(const std::string& series) {
    absl::MutexLock l(&mu_);
    auto it = by_name_.find(series);
    if (it == by_name_.end()) return;
    forgotten_.push_back(it->second);
    by_name_.erase(it);
  }

 private:
  friend class FakeAppender;
  mutable absl::Mutex mu_;
  std::vector<Series> series_;  // ref = index + 1
  std::map<std::string, tsdb::SeriesRef> by_name_;
  int with_ref_ = 0;
  int by_labels_ = 0;
  int commits_ = 0;
  std::vector<tsdb::SeriesRef> forgotten_;
};

class FakeAppender : public tsdb::Appender {
 public:
  explicit FakeAppender(FakeAppendable* db) : db_(db) {}

  absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef ref,
                                         const tsdb::Labels& labels, int64_t t,
                                         double v) override {
    absl::MutexLock l(&db_->mu_);
    if (ref != 0) {
      ++db_->with_ref_;
      if (ref > db_->series_.size()) {
        return tsdb::MakeAppendError(tsdb::AppendError::kOther, "bad ref");
      }
      for (tsdb::SeriesRef f : db_->forgotten_) {
        if (f == ref) {
          return absl::NotFoundError(absl::StrCat("unknown series ref ", ref));
        }
      }
    } else {
      ++db_->by_labels_;
      std::string key = labels.ToString();
      auto it = db_->by_name_.find(key);
      if (it == db_->by_name_.end()) {
        // Series are created eagerly, as the head does; they survive a
        // rollback.
        db_->series_.push_back({labels, {}});
        it = db_->by_name_.emplace(key, db_->series_.size()).first;
      }
      ref = it->second;
    }
    // In-order check against committed and pending samples.
    int64_t last_t = INT64_MIN;
    double last_v = 0;
    const auto& committed = db_->series_[ref - 1].samples;
    if (!committed.empty()) {
      last_t = committed.back().t;
      last_v = committed.back().v;
    }
    for (const auto& p : pending_) {
      if (p.first == ref) {
        last_t = p.second.t;
        last_v = p.second.v;
      }
    }
    if (t < last_t) {
      return tsdb::MakeAppendError(tsdb::AppendError::kOutOfOrder, "");
    }
    if (t == last_t) {
      if (std::memcmp(&v, &last_v, sizeof v) == 0) return ref;
      return tsdb::MakeAppendError(tsdb::AppendError::kDuplicate, "");
    }
    pending_.push_back({ref, tsdb::Sample{t, v}});
    return ref;
  }

  absl::Status Commit() override {
    absl::MutexLock l(&db_->mu_);
    for (const auto& p : pending_) {
      db_->series_[p.first - 1].samples.push_back(p.second);
    }
    pending_.clear();
    ++db_->commits_;
    return absl::OkStatus();
  }
  void Rollback() override { pending_.clear(); }

 private:
  FakeAppendable* db_;
  std::vector<std::pair<tsdb::SeriesRef, tsdb::Sample>> pending_;
};

inline std::unique_ptr<tsdb::Appender> FakeAppendable::NewAppender() {
  return std::make_unique<FakeAppender>(this);
}

}  // namespace vigil::scrape::testing

#endif  // VIGIL_SERVER_SCRAPE_INTERNAL_FAKE_APPENDABLE_H_
