// scaler: scales a service by its response-time histogram. See scaler.h and
// docs/embedding.md.
//
//   scaler --target=10.0.0.5:8080 --service=go-demo_main
//       --min-replicas=2 --max-replicas=4 --replicas=3 --cooldown=5m
//       --scale-command='docker service scale {service}={replicas}'
//
// Every decision is printed as one line on stdout. SIGINT/SIGTERM stop it.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/scaler/scaler.h"
#include "vigil/monitor.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

constexpr char kUsage[] =
    R"(usage: scaler --service=NAME (--target=HOST:PORT[,...] | --config.file=prometheus.yml) [flags]

Scrapes the service's http_server_resp_time histogram and scales it with the
rules @resp_time_above / @resp_time_below of Docker Flow Monitor.

  --target=HOST:PORT[,...]   scrape http://HOST:PORT/metrics (job --job)
  --config.file=PATH         a prometheus.yml instead of --target
  --service=NAME             service to scale ({service} in the command)
  --job=NAME                 job label the rules select (default --service)
  --replicas=N               current replica count (default 1)
  --min-replicas=N           never below (default 1)
  --max-replicas=N           never above (default 10)
  --scale-up-by=N            step up (default 1)
  --scale-down-by=N          step down (default 1)
  --cooldown=DUR             minimum time between two commands (default 5m)
  --scale-command=TEMPLATE   shell command; {service} and {replicas} replaced
  --dry-run                  print decisions, run nothing
  --scrape-interval=DUR      default 15s
  --evaluation-interval=DUR  rule evaluation and decision period (default 15s)
  --window=DUR               rate() range of the rules (default 5m)
  --for=DUR                  alert `for` (default 0, as in the seeds)
  --up-le=LE --up-fraction=F       scale up when < F within LE (0.1, 0.99)
  --down-le=LE --down-fraction=F   scale down when > F within LE (0.025, 0.75)
  --data-dir=PATH            keep samples on disk (default: in memory)
)";

