#include "promql/engine.h"

#include <algorithm>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "promql/evaluator.h"
#include "promql/parser/parser.h"

namespace vigil::promql {

// Parsed expressions are immutable, so one cached tree serves concurrent
// queries. The cache is a small LRU keyed by the query text.
class Engine::Impl {
 public:
  Impl(int capacity, tsdb::Queryable* storage)
      : capacity_(capacity), storage_(storage) {}

  tsdb::Queryable* storage() const { return storage_; }

  absl::StatusOr<std::shared_ptr<const Expr>> Parse(absl::string_view query) {
    std::string key(query);
    if (capacity_ > 0) {
      std::lock_guard<std::mutex> l(mu_);
      auto it = index_.find(key);
      if (it != index_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
    }
    absl::StatusOr<ExprPtr> parsed = ParseExpr(query);
    if (!parsed.ok()) return parsed.status();
    std::shared_ptr<const Expr> expr(std::move(*parsed));
    if (capacity_ > 0) {
      std::lock_guard<std::mutex> l(mu_);
      if (index_.find(key) == index_.end()) {
        lru_.emplace_front(key, expr);
        index_[key] = lru_.begin();
        while (static_cast<int>(lru_.size()) > capacity_) {
          index_.erase(lru_.back().first);
          lru_.pop_back();
        }
      }
    }
    return expr;
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const Expr>>;
  const int capacity_;
  tsdb::Queryable* const storage_;
  // std::mutex rather than absl::Mutex: Debian's Abseil is not built with
  // TSan annotations, so only pthread-based locks are visible to TSan.
  std::mutex mu_;
  // Both guarded by mu_.
  std::list<Entry> lru_;
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_;
};

namespace {

EvalParams MakeParams(const EngineOptions& o, const QueryContext& ctx) {
  EvalParams p;
  p.lookback_ms = absl::ToInt64Milliseconds(o.lookback_delta);
  p.max_samples = o.max_samples;
  p.default_evaluation_interval_ms =
      absl::ToInt64Milliseconds(o.default_evaluation_interval);
  p.max_points_per_series = o.max_points_per_series;
  p.deadline = o.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                     : absl::Now() + o.timeout;
  p.cancelled = ctx.cancelled;
  p.max_threads = std::max(
      1, std::min(8, static_cast<int>(std::thread::hardware_concurrency())));
  return p;
}

}  // namespace

Engine::Engine(EngineOptions options, tsdb::Queryable* storage)
    : options_(options),
      impl_(std::make_unique<Impl>(options.parse_cache_size, storage)) {}

Engine::~Engine() = default;

absl::StatusOr<QueryResult> Engine::InstantQuery(absl::string_view query,
                                                 int64_t time_ms,
                                                 const QueryContext& ctx) {
  absl::StatusOr<std::shared_ptr<const Expr>> expr = impl_->Parse(query);
  if (!expr.ok()) return expr.status();
  EvalParams p = MakeParams(options_, ctx);
  p.start_ms = p.end_ms = time_ms;
  p.step_ms = 0;
  return Evaluate(**expr, p, impl_->storage(), nullptr);
}

absl::StatusOr<QueryResult> Engine::RangeQuery(absl::string_view query,
                                               int64_t start_ms, int64_t end_ms,
                                               int64_t step_ms,
                                               const QueryContext& ctx) {
  if (step_ms <= 0) {
    return absl::InvalidArgumentError(
        "zero or negative query resolution step widths are not accepted. "
        "Try a positive integer");
  }
  if (end_ms < start_ms) {
    return absl::InvalidArgumentError(
        "end timestamp must not be before start time");
  }
  absl::StatusOr<std::shared_ptr<const Expr>> expr = impl_->Parse(query);
  if (!expr.ok()) return expr.status();
  EvalParams p = MakeParams(options_, ctx);
  p.start_ms = start_ms;
  p.end_ms = end_ms;
  p.step_ms = step_ms;
  return Evaluate(**expr, p, impl_->storage(), nullptr);
}

}  // namespace vigil::promql
