// HostState bookkeeping of NICs and disks: VFs exclusive, bandwidth and IOPS guarantees summed
// against the device's rate capacity, several volumes on one disk, whole vs shares, release.
#include <gtest/gtest.h>

#include "devshare/core/host_state.h"

namespace devshare {
namespace {

Host NicDiskHost() {
  Host h = Host::MakeGpuHost("h0", 16000, 32768, 1, "T4");
  h.devices.push_back(Device::Nic("nic0", "default", 2, 10000));  // device 1
  h.devices.push_back(Device::Disk("nvme0", "nvme", 100, 1000));  // device 2
  return h;
}

// A slice of device `device` (1 = nic0, 2 = nvme0) of `kind`.
DeviceSlice Slice(DeviceKind kind, int64_t units, int unit_index, int64_t rate) {
  DeviceSlice s;
  s.kind = kind;
  s.device = kind == DeviceKind::kNic ? 1 : 2;
  s.device_id = kind == DeviceKind::kNic ? "nic0" : "nvme0";
  s.units = units;
  s.unit_index = unit_index;
  s.rate = rate;
  return s;
}

DeviceSlice Vf(int vf, int64_t mbps) { return Slice(DeviceKind::kNic, 1, vf, mbps); }
DeviceSlice Virtio(int64_t mbps) { return Slice(DeviceKind::kNic, 0, -1, mbps); }
DeviceSlice Volume(int64_t gib, int64_t iops) { return Slice(DeviceKind::kDisk, gib, -1, iops); }

Allocation With(std::vector<DeviceSlice> nics, std::vector<DeviceSlice> volumes) {
  Allocation a;
  a.request_id = "r";
  a.cpu_milli = 1000;
  a.memory_mib = 1024;
  a.nics = std::move(nics);
  a.volumes = std::move(volumes);
  return a;
}

TEST(HostStateDevices, TracksVfsBandwidthGibAndIops) {
  Host host = NicDiskHost();
  HostState s(&host);
  ASSERT_EQ(s.unit_device_indices(), (std::vector<int>{1, 2}));
  EXPECT_EQ(s.device_free_units(1), 2);
  EXPECT_EQ(s.device_free_rate(1), 10000);
  ASSERT_TRUE(s.ApplyUnchecked(With({Vf(0, 4000), Virtio(1000)}, {Volume(60, 300)})).ok());
  EXPECT_EQ(s.device_free_units(1), 1);
  EXPECT_EQ(s.device_free_rate(1), 5000);
  EXPECT_EQ(s.FirstFreeUnit(1), 1);
  EXPECT_EQ(s.device_usage(1).shares, 2);
  EXPECT_EQ(s.device_free_units(2), 40);
  EXPECT_EQ(s.device_free_rate(2), 700);
}

TEST(HostStateDevices, RefusesOverCommitOfEachDimension) {
  Host host = NicDiskHost();
  HostState s(&host);
  ASSERT_TRUE(s.ApplyUnchecked(With({Vf(0, 0)}, {})).ok());
  const uint64_t gen = s.generation();
  // The same VF again, more bandwidth than the line rate, more GiB or IOPS than the disk has.
  EXPECT_EQ(s.ApplyUnchecked(With({Vf(0, 0)}, {})).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.ApplyUnchecked(With({Virtio(10001)}, {})).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.ApplyUnchecked(With({}, {Volume(101, 0)})).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.ApplyUnchecked(With({}, {Volume(1, 1001)})).code(), StatusCode::kResourceExhausted);
  // Two volumes that fit one by one but not together on the one disk.
  EXPECT_EQ(s.ApplyUnchecked(With({}, {Volume(60, 0), Volume(60, 0)})).code(),
            StatusCode::kResourceExhausted);
  // One allocation naming the same VF twice.
  EXPECT_TRUE(s.ApplyUnchecked(With({Vf(1, 0), Vf(1, 0)}, {})).IsInvalidArgument());
  EXPECT_EQ(s.generation(), gen) << "a refused allocation changes nothing";
  EXPECT_EQ(s.device_free_units(1), 1);
  EXPECT_EQ(s.device_free_units(2), 100);
}

TEST(HostStateDevices, WholeAndSharedNeverMix) {
  Host host = NicDiskHost();
  HostState s(&host);
  ASSERT_TRUE(s.ApplyUnchecked(With({}, {Volume(10, 0)})).ok());
  DeviceSlice whole = Volume(0, 0);
  whole.whole = true;
  EXPECT_EQ(s.ApplyUnchecked(With({}, {whole})).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s.Release(With({}, {Volume(10, 0)})).ok());
  ASSERT_TRUE(s.ApplyUnchecked(With({}, {whole})).ok());
  EXPECT_EQ(s.device_free_units(2), 0);
  EXPECT_EQ(s.ApplyUnchecked(With({}, {Volume(1, 0)})).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(s.Release(With({}, {whole})).ok());
  EXPECT_EQ(s.device_free_units(2), 100);
}

TEST(HostStateDevices, ReleaseRestoresAndRefusesWhatIsNotHeld) {
  Host host = NicDiskHost();
  HostState s(&host);
  const Allocation a = With({Vf(1, 2500)}, {Volume(30, 200)});
  ASSERT_TRUE(s.ApplyUnchecked(a).ok());
  EXPECT_EQ(s.Release(With({Vf(0, 0)}, {})).code(), StatusCode::kFailedPrecondition)
      << "VF 0 is free";
  ASSERT_TRUE(s.Release(a).ok());
  EXPECT_EQ(s.device_free_units(1), 2);
  EXPECT_EQ(s.device_free_rate(1), 10000);
  EXPECT_EQ(s.FirstFreeUnit(1), 0);
  EXPECT_EQ(s.device_free_units(2), 100);
  EXPECT_EQ(s.device_free_rate(2), 1000);
  EXPECT_EQ(s.Release(a).code(), StatusCode::kFailedPrecondition) << "released twice";
}

TEST(HostStateDevices, SliceMustNameADeviceOfItsKind) {
  Host host = NicDiskHost();
  HostState s(&host);
  DeviceSlice wrong = Volume(1, 0);
  wrong.device = 1;  // the NIC
  EXPECT_TRUE(s.ApplyUnchecked(With({}, {wrong})).IsInvalidArgument());
  DeviceSlice gpu = Vf(-1, 0);
  gpu.device = 0;  // the GPU
  EXPECT_TRUE(s.ApplyUnchecked(With({gpu}, {})).IsInvalidArgument());
}

}  // namespace
}  // namespace devshare
