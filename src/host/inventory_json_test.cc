#include "devshare/host/inventory_json.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "host/host_test_util.h"
#include "server/host_spec.h"

namespace devshare::host {
namespace {

DiscoveredHost Gpu8() { return testutil::DiscoverFixtureOrFail("gpu8"); }

TEST(InventoryJsonTest, Gpu8ServerParsesAsAHostSpec) {
  DiscoveredHost d = Gpu8();
  Result<HostInventory> inv = BuildInventory(d, {});
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  const nlohmann::json& b = inv->body;
  EXPECT_EQ(b["cpu_milli"], 31000);  // 31 online CPUs
  EXPECT_EQ(b["memory_mib"], 262144);
  ASSERT_EQ(b["numa"].size(), 2u);
  EXPECT_EQ(b["numa"][0]["cpu_milli"], 16000);
  EXPECT_EQ(b["numa"][1]["cpu_milli"], 15000);
  EXPECT_EQ(b["numa"][0]["memory_mib"], 131072);
  ASSERT_EQ(b["gpus"].size(), 8u);
  EXPECT_EQ(b["gpus"][0]["model"], "A100");
  EXPECT_EQ(b["gpus"][0]["sharing"], "time_sliced");  // mdev types
  EXPECT_EQ(b["gpus"][2]["sharing"], "exclusive");
  EXPECT_EQ(b["gpus"][4]["numa_node"], 1);
  ASSERT_EQ(b["nics"].size(), 1u);  // the i350 has no VFs created
  EXPECT_EQ(b["nics"][0]["vfs"], 64);
  EXPECT_EQ(b["nics"][0]["bandwidth_gbps"], 100.0);
  ASSERT_EQ(b["disks"].size(), 2u);  // sdb is the host's system disk
  EXPECT_EQ(b["disks"][0]["id"], "nvme0n1");
  EXPECT_EQ(b["disks"][0]["tier"], "nvme");
  EXPECT_EQ(b["disks"][0]["capacity_gib"], 3576);  // 3.84 TB, rounded down
  EXPECT_EQ(b["disks"][0]["numa_node"], 1);
  EXPECT_EQ(b["disks"][1]["tier"], "hdd");
  EXPECT_EQ(b["traits"], nlohmann::json::array({"CUSTOM_SRIOV", "HW_CPU_X86_AVX2",
                                                "HW_CPU_X86_AVX512F", "HW_CPU_X86_VMX"}));

  Result<server::HostSpec> spec = server::ParseHostSpec("gpu8", b);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << b.dump(2);
  Host& host = spec->host;
  EXPECT_EQ(host.numa_nodes.size(), 2u);
  EXPECT_EQ(host.GpuDeviceIndices().size(), 8u);
  EXPECT_EQ(host.devices.size(), 8u + 1u + 2u);

  ApplyDeviceAttributes(*inv, host);
  const Device& gpu0 = host.devices[0];
  EXPECT_EQ(gpu0.id, "gpu0");
  EXPECT_EQ(gpu0.attributes.at(kAttrPciAddress), "0000:17:00.0");
  EXPECT_EQ(gpu0.attributes.at(kAttrIommuGroup), "20");
  EXPECT_EQ(gpu0.attributes.at(kAttrMdevTypes), "nvidia-471,nvidia-473,nvidia-476");
  EXPECT_EQ(gpu0.attributes.count(kAttrIommuCompanions), 0u);  // the bridge does not count
  const Device& gpu7 = host.devices[7];
  EXPECT_EQ(gpu7.attributes.at(kAttrPciAddress), "0000:e4:00.0");
  EXPECT_EQ(gpu7.attributes.at(kAttrIommuCompanions), "0000:e4:00.1");
  const Device& nic = host.devices[8];
  EXPECT_EQ(nic.id, "nic0");
  EXPECT_EQ(nic.inventory.total, 64);
  EXPECT_EQ(nic.attributes.at(kAttrPciAddress), "0000:3b:00.0");
  EXPECT_EQ(nic.attributes.at(kAttrNetdev), "ens1f0np0");
  // Per GPU group membership, as the realization check sees it.
  std::map<std::string, int> per_group;
  for (const Device& d : host.devices) {
    if (d.kind == DeviceKind::kGpu) per_group[d.attributes.at(kAttrIommuGroup)]++;
  }
  EXPECT_EQ(per_group, (std::map<std::string, int>{{"20", 2}, {"21", 2}, {"22", 2}, {"23", 2}}));
}

TEST(InventoryJsonTest, GuestCpusetLimitsCpuAndSplitsByNode) {
  DiscoveredHost d = Gpu8();
  InventoryOptions o;
  o.guest_cpus = {2, 3, 8, 9, 10};
  o.memory_reserved_mib = 4096;
  o.include_host_disks = true;
  Result<HostInventory> inv = BuildInventory(d, o);
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  EXPECT_EQ(inv->body["cpu_milli"], 5000);
  EXPECT_EQ(inv->body["numa"][0]["cpu_milli"], 2000);
  EXPECT_EQ(inv->body["numa"][1]["cpu_milli"], 3000);
  EXPECT_EQ(inv->body["memory_reserved_mib"], 4096);
  EXPECT_EQ(inv->body["disks"].size(), 3u);
  EXPECT_TRUE(server::ParseHostSpec("gpu8", inv->body).ok());

  o.guest_cpus = {31};  // offline
  EXPECT_EQ(BuildInventory(d, o).status().code(), StatusCode::kInvalidArgument);
}

TEST(InventoryJsonTest, NodeMemoryScaledToMemTotal) {
  DiscoveredHost d = Gpu8();
  d.numa_nodes[0].memory_kib = 1024 * 1024;  // the kernel's node view disagrees with MemTotal
  d.numa_nodes[1].memory_kib = 3 * 1024 * 1024;
  Result<HostInventory> inv = BuildInventory(d, {});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->body["numa"][0]["memory_mib"], 65536);
  EXPECT_EQ(inv->body["numa"][1]["memory_mib"], 196608);
  EXPECT_FALSE(inv->notes.empty());
  EXPECT_TRUE(server::ParseHostSpec("h", inv->body).ok());
}

TEST(InventoryJsonTest, OddHostStillGivesAValidInventory) {
  Result<DiscoveredHost> d = testutil::DiscoverFixture("odd");
  ASSERT_TRUE(d.ok());
  Result<HostInventory> inv = BuildInventory(*d, {});
  // The odd tree has no memory size anywhere: that is the one thing an inventory needs.
  EXPECT_EQ(inv.status().code(), StatusCode::kFailedPrecondition);
  DiscoveredHost fixed = *d;
  fixed.memory_total_kib = 8 * 1024 * 1024;
  inv = BuildInventory(fixed, {});
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  Result<server::HostSpec> spec = server::ParseHostSpec("odd", inv->body);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << inv->body.dump(2);
  EXPECT_EQ(inv->body["gpus"].size(), 1u);
  EXPECT_EQ(inv->body["gpus"][0]["model"], "T4");
}

// The PF's netdev (first sysfs net/ entry) is the name the agent addresses its VFs by; a PF
// without one (the odd tree's i40e) gets no attribute and a note saying what that costs.
TEST(InventoryJsonTest, PfNetdevAttribute) {
  struct Case {
    std::string fixture;
    std::string netdev;  // "" = no attribute
    std::string note;    // a note that must be present ("" = none asked)
  } cases[] = {
      {"gpu8", "ens1f0np0", ""},
      {"odd", "", "NIC 0000:00:05.0 has no netdev (sysfs net/ is empty)"},
  };
  for (const Case& c : cases) {
    Result<DiscoveredHost> d = testutil::DiscoverFixture(c.fixture);
    ASSERT_TRUE(d.ok()) << c.fixture;
    if (d->memory_total_kib <= 0) d->memory_total_kib = 8 * 1024 * 1024;
    Result<HostInventory> inv = BuildInventory(*d, {});
    ASSERT_TRUE(inv.ok()) << c.fixture << ": " << inv.status().ToString();
    ASSERT_EQ(inv->device_attributes.count("nic0"), 1u) << c.fixture;
    const std::map<std::string, std::string>& a = inv->device_attributes.at("nic0");
    if (c.netdev.empty()) {
      EXPECT_EQ(a.count(kAttrNetdev), 0u) << c.fixture;
    } else {
      EXPECT_EQ(a.at(kAttrNetdev), c.netdev) << c.fixture;
    }
    if (!c.note.empty()) {
      EXPECT_TRUE(std::any_of(inv->notes.begin(), inv->notes.end(), [&](const std::string& n) {
        return n.find(c.note) == 0;
      })) << c.fixture;
    }
  }
}

TEST(InventoryJsonTest, ThisMachineRegisters) {
  Result<DiscoveredHost> d = DiscoverHost();
  if (!d.ok()) GTEST_SKIP() << "/sys is not readable here: " << d.status().ToString();
  Result<HostInventory> inv = BuildInventory(*d, {});
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  Result<server::HostSpec> spec = server::ParseHostSpec("self", inv->body);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << inv->body.dump(2);
}

TEST(InventoryJsonTest, CpuNumaIndex) {
  std::vector<int> idx = CpuNumaIndex(Gpu8());
  ASSERT_EQ(idx.size(), 32u);
  EXPECT_EQ(idx[0], 0);
  EXPECT_EQ(idx[8], 1);
  EXPECT_EQ(idx[23], 0);
  EXPECT_EQ(idx[31], 1);
}

TEST(InventoryJsonTest, DiscoveryJsonHasEverything) {
  nlohmann::json j = DiscoveryToJson(Gpu8());
  EXPECT_EQ(j["cpu"]["online"], "0-30");
  EXPECT_EQ(j["pci"].size(), 79u);
  EXPECT_EQ(j["disks"].size(), 3u);
  int vfs = 0;
  for (const auto& p : j["pci"]) vfs += p.contains("physfn") ? 1 : 0;
  EXPECT_EQ(vfs, 64);
}

}  // namespace
}  // namespace devshare::host
