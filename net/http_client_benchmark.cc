// CPU of the calling thread per request, plain http and https, on a
// kept-alive connection to the test server (bodies the size of a
// node-exporter scrape and of a 5,000-series target).
//
//   bazel run -c opt //net:http_client_benchmark
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "net/http_client.h"
#include "net/internal/test_server.h"

namespace vigil::net {
namespace {

using testing::TestServer;

std::string Body(size_t bytes) {
  std::string s;
  for (int i = 0; s.size() < bytes; ++i) {
    absl::StrAppend(&s, "node_cpu_seconds_total{cpu=\"", i % 64,
                    "\",mode=\"idle\"} ", i * 1.5, "\n");
  }
  return s;
}

void Run(benchmark::State& state, bool tls, bool gzip) {
  static const absl::StatusOr<testing::TestCerts>* certs =
      new absl::StatusOr<testing::TestCerts>(
          testing::GenerateTestCerts(testing::TestTmpDir()));
  if (tls && !certs->ok()) {
    state.SkipWithError("no test certificates");
    return;
  }
  const std::string body = Body(static_cast<size_t>(state.range(0)));
  const std::string gz = testing::Gzip(body);
  TestServer::Options so;
  if (tls) {
    so.tls = true;
    so.cert_file = (*certs)->server_cert;
    so.key_file = (*certs)->server_key;
  }
  TestServer srv(so, [&](const TestServer::Request&) {
    TestServer::Reply r;
    r.body = gzip ? gz : body;
    r.headers = {{"Content-Type", "text/plain; version=0.0.4"}};
    if (gzip) r.headers.push_back({"Content-Encoding", "gzip"});
    return r;
  });
  ClientOptions o;
  if (tls) o.tls.ca_file = (*certs)->ca_cert;
  std::shared_ptr<HttpClient> c = *HttpClient::Create(o);
  Request req;
  req.url = srv.url("/metrics");
  req.accept_gzip = gzip;
  Response resp;
  for (auto _ : state) {
    absl::Status s = c->Do(req, &resp);
    if (!s.ok() || resp.body.size() != body.size()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(body.size()));
  state.counters["connections"] = static_cast<double>(c->connections_opened());
}

void BM_Http(benchmark::State& state) { Run(state, false, false); }
void BM_Https(benchmark::State& state) { Run(state, true, false); }
void BM_HttpsGzip(benchmark::State& state) { Run(state, true, true); }

BENCHMARK(BM_Http)->Arg(100 << 10)->Arg(1 << 20);
BENCHMARK(BM_Https)->Arg(100 << 10)->Arg(1 << 20);
BENCHMARK(BM_HttpsGzip)->Arg(100 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace vigil::net
