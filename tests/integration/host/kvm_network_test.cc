// Issue 16 on this machine, with real guests on qemu:///system (the Linux guest of
// tools/build_guest.sh, whose devshare-net probes, serves and sends, see that script):
//  - two tenants with two guests each on a tenant network of the same CIDR: ping and HTTP
//    (TCP) work inside each tenant's network and fail across tenants; after a guest changes
//    its MAC to another tenant's guest's and its IP into that tenant's range, and after another
//    takes a neighbour's IP, nothing they send arrives anywhere (anti-spoofing per port).
//  - `devshare bench net`: three guests sending at once through one host link limited to L:
//    with minimums 0.5 L / 0 / 0 the first gets >= 0.5 L within 10 % in >= 95 % of its 1 s
//    windows; a max cap of 0.2 L holds within 5 % while another sender is busy. (iperf3 counts TCP
//    payload: L of frames carries L x 1448/1514 of payload, which the bench reports as the
//    promise.)
// One `devshare serve --local-host` process with a host link (--nic); skips with the reason when
// libvirtd, the built guest, root or nftables is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/host/fleet_it_util.h"
#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

using std::chrono::seconds;
namespace fs = std::filesystem;

std::string SkipReason() {
  const std::string guest = DEVSHARE_GUEST_DIR;
  const std::string status = ReadAll(guest + "/status");
  if (status.rfind("ok", 0) != 0 || !fs::exists(guest + "/initramfs.img")) {
    return "the real guest is not built in " + guest + (status.empty() ? "" : ": " + status);
  }
  ProcessResult v = RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "uri"}, seconds(20));
  if (v.exit_code != 0) {
    return "libvirtd cannot be had (" + v.output + "); tools/libvirt_up.sh said: " +
           ReadAll(std::string(DEVSHARE_LIBVIRT_STATE) + "/status");
  }
  if (::geteuid() != 0) return "tenant networks need root (bridges, nftables, tc)";
  ProcessResult n = RunProcess({"/bin/sh", "-c", "command -v nft && nft list tables"}, seconds(10));
  if (n.exit_code != 0) return "nftables is missing or unusable here: " + n.output;
  return "";
}

// The "devshare-net: <label> <ip> ping=<p> http=<h>" lines of a console: ip -> "ping=.. http=..".
std::map<std::string, std::string> Reach(const std::string& console, const std::string& label) {
  std::map<std::string, std::string> out;
  std::istringstream in(console);
  const std::string key = "devshare-net: " + label + " ";
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find(key);
    if (at == std::string::npos) continue;
    std::istringstream f(line.substr(at + key.size()));
    std::string ip, ping, http;
    f >> ip >> ping >> http;
    out[ip] = ping + " " + http;
  }
  return out;
}

class KvmNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    skip_ = SkipReason();
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    tmp_ = std::make_unique<TempFolder>("kvm-network");
    // QEMU (user libvirt-qemu) must reach the guests' files through this folder.
    fs::permissions(tmp_->path(), fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
    runtime_ = tmp_->path() + "/run";
  }

  void StartServer() {
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    server_->set_extra_args({"--local-host", "net1", "--hypervisor", "qemu:///system",
                             "--runtime-dir", runtime_, "--nic", "link0:default:1000"});
    ASSERT_TRUE(server_->Start());
    admin_ = std::make_unique<Api>(server_->url(), server_->AdminToken());
    ASSERT_TRUE(
        WaitFor([&] { return admin_->Get("/v1/hosts/net1").body.value("status", "") == "ready"; },
                seconds(120)))
        << server_->StderrLog();
  }

  void TearDown() override {
    if (!skip_.empty() || server_ == nullptr) return;
    if (server_->running()) {
      // A plain delete: the agent destroys each guest and tears its network down (its record
      // under <runtime>/network goes last), which the test waits for before stopping serve.
      for (const std::string& id : vms_) (void)admin_->Delete("/v1/vms/" + id);
      WaitFor(
          [&] {
            Reply r = admin_->Get("/v1/vms");
            std::error_code ec;
            return r.is_json() && r.body.value("vms", nlohmann::json::array()).empty() &&
                   fs::is_empty(runtime_ + "/network", ec);
          },
          seconds(120));
      (void)server_->Stop();
    }
    for (const std::string& id : vms_) {
      RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "destroy", "devshare-" + id});
      RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "undefine", "devshare-" + id});
    }
    // What a failed run left: the bridges, IFBs and nft port chains its records name.
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(runtime_ + "/network", ec)) {
      const nlohmann::json rec = nlohmann::json::parse(ReadAll(e.path().string()), nullptr, false);
      if (!rec.is_object()) continue;
      for (const auto& p : rec.value("ports", nlohmann::json::array())) {
        const std::string tap = p.value("tap", "");
        for (const char* link : {"bridge", "ifb"}) {
          RunProcess({"/sbin/ip", "link", "del", p.value(link, "")});
        }
        RunProcess({"/usr/sbin/nft", "delete element bridge devshare ports { \"" + tap + "\" }"});
        RunProcess({"/usr/sbin/nft", "delete chain bridge devshare port-" + tap});
      }
    }
  }

  void AddImage(const std::string& name, const std::string& net) {
    const std::string guest = DEVSHARE_GUEST_DIR;
    Reply r = admin_->Post("/v1/images", nlohmann::json{{"name", name},
                                                        {"kind", "kernel"},
                                                        {"kernel", guest + "/vmlinuz"},
                                                        {"initrd", guest + "/initramfs.img"},
                                                        {"cmdline", "quiet devshare.net=" + net}});
    ASSERT_EQ(r.status, 201) << r.Describe();
  }

  // A VM of `api`'s tenant with one NIC on `network` at `address`; its NIC slice.
  nlohmann::json CreateVm(Api& api, const std::string& name, const std::string& image,
                          const std::string& network, const std::string& address) {
    Reply r = api.Post("/v1/vms",
                       nlohmann::json{{"name", name},
                                      {"cpu_milli", 100},
                                      {"memory_mib", 512},
                                      {"image", image},
                                      {"nics", {{{"network", network}, {"address", address}}}}});
    EXPECT_EQ(r.status, 201) << r.Describe();
    if (r.status != 201) return nlohmann::json::object();
    vms_.push_back(r.body.value("id", ""));
    for (const auto& d : r.body["devices"]) {
      if (d.value("kind", "") == "nic") return d;
    }
    return nlohmann::json::object();
  }

  std::string Console(const std::string& id) {
    return ReadAll(runtime_ + "/console/devshare-" + id + ".log");
  }

  std::string skip_;
  std::unique_ptr<TempFolder> tmp_;
  std::string runtime_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> admin_;
  std::vector<std::string> vms_;
};

