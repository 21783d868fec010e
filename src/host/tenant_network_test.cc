// Tenant network planning: names, ports, command lists, HTB parameters, network-config.
#include "devshare/host/tenant_network.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace devshare::host {
namespace {

Host NetHost() {
  Host h;
  h.id = "host-a";
  h.devices.push_back(Device::Nic("nic0", "prov", 0, 1000));
  h.devices.push_back(Device::Nic("nic1", "prov", 0, 10000));
  Device gpu;
  gpu.id = "gpu0";
  h.devices.push_back(gpu);
  return h;
}

DeviceSlice TenantNic(std::string net, int64_t seg, std::string mac, std::string addr,
                      int64_t min_mbps = 0, int64_t max_mbps = 0, std::string dev = "nic0") {
  DeviceSlice s;
  s.kind = DeviceKind::kNic;
  s.device_id = std::move(dev);
  s.network_id = std::move(net);
  s.segment_id = seg;
  s.mac = std::move(mac);
  s.address = std::move(addr);
  s.rate = min_mbps;
  s.rate_limit = max_mbps;
  return s;
}

std::vector<std::string> Texts(const std::vector<NetCommand>& cs) {
  std::vector<std::string> out;
  for (const NetCommand& c : cs) out.push_back(ArgvText(c.argv));
  return out;
}

bool AnyContains(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(),
                     [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

TEST(TenantNetworkNames, ShortDistinctAndNotLibvirtReserved) {
  TenantNetOptions o;
  std::set<std::string> names;
  for (const char* host : {"host-a", "host-b", "a-very-long-host-name-from-the-ledger-0001"}) {
    for (int64_t seg : {1, 2, 100, 4094}) {
      const std::string b = TenantBridgeName(o, host, seg);
      EXPECT_LE(b.size(), 15u) << b;
      EXPECT_TRUE(names.insert(b).second) << b;
    }
    for (const char* dev : {"nic0", "nic1", "eth-ens1f0"}) {
      const std::string i = TenantIfbName(o, host, dev);
      EXPECT_LE(i.size(), 15u) << i;
      EXPECT_TRUE(names.insert(i).second) << i;
    }
  }
  TenantNetOptions longest;
  longest.name_prefix = "abc";
  for (const char* dom : {"devshare-vm-1", "devshare-vm-2", "devshare-a1-vm-1"}) {
    for (int nic : {0, 1, kMaxNicIndex}) {
      const std::string t = TenantTapName(longest, dom, nic);
      EXPECT_LE(t.size(), 15u) << t;
      EXPECT_NE(t.rfind("vnet", 0), 0u);
      EXPECT_NE(t.rfind("vif", 0), 0u);
      EXPECT_TRUE(names.insert(t).second) << t;
    }
  }
  // Deterministic.
  EXPECT_EQ(TenantBridgeName(o, "host-a", 7), TenantBridgeName(o, "host-a", 7));
  EXPECT_EQ(TenantTapName(o, "d", 0).substr(0, 3), "dst");
}

TEST(TenantNetworkParse, Mac) {
  EXPECT_EQ(*NormalizeMac("52:54:00:AB:cd:01"), "52:54:00:ab:cd:01");
  EXPECT_FALSE(NormalizeMac("52:54:00:ab:cd").ok());
  EXPECT_FALSE(NormalizeMac("52-54-00-ab-cd-01").ok());
  EXPECT_FALSE(NormalizeMac("52:54:00:ab:cd:0g").ok());
}

TEST(TenantNetworkBytecode, MatchesSourceMac) {
  // 52:54 = 21076; 00:ab:cd:01 = 0x00abcd01 = 11259137.
  EXPECT_EQ(SourceMacBytecode("52:54:00:ab:cd:01"),
            "6,40 0 0 6,21 0 3 21076,32 0 0 8,21 0 1 11259137,6 0 0 4294967295,6 0 0 0");
}

TEST(TenantNetworkPorts, FromAllocation) {
  Allocation a;
  a.nics.push_back(TenantNic("net-1", 10, "52:54:00:00:00:0A", "10.1.0.5/24", 100, 0));
  DeviceSlice provider;  // provider network NIC: no port
  provider.kind = DeviceKind::kNic;
  provider.device_id = "nic0";
  a.nics.push_back(provider);
  DeviceSlice vf = TenantNic("net-1", 10, "52:54:00:00:00:0b", "10.1.0.6/24");
  vf.unit_index = 3;  // a VF: the VF plan's, not ours
  a.nics.push_back(vf);
  a.nics.push_back(TenantNic("net-2", 11, "52:54:00:00:00:0c", "10.2.0.5/24", 0, 500, "nic1"));
  Result<std::vector<TenantPort>> ports = PlanTenantPorts({}, "devshare-vm-1", a, NetHost(), {});
  ASSERT_TRUE(ports.ok()) << ports.status().message();
  ASSERT_EQ(ports->size(), 2u);
  const TenantPort& p = (*ports)[0];
  EXPECT_EQ(p.nic_index, 0);
  EXPECT_EQ(p.mac, "52:54:00:00:00:0a");
  EXPECT_EQ(p.ip, "10.1.0.5");
  EXPECT_EQ(p.min_mbps, 100);
  EXPECT_EQ(p.max_mbps, 1000);  // 0 = line rate
  EXPECT_EQ(p.tap, TenantTapName({}, "devshare-vm-1", 0));
  EXPECT_EQ(p.bridge, TenantBridgeName({}, "host-a", 10));
  EXPECT_EQ(p.ifb, TenantIfbName({}, "host-a", "nic0"));
  EXPECT_GE(p.class_minor, kFirstPortMinor);
  EXPECT_LE(p.class_minor, kLastPortMinor);
  const TenantPort& q = (*ports)[1];
  EXPECT_EQ(q.nic_index, 3);
  EXPECT_EQ(q.max_mbps, 500);
  EXPECT_EQ(q.ifb, TenantIfbName({}, "host-a", "nic1"));

  // Another VM whose hash lands on the same minor gets a different one.
  std::vector<TenantPort> others = *ports;
  for (TenantPort& o : others) o.domain = "x";
  Result<std::vector<TenantPort>> again =
      PlanTenantPorts({}, "devshare-vm-1", a, NetHost(), others);
  ASSERT_TRUE(again.ok());
  EXPECT_NE((*again)[0].class_minor, p.class_minor);
}

TEST(TenantNetworkPorts, Rejections) {
  struct Case {
    const char* name;
    DeviceSlice nic;
    StatusCode code;
  } cases[] = {
      {"segment 0", TenantNic("n", 0, "52:54:00:00:00:01", "10.0.0.1/24"),
       StatusCode::kInvalidArgument},
      {"segment 4095", TenantNic("n", 4095, "52:54:00:00:00:01", "10.0.0.1/24"),
       StatusCode::kInvalidArgument},
      {"bad mac", TenantNic("n", 1, "52:54:00:00:01", "10.0.0.1/24"), StatusCode::kInvalidArgument},
      {"bad address", TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1"),
       StatusCode::kInvalidArgument},
      {"min > max", TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1/24", 300, 200),
       StatusCode::kInvalidArgument},
      {"max > line", TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1/24", 0, 2000),
       StatusCode::kInvalidArgument},
      {"min = line (no room for the default class)",
       TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1/24", 1000, 1000),
       StatusCode::kFailedPrecondition},
      {"unknown device", TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1/24", 0, 0, "nic9"),
       StatusCode::kNotFound},
      {"not a nic", TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1/24", 0, 0, "gpu0"),
       StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    Allocation a;
    a.nics.push_back(c.nic);
    EXPECT_EQ(PlanTenantPorts({}, "d", a, NetHost(), {}).status().code(), c.code) << c.name;
  }
  // Guarantees of several VMs on one NIC add up.
  Allocation a;
  a.nics.push_back(TenantNic("n", 1, "52:54:00:00:00:01", "10.0.0.1/24", 600));
  auto first = PlanTenantPorts({}, "d1", a, NetHost(), {});
  ASSERT_TRUE(first.ok());
  a.nics[0].mac = "52:54:00:00:00:02";
  EXPECT_EQ(PlanTenantPorts({}, "d2", a, NetHost(), *first).status().code(),
            StatusCode::kFailedPrecondition);
  a.nics[0].rate = 300;
  EXPECT_TRUE(PlanTenantPorts({}, "d2", a, NetHost(), *first).ok());
}

TEST(TenantNetworkPlan, CommandsApplyAndTearDown) {
  TenantNetOptions o;
  o.nft_table = "t";
  Allocation a;
  a.nics.push_back(TenantNic("net-1", 10, "52:54:00:00:00:0a", "10.1.0.5/24", 100, 200));
  auto ports = PlanTenantPorts(o, "dom", a, NetHost(), {});
  ASSERT_TRUE(ports.ok());
  const TenantPort& p = (*ports)[0];
  Result<NetPlan> plan = PlanTenantNetwork(o, *ports, {});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const std::vector<std::string> setup = Texts(plan->setup);
  char minor[8];
  std::snprintf(minor, sizeof minor, "%x", p.class_minor);
  const std::vector<std::string> expected_setup = {
      "nft 'add table bridge t; add chain bridge t prerouting { type filter hook prerouting "
      "priority -200; policy accept; }; add map bridge t ports { type ifname : verdict; }; flush "
      "chain bridge t prerouting; add rule bridge t prerouting iifname vmap @ports'",
      "ip link add name " + p.bridge + " type bridge",
      "sysctl -q -w net.ipv6.conf." + p.bridge + ".disable_ipv6=1",
      "ip link set dev " + p.bridge + " up",
      "nft 'add chain bridge t port-" + p.tap + "; flush chain bridge t port-" + p.tap +
          "; add rule bridge t port-" + p.tap +
          " ether saddr != 52:54:00:00:00:0a drop; add rule bridge t port-" + p.tap +
          " arp saddr ether != 52:54:00:00:00:0a drop; add rule bridge t port-" + p.tap +
          " arp saddr ip != 10.1.0.5 drop; add rule bridge t port-" + p.tap +
          " ether type arp accept; add rule bridge t port-" + p.tap +
          " ip saddr != 10.1.0.5 drop; add rule bridge t port-" + p.tap +
          " ether type ip accept; add rule bridge t port-" + p.tap +
          " drop; add element bridge t ports { \"" + p.tap + "\" : jump port-" + p.tap + " }'",
      "ip link add name " + p.ifb + " type ifb",
      "ip link set dev " + p.ifb + " up",
      "tc qdisc add dev " + p.ifb + " root handle 1: htb default 2",
      // 1000 Mbit/s: burst = 1 ms = 125000 bytes.
      "tc class replace dev " + p.ifb +
          " parent 1: classid 1:1 htb rate 1000000000bit ceil 1000000000bit burst 125000 "
          "cburst 125000",
      "tc class replace dev " + p.ifb +
          " parent 1:1 classid 1:2 htb rate 8000bit ceil 8000bit burst 3000 cburst 3000 "
          "quantum 1000",
      // min 100 Mbit/s, max 200: burst 1 ms of rate = 12500 bytes, cburst 10 ms of ceil = 250000
      // (kCeilBurstMs), quantum rate / 10 = 200000 (clamped).
      "tc class replace dev " + p.ifb + " parent 1:1 classid 1:" + minor +
          " htb rate 100000000bit ceil 200000000bit burst 12500 cburst 250000 quantum 200000",
      "tc filter replace dev " + p.ifb + " parent 1: protocol all pref " +
          std::to_string(p.class_minor) + " handle 1 bpf bytecode '" + SourceMacBytecode(p.mac) +
          "' classid 1:" + minor,
  };
  EXPECT_EQ(setup, expected_setup);
  EXPECT_EQ(
      Texts(plan->post_start),
      (std::vector<std::string>{
          // toward the guest: max 200 Mbit/s, 10 ms of burst
          "tc qdisc replace dev " + p.tap + " root tbf rate 200000000bit burst 250000 latency 50ms",
          "sysctl -q -w net.ipv6.conf." + p.tap + ".disable_ipv6=1",
          "tc qdisc replace dev " + p.tap + " handle ffff: ingress",
          "tc filter replace dev " + p.tap +
              " parent ffff: protocol all pref 1 handle 1 bpf bytecode '1,6 0 0 "
              "4294967295' action mirred egress redirect dev " +
              p.ifb}));
  const std::vector<std::string> teardown = Texts(plan->teardown);
  EXPECT_TRUE(AnyContains(teardown, "delete element bridge t ports { \"" + p.tap + "\" }"));
  EXPECT_TRUE(AnyContains(teardown, "delete chain bridge t port-" + p.tap));
  EXPECT_TRUE(AnyContains(teardown, "tc class del dev " + p.ifb + " classid 1:" + minor));
  EXPECT_TRUE(AnyContains(teardown, "ip link del dev " + p.bridge));
  EXPECT_TRUE(AnyContains(teardown, "ip link del dev " + p.ifb));
  for (const NetCommand& c : plan->teardown) EXPECT_TRUE(c.may_fail) << ArgvText(c.argv);

  // With another VM on the same network and NIC, the bridge and IFB stay.
  TenantPort other = p;
  other.domain = "dom2";
  other.tap = TenantTapName(o, "dom2", 0);
  other.class_minor = p.class_minor + 1;
  Result<NetPlan> shared = PlanTenantNetwork(o, *ports, {other});
  ASSERT_TRUE(shared.ok());
  EXPECT_FALSE(AnyContains(Texts(shared->teardown), "ip link del"));
  // Same inputs, same plan (idempotent re-apply runs the same commands).
  EXPECT_EQ(PlanTenantNetwork(o, *ports, {})->setup, plan->setup);
}

TEST(TenantNetworkApply, StopsAtFirstRealFailure) {
  RecordingCommandRunner r;
  r.FailWhenStartsWith("ip link add", "RTNETLINK answers: File exists");
  r.FailWhenStartsWith("tc qdisc", "Error: no such device");
  std::vector<NetCommand> cs = {{{"ip", "link", "add", "x"}, true},
                                {{"ip", "link", "set", "x", "up"}, false},
                                {{"tc", "qdisc", "replace", "dev", "x"}, false},
                                {{"never"}, false}};
  Status s = ApplyNetCommands(r, cs);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("tc qdisc replace dev x"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("no such device"), std::string::npos) << s.message();
  EXPECT_EQ(r.calls().size(), 3u);
}

TEST(TenantNetworkConfig, StaticAddressesByMac) {
  Allocation a;
  EXPECT_EQ(NetworkConfigV2(a), "");
  a.nics.push_back(TenantNic("net-1", 10, "52:54:00:00:00:0A", "10.1.0.5/24"));
  DeviceSlice provider;
  provider.kind = DeviceKind::kNic;
  a.nics.push_back(provider);
  a.nics.push_back(TenantNic("net-2", 11, "52:54:00:00:00:0c", "10.2.0.7/16"));
  EXPECT_EQ(NetworkConfigV2(a),
            "version: 2\n"
            "ethernets:\n"
            "  nic0:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:00:00:0a\"\n"
            "    addresses:\n"
            "      - 10.1.0.5/24\n"
            "  nic2:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:00:00:0c\"\n"
            "    addresses:\n"
            "      - 10.2.0.7/16\n");
}

}  // namespace
}  // namespace devshare::host
