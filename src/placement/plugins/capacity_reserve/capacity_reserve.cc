// capacity reserve: commits the allocation on the host state with the generation compare.
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class CapacityReserve final : public ReservePlugin {
 public:
  std::string_view Name() const override { return "capacity"; }
  Status Reserve(const Allocation& a, HostState& h) override { return h.Apply(a); }
  void Unreserve(const Allocation& a, HostState& h) override {
    Allocation applied = a;
    (void)h.Release(applied);
  }
};

}  // namespace

std::unique_ptr<ReservePlugin> NewCapacityReserve(const PluginArgs&) {
  return std::make_unique<CapacityReserve>();
}

}  // namespace devshare::placement
