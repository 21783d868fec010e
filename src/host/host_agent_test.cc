// HostAgent with real-guest requests (catalogue images) against libvirt's in-process test
// driver: the per-guest files (qcow2 overlay / scratch disk via qemu-img, NoCloud seed via
// genisoimage, read back with isoinfo), power calls, the console reader, and two agents with
// different domain prefixes on one libvirt. Skips when qemu-img / genisoimage are missing.
#include "devshare/host/host_agent.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "devshare/host/guest_disks.h"
#include "host/host_test_util.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string Output(const std::vector<std::string>& argv) {
  Result<CommandResult> r = RunCommand(argv);
  return r.ok() && r->exit_code == 0 ? r->output : "";
}

class RealGuestAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"qemu-img", "genisoimage", "isoinfo"}) {
      Result<CommandResult> found = RunCommand({"sh", "-c", std::string("command -v ") + tool});
      if (!found.ok() || found->exit_code != 0) {
        GTEST_SKIP() << tool << " is not installed (Debian qemu-utils / genisoimage): skipping";
      }
    }
    runtime_ = fs::temp_directory_path() / ("devshare-guest-" + std::to_string(::getpid()));
    agent_ = MakeAgent("devshare-ut-" + std::to_string(::getpid()) + "-");
  }
  void TearDown() override {
    for (const std::string& vm : {"vm-k", "vm-d", "vm-x"}) {
      if (agent_) (void)agent_->Remove(vm);
    }
    std::error_code ec;
    fs::remove_all(runtime_, ec);
  }
  std::unique_ptr<HostAgent> MakeAgent(const std::string& prefix,
                                       const std::function<void(RealizationContext&)>& edit = {}) {
    Result<std::unique_ptr<Hypervisor>> hv = OpenHypervisor("test:///default");
    EXPECT_TRUE(hv.ok()) << hv.status().ToString();
    if (!hv.ok()) return nullptr;
    RealizationContext ctx;
    ctx.host = Host::MakeGpuHost("self", 2000, 4096, 0, "A100");
    ctx.runtime_dir = runtime_.string();
    ctx.domain_prefix = prefix;
    if (edit) edit(ctx);
    return std::make_unique<HostAgent>(std::move(*hv), ctx);
  }
  GuestRequest Kernel(const std::string& vm) {
    GuestRequest r;
    r.vm_id = vm;
    r.tenant = "t-1";
    r.name = "guest-" + vm;
    r.allocation.cpu_milli = 1000;
    r.allocation.memory_mib = 256;
    r.boot = {"tiny", "kernel", "", "/nonexistent/vmlinuz", "/nonexistent/initrd", "quiet"};
    return r;
  }
  fs::path runtime_;
  std::unique_ptr<HostAgent> agent_;
};

