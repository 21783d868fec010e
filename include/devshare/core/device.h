// Device model: kinds, sharing modes, isolation classes, MIG-style partition geometry, Device.
// Thread-safety: immutable value types once built; share freely across threads.
#ifndef DEVSHARE_CORE_DEVICE_H_
#define DEVSHARE_CORE_DEVICE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/inventory.h"
#include "devshare/core/result.h"

namespace devshare {

enum class DeviceKind { kCpu, kMemory, kGpu, kNic, kDisk, kGeneric };
enum class SharingMode { kExclusive, kFractional, kPartitioned, kTimeSliced };
// Weakest first, so a floor comparison is `cls >= floor`.
enum class IsolationClass { kTimeSlice = 0, kMps = 1, kHypervisorSched = 2, kHwPartition = 3 };

std::string_view DeviceKindName(DeviceKind k);
std::string_view SharingModeName(SharingMode m);
std::string_view IsolationClassName(IsolationClass c);
Result<DeviceKind> ParseDeviceKind(std::string_view s);
Result<SharingMode> ParseSharingMode(std::string_view s);
Result<IsolationClass> ParseIsolationClass(std::string_view s);

// Units of one whole fractional device (GPU milli).
inline constexpr int kMilliPerDevice = 1000;

// One partition profile, e.g. MIG "3g.20gb": 3 compute slices, 4 memory slices, starts {0, 4}.
struct PartitionProfile {
  std::string name;
  int compute_slices = 0;
  int memory_slices = 0;
  std::vector<int> starts;  // allowed first memory slice of an instance
};

// Slot geometry of a partitionable device (see reference/qos.md §4.1).
struct PartitionGeometry {
  std::string name;
  int compute_slices = 7;
  int memory_slices = 8;
  std::vector<PartitionProfile> profiles;

  const PartitionProfile* Find(std::string_view profile) const;
  // NVIDIA A100-40GB MIG geometry: 1g.5gb, 1g.10gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb.
  static std::shared_ptr<const PartitionGeometry> A100_40GB();
};

struct Device {
  std::string id;  // unique within the host, e.g. "gpu3"
  DeviceKind kind = DeviceKind::kGpu;
  std::string generic_kind;  // name of a config-declared kind when kind == kGeneric
  SharingMode mode = SharingMode::kFractional;
  IsolationClass isolation = IsolationClass::kMps;  // what sharing this device offers
  std::string model;                                // e.g. "A100", "T4", "G2"
  int numa_node = 0;
  Inventory inventory = Inventory::Of(kMilliPerDevice);  // milli units for fractional devices
  std::shared_ptr<const PartitionGeometry> geometry;     // set iff mode == kPartitioned
  std::map<std::string, std::string> attributes;  // vendor, pci address, iommu group, tier, ...
  // NIC and disk: `inventory` counts the device's units (NIC: SR-IOV virtual functions, 0 =
  // none; disk: GiB), `rate_capacity` its guaranteed-rate capacity (NIC: line rate in Mbps,
  // disk: IOPS; 0 = not declared, so no guarantee fits).
  int64_t rate_capacity = 0;
  std::string network;  // NIC: the network it attaches guests to
  std::string tier;     // disk: nvme | ssd | hdd

  // OK if the device's fields agree with each other (e.g. partitioned has a geometry).
  Status Validate() const;

  // A NIC on `network` with `vfs` SR-IOV virtual functions (0 = none) and a line rate; shared
  // (VFs and virtio interfaces with bandwidth guarantees), isolation hw_partition.
  static Device Nic(std::string id, std::string network, int64_t vfs, int64_t line_rate_mbps);
  // A disk of `tier` with `capacity_gib` and `iops` (0 = undeclared: no reservation fits).
  static Device Disk(std::string id, std::string tier, int64_t capacity_gib, int64_t iops);
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_DEVICE_H_
