// DNS-based service discovery (`dns_sd_configs`), as in Prometheus:
//
//  - A / AAAA: every address of every name becomes a target "<ip>:<port>"
//    ("[<ipv6>]:<port>"). Docker Swarm answers `tasks.<service>` with one A
//    record per running replica, so each replica is scraped on its own.
//  - SRV: every record becomes "<target>:<record port>".
//  - MX: every record becomes "<exchange>:<port>".
//
// Each name is one group (source = the name); targets carry
// `__meta_dns_name`, plus `__meta_dns_srv_record_target` and
// `__meta_dns_srv_record_port` for SRV and `__meta_dns_mx_record_target` for
// MX. A name that does not exist (NXDOMAIN, e.g. a Swarm service scaled to
// zero) yields an empty group; any other lookup failure keeps the name's
// last good group and is reported through last_error().
#ifndef VIGIL_SERVER_DISCOVERY_DNS_SD_H_
#define VIGIL_SERVER_DISCOVERY_DNS_SD_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/config/config.h"
#include "server/discovery/provider.h"
#include "server/discovery/target_group.h"

namespace vigil::discovery {

inline constexpr char kDnsNameLabel[] = "__meta_dns_name";
inline constexpr char kDnsSrvTargetLabel[] = "__meta_dns_srv_record_target";
inline constexpr char kDnsSrvPortLabel[] = "__meta_dns_srv_record_port";
inline constexpr char kDnsMxTargetLabel[] = "__meta_dns_mx_record_target";

struct SrvRecord {
  std::string target;  // without the trailing dot
  uint16_t port = 0;
};

// The lookups DNS discovery needs; a seam so tests need no DNS server.
// Every method returns NotFound when the name does not exist or has no
// records of the type, and another error for failed lookups.
class DnsResolver {
 public:
  virtual ~DnsResolver() = default;
  // `family` is AF_INET or AF_INET6. Addresses in text form, de-duplicated.
  virtual absl::StatusOr<std::vector<std::string>> LookupIP(
      const std::string& name, int family) = 0;
  virtual absl::StatusOr<std::vector<SrvRecord>> LookupSRV(
      const std::string& name) = 0;
  // MX exchanges, without the trailing dot.
  virtual absl::StatusOr<std::vector<std::string>> LookupMX(
      const std::string& name) = 0;
};

// getaddrinfo(3) for A/AAAA (so /etc/hosts and Docker's embedded DNS work)
// and res_nsearch(3) (resolv.conf search list applied) for SRV/MX.
// Thread-safe.
std::unique_ptr<DnsResolver> NewSystemDnsResolver();

class DnsSDProvider : public Provider {
 public:
  // `resolver` must outlive the provider.
  DnsSDProvider(config::DNSSDConfig cfg, DnsResolver* resolver);

  std::vector<TargetGroup> Refresh() override;
  absl::Duration refresh_interval() const override {
    return cfg_.refresh_interval;
  }
  absl::Status last_error() const override { return last_error_; }

 private:
  absl::StatusOr<TargetGroup> LookupOne(const std::string& name);

  config::DNSSDConfig cfg_;
  DnsResolver* resolver_;
  std::map<std::string, TargetGroup> last_good_;  // by name
  absl::Status last_error_;
};

// "host:port", bracketing IPv6 literals like Go's net.JoinHostPort.
std::string JoinHostPort(const std::string& host, int port);

}  // namespace vigil::discovery

#endif  // VIGIL_SERVER_DISCOVERY_DNS_SD_H_
