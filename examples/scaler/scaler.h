// A reference auto-scaler built on the embedding API (vigil/monitor.h).
//
// It implements the self-adaptation loop of "The DevOps 2.2 Toolkit"
// (chapter 12) without Prometheus, Alertmanager or a webhook: the Monitor
// scrapes the service's `http_server_resp_time` histogram and evaluates the
// two Docker Flow Monitor shortcut rules
//
//   @resp_time_above:0.1,5m,0.99   (labels scale=up,   type=service)
//   sum(rate(http_server_resp_time_bucket{job="S", le="0.1"}[5m]))
//     / sum(rate(http_server_resp_time_count{job="S"}[5m])) < 0.99
//   @resp_time_below:0.025,5m,0.75 (labels scale=down, type=service)
//   sum(rate(http_server_resp_time_bucket{job="S", le="0.025"}[5m]))
//     / sum(rate(http_server_resp_time_count{job="S"}[5m])) > 0.75
//
// Alert state reaches the Scaler through Monitor::Subscribe. Tick() then
// decides, like the book's Jenkins job / docker-scaler: new = current ± by,
// refused beyond the hard min/max bounds ("automated scaling must be tamed
// with hard-coded lower and upper limits"), and at most one scaling per
// cool-down (what Alertmanager's repeat_interval did in the book).
//
//   vigil::scaler::ScalerOptions o;
//   o.service = "go-demo_main";
//   o.scale_command = "docker service scale {service}={replicas}";
//   auto s = vigil::scaler::Scaler::Create(monitor.get(), o);
//   ... every evaluation interval: (*s)->Tick(now_ms);
//
// Thread safety: all methods are thread-safe; call Tick() from one thread at
// a time. Tick() runs the scale command on the calling thread (never on the
// Monitor's rule thread).
#ifndef VIGIL_EXAMPLES_SCALER_SCALER_H_
#define VIGIL_EXAMPLES_SCALER_SCALER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vigil/monitor.h"

namespace vigil::scaler {

struct ScalerOptions {
  // The service to scale: value of the `service` label of the alerts and of
  // {service} in the command. Letters, digits, '_', '-', '.' only, because
  // it is pasted into a shell command.
  std::string service;
  // The scrape job whose series the rules select (job="..."). "" = service.
  std::string job;
  int min_replicas = 1;
  int max_replicas = 10;
  // The scaler's idea of the current replica count before its first action.
  int initial_replicas = 1;
  int scale_up_by = 1;
  int scale_down_by = 1;
  // After a scaling command (successful or not), no further one before
  // this much time has passed.
  absl::Duration cooldown = absl::Minutes(5);
  // Run through /bin/sh -c after {service} and {replicas} are replaced.
  // Empty: decisions are only reported.
  std::string scale_command;
  // Report decisions and the command that would run; run nothing.
  bool dry_run = false;

  // The rules (the seeds' shortcut parameters) and their group.
  std::string up_le = "0.1";  // bucket bound, as exposed (string match)
  double up_fraction = 0.99;  // scale up when the fraction is below this
  std::string down_le = "0.025";
  double down_fraction = 0.75;  // scale down when the fraction is above
  absl::Duration window = absl::Minutes(5);    // the rate() range
  absl::Duration for_ = absl::ZeroDuration();  // the seeds use no `for`
};

// One decision of Tick(). Refusals (at a bound, cooling down) are reported
// once per episode, not on every tick.
struct Decision {
  enum class Action {
    kScaleUp,
    kScaleDown,
    kAtMax,     // scale up wanted, already at max_replicas
    kAtMin,     // scale down wanted, already at min_replicas
    kCooldown,  // wanted, but the last command ran less than cooldown ago
  };
  Action action = Action::kScaleUp;
  int64_t time_ms = 0;
  int from = 0;
  int to = 0;            // == from unless a command ran
  std::string command;   // the expanded command ("" if none)
  bool dry_run = false;  // the command was not run
  absl::Status status;   // of the command
};
// "scale_up", "scale_down", "at_max", "at_min", "cooldown".
const char* ActionString(Decision::Action a);
// One line: "t=<ms> action=scale_up from=2 to=3 command=\"...\" ...".
std::string FormatDecision(const Decision& d);

// The seeds' rule expressions for `options` (exposed for tests and docs).
std::string ScaleUpExpr(const ScalerOptions& options);
std::string ScaleDownExpr(const ScalerOptions& options);

// Runs a shell command; OK iff it exited with status 0.
using CommandRunner = std::function<absl::Status(const std::string& command)>;
// /bin/sh -c `command`, waiting for it. Internal error naming the command
// and its exit status otherwise.
absl::Status RunShellCommand(const std::string& command);

class Scaler {
 public:
  // Validates `options`, adds the two alert rules to `monitor` (group
  // "scaler") and subscribes to alert changes. `monitor` must outlive the
  // Scaler, and the Scaler must be destroyed while no rule evaluation runs
  // (before Monitor::Start or after Monitor::Stop), because a callback
  // already under way may still reach it. `runner` defaults to
  // RunShellCommand.
  static absl::StatusOr<std::unique_ptr<Scaler>> Create(
      Monitor* monitor, const ScalerOptions& options,
      CommandRunner runner = nullptr);
  ~Scaler();
  Scaler(const Scaler&) = delete;
  Scaler& operator=(const Scaler&) = delete;

  // Decides from the alerts currently firing for the service; runs the
  // command if it scales. Call after every rule evaluation (or on a timer
  // at the evaluation interval). Returns the decision it reported, if any.
  std::optional<Decision> Tick(int64_t now_ms);

  int replicas() const;
  std::vector<Decision> decisions() const;

 private:
  Scaler(Monitor* monitor, const ScalerOptions& options, CommandRunner runner);
  void OnAlerts(const std::vector<AlertEvent>& events);
  std::string Expand(int replicas) const;

  Monitor* const monitor_;
  const ScalerOptions options_;
  const CommandRunner runner_;
  int subscription_ = 0;

  mutable std::mutex mu_;
  // Label sets (as strings) of firing alerts with scale=up / scale=down.
  std::set<std::string> firing_up_;               // guarded by mu_
  std::set<std::string> firing_down_;             // guarded by mu_
  int replicas_;                                  // guarded by mu_
  int64_t last_command_ms_ = 0;                   // guarded by mu_; 0 = never
  bool have_last_command_ = false;                // guarded by mu_
  std::optional<Decision::Action> last_refusal_;  // guarded by mu_
  std::vector<Decision> decisions_;               // guarded by mu_
};

}  // namespace vigil::scaler

#endif  // VIGIL_EXAMPLES_SCALER_SCALER_H_
