// least_utilized policy: the classic spread rule. Host score = 1 - mean utilisation over the
// dimensions the host has (CPU, and GPU if it has GPUs), scaled to 0..1000000; GPU choice is
// worst fit (the GPU with the most free milli).
#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class LeastUtilized final : public ScorePlugin {
 public:
  std::string_view Name() const override { return "least_utilized"; }
  int64_t Score(const VmRequest&, const HostState& h, int) override {
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
    if (dims == 0) return 0;
    return static_cast<int64_t>(1e6 * (1.0 - util / dims));
  }
  GpuChoice SelectGpus(const VmRequest& req, const HostState& h, int) override {
    return SelectGpusByRule(req, h, FitRule::kWorst);
  }
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewLeastUtilizedScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<LeastUtilized>());
}

}  // namespace devshare::placement
