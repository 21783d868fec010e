#include "devshare/host/realization.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/host_test_util.h"

namespace devshare::host {
namespace {

Host Gpu8Host() {
  Result<Host> h = testutil::RegisteredFixtureHost("gpu8");
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : Host{};
}

DeviceSlice Whole(const std::string& id) {
  DeviceSlice s;
  s.device_id = id;
  s.milli = 1000;
  s.whole = true;
  return s;
}

GuestRequest Request(int64_t cpu_milli, int64_t memory_mib, nlohmann::json qos = {}) {
  GuestRequest r;
  r.vm_id = "vm-1";
  r.tenant = "t-1";
  r.allocation.cpu_milli = cpu_milli;
  r.allocation.memory_mib = memory_mib;
  r.qos = qos.is_null() ? nlohmann::json::object() : qos;
  return r;
}

TEST(CpuTuneForQosTest, WeightsAndCaps) {
  struct Case {
    int64_t weight, cap;
    CgroupVersion v;
    CpuTune want;
  } cases[] = {
      {100, 0, CgroupVersion::kV1, {1024, 0, -1}},
      {200, 0, CgroupVersion::kV1, {2048, 0, -1}},
      {400, 0, CgroupVersion::kV1, {4096, 0, -1}},
      {1, 0, CgroupVersion::kV1, {10, 0, -1}},
      {10000, 0, CgroupVersion::kV1, {102400, 0, -1}},
      {100, 25, CgroupVersion::kV1, {1024, 100000, 25000}},
      {100, 100, CgroupVersion::kV1, {1024, 100000, 100000}},
      {400, 0, CgroupVersion::kV2, {400, 0, -1}},
      {100, 50, CgroupVersion::kV2, {100, 100000, 50000}},
  };
  for (const Case& c : cases) {
    Result<CpuTune> got = CpuTuneForQos(2, c.weight, c.cap, c.v);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, c.want) << c.weight << " " << c.cap;  // quota is per vCPU
  }
  EXPECT_EQ(CpuTuneForQos(1, 0, 0, CgroupVersion::kV1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CpuTuneForQos(1, 100, 101, CgroupVersion::kV1).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SpinImageTest, BootSectorLoops) {
  const std::string img = SpinImageBytes();
  ASSERT_EQ(img.size(), 512u);
  EXPECT_EQ(static_cast<unsigned char>(img[0]), 0xEB);
  EXPECT_EQ(static_cast<unsigned char>(img[1]), 0xFE);
  EXPECT_EQ(static_cast<unsigned char>(img[510]), 0x55);
  EXPECT_EQ(static_cast<unsigned char>(img[511]), 0xAA);
  for (size_t i = 2; i < 510; ++i) ASSERT_EQ(img[i], '\0') << i;

  const std::string dir =
      std::filesystem::temp_directory_path() / ("devshare-img-" + std::to_string(::getpid()));
  Result<std::string> path = WriteSpinImage(dir, "a.img");
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  std::ifstream in(*path, std::ios::binary);
  std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(read, img);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ParseGuestImage("spin").value(), GuestImage::kSpin);
  EXPECT_EQ(ParseGuestImage("none").value(), GuestImage::kNone);
  EXPECT_FALSE(ParseGuestImage("ubuntu").ok());
}

TEST(PlanDomainTest, CpuMemoryAndPinning) {
  RealizationContext ctx;
  ctx.host = Gpu8Host();
  ctx.guest_cpus = {8, 9};
  ctx.cpu_numa.assign(32, 0);
  for (int c = 8; c < 16; ++c) ctx.cpu_numa[c] = 1;
  Result<DomainSpec> s =
      PlanDomain(Request(2500, 2048, {{"cpu_weight", 200}, {"cpu_cap_pct", 50}}), ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "devshare-vm-1");
  EXPECT_EQ(s->vcpus, 3);  // ceil(2500 / 1000)
  EXPECT_EQ(s->memory_mib, 2048);
  EXPECT_EQ(s->cputune, (CpuTune{2048, 100000, 50000}));
  EXPECT_EQ(s->cpuset, (std::vector<int>{8, 9}));
  EXPECT_EQ(s->numa_nodeset, (std::vector<int>{1}));
  EXPECT_EQ(s->memory_soft_limit_mib, 2048);
  EXPECT_EQ(s->memory_hard_limit_mib, 0);  // off unless asked for
  ctx.memory_hard_limit = true;
  EXPECT_EQ(PlanDomain(Request(2500, 2048), ctx)->memory_hard_limit_mib, 2048 + 1024 + 32);
  EXPECT_TRUE(s->disks.empty());  // guest image none
  EXPECT_EQ(PlanDomain(Request(100, 64), ctx)->vcpus, 1);
  EXPECT_EQ(PlanDomain(Request(0, 64), ctx).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanDomain(Request(100, 64, {{"cpu_weight", 20000}}), ctx).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PlanDomainTest, SpinImageCarriesDiskQos) {
  RealizationContext ctx;
  ctx.image = GuestImage::kSpin;
  ctx.runtime_dir = "/run/ds";
  Result<DomainSpec> s =
      PlanDomain(Request(1000, 64, {{"disk_read_iops", 100}, {"disk_write_bytes_sec", 4096}}), ctx);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->disks.size(), 1u);
  EXPECT_EQ(s->disks[0].source_path, "/run/ds/images/devshare-vm-1.img");
  EXPECT_EQ(s->disks[0].iotune.read_iops_sec, 100);
  EXPECT_EQ(s->disks[0].iotune.write_bytes_sec, 4096);
}

TEST(PlanDomainTest, WholeGpusOfOneGroupGoTogether) {
  RealizationContext ctx;
  ctx.host = Gpu8Host();
  GuestRequest r = Request(8000, 65536);
  r.allocation.gpus = {Whole("gpu2"), Whole("gpu3")};
  Result<DomainSpec> s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->pci_hostdevs.size(), 2u);
  EXPECT_EQ(s->pci_hostdevs[0].address, "0000:31:00.0");
  EXPECT_EQ(s->pci_hostdevs[1].address, "0000:32:00.0");