TEST_F(RealGuestAgentTest, KernelGuestFilesPowerConsoleRemove) {
  GuestRequest r = Kernel("vm-k");
  r.ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host";
  Result<DomainStatus> st = agent_->Realize(r);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, DomainState::kRunning);
  const GuestFiles f = GuestFilePaths(agent_->context(), "vm-k");
  EXPECT_EQ(agent_->ConsoleLogPath("vm-k"), f.console_log);
  // A 1 GiB qcow2 scratch disk.
  const std::string info = Output({"qemu-img", "info", f.disk});
  EXPECT_TRUE(Contains(info, "file format: qcow2")) << info;
  EXPECT_TRUE(Contains(info, "virtual size: 1 GiB")) << info;
  // The seed: volume id cidata, meta-data and user-data as BuildNoCloudSeed says.
  EXPECT_TRUE(Contains(Output({"isoinfo", "-d", "-i", f.seed}), "Volume id: cidata"));
  EXPECT_EQ(Output({"isoinfo", "-R", "-i", f.seed, "-x", "/meta-data"}),
            "instance-id: vm-k\nlocal-hostname: guest-vm-k\n");
  EXPECT_EQ(Output({"isoinfo", "-R", "-i", f.seed, "-x", "/user-data"}),
            "#cloud-config\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 "
            "me@host\"\n");
  // The domain as libvirt holds it: direct boot, both disks, the NIC, the console file.
  Result<std::string> xml = agent_->hypervisor().DomainXml(agent_->DomainName("vm-k"));
  ASSERT_TRUE(xml.ok());
  EXPECT_TRUE(Contains(*xml, "<kernel>/nonexistent/vmlinuz</kernel>")) << *xml;
  EXPECT_TRUE(Contains(*xml, "<cmdline>quiet console=ttyS0</cmdline>"));
  EXPECT_TRUE(Contains(*xml, f.seed));
  // Never libvirt's shared "default" network (the test driver has one): user-mode, noted.
  EXPECT_TRUE(Contains(*xml, "<interface type='user'>")) << *xml;
  EXPECT_FALSE(Contains(*xml, "network='default'")) << *xml;
  ASSERT_FALSE(agent_->notes().empty());
  EXPECT_TRUE(Contains(agent_->notes().front(), "user-mode networking"));
  EXPECT_FALSE(agent_->networking()) << "the test driver turns host networking off";

  // Power.
  ASSERT_TRUE(agent_->Stop("vm-k").ok());
  EXPECT_EQ(agent_->State("vm-k")->state, DomainState::kDefined);
  EXPECT_TRUE(agent_->Stop("vm-k").ok());    // already stopped
  ASSERT_TRUE(agent_->Reboot("vm-k").ok());  // a stopped VM is started
  EXPECT_EQ(agent_->State("vm-k")->state, DomainState::kRunning);
  ASSERT_TRUE(agent_->Reboot("vm-k").ok());
  ASSERT_TRUE(agent_->Start("vm-k").ok());  // already running
  EXPECT_EQ(agent_->State("vm-k")->state, DomainState::kRunning);
  EXPECT_EQ(agent_->Start("vm-nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(agent_->Stop("vm-nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(agent_->Reboot("vm-nope").code(), StatusCode::kNotFound);

  // Console (the test driver writes nothing: write it as QEMU would).
  EXPECT_EQ(agent_->ReadConsole("vm-k", 0, 100).status().code(), StatusCode::kNotFound);
  std::ofstream(f.console_log) << "line one\ndevshare-guest: booted\n";
  EXPECT_EQ(*agent_->ReadConsole("vm-k", 0, 4), "line");
  EXPECT_EQ(*agent_->ReadConsole("vm-k", 5, 1000), "one\ndevshare-guest: booted\n");
  EXPECT_EQ(*agent_->ReadConsole("vm-k", 32, 10), "");
  EXPECT_EQ(*agent_->ReadConsole("vm-k", 500, 10), "");
  EXPECT_EQ(agent_->ReadConsole("vm-k", -1, 10).status().code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(agent_->Remove("vm-k").ok());
  for (const std::string& p : {f.disk, f.seed, f.console_log}) EXPECT_FALSE(fs::exists(p)) << p;
  EXPECT_EQ(agent_->State("vm-k").status().code(), StatusCode::kNotFound);
}

// A tenant NIC: bridge interface in the XML, network-config in the seed, the plan's setup
// before start, the tap redirect after it, teardown on Remove (commands recorded, not run).
TEST_F(RealGuestAgentTest, TenantNicIsRealizedThroughTheRunner) {
  RealizationContext ctx = agent_->context();
  ctx.host.devices.push_back(Device::Nic("nic0", "prov", 0, 1000));
  agent_->SetHost(ctx.host);
  auto runner = std::make_unique<RecordingCommandRunner>();
  RecordingCommandRunner* rec = runner.get();
  agent_->SetNetworking(HostNetworking::kOn, std::move(runner));
  GuestRequest r = Kernel("vm-x");
  DeviceSlice nic;
  nic.kind = DeviceKind::kNic;
  nic.device_id = "nic0";
  nic.network_id = "net-1a";
  nic.segment_id = 42;
  nic.mac = "52:54:00:12:34:56";
  nic.address = "10.7.0.5/24";
  nic.rate = 50;
  nic.rate_limit = 200;
  r.allocation.nics.push_back(nic);
  Result<DomainStatus> st = agent_->Realize(r);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const std::string dom = agent_->DomainName("vm-x");
  const std::string tap = TenantTapName(ctx.tenant_net, dom, 0);
  const std::string bridge = TenantBridgeName(ctx.tenant_net, "self", 42);
  Result<std::string> xml = agent_->hypervisor().DomainXml(dom);
  ASSERT_TRUE(xml.ok());
  EXPECT_TRUE(Contains(*xml, "<interface type='bridge'>")) << *xml;
  EXPECT_TRUE(Contains(*xml, "<source bridge='" + bridge + "'/>")) << *xml;
  EXPECT_TRUE(Contains(*xml, "<target dev='" + tap + "'/>")) << *xml;
  EXPECT_FALSE(Contains(*xml, "<bandwidth>")) << "the cap toward the guest is a tbf on the tap";
  EXPECT_FALSE(Contains(*xml, "type='user'")) << "tenant NICs replace the user-mode NIC";
  const std::vector<std::string> calls = rec->CallTexts();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front().rfind("nft 'add table bridge devshare", 0), 0u) << calls.front();
  EXPECT_TRUE(Contains(calls.back(), "tc filter replace dev " + tap + " parent ffff:"))
      << calls.back();
  bool tbf = false;  // max 200 Mbps toward the guest: 25 MB/s, 250 kB of burst
  for (const std::string& c : calls) {
    tbf = tbf || c == "tc qdisc replace dev " + tap +
                          " root tbf rate 200000000bit burst 250000 "
                          "latency 50ms";
  }
  EXPECT_TRUE(tbf) << "no tbf on the tap";
  const fs::path record = runtime_ / "network" / (dom + ".json");
  EXPECT_TRUE(fs::exists(record));
  // Adopting (Update) re-applies the same commands.
  rec->Clear();
  ASSERT_TRUE(agent_->Update(r).ok());
  EXPECT_EQ(rec->CallTexts(), calls);
  rec->Clear();
  ASSERT_TRUE(agent_->Remove("vm-x").ok());
  const std::vector<std::string> down = rec->CallTexts();
  ASSERT_FALSE(down.empty());
  EXPECT_TRUE(Contains(down.front(), "delete element bridge devshare ports")) << down.front();
  EXPECT_EQ(down.back(), "ip link del dev " + TenantIfbName(ctx.tenant_net, "self", "nic0"));
  EXPECT_FALSE(fs::exists(record));
}

// Records commands like RecordingCommandRunner and notes, for each, whether the VM's domain
// existed when it ran (so a test can tell "before start" from "after").
class DomainProbeRunner : public RecordingCommandRunner {
 public:
  Status Run(const Argv& argv) override {
    domain_existed_.push_back(hypervisor_ != nullptr && hypervisor_->State(domain_).ok());
    return RecordingCommandRunner::Run(argv);
  }
  void Watch(Hypervisor* hypervisor, std::string domain) {
    hypervisor_ = hypervisor;
    domain_ = std::move(domain);
  }
  const std::vector<bool>& domain_existed() const { return domain_existed_; }
  void ClearAll() {
    Clear();
    domain_existed_.clear();
  }

 private:
  Hypervisor* hypervisor_ = nullptr;
  std::string domain_;
  std::vector<bool> domain_existed_;
};

// SR-IOV VF NICs on the gpu8 fixture (nic0 = PF 0000:3b:00.0, netdev ens1f0np0; VF k at
// 0000:3b:00.<2+k>): PlanVfSettings' PF commands run through the agent's runner before the
// domain exists, the VF is recorded in the network record, Remove resets its rates.
class VfAgentTest : public RealGuestAgentTest {
 protected:
  void SetUp() override {
    RealGuestAgentTest::SetUp();
    if (IsSkipped()) return;
    Result<Host> gpu8 = testutil::RegisteredFixtureHost("gpu8");
    ASSERT_TRUE(gpu8.ok()) << gpu8.status().ToString();
    host_ = *gpu8;
  }
  // An agent on the gpu8 host whose PF checks read `sysfs_root`, networking on, commands
  // recorded by rec_.
  void UseAgent(const std::string& sysfs_root) {
    agent_ =
        MakeAgent("devshare-ut-" + std::to_string(::getpid()) + "-", [&](RealizationContext& c) {
          c.host = host_;
          c.sysfs_root = sysfs_root;
        });
    ASSERT_NE(agent_, nullptr);
    auto runner = std::make_unique<DomainProbeRunner>();
    rec_ = runner.get();
    rec_->Watch(&agent_->hypervisor(), agent_->DomainName("vm-x"));
    agent_->SetNetworking(HostNetworking::kOn, std::move(runner));
  }
  // vm-x with VF 3 of nic0 on tenant network net-1a (segment 120), min 1000 / max 5000 Mbps.
  GuestRequest VfGuest() {
    GuestRequest r = Kernel("vm-x");
    DeviceSlice nic;
    nic.kind = DeviceKind::kNic;
    nic.device_id = "nic0";
    nic.units = 1;
    nic.unit_index = 3;
    nic.network_id = "net-1a";
    nic.segment_id = 120;
    nic.mac = "52:54:00:0a:00:05";
    nic.address = "10.7.0.5/24";
    nic.rate = 1000;
    nic.rate_limit = 5000;
    r.allocation.nics.push_back(nic);
    r.vfs.push_back({"0000:3b:00.5", nic.mac, nic.segment_id});
    return r;
  }
  static std::string FixtureSys() { return testutil::kSysfsFixtures + "/gpu8/sys"; }

  Host host_;
  DomainProbeRunner* rec_ = nullptr;
};

TEST_F(VfAgentTest, RatesBeforeStartResetOnRemove) {
  ASSERT_NO_FATAL_FAILURE(UseAgent(FixtureSys()));
  Result<DomainStatus> st = agent_->Realize(VfGuest());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, DomainState::kRunning);
  const std::vector<std::string> want = {
      "ip link set ens1f0np0 vf 3 max_tx_rate 5000 min_tx_rate 1000",
      "ip link set ens1f0np0 vf 3 spoofchk on"};
  EXPECT_EQ(rec_->CallTexts(), want);
  EXPECT_EQ(rec_->domain_existed(), std::vector<bool>(want.size(), false))
      << "the PF commands run before the domain is defined and started";
  Result<std::string> xml = agent_->hypervisor().DomainXml(agent_->DomainName("vm-x"));
  ASSERT_TRUE(xml.ok());
  EXPECT_TRUE(Contains(*xml, "<interface type='hostdev'")) << *xml;

  // The record: what Remove (which has only the VM id) resets.
  const fs::path record = runtime_ / "network" / (agent_->DomainName("vm-x") + ".json");
  std::ifstream in(record);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object()) << record;
  ASSERT_EQ(j["vfs"].size(), 1u) << j.dump();
  EXPECT_EQ(j["vfs"][0]["pf_netdev"], "ens1f0np0");
  EXPECT_EQ(j["vfs"][0]["vf_index"], 3);
  EXPECT_EQ(j["vfs"][0]["vf_address"], "0000:3b:00.5");
  EXPECT_TRUE(j["ports"].empty()) << "a VF is no tenant bridge port";

  // Adopting (Update) applies the same rates again.
  rec_->ClearAll();
  ASSERT_TRUE(agent_->Update(VfGuest()).ok());
  EXPECT_EQ(rec_->CallTexts(), want);

  rec_->ClearAll();
  ASSERT_TRUE(agent_->Remove("vm-x").ok());
  EXPECT_EQ(rec_->CallTexts(),
            std::vector<std::string>{"ip link set ens1f0np0 vf 3 max_tx_rate 0 min_tx_rate 0"});
  EXPECT_EQ(rec_->domain_existed(), std::vector<bool>{false}) << "reset after destroy";
  EXPECT_FALSE(fs::exists(record));
}