TEST_F(KvmNetworkTest, TenantsAreIsolatedAlsoWhenGuestsSpoofMacAndIp) {
  StartServer();
  Api admin(server_->url(), server_->AdminToken());
  Api a(server_->url(), CreateToken(admin, CreateTenant(admin, "tenant-a"), "member"));
  Api b(server_->url(), CreateToken(admin, CreateTenant(admin, "tenant-b"), "member"));
  for (Api* t : {&a, &b}) {
    Reply n = t->Post("/v1/networks", nlohmann::json{{"name", "lan"}, {"cidr", "10.50.0.0/24"}});
    ASSERT_EQ(n.status, 201) << n.Describe();
  }
  // Every probe starts at the same second, once all four guests have booted (TCG is slow).
  const int64_t start =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count() +
      100;
  const std::string at = std::to_string(start);
  AddImage("serve", "serve:0");
  // B1 probes its neighbour and tenant A's addresses, then takes A1's IP (IP spoofing).
  AddImage("probe-b1", "probe:10.50.0.21+10.50.0.2+10.50.0.3:" + at + ":10.50.0.2/24:keep");
  const nlohmann::json b1 = CreateVm(b, "b1", "probe-b1", "lan", "10.50.0.20");
  const nlohmann::json b2 = CreateVm(b, "b2", "serve", "lan", "10.50.0.21");
  const nlohmann::json a2 = CreateVm(a, "a2", "serve", "lan", "10.50.0.3");
  ASSERT_FALSE(b1.empty() || b2.empty() || a2.empty());
  // A1 probes its neighbour and tenant B's, then becomes B1: its MAC and its IP.
  std::string b1_mac = b1.value("mac", "");
  std::replace(b1_mac.begin(), b1_mac.end(), ':', '-');
  AddImage("probe-a1", "probe:10.50.0.3+10.50.0.20+10.50.0.21:" + at + ":10.50.0.20/24:" + b1_mac);
  const nlohmann::json a1 = CreateVm(a, "a1", "probe-a1", "lan", "10.50.0.2");
  ASSERT_FALSE(a1.empty());
  EXPECT_NE(a1.value("segment", 0), b1.value("segment", 0)) << "one segment per network";
  const std::string a1_id = vms_[3], b1_id = vms_[0];
  for (const std::string& id : {a1_id, b1_id}) {
    ASSERT_TRUE(
        WaitFor([&] { return Console(id).find("devshare-net: probe-done") != std::string::npos; },
                seconds(300)))
        << "no probe-done from " << id << ":\n"
        << Console(id) << "\nserver:\n"
        << server_->StderrLog();
    const std::string c = Console(id);
    ASSERT_EQ(c.find("devshare-net: ready"), c.rfind("devshare-net: ready")) << c;
    const int64_t ready = std::atoll(c.c_str() + c.find("devshare-net: ready ") + 20);
    EXPECT_LE(ready, start) << id << " was ready after the common start: " << c;
  }
  const std::string ca = Console(a1_id), cb = Console(b1_id);
  std::printf("a1:\n%s\nb1:\n%s\n", ca.c_str(), cb.c_str());
  const std::map<std::string, std::string> a_before = Reach(ca, "reach");
  const std::map<std::string, std::string> a_after = Reach(ca, "spoofed-reach");
  const std::map<std::string, std::string> b_before = Reach(cb, "reach");
  const std::map<std::string, std::string> b_after = Reach(cb, "spoofed-reach");
  // Inside a tenant: ping and TCP reach the tenant's own guest (its host name answers).
  EXPECT_EQ(a_before.at("10.50.0.3"), "ping=ok http=a2") << ca;
  EXPECT_EQ(b_before.at("10.50.0.21"), "ping=ok http=b2") << cb;
  // Across tenants: nothing, although the addresses are in the same subnet.
  EXPECT_EQ(a_before.at("10.50.0.20"), "ping=fail http=fail") << ca;
  EXPECT_EQ(a_before.at("10.50.0.21"), "ping=fail http=fail") << ca;
  EXPECT_EQ(b_before.at("10.50.0.2"), "ping=fail http=fail") << cb;
  EXPECT_EQ(b_before.at("10.50.0.3"), "ping=fail http=fail") << cb;
  // After spoofing: A1 as B1 (MAC and IP), B1 as A1 (IP): nothing gets through, neither to
  // the other tenant nor to their own neighbour.
  ASSERT_NE(ca.find("devshare-net: spoofed " + b1.value("mac", "")), std::string::npos) << ca;
  ASSERT_EQ(a_after.size(), 3u) << ca;
  ASSERT_EQ(b_after.size(), 3u) << cb;
  // (Each now holds the address it took, so that one answers locally and is not checked.)
  for (const auto& [ip, result] : a_after) {
    if (ip != "10.50.0.20") EXPECT_EQ(result, "ping=fail http=fail") << ip << ca;
  }
  for (const auto& [ip, result] : b_after) {
    if (ip != "10.50.0.2") EXPECT_EQ(result, "ping=fail http=fail") << ip << cb;
  }
}

