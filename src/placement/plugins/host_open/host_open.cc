// host_open filter: a request never lands on a host the control plane has closed to new VMs
// (cordoned, draining or unreachable: VmRequest::closed_hosts, with the reason it names).
#include <algorithm>

#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

const ClosedHost* FindClosed(const VmRequest& req, const std::string& host_id) {
  auto it = std::find_if(req.closed_hosts.begin(), req.closed_hosts.end(),
                         [&](const ClosedHost& c) { return c.host_id == host_id; });
  return it == req.closed_hosts.end() ? nullptr : &*it;
}

class HostOpen final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "host_open"; }
  bool ReadsOnlyHostState(const VmRequest& req) const override { return req.closed_hosts.empty(); }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    return req.closed_hosts.empty() || FindClosed(req, h.host().id) == nullptr;
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    const ClosedHost* c = FindClosed(req, h.host().id);
    return {"", "host", "host: " + (c != nullptr ? c->why : std::string("closed"))};
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewHostOpenFilter(const PluginArgs&) {
  return std::make_unique<HostOpen>();
}

}  // namespace devshare::placement
