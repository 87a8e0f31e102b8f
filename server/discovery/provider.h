// A Provider produces the current target groups of one service-discovery
// configuration (one static_configs list, one file_sd_configs or
// dns_sd_configs entry). The DiscoveryManager polls providers at their
// refresh interval from its own thread.
#ifndef VIGIL_SERVER_DISCOVERY_PROVIDER_H_
#define VIGIL_SERVER_DISCOVERY_PROVIDER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/discovery/target_group.h"

namespace vigil::discovery {

class Provider {
 public:
  virtual ~Provider() = default;

  // Returns the complete current set of groups. On a failed lookup a
  // provider returns its last good groups and reports the failure through
  // last_error(): a flaky DNS server must not make all targets vanish.
  virtual std::vector<TargetGroup> Refresh() = 0;

  // How long to wait between Refresh() calls.
  virtual absl::Duration refresh_interval() const = 0;

  // OK when the last Refresh() fully succeeded.
  virtual absl::Status last_error() const = 0;
};

// `static_configs`: the groups never change.
class StaticProvider : public Provider {
 public:
  explicit StaticProvider(std::vector<TargetGroup> groups)
      : groups_(std::move(groups)) {}

  std::vector<TargetGroup> Refresh() override { return groups_; }
  absl::Duration refresh_interval() const override {
    return absl::InfiniteDuration();
  }
  absl::Status last_error() const override { return absl::OkStatus(); }

 private:
  std::vector<TargetGroup> groups_;
};

}  // namespace vigil::discovery

#endif  // VIGIL_SERVER_DISCOVERY_PROVIDER_H_
