#include "examples/scaler/scaler.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

extern char** environ;

namespace vigil::scaler {
namespace {

// A PromQL duration literal for `d` ("5m", "30s", "1500ms").
std::string PromDuration(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms % 60000 == 0) return absl::StrCat(ms / 60000, "m");
  if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  return absl::StrCat(ms, "ms");
}

std::string RatioExpr(const ScalerOptions& o, const std::string& le) {
  const std::string job = o.job.empty() ? o.service : o.job;
  const std::string w = PromDuration(o.window);
  return absl::StrCat("sum(rate(http_server_resp_time_bucket{job=\"", job,
                      "\", le=\"", le, "\"}[", w,
                      "])) / sum(rate(http_server_resp_time_count{job=\"", job,
                      "\"}[", w, "]))");
}

bool SafeForShell(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The label-value grammar of the exposed `le` is a float; reject anything
// that would break out of the PromQL string literal.
bool SafeLe(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
              c == '+' || c == '-' || c == 'I' || c == 'n' || c == 'f';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

const char* ActionString(Decision::Action a) {
  switch (a) {
    case Decision::Action::kScaleUp:
      return "scale_up";
    case Decision::Action::kScaleDown:
      return "scale_down";
    case Decision::Action::kAtMax:
      return "at_max";
    case Decision::Action::kAtMin:
      return "at_min";
    case Decision::Action::kCooldown:
      return "cooldown";
  }
  return "unknown";
}

std::string FormatDecision(const Decision& d) {
  std::string out =
      absl::StrCat("t=", d.time_ms, " action=", ActionString(d.action),
                   " from=", d.from, " to=", d.to);
  if (!d.command.empty()) absl::StrAppend(&out, " command=\"", d.command, "\"");
  if (d.dry_run) absl::StrAppend(&out, " dry_run=true");
  if (!d.status.ok())
    absl::StrAppend(&out, " error=\"", d.status.message(), "\"");
  return out;
}

std::string ScaleUpExpr(const ScalerOptions& o) {
  return absl::StrCat(RatioExpr(o, o.up_le), " < ", o.up_fraction);
}

std::string ScaleDownExpr(const ScalerOptions& o) {
  return absl::StrCat(RatioExpr(o, o.down_le), " > ", o.down_fraction);
}

absl::Status RunShellCommand(const std::string& command) {
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", nullptr, nullptr,
                       const_cast<char* const*>(argv), environ);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("command \"", command, "\": spawn: ", std::strerror(rc)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return absl::InternalError(absl::StrCat(
          "command \"", command, "\": waitpid: ", std::strerror(errno)));
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFEXITED(status)) {
    return absl::InternalError(absl::StrCat(
        "command \"", command, "\" exited with status ", WEXITSTATUS(status)));
  }
  return absl::InternalError(
      absl::StrCat("command \"", command, "\" killed by signal ",
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}

absl::StatusOr<std::unique_ptr<Scaler>> Scaler::Create(
    Monitor* monitor, const ScalerOptions& options, CommandRunner runner) {
  const std::string where =
      absl::StrCat("scaler for \"", options.service, "\"");
  if (!SafeForShell(options.service)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": service must be non-empty [A-Za-z0-9_.-]"));
  }
  if (options.min_replicas < 0 || options.max_replicas < options.min_replicas) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": need 0 <= min_replicas (", options.min_replicas,
                     ") <= max_replicas (", options.max_replicas, ")"));
  }
  if (options.initial_replicas < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": initial replicas must not be negative"));
  }
  if (options.scale_up_by <= 0 || options.scale_down_by <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": scale-up/down steps must be positive"));
  }
  if (options.cooldown < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": cooldown must not be negative"));
  }
  if (absl::ToInt64Milliseconds(options.window) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": window must be positive"));
  }
  if (!SafeLe(options.up_le) || !SafeLe(options.down_le)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": bucket bounds must be numbers, got \"",
                     options.up_le, "\" and \"", options.down_le, "\""));
  }
  if (!options.job.empty() && options.job.find('"') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": job must not contain '\"'"));
  }
  std::unique_ptr<Scaler> s(new Scaler(
      monitor, options, runner ? std::move(runner) : RunShellCommand));
  // Names, labels and annotations as Docker Flow Monitor's shortcuts make
  // them (service "_" alert name, '-' removed; receiver/service/scale/type).
  std::string prefix = absl::StrReplaceAll(options.service, {{"-", ""}});
  const std::string s_name = options.service;
  absl::Status st = monitor->AddAlertRule(
      "scaler", absl::StrCat(prefix, "_resp_time_above"), ScaleUpExpr(options),
      options.for_,
      {{"receiver", "system"},
       {"service", s_name},
       {"scale", "up"},
       {"type", "service"}},
      {{"summary", absl::StrCat("Response time of the service ", s_name,
                                " is above ", options.up_le)}});
  if (!st.ok()) return st;
  st = monitor->AddAlertRule(
      "scaler", absl::StrCat(prefix, "_resp_time_below"),
      ScaleDownExpr(options), options.for_,
      {{"receiver", "system"},
       {"service", s_name},
       {"scale", "down"},
       {"type", "service"}},
      {{"summary", absl::StrCat("Response time of the service ", s_name,
                                " is below ", options.down_le)}});
  if (!st.ok()) return st;
  Scaler* raw = s.get();
  s->subscription_ = monitor->Subscribe(
      [raw](const std::vector<AlertEvent>& events) { raw->OnAlerts(events); });
  return s;
}

