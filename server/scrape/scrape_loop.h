// One scrape loop per target: every interval (at a stable per-target offset)
// fetch the target's exposition, append its samples to storage together with
// the synthetic `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
// `scrape_samples_post_metric_relabeling` and `scrape_series_added` series,
// and write staleness markers for series that disappeared.
//
// The scrape cache is what makes the steady state cheap: it maps the raw
// bytes of each exposition line's `name{labels}` to the storage SeriesRef
// (server/scrape/scrape_cache.h), so a series seen before costs one hash
// lookup, or one comparison with the line predicted from the previous
// scrape's order, and one Append(ref, ...) — no label parsing, no
// relabeling, no label hashing.
//
//   ScrapeLoop loop(db, std::make_unique<HttpScraper>(...), target_labels,
//                   options);
//   loop.Start();       // background thread
//   ...
//   loop.Stop(/*write_stale_markers=*/true);
//
// Thread-safety: Start/Stop/status are thread-safe. ScrapeOnce() and
// AppendScrape() are for one thread (the loop's, or a test's) at a time.
#ifndef VIGIL_SERVER_SCRAPE_SCRAPE_LOOP_H_
#define VIGIL_SERVER_SCRAPE_SCRAPE_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "net/http_client.h"
#include "server/scrape/scrape_cache.h"
#include "tsdb/appender.h"
#include "tsdb/labels.h"
#include "tsdb/textparse/parser.h"

namespace vigil::scrape {

// Applies metric_relabel_configs; returns false to drop the series.
using RelabelFn = std::function<bool(tsdb::LabelsBuilder*)>;

// What a loop needs from a scrape config, decoupled from the YAML structs.
struct ScrapeOptions {
  absl::Duration interval = absl::Minutes(1);
  absl::Duration timeout = absl::Seconds(10);
  bool honor_labels = false;
  bool honor_timestamps = true;
  // Zero means "no limit".
  uint64_t sample_limit = 0;
  uint64_t label_limit = 0;
  uint64_t label_name_length_limit = 0;
  uint64_t label_value_length_limit = 0;
  int64_t body_size_limit = 0;
  RelabelFn metric_relabel;  // empty: no metric relabeling
};

// The fetched exposition.
struct ScrapeBody {
  std::string content_type;
  std::string data;
};

// Fetches one exposition. Implementations: HttpScraper, test fakes.
class Scraper {
 public:
  virtual ~Scraper() = default;
  virtual absl::Status Scrape(absl::Duration timeout, ScrapeBody* out) = 0;
};

// Scrapes a URL with net::HttpClient (http or https). Non-200 answers are
// errors ("server returned HTTP status 500 Internal Server Error", as
// Prometheus says).
class HttpScraper : public Scraper {
 public:
  // `headers` are sent with every request (auth); `accept` is the Accept
  // header (see AcceptHeader()). `client` carries the job's TLS and auth
  // settings and is shared by the job's loops (each target keeps its own
  // kept-alive connection in the client's pool); null means a client with
  // default options.
  HttpScraper(std::string url, std::string accept, int64_t body_size_limit,
              std::vector<std::pair<std::string, std::string>> headers,
              std::shared_ptr<net::HttpClient> client = nullptr);
  absl::Status Scrape(absl::Duration timeout, ScrapeBody* out) override;