  // One GPU of group 21 without its sibling: refused.
  r.allocation.gpus = {Whole("gpu2")};
  Result<DomainSpec> bad = PlanDomain(r, ctx);
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("IOMMU group 21"), std::string::npos)
      << bad.status().message();
  // GPUs of two different groups, each incomplete: refused too.
  r.allocation.gpus = {Whole("gpu3"), Whole("gpu4")};
  EXPECT_EQ(PlanDomain(r, ctx).status().code(), StatusCode::kFailedPrecondition);
  // Two complete groups.
  r.allocation.gpus = {Whole("gpu4"), Whole("gpu5"), Whole("gpu6"), Whole("gpu7")};
  s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // The audio function of group 23 comes along once, as a companion hostdev.
  ASSERT_EQ(s->pci_hostdevs.size(), 5u);
  int companions = 0;
  for (const PciHostdev& h : s->pci_hostdevs) {
    if (h.companion) {
      ++companions;
      EXPECT_EQ(h.address, "0000:e4:00.1");
    }
  }
  EXPECT_EQ(companions, 1);
}

TEST(PlanDomainTest, MdevShareAndUnknownDevices) {
  RealizationContext ctx;
  ctx.host = Gpu8Host();
  GuestRequest r = Request(1000, 1024);
  DeviceSlice share;
  share.device_id = "gpu1";
  share.milli = 250;
  r.allocation.gpus = {share};
  Result<DomainSpec> s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->mdev_hostdevs.size(), 1u);
  EXPECT_EQ(s->mdev_hostdevs[0].parent_address, "0000:18:00.0");
  EXPECT_EQ(s->mdev_hostdevs[0].type, "nvidia-471");
  EXPECT_EQ(s->mdev_hostdevs[0].uuid, MdevUuid("vm-1", "gpu1"));
  EXPECT_TRUE(s->pci_hostdevs.empty());  // mdevs are not bound by the IOMMU-group rule

  // A share of a GPU without mdev types: no hostdev, and a comment says so.
  share.device_id = "gpu2";
  r.allocation.gpus = {share};
  s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->mdev_hostdevs.empty());
  EXPECT_NE(BuildDomainXml(*s).find("gpu2: 250 milli share without an mdev type"),
            std::string::npos);

  share.device_id = "gpu99";
  r.allocation.gpus = {share};
  EXPECT_EQ(PlanDomain(r, ctx).status().code(), StatusCode::kNotFound);
}

