// devshare policy: fragmentation gradient descent over a packing-aware measure.
//
// FGD (Weng et al., ATC'23) counts a GPU as usable for a typical shape m as soon as its free milli
// is >= m's, so a GPU with 900 free looks as good as an empty one to an 810-milli task and the
// 90 milli it will strand are invisible. devshare measures, for each typical shape m, the GPU
// milli that a stream of copies of m could NOT use on the node: free milli minus
// (copies of m that fit, limited by GPU slots and by free CPU) x m's GPU demand. Its score is the
// decrease of that expected stranding, quantised to 100 milli so that near-equal choices tie and
// go to the lowest node rank (which packs hosts, the effect that makes FGD's integer scores
// work well). The typical shapes are the distribution FGD uses; everything is online.
// Measured effect: docs/placement.md.
#include <algorithm>
#include <cmath>

#include "placement/plugins/builtin_plugins.h"
#include "placement/plugins/fgd/frag_gradient.h"

namespace devshare::placement {
namespace {

constexpr double kScoreQuantumMilli = 100.0;

bool Accepts(const TaskShape& m, const std::string& model) {
  return m.models.empty() || std::find(m.models.begin(), m.models.end(), model) != m.models.end();
}

class DevsharePolicy final : public FragGradientScore {
 public:
  explicit DevsharePolicy(TypicalPods typical) : typical_(std::move(typical)) {}
  std::string_view Name() const override { return "devshare"; }

 protected:
  // Expected GPU milli stranded w.r.t. a stream of copies of each typical shape.
  double Measure(int64_t cpu_free_milli, const std::vector<int32_t>& gpu_free_milli,
                 const std::string& model) override {
    int64_t total = 0;
    int fully_free = 0;
    for (int32_t f : gpu_free_milli) {
      total += f;
      fully_free += f >= kMilliPerDevice ? 1 : 0;
    }
    if (total == 0) return 0;
    double stranded = 0;
    for (const WeightedShape& w : typical_.shapes()) {
      const TaskShape& m = w.shape;
      if (m.num_gpu == 0 || !Accepts(m, model)) {
        stranded += w.p * static_cast<double>(total);  // cannot use any of it
        continue;
      }
      int64_t copies = 0;
      if (m.gpu_milli < kMilliPerDevice) {
        for (int32_t f : gpu_free_milli) copies += f / m.gpu_milli;
      } else {
        copies = fully_free / m.num_gpu;
      }
      if (m.cpu_milli > 0) copies = std::min<int64_t>(copies, cpu_free_milli / m.cpu_milli);
      copies = std::max<int64_t>(copies, 0);
      stranded += w.p * static_cast<double>(total - copies * m.num_gpu * m.gpu_milli);
    }
    return stranded;
  }

  int64_t ScoreChange(double before, double after, const VmRequest&, const HostState&,
                      int) override {
    return static_cast<int64_t>(std::floor((before - after) / kScoreQuantumMilli));
  }

 private:
  TypicalPods typical_;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewDevshareScore(const PluginArgs& args) {
  if (args.typical_pods == nullptr) {
    return Status::InvalidArgument("policy devshare needs a typical-pod distribution");
  }
  return std::unique_ptr<ScorePlugin>(std::make_unique<DevsharePolicy>(*args.typical_pods));
}

}  // namespace devshare::placement
