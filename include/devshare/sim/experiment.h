// The FGD experiment protocol (reference §2a): typical pods from the original trace, shuffle,
// inflation to tune x GPU capacity, seeded node rank, pure arrival sequence; every (policy, seed)
// run through the same placement framework, several runs in parallel worker threads.
// Thread-safety: RunInflateExperiment is reentrant; it starts and joins its own workers.
#ifndef DEVSHARE_SIM_EXPERIMENT_H_
#define DEVSHARE_SIM_EXPERIMENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/host.h"
#include "devshare/core/request.h"
#include "devshare/core/result.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/registry.h"
#include "devshare/sim/trace.h"

namespace devshare::sim {

inline constexpr int kCurveBins = 131;  // arrived demand 0..130 % of GPU capacity

// Where the unallocated GPU capacity lies: free milli summed by how much each GPU has free.
// Bin b holds GPUs whose free milli f has kHoleBinEdges[b] <= f < kHoleBinEdges[b + 1]; the last
// bin holds idle GPUs (nothing placed on them, e.g. their host ran out of CPU or memory).
inline constexpr int kHoleBins = 5;
inline constexpr int kHoleBinEdges[kHoleBins + 1] = {1, 100, 200, 500, 1000, 1001};
// "1-99", "100-199", "200-499", "500-999", "idle".
std::string HoleBinLabel(int bin);
// Free GPU milli of the cluster per hole bin (kHoleBins values; fully used GPUs count nowhere).
std::vector<int64_t> FreeMilliByHole(const ClusterState& cluster);

// Who was turned away: GPU demand of the refused pods by what the pod asks of each GPU. Bin b
// holds share pods asking kRefusedBinEdges[b] <= milli < kRefusedBinEdges[b + 1]; the last bin
// holds whole-GPU pods (1000 milli of one or more GPUs).
inline constexpr int kRefusedBins = 4;
inline constexpr int kRefusedBinEdges[kRefusedBins + 1] = {1, 500, 800, 1000, 1001};
// "share 1-499", "share 500-799", "share 800-999", "whole GPUs".
std::string RefusedBinLabel(int bin);
int RefusedBin(const VmRequest& request);  // -1 for a request without GPUs

struct ExperimentOptions {
  std::vector<std::string> policies;
  std::vector<uint64_t> seeds;
  double tune = 1.3;  // inflate (or shrink) the arrival sequence to tune x GPU capacity
  int jobs = 2;       // worker threads
  double typical_coverage = 0.95;
  // devshare gets no typical-pod distribution and learns M from the arrivals alone; the other
  // policies keep the trace's M (it is part of their definition, fgd's in particular).
  bool devshare_without_prior = false;
};

struct ClusterSummary {
  int nodes = 0;
  int gpus = 0;
  int64_t gpu_milli = 0;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
};

struct RunResult {
  std::string policy;
  uint64_t seed = 0;
  int pods_arrived = 0;  // after inflation
  int pods_placed = 0;
  int pods_failed = 0;
  std::vector<double> alloc_curve;  // [bin] GPU allocation % of capacity (kCurveBins values)
  std::vector<double> frag_curve;   // [bin] fragmentation amount % of capacity
  double unallocated_gpu_pct_at_100 = 0;
  double frag_gpu_pct_at_100 = 0;
  // FreeMilliByHole just before the first arrival that takes arrived demand past 100 % of
  // capacity (after the pods of ArrivedAt100, bound.h), in % of capacity (kHoleBins values).
  std::vector<double> free_by_hole_pct_at_100;
  // GPU demand refused by then (the same pods), in % of capacity, by RefusedBin (kRefusedBins
  // values); sums to unallocated_gpu_pct_at_100 up to the arrived demand short of 100 %.
  std::vector<double> refused_by_size_pct_at_100;
  double decision_us_p50 = 0;
  double decision_us_p99 = 0;
  double wall_s = 0;
};

struct ExperimentResult {
  ClusterSummary cluster;
  int pods = 0;  // pods in the trace (before inflation)
  double tune = 0;
  int typical_shapes = 0;       // distinct shapes in the trace
  int typical_kept = 0;         // shapes kept in M
  double typical_coverage = 0;  // fraction of pods the kept shapes hold
  std::vector<RunResult> runs;  // ordered by (policy as given, seed as given)
};

// Conversions from trace records to the core model.
Host HostFromNode(const NodeRecord& n);
VmRequest RequestFromPod(const PodRecord& p);
// Every pod as a request, in the given order.
std::vector<VmRequest> RequestsFromPods(const std::vector<PodRecord>& pods);
// Every pod as a request, sorted by pod name (stable): the order the protocol shuffles from.
std::vector<VmRequest> RequestsByName(const std::vector<PodRecord>& pods);
ClusterSummary Summarize(const std::vector<NodeRecord>& nodes);

// The arrival sequence of one seed under the protocol: the originals (sorted by name) shuffled,
// then inflated with uniform clones (or thinned by uniform removals) to tune x capacity.
std::vector<VmRequest> ArrivalSequence(const std::vector<VmRequest>& orig, int64_t capacity_milli,
                                       double tune, uint64_t seed);

// Called after each finished run (from a worker thread, serialised by the runner).
using ProgressFn = std::function<void(const RunResult& run, int done, int total)>;

// Runs every (policy, seed). InvalidArgument for an empty cluster, unknown policies, bad tune.
// `clock` times decisions (reported only; never used to decide).
Result<ExperimentResult> RunInflateExperiment(const std::vector<NodeRecord>& nodes,
                                              const std::vector<PodRecord>& pods,
                                              const ExperimentOptions& options,
                                              const placement::PluginRegistry& registry,
                                              const Clock& clock, ProgressFn progress = nullptr);

// Per-policy aggregate over seeds.
struct PolicySummary {
  std::string policy;
  int seeds = 0;
  double unalloc_mean = 0, unalloc_median = 0, unalloc_sd = 0;
  double frag_mean = 0;
  std::vector<double> free_by_hole_pct_mean;     // [kHoleBins], mean over seeds
  std::vector<double> refused_by_size_pct_mean;  // [kRefusedBins], mean over seeds
  double decision_us_p50_mean = 0, decision_us_p99_mean = 0;
  double wall_s_mean = 0;
};
std::vector<PolicySummary> SummarizeRuns(const ExperimentResult& r,
                                         const std::vector<std::string>& policies);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_EXPERIMENT_H_
