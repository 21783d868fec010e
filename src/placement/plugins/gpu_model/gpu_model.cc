// gpu_model filter: a request naming GPU models ('A|B' alternatives) needs a host with a GPU of
// one of them. Requests without GPUs or without a model constraint pass.
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "|" : "") + v[i];
  return s;
}

class GpuModel final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "gpu_model"; }
  bool ReadsOnlyHostState(const VmRequest&) const override { return true; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    if (!req.gpu.Any() || req.gpu.models.empty()) return true;
    if (h.uniform_fractional_gpus())
      return h.gpu_count() > 0 && req.gpu.AcceptsModel(h.gpu_model());
    for (int g = 0; g < h.gpu_count(); ++g) {
      if (req.gpu.AcceptsModel(h.gpu_device(g).model)) return true;
    }
    return false;
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    std::string have = h.gpu_count() == 0 ? "no GPUs" : "model " + h.gpu_model();
    return {"", "gpu_model", "gpu model: requested " + Join(req.gpu.models) + ", host has " + have};
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewGpuModelFilter(const PluginArgs&) {
  return std::make_unique<GpuModel>();
}

}  // namespace devshare::placement
