// Tenant networks: link names, ports from the allocation, and the ip / tc / nft command lists.
#include "devshare/host/tenant_network.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "devshare/core/ipv4.h"
#include "devshare/qos/htb.h"

namespace devshare::host {
namespace {

constexpr int64_t kBytesPerSPerMbps = 125000;  // 1 Mbit/s = 10^6 bits/s

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string Hex(uint64_t v, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[v & 0xf];
    v >>= 4;
  }
  return out;
}

std::string Bits(double bytes_per_s) {  // a tc rate
  return std::to_string(static_cast<int64_t>(bytes_per_s * 8)) + "bit";
}

std::string Minor(int minor) {  // tc class ids and prefs are hex / decimal respectively
  char buf[8];
  std::snprintf(buf, sizeof buf, "%x", minor);
  return buf;
}

NetCommand Cmd(Argv argv, bool may_fail = false) { return NetCommand{std::move(argv), may_fail}; }

int64_t RateBytesPerS(const TenantPort& p) {
  return p.min_mbps > 0 ? p.min_mbps * kBytesPerSPerMbps : kTinyRateBytesPerS;
}

std::string PortChain(const TenantPort& p) { return "port-" + p.tap; }

// A port's HTB class. cburst holds kCeilBurstMs of the ceil (at least 2 frames): with the
// model's default of 1 ms, a capped class without a floor reached only ~55 % of its ceil while
// two other classes kept the host NIC busy (tenant_network_test MaxCapHoldsUnderContention: 21
// of 38 Mbit/s payload); with 10 ms it reaches the ceil and a 1 s window never exceeds it.
constexpr int64_t kCeilBurstMs = 10;
qos::HtbClassSpec PortClass(const TenantNetOptions& options, const TenantPort& p) {
  const int64_t ceil = p.max_mbps * kBytesPerSPerMbps;
  qos::HtbClassSpec c{p.tap, static_cast<double>(RateBytesPerS(p)), static_cast<double>(ceil)};
  c.cburst_bytes = std::max(ceil * kCeilBurstMs / 1000, 2 * options.mtu_bytes);
  return c;
}

}  // namespace

std::string TenantBridgeName(const TenantNetOptions& options, std::string_view host_id,
                             int64_t segment_id) {
  return options.name_prefix + "b" + Hex(Fnv1a(host_id), 4) +
         Hex(static_cast<uint64_t>(segment_id), 3);
}

std::string TenantIfbName(const TenantNetOptions& options, std::string_view host_id,
                          std::string_view device_id) {
  return options.name_prefix + "i" + Hex(Fnv1a(host_id), 4) + "-" + Hex(Fnv1a(device_id), 5);
}

std::string TenantTapName(const TenantNetOptions& options, std::string_view domain_name,
                          int nic_index) {
  return options.name_prefix + "t" + Hex(Fnv1a(domain_name), 8) + "-" + std::to_string(nic_index);
}

Result<std::string> NormalizeMac(std::string_view mac) {
  std::string out;
  if (mac.size() != 17) return Status::InvalidArgument("MAC '" + std::string(mac) + "' malformed");
  for (size_t i = 0; i < mac.size(); ++i) {
    const char c = mac[i];
    if (i % 3 == 2) {
      if (c != ':') return Status::InvalidArgument("MAC '" + std::string(mac) + "' malformed");
      out += c;
      continue;
    }
    if (c >= '0' && c <= '9') {
      out += c;
    } else if (c >= 'a' && c <= 'f') {
      out += c;
    } else if (c >= 'A' && c <= 'F') {
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      return Status::InvalidArgument("MAC '" + std::string(mac) + "' malformed");
    }
  }
  return out;
}