 private:
  net::Request request_;
  std::shared_ptr<net::HttpClient> client_;
  net::Response response_;
};

// Builds Prometheus's Accept header from scrape_protocols names
// ("OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText0.0.4";
// "PrometheusProto" is skipped: we cannot parse protobuf yet). Each gets
// q=0.<weight> with weight counting down from 5, then "*/*".
std::string AcceptHeader(const std::vector<std::string>& protocols);

enum class TargetHealth { kUnknown, kUp, kDown };
absl::string_view TargetHealthName(TargetHealth h);  // "unknown","up","down"

// The outcome of the most recent scrape, for /api/v1/targets.
struct ScrapeStatus {
  TargetHealth health = TargetHealth::kUnknown;
  absl::Time last_scrape = absl::InfinitePast();
  absl::Duration last_duration;
  std::string last_error;
  uint64_t last_samples = 0;
};

// Counters over a loop's lifetime, summed by the manager for /metrics.
struct ScrapeCounters {
  std::atomic<uint64_t> scrapes{0};
  std::atomic<uint64_t> failed_scrapes{0};
  std::atomic<uint64_t> sample_limit_exceeded{0};
  std::atomic<uint64_t> out_of_order{0};
  std::atomic<uint64_t> duplicate{0};
  std::atomic<uint64_t> out_of_bounds{0};
  std::atomic<uint64_t> cache_hits{0};
  std::atomic<uint64_t> cache_misses{0};
  // Hits found by predicting the next line from the previous scrape's
  // order, without hashing (a subset of cache_hits).
  std::atomic<uint64_t> cache_predicted{0};
};

// A metric family's metadata as a target exposes it (# TYPE, # HELP,
// # UNIT), for /api/v1/metadata and /api/v1/targets/metadata. A family
// with only some of the lines has the others at their defaults.
struct MetricMetadata {
  std::string metric;  // the family name of the TYPE/HELP/UNIT line
  tsdb::textparse::MetricType type = tsdb::textparse::MetricType::kUnknown;
  std::string help;
  std::string unit;
};

// Per-scrape numbers, also reported as synthetic series.
struct ScrapeReport {
  uint64_t samples_scraped = 0;
  uint64_t samples_post_relabel = 0;
  uint64_t series_added = 0;
  uint64_t stale_markers = 0;
};

class ScrapeLoop {
 public:
  // `target_labels` are the final target labels without `__` labels (at
  // least job and instance); they are attached to every sample. `db` must
  // outlive the loop.
  ScrapeLoop(tsdb::Appendable* db, std::unique_ptr<Scraper> scraper,
             tsdb::Labels target_labels, ScrapeOptions options);
  ~ScrapeLoop();  // Stop(false) if still running

  ScrapeLoop(const ScrapeLoop&) = delete;
  ScrapeLoop& operator=(const ScrapeLoop&) = delete;

  // Starts the background thread. The first scrape happens at the next
  // instant t with t ≡ offset (mod interval), where the offset is derived
  // from a hash of the target labels, so targets spread over the interval
  // and a target keeps its phase across restarts.
  void Start();
  // Stops the thread (waiting for an in-flight scrape). With
  // `write_stale_markers`, marks every series of the last scrape, and the
  // report series, stale (target removed); without, it leaves them (the
  // loop is being replaced on reload).
  void Stop(bool write_stale_markers);

  // Scrapes once now: fetch, append, report, staleness. Returns the scrape
  // error (also recorded in status()).
  absl::Status ScrapeOnce(absl::Time now);

  // Appends an already fetched body as a scrape at `now`, committing on
  // success and rolling back on failure (parse error, sample limit, label
  // limits, storage error). Report series and staleness are written as by
  // ScrapeOnce. Used by ScrapeOnce; public for tests and benchmarks.
  absl::Status AppendScrape(const ScrapeBody& body, absl::Time now,
                            absl::Duration duration);

