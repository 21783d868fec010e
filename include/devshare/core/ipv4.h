// IPv4 addresses, CIDR blocks and interface addresses (address/prefix) for tenant networks:
// parsing with exact error messages, formatting, containment and overlap.
// Thread-safety: pure functions and value types.
#ifndef DEVSHARE_CORE_IPV4_H_
#define DEVSHARE_CORE_IPV4_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "devshare/core/result.h"

namespace devshare {

// A block of 2^(32 - prefix_len) addresses starting at `base` (host bits zero).
struct Ipv4Cidr {
  uint32_t base = 0;
  int prefix_len = 0;  // 0..32

  uint64_t size() const { return uint64_t{1} << (32 - prefix_len); }
  uint32_t last() const { return base + static_cast<uint32_t>(size() - 1); }
  bool Contains(uint32_t address) const { return address >= base && address <= last(); }
  bool Overlaps(const Ipv4Cidr& o) const { return base <= o.last() && o.base <= last(); }
  std::string ToString() const;  // "10.1.0.0/24"
};

// "a.b.c.d" with four decimal parts 0..255 (no leading zeros beyond "0"). InvalidArgument
// quoting the text otherwise.
Result<uint32_t> ParseIpv4(std::string_view text);
std::string FormatIpv4(uint32_t address);

// "a.b.c.d/n". InvalidArgument for a malformed text, a prefix outside
// min_prefix_len..max_prefix_len, or host bits set ("10.1.0.5/24": give "10.1.0.0/24").
Result<Ipv4Cidr> ParseCidr(std::string_view text, int min_prefix_len = 0, int max_prefix_len = 32);

// An interface address with its network's prefix length, "10.1.0.5/24": unlike a CIDR block,
// host bits are what it is about.
struct Ipv4Interface {
  uint32_t address = 0;
  int prefix_len = 0;  // 0..32
};

// "a.b.c.d/n" with the address as ParseIpv4 takes it. InvalidArgument quoting the text for a
// malformed text or a prefix outside min_prefix_len..max_prefix_len.
Result<Ipv4Interface> ParseIpv4Interface(std::string_view text, int min_prefix_len = 0,
                                         int max_prefix_len = 32);

}  // namespace devshare

#endif  // DEVSHARE_CORE_IPV4_H_
