// Matching of a request's NICs and volumes to a host's NICs and disks ("unit devices": a NIC's
// units are its SR-IOV VFs and its rate is its line rate in Mbps; a disk's units are GiB and its
// rate is its IOPS). One greedy best-fit assignment serves the filters (does it fit, and why
// not) and the selectors (which device, which VF), so they never disagree.
// Thread-safety: pure functions over a const HostState.
#ifndef DEVSHARE_PLACEMENT_UNIT_DEVICE_MATCH_H_
#define DEVSHARE_PLACEMENT_UNIT_DEVICE_MATCH_H_

#include <string>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host_state.h"
#include "devshare/core/request.h"

namespace devshare::placement {

// What one NIC or volume of a request needs from one device, and what its slice carries.
struct UnitItem {
  DeviceKind kind = DeviceKind::kNic;
  std::string group;       // NIC: network; disk: tier
  int64_t units = 0;       // NIC: 1 for a VF, 0 for a virtio share; disk: GiB
  bool distinct = false;   // takes a distinct unit (a VF index)
  int64_t rate = 0;        // guaranteed Mbps / reserved IOPS
  int64_t rate_limit = 0;  // cap, carried into the slice (NIC max, volume IOPS limit)
  int64_t weight = 0;      // carried into the slice (volume IOPS weight)
  std::string name;        // carried into the slice (NIC: network; volume: its name)
};

std::vector<UnitItem> NicItems(const VmRequest& req);
std::vector<UnitItem> VolumeItems(const VmRequest& req);

// Result of assigning items in request order, each to the fitting device of its group with the
// least room left after it (best fit; a virtio share prefers NICs without free VFs, keeping VFs
// for those who need them; lowest device index on ties).
struct UnitAssignment {
  std::vector<int> device_of;  // per item: index into Host::devices
  std::vector<int> unit_of;    // per item: VF index for distinct items, else -1
  int failed_item = -1;        // first item that fits nowhere (then device_of is partial)
  bool ok() const { return failed_item < 0; }
};
UnitAssignment AssignUnitItems(const std::vector<UnitItem>& items, const HostState& h);

// The numbers of why the failed item of an assignment fits nowhere: the dimension that falls
// short on the closest device of its group (the one with the most free units; among those with
// enough units, the one with the most free rate), after the earlier items of the request.
struct UnitShortfall {
  // "nic_vf", "nic_bandwidth_mbps", "disk_gib" or "disk_iops" (the resource names of the usage
  // totals); with candidates == 0 the units dimension ("nic_vf" / "disk_gib").
  std::string resource;
  std::string device;  // id of the closest device; "" when its group has none
  int64_t requested = 0;
  int64_t free = 0;
  int64_t capacity = 0;  // of that device
  int candidates = 0;    // devices of the item's group (network, tier) on the host
};
// REQUIRES: !a.ok().
UnitShortfall FindUnitShortfall(const std::vector<UnitItem>& items, const UnitAssignment& a,
                                const HostState& h);

// Why item `failed` of an assignment does not fit, with numbers, e.g.
// "nic: requested 1 VF, free 0 of 8 on nic0" or "volume: tier nvme requested 50 GiB, free 20 GiB".
std::string ExplainUnitFailure(const std::vector<UnitItem>& items, const UnitAssignment& a,
                               const HostState& h);

// Free share (0..1) of the NIC / disk capacity the items draw on: over the devices of the items'
// groups (networks, tiers), the mean over the dimensions with capacity (VFs or GiB, and Mbps or
// IOPS) of free / capacity, before the request or after taking its amounts. -1 when the items
// are empty or their groups have no capacity. Used by the score plugins for these dimensions.
double UnitFreeFraction(const std::vector<UnitItem>& items, const HostState& h, bool after);

// The allocation slices of an assignment that is ok(), one per item in order.
std::vector<DeviceSlice> UnitSlices(const std::vector<UnitItem>& items, const UnitAssignment& a,
                                    const HostState& h);

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_UNIT_DEVICE_MATCH_H_
