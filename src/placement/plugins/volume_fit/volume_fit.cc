// volume_fit filter and volume selector: each volume of the request needs a disk of its tier
// with its size free and its IOPS reservation free (the reservations on a disk sum to at most
// the IOPS it declares; weight and limit are not summed). Several volumes may share a disk.
// The selector takes the best-fit disk, the one with the least GiB left after the volume.
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

}  // namespace devshare::placement