std::string SourceMacBytecode(std::string_view mac) {
  uint64_t v = 0;
  for (char c : mac) {
    if (c == ':') continue;
    v = v * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  const uint64_t hi = v >> 32, lo = v & 0xffffffffULL;
  // ldh [6]; jeq hi ? next : drop; ld [8]; jeq lo ? match : drop; match: ret -1; drop: ret 0
  return "6,40 0 0 6,21 0 3 " + std::to_string(hi) + ",32 0 0 8,21 0 1 " + std::to_string(lo) +
         ",6 0 0 4294967295,6 0 0 0";
}

Result<std::vector<TenantPort>> PlanTenantPorts(const TenantNetOptions& options,
                                                std::string_view domain,
                                                const Allocation& allocation, const Host& host,
                                                const std::vector<TenantPort>& others) {
  std::vector<TenantPort> ports;
  std::map<std::string, std::set<int>> used;  // ifb -> class minors
  for (const TenantPort& o : others) used[o.ifb].insert(o.class_minor);
  for (size_t i = 0; i < allocation.nics.size(); ++i) {
    const DeviceSlice& s = allocation.nics[i];
    if (s.network_id.empty() || s.unit_index >= 0) continue;
    const std::string what = "NIC " + std::to_string(i) + " (" + s.network_id + ")";
    if (i > static_cast<size_t>(kMaxNicIndex)) {
      return Status::InvalidArgument(what + ": at most " + std::to_string(kMaxNicIndex + 1) +
                                     " NICs");
    }
    if (s.segment_id < 1 || s.segment_id > 4094) {
      return Status::InvalidArgument(what + ": segment " + std::to_string(s.segment_id) +
                                     " outside 1..4094");
    }
    TenantPort p;
    p.domain = std::string(domain);
    p.nic_index = static_cast<int>(i);
    p.network_id = s.network_id;
    p.segment_id = s.segment_id;
    Result<std::string> mac = NormalizeMac(s.mac);
    if (!mac.ok()) return Status::InvalidArgument(what + ": " + mac.status().message());
    p.mac = *mac;
    Result<Ipv4Interface> ip = ParseIpv4Interface(s.address, 1, 32);
    if (!ip.ok()) return Status::InvalidArgument(what + ": address " + ip.status().message());
    p.address = s.address;
    p.ip = FormatIpv4(ip->address);
    const Device* dev = nullptr;
    for (const Device& d : host.devices) {
      if (d.id == s.device_id) dev = &d;
    }
    if (dev == nullptr) {
      return Status::NotFound(what + ": host " + host.id + " has no device '" + s.device_id + "'");
    }
    if (dev->kind != DeviceKind::kNic || dev->rate_capacity <= 0) {
      return Status::FailedPrecondition(what + ": device " + dev->id +
                                        " is no NIC with a line rate");
    }
    p.host_nic = dev->id;
    p.line_rate_mbps = dev->rate_capacity;
    p.min_mbps = s.rate;
    p.max_mbps = s.rate_limit > 0 ? s.rate_limit : dev->rate_capacity;
    if (p.min_mbps < 0 || p.max_mbps > p.line_rate_mbps || p.min_mbps > p.max_mbps) {
      return Status::InvalidArgument(what + ": bandwidth min " + std::to_string(p.min_mbps) +
                                     " / max " + std::to_string(p.max_mbps) +
                                     " Mbps must satisfy 0 <= min <= max <= line rate " +
                                     std::to_string(p.line_rate_mbps));
    }
    p.tap = TenantTapName(options, domain, p.nic_index);
    p.bridge = TenantBridgeName(options, host.id, p.segment_id);
    p.ifb = TenantIfbName(options, host.id, p.host_nic);
    std::set<int>& taken = used[p.ifb];
    const int span = kLastPortMinor - kFirstPortMinor + 1;
    int minor = kFirstPortMinor + static_cast<int>(Fnv1a(p.tap) % static_cast<uint64_t>(span));
    int tries = 0;
    while (taken.count(minor) && tries < span) {
      minor = minor == kLastPortMinor ? kFirstPortMinor : minor + 1;
      ++tries;
    }
    if (tries == span) {
      return Status::ResourceExhausted(what + ": no free HTB class on " + p.ifb);
    }
    taken.insert(minor);
    p.class_minor = minor;
    ports.push_back(std::move(p));
  }
  // The guarantees of every host NIC must fit its line rate (PlanTenantNetwork checks it with
  // the HTB model too; this gives the ledger-facing message).
  std::map<std::string, int64_t> sum;  // ifb -> bytes/s
  std::map<std::string, int64_t> line;
  const std::vector<TenantPort>* lists[] = {&others, &ports};
  for (const std::vector<TenantPort>* v : lists) {
    for (const TenantPort& p : *v) {
      sum[p.ifb] += RateBytesPerS(p);
      line[p.ifb] = p.line_rate_mbps * kBytesPerSPerMbps;
    }
  }
  for (const TenantPort& p : ports) {
    if (sum[p.ifb] + kTinyRateBytesPerS > line[p.ifb]) {
      return Status::FailedPrecondition("host NIC " + p.host_nic +
                                        ": the bandwidth guarantees of its VM NICs exceed its line "
                                        "rate of " +
                                        std::to_string(p.line_rate_mbps) + " Mbps");
    }
  }
  return ports;
}

Result<NetPlan> PlanTenantNetwork(const TenantNetOptions& options,
                                  const std::vector<TenantPort>& ports,
                                  const std::vector<TenantPort>& others) {
  NetPlan plan;
  const std::string& t = options.nft_table;
  const std::string table = "bridge " + t;
  if (ports.empty()) return plan;

  // nft: the host's table, its prerouting base chain dispatching by input port through a
  // verdict map, refreshed in one transaction (idempotent: `add` of what exists is a no-op).
  plan.setup.push_back(
      Cmd({"nft", "add table " + table + "; add chain " + table +
                      " prerouting { type filter hook prerouting priority -200; "
                      "policy accept; }; add map " +
                      table + " ports { type ifname : verdict; }; flush chain " + table +
                      " prerouting; add rule " + table + " prerouting iifname vmap @ports"}));
  // Bridges (one per tenant network), in first-use order.
  std::set<std::string> bridges_done;
  for (const TenantPort& p : ports) {
    if (!bridges_done.insert(p.bridge).second) continue;
    plan.setup.push_back(Cmd({"ip", "link", "add", "name", p.bridge, "type", "bridge"}, true));
    plan.setup.push_back(
        Cmd({"sysctl", "-q", "-w", "net.ipv6.conf." + p.bridge + ".disable_ipv6=1"}, true));
    plan.setup.push_back(Cmd({"ip", "link", "set", "dev", p.bridge, "up"}));
  }
  // Anti-spoofing per port: the chain is flushed and refilled with the map element in one
  // transaction, so re-applying yields the same ruleset and the rules exist before the tap does.
  for (const TenantPort& p : ports) {
    const std::string c = table + " " + PortChain(p);
    const std::string r = "add rule " + c + " ";
    plan.setup.push_back(
        Cmd({"nft", "add chain " + c + "; flush chain " + c + "; " + r + "ether saddr != " + p.mac +
                        " drop; " + r + "arp saddr ether != " + p.mac + " drop; " + r +
                        "arp saddr ip != " + p.ip + " drop; " + r + "ether type arp accept; " + r +
                        "ip saddr != " + p.ip + " drop; " + r + "ether type ip accept; " + r +
                        "drop; add element " + table + " ports { \"" + p.tap + "\" : jump " +
                        PortChain(p) + " }"}));
  }
  // Bandwidth: per IFB the HTB root, parent (line rate) and default class, then this VM's
  // classes (PortClass: the HTB model's burst and quantum, a longer cburst), each with its
  // source-MAC filter.
  std::map<std::string, std::vector<const TenantPort*>> by_ifb;
  for (const TenantPort& p : ports) by_ifb[p.ifb].push_back(&p);
  for (const auto& [ifb, mine] : by_ifb) {
    const int64_t line = mine.front()->line_rate_mbps * kBytesPerSPerMbps;
    qos::HtbOptions ho;
    ho.parent_rate_bytes_per_s = static_cast<double>(line);
    ho.mtu_bytes = options.mtu_bytes;
    std::vector<qos::HtbClassSpec> specs;
    specs.push_back({"default", static_cast<double>(kTinyRateBytesPerS)});
    for (const TenantPort* p : mine) specs.push_back(PortClass(options, *p));
    for (const TenantPort& o : others) {
      if (o.ifb == ifb) specs.push_back(PortClass(options, o));
    }
    Result<std::vector<qos::HtbClassSpec>> classes = qos::ResolveHtbClasses(ho, specs);
    if (!classes.ok()) {
      return Status::InvalidArgument("IFB " + ifb + " (host NIC " + mine.front()->host_nic +
                                     "): " + classes.status().message());
    }
    const std::string parent_burst = std::to_string(qos::ResolveHtbParentBurst(ho));
    plan.setup.push_back(Cmd({"ip", "link", "add", "name", ifb, "type", "ifb"}, true));
    plan.setup.push_back(Cmd({"ip", "link", "set", "dev", ifb, "up"}));
    plan.setup.push_back(Cmd({"tc", "qdisc", "add", "dev", ifb, "root", "handle", "1:", "htb",
                              "default", Minor(kIfbDefaultMinor)},
                             true));  // htb has no change operation: exists on a re-apply
    plan.setup.push_back(
        Cmd({"tc", "class", "replace", "dev", ifb, "parent", "1:", "classid", "1:1", "htb", "rate",
             Bits(ho.parent_rate_bytes_per_s), "ceil", Bits(ho.parent_rate_bytes_per_s), "burst",
             parent_burst, "cburst", parent_burst}));
    auto klass = [&](int minor, const qos::HtbClassSpec& c) {
      return Cmd({"tc",
                  "class",
                  "replace",
                  "dev",
                  ifb,
                  "parent",
                  "1:1",
                  "classid",
                  "1:" + Minor(minor),
                  "htb",
                  "rate",
                  Bits(c.rate_bytes_per_s),
                  "ceil",
                  Bits(c.ceil_bytes_per_s),
                  "burst",
                  std::to_string(c.burst_bytes),
                  "cburst",
                  std::to_string(c.cburst_bytes),
                  "quantum",
                  std::to_string(c.quantum_bytes)});
    };
    plan.setup.push_back(klass(kIfbDefaultMinor, (*classes)[0]));
    for (size_t i = 0; i < mine.size(); ++i) {
      const TenantPort& p = *mine[i];
      plan.setup.push_back(klass(p.class_minor, (*classes)[i + 1]));
      plan.setup.push_back(
          Cmd({"tc", "filter", "replace", "dev", ifb, "parent", "1:", "protocol", "all", "pref",
               std::to_string(p.class_minor), "handle", "1", "bpf", "bytecode",
               SourceMacBytecode(p.mac), "classid", "1:" + Minor(p.class_minor)}));
    }
  }
  // Once the taps exist: every frame the guest sends goes through its host NIC's IFB first.
  for (const TenantPort& p : ports) {
    // Toward the guest: its cap (the line rate when the ledger set none) as a token bucket on the
    // tap's egress, 10 ms of burst (libvirt's <bandwidth><inbound> needs sfq, which not every
    // kernel has: this one has not).
    const double cap_bytes_per_s = static_cast<double>(p.max_mbps) * 125000.0;
    const int64_t burst = std::max<int64_t>(static_cast<int64_t>(cap_bytes_per_s / 100), 2 * 1514);
    plan.post_start.push_back(
        Cmd({"tc", "qdisc", "replace", "dev", p.tap, "root", "tbf", "rate", Bits(cap_bytes_per_s),
             "burst", std::to_string(burst), "latency", "50ms"}));
    plan.post_start.push_back(
        Cmd({"sysctl", "-q", "-w", "net.ipv6.conf." + p.tap + ".disable_ipv6=1"}, true));
    plan.post_start.push_back(
        Cmd({"tc", "qdisc", "replace", "dev", p.tap, "handle", "ffff:", "ingress"}));
    plan.post_start.push_back(Cmd({"tc",     "filter", "replace",  "dev",
                                   p.tap,    "parent", "ffff:",    "protocol",
                                   "all",    "pref",   "1",        "handle",
                                   "1",      "bpf",    "bytecode", std::string(kMatchAllBytecode),
                                   "action", "mirred", "egress",   "redirect",
                                   "dev",    p.ifb}));
  }
  // Teardown: everything of this VM (each may already be gone), then what nobody else uses.
  std::set<std::string> other_bridges, other_ifbs;
  for (const TenantPort& o : others) {
    other_bridges.insert(o.bridge);
    other_ifbs.insert(o.ifb);
  }
  for (const TenantPort& p : ports) {
    plan.teardown.push_back(
        Cmd({"nft", "delete element " + table + " ports { \"" + p.tap + "\" }"}, true));
    plan.teardown.push_back(Cmd({"nft", "delete chain " + table + " " + PortChain(p)}, true));
    plan.teardown.push_back(Cmd({"tc", "qdisc", "del", "dev", p.tap, "ingress"}, true));
    plan.teardown.push_back(Cmd({"tc", "filter", "del", "dev", p.ifb, "parent", "1:", "protocol",
                                 "all", "pref", std::to_string(p.class_minor)},
                                true));
    plan.teardown.push_back(
        Cmd({"tc", "class", "del", "dev", p.ifb, "classid", "1:" + Minor(p.class_minor)}, true));
  }
  std::set<std::string> removed;
  for (const TenantPort& p : ports) {
    if (!other_bridges.count(p.bridge) && removed.insert(p.bridge).second) {
      plan.teardown.push_back(Cmd({"ip", "link", "del", "dev", p.bridge}, true));
    }
    if (!other_ifbs.count(p.ifb) && removed.insert(p.ifb).second) {
      plan.teardown.push_back(Cmd({"ip", "link", "del", "dev", p.ifb}, true));
    }
  }
  return plan;
}

Status ApplyNetCommands(CommandRunner& runner, const std::vector<NetCommand>& commands) {
  for (const NetCommand& c : commands) {
    Status s = runner.Run(c.argv);
    if (!s.ok() && !c.may_fail) return s;
  }
  return Status::Ok();
}

std::string NetworkConfigV2(const Allocation& allocation) {
  std::string out;
  for (size_t i = 0; i < allocation.nics.size(); ++i) {
    const DeviceSlice& s = allocation.nics[i];
    if (s.network_id.empty() || s.mac.empty() || s.address.empty()) continue;
    Result<std::string> mac = NormalizeMac(s.mac);
    if (!mac.ok() || !ParseIpv4Interface(s.address, 1, 32).ok()) continue;
    if (out.empty()) out = "version: 2\nethernets:\n";
    out += "  nic" + std::to_string(i) + ":\n    match:\n      macaddress: \"" + *mac +
           "\"\n    addresses:\n      - " + s.address + "\n";
  }
  return out;
}

}  // namespace devshare::host
