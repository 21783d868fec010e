// Factories of the built-in placement plugins; RegisterBuiltinPlacementPlugins() lists them.
// Thread-safety: factories are pure; each returned plugin belongs to one Framework.
#ifndef DEVSHARE_PLACEMENT_PLUGINS_BUILTIN_PLUGINS_H_
#define DEVSHARE_PLACEMENT_PLUGINS_BUILTIN_PLUGINS_H_

#include <memory>

#include "devshare/placement/registry.h"

namespace devshare::placement {

// Filters.
std::unique_ptr<FilterPlugin> NewResourcesFitFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewGpuModelFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewGpuFitFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewTraitsFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewAntiAffinityFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewHostOpenFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewIsolationFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewNicFitFilter(const PluginArgs& args);
std::unique_ptr<FilterPlugin> NewVolumeFitFilter(const PluginArgs& args);

// Device selectors (one per kind).
std::unique_ptr<DeviceSelector> NewGpuSelector(const PluginArgs& args);
std::unique_ptr<DeviceSelector> NewNicSelector(const PluginArgs& args);
std::unique_ptr<DeviceSelector> NewVolumeSelector(const PluginArgs& args);

// Reserve.
std::unique_ptr<ReservePlugin> NewCapacityReserve(const PluginArgs& args);

// Scores (policies).
Result<std::unique_ptr<ScorePlugin>> NewFirstFitScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewRandomScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewLeastUtilizedScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewBestFitScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewDotProductScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewGpuPackingScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewGpuClusteringScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewFgdScore(const PluginArgs& args);
Result<std::unique_ptr<ScorePlugin>> NewDevshareScore(const PluginArgs& args);

// Cluster-wide normalisers of the reference simulator (MaxSpecCpu, MaxSpecGpu).
inline constexpr double kMaxSpecCpuMilli = 128000.0;
inline constexpr double kMaxSpecGpuMilli = 8000.0;
inline constexpr int64_t kMaxNodeScore = 100;

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_PLUGINS_BUILTIN_PLUGINS_H_
