// Storage pools: the --pool flag, calibration on a real directory, pools in the inventory, and
// volume disks in the domain plan (NBD on the volume server's socket, or a plain file).
#include "devshare/host/storage_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "devshare/host/domain_xml.h"
#include "devshare/host/host_agent.h"
#include "devshare/host/hypervisor.h"
#include "devshare/host/inventory_json.h"
#include "devshare/host/realization.h"
#include "host/host_test_util.h"
#include "server/host_spec.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

TEST(ParsePoolFlagTest, ReadsEveryKey) {
  Result<StoragePool> p =
      ParsePoolFlag("fast:nvme:/srv/fast,iops=400,mbps=100,capacity_gib=20,scheduler=fifo");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "fast");
  EXPECT_EQ(p->tier, "nvme");
  EXPECT_EQ(p->dir, "/srv/fast");
  EXPECT_EQ(p->iops, 400);
  EXPECT_EQ(p->mbps, 100);
  EXPECT_EQ(p->capacity_gib, 20);
  EXPECT_EQ(p->scheduler, "fifo");
  Result<StoragePool> plain = ParsePoolFlag("slow:hdd:/srv/slow");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->scheduler, "mclock");
  EXPECT_EQ(plain->iops, 0);  // to calibrate
}

TEST(ParsePoolFlagTest, BadFlagsNameTheirPart) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"fast:/srv", "expected NAME:TIER:DIR"},
      {"fa st:nvme:/srv", "bad pool name 'fa st'"},
      {"fast:tape:/srv", "unknown tier 'tape' (known: nvme, ssd, hdd)"},
      {"fast:nvme:", "empty directory"},
      {"fast:nvme:/srv,iops=0", "iops=0: expected an integer in 1.."},
      {"fast:nvme:/srv,iops=12x", "iops=12x"},
      {"fast:nvme:/srv,speed=3", "unknown key 'speed'"},
      {"fast:nvme:/srv,scheduler=cfq", "unknown scheduler 'cfq'"},
      {"fast:nvme:/srv,iops", "'iops' is not key=value"},
  };
  for (const auto& [flag, want] : cases) {
    Result<StoragePool> p = ParsePoolFlag(flag);
    ASSERT_FALSE(p.ok()) << flag;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << flag;
    EXPECT_NE(p.status().message().find(want), std::string::npos)
        << flag << ": " << p.status().message();
  }
}

TEST(CalibratePoolTest, MeasuresAWritableDirectoryAndCleansUp) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("pool-cal-" + std::to_string(getpid()));
  fs::create_directories(dir);
  Result<PoolCalibration> c = CalibratePool(dir.string(), std::chrono::milliseconds(50));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_GT(c->iops, 0);
  EXPECT_GT(c->mbps, 0);
  EXPECT_TRUE(fs::is_empty(dir));  // the scratch file is gone
  StoragePool p = *ParsePoolFlag("p:ssd:" + dir.string());
  ASSERT_TRUE(PreparePool(p, std::chrono::milliseconds(50)).ok());
  EXPECT_GT(p.capacity_gib, 0);
  EXPECT_GT(p.iops, 0);
  EXPECT_NE(p.origin.find("calibrated"), std::string::npos) << p.origin;
  StoragePool declared = *ParsePoolFlag("d:ssd:" + dir.string() + ",iops=7,mbps=9,capacity_gib=3");
  ASSERT_TRUE(PreparePool(declared, std::chrono::milliseconds(50)).ok());
  EXPECT_EQ(declared.iops, 7);
  EXPECT_EQ(declared.origin, "declared");
  fs::remove_all(dir);
  Result<PoolCalibration> gone =
      CalibratePool("/proc/devshare-no-such-dir", std::chrono::milliseconds(10));
  EXPECT_EQ(gone.status().code(), StatusCode::kUnavailable);
}

// A host with two pools registered from the inventory (as the agent does), and a VM with a
// volume on each.
struct PoolHost {
  Host host;
  GuestRequest request;
};

