// GPU selection rules (best / first / worst fit, random) over the device predicates.
#include "placement/device_match.h"

#include <vector>

namespace devshare::placement {

bool GpuCanTakeShare(const VmRequest& req, const HostState& h, int g) {
  return g >= 0 && g < h.gpu_count() && GpuFitsShare(req, h, g);
}

GpuChoice SelectGpusByRule(const VmRequest& req, const HostState& h, FitRule rule) {
  GpuChoice c;
  if (!req.gpu.Any()) return c;
  const int n = h.gpu_count();
  if (req.gpu.IsWhole()) {
    for (int g = 0; g < n && static_cast<int>(c.gpus.size()) < req.gpu.count; ++g) {
      if (GpuFitsWhole(req, h, g)) c.gpus.push_back(g);
    }
    if (static_cast<int>(c.gpus.size()) < req.gpu.count) c.gpus.clear();
    return c;
  }
  int best = -1;
  int best_start = -1;
  for (int g = 0; g < n; ++g) {
    int start = -1;
    if (req.gpu.IsPartition()) {
      start = GpuPartitionStart(req, h, g);
      if (start < 0) continue;
    } else if (!GpuFitsShare(req, h, g)) {
      continue;
    }
    if (best < 0) {
      best = g;
      best_start = start;
      if (rule == FitRule::kFirst) break;
      continue;
    }
    const int32_t free_g = h.gpu_free_milli()[g];
    const int32_t free_best = h.gpu_free_milli()[best];
    if ((rule == FitRule::kBest && free_g < free_best) ||
        (rule == FitRule::kWorst && free_g > free_best)) {
      best = g;
      best_start = start;
    }
  }
  if (best >= 0) {
    c.gpus.push_back(best);
    c.start_slot = best_start;
  }
  return c;
}

GpuChoice SelectGpusRandomly(const VmRequest& req, const HostState& h, Random& random) {
  if (!req.gpu.Any() || req.gpu.IsWhole()) return SelectGpusByRule(req, h, FitRule::kFirst);
  std::vector<int> fitting;
  std::vector<int> starts;
  for (int g = 0; g < h.gpu_count(); ++g) {
    if (req.gpu.IsPartition()) {
      int s = GpuPartitionStart(req, h, g);
      if (s >= 0) {
        fitting.push_back(g);
        starts.push_back(s);
      }
    } else if (GpuFitsShare(req, h, g)) {
      fitting.push_back(g);
      starts.push_back(-1);
    }
  }
  GpuChoice c;
  if (fitting.empty()) return c;
  size_t k = static_cast<size_t>(random.Uniform(fitting.size()));
  c.gpus.push_back(fitting[k]);
  c.start_slot = starts[k];
  return c;
}

}  // namespace devshare::placement
