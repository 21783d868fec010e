// Device-level predicates and GPU selection rules shared by filters and score plugins: which GPU
// may take (part of) a request, and the classic best/first/worst-fit GPU choices.
// Thread-safety: pure functions.
#ifndef DEVSHARE_PLACEMENT_DEVICE_MATCH_H_
#define DEVSHARE_PLACEMENT_DEVICE_MATCH_H_

#include <algorithm>
#include <string>

#include "devshare/core/host_state.h"
#include "devshare/core/random.h"
#include "devshare/core/request.h"
#include "devshare/placement/framework.h"

namespace devshare::placement {

// Model, isolation floor and tenant mixing: may GPU g serve `req` at all (ignoring capacity)?
inline bool GpuUsableBy(const VmRequest& req, const HostState& h, int g) {
  const Device& d = h.gpu_device(g);
  if (!req.gpu.models.empty() && !req.gpu.AcceptsModel(d.model)) return false;
  if (req.gpu.IsWhole()) return true;  // a whole device is shared with nobody
  IsolationClass offered =
      d.mode == SharingMode::kPartitioned ? IsolationClass::kHwPartition : d.isolation;
  if (req.isolation_floor && offered < *req.isolation_floor) return false;
  if (!req.tenant.empty() && offered < IsolationClass::kHwPartition) {
    for (const std::string& t : h.gpu_usage(g).tenants) {
      if (t != req.tenant) return false;  // two tenants never share below hw_partition
    }
  }
  return true;
}

// Milli a share takes on GPU g: the request's, or for a vGPU profile 1000 / the instances of
// it that fit the GPU's memory (-1 when the GPU does not offer the profile).
inline int ShareMilliOnGpu(const VmRequest& req, const HostState& h, int g) {
  if (req.gpu.vgpu.empty()) return req.gpu.milli;
  return VgpuMilli(req.gpu.memory_mib, h.gpu_device(g).memory_mib);
}

// A share fits GPU g if its milli and its GPU memory fit (and a vGPU profile may join the GPU).
inline bool GpuFitsShare(const VmRequest& req, const HostState& h, int g) {
  const Device& d = h.gpu_device(g);
  if (d.mode != SharingMode::kFractional && d.mode != SharingMode::kTimeSliced) return false;
  const int milli = ShareMilliOnGpu(req, h, g);
  if (milli < 0 || h.gpu_free_milli()[g] < milli || h.gpu_usage(g).whole) return false;
  if ((req.gpu.memory_mib > 0 || h.gpu_usage(g).vgpu_shares > 0) &&
      h.GpuShareMemoryFit(g, req.gpu.memory_mib, req.gpu.vgpu) != GpuMemoryFit::kFits) {
    return false;
  }
  return GpuUsableBy(req, h, g);
}

// A whole GPU fits if it is fully free and, when the request names a least memory, has it
// (a GPU of unknown memory is not constrained).
inline bool GpuFitsWhole(const VmRequest& req, const HostState& h, int g) {
  if (req.gpu.memory_mib > 0) {
    const int64_t cap = h.gpu_memory_capacity_mib(g);
    if (cap > 0 && cap < req.gpu.memory_mib) return false;
  }
  return h.gpu_fully_free(g) && GpuUsableBy(req, h, g);
}

// Start slot of req's partition profile on GPU g, or -1.
inline int GpuPartitionStart(const VmRequest& req, const HostState& h, int g) {
  const Device& d = h.gpu_device(g);
  if (d.mode != SharingMode::kPartitioned || !GpuUsableBy(req, h, g)) return -1;
  const PartitionProfile* p = d.geometry->Find(req.gpu.profile);
  return p == nullptr ? -1 : h.FindPartitionStart(g, *p);
}

// Milli of GPU capacity a partition profile takes on GPU g (compute share).
inline int PartitionMilli(const VmRequest& req, const HostState& h, int g) {
  const Device& d = h.gpu_device(g);
  const PartitionProfile* p = d.geometry ? d.geometry->Find(req.gpu.profile) : nullptr;
  if (p == nullptr) return 0;
  return kMilliPerDevice * p->compute_slices / d.geometry->compute_slices;
}

// Key of what a request asks for (cpu, GPU count x milli, profile, models): score caches of
// policies whose scores depend only on this and the host state are keyed by it.
inline std::string RequestShapeKey(const VmRequest& req) {
  std::string key = std::to_string(req.cpu_milli) + "/" + std::to_string(req.gpu.count) + "/" +
                    std::to_string(req.gpu.milli) + "/" + req.gpu.profile;
  for (const std::string& m : req.gpu.models) key += "/" + m;
  if (req.gpu.memory_mib > 0) key += "/mem" + std::to_string(req.gpu.memory_mib) + req.gpu.vgpu;
  return key;
}

// Milli a shared or partition request would take on GPU g, or -1 if g cannot take it now.
inline int MilliOnGpu(const VmRequest& req, const HostState& h, int g) {
  if (req.gpu.IsPartition()) {
    return GpuPartitionStart(req, h, g) < 0 ? -1 : PartitionMilli(req, h, g);
  }
  return GpuFitsShare(req, h, g) ? ShareMilliOnGpu(req, h, g) : -1;
}

// The GpuChoice of one shared or partition request placed on GPU `gpu` (empty if gpu < 0).
inline GpuChoice ChoiceOnGpu(const VmRequest& req, const HostState& h, int gpu) {
  GpuChoice c;
  if (gpu < 0) return c;
  c.gpus.push_back(gpu);
  if (req.gpu.IsPartition()) c.start_slot = GpuPartitionStart(req, h, gpu);
  return c;
}

enum class FitRule { kBest, kFirst, kWorst };

// Chooses GPUs by rule: share/partition -> one GPU (least free for kBest, lowest index for
// kFirst, most free for kWorst; first index on ties); whole -> the lowest-index fully free GPUs
// (kWorst as well, whole GPUs are interchangeable). Empty choice if nothing fits.
GpuChoice SelectGpusByRule(const VmRequest& req, const HostState& h, FitRule rule);
// Uniformly random fitting GPU for shares; lowest-index fully free GPUs for whole requests.
GpuChoice SelectGpusRandomly(const VmRequest& req, const HostState& h, Random& random);

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_DEVICE_MATCH_H_
