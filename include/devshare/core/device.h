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

// One partition profile, e.g. MIG "3g.20gb": 3 compute slices, 4 memory slices, starts {0, 4},
// 20 GiB of framebuffer (the name's nominal size; the GPU's own memory_mib, when known, is what
// the ledger counts: memory_slices / 8 of it).
struct PartitionProfile {
  std::string name;
  int compute_slices = 0;
  int memory_slices = 0;
  std::vector<int> starts;  // allowed first memory slice of an instance
  int64_t memory_mib = 0;   // nominal framebuffer of an instance
  // Largest number of instances NVIDIA's table allows on one GPU (derivable from the
  // placements and compute slices; kept as data so the tables are checkable).
  int max_instances = 0;
};

// Slot geometry of a partitionable device (see reference/qos.md §4.1).
struct PartitionGeometry {
  std::string name;
  int compute_slices = 7;
  int memory_slices = 8;
  std::vector<PartitionProfile> profiles;

  const PartitionProfile* Find(std::string_view profile) const;
  // NVIDIA MIG geometries (reference/qos.md §4.1; NVIDIA MIG user guide "Supported MIG
  // Profiles"). A100-40GB: 1g.5gb x7, 1g.10gb x4, 2g.10gb x3, 3g.20gb x2, 4g.20gb, 7g.40gb.
  static std::shared_ptr<const PartitionGeometry> A100_40GB();
  // A100-80GB: the same placements with doubled memory: 1g.10gb x7, 1g.20gb x4, 2g.20gb x3,
  // 3g.40gb x2, 4g.40gb, 7g.80gb.
  static std::shared_ptr<const PartitionGeometry> A100_80GB();
  // H100-80GB: the A100-80GB profile set and placements (H100 has more SMs per slice).
  static std::shared_ptr<const PartitionGeometry> H100_80GB();
  // By stable name ("A100_40GB", "A100_80GB", "H100_80GB"); null when unknown.
  static std::shared_ptr<const PartitionGeometry> ByName(std::string_view name);
  // The MIG geometry of a GPU model name ("A100", "A100-40GB", "A100-80GB", "H100", "H100-80GB",
  // "H800"); null for a model without MIG or unknown.
  static std::shared_ptr<const PartitionGeometry> ForModel(std::string_view model);
  // The names ByName knows, comma separated (for error messages).
  static std::string KnownNames();
};

// Framebuffer of a GPU model in MiB from the published sizes (A100 40 GiB, A100-80GB 80 GiB,
// H100 80 GiB, T4 16 GiB, A10 24 GiB, ...); 0 = unknown model (memory not constrained).
int64_t GpuModelMemoryMib(std::string_view model);

// Time-sliced vGPU framebuffer profiles, like NVIDIA's C-series types (A100-8C = 8 GB): named
// "vgpu-<N>g" (N GiB per vGPU). A GPU offers a profile when its memory is in the table of
// reference/qos.md §4.2 (16 GiB: 4/8/16; 24 GiB: 4/6/8/12/24; 40 GiB: 4/5/8/10/20/40; 48 GiB:
// 4/6/8/12/16/24/48; 80 GiB: 4/8/10/16/20/40/80). Up to floor(GPU memory / profile memory)
// instances fit a GPU, each with 1/that of its compute (NVIDIA's Fixed Share scheduler).
// By default all vGPUs on one GPU are of one profile (Device::vgpu_mixed_sizes lifts that).
// Framebuffer of a profile name in MiB; InvalidArgument for a malformed name.
Result<int64_t> ParseVgpuProfile(std::string_view name);
std::string VgpuProfileName(int64_t memory_mib);
// True if a GPU of `gpu_memory_mib` offers the profile of `profile_mib`.
bool GpuOffersVgpu(int64_t gpu_memory_mib, int64_t profile_mib);
// The profiles a GPU of `gpu_memory_mib` offers, comma separated ("" = none).
std::string VgpuProfilesOffered(int64_t gpu_memory_mib);
// Compute share of one vGPU of `profile_mib` on a GPU of `gpu_memory_mib`: 1000 / max instances;
// -1 if the GPU does not offer the profile.
int VgpuMilli(int64_t profile_mib, int64_t gpu_memory_mib);

struct Device {
  std::string id;  // unique within the host, e.g. "gpu3"
  DeviceKind kind = DeviceKind::kGpu;
  std::string generic_kind;  // name of a config-declared kind when kind == kGeneric
  SharingMode mode = SharingMode::kFractional;
  IsolationClass isolation = IsolationClass::kMps;  // what sharing this device offers
  std::string model;                                // e.g. "A100", "T4", "G2"
  // GPU framebuffer in MiB; 0 = unknown, and then GPU memory is not constrained on it.
  int64_t memory_mib = 0;
  // GPU (time-sliced): vGPU profiles of different sizes may share it (NVML
  // HETEROGENEOUS_TIMESLICE_SIZES, vSphere "mixedSize"); false = one profile per GPU.
  bool vgpu_mixed_sizes = false;
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
