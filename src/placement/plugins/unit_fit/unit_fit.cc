// The generic filter and selector of unit-device kinds.
#include "placement/plugins/unit_fit/unit_fit.h"

#include <string>

namespace devshare::placement {
namespace {

class UnitFit final : public FilterPlugin {
 public:
  explicit UnitFit(const UnitKind& kind) : kind_(kind) {}
  std::string_view Name() const override { return kind_.filter_name; }
  bool ReadsOnlyHostState(const VmRequest&) const override { return true; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    if (!req.HasDevicesBeyondGpus()) return true;
    const std::vector<UnitItem> items = kind_.items(req);
    return items.empty() || AssignUnitItems(items, h).ok();
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    const std::vector<UnitItem> items = kind_.items(req);
    return {"", kind_.resource, ExplainUnitFailure(items, AssignUnitItems(items, h), h)};
  }

 private:
  UnitKind kind_;
};

class UnitSelector final : public DeviceSelector {
 public:
  explicit UnitSelector(const UnitKind& kind) : kind_(kind) {}
  std::string_view Name() const override { return kind_.selector_name; }
  DeviceKind Kind() const override { return kind_.kind; }
  Status Select(const VmRequest& req, const HostState& h, int, Allocation& a) override {
    if (!req.HasDevicesBeyondGpus()) return Status::Ok();
    const std::vector<UnitItem> items = kind_.items(req);
    if (items.empty()) return Status::Ok();
    UnitAssignment m = AssignUnitItems(items, h);
    if (!m.ok()) {
      return Status::Internal(std::string(kind_.selector_name) + " selector: host " + h.host().id +
                              " has no room");
    }
    a.*kind_.slices = UnitSlices(items, m, h);
    return Status::Ok();
  }

 private:
  UnitKind kind_;
};

}  // namespace

std::unique_ptr<FilterPlugin> NewUnitFitFilter(const UnitKind& kind) {
  return std::make_unique<UnitFit>(kind);
}

std::unique_ptr<DeviceSelector> NewUnitSelector(const UnitKind& kind) {
  return std::make_unique<UnitSelector>(kind);
}

}  // namespace devshare::placement