Scaler::Scaler(Monitor* monitor, const ScalerOptions& options,
               CommandRunner runner)
    : monitor_(monitor),
      options_(options),
      runner_(std::move(runner)),
      replicas_(options.initial_replicas) {}

Scaler::~Scaler() { monitor_->Unsubscribe(subscription_); }

void Scaler::OnAlerts(const std::vector<AlertEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const AlertEvent& e : events) {
    if (e.labels.Get("service") != options_.service) continue;
    std::set<std::string>* set = nullptr;
    if (e.labels.Get("scale") == "up") {
      set = &firing_up_;
    } else if (e.labels.Get("scale") == "down") {
      set = &firing_down_;
    } else {
      continue;
    }
    const std::string key = e.labels.ToString();
    if (e.status == AlertEvent::Status::kFiring) {
      set->insert(key);
    } else {
      set->erase(key);
    }
  }
}

std::string Scaler::Expand(int replicas) const {
  return absl::StrReplaceAll(options_.scale_command,
                             {{"{service}", options_.service},
                              {"{replicas}", absl::StrCat(replicas)}});
}

std::optional<Decision> Scaler::Tick(int64_t now_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  // Up wins when both fire (a slow tail with a fast majority): latency
  // objectives matter more than saving a replica.
  const bool up = !firing_up_.empty();
  const bool down = !up && !firing_down_.empty();
  if (!up && !down) {
    last_refusal_.reset();
    return std::nullopt;
  }
  Decision d;
  d.time_ms = now_ms;
  d.from = replicas_;
  d.to = replicas_;
  if (up && replicas_ >= options_.max_replicas) {
    d.action = Decision::Action::kAtMax;
  } else if (down && replicas_ <= options_.min_replicas) {
    d.action = Decision::Action::kAtMin;
  } else if (have_last_command_ &&
             now_ms - last_command_ms_ <
                 absl::ToInt64Milliseconds(options_.cooldown)) {
    d.action = Decision::Action::kCooldown;
  } else {
    d.action = up ? Decision::Action::kScaleUp : Decision::Action::kScaleDown;
    // A step never jumps over a bound: it stops at it.
    d.to =
        up ? std::min(options_.max_replicas, replicas_ + options_.scale_up_by)
           : std::max(options_.min_replicas,
                      replicas_ - options_.scale_down_by);
  }
  if (d.action != Decision::Action::kScaleUp &&
      d.action != Decision::Action::kScaleDown) {
    // Refusals are reported once until the situation changes.
    if (last_refusal_ == d.action) return std::nullopt;
    last_refusal_ = d.action;
    decisions_.push_back(d);
    return d;
  }
  last_refusal_.reset();
  have_last_command_ = true;
  last_command_ms_ = now_ms;
  if (!options_.scale_command.empty()) d.command = Expand(d.to);
  d.dry_run = options_.dry_run;
  if (!d.command.empty() && !d.dry_run) {
    // The command may take a while (docker service scale waits); do not
    // hold the lock OnAlerts needs meanwhile.
    lock.unlock();
    d.status = runner_(d.command);
    lock.lock();
  }
  // A failed command leaves the count as it was; the cool-down still
  // applies so a broken command is not retried on every tick.
  if (d.status.ok()) replicas_ = d.to;
  decisions_.push_back(d);
  return d;
}

int Scaler::replicas() const {
  std::lock_guard<std::mutex> lock(mu_);
  return replicas_;
}

std::vector<Decision> Scaler::decisions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return decisions_;
}

}  // namespace vigil::scaler
