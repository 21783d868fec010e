// first_fit policy: every feasible host scores 0, so the lowest node rank wins; the first GPU
// (lowest index) that fits is used. The baseline every other policy is measured against.
#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class FirstFit final : public GpuChoosingScorePlugin {
 public:
  std::string_view Name() const override { return "first_fit"; }
  int64_t Score(const VmRequest&, const HostState&, int) override { return 0; }
  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int) override {
    return SelectGpusByRule(req, h, FitRule::kFirst);
  }
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewFirstFitScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<FirstFit>());
}

}  // namespace devshare::placement
