// Tenant networks on one host, planned as data: per tenant network a Linux bridge (no IP, IPv6
// off), per VM NIC a tap port with nftables anti-spoofing (bridge family, one table per host),
// per host NIC an IFB whose HTB gives every VM NIC its guaranteed min and its max; the argv
// lists of ip / tc / nft / sysctl commands that apply and tear this down (run by a
// CommandRunner). Pure functions; thread-safety: none needed (ApplyNetCommands runs commands).
#ifndef DEVSHARE_HOST_TENANT_NETWORK_H_
#define DEVSHARE_HOST_TENANT_NETWORK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host.h"
#include "devshare/core/result.h"
#include "devshare/host/command_runner.h"

namespace devshare::host {

struct TenantNetOptions {
  // First letters of every link this plan makes (bridges <p>b..., IFBs <p>i..., taps <p>t...):
  // 1..3 lower-case letters; tests use their own so they never touch the host's.
  std::string name_prefix = "ds";
  std::string nft_table = "devshare";  // table `bridge <nft_table>`: letters, digits, '_'
  int64_t mtu_bytes = 1500;            // for the HTB bursts
};

// HTB rate of a VM NIC without guarantee (min 0) and of the IFB's default class (frames of no
// known port, e.g. a guest spoofing its MAC): HTB needs a rate > 0. 8 kbit/s = 1000 bytes/s.
inline constexpr int64_t kTinyRateBytesPerS = 1000;
inline constexpr int kIfbDefaultMinor = 2;  // class 1:2; the parent is 1:1
inline constexpr int kFirstPortMinor = 0x10;
inline constexpr int kLastPortMinor = 0xffef;
inline constexpr int kMaxNicIndex = 99;

// Deterministic link names, at most 15 characters (IFNAMSIZ - 1), distinct for distinct inputs
// up to a hash: bridge "<p>b<h4><seg 3 hex>" from (host id, segment), IFB "<p>i<h4>-<h5>" from
// (host id, host NIC device id), tap "<p>t<h8>-<nic index>" from (domain name, NIC index; never
// "vnet"/"vif", which libvirt reserves). REQUIRES: a valid prefix, nic_index 0..kMaxNicIndex.
std::string TenantBridgeName(const TenantNetOptions& options, std::string_view host_id,
                             int64_t segment_id);
std::string TenantIfbName(const TenantNetOptions& options, std::string_view host_id,
                          std::string_view device_id);
std::string TenantTapName(const TenantNetOptions& options, std::string_view domain_name,
                          int nic_index);

// One VM NIC on a tenant network, everything the commands need.
struct TenantPort {
  std::string domain;  // the VM's domain name
  int nic_index = 0;   // index in Allocation::nics
  std::string network_id;
  int64_t segment_id = 0;
  std::string mac;      // lower case
  std::string address;  // "10.1.0.5/24"
  std::string ip;       // "10.1.0.5"
  std::string tap, bridge;
  std::string host_nic;  // inventory device id of the host NIC
  std::string ifb;
  int64_t line_rate_mbps = 0;
  int64_t min_mbps = 0;  // 0 = no guarantee (HTB rate kTinyRateBytesPerS)
  int64_t max_mbps = 0;  // the cap, resolved: the line rate when the ledger said 0
  int class_minor = 0;   // HTB class 1:<minor> (hex) and filter pref on the IFB
  bool operator==(const TenantPort&) const = default;
};

// "52:54:00:AB:cd:01" -> "52:54:00:ab:cd:01". InvalidArgument unless six hex pairs.
Result<std::string> NormalizeMac(std::string_view mac);

// The tenant ports of `allocation` (NIC slices with a network_id and unit_index -1, i.e. virtio
// shares; VFs and provider-network NICs are not this module's), for domain `domain` on `host`,
// next to `others` (the ports of the host's other VMs). Class minors avoid those of `others` on
// the same IFB (a hash of the tap name, then the next free). InvalidArgument for a bad segment
// (1..4094), MAC, address, nic index, min > max or max above the line rate; NotFound for a
// device the host lacks; FailedPrecondition for a device that is no NIC or has no line rate, or
// when the mins on one host NIC (with the tiny rates of NICs without min and of the default
// class) exceed its line rate; ResourceExhausted when an IFB has no free class minor.
Result<std::vector<TenantPort>> PlanTenantPorts(const TenantNetOptions& options,
                                                std::string_view domain,
                                                const Allocation& allocation, const Host& host,
                                                const std::vector<TenantPort>& others);

// One command of a plan; may_fail: its failure is expected and ignored (adding a link that
// exists, deleting something already gone).
struct NetCommand {
  Argv argv;
  bool may_fail = false;
  bool operator==(const NetCommand&) const = default;
};

struct NetPlan {
  std::vector<NetCommand> setup;       // before the domain starts: bridges, nft, IFB + HTB
  std::vector<NetCommand> post_start;  // once the taps exist: ingress redirect to the IFB
  std::vector<NetCommand> teardown;    // after the domain is gone; shared links when unused
};

// The classic BPF program (tc's "n,code jt jf k,..." text) that matches frames whose source MAC
// (bytes 6..11: ldh [6], ld [8]) is `mac`; and one that matches every frame.
std::string SourceMacBytecode(std::string_view mac);
inline constexpr std::string_view kMatchAllBytecode = "1,6 0 0 4294967295";

// The commands for `ports` (one VM) next to `others` (the host's other VMs' ports): setup is
// idempotent (re-running gives the same links, classes, filters and ruleset: tc replace, nft
// chains flushed and refilled in one transaction), teardown removes the VM's port chains, map
// elements, classes and filters and the bridges / IFBs no port of `others` uses. The nft table
// and its base chain stay (other ports of the host use them). InvalidArgument (from the HTB
// model) when the classes of an IFB do not fit its line rate.
Result<NetPlan> PlanTenantNetwork(const TenantNetOptions& options,
                                  const std::vector<TenantPort>& ports,
                                  const std::vector<TenantPort>& others);

// Runs the commands in order; stops at the first failing command that is not may_fail and
// returns its status (the command and its stderr).
Status ApplyNetCommands(CommandRunner& runner, const std::vector<NetCommand>& commands);

// NoCloud network-config (version 2) giving each tenant NIC of `allocation` (network_id, mac
// and address set) its static address, matched by MAC; "" when there is none.
std::string NetworkConfigV2(const Allocation& allocation);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_TENANT_NETWORK_H_
