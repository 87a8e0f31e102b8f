#include "server/scrape/scrape_loop.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tsdb/sample.h"
#include "tsdb/textparse/parser.h"

namespace vigil::scrape {
namespace {

constexpr const char* kReportNames[5] = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added"};

// A line not seen for this many scrape attempts leaves the cache. Keeping
// it a while avoids re-resolving series that flap in and out.
constexpr uint64_t kEvictAfterIterations = 10;

constexpr absl::string_view kExportedPrefix = "exported_";

// Passed with a known ref, whose labels the appender does not look at.
const tsdb::Labels& NoLabels() {
  static const tsdb::Labels* const kEmpty = new tsdb::Labels();
  return *kEmpty;
}

}  // namespace

absl::string_view TargetHealthName(TargetHealth h) {
  switch (h) {
    case TargetHealth::kUp:
      return "up";
    case TargetHealth::kDown:
      return "down";
    case TargetHealth::kUnknown:
      break;
  }
  return "unknown";
}

std::string AcceptHeader(const std::vector<std::string>& protocols) {
  // Prometheus weighs the listed protocols 0.5, 0.4, ... (counting down from
  // the number of known protocols plus one) and ends with */*.
  int weight = 5;
  std::vector<std::string> parts;
  for (const std::string& p : protocols) {
    const char* mime = nullptr;
    if (p == "OpenMetricsText1.0.0") {
      mime = "application/openmetrics-text;version=1.0.0";
    } else if (p == "OpenMetricsText0.0.1") {
      mime = "application/openmetrics-text;version=0.0.1";
    } else if (p == "PrometheusText0.0.4") {
      mime = "text/plain;version=0.0.4";
    }
    if (mime == nullptr) continue;  // protobuf: not parseable here
    parts.push_back(absl::StrCat(mime, ";q=0.", weight));
    if (weight > 1) --weight;
  }
  parts.push_back(absl::StrCat("*/*;q=0.", weight));
  return absl::StrJoin(parts, ",");
}

HttpScraper::HttpScraper(
    std::string url, std::string accept, int64_t body_size_limit,
    std::vector<std::pair<std::string, std::string>> headers,
    std::shared_ptr<net::HttpClient> client)
    : client_(std::move(client)) {
  if (client_ == nullptr) {
    // Default options load no files, so this cannot fail.
    client_ = *net::HttpClient::Create();
  }
  request_.url = std::move(url);
  request_.body_size_limit = body_size_limit;
  // Slot 0 carries the timeout, set per scrape.
  request_.headers.emplace_back("X-Prometheus-Scrape-Timeout-Seconds", "");
  if (!accept.empty()) request_.headers.emplace_back("Accept", accept);
  for (auto& h : headers) request_.headers.push_back(std::move(h));
}

absl::Status HttpScraper::Scrape(absl::Duration timeout, ScrapeBody* out) {
  request_.timeout = timeout;
  request_.headers[0].second = absl::StrCat(absl::ToDoubleSeconds(timeout));
  absl::Status s = client_->Do(request_, &response_);
  if (!s.ok()) return s;
  if (response_.status != 200) {
    return absl::UnavailableError(absl::StrCat("server returned HTTP status ",
                                               response_.status, " ",
                                               response_.reason));
  }
  out->content_type.swap(response_.content_type);
  out->data.swap(response_.body);
  // The swap left the caller's previous body here. The client allocates
  // every body afresh, so keeping it would only hold a body-sized buffer
  // per target between scrapes (~0.5 MiB at 5,000 series).
  std::string().swap(response_.body);
  return absl::OkStatus();
}

ScrapeLoop::ScrapeLoop(tsdb::Appendable* db, std::unique_ptr<Scraper> scraper,
                       tsdb::Labels target_labels, ScrapeOptions options)
    : db_(db),
      scraper_(std::move(scraper)),
      target_labels_(std::move(target_labels)),
      options_(std::move(options)) {
  for (const char* name : kReportNames) {
    tsdb::LabelsBuilder lb(target_labels_);
    lb.Set(tsdb::kMetricName, name);
    report_labels_.push_back(lb.Build());
  }
}

ScrapeLoop::~ScrapeLoop() { Stop(false); }

ScrapeStatus ScrapeLoop::status() const {
  absl::MutexLock l(&mu_);
  return status_;
}

std::shared_ptr<const std::vector<MetricMetadata>> ScrapeLoop::metadata()
    const {
  absl::MutexLock l(&mu_);
  if (meta_snapshot_ == nullptr) {
    return std::make_shared<const std::vector<MetricMetadata>>();
  }
  return meta_snapshot_;
}

void ScrapeLoop::NoteMetadata(const tsdb::textparse::Parser& p,
                              tsdb::textparse::Entry e) {
  using tsdb::textparse::Entry;
  const absl::string_view name = p.FamilyName();
  auto it = meta_.find(name);
  if (it == meta_.end()) {
    it = meta_.emplace(std::string(name), MetaEntry{}).first;
    meta_changed_ = true;
  }
  MetaEntry& m = it->second;
  m.seen_iter = iter_;
  // Exporters repeat the same text every scrape: compare, copy on change.
  if (e == Entry::kType) {
    if (m.type != p.Type()) {
      m.type = p.Type();
      meta_changed_ = true;
    }
  } else {
    std::string& field = e == Entry::kHelp ? m.help : m.unit;
    const absl::string_view text = e == Entry::kHelp ? p.Help() : p.Unit();
    if (absl::string_view(field) != text) {
      field.assign(text.data(), text.size());
      meta_changed_ = true;
    }
  }
}

void ScrapeLoop::FinishMetadata() {
  if (iter_ % kEvictAfterIterations == 0) {
    for (auto it = meta_.begin(); it != meta_.end();) {
      if (it->second.seen_iter + kEvictAfterIterations < iter_) {
        meta_.erase(it++);
        meta_changed_ = true;
      } else {
        ++it;
      }
    }
  }
  if (!meta_changed_) return;
  meta_changed_ = false;
  auto list = std::make_shared<std::vector<MetricMetadata>>();
  list->reserve(meta_.size());
  for (const auto& [name, m] : meta_) {
    list->push_back(MetricMetadata{name, m.type, m.help, m.unit});
  }
  std::sort(list->begin(), list->end(),
            [](const MetricMetadata& a, const MetricMetadata& b) {
              return a.metric < b.metric;
            });
  absl::MutexLock l(&mu_);
  meta_snapshot_ = std::move(list);
}

absl::Duration ScrapeLoop::offset() const {
  int64_t interval_ns = absl::ToInt64Nanoseconds(options_.interval);
  if (interval_ns <= 0) return absl::ZeroDuration();
  return absl::Nanoseconds(static_cast<int64_t>(
      target_labels_.Hash() % static_cast<uint64_t>(interval_ns)));
}

void ScrapeLoop::Start() {
  absl::MutexLock l(&mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ScrapeLoop::Stop(bool write_stale_markers) {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  if (!write_stale_markers || !scraped_ok_before_) return;
  // The target is gone: end every series of its last scrape, and the
  // report series, just after the last sample.
  int64_t t = std::max(absl::ToUnixMillis(absl::Now()), last_scrape_ms_ + 1);
  std::unique_ptr<tsdb::Appender> app = db_->NewAppender();
  ScrapeReport unused;
  FinishIteration(false, t, app.get(), &unused);
  absl::Status s = app->Commit();
  (void)s;  // best effort: the target is going away either way
  AppendReport(t, absl::ZeroDuration(), false, ScrapeReport{}, true);
  scraped_ok_before_ = false;
}

void ScrapeLoop::Run() {
  const absl::Duration interval = options_.interval;
  // Next instant t with t ≡ offset (mod interval).
  absl::Time now = absl::Now();
  absl::Duration since_epoch = now - absl::UnixEpoch();
  absl::Duration phase = since_epoch - absl::Floor(since_epoch, interval);
  absl::Duration wait = offset() - phase;
  if (wait < absl::ZeroDuration()) wait += interval;
  absl::Time next = now + wait;
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      while (!stopping_ && absl::Now() < next) {
        wake_.WaitWithDeadline(&mu_, next);
      }
      if (stopping_) return;
    }
    absl::Time start = absl::Now();
    absl::Status s = ScrapeOnce(start);
    (void)s;  // recorded in status()
    next += interval;
    absl::Time after = absl::Now();
    if (next <= after) {
      // Overran: skip the missed ticks but keep the phase.
      int64_t missed = (after - next) / interval + 1;
      next += missed * interval;
    }
  }
}

absl::Status ScrapeLoop::ScrapeOnce(absl::Time now) {
  absl::Time start = absl::Now();
  absl::Status s = scraper_->Scrape(options_.timeout, &body_);
  absl::Duration fetch = absl::Now() - start;
  if (!s.ok()) {
    ++counters_.scrapes;
    ++counters_.failed_scrapes;
    const int64_t t = absl::ToUnixMillis(now);
    ++iter_;
    ScrapeReport rep;
    std::unique_ptr<tsdb::Appender> app = db_->NewAppender();
    FinishIteration(false, t, app.get(), &rep);
    absl::Status cs = app->Commit();
    (void)cs;
    AppendReport(t, fetch, false, rep, false);
    last_report_ = rep;
    last_scrape_ms_ = std::max(last_scrape_ms_, t);
    absl::MutexLock l(&mu_);
    status_.health = TargetHealth::kDown;
    status_.last_scrape = now;
    status_.last_duration = fetch;
    status_.last_error = std::string(s.message());
    status_.last_samples = 0;
    return s;
  }
  s = AppendScrape(body_, now, fetch);
  // Nothing refers to the body once appended (the cache and metadata hold
  // copies); between scrapes it would only be resident memory.
  std::string().swap(body_.data);
  return s;
}

absl::Status ScrapeLoop::AppendScrape(const ScrapeBody& body, absl::Time now,
                                      absl::Duration duration) {
  ++counters_.scrapes;
  const int64_t t = absl::ToUnixMillis(now);
  ++iter_;
  for (ScrapeCache::Id id : added_this_iter_) {
    cache_.entry(id).in_added = false;
  }
  added_this_iter_.clear();
  ScrapeReport rep;
  absl::Time start = absl::Now();
  const uint64_t misses_before = counters_.cache_misses.load();
  std::unique_ptr<tsdb::Appender> app = db_->NewAppender();
  absl::Status s = AppendBody(body, t, app.get(), &rep);
  if (s.ok()) {
    FinishIteration(true, t, app.get(), &rep);
    s = app->Commit();
  } else {
    app->Rollback();
  }
  if (s.ok()) {
    for (ScrapeCache::Id id : added_this_iter_) {
      cache_.entry(id).in_added = false;
    }
    added_this_iter_.clear();
    if (counters_.cache_misses.load() != misses_before) {
      cache_shrunk_ = false;
    } else if (!cache_shrunk_) {
      ShrinkCache();
      cache_shrunk_ = true;
    }
  } else {
    ++counters_.failed_scrapes;
    // Refs handed out by a rolled-back batch are not trusted. Lines never
    // part of a successful scrape are in no order list and can go.
    for (ScrapeCache::Id id : added_this_iter_) {
      CacheEntry& e = cache_.entry(id);
      e.in_added = false;
      if (!e.ok_once) {
        cache_.Erase(id);
      } else {
        e.ref = 0;
      }
    }
    added_this_iter_.clear();
    // As in Prometheus, a failed scrape ends every series of the last good
    // one.
    std::unique_ptr<tsdb::Appender> stale = db_->NewAppender();
    FinishIteration(false, t, stale.get(), &rep);
    absl::Status cs = stale->Commit();
    (void)cs;
  }
  FinishMetadata();
  duration += absl::Now() - start;
  AppendReport(t, duration, s.ok(), rep, false);
  last_report_ = rep;
  last_scrape_ms_ = std::max(last_scrape_ms_, t);
  absl::MutexLock l(&mu_);
  status_.health = s.ok() ? TargetHealth::kUp : TargetHealth::kDown;
  status_.last_scrape = now;
  status_.last_duration = duration;
  status_.last_error = s.ok() ? std::string() : std::string(s.message());
  status_.last_samples = rep.samples_scraped;
  return s;
}

absl::Status ScrapeLoop::AppendBody(const ScrapeBody& body, int64_t t,
                                    tsdb::Appender* app, ScrapeReport* report) {
  using tsdb::textparse::Entry;
  tsdb::textparse::Parser p(body.data,
                            tsdb::textparse::DetectFormat(body.content_type));
  const bool honor_ts = options_.honor_timestamps;
  const uint64_t sample_limit = options_.sample_limit;
  bool over_limit = false;
  uint64_t hits = 0;
  uint64_t predicted = 0;
  uint64_t misses = 0;
  size_t cursor = 0;
  next_order_.clear();
  absl::Status err;
  const uint32_t cur = static_cast<uint32_t>(iter_);
  for (;;) {
    // With many targets the cache entries and their keys are cold: fetch
    // the entry 8 lines ahead and its key's bytes 4 lines ahead, so the
    // predicted comparison below does not wait for memory twice per line.
    if (cursor + 8 < order_.size()) {
      __builtin_prefetch(cache_.EntryAddress(order_[cursor + 8]));
    }
    if (cursor + 4 < order_.size()) {
      __builtin_prefetch(cache_.KeyAddress(order_[cursor + 4]));
    }
    // Exporters print their series in the same order every time, so the
    // line after the last match in the previous scrape's order is almost
    // always the one we need: the parser compares its bytes (one memcmp)
    // and then parses only the value — no label parsing, no hashing.
    Entry e = cursor < order_.size() && !over_limit
                  ? p.NextPredicted(cache_.key(order_[cursor]))
                  : p.Next();
    if (e == Entry::kSeries) {
      ++report->samples_scraped;
      if (over_limit) continue;  // only counting now
      const absl::string_view series = p.Series();
      ScrapeCache::Id id = ScrapeCache::kNotFound;
      // The final labels of this line, built only while its ref is unknown.
      tsdb::Labels labels;
      bool have_labels = false;
      if (p.predicted()) {
        id = order_[cursor];
        ++cursor;
        ++predicted;
        ++hits;
      } else if (cursor < order_.size() &&
                 cache_.key(order_[cursor]) == series) {
        // The fast path declines lines it cannot vouch for (exemplars,
        // CRLF); they may still be the predicted series.
        id = order_[cursor];
        ++cursor;
        ++predicted;
        ++hits;
      }
      if (id == ScrapeCache::kNotFound) {
        id = cache_.Find(series);
        if (id != ScrapeCache::kNotFound) {
          ++hits;
          // Resynchronise the prediction after an insertion or removal.
          const uint32_t pos = cache_.entry(id).order_pos;
          if (pos < order_.size() && order_[pos] == id) cursor = pos + 1;
        } else {
          ++misses;
          absl::StatusOr<tsdb::Labels> parsed = p.BuildLabels();
          if (!parsed.ok()) {
            err = parsed.status();
            break;
          }
          bool dropped = false;
          err = BuildLabels(*parsed, p.EmptyLabelNames(), &labels, &dropped);
          if (!err.ok()) break;
          id = cache_.Insert(series);
          if (id == ScrapeCache::kNotFound) {
            err = absl::ResourceExhaustedError(
                absl::StrCat("scrape cache full (", cache_.size(),
                             " lines) at series ", series));
            break;
          }
          have_labels = true;
          CacheEntry& fresh = cache_.entry(id);
          fresh.dropped = dropped;
          fresh.in_added = true;
          added_this_iter_.push_back(id);
        }
      }
      next_order_.push_back(id);
      // No insertion happens below, so the reference stays valid.
      CacheEntry* ce = &cache_.entry(id);
      ce->attempt_iter = cur;
      if (ce->dropped) continue;
      if (sample_limit != 0 && report->samples_post_relabel >= sample_limit) {
        over_limit = true;
        ++report->samples_post_relabel;
        continue;
      }
      ++report->samples_post_relabel;
      int64_t ts = t;
      if (honor_ts) {
        std::optional<int64_t> pt = p.Timestamp();
        if (pt) ts = *pt;
        ce->explicit_timestamp = pt.has_value();
      }
      if (ce->ref == 0 && !have_labels) {
        err = RestoreLabels(cache_.key(id), &labels, &ce->dropped);
        if (!err.ok()) break;
        if (ce->dropped) continue;
        have_labels = true;
      }
      bool was_new = ce->ref == 0;
      absl::StatusOr<tsdb::SeriesRef> ref =
          app->Append(ce->ref, was_new ? labels : NoLabels(), ts, p.Value());
      if (!was_new && absl::IsNotFound(ref.status())) {
        // The store no longer knows the ref (the series was deleted or
        // dropped by retention): resolve the series by its labels again.
        ce->ref = 0;
        err = RestoreLabels(cache_.key(id), &labels, &ce->dropped);
        if (!err.ok()) break;
        if (ce->dropped) continue;
        was_new = true;
        ref = app->Append(0, labels, ts, p.Value());
      }
      if (ref.ok()) {
        if (was_new) {
          ce->ref = *ref;
          ++report->series_added;
          if (!ce->in_added) {
            ce->in_added = true;
            added_this_iter_.push_back(id);
          }
        }
        continue;
      }
      switch (tsdb::ClassifyAppendError(ref.status())) {
        case tsdb::AppendError::kOutOfOrder:
          ++counters_.out_of_order;
          continue;
        case tsdb::AppendError::kDuplicate:
          ++counters_.duplicate;
          continue;
        case tsdb::AppendError::kOutOfBounds:
          ++counters_.out_of_bounds;
          continue;
        default:
          break;
      }
      err = ref.status();
      break;
    }
    if (e == Entry::kType || e == Entry::kHelp || e == Entry::kUnit) {
      NoteMetadata(p, e);
      continue;
    }
    if (e == Entry::kEOF) break;
    if (e == Entry::kInvalid) {
      err = p.status();
      break;
    }
  }
  counters_.cache_hits += hits;
  counters_.cache_predicted += predicted;
  counters_.cache_misses += misses;
  if (!err.ok()) return err;
  if (over_limit) {
    ++counters_.sample_limit_exceeded;
    return absl::ResourceExhaustedError(
        absl::StrCat("sample limit exceeded: ", report->samples_post_relabel,
                     " samples after metric relabeling, limit ", sample_limit));
  }
  return absl::OkStatus();
}

absl::Status ScrapeLoop::BuildLabels(
    const tsdb::Labels& parsed,
    absl::Span<const absl::string_view> exposed_empty, tsdb::Labels* out,
    bool* dropped) {
  tsdb::LabelsBuilder lb(parsed);
  for (const tsdb::Label& tl : target_labels_) {
    absl::string_view exposed = parsed.Get(tl.name);
    if (options_.honor_labels) {
      // An exposed `name=""` wins too: the series ends up without the label,
      // as in Prometheus, where the empty label is only dropped after the
      // target's labels were merged.
      if (exposed.empty() &&
          std::find(exposed_empty.begin(), exposed_empty.end(), tl.name) ==
              exposed_empty.end()) {
        lb.Set(tl.name, tl.value);
      }
      continue;
    }
    if (!exposed.empty()) {
      // Keep the exposed value under exported_<name>, prefixing again
      // until the name is free.
      std::string name = absl::StrCat(kExportedPrefix, tl.name);
      while (parsed.Has(name) || target_labels_.Has(name)) {
        name = absl::StrCat(kExportedPrefix, name);
      }
      lb.Set(name, exposed);
    }
    lb.Set(tl.name, tl.value);
  }
  *dropped = false;
  if (options_.metric_relabel && !options_.metric_relabel(&lb)) {
    *dropped = true;
    return absl::OkStatus();
  }
  tsdb::Labels final_labels = lb.Build();
  if (final_labels.empty()) {
    *dropped = true;
    return absl::OkStatus();
  }
  if (!final_labels.Has(tsdb::kMetricName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("series ", final_labels.ToString(),
                     " has no metric name after relabeling"));
  }
  absl::Status s = CheckLabelLimits(final_labels);
  if (!s.ok()) return s;
  *out = std::move(final_labels);
  return absl::OkStatus();
}

absl::Status ScrapeLoop::RestoreLabels(absl::string_view key, tsdb::Labels* out,
                                       bool* dropped) {
  // A key is the series part of an exposition line, whose syntax the text
  // and OpenMetrics formats share.
  const std::string line = absl::StrCat(key, " 0\n");
  tsdb::textparse::Parser p(line, tsdb::textparse::Format::kPrometheusText);
  if (p.Next() != tsdb::textparse::Entry::kSeries) {
    return absl::InternalError(absl::StrCat("re-parsing cached series ", key,
                                            ": ", p.status().message()));
  }
  absl::StatusOr<tsdb::Labels> parsed = p.BuildLabels();
  if (!parsed.ok()) return parsed.status();
  return BuildLabels(*parsed, p.EmptyLabelNames(), out, dropped);
}

void ScrapeLoop::ShrinkCache() {
  cache_.Shrink();
  order_.shrink_to_fit();
  // next_order_ becomes order_ at the next successful scrape.
  std::vector<ScrapeCache::Id>().swap(next_order_);
  next_order_.reserve(order_.size());
  std::vector<ScrapeCache::Id>().swap(added_this_iter_);
}

absl::Status ScrapeLoop::CheckLabelLimits(const tsdb::Labels& l) const {
  const ScrapeOptions& o = options_;
  if (o.label_limit != 0 && l.size() > o.label_limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "label_limit exceeded (metric: ", l.MetricName(),
        ", number of labels: ", l.size(), ", limit: ", o.label_limit, ")"));
  }
  for (const tsdb::Label& x : l) {
    if (o.label_name_length_limit != 0 &&
        x.name.size() > o.label_name_length_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "label_name_length_limit exceeded (metric: ", l.MetricName(),
          ", label name: ", x.name, ", length: ", x.name.size(),
          ", limit: ", o.label_name_length_limit, ")"));
    }
    if (o.label_value_length_limit != 0 &&
        x.value.size() > o.label_value_length_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "label_value_length_limit exceeded (metric: ", l.MetricName(),
          ", label name: ", x.name, ", value: \"", x.value, "\", length: ",
          x.value.size(), ", limit: ", o.label_value_length_limit, ")"));
    }
  }
  return absl::OkStatus();
}

