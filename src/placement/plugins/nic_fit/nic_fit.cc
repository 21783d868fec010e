// nic_fit filter and nic selector: each NIC of the request needs a NIC of the host on its
// network with a free SR-IOV VF when it asks for one (a VF is exclusive) and with its bandwidth
// guarantee free (the guarantees of a NIC sum to at most its line rate; max is a cap and is not
// summed). The selector takes the best-fit NIC and its lowest free VF.
#include "placement/plugins/builtin_plugins.h"
#include "placement/unit_device_match.h"

namespace devshare::placement {
namespace {

class NicFit final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "nic_fit"; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    return req.nics.empty() || AssignUnitItems(NicItems(req), h).ok();
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    const std::vector<UnitItem> items = NicItems(req);
    return {"", "nic", ExplainUnitFailure(items, AssignUnitItems(items, h), h)};
  }
};

class NicSelector final : public DeviceSelector {
 public:
  std::string_view Name() const override { return "nic"; }
  DeviceKind Kind() const override { return DeviceKind::kNic; }
  Status Select(const VmRequest& req, const HostState& h, int, Allocation& a) override {
    if (req.nics.empty()) return Status::Ok();
    UnitAssignment m = AssignUnitItems(NicItems(req), h);
    if (!m.ok()) return Status::Internal("nic selector: host " + h.host().id + " has no room");
    a.nics = NicSlices(req, m, h);
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewNicFitFilter(const PluginArgs&) {
  return std::make_unique<NicFit>();
}

std::unique_ptr<DeviceSelector> NewNicSelector(const PluginArgs&) {
  return std::make_unique<NicSelector>();
}

}  // namespace devshare::placement