TEST_F(VfAgentTest, MissingPfFailsTheVmNamingThePf) {
  // A sysfs tree without the PF (unplugged, or renumbered since discovery).
  const fs::path empty_sys = runtime_ / "empty-sys";
  fs::create_directories(empty_sys / "bus/pci/devices");
  ASSERT_NO_FATAL_FAILURE(UseAgent(empty_sys.string()));
  Result<DomainStatus> st = agent_->Realize(VfGuest());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kFailedPrecondition) << st.status().ToString();
  const std::string msg = st.status().message();
  EXPECT_TRUE(Contains(msg, "VM vm-x: VF settings: ")) << msg;
  EXPECT_TRUE(Contains(msg, "nic0 (PF 0000:3b:00.0, netdev ens1f0np0) VF 3")) << msg;
  EXPECT_TRUE(rec_->calls().empty()) << "nothing runs for a VM whose PF fails its check";
  Result<DomainStatus> state = agent_->State("vm-x");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->state, DomainState::kFailed);
  EXPECT_EQ(state->detail, msg);
  EXPECT_EQ(agent_->hypervisor().State(agent_->DomainName("vm-x")).status().code(),
            StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(runtime_ / "network" / (agent_->DomainName("vm-x") + ".json")));
}

TEST_F(VfAgentTest, FailingPfCommandFailsTheVmAndResetsTheVf) {
  ASSERT_NO_FATAL_FAILURE(UseAgent(FixtureSys()));
  rec_->FailWhenStartsWith("ip link set ens1f0np0 vf 3 spoofchk",
                           "RTNETLINK answers: Operation not supported");
  Result<DomainStatus> st = agent_->Realize(VfGuest());
  ASSERT_FALSE(st.ok());
  const std::string msg = st.status().message();
  EXPECT_TRUE(Contains(msg, "VM vm-x: VF 3 of nic0 (PF 0000:3b:00.0, netdev ens1f0np0): ")) << msg;
  EXPECT_TRUE(Contains(msg, "Operation not supported")) << msg;
  EXPECT_EQ(agent_->State("vm-x")->state, DomainState::kFailed);
  EXPECT_EQ(agent_->hypervisor().State(agent_->DomainName("vm-x")).status().code(),
            StatusCode::kNotFound);
  // The rates set before the failing command are undone at once.
  ASSERT_FALSE(rec_->CallTexts().empty());
  EXPECT_EQ(rec_->CallTexts().back(), "ip link set ens1f0np0 vf 3 max_tx_rate 0 min_tx_rate 0");
}