int Fail(const std::string& msg) {
  std::fprintf(stderr, "scaler: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.rfind("--", 0) != 0)
      return Fail(absl::StrCat("bad argument \"", a, "\""));
    size_t eq = a.find('=');
    std::string name =
        a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::string value = eq == std::string::npos ? "true" : a.substr(eq + 1);
    flags[name] = value;
  }
  static const char* kKnown[] = {"target",          "config.file",
                                 "service",         "job",
                                 "replicas",        "min-replicas",
                                 "max-replicas",    "scale-up-by",
                                 "scale-down-by",   "cooldown",
                                 "scale-command",   "dry-run",
                                 "scrape-interval", "evaluation-interval",
                                 "window",          "for",
                                 "up-le",           "up-fraction",
                                 "down-le",         "down-fraction",
                                 "data-dir"};
  for (const auto& [name, value] : flags) {
    bool known = false;
    for (const char* k : kKnown) known = known || name == k;
    if (!known)
      return Fail(absl::StrCat("unknown flag --", name, " (see --help)"));
  }

  vigil::scaler::ScalerOptions o;
  absl::Duration scrape_interval = absl::Seconds(15);
  absl::Duration eval_interval = absl::Seconds(15);
  std::string error;
  auto get_int = [&](const char* name, int* out) {
    auto it = flags.find(name);
    if (it == flags.end()) return;
    if (!absl::SimpleAtoi(it->second, out) && error.empty()) {
      error = absl::StrCat("--", name, "=", it->second, ": not an integer");
    }
  };
  auto get_double = [&](const char* name, double* out) {
    auto it = flags.find(name);
    if (it == flags.end()) return;
    if (!absl::SimpleAtod(it->second, out) && error.empty()) {
      error = absl::StrCat("--", name, "=", it->second, ": not a number");
    }
  };
  auto get_duration = [&](const char* name, absl::Duration* out) {
    auto it = flags.find(name);
    if (it == flags.end()) return;
    if (!absl::ParseDuration(it->second, out) && error.empty()) {
      error = absl::StrCat("--", name, "=", it->second,
                           ": not a duration (e.g. 30s, 5m, 1.5s)");
    }
  };
  auto get_string = [&](const char* name, std::string* out) {
    auto it = flags.find(name);
    if (it != flags.end()) *out = it->second;
  };
  get_string("service", &o.service);
  get_string("job", &o.job);
  get_int("replicas", &o.initial_replicas);
  get_int("min-replicas", &o.min_replicas);
  get_int("max-replicas", &o.max_replicas);
  get_int("scale-up-by", &o.scale_up_by);
  get_int("scale-down-by", &o.scale_down_by);
  get_duration("cooldown", &o.cooldown);
  get_string("scale-command", &o.scale_command);
  std::string dry = "false";
  get_string("dry-run", &dry);
  if (dry == "true" || dry == "1") {
    o.dry_run = true;
  } else if (dry != "false" && dry != "0") {
    error = absl::StrCat("--dry-run=", dry, ": want true or false");
  }
  get_duration("scrape-interval", &scrape_interval);
  get_duration("evaluation-interval", &eval_interval);
  get_duration("window", &o.window);
  get_duration("for", &o.for_);
  get_string("up-le", &o.up_le);
  get_double("up-fraction", &o.up_fraction);
  get_string("down-le", &o.down_le);
  get_double("down-fraction", &o.down_fraction);
  if (!error.empty()) return Fail(error);
  if (o.service.empty()) return Fail("--service is required (see --help)");
  const bool has_targets = flags.count("target") > 0;
  const bool has_config = flags.count("config.file") > 0;
  if (has_targets == has_config) {
    return Fail("give exactly one of --target and --config.file");
  }
  if (scrape_interval <= absl::ZeroDuration() ||
      eval_interval <= absl::ZeroDuration()) {
    return Fail("intervals must be positive");
  }

  vigil::MonitorOptions mo;
  get_string("data-dir", &mo.data_dir);
  mo.evaluation_interval = eval_interval;
  absl::StatusOr<std::unique_ptr<vigil::Monitor>> monitor =
      vigil::Monitor::Open(mo);
  if (!monitor.ok()) return Fail(std::string(monitor.status().message()));
  vigil::Monitor& m = **monitor;

  absl::Status s;
  if (has_config) {
    s = m.LoadConfigFile(flags["config.file"]);
  } else {
    // One job with every target, so job="..." selects all replicas.
    std::vector<std::string> targets =
        absl::StrSplit(flags["target"], ',', absl::SkipEmpty());
    if (targets.empty()) return Fail("--target is empty");
    const std::string job = o.job.empty() ? o.service : o.job;
    std::string yml = absl::StrCat(
        "global:\n  scrape_interval: ",
        absl::ToInt64Milliseconds(scrape_interval),
        "ms\n  scrape_timeout: ", absl::ToInt64Milliseconds(scrape_interval),
        "ms\n  evaluation_interval: ", absl::ToInt64Milliseconds(eval_interval),
        "ms\nscrape_configs:\n  - job_name: \"", job,
        "\"\n    static_configs:\n      - targets: [\"",
        absl::StrJoin(targets, "\", \""), "\"]\n");
    s = m.ApplyConfig(yml);
  }
  if (!s.ok()) return Fail(std::string(s.message()));

  absl::StatusOr<std::unique_ptr<vigil::scaler::Scaler>> scaler =
      vigil::scaler::Scaler::Create(&m, o);
  if (!scaler.ok()) return Fail(std::string(scaler.status().message()));

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  s = m.Start();
  if (!s.ok()) return Fail(std::string(s.message()));
  std::printf("scaler: service=%s replicas=%d min=%d max=%d%s\n",
              o.service.c_str(), o.initial_replicas, o.min_replicas,
              o.max_replicas, o.dry_run ? " dry_run=true" : "");
  std::fflush(stdout);

  // Decide once per evaluation interval, offset by half of one so the
  // decision sees the evaluation that just ran.
  absl::Time next = absl::Now() + eval_interval / 2;
  while (!g_stop) {
    absl::Time now = absl::Now();
    if (now >= next) {
      next += eval_interval;
      if (next < now) next = now + eval_interval;
      std::optional<vigil::scaler::Decision> d =
          (*scaler)->Tick(absl::ToUnixMillis(now));
      if (d.has_value()) {
        std::printf("%s\n", vigil::scaler::FormatDecision(*d).c_str());
        std::fflush(stdout);
      }
    }
    absl::SleepFor(std::min(absl::Milliseconds(20), next - now));
  }
  const int replicas = (*scaler)->replicas();
  // Stop evaluation first: a callback already under way may still reach
  // the Scaler after it unsubscribes.
  m.Stop();
  scaler->reset();
  s = m.Close();
  if (!s.ok()) return Fail(std::string(s.message()));
  std::printf("scaler: stopped at %d replicas\n", replicas);
  return 0;
}
