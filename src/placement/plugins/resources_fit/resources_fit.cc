// resources_fit filter: free CPU and memory cover the request (Kubernetes NodeResourcesFit).
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class ResourcesFit final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "resources_fit"; }
  bool ReadsOnlyHostState(const VmRequest&) const override { return true; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    return h.cpu_free_milli() >= req.cpu_milli && h.memory_free_mib() >= req.memory_mib;
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    if (h.cpu_free_milli() < req.cpu_milli) {
      return {"", "cpu",
              "cpu: requested " + std::to_string(req.cpu_milli) + " milli, free " +
                  std::to_string(h.cpu_free_milli()) + " of " +
                  std::to_string(h.cpu_capacity_milli())};
    }
    return {"", "memory",
            "memory: requested " + std::to_string(req.memory_mib) + " MiB, free " +
                std::to_string(h.memory_free_mib()) + " of " +
                std::to_string(h.memory_capacity_mib())};
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewResourcesFitFilter(const PluginArgs&) {
  return std::make_unique<ResourcesFit>();
}

}  // namespace devshare::placement
