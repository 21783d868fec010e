// NICs and volumes through the whole framework: nic_fit / volume_fit filters, the nic and
// volume selectors, the reasons of unschedulable outcomes, and how least_utilized, best_fit and
// devshare score the new dimensions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/placement/framework.h"
#include "devshare/placement/registry.h"
#include "devshare/placement/volume_fit.h"
#include "tests/testutil/requests.h"

namespace devshare::placement {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Framework> Build(const std::string& policy) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = policy;
  // fgd and devshare need a workload: one shape, 4 CPUs and half a GPU.
  config.args.typical_pods = std::make_shared<const TypicalPods>(
      std::vector<WeightedShape>{testutil::Weighted(4000, 500, 1, 1.0)});
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << fw.status().ToString();
  return fw.ok() ? std::move(*fw) : nullptr;
}

// A host with no GPUs, `nics` and `disks`.
Host DeviceHost(std::string id, std::vector<Device> devices) {
  Host h = Host::MakeGpuHost(std::move(id), 64000, 262144, 0, "");
  h.devices = std::move(devices);
  return h;
}

ClusterState Cluster(std::vector<Host> hosts) {
  ClusterState c;
  c.hosts = std::move(hosts);
  c.Reset();
  return c;
}

VmRequest Vm(std::string id) {
  VmRequest r;
  r.id = std::move(id);
  r.cpu_milli = 1000;
  r.memory_mib = 1024;
  return r;
}

VmRequest WithNic(std::string id, bool vf, int64_t min_mbps, std::string network = "default") {
  VmRequest r = Vm(std::move(id));
  NicRequest n;
  n.network = std::move(network);
  n.vf = vf;
  n.bandwidth_min_mbps = min_mbps;
  r.nics.push_back(n);
  return r;
}

VmRequest WithVolume(std::string id, int64_t gib, std::string tier, int64_t iops = 0) {
  VmRequest r = Vm(std::move(id));
  VolumeRequest v;
  v.name = "data";
  v.size_gib = gib;
  v.tier = std::move(tier);
  v.iops_reservation = iops;
  r.volumes.push_back(v);
  return r;
}

PlacementOutcome Place(Framework& fw, const VmRequest& r, ClusterState& c) {
  Result<PlacementOutcome> out = fw.Schedule(r, c);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : PlacementOutcome{};
}

TEST(DeviceKinds, VfsAreExclusiveAndTheLastRefusalNamesTheNic) {
  auto fw = Build("first_fit");
  ClusterState c = Cluster({DeviceHost("h0", {Device::Nic("nic0", "default", 2, 10000)})});
  PlacementOutcome a = Place(*fw, WithNic("a", true, 0), c);
  PlacementOutcome b = Place(*fw, WithNic("b", true, 0), c);
  ASSERT_TRUE(a.placed() && b.placed());
  ASSERT_EQ(a.allocation.nics.size(), 1u);
  EXPECT_EQ(a.allocation.nics[0].device_id, "nic0");
  EXPECT_EQ(a.allocation.nics[0].unit_index, 0);
  EXPECT_EQ(b.allocation.nics[0].unit_index, 1);
  PlacementOutcome refused = Place(*fw, WithNic("c", true, 0), c);
  ASSERT_FALSE(refused.placed());
  ASSERT_EQ(refused.reasons.size(), 1u);
  EXPECT_EQ(refused.reasons[0].plugin, "nic_fit");
  EXPECT_EQ(refused.reasons[0].resource, "nic");
  EXPECT_THAT(refused.reasons[0].message, HasSubstr("nic: requested 1 VF, free 0 of 2 on nic0"));
  // A virtio interface needs no VF: it still fits.
  EXPECT_TRUE(Place(*fw, WithNic("d", false, 100), c).placed());
  // Releasing a VF makes it the next one given.
  ASSERT_TRUE(fw->Release(WithNic("a", true, 0), a.allocation, c).ok());
  PlacementOutcome e = Place(*fw, WithNic("e", true, 0), c);
  ASSERT_TRUE(e.placed());
  EXPECT_EQ(e.allocation.nics[0].unit_index, 0);
}

TEST(DeviceKinds, BandwidthGuaranteesSumToAtMostTheLineRate) {
  auto fw = Build("first_fit");
  ClusterState c = Cluster({DeviceHost("h0", {Device::Nic("nic0", "default", 0, 10000)})});
  ASSERT_TRUE(Place(*fw, WithNic("a", false, 6000), c).placed());
  PlacementOutcome refused = Place(*fw, WithNic("b", false, 5000), c);
  ASSERT_FALSE(refused.placed());
  EXPECT_THAT(refused.reasons[0].message,
              HasSubstr("nic: requested 5000 Mbps guaranteed, free 4000 of 10000 on nic0"));
  // The cap (max) is not summed: a request capped far above the line rate still fits.
  VmRequest capped = WithNic("c", false, 4000);
  capped.nics[0].bandwidth_max_mbps = 100000;
  EXPECT_TRUE(Place(*fw, capped, c).placed());
}

