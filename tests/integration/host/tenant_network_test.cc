// Tenant networks for real (labels integration, net): applies PlanTenantNetwork's commands on
// this host with network namespaces + veth pairs standing in for guests and their taps, and
// checks connectivity within a network, isolation between networks, anti-spoofing, the HTB cap
// and teardown. Needs root with CAP_NET_ADMIN, nft, ping and iperf3; skips with the reason
// otherwise. Every name carries the prefix "zt" and the test's pid; TearDown removes them all.
#include "devshare/host/tenant_network.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devshare/host/guest_disks.h"

namespace devshare::host {
namespace {

CommandResult Exec(const Argv& argv) {
  Result<CommandResult> r = RunCommand(argv);
  if (!r.ok()) return CommandResult{127, r.status().message()};
  return *r;
}

bool Ok(const Argv& argv) { return Exec(argv).exit_code == 0; }

struct Guest {
  std::string ns;
  std::string mac, address;
  std::vector<TenantPort> ports;
};

class TenantNetworkIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for netns, bridges, tc";
    for (const char* tool : {"nft", "ping", "iperf3", "tc", "ip"}) {
      if (Exec({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0) {
        GTEST_SKIP() << tool << " is not installed (make test-deps installs nftables)";
      }
    }
    tag_ = std::to_string(::getpid() % 100000);
    opt_.name_prefix = "zt";
    opt_.nft_table = "zt_test_" + tag_;
    host_.id = "zt-host-" + tag_;
    host_.devices.push_back(Device::Nic("nic0", "prov", 0, 1000));
    const std::string probe = "ztprobe" + tag_;
    CommandResult r = Exec({"ip", "link", "add", "name", probe, "type", "ifb"});
    if (r.exit_code != 0) GTEST_SKIP() << "cannot create an IFB (CAP_NET_ADMIN?): " << r.output;
    Exec({"ip", "link", "del", "dev", probe});
    r = Exec({"nft", "add table bridge " + opt_.nft_table});
    if (r.exit_code != 0) GTEST_SKIP() << "nftables bridge family unavailable: " << r.output;
    ready_ = true;
  }

  void TearDown() override {
    for (const std::string& pidfile : pidfiles_) {
      std::ifstream in(pidfile);
      int pid = 0;
      if (in >> pid && pid > 0) ::kill(pid, SIGTERM);
      ::unlink(pidfile.c_str());
    }
    for (const Guest& g : guests_) {
      Exec({"ip", "netns", "del", g.ns});
      for (const TenantPort& p : g.ports) {
        Exec({"ip", "link", "del", "dev", p.tap});
        Exec({"ip", "link", "del", "dev", p.bridge});
        Exec({"ip", "link", "del", "dev", p.ifb});
      }
    }
    if (ready_) Exec({"nft", "delete table bridge " + opt_.nft_table});
  }

  std::vector<TenantPort> AllPortsBut(size_t skip) const {
    std::vector<TenantPort> out;
    for (size_t i = 0; i < guests_.size(); ++i) {
      if (i == skip) continue;
      out.insert(out.end(), guests_[i].ports.begin(), guests_[i].ports.end());
    }
    return out;
  }

  // A "guest": a netns whose eth0 is the peer of a veth named like the tap, on the plan's
  // bridge (what libvirt does for <interface type='bridge'>).
  void AddGuest(const std::string& name, int64_t segment, const std::string& mac,
                const std::string& address, int64_t max_mbps) {
    Guest g;
    g.ns = "zt-" + tag_ + "-" + name;
    g.mac = mac;
    g.address = address;
    DeviceSlice s;
    s.kind = DeviceKind::kNic;
    s.device_id = "nic0";
    s.network_id = "net-" + std::to_string(segment);
    s.segment_id = segment;
    s.mac = mac;
    s.address = address;
    s.rate_limit = max_mbps;
    Allocation a;
    a.nics.push_back(s);
    Result<std::vector<TenantPort>> ports =
        PlanTenantPorts(opt_, "zt-dom-" + tag_ + "-" + name, a, host_, AllPortsBut(-1));
    ASSERT_TRUE(ports.ok()) << ports.status().message();
    g.ports = *ports;
    guests_.push_back(g);
    Result<NetPlan> plan = PlanTenantNetwork(opt_, g.ports, AllPortsBut(guests_.size() - 1));
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    PosixCommandRunner runner;
    ASSERT_TRUE(ApplyNetCommands(runner, plan->setup).ok())
        << ApplyNetCommands(runner, plan->setup).message();
    const TenantPort& p = g.ports[0];
    ASSERT_TRUE(Ok({"ip", "netns", "add", g.ns}));
    ASSERT_TRUE(Ok({"ip", "link", "add", "name", p.tap, "type", "veth", "peer", "name", "eth0",
                    "netns", g.ns}));
    ASSERT_TRUE(Ok({"ip", "link", "set", "dev", p.tap, "master", p.bridge, "up"}));
    ASSERT_TRUE(Ok({"ip", "-n", g.ns, "link", "set", "dev", "eth0", "address", mac, "up"}));
    ASSERT_TRUE(Ok({"ip", "-n", g.ns, "addr", "add", address, "dev", "eth0"}));
    ASSERT_TRUE(Ok({"ip", "-n", g.ns, "link", "set", "dev", "lo", "up"}));
    Status post = ApplyNetCommands(runner, plan->post_start);
    ASSERT_TRUE(post.ok()) << post.message();
  }

  bool Ping(const Guest& from, const std::string& ip) {
    return Ok({"ip", "netns", "exec", from.ns, "ping", "-c", "1", "-W", "1", "-q", ip});
  }

  // iperf3 from `from` to `to` for `seconds`; received bits/s, or -1.
  double Iperf(const Guest& from, const Guest& to, const std::string& to_ip, int seconds) {
    const std::string pidfile = "/tmp/" + to.ns + "-iperf.pid";
    pidfiles_.push_back(pidfile);
    if (!Ok({"ip", "netns", "exec", to.ns, "iperf3", "-s", "-1", "-D", "-p", "5299", "-I",
             pidfile})) {
      return -1;
    }
    CommandResult r;
    for (int i = 0; i < 20; ++i) {  // the daemon needs a moment to listen
      r = Exec({"ip", "netns", "exec", from.ns, "iperf3", "-J", "-c", to_ip, "-p", "5299", "-t",
                std::to_string(seconds), "-O", "1"});
      if (r.exit_code == 0) break;
      ::usleep(100 * 1000);
    }
    if (r.exit_code != 0) return -1;
    nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
    if (j.is_discarded()) return -1;
    return j["end"]["sum_received"]["bits_per_second"].get<double>();
  }

  std::string tag_;
  TenantNetOptions opt_;
  Host host_;
  std::vector<Guest> guests_;
  std::vector<std::string> pidfiles_;
  bool ready_ = false;
};

TEST_F(TenantNetworkIntegrationTest, IsolationAntiSpoofingBandwidthAndTeardown) {
  constexpr int64_t kMaxMbps = 100;
  // Network 1: a1 (capped at kMaxMbps) and a2. Network 2: b1, in the same IP subnet, so only
  // the separate bridges keep it apart.
  ASSERT_NO_FATAL_FAILURE(AddGuest("a1", 1, "52:54:00:7a:00:01", "10.250.0.1/24", kMaxMbps));
  ASSERT_NO_FATAL_FAILURE(AddGuest("a2", 1, "52:54:00:7a:00:02", "10.250.0.2/24", 0));
  ASSERT_NO_FATAL_FAILURE(AddGuest("b1", 2, "52:54:00:7b:00:01", "10.250.0.3/24", 0));
  const Guest &a1 = guests_[0], &a2 = guests_[1], &b1 = guests_[2];
  EXPECT_EQ(a1.ports[0].bridge, a2.ports[0].bridge);
  EXPECT_NE(a1.ports[0].bridge, b1.ports[0].bridge);

  // Within a network: ping and TCP.
  EXPECT_TRUE(Ping(a1, "10.250.0.2"));
  EXPECT_TRUE(Ping(a2, "10.250.0.1"));
  // Between networks: nothing.
  EXPECT_FALSE(Ping(a1, "10.250.0.3"));
  EXPECT_FALSE(Ping(b1, "10.250.0.2"));

  // The cap: a1 -> a2 through the IFB's HTB class with ceil kMaxMbps. HTB counts whole frames
  // (1514 bytes for 1448 bytes of TCP payload with timestamps), iperf3 counts payload.
  const double bps = Iperf(a1, a2, "10.250.0.2", 3);
  ASSERT_GT(bps, 0) << "iperf3 failed";
  const double expected = kMaxMbps * 1e6 * 1448.0 / 1514.0;
  std::printf("[ measure  ] a1 capped at %lld Mbps: iperf3 %.1f Mbit/s (expected payload %.1f)\n",
              static_cast<long long>(kMaxMbps), bps / 1e6, expected / 1e6);
  EXPECT_NEAR(bps, expected, expected * 0.05);

  // Idempotent: applying a1's setup again leaves ruleset and classes as they were.
  const std::string ifb = a1.ports[0].ifb;
  const std::string rules_before = Exec({"nft", "list", "table", "bridge", opt_.nft_table}).output;
  const std::string classes_before = Exec({"tc", "class", "show", "dev", ifb}).output;
  {
    Result<NetPlan> again = PlanTenantNetwork(opt_, a1.ports, AllPortsBut(0));
    ASSERT_TRUE(again.ok());
    PosixCommandRunner runner;
    ASSERT_TRUE(ApplyNetCommands(runner, again->setup).ok());
    ASSERT_TRUE(ApplyNetCommands(runner, again->post_start).ok());
  }
  EXPECT_EQ(Exec({"nft", "list", "table", "bridge", opt_.nft_table}).output, rules_before);
  EXPECT_EQ(Exec({"tc", "class", "show", "dev", ifb}).output, classes_before);

  // Spoofing: a1 takes another IP -> dropped; and still cannot reach network 2.
  ASSERT_TRUE(Ok({"ip", "-n", a1.ns, "addr", "add", "10.250.0.9/24", "dev", "eth0"}));
  ASSERT_TRUE(Ok({"ip", "-n", a1.ns, "addr", "del", "10.250.0.1/24", "dev", "eth0"}));
  Exec({"ip", "-n", a1.ns, "neigh", "flush", "all"});
  EXPECT_FALSE(Ping(a1, "10.250.0.2"));
  EXPECT_FALSE(Ping(a1, "10.250.0.3"));
  // Back to its own IP, another MAC -> dropped.
  Exec({"ip", "-n", a1.ns, "addr", "flush", "dev", "eth0"});
  ASSERT_TRUE(Ok({"ip", "-n", a1.ns, "addr", "add", "10.250.0.1/24", "dev", "eth0"}));
  EXPECT_TRUE(Ping(a1, "10.250.0.2")) << "own MAC and IP again: traffic passes";
  ASSERT_TRUE(
      Ok({"ip", "-n", a1.ns, "link", "set", "dev", "eth0", "address", "52:54:00:7a:00:99"}));
  Exec({"ip", "-n", a2.ns, "neigh", "flush", "all"});
  EXPECT_FALSE(Ping(a1, "10.250.0.2"));
  EXPECT_FALSE(Ping(a1, "10.250.0.3"));

  // Teardown, last VM first: b1 takes its bridge; a2 leaves a1's bridge and IFB; a1 all.
  PosixCommandRunner runner;
  for (size_t i = guests_.size(); i-- > 0;) {
    std::vector<TenantPort> others;
    for (size_t j = 0; j < i; ++j) {
      others.insert(others.end(), guests_[j].ports.begin(), guests_[j].ports.end());
    }
    Result<NetPlan> plan = PlanTenantNetwork(opt_, guests_[i].ports, others);
    ASSERT_TRUE(plan.ok());
    Exec({"ip", "link", "del", "dev", guests_[i].ports[0].tap});  // the domain is gone
    ASSERT_TRUE(ApplyNetCommands(runner, plan->teardown).ok());
    const bool bridge_kept = Ok({"ip", "link", "show", "dev", guests_[i].ports[0].bridge});
    EXPECT_EQ(bridge_kept, i == 1) << "bridge of guest " << i;
    EXPECT_EQ(Ok({"ip", "link", "show", "dev", ifb}), i > 0) << "IFB after guest " << i;
  }
  const std::string rules = Exec({"nft", "list", "table", "bridge", opt_.nft_table}).output;
  EXPECT_EQ(rules.find("port-"), std::string::npos) << rules;
}

}  // namespace
}  // namespace devshare::host
