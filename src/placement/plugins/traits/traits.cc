// traits filter: every required trait present on the host, no forbidden trait present.
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

class Traits final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "traits"; }
  bool ReadsOnlyHostState(const VmRequest&) const override { return true; }
  bool Fits(const VmRequest& req, const HostState& h) const override {
    const auto& have = h.host().traits;
    for (const std::string& t : req.required_traits) {
      if (!have.count(t)) return false;
    }
    for (const std::string& t : req.forbidden_traits) {
      if (have.count(t)) return false;
    }
    return true;
  }
  Reason Explain(const VmRequest& req, const HostState& h) const override {
    const auto& have = h.host().traits;
    for (const std::string& t : req.required_traits) {
      if (!have.count(t)) return {"", "traits", "traits: required " + t + " missing"};
    }
    for (const std::string& t : req.forbidden_traits) {
      if (have.count(t)) return {"", "traits", "traits: forbidden " + t + " present"};
    }
    return {"", "traits", "traits: ok"};
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> NewTraitsFilter(const PluginArgs&) {
  return std::make_unique<Traits>();
}

}  // namespace devshare::placement
