// fgd policy: Fragmentation Gradient Descent (Weng et al., USENIX ATC'23; reference §2b).
// Place where the expected GPU fragmentation F_n(M) under the typical-pod distribution M grows
// least: score = int(100 sigmoid((F_n - F_n') / 1000)); for shared requests each fitting GPU is
// tried and the first GPU with the best score is the one used.
// Scores depend only on (host state, request shape), so they are cached per host generation.
#include <cmath>
#include <unordered_map>
#include <vector>

#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class Fgd final : public ScorePlugin {
 public:
  explicit Fgd(TypicalPods typical) : typical_(std::move(typical)) {}
  std::string_view Name() const override { return "fgd"; }

  void BeginRequest(const VmRequest& req) override {
    cacheable_ = req.tenant.empty() && !req.isolation_floor;
    if (!cacheable_) return;
    std::string key = std::to_string(req.cpu_milli) + "/" + std::to_string(req.gpu.count) + "/" +
                      std::to_string(req.gpu.milli) + "/" + req.gpu.profile;
    for (const std::string& m : req.gpu.models) key += "/" + m;
    auto [it, inserted] = shape_ids_.emplace(key, static_cast<int>(cache_.size()));
    if (inserted) cache_.emplace_back();
    shape_ = it->second;
  }

  int64_t Score(const VmRequest& req, const HostState& h, int host_index) override {
    return Evaluate(req, h, host_index).score;
  }

  GpuChoice SelectGpus(const VmRequest& req, const HostState& h, int host_index) override {
    if (!req.gpu.Any() || req.gpu.IsWhole()) return SelectGpusByRule(req, h, FitRule::kFirst);
    Entry e = Evaluate(req, h, host_index);
    GpuChoice c;
    if (e.gpu >= 0) {
      c.gpus.push_back(e.gpu);
      if (req.gpu.IsPartition()) c.start_slot = GpuPartitionStart(req, h, e.gpu);
    }
    return c;
  }

 private:
  struct Entry {
    uint64_t generation = UINT64_MAX;
    int64_t score = 0;
    int gpu = -1;
  };

  static int64_t SigmoidScore(double before, double after) {
    const double x = (before - after) / 1000.0;
    return static_cast<int64_t>(1.0 / (1.0 + std::exp(-x)) * static_cast<double>(kMaxNodeScore));
  }

  double NodeFrag(const HostState& h, int host_index) {
    if (host_index >= static_cast<int>(frag_.size())) frag_.resize(host_index + 1);
    Frag& f = frag_[host_index];
    if (f.generation != h.generation()) {
      f.generation = h.generation();
      f.value = typical_.NodeFragMilli(h.cpu_free_milli(), h.gpu_free_milli(), h.gpu_model());
    }
    return f.value;
  }

  Entry Evaluate(const VmRequest& req, const HostState& h, int host_index) {
    Entry* slot = nullptr;
    if (cacheable_) {
      std::vector<Entry>& row = cache_[shape_];
      if (host_index >= static_cast<int>(row.size())) row.resize(host_index + 1);
      slot = &row[host_index];
      if (slot->generation == h.generation()) return *slot;
    }
    Entry e = Compute(req, h, host_index);
    e.generation = h.generation();
    if (slot != nullptr) *slot = e;
    return e;
  }

  Entry Compute(const VmRequest& req, const HostState& h, int host_index) {
    const double before = NodeFrag(h, host_index);
    const int64_t cpu_after = h.cpu_free_milli() - req.cpu_milli;
    scratch_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
    Entry e;
    if (req.gpu.IsShare() || req.gpu.IsPartition()) {
      for (int g = 0; g < h.gpu_count(); ++g) {
        int milli;
        if (req.gpu.IsPartition()) {
          if (GpuPartitionStart(req, h, g) < 0) continue;
          milli = PartitionMilli(req, h, g);
        } else {
          if (!GpuFitsShare(req, h, g)) continue;
          milli = req.gpu.milli;
        }
        scratch_[g] -= milli;
        const double after = typical_.NodeFragMilli(cpu_after, scratch_, h.gpu_model());
        scratch_[g] += milli;
        const int64_t s = SigmoidScore(before, after);
        if (e.gpu < 0 || s > e.score) {
          e.score = s;
          e.gpu = g;
        }
      }
      return e;
    }
    // CPU-only or whole GPUs: the after-state does not depend on which free GPUs are taken.
    int need = req.gpu.count;
    for (int g = 0; g < h.gpu_count() && need > 0; ++g) {
      if (GpuFitsWhole(req, h, g)) {
        scratch_[g] = 0;
        --need;
      }
    }
    e.score = SigmoidScore(before, typical_.NodeFragMilli(cpu_after, scratch_, h.gpu_model()));
    return e;
  }

  struct Frag {
    uint64_t generation = UINT64_MAX;
    double value = 0;
  };

  TypicalPods typical_;
  std::unordered_map<std::string, int> shape_ids_;
  std::vector<std::vector<Entry>> cache_;  // [shape id][host index]
  std::vector<Frag> frag_;                 // [host index]
  std::vector<int32_t> scratch_;
  bool cacheable_ = false;
  int shape_ = -1;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewFgdScore(const PluginArgs& args) {
  if (args.typical_pods == nullptr) {
    return Status::InvalidArgument("policy fgd needs a typical-pod distribution (typical_pods)");
  }
  return std::unique_ptr<ScorePlugin>(std::make_unique<Fgd>(*args.typical_pods));
}

}  // namespace devshare::placement
