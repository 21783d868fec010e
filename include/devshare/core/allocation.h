// Allocation: the concrete result of placing one request: host, CPU/memory and device slices.
// Thread-safety: value type.
#ifndef DEVSHARE_CORE_ALLOCATION_H_
#define DEVSHARE_CORE_ALLOCATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/device.h"

namespace devshare {

// One piece of one device given to the request: {device, kind, amounts}. GPU slices carry
// milli or a partition; NIC and disk slices carry units of the device's inventory (a VF, GiB)
// and a guaranteed rate (Mbps, IOPS) counted against the device's rate capacity.
struct DeviceSlice {
  int gpu = -1;  // GPU ordinal on the host (index into Host::GpuDeviceIndices())
  std::string device_id;
  int64_t milli = 0;    // GPU: amount taken (1000 for a whole GPU)
  bool whole = false;   // the device is held whole (no sharing with anyone)
  std::string profile;  // GPU: partition profile when the device is partitioned
  int start_slot = -1;  // GPU: first memory slice of the partition instance
  // GPU framebuffer held, MiB: a share's ask (0 = not constrained), all of a whole GPU's, a
  // partition's part (informational for whole and partition: the device decides).
  int64_t memory_mib = 0;
  std::string vgpu;  // GPU: time-sliced vGPU profile of the share ("vgpu-8g"), "" for none

  DeviceKind kind = DeviceKind::kGpu;
  // NIC and disk slices (kind kNic / kDisk).
  int device = -1;         // index into Host::devices
  int64_t units = 0;       // NIC: 1 for a VF, 0 for a virtio share; disk: GiB
  int unit_index = -1;     // NIC: the VF index, -1 for a virtio share
  int64_t rate = 0;        // guaranteed rate: NIC bandwidth min (Mbps), volume IOPS reservation
  int64_t rate_limit = 0;  // cap, not counted: NIC bandwidth max, volume IOPS limit (0 = none)
  int64_t weight = 0;      // volume: mClock IOPS weight
  std::string name;        // NIC: network; volume: its name
  // NIC on a tenant network: the ledger's binding (network_id empty for a NIC on a provider
  // network, which is placed but gets no guest interface).
  std::string network_id;  // "net-<hex>"
  int64_t segment_id = 0;  // the network's VLAN / VXLAN id (1..4094)
  std::string mac;         // "52:54:00:xx:xx:xx", unique in the network
  std::string address;     // "10.1.0.5/24": the NIC's address and the network's prefix length
};

struct Allocation {
  std::string request_id;
  std::string tenant;
  int host_index = -1;
  std::string host_id;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  std::vector<DeviceSlice> gpus;
  std::vector<DeviceSlice> nics;     // one per VmRequest::nics entry, in its order
  std::vector<DeviceSlice> volumes;  // one per VmRequest::volumes entry, in its order
  uint64_t generation = 0;           // host generation the allocation was committed against

  int64_t GpuMilli() const {
    int64_t s = 0;
    for (const DeviceSlice& d : gpus) s += d.milli;
    return s;
  }
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_ALLOCATION_H_
