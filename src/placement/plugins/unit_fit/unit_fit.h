// The filter and selector of a unit-device kind (NICs, disks, and kinds like them): one
// implementation over a small description of the kind, so a new kind of this sort is its
// description, two factories and their registry lines.
// Thread-safety: the plugins are stateless; each belongs to one Framework.
#ifndef DEVSHARE_PLACEMENT_PLUGINS_UNIT_FIT_UNIT_FIT_H_
#define DEVSHARE_PLACEMENT_PLUGINS_UNIT_FIT_UNIT_FIT_H_

#include <memory>
#include <vector>

#include "devshare/placement/framework.h"
#include "placement/unit_device_match.h"

namespace devshare::placement {

struct UnitKind {
  const char* filter_name;    // e.g. "nic_fit"
  const char* selector_name;  // e.g. "nic"
  const char* resource;       // the Reason's resource, e.g. "nic"
  DeviceKind kind;
  std::vector<UnitItem> (*items)(const VmRequest& req);  // what the request asks of this kind
  std::vector<DeviceSlice> Allocation::*slices;          // where its slices go
};

// Fits when every item of the kind gets a device (AssignUnitItems); Explain names the first that
// does not, with numbers.
std::unique_ptr<FilterPlugin> NewUnitFitFilter(const UnitKind& kind);
// Adds the slices of the same assignment to the allocation.
std::unique_ptr<DeviceSelector> NewUnitSelector(const UnitKind& kind);

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_PLUGINS_UNIT_FIT_UNIT_FIT_H_
