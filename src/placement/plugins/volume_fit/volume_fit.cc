// volume_fit filter and volume selector: each volume of the request needs a disk of its tier
// with its size free and its IOPS reservation free (the reservations on a disk sum to at most
// the IOPS it declares; weight and limit are not summed). Several volumes may share a disk.
// The selector takes the best-fit disk, the one with the least GiB left after the volume.
// FitVolumes (volume_fit.h) applies the same choice to volumes added to a VM already placed.
#include "devshare/placement/volume_fit.h"

#include "placement/plugins/builtin_plugins.h"
#include "placement/plugins/unit_fit/unit_fit.h"

namespace devshare::placement {

namespace {
const UnitKind kVolumeKind{"volume_fit",      "volume",    "volume",
                           DeviceKind::kDisk, VolumeItems, &Allocation::volumes};
}  // namespace

std::unique_ptr<FilterPlugin> NewVolumeFitFilter(const PluginArgs&) {
  return NewUnitFitFilter(kVolumeKind);
}

std::unique_ptr<DeviceSelector> NewVolumeSelector(const PluginArgs&) {
  return NewUnitSelector(kVolumeKind);
}

VolumeFit FitVolumes(const std::vector<VolumeRequest>& volumes, const HostState& h) {
  VmRequest req;
  req.volumes = volumes;
  const std::vector<UnitItem> items = kVolumeKind.items(req);
  const UnitAssignment a = AssignUnitItems(items, h);
  VolumeFit fit;
  if (a.ok()) {
    fit.slices = UnitSlices(items, a, h);
    return fit;
  }
  const UnitShortfall s = FindUnitShortfall(items, a, h);
  fit.failed = a.failed_item;
  fit.message = ExplainUnitFailure(items, a, h);
  fit.resource = s.resource;
  fit.device = s.device;
  fit.requested = s.requested;
  fit.free = s.free;
  fit.capacity = s.capacity;
  fit.disks_of_tier = s.candidates;
  return fit;
}

}  // namespace devshare::placement
