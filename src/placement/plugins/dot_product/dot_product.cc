// dot_product policy (Tetris-style alignment, Grandl et al. SIGCOMM'14, as the FGD artifact runs
// it with merge/max; reference §2c): v_free = (cpu_free/MaxSpecCpu, gpu_free/MaxSpecGpu),
// v_req likewise; score = int(100 (1 - v_free . v_req / 2)). GPU: best fit.
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class DotProduct final : public ScorePlugin {
 public:
  std::string_view Name() const override { return "dot_product"; }
  int64_t Score(const VmRequest& req, const HostState& h, int) override {
    if (h.cpu_free_milli() < req.cpu_milli) return 0;
    double dot = (static_cast<double>(h.cpu_free_milli()) / kMaxSpecCpuMilli) *
                     (static_cast<double>(req.cpu_milli) / kMaxSpecCpuMilli) +
                 (static_cast<double>(h.gpu_free_total_milli()) / kMaxSpecGpuMilli) *
                     (static_cast<double>(req.gpu.TotalMilli()) / kMaxSpecGpuMilli);
    return static_cast<int64_t>((1.0 - dot / 2.0) * static_cast<double>(kMaxNodeScore));
  }
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewDotProductScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<DotProduct>());
}

}  // namespace devshare::placement