TEST(PlanDomainTest, TestHostsWithoutAddressesGetNoHostdev) {
  RealizationContext ctx;
  ctx.host = Host::MakeGpuHost("h", 8000, 65536, 2, "A100");
  ASSERT_FALSE(ctx.host.devices.empty());
  GuestRequest r = Request(1000, 1024);
  r.allocation.gpus = {Whole(ctx.host.devices[0].id)};
  Result<DomainSpec> s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->pci_hostdevs.empty());
  EXPECT_NE(BuildDomainXml(*s).find("no PCI address known on this host: no hostdev"),
            std::string::npos);
}

TEST(PlanDomainTest, VfInterfaces) {
  RealizationContext ctx;
  GuestRequest r = Request(1000, 1024);
  r.vfs = {{"0000:3b:00.2", "", 0}, {"0000:3b:00.3", "52:54:00:ab:cd:ef", 120}};
  Result<DomainSpec> s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->vf_interfaces.size(), 2u);
  // Legacy (no network): a MAC deterministic per (vm, VF), untagged.
  EXPECT_EQ(s->vf_interfaces[0].mac, VfMac("vm-1", "0000:3b:00.2"));
  EXPECT_EQ(s->vf_interfaces[0].mac.rfind("52:54:00:", 0), 0u);
  EXPECT_EQ(s->vf_interfaces[0].vlan_id, 0);
  // On a tenant network: the ledger's MAC and the segment as VLAN tag.
  EXPECT_EQ(s->vf_interfaces[1].address, "0000:3b:00.3");
  EXPECT_EQ(s->vf_interfaces[1].mac, "52:54:00:ab:cd:ef");
  EXPECT_EQ(s->vf_interfaces[1].vlan_id, 120);
}

TEST(PlanDomainTest, BadVfBindingIsInvalid) {
  const GuestVf bad[] = {
      {"0000:3b:00.2", "", 4095},
      {"0000:3b:00.2", "", -1},
      {"0000:3b:00.2", "52:54:00:ab:cd", 10},
      {"0000:3b:00.2", "52:54:00:ab:cd:eg", 10},
      {"0000:3b:00.2", "52-54-00-ab-cd-ef", 10},
  };
  for (const GuestVf& vf : bad) {
    GuestRequest r = Request(1000, 1024);
    r.vfs = {vf};
    EXPECT_EQ(PlanDomain(r, RealizationContext{}).status().code(), StatusCode::kInvalidArgument)
        << vf.mac << " vlan " << vf.vlan_id;
  }
}

TEST(IdsTest, DeterministicAndDistinct) {
  EXPECT_EQ(MdevUuid("vm-1", "gpu0"), MdevUuid("vm-1", "gpu0"));
  EXPECT_NE(MdevUuid("vm-1", "gpu0"), MdevUuid("vm-2", "gpu0"));
  EXPECT_EQ(MdevUuid("vm-1", "gpu0").size(), 36u);
  EXPECT_NE(VfMac("vm-1", "a"), VfMac("vm-1", "b"));
}

TEST(CgroupVersionTest, DetectsFromControllersFile) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("devshare-cg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "fs/cgroup");
  EXPECT_EQ(DetectCgroupVersion(dir.string()), CgroupVersion::kV1);
  std::ofstream(dir / "fs/cgroup/cgroup.controllers") << "cpuset cpu io memory pids\n";
  EXPECT_EQ(DetectCgroupVersion(dir.string()), CgroupVersion::kV2);
  std::filesystem::remove_all(dir);
}

