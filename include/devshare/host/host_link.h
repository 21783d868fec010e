// Host links: NICs of a host that carry its guests' tenant networks without SR-IOV (the uplink
// a bridge's traffic leaves by), declared with `devshare agent --nic NAME:NETWORK:MBPS[,netdev=IF]`
// and offered as inventory NICs with that line rate (HTB parent rate, sum of NIC guarantees).
// Thread-safety: pure functions and value types.
#ifndef DEVSHARE_HOST_HOST_LINK_H_
#define DEVSHARE_HOST_HOST_LINK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::host {

struct HostLink {
  std::string name;     // inventory device id ("uplink0")
  std::string network;  // physical network it attaches to ("default")
  int64_t line_rate_mbps = 0;
  std::string netdev;  // the host interface ("eth0"); empty = none named (host-local bridges)
};

// "NAME:NETWORK:MBPS[,netdev=IF]". InvalidArgument quoting the flag for a bad name or network
// (letters, digits, '_', '-', '.'; at most 63), a line rate outside 1..100000000, a netdev name
// longer than 15 or with '/', or an unknown key.
Result<HostLink> ParseHostLinkFlag(std::string_view flag);
// Several --nic values separated by ';' (as --pool); InvalidArgument for an empty item or a
// name given twice.
Result<std::vector<HostLink>> ParseHostLinkFlags(std::string_view value);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_HOST_LINK_H_
