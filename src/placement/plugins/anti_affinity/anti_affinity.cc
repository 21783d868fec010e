// anti_affinity filter: a request never lands on a host listed in avoid_host_ids (the control
// plane fills it with the hosts already holding a VM of the request's anti-affinity group).
#include <algorithm>

#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class AntiAffinity final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "anti_affinity"; }
  bool ReadsOnlyHostState(const VmRequest& req) const override {
    return req.avoid_host_ids.empty();
  }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    if (req.avoid_host_ids.empty()) return true;
    return std::find(req.avoid_host_ids.begin(), req.avoid_host_ids.end(), h.host().id) ==
           req.avoid_host_ids.end();
  }
  Reason Explain(const VmRequest&, const HostState&) const override {
    return {"", "anti_affinity", "anti_affinity: holds a VM of the same anti-affinity group"};
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewAntiAffinityFilter(const PluginArgs&) {
  return std::make_unique<AntiAffinity>();
}

}  // namespace devshare::placement
