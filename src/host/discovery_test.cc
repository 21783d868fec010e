#include "devshare/host/discovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "host/host_test_util.h"

namespace devshare::host {
namespace {

DiscoveredHost Gpu8() { return testutil::DiscoverFixtureOrFail("gpu8"); }

bool HasWarning(const DiscoveredHost& h, const std::string& needle) {
  return std::any_of(h.warnings.begin(), h.warnings.end(),
                     [&](const std::string& w) { return w.find(needle) != std::string::npos; });
}

TEST(CpuListTest, ParsesAndFormats) {
  struct Case {
    std::string text;
    std::vector<int> cpus;
    std::string formatted;
  } cases[] = {
      {"", {}, ""},
      {"0", {0}, "0"},
      {"0-3", {0, 1, 2, 3}, "0-3"},
      {"0-7,16-23\n", {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}, "0-7,16-23"},
      {"5,1,3-4", {1, 3, 4, 5}, "1,3-5"},
  };
  for (const Case& c : cases) {
    Result<std::vector<int>> got = ParseCpuList(c.text);
    ASSERT_TRUE(got.ok()) << c.text;
    EXPECT_EQ(*got, c.cpus) << c.text;
    EXPECT_EQ(FormatCpuList(*got), c.formatted) << c.text;
  }
  for (const char* bad : {"x", "3-1", "1,,2-", "-1", "0-99999"}) {
    EXPECT_FALSE(ParseCpuList(bad).ok()) << bad;
  }
}

TEST(DiscoveryFixtureTest, CpusAndNuma) {
  DiscoveredHost h = Gpu8();
  EXPECT_EQ(h.cpu.sockets, 2);
  EXPECT_EQ(h.cpu.cores, 16);
  EXPECT_EQ(h.cpu.threads, 32);
  EXPECT_EQ(FormatCpuList(h.cpu.online), "0-30");  // cpu31 is offline
  ASSERT_EQ(h.numa_nodes.size(), 2u);
  EXPECT_EQ(FormatCpuList(h.numa_nodes[0].cpus), "0-7,16-23");
  EXPECT_EQ(FormatCpuList(h.numa_nodes[1].cpus), "8-15,24-31");
  EXPECT_EQ(h.numa_nodes[0].memory_kib, 134217728);
  EXPECT_EQ(h.numa_nodes[1].memory_kib, 134217728);
  EXPECT_EQ(h.memory_total_kib, 268435456);
  EXPECT_NE(std::find(h.cpu_flags.begin(), h.cpu_flags.end(), "vmx"), h.cpu_flags.end());
}

TEST(DiscoveryFixtureTest, PciFunctionsGpusAndIommuGroups) {
  DiscoveredHost h = Gpu8();
  // host bridge, SATA, i350, switch port, 8 GPUs, audio, ConnectX PF + 64 VFs, NVMe.
  EXPECT_EQ(h.pci.size(), 79u);
  std::vector<const PciFunction*> gpus = h.Gpus();
  ASSERT_EQ(gpus.size(), 8u);
  std::map<std::string, std::set<std::string>> gpu_groups;
  for (const PciFunction* g : gpus) {
    EXPECT_EQ(g->vendor_id, 0x10de);
    EXPECT_EQ(g->device_id, 0x20f1);
    EXPECT_EQ(g->class_code, 0x030200u);
    gpu_groups[g->iommu_group].insert(g->address);
  }
  const std::map<std::string, std::set<std::string>> want = {
      {"20", {"0000:17:00.0", "0000:18:00.0"}},
      {"21", {"0000:31:00.0", "0000:32:00.0"}},
      {"22", {"0000:ca:00.0", "0000:cb:00.0"}},
      {"23", {"0000:e3:00.0", "0000:e4:00.0"}}};
  EXPECT_EQ(gpu_groups, want);
  // Group 20 also holds the switch port; group 23 the audio function.
  EXPECT_EQ(h.IommuGroupMembers("20").size(), 3u);
  EXPECT_EQ(h.IommuGroupMembers("23").size(), 3u);
  EXPECT_EQ(h.IommuGroupMembers("21").size(), 2u);
  const PciFunction* g0 = h.FindPci("0000:17:00.0");
  ASSERT_NE(g0, nullptr);
  EXPECT_EQ(g0->driver, "nvidia");
  EXPECT_EQ(g0->numa_node, 0);
  const PciFunction* g7 = h.FindPci("0000:e4:00.0");
  ASSERT_NE(g7, nullptr);
  EXPECT_EQ(g7->driver, "vfio-pci");
  EXPECT_EQ(g7->numa_node, 1);
  // The audio function is display-adjacent but not a GPU.
  const PciFunction* audio = h.FindPci("0000:e4:00.1");
  ASSERT_NE(audio, nullptr);
  EXPECT_FALSE(audio->IsGpu());
}

TEST(DiscoveryFixtureTest, MdevTypesOnTwoGpus) {
  DiscoveredHost h = Gpu8();
  int with_mdev = 0;
  for (const PciFunction* g : h.Gpus()) {
    if (g->mdev_types.empty()) continue;
    ++with_mdev;
    ASSERT_EQ(g->mdev_types.size(), 3u) << g->address;
    EXPECT_EQ(g->mdev_types[0].type, "nvidia-471");
    EXPECT_EQ(g->mdev_types[0].name, "GRID A100-4C");
    EXPECT_EQ(g->mdev_types[0].available_instances, 10);
    EXPECT_EQ(g->mdev_types[0].device_api, "vfio-pci");
    EXPECT_EQ(g->mdev_types[2].type, "nvidia-476");
    EXPECT_EQ(g->mdev_types[2].available_instances, 1);
  }
  EXPECT_EQ(with_mdev, 2);
}

TEST(DiscoveryFixtureTest, SriovPfWith64Vfs) {
  DiscoveredHost h = Gpu8();
  const PciFunction* pf = h.FindPci("0000:3b:00.0");
  ASSERT_NE(pf, nullptr);
  EXPECT_TRUE(pf->IsSriovPf());
  EXPECT_TRUE(pf->IsNic());
  EXPECT_EQ(pf->sriov_totalvfs, 64);
  EXPECT_EQ(pf->sriov_numvfs, 64);
  ASSERT_EQ(pf->vfs.size(), 64u);
  EXPECT_EQ(pf->vfs.front(), "0000:3b:00.2");
  EXPECT_EQ(pf->vfs.back(), "0000:3b:08.1");
  EXPECT_EQ(pf->link_speed_mbps, 100000);
  ASSERT_EQ(pf->net_interfaces.size(), 1u);
  EXPECT_EQ(pf->net_interfaces[0], "ens1f0np0");
  int vfs = 0;
  std::set<std::string> vf_groups;
  for (const PciFunction& f : h.pci) {
    if (!f.IsVf()) continue;
    ++vfs;
    EXPECT_EQ(f.physfn, "0000:3b:00.0");
    vf_groups.insert(f.iommu_group);
  }
  EXPECT_EQ(vfs, 64);
  EXPECT_EQ(vf_groups.size(), 64u);  // one group per VF
  const PciFunction* i350 = h.FindPci("0000:02:00.0");
  ASSERT_NE(i350, nullptr);
  EXPECT_EQ(i350->sriov_totalvfs, 7);
  EXPECT_EQ(i350->sriov_numvfs, 0);
  EXPECT_TRUE(i350->vfs.empty());
}

TEST(DiscoveryFixtureTest, BlockDevicesAndKvm) {
  DiscoveredHost h = Gpu8();
  ASSERT_EQ(h.disks.size(), 3u);  // loop0 is virtual and skipped
  const BlockDevice& nvme = h.disks[0];
  EXPECT_EQ(nvme.name, "nvme0n1");
  EXPECT_EQ(nvme.tier, DiskTier::kNvme);
  EXPECT_EQ(nvme.size_bytes, 7501476528LL * 512);
  EXPECT_EQ(nvme.model, "SAMSUNG MZQL23T8HCLS-00A07");
  EXPECT_EQ(nvme.pci_address, "0000:c1:00.0");
  EXPECT_EQ(nvme.numa_node, 1);
  EXPECT_FALSE(nvme.in_use_by_host);
  const BlockDevice& hdd = h.disks[1];
  EXPECT_EQ(hdd.name, "sda");
  EXPECT_TRUE(hdd.rotational);
  EXPECT_EQ(hdd.tier, DiskTier::kHdd);
  EXPECT_EQ(hdd.model, "ST16000NM001G-2KK103");
  EXPECT_EQ(hdd.pci_address, "0000:00:17.0");
  const BlockDevice& ssd = h.disks[2];
  EXPECT_EQ(ssd.name, "sdb");
  EXPECT_EQ(ssd.tier, DiskTier::kSsd);
  EXPECT_TRUE(ssd.in_use_by_host);  // sdb2 is mounted at /
  EXPECT_TRUE(h.kvm.present);
  EXPECT_FALSE(h.kvm.usable);  // a regular file, not a device
  // The only warning of this tree: the offline CPU has no topology.
  EXPECT_EQ(h.warnings.size(), 1u) << (h.warnings.empty() ? "" : h.warnings[0]);
  EXPECT_TRUE(HasWarning(h, "cpu31: no readable topology"));
}

TEST(DiscoveryFixtureTest, OddEntriesBecomeWarnings) {
  Result<DiscoveredHost> r = testutil::DiscoverFixture("odd");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const DiscoveredHost& h = *r;
  for (const std::string& w : h.warnings) std::printf("warning: %s\n", w.c_str());
  EXPECT_TRUE(HasWarning(h, "cpu/online: bad CPU list"));
  EXPECT_TRUE(HasWarning(h, "cpu1/topology/core_id: not a number"));
  EXPECT_TRUE(HasWarning(h, "node0/meminfo: no MemTotal"));
  EXPECT_TRUE(HasWarning(h, "procfs meminfo: no MemTotal"));
  EXPECT_TRUE(HasWarning(h, "0000:00:01.0/class: not a number"));
  EXPECT_TRUE(HasWarning(h, "iommu_group: dangling symlink"));
  EXPECT_TRUE(HasWarning(h, "0000:00:03.0/numa_node: is a directory"));
  EXPECT_TRUE(HasWarning(h, "0000:00:04.0: dangling entry"));
  EXPECT_TRUE(HasWarning(h, "sriov_numvfs is 2 but 1 virtfn links exist"));
  EXPECT_TRUE(HasWarning(h, "available_instances: not a number"));
  EXPECT_TRUE(HasWarning(h, "nvme0n1/size: missing"));
  EXPECT_TRUE(HasWarning(h, "block/sdz: cannot resolve"));
  EXPECT_FALSE(h.kvm.present);
  // What could be read still is.
  EXPECT_EQ(h.cpu.threads, 2);
  EXPECT_EQ(FormatCpuList(h.cpu.online), "0-1");  // fell back to the present CPUs
  ASSERT_EQ(h.Gpus().size(), 1u);
  EXPECT_EQ(h.Gpus()[0]->iommu_group, "2");
  EXPECT_EQ(h.Gpus()[0]->mdev_types.size(), 1u);
  EXPECT_EQ(h.Gpus()[0]->mdev_types[0].available_instances, -1);
  EXPECT_EQ(h.FindPci("0000:00:01.0"), nullptr);  // skipped: class unreadable
  const PciFunction* nvme = h.FindPci("0000:00:03.0");
  ASSERT_NE(nvme, nullptr);
  EXPECT_EQ(nvme->numa_node, -1);
  EXPECT_TRUE(h.disks.empty());
}

TEST(DiscoveryFixtureTest, MissingRootIsAnError) {
  EXPECT_EQ(DiscoverHost("/nonexistent/sys", "/nonexistent/proc").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(DiscoverHost(testutil::kSysfsFixtures, testutil::kSysfsFixtures).status().code(),
            StatusCode::kFailedPrecondition);
}

// This machine: 2 CPUs and virtio PCI functions (vendor 0x1af4) on the project's VMs.
TEST(DiscoveryThisMachineTest, FindsCpusAndVirtioFunctions) {
  if (::access("/sys/devices/system/cpu/online", R_OK) != 0 ||
      ::access("/sys/bus/pci/devices", R_OK) != 0) {
    GTEST_SKIP() << "/sys is not readable here: skipping discovery of this machine";
  }
  Result<DiscoveredHost> r = DiscoverHost();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const DiscoveredHost& h = *r;
  for (const std::string& w : h.warnings) std::printf("warning: %s\n", w.c_str());
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(static_cast<long>(h.cpu.online.size()), online);
  EXPECT_GE(h.cpu.threads, 1);
  EXPECT_GT(h.memory_total_kib, 0);
  int virtio = 0;
  for (const PciFunction& f : h.pci) virtio += f.vendor_id == 0x1af4 ? 1 : 0;
  std::printf("this machine: %zu CPUs online, %zu PCI functions (%d virtio), %zu disks, KVM: %s\n",
              h.cpu.online.size(), h.pci.size(), virtio, h.disks.size(), h.kvm.detail.c_str());
  if (online == 2) {
    EXPECT_EQ(h.cpu.online.size(), 2u);  // the project's machines have 2 cores
  }
  // Virtio functions counted straight from the vendor files, without the discovery code.
  int direct = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/bus/pci/devices", ec)) {
    std::ifstream in(e.path() / "vendor");
    std::string vendor;
    in >> vendor;
    direct += vendor == "0x1af4" ? 1 : 0;
  }
  EXPECT_EQ(virtio, direct);
  if (direct == 0) GTEST_SKIP() << "no virtio PCI function on this machine";
  EXPECT_GT(virtio, 0);
}

}  // namespace
}  // namespace devshare::host
