// HostState: the mutable usage of one Host (free CPU, memory, per-GPU free milli, partitions,
// tenants per device, per-NIC VFs and bandwidth, per-disk GiB and IOPS) with a generation bumped
// by every change. ClusterState: all hosts.
// Thread-safety: not thread-safe; one owner mutates (a simulator run, or the store transaction).
#ifndef DEVSHARE_CORE_HOST_STATE_H_
#define DEVSHARE_CORE_HOST_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host.h"
#include "devshare/core/status.h"

namespace devshare {

struct PartitionInstance {
  int start = 0;
  int memory_slices = 0;
  int compute_slices = 0;
};

// Usage of one GPU. Invariant: `whole` and (shares > 0 || !partitions.empty()) never both hold;
// used_memory_mib <= the device's memory_mib when that is known (> 0); vgpu_shares <= shares and
// a GPU holding vGPU shares holds no free-size share.
struct GpuUsage {
  int64_t used_milli = 0;
  bool whole = false;
  int shares = 0;
  std::vector<PartitionInstance> partitions;
  std::vector<std::string> tenants;  // tenants holding shares or partitions, with repeats
  int64_t used_memory_mib = 0;       // framebuffer held: shares' asks, partitions', whole: all
  int vgpu_shares = 0;               // shares that are vGPU profiles
  std::string vgpu;                  // the profile of the first vGPU share held ("" = none)
};

// Whether a GPU share's memory (and vGPU profile) fits one GPU now, and why not.
enum class GpuMemoryFit {
  kFits,
  kMemoryFull,           // used + asked > the GPU's memory
  kVgpuNotOffered,       // the GPU's memory is unknown or has no such profile (reference §4.2)
  kVgpuNeedsTimeSliced,  // vGPU profiles live on time-sliced GPUs only
  kVgpuMixed,            // another profile (or a free-size share) holds the GPU: one size per GPU
};

// Framebuffer a partition of `p` takes on partitioned GPU `d`: memory_slices / slices of the
// GPU's memory when known, the profile's nominal size otherwise.
int64_t PartitionMemoryMib(const Device& d, const PartitionProfile& p);

// Usage of one NIC or disk. Invariant: `whole` and shares > 0 never both hold.
struct DeviceUsage {
  bool whole = false;
  int shares = 0;                 // slices held: VFs, virtio shares, volumes
  int64_t used_units = 0;         // VFs (NIC) or GiB (disk)
  int64_t used_rate = 0;          // guaranteed Mbps (NIC) or reserved IOPS (disk)
  std::vector<bool> units_taken;  // NIC: VF index -> taken
};

class HostState {
 public:
  // REQUIRES: host outlives this object.
  explicit HostState(const Host* host);

  const Host& host() const { return *host_; }
  // Points the state at a moved copy of its host (ClusterState::AddHost after the host vector
  // grew). REQUIRES: *host equals the host this state was built from.
  void RebindHost(const Host* host) { host_ = host; }
  uint64_t generation() const { return generation_; }
  int64_t cpu_capacity_milli() const { return cpu_capacity_milli_; }
  int64_t memory_capacity_mib() const { return memory_capacity_mib_; }
  int64_t cpu_free_milli() const { return cpu_capacity_milli_ - cpu_used_milli_; }
  int64_t memory_free_mib() const { return memory_capacity_mib_ - memory_used_mib_; }

  int gpu_count() const { return static_cast<int>(gpu_free_.size()); }
  // Free milli of each GPU by ordinal (0 for a GPU held whole; partitioned: free compute share).
  const std::vector<int32_t>& gpu_free_milli() const { return gpu_free_; }
  int64_t gpu_free_total_milli() const { return gpu_free_total_; }
  int64_t gpu_capacity_total_milli() const { return gpu_capacity_total_; }
  const Device& gpu_device(int g) const { return host_->devices[gpu_index_[g]]; }
  const GpuUsage& gpu_usage(int g) const { return gpu_usage_[g]; }
  // Model of GPU 0 ("" without GPUs); openb hosts carry one model per host.
  const std::string& gpu_model() const { return gpu_model_; }
  bool gpu_fully_free(int g) const { return gpu_usage_[g].used_milli == 0; }
  // Largest free milli of any GPU, and the number of fully free GPUs (kept current).
  int32_t max_gpu_free_milli() const { return max_gpu_free_; }
  int fully_free_gpus() const { return fully_free_gpus_; }
  // True if every GPU is fractional and of gpu_model(): then per-host summaries decide fit.
  bool uniform_fractional_gpus() const { return uniform_fractional_; }