// `devshare bench net` on the JSON it writes; `args` after the common ones.
nlohmann::json BenchNet(const std::string& out, std::vector<std::string> args) {
  std::vector<std::string> argv = {DevshareBinary(),   "bench", "net", "--guest-dir",
                                   DEVSHARE_GUEST_DIR, "--out", out};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv, seconds(900));
  std::printf("%s\n", r.output.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  if (r.exit_code != 0) return nlohmann::json::object();
  return nlohmann::json::parse(ReadAll(out), nullptr, false);
}

// The bandwidth figures of the issue, measured by iperf3 in the guests through one link of L.
TEST_F(KvmNetworkTest, BenchNetMeetsTheMinimumAndHoldsTheCap) {
  const std::string out = tmp_->path() + "/net.json";
  const double link = 40;
  // Minimums 0.5 L / 0 / 0: the first gets >= 0.5 L within 10 % in >= 95 % of its windows.
  const nlohmann::json floor =
      BenchNet(out, {"--senders", "3", "--link-mbps", "40", "--mins", "20,0,0", "--seconds", "15",
                     "--start-delay-s", "60"});
  ASSERT_EQ(floor.value("senders", nlohmann::json::array()).size(), 3u) << floor.dump();
  const double share = floor.value("payload_share", 0.0);
  const nlohmann::json& f = floor["senders"];
  EXPECT_GE(f[0].value("windows_meeting_min", 0.0), 0.95) << f[0].dump();
  EXPECT_GE(f[0].value("mbps_min_window", 0.0), 0.9 * 20 * share) << f[0].dump();
  for (int i : {1, 2}) EXPECT_GT(f[i].value("mbps_mean", 0.0), 0.5) << "no contention: " << f;
  EXPECT_LE(floor.value("mbps_total", 1e9), 1.05 * link * share) << floor.dump();
  // A cap of 0.2 L (below a fair half of the link) while another sender is busy: the mean
  // within 5 % of it. Single receiver-side windows jitter on TCG (a late read lands in the next
  // second): at most one in ten may exceed it by more than 5 %. (The netns test on this
  // kernel checks every window of the sender-side cap.)
  const nlohmann::json cap =
      BenchNet(out, {"--senders", "2", "--link-mbps", "40", "--mins", "0,0", "--maxes", "8,0",
                     "--seconds", "12", "--start-delay-s", "50"});
  ASSERT_EQ(cap.value("senders", nlohmann::json::array()).size(), 2u) << cap.dump();
  const nlohmann::json& c = cap["senders"];
  EXPECT_NEAR(c[0].value("mbps_mean", 0.0), 8 * share, 0.05 * 8 * share) << c[0].dump();
  int over = 0;
  for (const auto& w : c[0]["windows"]) over += w.get<double>() > 1.05 * 8 * share ? 1 : 0;
  EXPECT_LE(over * 10, static_cast<int>(c[0]["windows"].size())) << c[0].dump();
  EXPECT_GT(c[1].value("mbps_mean", 0.0), 2 * 8 * share) << "the other did not use the rest";
}

}  // namespace
}  // namespace devshare::it