TEST(DeviceKinds, NetworksAndTiersMustMatch) {
  auto fw = Build("first_fit");
  ClusterState c = Cluster({DeviceHost(
      "h0", {Device::Nic("nic0", "default", 4, 10000), Device::Disk("ssd0", "ssd", 500, 5000)})});
  PlacementOutcome net = Place(*fw, WithNic("a", false, 0, "storage"), c);
  ASSERT_FALSE(net.placed());
  EXPECT_THAT(net.reasons[0].message, HasSubstr("nic: no NIC on network 'storage'"));
  PlacementOutcome tier = Place(*fw, WithVolume("b", 10, "nvme"), c);
  ASSERT_FALSE(tier.placed());
  EXPECT_EQ(tier.reasons[0].plugin, "volume_fit");
  EXPECT_THAT(tier.reasons[0].message, HasSubstr("tier nvme requested 10 GiB, no nvme disk"));
}

TEST(DeviceKinds, VolumeCapacityAndIopsPerTier) {
  auto fw = Build("first_fit");
  ClusterState c = Cluster({DeviceHost("h0", {Device::Disk("nvme0", "nvme", 100, 1000)})});
  ASSERT_TRUE(Place(*fw, WithVolume("a", 80, "nvme", 600), c).placed());
  PlacementOutcome gib = Place(*fw, WithVolume("b", 50, "nvme"), c);
  ASSERT_FALSE(gib.placed());
  EXPECT_THAT(gib.reasons[0].message, HasSubstr("volume: tier nvme requested 50 GiB, free 20 GiB"));
  PlacementOutcome iops = Place(*fw, WithVolume("c", 10, "nvme", 500), c);
  ASSERT_FALSE(iops.placed());
  EXPECT_THAT(
      iops.reasons[0].message,
      HasSubstr("volume: tier nvme requested 500 IOPS reserved, free 400 of 1000 on nvme0"));
  EXPECT_TRUE(Place(*fw, WithVolume("d", 20, "nvme", 400), c).placed());
}

// FitVolumes: the volume_fit choice and numbers for volumes added to one given host.
TEST(DeviceKinds, FitVolumesOnOneHostGivesTheDiskOrTheShortfall) {
  ClusterState c = Cluster({DeviceHost(
      "h0", {Device::Disk("nvme0", "nvme", 100, 1000), Device::Disk("nvme1", "nvme", 40, 1000),
             Device::Disk("ssd0", "ssd", 500, 5000)})});
  const HostState& h = c.states[0];
  auto volume = [](std::string tier, int64_t gib, int64_t iops) {
    VolumeRequest v;
    v.name = "v";
    v.tier = std::move(tier);
    v.size_gib = gib;
    v.iops_reservation = iops;
    return v;
  };
  VolumeFit best = FitVolumes({volume("nvme", 30, 100)}, h);
  ASSERT_TRUE(best.ok()) << best.message;
  EXPECT_EQ(best.slices[0].device_id, "nvme1") << "best fit: least GiB left";
  EXPECT_EQ(best.slices[0].rate, 100);
  struct Case {
    VolumeRequest v;
    std::string resource, device;
    int64_t requested, free, capacity;
    int disks;
    std::string message;
  } cases[] = {
      {volume("hdd", 10, 0), "disk_gib", "", 10, 0, 0, 0,
       "volume: tier hdd requested 10 GiB, no hdd disk"},
      {volume("nvme", 120, 0), "disk_gib", "nvme0", 120, 100, 100, 2,
       "volume: tier nvme requested 120 GiB, free 100 GiB (largest of 2 nvme disks)"},
      {volume("ssd", 10, 6000), "disk_iops", "ssd0", 6000, 5000, 5000, 1,
       "volume: tier ssd requested 6000 IOPS reserved, free 5000 of 5000 on ssd0"},
  };
  for (const Case& want : cases) {
    VolumeFit got = FitVolumes({want.v}, h);
    SCOPED_TRACE(want.message);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.failed, 0);
    EXPECT_EQ(got.message, want.message);
    EXPECT_EQ(got.resource, want.resource);
    EXPECT_EQ(got.device, want.device);
    EXPECT_EQ(got.requested, want.requested);
    EXPECT_EQ(got.free, want.free);
    EXPECT_EQ(got.capacity, want.capacity);
    EXPECT_EQ(got.disks_of_tier, want.disks);
  }
}

