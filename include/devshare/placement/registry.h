// Explicit plugin registry: whoever builds a Framework owns a registry and fills it with
// RegisterBuiltinPlacementPlugins(); there is no global static registration. Plugin and policy
// names are stable API. Model: Kubernetes pkg/scheduler/framework/plugins/registry.go.
// Thread-safety: fill once, then read-only (BuildFramework is const and may run concurrently).
#ifndef DEVSHARE_PLACEMENT_REGISTRY_H_
#define DEVSHARE_PLACEMENT_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devshare/core/random.h"
#include "devshare/core/result.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/framework.h"

namespace devshare::placement {

// What plugin factories may use. Everything nondeterministic is injected.
struct PluginArgs {
  uint64_t seed = 42;  // seed of the plugin's own Random (random policy, tie-breaks)
  // Target workload for fragmentation-aware policies (fgd, devshare); required by them.
  std::shared_ptr<const TypicalPods> typical_pods;
  // Requests of the history the workload distribution comes from (optional). devshare prices
  // the places of rare request classes by it until its own window of recent requests is full,
  // so a cold scheduler already protects the hosts that only rare big requests fit.
  std::shared_ptr<const std::vector<VmRequest>> history;
  // Budget of (request key, host) score-cache entries for policies that cache (devshare);
  // 0 = the policy's default. Caching never changes a decision, only memory and speed.
  size_t score_cache_entries = 0;
};

using FilterFactory = std::function<std::unique_ptr<FilterPlugin>(const PluginArgs&)>;
using ScoreFactory = std::function<Result<std::unique_ptr<ScorePlugin>>(const PluginArgs&)>;
using SelectorFactory = std::function<std::unique_ptr<DeviceSelector>(const PluginArgs&)>;
using ReserveFactory = std::function<std::unique_ptr<ReservePlugin>(const PluginArgs&)>;

struct FrameworkConfig {
  std::string policy;  // score plugin name, e.g. "fgd"
  std::vector<std::string> filters = {"host_open", "resources_fit", "gpu_model",
                                      "gpu_fit",   "nic_fit",       "volume_fit",
                                      "traits",    "isolation",     "anti_affinity"};
  // One selector per device kind, run in this order on the chosen host.
  std::vector<std::string> selectors = {"gpu", "nic", "volume"};
  std::vector<std::string> reserves = {"capacity"};
  PluginArgs args;
};

class PluginRegistry {
 public:
  // AlreadyExists if the name is taken.
  Status RegisterFilter(const std::string& name, FilterFactory f);
  Status RegisterScore(const std::string& name, ScoreFactory f);
  Status RegisterSelector(const std::string& name, SelectorFactory f);
  Status RegisterReserve(const std::string& name, ReserveFactory f);

  // NotFound naming the unknown plugin and listing the known ones.
  Result<std::unique_ptr<Framework>> BuildFramework(const FrameworkConfig& config) const;

  std::vector<std::string> PolicyNames() const;  // registered score plugins, sorted
  bool HasPolicy(const std::string& name) const { return scores_.count(name) > 0; }

 private:
  std::map<std::string, FilterFactory> filters_;
  std::map<std::string, ScoreFactory> scores_;
  std::map<std::string, SelectorFactory> selectors_;
  std::map<std::string, ReserveFactory> reserves_;
};

// Registers every built-in filter, score (policy) and reserve plugin.
void RegisterBuiltinPlacementPlugins(PluginRegistry& registry);

// devshare's own policy: the default of `devshare sim` comparisons and of the control plane.
inline constexpr const char* kDefaultPolicy = "devshare";

// The six policies of the FGD paper's table, in its order.
const std::vector<std::string>& PeerPolicyNames();
// Every built-in policy in display order (baselines first).
const std::vector<std::string>& BuiltinPolicyNames();

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_REGISTRY_H_
