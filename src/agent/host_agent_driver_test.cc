// HostAgentDriver on libvirt's in-process test driver (test:///default): a desired VM's server
// JSON becomes a running domain (image, hostname, SSH key and VF addresses carried over), resize,
// power, listing and remove go through HostAgent.
#include "devshare/agent/host_agent_driver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "server/ledger.h"
#include "server/vm_spec.h"

namespace devshare::agent {
namespace {

DesiredVm DesiredFromServerJson(const std::string& id, int64_t cpu_milli, int64_t weight) {
  nlohmann::json body = {{"name", id},
                         {"cpu_milli", cpu_milli},
                         {"memory_mib", 64},
                         {"qos", {{"cpu_weight", weight}}}};
  Result<server::VmSpec> spec = server::ParseVmSpec(body);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  Allocation a;
  a.cpu_milli = cpu_milli;
  a.memory_mib = 64;
  DesiredVm vm;
  vm.id = id;
  vm.tenant_id = "t-1";
  vm.allocation = server::AllocationToJson(a);
  vm.spec = spec.ok() ? spec->normalized : nlohmann::json::object();
  return vm;
}

class HostAgentDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<host::Hypervisor>> hv = host::OpenHypervisor("test:///default");
    ASSERT_TRUE(hv.ok()) << hv.status().ToString();
    host::RealizationContext ctx;
    ctx.host = Host::MakeGpuHost("self", 4000, 4096, 0, "A100");
    ctx.runtime_dir = (std::filesystem::temp_directory_path() /
                       ("devshare-agent-driver-" + std::to_string(::getpid())))
                          .string();
    agent_ = std::make_unique<host::HostAgent>(std::move(*hv), ctx);
    driver_ = std::make_unique<HostAgentDriver>(*agent_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(agent_->context().runtime_dir, ec);
  }
  std::unique_ptr<host::HostAgent> agent_;
  std::unique_ptr<HostAgentDriver> driver_;
};

TEST_F(HostAgentDriverTest, RealizeUpdateRemoveFromServerJson) {
  const std::string id = "agentdrv-" + std::to_string(::getpid());
  const DesiredVm vm = DesiredFromServerJson(id, 1000, 200);
  Result<host::GuestRequest> req = GuestRequestFor(vm, agent_->context().host);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->allocation.cpu_milli, 1000);
  EXPECT_EQ(req->qos["cpu_weight"], 200);

  Result<GuestState> made = driver_->Realize(vm);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->state, kStateRunning);
  EXPECT_EQ(made->domain, "devshare-" + id);
  EXPECT_EQ(driver_->Realize(vm).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(driver_->Update(DesiredFromServerJson(id, 1000, 400)).ok());
  EXPECT_EQ(driver_->State(id)->state, kStateRunning);
  ASSERT_TRUE(driver_->Remove(id).ok());
  EXPECT_EQ(driver_->State(id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(driver_->Update(vm).code(), StatusCode::kNotFound);
}

TEST_F(HostAgentDriverTest, BadServerJsonNamesTheVm) {
  DesiredVm vm = DesiredFromServerJson("agentdrv-bad", 1000, 100);
  vm.allocation["devices"] = {{{"id", "gpu9"}, {"kind", "gpu"}, {"milli", 1000}}};
  Result<GuestState> made = driver_->Realize(vm);
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(made.status().message().find("vm agentdrv-bad: allocation"), std::string::npos);
}

TEST_F(HostAgentDriverTest, PowerListAndConsoleGoThroughHostAgent) {
  const std::string id = "agentpwr-" + std::to_string(::getpid());
  DesiredVm vm = DesiredFromServerJson(id, 1000, 100);
  vm.name = "web-1";
  vm.ssh_key = "ssh-ed25519 AAAA me";
  vm.image = DesiredImage{"linux", "kernel", "", "/g/vmlinuz", "/g/initrd", "quiet"};
  Result<host::GuestRequest> req = GuestRequestFor(vm, agent_->context().host);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->hostname, "web-1");
  EXPECT_EQ(req->ssh_key, "ssh-ed25519 AAAA me");
  EXPECT_EQ(req->boot.kind, "kernel");
  EXPECT_EQ(req->boot.kernel, "/g/vmlinuz");
  EXPECT_EQ(req->boot.cmdline, "quiet");

  vm.image.reset();  // the test driver runs a diskless guest
  ASSERT_TRUE(driver_->Realize(vm).ok());
  Result<std::vector<std::string>> ids = driver_->ListVmIds();
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_NE(std::find(ids->begin(), ids->end(), id), ids->end());
  ASSERT_TRUE(driver_->Stop(id).ok());
  EXPECT_EQ(driver_->State(id)->state, kStateStopped);
  ASSERT_TRUE(driver_->Start(id).ok());
  EXPECT_EQ(driver_->State(id)->state, kStateRunning);
  EXPECT_TRUE(driver_->Reboot(id).ok());
  Result<std::string> console = driver_->ReadConsole(id, 0, 100);
  EXPECT_TRUE(console.ok() || console.status().IsNotFound()) << console.status().ToString();
  ASSERT_TRUE(driver_->Remove(id).ok());
  EXPECT_EQ(driver_->Stop(id).code(), StatusCode::kNotFound);
}

// A VF slice becomes the PCI address of that VF, from the PF's discovered list, with the
// ledger's binding (MAC, VLAN = segment id) when the slice is on a tenant network.
TEST_F(HostAgentDriverTest, VfSlicesBecomeVfsWithTheirBinding) {
  Host h = Host::MakeGpuHost("self", 4000, 4096, 0, "A100");
  Device nic = Device::Nic("nic0", "default", 4, 10000);
  nic.attributes["vf_pci_addresses"] = "0000:3b:00.2,0000:3b:00.3";
  h.devices.push_back(nic);
  struct Case {
    std::string name;
    int vf_index;
    std::string network_id, mac;
    int64_t segment_id;
    std::string want_address, want_mac;
    int64_t want_vlan;
  } cases[] = {
      {"legacy slice: no binding", 1, "", "52:54:00:00:00:99", 0, "0000:3b:00.3", "", 0},
      {"tenant network", 0, "net-0a1b", "52:54:00:12:34:56", 120, "0000:3b:00.2",
       "52:54:00:12:34:56", 120},
  };
  for (const Case& c : cases) {
    Allocation a;
    a.cpu_milli = 1000;
    a.memory_mib = 64;
    DeviceSlice vf;
    vf.kind = DeviceKind::kNic;
    vf.device_id = "nic0";
    vf.units = 1;
    vf.unit_index = c.vf_index;
    vf.network_id = c.network_id;
    vf.mac = c.mac;
    vf.segment_id = c.segment_id;
    vf.address = c.network_id.empty() ? "" : "10.1.0.5/24";
    a.nics.push_back(vf);
    DesiredVm vm = DesiredFromServerJson("agentvf", 1000, 100);
    vm.allocation = server::AllocationToJson(a);
    Result<host::GuestRequest> req = GuestRequestFor(vm, h);
    ASSERT_TRUE(req.ok()) << c.name << ": " << req.status().ToString();
    ASSERT_EQ(req->vfs.size(), 1u) << c.name;
    EXPECT_EQ(req->vfs[0].address, c.want_address) << c.name;
    EXPECT_EQ(req->vfs[0].mac, c.want_mac) << c.name;
    EXPECT_EQ(req->vfs[0].vlan_id, c.want_vlan) << c.name;
  }
}

}  // namespace
}  // namespace devshare::agent
