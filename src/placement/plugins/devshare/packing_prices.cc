// The devshare policy's packing prices (see the header).
// Thread-safety: see packing_prices.h.
#include "placement/plugins/devshare/packing_prices.h"

#include <utility>

#include "placement/device_match.h"
#include "placement/plugins/devshare/stranding.h"

namespace devshare::placement::devshare_policy {

std::vector<ShareDemand> SharedDemandOf(const TypicalPods& m) {
  std::vector<ShareDemand> demand;
  for (const WeightedShape& w : m.shapes()) {
    if (w.shape.num_gpu == 1 && w.shape.gpu_milli < kMilliPerDevice) {
      demand.push_back({w.shape.gpu_milli, w.p, w.shape.cpu_milli});
    }
  }
  return demand;
}

void PackingPrices::SetDistribution(const TypicalPods& m) {
  Result<SharePackingPrices> packing = SharePackingPrices::Solve(SharedDemandOf(m));
  status_ = packing.status();
  prices_ = packing.ok() ? std::move(packing).value() : SharePackingPrices();
}

double PackingPrices::Loss(const VmRequest& req, const HostState& h, int gpu, double host_value) {
  after_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
  double worth = 0;
  if (gpu >= 0) {
    const int milli = ShareMilliOnGpu(req, h, gpu);  // a vGPU profile's depends on the GPU
    after_[gpu] -= milli;
    worth = prices_.Price(milli);
  } else if (req.gpu.Any()) {
    TakeWholeGpus(req, h, &after_);
    worth = req.gpu.count;
  }
  return host_value - prices_.HostValue(after_, h.cpu_free_milli() - req.cpu_milli) - worth;
}

void PackingPrices::WeightedLosses(const VmRequest& req, const HostState& h,
                                   const std::vector<int>& gpus, std::vector<float>* out) {
  if (prices_.empty() || req.gpu.IsPartition()) {
    out->assign(gpus.size(), 0.0f);
    return;
  }
  const double weight = req.gpu.IsShare() ? kShareLossMilliPerGpu : kOtherLossMilliPerGpu;
  const double host_value = prices_.HostValue(h.gpu_free_milli(), h.cpu_free_milli());
  out->clear();
  for (int gpu : gpus) {
    out->push_back(static_cast<float>(weight * Loss(req, h, gpu, host_value)));
  }
}

}  // namespace devshare::placement::devshare_policy