TEST(DeviceKinds, TwoVolumesOfOneRequestAreCountedTogether) {
  auto fw = Build("first_fit");
  ClusterState c = Cluster({DeviceHost("h0", {Device::Disk("nvme0", "nvme", 100, 0)}),
                            DeviceHost("h1", {Device::Disk("nvme0", "nvme", 100, 0),
                                              Device::Disk("nvme1", "nvme", 100, 0)})});
  VmRequest two = WithVolume("a", 60, "nvme");
  two.volumes.push_back(two.volumes[0]);
  two.volumes[1].name = "logs";
  PlacementOutcome out = Place(*fw, two, c);
  ASSERT_TRUE(out.placed());
  EXPECT_EQ(out.allocation.host_id, "h1") << "60 + 60 GiB do not fit one 100 GiB disk";
  ASSERT_EQ(out.allocation.volumes.size(), 2u);
  EXPECT_NE(out.allocation.volumes[0].device_id, out.allocation.volumes[1].device_id);
  EXPECT_EQ(out.allocation.volumes[1].name, "logs");
}

TEST(DeviceKinds, SelectorsFitBestAndKeepVfsForThoseWhoNeedThem) {
  auto fw = Build("first_fit");
  ClusterState c = Cluster({DeviceHost(
      "h0", {Device::Nic("sriov0", "default", 8, 25000), Device::Nic("plain0", "default", 0, 10000),
             Device::Disk("big", "ssd", 1000, 0), Device::Disk("small", "ssd", 100, 0)})});
  PlacementOutcome virtio = Place(*fw, WithNic("a", false, 1000), c);
  ASSERT_TRUE(virtio.placed());
  EXPECT_EQ(virtio.allocation.nics[0].device_id, "plain0");
  PlacementOutcome vf = Place(*fw, WithNic("b", true, 1000), c);
  ASSERT_TRUE(vf.placed());
  EXPECT_EQ(vf.allocation.nics[0].device_id, "sriov0");
  PlacementOutcome vol = Place(*fw, WithVolume("c", 80, "ssd"), c);
  ASSERT_TRUE(vol.placed());
  EXPECT_EQ(vol.allocation.volumes[0].device_id, "small") << "best fit: least GiB left";
  PlacementOutcome big = Place(*fw, WithVolume("d", 80, "ssd"), c);
  ASSERT_TRUE(big.placed());
  EXPECT_EQ(big.allocation.volumes[0].device_id, "big");
}

TEST(DeviceKinds, LeastUtilizedSpreadsAndBestFitAndDevsharePackByTier) {
  for (const std::string policy : {"least_utilized", "best_fit", "devshare"}) {
    auto fw = Build(policy);
    ClusterState c = Cluster({DeviceHost("h0", {Device::Disk("nvme0", "nvme", 1000, 0)}),
                              DeviceHost("h1", {Device::Disk("nvme0", "nvme", 1000, 0)})});
    // h1's disk is already half full (CPU and memory equal on both hosts after this).
    VmRequest filler = WithVolume("f", 500, "nvme");
    filler.cpu_milli = 0;
    filler.memory_mib = 0;
    Allocation a;
    a.request_id = "f";
    a.host_index = 1;
    a.host_id = "h1";
    DeviceSlice s;
    s.kind = DeviceKind::kDisk;
    s.device = 0;
    s.device_id = "nvme0";
    s.units = 500;
    a.volumes.push_back(s);
    ASSERT_TRUE(c.states[1].ApplyUnchecked(a).ok());
    PlacementOutcome out = Place(*fw, WithVolume("v", 100, "nvme"), c);
    ASSERT_TRUE(out.placed());
    EXPECT_EQ(out.allocation.host_id, policy == "least_utilized" ? "h0" : "h1") << policy;
  }
}

TEST(DeviceKinds, EveryPolicyPlacesNicsAndVolumes) {
  for (const std::string& policy :
       {"first_fit", "random", "least_utilized", "best_fit", "dot_product", "gpu_packing",
        "gpu_clustering", "fgd", "devshare"}) {
    auto fw = Build(policy);
    ClusterState c = Cluster({DeviceHost(
        "h0", {Device::Nic("nic0", "default", 1, 1000), Device::Disk("hdd0", "hdd", 100, 100)})});
    VmRequest r = WithNic("a", true, 1000);
    r.volumes = WithVolume("a", 100, "hdd", 100).volumes;
    PlacementOutcome out = Place(*fw, r, c);
    ASSERT_TRUE(out.placed()) << policy << ": " << out.Summary(1);
    EXPECT_EQ(out.allocation.nics.size(), 1u);
    EXPECT_EQ(out.allocation.volumes.size(), 1u);
    EXPECT_FALSE(Place(*fw, r, c).placed()) << policy << ": the host is full";
  }
}

}  // namespace
}  // namespace devshare::placement