// Networking off (the test driver's default): no PF commands, no record.
TEST_F(VfAgentTest, NetworkingOffSkipsVfSettings) {
  ASSERT_NO_FATAL_FAILURE(UseAgent(FixtureSys()));
  agent_->SetNetworking(HostNetworking::kAuto);  // test driver: off
  ASSERT_FALSE(agent_->networking());
  ASSERT_TRUE(agent_->Realize(VfGuest()).ok());
  EXPECT_FALSE(fs::exists(runtime_ / "network"));
  ASSERT_TRUE(agent_->Remove("vm-x").ok());
}

TEST_F(RealGuestAgentTest, DiskGuestGetsAnOverlayAndAMissingBaseLeavesNothing) {
  const std::string base = (runtime_ / "base.qcow2").string();
  fs::create_directories(runtime_);
  ASSERT_TRUE(CreateScratchDisk(base, 64 << 20).ok());
  GuestRequest r = Kernel("vm-d");
  r.boot = {"base", "disk", base, "", "", ""};
  ASSERT_TRUE(agent_->Realize(r).ok());
  const GuestFiles f = GuestFilePaths(agent_->context(), "vm-d");
  const std::string info = Output({"qemu-img", "info", f.disk});
  EXPECT_TRUE(Contains(info, "backing file: " + base)) << info;
  EXPECT_TRUE(Contains(info, "backing file format: qcow2")) << info;
  ASSERT_TRUE(agent_->Remove("vm-d").ok());
  EXPECT_FALSE(fs::exists(f.disk));
  EXPECT_TRUE(fs::exists(base));  // the base is the catalogue's, never removed

  r.vm_id = "vm-x";
  r.boot.file = (runtime_ / "missing.qcow2").string();
  EXPECT_EQ(agent_->Realize(r).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(agent_->State("vm-x")->state, DomainState::kFailed);
  const GuestFiles x = GuestFilePaths(agent_->context(), "vm-x");
  for (const std::string& p : {x.disk, x.seed, x.console_log}) EXPECT_FALSE(fs::exists(p)) << p;
  EXPECT_EQ(agent_->hypervisor().State(agent_->DomainName("vm-x")).status().code(),
            StatusCode::kNotFound);
}

TEST_F(RealGuestAgentTest, AgentsWithDifferentPrefixesSeeOnlyTheirOwnDomains) {
  // "<p>" and "<p>b-": the second prefix extends the first, the hard case.
  const std::string p = agent_->context().domain_prefix;
  std::unique_ptr<HostAgent> other = MakeAgent(p + "b-");
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(agent_->Realize(Kernel("vm-x")).ok());
  ASSERT_TRUE(other->Realize(Kernel("vm-x")).ok());
  EXPECT_EQ(agent_->DomainName("vm-x"), p + "vm-x");
  EXPECT_EQ(other->DomainName("vm-x"), p + "b-vm-x");
  EXPECT_EQ(*agent_->ListVmIds(), std::vector<std::string>{"vm-x"});
  EXPECT_EQ(*other->ListVmIds(), std::vector<std::string>{"vm-x"});
  EXPECT_TRUE(agent_->Reconcile({"vm-x"})->clean());
  EXPECT_TRUE(other->Reconcile({"vm-x"})->clean());
  EXPECT_NE(agent_->ConsoleLogPath("vm-x"), other->ConsoleLogPath("vm-x"));
  ASSERT_TRUE(other->Remove("vm-x").ok());
  EXPECT_EQ(agent_->State("vm-x")->state, DomainState::kRunning);  // untouched
  EXPECT_TRUE(other->ListVmIds()->empty());
}

}  // namespace
}  // namespace devshare::host
