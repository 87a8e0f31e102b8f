#include "server/remote/write_handler.h"

#include <google/protobuf/arena.h>
#include <snappy.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/remote/remote.pb.h"
#include "tsdb/labels.h"

namespace vigil::server::remote {
namespace {

const char* ReasonName(tsdb::AppendError e) {
  switch (e) {
    case tsdb::AppendError::kOutOfOrder:
      return "out_of_order";
    case tsdb::AppendError::kDuplicate:
      return "duplicate";
    case tsdb::AppendError::kOutOfBounds:
      return "out_of_bounds";
    case tsdb::AppendError::kInvalidLabels:
      return "invalid_labels";
    default:
      return "other";
  }
}

}  // namespace

WriteHandler::WriteHandler(tsdb::Appendable* appendable,
                           metrics::Registry* registry,
                           size_t max_decompressed_bytes)
    : appendable_(appendable), max_decompressed_bytes_(max_decompressed_bytes) {
  if (registry != nullptr) {
    samples_in_ = registry
                      ->NewCounter("vigil_remote_write_samples_received_total",
                                   "Samples stored from remote write.")
                      ->WithLabels({});
    series_in_ = registry
                     ->NewCounter("vigil_remote_write_series_received_total",
                                  "Series received by remote write.")
                     ->WithLabels({});
    rejected_ = registry->NewCounter(
        "vigil_remote_write_samples_rejected_total",
        "Remote-write samples rejected by storage, by reason.", {"reason"});
    requests_ =
        registry->NewCounter("vigil_remote_write_requests_total",
                             "Remote-write requests, by HTTP code.", {"code"});
  }
}

http::Response WriteHandler::Handle(const http::Request& req) {
  auto done = [this](http::Response r) {
    if (requests_ != nullptr) {
      requests_->WithLabels({absl::StrCat(r.status)})->Inc();
    }
    return r;
  };

  size_t raw_len = 0;
  if (!snappy::GetUncompressedLength(req.body.data(), req.body.size(),
                                     &raw_len)) {
    return done(http::Response::Text(400, "snappy: corrupt input\n"));
  }
  if (raw_len > max_decompressed_bytes_) {
    return done(http::Response::Text(
        400, absl::StrCat("decompressed request of ", raw_len,
                          " bytes exceeds the limit of ",
                          max_decompressed_bytes_, " bytes\n")));
  }
  std::string raw;
  if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw)) {
    return done(http::Response::Text(400, "snappy: corrupt input\n"));
  }
  // An arena turns the per-sample message allocations into bump-pointer
  // allocations freed at once.
  google::protobuf::Arena arena;
  auto* wr = google::protobuf::Arena::CreateMessage<WriteRequest>(&arena);
  if (!wr->ParseFromString(raw)) {
    return done(http::Response::Text(
        400, "proto: cannot parse body as a remote-write WriteRequest\n"));
  }

  std::unique_ptr<tsdb::Appender> app = appendable_->NewAppender();
  int64_t accepted = 0;
  int64_t rejected = 0;
  std::string first_error;
  std::vector<tsdb::Label> pairs;
  for (const TimeSeries& ts : wr->timeseries()) {
    pairs.clear();
    for (const Label& l : ts.labels()) pairs.push_back({l.name(), l.value()});
    absl::StatusOr<tsdb::Labels> labels =
        tsdb::Labels::FromPairs(std::move(pairs));
    pairs = {};
    if (!labels.ok() || labels->empty()) {
      rejected += ts.samples_size();
      if (rejected_ != nullptr) {
        rejected_->WithLabels({"invalid_labels"})->Inc(ts.samples_size());
      }
      if (first_error.empty()) {
        first_error = absl::StrCat(
            "invalid labels: ",
            labels.ok() ? "empty label set" : labels.status().message());
      }
      continue;
    }
    if (series_in_ != nullptr) series_in_->Inc();
    tsdb::SeriesRef ref = 0;
    for (const Sample& s : ts.samples()) {
      absl::StatusOr<tsdb::SeriesRef> r =
          app->Append(ref, *labels, s.timestamp(), s.value());
      if (r.ok()) {
        ref = *r;
        ++accepted;
        continue;
      }
      tsdb::AppendError kind = tsdb::ClassifyAppendError(r.status());
      if (kind == tsdb::AppendError::kOther ||
          kind == tsdb::AppendError::kNone) {
        app->Rollback();
        return done(http::Response::Text(
            500,
            absl::StrCat("storing samples: ", r.status().message(), "\n")));
      }
      ++rejected;
      if (rejected_ != nullptr)
        rejected_->WithLabels({ReasonName(kind)})->Inc();
      if (first_error.empty()) {
        first_error =
            absl::StrCat(r.status().message(), " for series ",
                         labels->ToString(), " at timestamp ", s.timestamp());
      }
    }
  }
  absl::Status cs = app->Commit();
  if (!cs.ok()) {
    return done(http::Response::Text(
        500, absl::StrCat("committing samples: ", cs.message(), "\n")));
  }
  if (samples_in_ != nullptr) samples_in_->Inc(static_cast<double>(accepted));
  if (rejected > 0) {
    return done(http::Response::Text(
        400,
        absl::StrCat(first_error, " (", rejected, " of ", rejected + accepted,
                     " samples rejected; the others were stored)\n")));
  }
  http::Response ok;
  ok.status = 204;
  ok.content_type.clear();
  return done(ok);
}

}  // namespace vigil::server::remote
