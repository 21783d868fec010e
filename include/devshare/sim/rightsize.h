// Right-sizing experiment (`devshare sim --mode rightsize`): replays per-pod usage series through
// sizing policies side by side — static peak (the user's choice), static p95, Autopilot's
// moving-window recommender, devshare's controller (predict::RightSizer) with every forecaster,
// and a perfect-foresight oracle as a bound — and reports per policy and resource: time-weighted
// slack, violations (pod-minutes with usage above allocation), resizes per pod-hour, forecast
// accuracy (pinball loss, windows covered within 25 % slack), and the GPUs needed to host every
// pod when packed by GPU-memory allocation over time (resize in place, else move).
// Thread-safety: RunRightsize is a pure function of its input (uses worker threads inside).
#ifndef DEVSHARE_SIM_RIGHTSIZE_H_
#define DEVSHARE_SIM_RIGHTSIZE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/predict/forecaster.h"
#include "devshare/predict/right_sizer.h"
#include "devshare/sim/usage_trace.h"

namespace devshare::sim {

struct RightsizePolicy {
  enum class Kind { kStaticPeak, kStaticP95, kController, kOracle };
  std::string name;
  Kind kind = Kind::kController;
  std::string forecaster;             // kController: registry name
  predict::ForecastOptions forecast;  // kController: quantile, horizon, half-life
  double margin = 0.1;                // kController: safety margin over the forecast
  int64_t shrink_interval_s = 600;    // kController: rate limit on shrinks
  double hysteresis = 0.05;
  std::string description;  // for the report ("p98 of a 12 h half-life histogram ...")
};

struct RightsizeOptions {
  std::vector<RightsizePolicy> policies;
  double gpu_memory_capacity_mib = 80 * 1024;  // per GPU, for packing and the allocation cap
  int64_t horizon_s = 300;                     // windows of forecast accuracy and the oracle
  int jobs = 2;                                // worker threads (one policy each)
  // GPUs are counted from this second of the run on: the trace's pods are all running when it
  // starts, each at its user's ask, so the first minutes say nothing about a policy.
  int64_t gpu_count_after_s = 3600;
};

// The policies of one run: static-peak, static-p95, autopilot (Autopilot's recommender with its
// published settings), devshare-<f> for each forecaster f with devshare's settings, oracle.
// With several margins, one row per forecaster and margin, named devshare-<f>@<margin>: the
// slack/violation frontier.
std::vector<RightsizePolicy> DefaultRightsizePolicies(const std::vector<std::string>& forecasters,
                                                      double quantile,
                                                      const std::vector<double>& margins,
                                                      int64_t horizon_s, double half_life_s = 3600,
                                                      int64_t shrink_interval_s = 600);

struct ResourceMetrics {
  int64_t pod_periods = 0;          // samples scored
  double slack_pct = 0;             // sum(max(0, alloc - used)) / sum(alloc), %
  double violation_pct = 0;         // samples with used > alloc, % of samples
  double resizes_per_pod_hour = 0;  // allocation changes
  double pinball_pct = 0;           // mean pinball loss of the forecast vs the next window's
                                    // peak, % of mean usage (NaN for static policies)
  double covered_25_pct = 0;        // windows whose allocation covers the peak with <= 25 %
                                    // slack, % of windows
};

struct RightsizePolicyResult {
  std::string policy;
  std::string description;
  ResourceMetrics metrics[kUsageResources];
  // GPUs to host every pod, packing by GPU-memory allocation: the max over time of a
  // first-fit-decreasing packing of that minute's allocations (shares may be re-placed).
  int gpus_needed = 0;
  int gpus_lower_bound = 0;  // max over time of ceil(sum of allocations / capacity)
  // Online, without re-placing: arrivals best-fit, a grow in place or else the pod moves.
  int gpus_online = 0;
  int64_t moves = 0;  // online: grows that did not fit in place
  double wall_s = 0;
  std::vector<double> allocated_gib;  // [period] sum of GPU-memory allocations
  const ResourceMetrics& Of(UsageResource r) const { return metrics[static_cast<int>(r)]; }
};

struct RightsizeResult {
  int pods = 0;
  int gpu_pods = 0;  // pods with a GPU-memory series
  int64_t periods = 0;
  int64_t period_s = 60;
  std::vector<double> used_gib;  // [period] sum of GPU memory used
  std::vector<RightsizePolicyResult> policies;
};

using RightsizeProgress = std::function<void(const RightsizePolicyResult&, int done, int total)>;

// Runs every policy over `pods`. InvalidArgument for an unknown forecaster or bad options.
Result<RightsizeResult> RunRightsize(const std::vector<PodUsage>& pods, int64_t periods,
                                     int64_t period_s, const RightsizeOptions& options,
                                     const predict::ForecasterRegistry& registry,
                                     const RightsizeProgress& progress = nullptr);

// Plain-text tables: the policy table (GPU memory: slack, violations, resizes, GPUs) and the
// forecast accuracy table (every resource).
std::string RightsizeTable(const RightsizeResult& r);
std::string RightsizeJson(const RightsizeResult& r);
// DIR/summary.json and DIR/report.html (plots of allocation over time, slack vs violations,
// GPUs needed), written atomically.
Status WriteRightsizeOutputs(const RightsizeResult& r, const std::string& title,
                             const std::string& dir);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_RIGHTSIZE_H_
