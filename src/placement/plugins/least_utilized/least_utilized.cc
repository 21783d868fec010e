// least_utilized policy: the classic spread rule. Host score = 1 - mean utilisation over the
// dimensions the host has (CPU, and GPU if it has GPUs; and, for a request with NICs or
// volumes, the NICs of its networks and the disks of its tiers, each counted as one dimension:
// the mean free share of their units and guaranteed rate), scaled to 0..1000000; GPU choice is
// worst fit (the GPU with the most free milli).
#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"
#include "placement/unit_device_match.h"

namespace devshare::placement {
namespace {

class LeastUtilized final : public GpuChoosingScorePlugin {
 public:
  std::string_view Name() const override { return "least_utilized"; }
  int64_t Score(const VmRequest& req, const HostState& h, int) override {
    double util = 0;
    int dims = 0;
    if (h.cpu_capacity_milli() > 0) {
      util += 1.0 -
              static_cast<double>(h.cpu_free_milli()) / static_cast<double>(h.cpu_capacity_milli());
      ++dims;
    }
    if (h.gpu_capacity_total_milli() > 0) {
      util += 1.0 - static_cast<double>(h.gpu_free_total_milli()) /
                        static_cast<double>(h.gpu_capacity_total_milli());
      ++dims;
    }
    if (req.HasDevicesBeyondGpus()) {
      for (const std::vector<UnitItem>& items : {NicItems(req), VolumeItems(req)}) {
        const double free = UnitFreeFraction(items, h, /*after=*/false);
        if (free < 0) continue;
        util += 1.0 - free;
        ++dims;
      }
    }
    if (dims == 0) return 0;
    return static_cast<int64_t>(1e6 * (1.0 - util / dims));
  }
  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int) override {
    return SelectGpusByRule(req, h, FitRule::kWorst);
  }
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewLeastUtilizedScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<LeastUtilized>());
}

}  // namespace devshare::placement
