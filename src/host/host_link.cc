// Host links: the --nic flag; see host_link.h.
#include "devshare/host/host_link.h"

#include <cctype>
#include <charconv>

namespace devshare::host {
namespace {

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

Status Bad(std::string_view flag, const std::string& why) {
  return Status::InvalidArgument("--nic " + std::string(flag) + ": " + why);
}

}  // namespace

Result<HostLink> ParseHostLinkFlag(std::string_view flag) {
  const size_t c1 = flag.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : flag.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return Bad(flag, "expected NAME:NETWORK:MBPS[,netdev=IF]");
  HostLink l;
  l.name = std::string(flag.substr(0, c1));
  l.network = std::string(flag.substr(c1 + 1, c2 - c1 - 1));
  std::string_view rest = flag.substr(c2 + 1);
  const size_t comma = rest.find(',');
  const std::string_view mbps = rest.substr(0, comma);
  if (!ValidName(l.name)) return Bad(flag, "bad NIC name '" + l.name + "'");
  if (!ValidName(l.network)) return Bad(flag, "bad network name '" + l.network + "'");
  auto [end, ec] = std::from_chars(mbps.data(), mbps.data() + mbps.size(), l.line_rate_mbps);
  if (ec != std::errc() || end != mbps.data() + mbps.size() || l.line_rate_mbps < 1 ||
      l.line_rate_mbps > 100'000'000) {
    return Bad(flag,
               "line rate '" + std::string(mbps) + "' is not an integer of 1..100000000 Mbps");
  }
  std::string_view opts = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  while (!opts.empty()) {
    const size_t next = opts.find(',');
    const std::string_view kv = opts.substr(0, next);
    opts = next == std::string_view::npos ? "" : opts.substr(next + 1);
    const size_t eq = kv.find('=');
    const std::string_view key = kv.substr(0, eq);
    if (eq == std::string_view::npos || key != "netdev") {
      return Bad(flag, "unknown option '" + std::string(kv) + "' (known: netdev=IF)");
    }
    l.netdev = std::string(kv.substr(eq + 1));
    if (l.netdev.empty() || l.netdev.size() > 15 || l.netdev.find('/') != std::string::npos) {
      return Bad(flag, "netdev '" + l.netdev + "' is not an interface name (1..15, no '/')");
    }
  }
  return l;
}

Result<std::vector<HostLink>> ParseHostLinkFlags(std::string_view value) {
  std::vector<HostLink> out;
  size_t start = 0;
  while (start <= value.size()) {
    const size_t end = value.find(';', start);
    const std::string_view item =
        value.substr(start, end == std::string_view::npos ? end : end - start);
    if (item.empty()) {
      return Status::InvalidArgument("--nic: empty NIC in '" + std::string(value) + "'");
    }
    DS_ASSIGN_OR_RETURN(HostLink l, ParseHostLinkFlag(item));
    for (const HostLink& o : out) {
      if (o.name == l.name) return Status::InvalidArgument("--nic " + l.name + ": named twice");
    }
    out.push_back(std::move(l));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace devshare::host
