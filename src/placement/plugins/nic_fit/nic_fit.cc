// nic_fit filter and nic selector: each NIC of the request needs a NIC of the host on its
// network with a free SR-IOV VF when it asks for one (a VF is exclusive) and with its bandwidth
// guarantee free (the guarantees of a NIC sum to at most its line rate; max is a cap and is not
// summed). The selector takes the best-fit NIC and its lowest free VF (unit_device_match.h).
#include "placement/plugins/builtin_plugins.h"
#include "placement/plugins/unit_fit/unit_fit.h"

namespace devshare::placement {

namespace {
const UnitKind kNicKind{"nic_fit", "nic", "nic", DeviceKind::kNic, NicItems, &Allocation::nics};
}  // namespace

std::unique_ptr<FilterPlugin> NewNicFitFilter(const PluginArgs&) {
  return NewUnitFitFilter(kNicKind);
}

std::unique_ptr<DeviceSelector> NewNicSelector(const PluginArgs&) {
  return NewUnitSelector(kNicKind);
}

}  // namespace devshare::placement