TEST(GuestFilesTest, PathsCarryThePrefix) {
  RealizationContext ctx;
  ctx.runtime_dir = "/run/ds";
  ctx.domain_prefix = "devshare-a1-";
  const GuestFiles f = GuestFilePaths(ctx, "vm-9");
  EXPECT_EQ(f.spin_image, "/run/ds/images/devshare-a1-vm-9.img");
  EXPECT_EQ(f.disk, "/run/ds/disks/devshare-a1-vm-9.qcow2");
  EXPECT_EQ(f.seed, "/run/ds/disks/devshare-a1-vm-9-seed.iso");
  EXPECT_EQ(f.console_log, "/run/ds/console/devshare-a1-vm-9.log");
}

TEST(AbsolutePathTest, ResolvesAgainstTheWorkingDirectory) {
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(AbsolutePath("./var/run"), cwd + "/var/run");
  EXPECT_EQ(AbsolutePath("var/run/"), cwd + "/var/run");
  EXPECT_EQ(AbsolutePath("a/../b"), cwd + "/b");
  EXPECT_EQ(AbsolutePath("/srv//x/./y"), "/srv/x/y");
  EXPECT_EQ(AbsolutePath("/"), "/");
  EXPECT_EQ(AbsolutePath(""), "");
}

TEST(NoCloudSeedTest, MetaDataAndUserData) {
  GuestRequest r = Request(1000, 256);
  r.vm_id = "vm-5";
  r.name = "Web_Server.1";
  Result<NoCloudSeed> seed = BuildNoCloudSeed(r);
  ASSERT_TRUE(seed.ok());
  EXPECT_EQ(seed->meta_data, "instance-id: vm-5\nlocal-hostname: web-server-1\n");
  EXPECT_EQ(seed->user_data, "#cloud-config\n");
  r.hostname = "gtest-a";
  r.ssh_key = "ssh-ed25519 AAAAC3Nza \"me\"@host";
  seed = BuildNoCloudSeed(r);
  ASSERT_TRUE(seed.ok());
  EXPECT_EQ(seed->meta_data, "instance-id: vm-5\nlocal-hostname: gtest-a\n");
  EXPECT_EQ(seed->user_data,
            "#cloud-config\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAAC3Nza \\\"me\\\"@host\"\n");
  r.ssh_key = "ssh-rsa AAAA\nruncmd: [reboot]";
  EXPECT_EQ(BuildNoCloudSeed(r).status().code(), StatusCode::kInvalidArgument);
}

TEST(NoCloudSeedTest, HostnameFallbacks) {
  GuestRequest r = Request(1000, 256);
  r.vm_id = "vm-00AB";
  EXPECT_EQ(GuestHostname(r), "vm-00ab");
  r.name = "--";
  EXPECT_EQ(GuestHostname(r), "devshare-guest");
  r.name = std::string(100, 'x');
  EXPECT_EQ(GuestHostname(r).size(), 63u);
}

TEST(PlanDomainTest, RealGuestBootErrors) {
  RealizationContext ctx;
  GuestRequest r = Request(1000, 256);
  r.boot.kind = "floppy";
  EXPECT_EQ(PlanDomain(r, ctx).status().code(), StatusCode::kInvalidArgument);
  r.boot.kind = "disk";
  EXPECT_EQ(PlanDomain(r, ctx).status().code(), StatusCode::kInvalidArgument);
  r.boot.kind = "kernel";
  EXPECT_EQ(PlanDomain(r, ctx).status().code(), StatusCode::kInvalidArgument);
  r.boot.kernel = "rel/vmlinuz";  // relative image paths are resolved
  Result<DomainSpec> s = PlanDomain(r, ctx);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->kernel, std::filesystem::current_path().string() + "/rel/vmlinuz");
  EXPECT_EQ(s->cmdline, "console=ttyS0");
  ASSERT_EQ(s->nics.size(), 1u);
  EXPECT_EQ(s->nics[0].network, "");  // "" in the plan = user-mode
}

}  // namespace
}  // namespace devshare::host
