// random policy (Random-fit): a uniformly random feasible host (random scores, seeded), and a
// uniformly random fitting GPU for shared requests (reference §2c).
#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class RandomFit final : public GpuChoosingScorePlugin {
 public:
  explicit RandomFit(uint64_t seed) : random_(seed) {}
  std::string_view Name() const override { return "random"; }
  int64_t Score(const VmRequest&, const HostState&, int) override {
    return static_cast<int64_t>(random_.Next() >> 1);
  }
  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int) override {
    return SelectGpusRandomly(req, h, random_);
  }

 private:
  Random random_;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewRandomScore(const PluginArgs& args) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<RandomFit>(args.seed));
}

}  // namespace devshare::placement
