// gpu_fit filter (Open-Gpu-Share semantics): a share request needs one GPU with enough free
// milli and GPU memory (a vGPU profile: one its GPU offers, mixing no other profile); a k-GPU
// request needs k fully free GPUs; a partition request needs a GPU whose MIG geometry has a free
// placement for the profile. Model, isolation and tenant rules per device. Also the framework's
// default GPU selector ("gpu", best fit) for policies without their own.
#include <map>

#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class GpuFit final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "gpu_fit"; }
  bool ReadsOnlyHostState(const VmRequest&) const override { return true; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    if (!req.gpu.Any()) return true;
    if (h.uniform_fractional_gpus() && req.tenant.empty() && !req.isolation_floor &&
        !req.gpu.IsPartition() && req.gpu.memory_mib == 0) {
      // Fast path: identical fractional GPUs, no per-device rules; host summaries decide.
      if (!req.gpu.models.empty() && !req.gpu.AcceptsModel(h.gpu_model())) return false;
      return req.gpu.IsShare() ? h.max_gpu_free_milli() >= req.gpu.milli
                               : h.fully_free_gpus() >= req.gpu.count;
    }
    const int n = h.gpu_count();
    if (req.gpu.IsPartition()) {
      for (int g = 0; g < n; ++g) {
        if (GpuPartitionStart(req, h, g) >= 0) return true;
      }
      return false;
    }
    if (req.gpu.IsShare()) {
      for (int g = 0; g < n; ++g) {
        if (GpuFitsShare(req, h, g)) return true;
      }
      return false;
    }
    if (n < req.gpu.count) return false;
    int free = 0;
    for (int g = 0; g < n; ++g) {
      if (GpuFitsWhole(req, h, g) && ++free >= req.gpu.count) return true;
    }
    return false;
  }

  Reason Explain(const VmRequest& req, const HostState& h) const override {
    std::string want = req.gpu.IsPartition() ? "1x" + req.gpu.profile
                       : req.gpu.IsVgpu()    ? "1x" + req.gpu.vgpu
                                             : std::to_string(req.gpu.count) + "x" +
                                                std::to_string(req.gpu.milli) + " milli";
    if (req.gpu.memory_mib > 0 && !req.gpu.IsVgpu()) {
      want += " with " + std::to_string(req.gpu.memory_mib) + " MiB GPU memory";
    }
    // Free milli of the GPUs this request may use, grouped: "1x650, 2x300".
    std::map<int32_t, int, std::greater<>> groups;
    for (int g = 0; g < h.gpu_count(); ++g) {
      if (h.gpu_free_milli()[g] > 0 && GpuUsableBy(req, h, g)) groups[h.gpu_free_milli()[g]]++;
    }
    std::string free;
    for (const auto& [milli, count] : groups) {
      free += (free.empty() ? "" : ", ") + std::to_string(count) + "x" + std::to_string(milli);
    }
    if (free.empty()) free = h.gpu_count() == 0 ? "no GPUs" : "none";
    std::string msg = "gpu: requested " + want + ", free " + free;
    if (req.gpu.IsPartition()) msg += " (no free " + req.gpu.profile + " placement)";
    if (req.gpu.memory_mib > 0 && req.gpu.IsShare()) {
      // Free GPU memory of the GPUs that have the milli: why a share with room in milli fails.
      std::string mem;
      for (int g = 0; g < h.gpu_count(); ++g) {
        if (h.gpu_memory_capacity_mib(g) <= 0 || !GpuUsableBy(req, h, g)) continue;
        const GpuMemoryFit fit = h.GpuShareMemoryFit(g, req.gpu.memory_mib, req.gpu.vgpu);
        mem += (mem.empty() ? "" : ", ") + h.gpu_device(g).id + " " +
               std::to_string(h.gpu_free_memory_mib(g)) + " MiB" +
               (fit == GpuMemoryFit::kVgpuMixed ? " (another vGPU profile)" : "");
      }
      if (!mem.empty()) msg += "; free GPU memory " + mem;
      return {"", "gpu_memory", msg};
    }
    return {"", "gpu", msg};
  }
};

// The framework's GPU selector for policies without their own: best fit.
class BestFitGpuSelector final : public GpuSelector {
 public:
  std::string_view Name() const override { return "gpu"; }
  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int) override {
    return SelectGpusByRule(req, h, FitRule::kBest);
  }
};

}  // namespace

std::unique_ptr<DeviceSelector> NewGpuSelector(const PluginArgs&) {
  return std::make_unique<BestFitGpuSelector>();
}

std::unique_ptr<FilterPlugin> NewGpuFitFilter(const PluginArgs&) {
  return std::make_unique<GpuFit>();
}

}  // namespace devshare::placement