  // NICs and disks: indices into host().devices, in device order.
  const std::vector<int>& unit_device_indices() const { return unit_devices_; }
  // Usage of NIC/disk `device` (index into host().devices). REQUIRES: its kind is nic or disk.
  const DeviceUsage& device_usage(int device) const { return usage_[slot_of_[device]]; }
  int64_t device_free_units(int device) const {
    const DeviceUsage& u = device_usage(device);
    return u.whole ? 0 : host_->devices[device].inventory.Capacity() - u.used_units;
  }
  int64_t device_free_rate(int device) const {
    const DeviceUsage& u = device_usage(device);
    return u.whole ? 0 : host_->devices[device].rate_capacity - u.used_rate;
  }
  // Lowest free unit index of NIC `device` (a free VF), or -1.
  int FirstFreeUnit(int device) const;

  // GPU g's framebuffer (0 = unknown: not constrained) and what of it is free (when known).
  int64_t gpu_memory_capacity_mib(int g) const { return gpu_device(g).memory_mib; }
  int64_t gpu_free_memory_mib(int g) const {
    return gpu_device(g).memory_mib - gpu_usage_[g].used_memory_mib;
  }
  // Would a share of `memory_mib` (vGPU profile `vgpu`, "" = free-size) fit GPU g's memory and
  // the one-profile-per-GPU rule now? Milli, whole use and tenants are checked elsewhere.
  GpuMemoryFit GpuShareMemoryFit(int g, int64_t memory_mib, const std::string& vgpu) const {
    const GpuUsage& u = gpu_usage_[g];
    if (!vgpu.empty() || u.vgpu_shares > 0) {
      GpuMemoryFit f = VgpuFit(g, memory_mib, vgpu);
      if (f != GpuMemoryFit::kFits) return f;
    }
    const int64_t cap = gpu_device(g).memory_mib;
    if (cap > 0 && u.used_memory_mib + memory_mib > cap) return GpuMemoryFit::kMemoryFull;
    return GpuMemoryFit::kFits;
  }

  // First memory slice where `profile` fits on GPU g now, or -1 (MIG interval packing).
  int FindPartitionStart(int g, const PartitionProfile& profile) const;

  // Commits `a` (cpu, memory, each device slice). Fails with ResourceExhausted when something
  // does not fit, FailedPrecondition when whole and shared use would mix, and Aborted when
  // a.generation != generation() (stale decision). On failure nothing changes.
  Status Apply(const Allocation& a);
  // Apply without the generation compare (simulator fast path; same capacity checks).
  Status ApplyUnchecked(const Allocation& a);
  // Undoes a previously applied allocation. Fails with FailedPrecondition if it was not applied.
  Status Release(const Allocation& a);

 private:
  Status CheckSlice(const DeviceSlice& s) const;
  GpuMemoryFit VgpuFit(int g, int64_t memory_mib, const std::string& vgpu) const;
  // Checks the NIC and disk slices of `a` together (several volumes may share one disk).
  Status CheckUnitSlices(const Allocation& a) const;
  void ApplyUnitSlice(const DeviceSlice& s);
  Status CheckUnitRelease(const DeviceSlice& s, const std::string& request_id) const;
  void ReleaseUnitSlice(const DeviceSlice& s);
  void RefreshSummaries();

  const Host* host_;
  uint64_t generation_ = 0;
  int64_t cpu_capacity_milli_;
  int64_t memory_capacity_mib_;
  int64_t cpu_used_milli_ = 0;
  int64_t memory_used_mib_ = 0;
  std::vector<int> gpu_index_;
  std::vector<int32_t> gpu_free_;
  std::vector<GpuUsage> gpu_usage_;
  int64_t gpu_free_total_ = 0;
  int64_t gpu_capacity_total_ = 0;
  std::string gpu_model_;
  int32_t max_gpu_free_ = 0;
  int fully_free_gpus_ = 0;
  bool uniform_fractional_ = true;
  std::vector<int> unit_devices_;  // NICs and disks
  std::vector<int> slot_of_;       // device index -> index into usage_ (-1: not a unit device)
  std::vector<DeviceUsage> usage_;
};

// The cluster: hosts in placement order (index = node rank; lower wins ties) and their states.
struct ClusterState {
  std::vector<Host> hosts;
  std::vector<HostState> states;

  // Rebuilds `states` from `hosts` (all free). Call after changing `hosts`.
  void Reset();
  // Appends a host with a fresh state, keeping every other state (allocations, generations):
  // amortised O(1), unlike changing `hosts` and calling Reset().
  void AddHost(Host host);
  int64_t GpuCapacityMilli() const;
  int64_t GpuUsedMilli() const;
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_HOST_STATE_H_
