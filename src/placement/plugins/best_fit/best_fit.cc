// best_fit policy (reference §2c): s = 0.5 (cpu_free - cpu_req) / MaxSpecCpu +
// 0.5 (gpu_free - gpu_req) / MaxSpecGpu; score = int(100 (1 - s)), min-max normalised over the
// feasible hosts. GPU: best fit. A request with NICs or volumes adds, per kind, 0.5 x the free
// share its networks' NICs / its tiers' disks keep after it (mean of units and guaranteed rate),
// so the host whose devices it fills most tightly wins as for CPU and GPU.
#include "placement/plugins/builtin_plugins.h"
#include "placement/unit_device_match.h"

namespace devshare::placement {
namespace {

class BestFit final : public ScorePlugin {
 public:
  std::string_view Name() const override { return "best_fit"; }
  int64_t Score(const VmRequest& req, const HostState& h, int) override {
    double s = 0.5 * static_cast<double>(h.cpu_free_milli() - req.cpu_milli) / kMaxSpecCpuMilli +
               0.5 * static_cast<double>(h.gpu_free_total_milli() - req.gpu.TotalMilli()) /
                   kMaxSpecGpuMilli;
    if (req.HasDevicesBeyondGpus()) {
      for (const std::vector<UnitItem>& items : {NicItems(req), VolumeItems(req)}) {
        const double free = UnitFreeFraction(items, h, /*after=*/true);
        if (free >= 0) s += 0.5 * free;
      }
    }
    return static_cast<int64_t>((1.0 - s) * static_cast<double>(kMaxNodeScore));
  }
  bool NormalizesScores() const override { return true; }
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewBestFitScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<BestFit>());
}

}  // namespace devshare::placement
