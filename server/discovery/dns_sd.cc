#include "server/discovery/dns_sd.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace vigil::discovery {
namespace {

std::string TrimDot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

class SystemDnsResolver : public DnsResolver {
 public:
  absl::StatusOr<std::vector<std::string>> LookupIP(const std::string& name,
                                                    int family) override {
    addrinfo hints = {};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address
    addrinfo* res = nullptr;
    int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      std::string msg =
          absl::StrCat("lookup of \"", name, "\" failed: ", gai_strerror(rc));
      if (rc == EAI_NONAME
#ifdef EAI_NODATA
          || rc == EAI_NODATA
#endif
#ifdef EAI_ADDRFAMILY
          || rc == EAI_ADDRFAMILY
#endif
      ) {
        return absl::NotFoundError(msg);
      }
      return absl::UnavailableError(msg);
    }
    std::vector<std::string> out;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* addr = nullptr;
      if (ai->ai_family == AF_INET) {
        addr = &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr;
      } else if (ai->ai_family == AF_INET6) {
        addr = &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr;
      } else {
        continue;
      }
      if (inet_ntop(ai->ai_family, addr, buf, sizeof(buf)) == nullptr) continue;
      std::string ip(buf);
      if (std::find(out.begin(), out.end(), ip) == out.end()) {
        out.push_back(std::move(ip));
      }
    }
    freeaddrinfo(res);
    if (out.empty()) {
      return absl::NotFoundError(
          absl::StrCat("no addresses for \"", name, "\""));
    }
    return out;
  }

  absl::StatusOr<std::vector<SrvRecord>> LookupSRV(
      const std::string& name) override {
    std::vector<SrvRecord> out;
    absl::Status s =
        Query(name, ns_t_srv, [&](const ns_msg& msg, const ns_rr& rr) {
          // RDATA: priority(2) weight(2) port(2) target(name).
          if (ns_rr_rdlen(rr) < 7) return;
          const unsigned char* rd = ns_rr_rdata(rr);
          uint16_t port = static_cast<uint16_t>(rd[4] << 8 | rd[5]);
          char target[NS_MAXDNAME];
          if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target,
                        sizeof(target)) < 0) {
            return;
          }
          out.push_back({TrimDot(target), port});
        });
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<std::vector<std::string>> LookupMX(
      const std::string& name) override {
    std::vector<std::string> out;
    absl::Status s =
        Query(name, ns_t_mx, [&](const ns_msg& msg, const ns_rr& rr) {
          // RDATA: preference(2) exchange(name).
          if (ns_rr_rdlen(rr) < 3) return;
          char host[NS_MAXDNAME];
          if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2,
                        host, sizeof(host)) < 0) {
            return;
          }
          out.push_back(TrimDot(host));
        });
    if (!s.ok()) return s;
    return out;
  }

 private:
  template <typename Fn>
  absl::Status Query(const std::string& name, ns_type type, Fn&& on_record) {
    // A private resolver state keeps this thread-safe; res_nsearch applies
    // the resolv.conf search list, as Prometheus's lookup does.
    struct __res_state state = {};
    if (res_ninit(&state) != 0) {
      return absl::UnavailableError("cannot initialise the DNS resolver");
    }
    unsigned char answer[65536];
    int len = res_nsearch(&state, name.c_str(), ns_c_in, type, answer,
                          sizeof(answer));
    int herr = state.res_h_errno;
    res_nclose(&state);
    if (len < 0) {
      std::string msg =
          absl::StrCat("lookup of \"", name, "\" failed: ", hstrerror(herr));
      if (herr == HOST_NOT_FOUND || herr == NO_DATA) {
        return absl::NotFoundError(msg);
      }
      return absl::UnavailableError(msg);
    }
    ns_msg msg;
    if (ns_initparse(answer, len, &msg) != 0) {
      return absl::UnavailableError(
          absl::StrCat("malformed DNS answer for \"", name, "\""));
    }
    int count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count; ++i) {
      ns_rr rr;
      if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) continue;
      if (ns_rr_type(rr) != type) continue;  // e.g. CNAMEs on the way
      on_record(msg, rr);
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<DnsResolver> NewSystemDnsResolver() {
  return std::make_unique<SystemDnsResolver>();
}

std::string JoinHostPort(const std::string& host, int port) {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

DnsSDProvider::DnsSDProvider(config::DNSSDConfig cfg, DnsResolver* resolver)
    : cfg_(std::move(cfg)), resolver_(resolver) {}

absl::StatusOr<TargetGroup> DnsSDProvider::LookupOne(const std::string& name) {
  TargetGroup g;
  g.source = name;
  auto add = [&](std::vector<tsdb::Label> labels) {
    labels.push_back({kDnsNameLabel, name});
    g.targets.push_back(*tsdb::Labels::FromPairs(std::move(labels)));
  };
  if (cfg_.type == "A" || cfg_.type == "AAAA") {
    absl::StatusOr<std::vector<std::string>> ips =
        resolver_->LookupIP(name, cfg_.type == "A" ? AF_INET : AF_INET6);
    if (absl::IsNotFound(ips.status())) return g;
    if (!ips.ok()) return ips.status();
    for (const std::string& ip : *ips) {
      add({{kAddressLabel, JoinHostPort(ip, cfg_.port)}});
    }
  } else if (cfg_.type == "SRV") {
    absl::StatusOr<std::vector<SrvRecord>> srvs = resolver_->LookupSRV(name);
    if (absl::IsNotFound(srvs.status())) return g;
    if (!srvs.ok()) return srvs.status();
    for (const SrvRecord& r : *srvs) {
      add({{kAddressLabel, JoinHostPort(r.target, r.port)},
           {kDnsSrvTargetLabel, r.target},
           {kDnsSrvPortLabel, absl::StrCat(r.port)}});
    }
  } else if (cfg_.type == "MX") {
    absl::StatusOr<std::vector<std::string>> mxs = resolver_->LookupMX(name);
    if (absl::IsNotFound(mxs.status())) return g;
    if (!mxs.ok()) return mxs.status();
    for (const std::string& host : *mxs) {
      add({{kAddressLabel, JoinHostPort(host, cfg_.port)},
           {kDnsMxTargetLabel, host}});
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid DNS-SD records type ", cfg_.type));
  }
  return g;
}

std::vector<TargetGroup> DnsSDProvider::Refresh() {
  last_error_ = absl::OkStatus();
  std::vector<TargetGroup> out;
  for (const std::string& name : cfg_.names) {
    absl::StatusOr<TargetGroup> g = LookupOne(name);
    if (g.ok()) {
      last_good_[name] = *g;
      out.push_back(*std::move(g));
      continue;
    }
    if (last_error_.ok()) last_error_ = g.status();
    auto it = last_good_.find(name);
    if (it != last_good_.end()) out.push_back(it->second);
  }
  return out;
}

}  // namespace vigil::discovery
