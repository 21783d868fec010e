// isolation filter: a shared-GPU request with an isolation floor needs a host offering a GPU at
// or above it (hw_partition > hypervisor_sched > mps > time_slice), and another tenant's share
// on a device below hw_partition rules that device out (checked per device by gpu_fit too).
#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

IsolationClass Offered(const Device& d) {
  return d.mode == SharingMode::kPartitioned ? IsolationClass::kHwPartition : d.isolation;
}

class Isolation final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "isolation"; }
  bool ReadsOnlyHostState(const VmRequest&) const override { return true; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    if (!req.gpu.Any() || req.gpu.IsWhole()) return true;
    if (!req.isolation_floor && req.tenant.empty()) return true;
    for (int g = 0; g < h.gpu_count(); ++g) {
      if (GpuUsableBy(req, h, g)) return true;
    }
    return false;
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    IsolationClass best = IsolationClass::kTimeSlice;
    for (int g = 0; g < h.gpu_count(); ++g) best = std::max(best, Offered(h.gpu_device(g)));
    std::string floor = req.isolation_floor ? std::string(IsolationClassName(*req.isolation_floor))
                                            : std::string("none");
    return {"", "isolation",
            "isolation: requested floor " + floor + ", host offers at most " +
                std::string(IsolationClassName(best)) + " or its devices hold other tenants"};
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewIsolationFilter(const PluginArgs&) {
  return std::make_unique<Isolation>();
}

}  // namespace devshare::placement
