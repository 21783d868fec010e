// The devshare policy's stranding measure (1.): per typical shape, the GPU milli a stream of
// copies of the shape could not use on a node, blended with FGD's F_n(m); the copy counts the
// prices count places with; and a per-host memo of the measure of the current host state.
// Thread-safety: free functions are pure; a StrandingMemo belongs to one policy (one thread).
#ifndef DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_STRANDING_H_
#define DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_STRANDING_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/device.h"
#include "devshare/core/host_state.h"
#include "devshare/core/request.h"
#include "devshare/placement/fragmentation.h"

namespace devshare::placement::devshare_policy {

inline constexpr double kFgdShare = 0.5;  // weight of FGD's F_n(m) in the per-shape stranding

// Whether shape m may run on a GPU of `model` (no models listed: any).
inline bool Accepts(const TaskShape& m, const std::string& model) {
  return m.models.empty() || std::find(m.models.begin(), m.models.end(), model) != m.models.end();
}

// GPUs with all their milli free.
inline int FullyFreeGpus(const std::vector<int32_t>& free) {
  int fully_free = 0;
  for (int32_t f : free) fully_free += f >= kMilliPerDevice ? 1 : 0;
  return fully_free;
}

// Copies of shape m a node with this free CPU/GPU can still host (GPU slots and CPU);
// `fully_free` = FullyFreeGpus(free). The model is not checked (see Accepts).
inline int64_t Copies(const TaskShape& m, int64_t cpu_free, const std::vector<int32_t>& free,
                      int fully_free) {
  int64_t copies = 0;
  if (m.gpu_milli < kMilliPerDevice) {
    for (int32_t f : free) copies += f / m.gpu_milli;
  } else {
    copies = fully_free / m.num_gpu;
  }
  if (m.cpu_milli > 0) copies = std::min<int64_t>(copies, cpu_free / m.cpu_milli);
  return std::max<int64_t>(copies, 0);
}

// Zeroes in `free` (a copy of h's free milli) the GPUs a whole-GPU request takes: the
// lowest-index fully free ones that fit it, as SelectGpusByRule picks them.
void TakeWholeGpus(const VmRequest& req, const HostState& h, std::vector<int32_t>* free);

// Per-shape stranding (milli, unweighted) of a node state into out[0..m.shapes().size()): all
// free milli for a CPU-only shape or one the model does not accept, else the mean (kFgdShare) of
// the milli copies of the shape leave unused and FGD's F_n(shape).
void Stranding(const TypicalPods& m, int64_t cpu_free, const std::vector<int32_t>& free,
               const std::string& model, float* out);

// Stranding of each host's current state, recomputed when the host's generation changed.
class StrandingMemo {
 public:
  // Stranding(m, state of h) for host `host_index`: m.shapes().size() values, valid until the
  // next call for this host or Clear(). REQUIRES: the same m since the last Clear().
  const float* Before(const TypicalPods& m, const HostState& h, int host_index);
  // Forgets every host (call when M changes or the cluster is another one).
  void Clear();

 private:
  std::vector<uint64_t> generation_;
  std::vector<float> values_;  // [host x k]
};

}  // namespace devshare::placement::devshare_policy

#endif  // DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_STRANDING_H_