PoolHost MakePoolHost() {
  DiscoveredHost found = testutil::DiscoverFixtureOrFail("gpu8");
  InventoryOptions o;
  StoragePool fast = *ParsePoolFlag("fast:nvme:/srv/fast,iops=2000,mbps=200,capacity_gib=10");
  StoragePool slow =
      *ParsePoolFlag("slow:hdd:/srv/slow,iops=400,mbps=50,capacity_gib=10,scheduler=none");
  fast.origin = slow.origin = "declared";
  o.pools = {fast, slow};
  PoolHost out;
  Result<HostInventory> inv = BuildInventory(found, o);
  EXPECT_TRUE(inv.ok()) << inv.status().ToString();
  if (!inv.ok()) return out;
  Result<server::HostSpec> spec = server::ParseHostSpec("h1", inv->body);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << inv->body.dump();
  if (!spec.ok()) return out;
  ApplyDeviceAttributes(*inv, spec->host);
  out.host = spec->host;
  out.request.vm_id = "vm-1";
  out.request.allocation.cpu_milli = 1000;
  out.request.allocation.memory_mib = 256;
  DeviceSlice a;
  a.kind = DeviceKind::kDisk;
  a.device_id = "fast";
  a.name = "data";
  a.units = 2;
  a.rate = 100;
  a.weight = 3;
  a.rate_limit = 500;
  DeviceSlice b = a;
  b.device_id = "slow";
  b.name = "logs";
  out.request.allocation.volumes = {a, b};
  return out;
}

TEST(PlanVolumesTest, QosPoolsGoOverNbdAndPlainPoolsAreFiles) {
  PoolHost ph = MakePoolHost();
  RealizationContext ctx;
  ctx.host = ph.host;
  ctx.nbd_socket = "/run/devshare/storage/nbd.sock";
  Result<std::vector<VolumePlan>> plans = PlanVolumes(ph.request, ctx);
  ASSERT_TRUE(plans.ok()) << plans.status().ToString();
  ASSERT_EQ(plans->size(), 2u);
  const VolumePlan& data = (*plans)[0];
  EXPECT_EQ(data.pool, "fast");
  EXPECT_EQ(data.scheduler, "mclock");
  EXPECT_EQ(data.file, "/srv/fast/devshare-vm-1-data.raw");
  EXPECT_EQ(data.export_name, "devshare-vm-1-data");
  EXPECT_EQ(data.size_bytes, int64_t{2} << 30);
  EXPECT_EQ(data.reservation_iops, 100);
  EXPECT_EQ(data.weight, 3);
  EXPECT_EQ(data.limit_iops, 500);
  EXPECT_EQ(data.disk.target_dev, "vdc");
  const std::string nbd = BuildDiskXml(data.disk);
  EXPECT_NE(nbd.find("<disk type='network' device='disk'>"), std::string::npos) << nbd;
  EXPECT_NE(nbd.find("<source protocol='nbd' name='devshare-vm-1-data'>"), std::string::npos);
  EXPECT_NE(nbd.find("<host transport='unix' socket='/run/devshare/storage/nbd.sock'/>"),
            std::string::npos);
  const VolumePlan& logs = (*plans)[1];
  EXPECT_EQ(logs.scheduler, "none");
  EXPECT_EQ(logs.disk.target_dev, "vdd");
  const std::string file = BuildDiskXml(logs.disk);
  EXPECT_NE(file.find("<source file='/srv/slow/devshare-vm-1-logs.raw'/>"), std::string::npos)
      << file;
  EXPECT_NE(file.find("cache='none'"), std::string::npos);
  // The domain carries both after the boot disk(s).
  Result<DomainSpec> spec = PlanDomain(ph.request, ctx);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_NE(BuildDomainXml(*spec).find("protocol='nbd'"), std::string::npos);
}

