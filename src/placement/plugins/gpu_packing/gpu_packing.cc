// gpu_packing policy (reference §2c): prefer shared GPUs (score 100 - free%/10 of the GPUs used,
// at least 50), then fully free GPUs on a used host (50 - GPUs used, at least 33), then an idle
// host (max(33 - free GPUs, free GPUs)). CPU-only requests score 0 everywhere. GPU: best fit.
#include <algorithm>
#include <numeric>
#include <vector>

#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class GpuPacking final : public ScorePlugin {
 public:
  std::string_view Name() const override { return "gpu_packing"; }
  int64_t Score(const VmRequest& req, const HostState& h, int) override {
    if (!req.gpu.Any()) return 0;
    const int n = h.gpu_count();
    int fully_free = 0;
    for (int g = 0; g < n; ++g) fully_free += h.gpu_fully_free(g) ? 1 : 0;
    if (fully_free == n) return std::max<int64_t>(kMaxNodeScore / 3 - fully_free, fully_free);
    // GPUs in ascending free order (stable: lower index first) that fit the request.
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0);
    const auto& free = h.gpu_free_milli();
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return free[a] < free[b]; });
    int need = req.gpu.count;
    int fully_free_used = 0;
    int64_t free_ratio_used = 0;
    for (int g : order_) {
      if (need == 0) break;
      const int milli =
          req.gpu.IsPartition() ? PartitionMilli(req, h, g) : ShareMilliOnGpu(req, h, g);
      const bool memory_fits =
          req.gpu.memory_mib == 0 || !req.gpu.IsShare() || GpuFitsShare(req, h, g);
      if (milli > 0 && free[g] >= milli && memory_fits) {
        --need;
        if (h.gpu_fully_free(g)) ++fully_free_used;
        free_ratio_used += static_cast<int64_t>(free[g]) * 100 / kMilliPerDevice;
      }
    }
    if (need != 0) return 0;
    if (fully_free_used > 0) {
      return std::max<int64_t>(kMaxNodeScore / 2 - fully_free_used, kMaxNodeScore / 3);
    }
    return std::max<int64_t>(kMaxNodeScore - free_ratio_used / 10, kMaxNodeScore / 2);
  }

 private:
  std::vector<int> order_;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewGpuPackingScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<GpuPacking>());
}

}  // namespace devshare::placement