  ScrapeStatus status() const ABSL_LOCKS_EXCLUDED(mu_);
  const ScrapeReport& last_report() const { return last_report_; }
  const ScrapeCounters& counters() const { return counters_; }
  const tsdb::Labels& target_labels() const { return target_labels_; }
  const ScrapeOptions& options() const { return options_; }
  // The scrape phase within the interval.
  absl::Duration offset() const;
  // Number of cached exposition lines.
  size_t cache_size() const { return cache_.size(); }
  // The target's metric metadata, sorted by metric name: what its recent
  // scrapes exposed (a family not exposed for 10 scrapes is forgotten, as
  // in Prometheus). Never null. The scrape path only rebuilds this list
  // when a TYPE/HELP/UNIT line changed, so reading it is cheap.
  std::shared_ptr<const std::vector<MetricMetadata>> metadata() const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();
  // Parses and appends the body into `app`. On error the caller rolls back.
  absl::Status AppendBody(const ScrapeBody& body, int64_t t,
                          tsdb::Appender* app, ScrapeReport* report);
  // Builds the final labels for an exposition line into *out, or sets
  // *dropped when relabeling dropped it. `exposed_empty` names the labels
  // the line exposed with an empty value (see Parser::EmptyLabelNames).
  absl::Status BuildLabels(const tsdb::Labels& parsed,
                           absl::Span<const absl::string_view> exposed_empty,
                           tsdb::Labels* out, bool* dropped);
  // Re-derives the final labels of the cached line `key` into *out (the
  // cache keeps no labels: a line's labels are only needed until its ref
  // is known).
  absl::Status RestoreLabels(absl::string_view key, tsdb::Labels* out,
                             bool* dropped);
  // After a successful scrape, once the set of lines has settled: gives
  // back the spare capacity the cache and the order lists grew.
  void ShrinkCache();
  absl::Status CheckLabelLimits(const tsdb::Labels& l) const;
  // After a successful scrape: stale markers for lines seen in the previous
  // successful scrape but not this one; evicts long-gone lines.
  void FinishIteration(bool success, int64_t t, tsdb::Appender* app,
                       ScrapeReport* report);
  void AppendReport(int64_t t, absl::Duration duration, bool up,
                    const ScrapeReport& report, bool stale);
  // Records a TYPE/HELP/UNIT entry; copies strings only when they changed.
  void NoteMetadata(const tsdb::textparse::Parser& p, tsdb::textparse::Entry e);
  // Forgets families not seen lately and republishes metadata() if
  // anything changed.
  void FinishMetadata();

  tsdb::Appendable* const db_;
  std::unique_ptr<Scraper> scraper_;
  const tsdb::Labels target_labels_;
  const ScrapeOptions options_;

  // Scrape cache; touched only by the scraping thread.
  ScrapeCache cache_;
  // The lines of the last successful scrape in exposition order (order_),
  // and of the scrape in progress (next_order_).
  std::vector<ScrapeCache::Id> order_;
  std::vector<ScrapeCache::Id> next_order_;
  // Whether order_ holds the lines of the last scrape and that scrape
  // succeeded (so its series are live and need staleness markers when
  // they disappear).
  bool order_live_ = false;
  // Lines whose ref was resolved in the scrape in progress (each once):
  // dropped or reset if it fails.
  std::vector<ScrapeCache::Id> added_this_iter_;
  // Whether the cache was shrunk after it last grew.
  bool cache_shrunk_ = false;
  uint64_t iter_ = 0;
  int64_t last_scrape_ms_ = 0;
  bool scraped_ok_before_ = false;
  // Refs of the report series, in the order of kReportNames.
  tsdb::SeriesRef report_refs_[5] = {};
  std::vector<tsdb::Labels> report_labels_;
  ScrapeReport last_report_;
  ScrapeBody body_;  // the scrape in progress; emptied after each
  // Metadata by family name; touched only by the scraping thread.
  struct MetaEntry {
    tsdb::textparse::MetricType type = tsdb::textparse::MetricType::kUnknown;
    std::string help;
    std::string unit;
    uint64_t seen_iter = 0;
  };
  absl::flat_hash_map<std::string, MetaEntry> meta_;
  bool meta_changed_ = false;
  ScrapeCounters counters_;

  mutable absl::Mutex mu_;
  ScrapeStatus status_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<MetricMetadata>> meta_snapshot_
      ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar wake_;
  std::thread thread_;
};

}  // namespace vigil::scrape

#endif  // VIGIL_SERVER_SCRAPE_SCRAPE_LOOP_H_
