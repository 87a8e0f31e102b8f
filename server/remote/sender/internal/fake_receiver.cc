#include "server/remote/sender/internal/fake_receiver.h"

#include <snappy.h>

#include "absl/strings/str_cat.h"
#include "server/remote/remote.pb.h"

namespace vigil::server::remote::sender::testing {

FakeReceiver::FakeReceiver(int port, int threads) {
  http::HttpServerOptions o;
  o.listen_address = absl::StrCat("127.0.0.1:", port);
  o.threads = threads;
  server_ = std::make_unique<http::HttpServer>(
      o, [this](http::Request* r) { return Handle(r); });
  absl::Status s = server_->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "fake receiver: %s\n",
                 std::string(s.message()).c_str());
    std::abort();
  }
  port_ = server_->port();
}

FakeReceiver::~FakeReceiver() { Stop(); }

void FakeReceiver::Stop() {
  if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  server_.reset();
}

std::string FakeReceiver::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/api/v1/write");
}

void FakeReceiver::Fail(int status, int times) {
  absl::MutexLock l(&mu_);
  fail_status_ = status;
  fail_times_ = times;
}

void FakeReceiver::SetDelay(absl::Duration d) {
  absl::MutexLock l(&mu_);
  delay_ = d;
}

http::Response FakeReceiver::Handle(http::Request* r) {
  absl::Duration delay;
  {
    absl::MutexLock l(&mu_);
    delay = delay_;
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
  }
  // Sleeps outside the lock so slow requests overlap.
  absl::SleepFor(delay);
  absl::MutexLock l(&mu_);
  --in_flight_;
  headers_ = r->headers;
  if (fail_times_ != 0) {
    if (fail_times_ > 0) --fail_times_;
    ++failed_;
    return http::Response::Text(fail_status_, "told to fail\n");
  }
  std::string raw;
  if (!snappy::Uncompress(r->body.data(), r->body.size(), &raw)) {
    return http::Response::Text(400, "bad snappy\n");
  }
  WriteRequest wr;
  if (!wr.ParseFromString(raw)) return http::Response::Text(400, "bad proto\n");
  size_t n = 0;
  for (const TimeSeries& ts : wr.timeseries()) {
    std::string name = "{";
    for (int i = 0; i < ts.labels_size(); ++i) {
      absl::StrAppend(&name, i > 0 ? ", " : "", ts.labels(i).name(), "=\"",
                      ts.labels(i).value(), "\"");
    }
    name += "}";
    for (const Sample& s : ts.samples()) {
      got_.push_back({name, s.timestamp(), s.value()});
      ++n;
    }
  }
  for (const MetricMetadata& m : wr.metadata()) {
    metadata_.push_back({static_cast<int>(m.type()), m.metric_family_name(),
                         m.help(), m.unit()});
  }
  if (wr.metadata_size() > 0) {
    ++metadata_requests_;
    max_metadata_per_request_ = std::max(
        max_metadata_per_request_, static_cast<size_t>(wr.metadata_size()));
  }
  ++requests_;
  max_per_request_ = std::max(max_per_request_, n);
  http::Response ok;
  ok.status = 204;
  return ok;
}

bool FakeReceiver::WaitForSamples(size_t n, absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return got_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<FakeReceiver::Got> FakeReceiver::samples() const {
  absl::MutexLock l(&mu_);
  return got_;
}

int FakeReceiver::requests() const {
  absl::MutexLock l(&mu_);
  return requests_;
}

int FakeReceiver::failed_requests() const {
  absl::MutexLock l(&mu_);
  return failed_;
}

size_t FakeReceiver::max_samples_per_request() const {
  absl::MutexLock l(&mu_);
  return max_per_request_;
}

std::vector<FakeReceiver::Metadata> FakeReceiver::metadata() const {
  absl::MutexLock l(&mu_);
  return metadata_;
}

int FakeReceiver::metadata_requests() const {
  absl::MutexLock l(&mu_);
  return metadata_requests_;
}

size_t FakeReceiver::max_metadata_per_request() const {
  absl::MutexLock l(&mu_);
  return max_metadata_per_request_;
}

int FakeReceiver::max_concurrent() const {
  absl::MutexLock l(&mu_);
  return max_in_flight_;
}

std::vector<std::pair<std::string, std::string>> FakeReceiver::last_headers()
    const {
  absl::MutexLock l(&mu_);
  return headers_;
}

std::string FakeReceiver::Header(const std::string& name) const {
  absl::MutexLock l(&mu_);
  for (const auto& [k, v] : headers_) {
    if (k == name) return v;
  }
  return "";
}

}  // namespace vigil::server::remote::sender::testing