TEST(PlanVolumesTest, RefusesWhatCannotBeRealized) {
  PoolHost ph = MakePoolHost();
  RealizationContext ctx;
  ctx.host = ph.host;
  // A QoS pool without a volume server.
  Result<std::vector<VolumePlan>> no_server = PlanVolumes(ph.request, ctx);
  EXPECT_EQ(no_server.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_server.status().message().find("runs no volume server"), std::string::npos);
  ctx.nbd_socket = "/x.sock";
  // A disk that is no pool (a discovered block device).
  ctx.host.devices.push_back(Device::Disk("sdb", "ssd", 100, 1000));
  GuestRequest raw = ph.request;
  raw.allocation.volumes[0].device_id = "sdb";
  Result<std::vector<VolumePlan>> not_pool = PlanVolumes(raw, ctx);
  EXPECT_EQ(not_pool.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(not_pool.status().message().find("no storage pool"), std::string::npos);
  GuestRequest unknown = ph.request;
  unknown.allocation.volumes[0].device_id = "nvme9";
  EXPECT_EQ(PlanVolumes(unknown, ctx).status().code(), StatusCode::kNotFound);
}

TEST(InventoryPoolsTest, PoolsReplaceDiscoveredDisksInTheInventory) {
  PoolHost ph = MakePoolHost();
  int disks = 0;
  for (const Device& d : ph.host.devices) {
    if (d.kind != DeviceKind::kDisk) continue;
    ++disks;
    EXPECT_FALSE(d.attributes.at(kAttrPoolDir).empty()) << d.id;
  }
  EXPECT_EQ(disks, 2);
}

}  // namespace
}  // namespace devshare::host

namespace devshare::host {
namespace {

// HostAgent on libvirt's test driver with a plain-file pool: the volume file is made at realize,
// the record lists it, removing the volume from the allocation (Update) deletes the file (the
// test driver cannot hot-plug: the definition is rewritten instead), Remove deletes the rest.
TEST(HostAgentVolumesTest, FilesFollowTheAllocation) {
  const fs::path root =
      fs::path(::testing::TempDir()) / ("agent-vol-" + std::to_string(::getpid()));
  const std::string pool_dir = (root / "pool").string();
  Result<std::unique_ptr<Hypervisor>> hv = OpenHypervisor("test:///default");
  ASSERT_TRUE(hv.ok()) << hv.status().ToString();
  DiscoveredHost found = testutil::DiscoverFixtureOrFail("gpu8");
  InventoryOptions o;
  StoragePool p = *ParsePoolFlag("plain:ssd:" + pool_dir + ",iops=100,mbps=10,capacity_gib=4," +
                                 "scheduler=none");
  p.origin = "declared";
  o.pools = {p};
  Result<HostInventory> inv = BuildInventory(found, o);
  ASSERT_TRUE(inv.ok());
  Result<server::HostSpec> spec = server::ParseHostSpec("h1", inv->body);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ApplyDeviceAttributes(*inv, spec->host);
  RealizationContext ctx;
  ctx.host = spec->host;
  ctx.runtime_dir = (root / "run").string();
  ctx.domain_prefix = "devshare-vt" + std::to_string(::getpid()) + "-";
  HostAgent agent(std::move(*hv), ctx);
  GuestRequest r;
  r.vm_id = "vm-v";
  r.allocation.cpu_milli = 1000;
  r.allocation.memory_mib = 128;
  DeviceSlice s;
  s.kind = DeviceKind::kDisk;
  s.device_id = "plain";
  s.name = "data";
  s.units = 1;
  r.allocation.volumes = {s, s};
  r.allocation.volumes[1].name = "more";
  Result<DomainStatus> made = agent.Realize(r);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const std::string domain = agent.DomainName("vm-v");
  const std::string data = VolumeFilePath(pool_dir, domain, "data");
  const std::string more = VolumeFilePath(pool_dir, domain, "more");
  EXPECT_EQ(fs::file_size(data), uint64_t{1} << 30);  // sparse, full size
  EXPECT_TRUE(fs::exists(more));
  ASSERT_EQ(agent.RealizedVolumes().size(), 2u);
  EXPECT_EQ(agent.RealizedVolumes()[0].name, "data");
  r.allocation.volumes.pop_back();
  r.allocation.volumes[0].units = 2;  // and grow the first
  Result<ResizeOutcome> up = agent.Update(r);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_FALSE(fs::exists(more));
  EXPECT_EQ(fs::file_size(data), uint64_t{2} << 30);
  ASSERT_EQ(agent.RealizedVolumes().size(), 1u);
  Result<std::string> xml = agent.hypervisor().DomainXml(domain);
  ASSERT_TRUE(xml.ok());
  EXPECT_EQ(xml->find("devshare-vm-v-more"), std::string::npos) << *xml;
  ASSERT_TRUE(agent.Remove("vm-v").ok());
  EXPECT_FALSE(fs::exists(data));
  EXPECT_TRUE(agent.RealizedVolumes().empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace devshare::host
