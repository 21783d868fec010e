// fgd policy: Fragmentation Gradient Descent (Weng et al., USENIX ATC'23; reference §2b).
// Place where the expected GPU fragmentation F_n(M) under the typical-pod distribution M grows
// least: score = int(100 sigmoid((F_n - F_n') / 1000)); for shared requests each fitting GPU is
// tried and the first GPU with the best score is used. Integer scores tie often; ties go to the
// lowest node rank, exactly as the reference simulator does.
#include <cmath>

#include "placement/plugins/builtin_plugins.h"
#include "placement/plugins/fgd/frag_gradient.h"

namespace devshare::placement {
namespace {

class Fgd final : public FragGradientScore {
 public:
  explicit Fgd(TypicalPods typical) : typical_(std::move(typical)) {}
  std::string_view Name() const override { return "fgd"; }

 protected:
  double Measure(int64_t cpu_free_milli, const std::vector<int32_t>& gpu_free_milli,
                 const std::string& model) override {
    return typical_.NodeFragMilli(cpu_free_milli, gpu_free_milli, model);
  }
  int64_t ScoreChange(double before, double after, const VmRequest&, const HostState&,
                      int) override {
    const double x = (before - after) / 1000.0;
    return static_cast<int64_t>(1.0 / (1.0 + std::exp(-x)) * static_cast<double>(kMaxNodeScore));
  }

 private:
  TypicalPods typical_;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewFgdScore(const PluginArgs& args) {
  if (args.typical_pods == nullptr) {
    return Status::InvalidArgument("policy fgd needs a typical-pod distribution (typical_pods)");
  }
  return std::unique_ptr<ScorePlugin>(std::make_unique<Fgd>(*args.typical_pods));
}

}  // namespace devshare::placement
