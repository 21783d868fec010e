// The devshare policy's use of the share-packing prices (6., share_packing.h): the LP over M's
// one-GPU shared shapes, and the weighted packing loss each candidate placement pays.
// Thread-safety: a PackingPrices belongs to one policy (one thread: Loss uses a scratch buffer).
#ifndef DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_PACKING_PRICES_H_
#define DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_PACKING_PRICES_H_

#include <cstdint>
#include <vector>

#include "devshare/core/device.h"
#include "devshare/core/host_state.h"
#include "devshare/core/request.h"
#include "devshare/core/status.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/share_packing.h"

namespace devshare::placement::devshare_policy {

// Weights of the packing loss, milli of score per GPU of packing potential lost. For a
// shared request the loss decides first and the stranding change breaks its ties (50x-1000x
// the milli scale measured alike; 1x-20x clearly worse); for whole-GPU and CPU-only requests,
// which the stranding measure already prices, it is one strong term among the others (1x-10x
// measured; 3x best).
inline constexpr double kShareLossMilliPerGpu = 200.0 * kMilliPerDevice;
inline constexpr double kOtherLossMilliPerGpu = 3.0 * kMilliPerDevice;

// The LP demand of M: its one-GPU shared shapes (gpu milli, p, cpu milli), in M's order.
std::vector<ShareDemand> SharedDemandOf(const TypicalPods& m);

class PackingPrices {
 public:
  // Solves the LP of SharedDemandOf(m); if it fails there are no prices and status() says why.
  void SetDistribution(const TypicalPods& m);
  // Whether the LP of the last M solved.
  const Status& status() const { return status_; }
  // No prices (M has no shared shape, or its LP failed): every loss is 0.
  bool empty() const { return prices_.empty(); }
  const SharePackingPrices& prices() const { return prices_; }

  // Packing potential (GPUs) the host loses when `req` is placed on `gpu` (-1: whole GPUs /
  // CPU-only), beyond what the request itself is worth: the host's value before
  // (`host_value`, HostValue of h) minus after (the room or GPUs it takes and the CPU the
  // host's rooms needed) minus y of its size for a shared request, or its GPU count for a
  // whole-GPU one.
  double Loss(const VmRequest& req, const HostState& h, int gpu, double host_value);
  // Replaces `out` with, per candidate GPU of `gpus` (as in Loss), the loss in milli of score:
  // weighted by kShareLossMilliPerGpu for a shared request, kOtherLossMilliPerGpu otherwise;
  // all 0 without prices or for a partition request.
  void WeightedLosses(const VmRequest& req, const HostState& h, const std::vector<int>& gpus,
                      std::vector<float>* out);

 private:
  SharePackingPrices prices_;
  Status status_;
  std::vector<int32_t> after_;  // scratch
};

}  // namespace devshare::placement::devshare_policy

#endif  // DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_PACKING_PRICES_H_
