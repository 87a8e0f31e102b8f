// `vigil serve`: wires storage, the PromQL engine, the HTTP API, self-metrics
// and (as they land) scraping and rule evaluation into one process, and runs
// it until SIGTERM/SIGINT or /-/quit. SIGHUP and /-/reload re-read the
// configuration.
//
// Startup order follows Prometheus: the HTTP server comes up first (so
// /-/healthy answers and /-/ready says 503 while storage replays its WAL),
// then storage, then the engine-facing endpoints become ready. Shutdown is
// the reverse: stop scraping and rule evaluation, finish in-flight HTTP
// requests (bounded), stop remote write (its shards get their flush
// deadline; the rest stays queued under <storage.tsdb.path>/remote_write/),
// then close storage.
//
// Scrapes, rules and the remote-write receiver append through a
// remote::sender::RemoteWriteManager wrapping storage, so what storage
// commits also streams to the config's remote_write destinations (applied
// at startup and on every reload).
#ifndef VIGIL_SERVER_SERVE_H_
#define VIGIL_SERVER_SERVE_H_

#include <string>
#include <vector>

namespace vigil::server {

// Runs the server with the flags in `args` (everything after "serve").
// Returns the process exit code: 0 after a clean shutdown, 1 on startup
// errors (bad flags, unreadable config, port in use, storage failure), each
// reported on stderr naming its cause.
int RunServe(const std::vector<std::string>& args);

}  // namespace vigil::server

#endif  // VIGIL_SERVER_SERVE_H_
