// PluginRegistry and the one explicit list of built-in plugins.
#include "devshare/placement/registry.h"

#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

template <typename Map>
std::string KnownNames(const Map& m) {
  std::string s;
  for (const auto& [name, f] : m) s += (s.empty() ? "" : ", ") + name;
  return s;
}

}  // namespace

Status PluginRegistry::RegisterFilter(const std::string& name, FilterFactory f) {
  if (!filters_.emplace(name, std::move(f)).second) {
    return Status::AlreadyExists("filter plugin '" + name + "' is already registered");
  }
  return Status::Ok();
}

Status PluginRegistry::RegisterScore(const std::string& name, ScoreFactory f) {
  if (!scores_.emplace(name, std::move(f)).second) {
    return Status::AlreadyExists("policy '" + name + "' is already registered");
  }
  return Status::Ok();
}

Status PluginRegistry::RegisterSelector(const std::string& name, SelectorFactory f) {
  if (!selectors_.emplace(name, std::move(f)).second) {
    return Status::AlreadyExists("device selector '" + name + "' is already registered");
  }
  return Status::Ok();
}

Status PluginRegistry::RegisterReserve(const std::string& name, ReserveFactory f) {
  if (!reserves_.emplace(name, std::move(f)).second) {
    return Status::AlreadyExists("reserve plugin '" + name + "' is already registered");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Framework>> PluginRegistry::BuildFramework(
    const FrameworkConfig& config) const {
  std::vector<std::unique_ptr<FilterPlugin>> filters;
  for (const std::string& name : config.filters) {
    auto it = filters_.find(name);
    if (it == filters_.end()) {
      return Status::NotFound("unknown filter plugin '" + name +
                              "' (known: " + KnownNames(filters_) + ")");
    }
    filters.push_back(it->second(config.args));
  }
  auto sit = scores_.find(config.policy);
  if (sit == scores_.end()) {
    return Status::NotFound("unknown policy '" + config.policy +
                            "' (known: " + KnownNames(scores_) + ")");
  }
  DS_ASSIGN_OR_RETURN(std::unique_ptr<ScorePlugin> score, sit->second(config.args));
  std::vector<std::unique_ptr<DeviceSelector>> selectors;
  for (const std::string& name : config.selectors) {
    auto it = selectors_.find(name);
    if (it == selectors_.end()) {
      return Status::NotFound("unknown device selector '" + name +
                              "' (known: " + KnownNames(selectors_) + ")");
    }
    selectors.push_back(it->second(config.args));
  }
  std::vector<std::unique_ptr<ReservePlugin>> reserves;
  for (const std::string& name : config.reserves) {
    auto it = reserves_.find(name);
    if (it == reserves_.end()) {
      return Status::NotFound("unknown reserve plugin '" + name +
                              "' (known: " + KnownNames(reserves_) + ")");
    }
    reserves.push_back(it->second(config.args));
  }
  return std::make_unique<Framework>(config.policy, std::move(filters), std::move(score),
                                     std::move(selectors), std::move(reserves));
}

std::vector<std::string> PluginRegistry::PolicyNames() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : scores_) out.push_back(name);
  return out;
}

void RegisterBuiltinPlacementPlugins(PluginRegistry& r) {
  (void)r.RegisterFilter("host_open", NewHostOpenFilter);
  (void)r.RegisterFilter("resources_fit", NewResourcesFitFilter);
  (void)r.RegisterFilter("gpu_model", NewGpuModelFilter);
  (void)r.RegisterFilter("gpu_fit", NewGpuFitFilter);
  (void)r.RegisterFilter("traits", NewTraitsFilter);
  (void)r.RegisterFilter("anti_affinity", NewAntiAffinityFilter);
  (void)r.RegisterFilter("isolation", NewIsolationFilter);
  (void)r.RegisterFilter("nic_fit", NewNicFitFilter);
  (void)r.RegisterFilter("volume_fit", NewVolumeFitFilter);
  (void)r.RegisterSelector("gpu", NewGpuSelector);
  (void)r.RegisterSelector("nic", NewNicSelector);
  (void)r.RegisterSelector("volume", NewVolumeSelector);
  (void)r.RegisterReserve("capacity", NewCapacityReserve);
  (void)r.RegisterScore("first_fit", NewFirstFitScore);
  (void)r.RegisterScore("random", NewRandomScore);
  (void)r.RegisterScore("least_utilized", NewLeastUtilizedScore);
  (void)r.RegisterScore("best_fit", NewBestFitScore);
  (void)r.RegisterScore("dot_product", NewDotProductScore);
  (void)r.RegisterScore("gpu_packing", NewGpuPackingScore);
  (void)r.RegisterScore("gpu_clustering", NewGpuClusteringScore);
  (void)r.RegisterScore("fgd", NewFgdScore);
  (void)r.RegisterScore("devshare", NewDevshareScore);
}

const std::vector<std::string>& PeerPolicyNames() {
  static const std::vector<std::string> kNames = {"random",      "dot_product", "gpu_clustering",
                                                  "gpu_packing", "best_fit",    "fgd"};
  return kNames;
}

const std::vector<std::string>& BuiltinPolicyNames() {
  static const std::vector<std::string> kNames = {
      "first_fit",   "least_utilized", "random", "dot_product", "gpu_clustering",
      "gpu_packing", "best_fit",       "fgd",    "devshare"};
  return kNames;
}

}  // namespace devshare::placement
