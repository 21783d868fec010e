// Requests and tenants: what a VM (or trace pod) asks for, and who asks.
// Thread-safety: value types; no internal synchronisation.
#ifndef DEVSHARE_CORE_REQUEST_H_
#define DEVSHARE_CORE_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devshare/core/device.h"
#include "devshare/core/status.h"

namespace devshare {

struct Tenant {
  std::string id;
  std::string name;
  // The weakest isolation this tenant's VMs may run under (none = any).
  std::optional<IsolationClass> isolation_floor;
};

// GPU part of a request: `count` GPUs of `milli` each (1000 = whole), or one partition `profile`,
// or one time-sliced vGPU `vgpu` profile. GPU memory: a share asks `memory_mib` of one GPU's
// framebuffer (0 = not constrained); a whole GPU takes all of its memory (`memory_mib` is then
// the least memory each GPU must have); a partition takes its profile's; a vGPU its profile's.
struct GpuRequest {
  int count = 0;
  int milli = 0;        // per GPU; < 1000 only when count == 1 (sharing); 0 for a vGPU profile
  std::string profile;  // partition profile, e.g. "3g.20gb"; then count == 1, milli ignored
  // vGPU framebuffer profile "vgpu-<N>g" (device.h): then count == 1, milli 0 (the GPU's share
  // is 1000 / instances that fit it), memory_mib = N GiB. A share (IsShare()).
  std::string vgpu;
  int64_t memory_mib = 0;           // per GPU framebuffer, MiB (see above)
  std::vector<std::string> models;  // acceptable models; empty = any

  bool Any() const { return count > 0; }
  bool IsVgpu() const { return !vgpu.empty(); }
  bool IsShare() const { return count == 1 && profile.empty() && milli < kMilliPerDevice; }
  bool IsPartition() const { return count == 1 && !profile.empty(); }
  bool IsWhole() const { return count > 0 && profile.empty() && milli >= kMilliPerDevice; }
  int64_t TotalMilli() const { return static_cast<int64_t>(count) * milli; }
  bool AcceptsModel(const std::string& model) const;
};

// Volume storage tiers, fastest first.
inline constexpr const char* kStorageTiers[] = {"nvme", "ssd", "hdd"};
bool IsStorageTier(const std::string& tier);

// One network interface: on `network`, with a bandwidth guarantee (`min`, summed against the
// NIC's line rate) and cap (`max`, 0 = the line rate); `vf` asks for an SR-IOV virtual function
// (exclusive), otherwise a virtio interface sharing the NIC.
struct NicRequest {
  std::string network = "default";
  int64_t bandwidth_min_mbps = 0;
  int64_t bandwidth_max_mbps = 0;
  bool vf = false;
  std::string address;  // tenant network: the IPv4 address asked for ("" = the ledger picks)
};

// One volume of `size_gib` on a disk of `tier`, with mClock IOPS terms: `iops_reservation`
// (summed against the disk's declared IOPS), `iops_weight` (share of the spare) and `iops_limit`
// (cap, 0 = none).
struct VolumeRequest {
  std::string name;
  int64_t size_gib = 0;
  std::string tier;
  int64_t iops_reservation = 0;
  int64_t iops_weight = 1;
  int64_t iops_limit = 0;
};

// A host the control plane closes to new VMs, and why ("cordoned", "draining", "unreachable").
struct ClosedHost {
  std::string host_id;
  std::string why;
};

struct VmRequest {
  std::string id;
  std::string tenant;  // empty = no tenant (simulation)
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  GpuRequest gpu;
  std::optional<IsolationClass> isolation_floor;
  std::vector<std::string> required_traits;
  std::vector<std::string> forbidden_traits;
  // Hosts this request must not use (anti-affinity: they hold a VM of the same group).
  std::vector<std::string> avoid_host_ids;
  // Hosts closed to new VMs (filter host_open); empty in simulation.
  std::vector<ClosedHost> closed_hosts;
  std::vector<NicRequest> nics;
  std::vector<VolumeRequest> volumes;

  bool HasDevicesBeyondGpus() const { return !nics.empty() || !volumes.empty(); }

  // OK if amounts are in range: non-negative, GPU milli in 1..1000 (0 with a vGPU profile),
  // multi-GPU requests whole, gpu.memory_mib >= 0 and not given with a partition profile, a
  // vGPU profile well formed with count 1 and its memory;
  // NIC bandwidth min <= max (max 0 = uncapped); volumes named uniquely, size > 0, known tier,
  // IOPS reservation <= limit (limit 0 = none), weight >= 1. Messages name the field
  // (`nics[0].bandwidth_mbps.min`, `volumes[1].tier`).
  Status Validate() const;
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_REQUEST_H_