void ScrapeLoop::FinishIteration(bool success, int64_t t, tsdb::Appender* app,
                                 ScrapeReport* report) {
  const uint32_t cur = static_cast<uint32_t>(iter_);
  // Lines of this scrape: mark them part of the last good scrape. Counting
  // distinct entries tells whether the cache holds anything else, so the
  // steady state never walks the whole cache.
  size_t distinct = 0;
  if (success) {
    for (ScrapeCache::Id id : next_order_) {
      CacheEntry& e = cache_.entry(id);
      if (!e.ok_once || e.ok_iter != cur) {
        e.ok_iter = cur;
        e.ok_once = true;
        ++distinct;
      }
    }
  }
  // Lines of the previous good scrape (order_, when order_live_) that this
  // one did not see end their series. After a failure or on Stop, none was
  // seen.
  std::vector<tsdb::SeriesRef> gone;
  if (order_live_) {
    for (ScrapeCache::Id id : order_) {
      const CacheEntry& e = cache_.entry(id);
      if (success && e.ok_iter == cur) continue;
      if (e.dropped || e.explicit_timestamp || e.ref == 0) continue;
      gone.push_back(e.ref);
    }
  }
  if (!gone.empty()) {
    // Two exposition lines can map to one series (e.g. `a{x="1"}` and
    // `a{x="1",}`, or after relabeling), and one line can appear twice; do
    // not end a series that is still being written, or end one twice.
    absl::flat_hash_set<tsdb::SeriesRef> done;
    if (success) {
      for (ScrapeCache::Id id : next_order_) {
        const tsdb::SeriesRef ref = cache_.entry(id).ref;
        if (ref != 0) done.insert(ref);
      }
    }
    for (tsdb::SeriesRef ref : gone) {
      if (!done.insert(ref).second) continue;
      absl::StatusOr<tsdb::SeriesRef> r =
          app->Append(ref, NoLabels(), t, tsdb::StaleNaN());
      if (r.ok()) ++report->stale_markers;
    }
  }
  if (success) {
    scraped_ok_before_ = true;
    if (cache_.size() > distinct) {
      // Some cached lines were not in this scrape: drop the long-gone ones.
      // order_ may still name some of them but is replaced just below.
      const size_t evicted = cache_.EraseIf([cur](const CacheEntry& e) {
        return static_cast<uint32_t>(cur - e.attempt_iter) >
               kEvictAfterIterations;
      });
      if (evicted > 0) cache_shrunk_ = false;
    }
    order_.swap(next_order_);
    for (size_t i = 0; i < order_.size(); ++i) {
      cache_.entry(order_[i]).order_pos = static_cast<uint32_t>(i);
    }
  }
  // After a failure order_ still predicts the next scrape's lines, but none
  // of them is "in the last good scrape" any more, so the markers above are
  // written once.
  order_live_ = success;
  next_order_.clear();
}

void ScrapeLoop::AppendReport(int64_t t, absl::Duration duration, bool up,
                              const ScrapeReport& report, bool stale) {
  const double values[5] = {up ? 1.0 : 0.0, absl::ToDoubleSeconds(duration),
                            static_cast<double>(report.samples_scraped),
                            static_cast<double>(report.samples_post_relabel),
                            static_cast<double>(report.series_added)};
  std::unique_ptr<tsdb::Appender> app = db_->NewAppender();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<tsdb::SeriesRef> r =
        app->Append(report_refs_[i], report_labels_[i], t,
                    stale ? tsdb::StaleNaN() : values[i]);
    if (r.ok()) report_refs_[i] = *r;
  }
  absl::Status s = app->Commit();
  if (!s.ok()) {
    for (tsdb::SeriesRef& r : report_refs_) r = 0;
  }
}

}  // namespace vigil::scrape
