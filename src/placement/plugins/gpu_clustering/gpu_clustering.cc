// gpu_clustering policy (reference §2c): keep GPU requests of the same kind together. A request's
// tag is "share" or "k-gpu"; a host's tags are those of the GPU requests it holds. Score =
// int(25 (8000 - gpu_free)/8000) + 75 (host holds only this tag) / 50 (this tag among others) /
// 25 (no GPU requests) / 0 (only other tags). CPU-only requests score 0. GPU: best fit.
#include <map>
#include <vector>

#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

int TagOf(const GpuRequest& g) { return g.IsWhole() ? g.count : 0; }  // 0 = share / partition

class GpuClustering final : public ScorePlugin {
 public:
  std::string_view Name() const override { return "gpu_clustering"; }
  int64_t Score(const VmRequest& req, const HostState& h, int host_index) override {
    if (!req.gpu.Any()) return 0;
    const int64_t base = static_cast<int64_t>(
        25.0 * (kMaxSpecGpuMilli - static_cast<double>(h.gpu_free_total_milli())) /
        kMaxSpecGpuMilli);
    if (host_index >= static_cast<int>(tags_.size())) return base + 25;
    const std::map<int, int>& tags = tags_[host_index];
    if (tags.empty()) return base + 25;
    const int tag = TagOf(req.gpu);
    auto it = tags.find(tag);
    if (it == tags.end()) return base;
    return tags.size() == 1 ? base + 75 : base + 50;
  }
  void Reserved(const VmRequest& req, const Allocation& a) override {
    if (!req.gpu.Any()) return;
    if (a.host_index >= static_cast<int>(tags_.size())) tags_.resize(a.host_index + 1);
    tags_[a.host_index][TagOf(req.gpu)]++;
  }
  void Released(const VmRequest& req, const Allocation& a) override {
    if (!req.gpu.Any() || a.host_index >= static_cast<int>(tags_.size())) return;
    auto& tags = tags_[a.host_index];
    auto it = tags.find(TagOf(req.gpu));
    if (it != tags.end() && --it->second == 0) tags.erase(it);
  }

 private:
  std::vector<std::map<int, int>> tags_;  // per host index: tag -> requests holding it
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewGpuClusteringScore(const PluginArgs&) {
  return std::unique_ptr<ScorePlugin>(std::make_unique<GpuClustering>());
}

}  // namespace devshare::placement
