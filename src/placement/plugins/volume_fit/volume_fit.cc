// volume_fit filter and volume selector: each volume of the request needs a disk of its tier
// with its size free and its IOPS reservation free (the reservations on a disk sum to at most
// the IOPS it declares; weight and limit are not summed). Several volumes may share a disk.
// The selector takes the best-fit disk (least GiB left after the volume).
#include "placement/plugins/builtin_plugins.h"
#include "placement/unit_device_match.h"

namespace devshare::placement {
namespace {

class VolumeFit final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "volume_fit"; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    return req.volumes.empty() || AssignUnitItems(VolumeItems(req), h).ok();
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    const std::vector<UnitItem> items = VolumeItems(req);
    return {"", "volume", ExplainUnitFailure(items, AssignUnitItems(items, h), h)};
  }
};

class VolumeSelector final : public DeviceSelector {
 public:
  std::string_view Name() const override { return "volume"; }
  DeviceKind Kind() const override { return DeviceKind::kDisk; }
  Status Select(const VmRequest& req, const HostState& h, int, Allocation& a) override {
    if (req.volumes.empty()) return Status::Ok();
    UnitAssignment m = AssignUnitItems(VolumeItems(req), h);
    if (!m.ok()) return Status::Internal("volume selector: host " + h.host().id + " has no room");
    a.volumes = VolumeSlices(req, m, h);
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewVolumeFitFilter(const PluginArgs&) {
  return std::make_unique<VolumeFit>();
}

std::unique_ptr<DeviceSelector> NewVolumeSelector(const PluginArgs&) {
  return std::make_unique<VolumeSelector>();
}

}  // namespace devshare::placement
