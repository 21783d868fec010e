// Upper bound on the GPU milli that ANY placement -- even an offline one that knows the whole
// arrival set -- can allocate from a set of arrived pods on an openb-style cluster (reference
// §2a), solved as a linear program with GLPK. The default method is a configuration LP on the
// GPU side (Gilmore & Gomory, "A linear programming approach to the cutting-stock problem",
// Oper. Res. 1961) priced by column generation, certified by a dual-feasible solution so the
// figure is a valid bound even if pricing stops early; the alternative is an aggregated LP with
// dual-feasible-function cuts (Fekete & Schepers, Math. Prog. 2001; Martello & Toth's L2).
// Thread-safety: all functions are reentrant; GLPK calls are serialised by an internal mutex
// (GLPK's environment is not thread-local in every build), so concurrent callers just wait.
#ifndef DEVSHARE_SIM_BOUND_H_
#define DEVSHARE_SIM_BOUND_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "devshare/core/request.h"
#include "devshare/core/result.h"
#include "devshare/sim/trace.h"

namespace devshare::sim {

// The LP in one place (all quantities per node type t = identical (cpu, memory, GPUs, model),
// N_t nodes, G_t GPUs each; shape s = identical (cpu, memory, num_gpu k, gpu milli v, models),
// c_s pods of it; x[s][t] >= 0 = pods of s placed on type t, only where one pod of s fits an
// empty node of t: model accepted, k <= G_t, cpu_s <= cpu_t, mem_s <= mem_t):
//   max  sum x[s][t] * k_s * v_s                                       (GPU milli allocated)
//   (D)  sum_t x[s][t] <= c_s                                          per shape
//   (C)  sum_s x[s][t] * cpu_s <= N_t * cpu_t                          per type
//   (M)  sum_s x[s][t] * mem_s <= N_t * mem_t                          per type
//   (K)  sum_{s: k_s = k} x[s][t] <= N_t * floor(G_t / k)              per type, k >= 2
//   (H)  sum_{s: k_s > G_t / 2} x[s][t] <= N_t                         per type (one per node)
//   (U)  x[s][t] <= N_t * min(floor(cpu_t / cpu_s), floor(mem_t / mem_s), GPU slots)  (column
//        bound: what one node can hold of s alone; GPU slots = G_t * floor(1000 / v) for a
//        share pod, floor(G_t / k) for a whole-GPU pod)
// GPU side, kConfiguration (the default, strongest): y[p][t] >= 0 = GPUs of type t packed with
// share pattern p (a multiset of share milli values summing to <= 1000):
//   (G)  sum_{whole s} k_s x[s][t] + sum_p y[p][t] <= N_t * G_t        per type
//   (L)  sum_{share s: v_s = v} x[s][t] - sum_p a[p][v] y[p][t] <= 0   per type, share value v
// Patterns are priced by an unbounded knapsack over the duals of (L) against the dual of (G).
// GPU side, kAggregateCuts: for each dual-feasible function f in a fixed family (identity = the
// milli capacity; Fekete-Schepers U^(k), k = 1..10, e.g. U^(1) = "one pod > 500 milli per GPU",
// U^(2) = "pods in (333, 667) count 1/2, pods >= 667 count 1"; Martello-Toth f_eps for eps = each
// share size <= 500 (pods > 1000 - eps count 1, pods < eps count 0); and U^(k) o f_eps):
//   (F)  sum_{whole s} k_s x[s][t] + sum_{share s} f(v_s / 1000) x[s][t] <= N_t * G_t
// (valid because f is dual-feasible: sizes summing to <= 1 on one GPU have f-values summing to
// <= 1, and f(1) = 1 for every GPU a whole-GPU pod takes).
// Every integral placement is a feasible point of either LP (per-node and per-GPU constraints
// summed over a type's nodes / GPUs), so each optimum bounds it; the
// reported figure is the objective of a dual-feasible solution (weak duality), which bounds the
// full LP even when column generation stops at its round limit. CPU-only pods are left out
// (they cannot raise GPU allocation; the LP may leave any pod unplaced). Traits, isolation and
// the arrival order are ignored (dropping constraints keeps the bound valid). Memory is exact:
// it is part of the shape.
struct BoundOptions {
  enum class Method { kConfiguration, kAggregateCuts };
  Method method = Method::kConfiguration;
  int max_pricing_rounds = 2000;  // kConfiguration only; the bound stays valid when reached
  // Bound only the placements that place every share-GPU pod (one GPU, < 1000 milli) that
  // fits: the LP first places as many share pods as it can (each earns a bonus worth more GPUs
  // than any node has), then maximises GPU milli. The plain LP may leave any pod out, and its
  // optimum on the openb traces leaves out 810-milli pods so that their GPUs go to whole-GPU
  // pods; a work-conserving scheduler cannot choose that, because it refuses an 810-milli pod
  // only when no GPU has 810 milli free, when every whole-GPU pod is refused as well. This
  // variant is that optimum without the choice (see docs/results.md for how to read it).
  bool place_every_share_pod = false;
};

struct BoundResult {
  double max_gpu_milli = 0;      // certified upper bound on allocatable GPU milli
  double max_alloc_pct = 0;      // the same in % of cluster GPU capacity
  double lp_primal_milli = 0;    // objective of the last primal LP solution (<= max_gpu_milli)
  int64_t capacity_milli = 0;    // cluster GPU capacity
  double demand_gpu_milli = 0;   // GPU demand of the pods given (expected, for the expectation)
  int node_types = 0;            // GPU node types in the LP
  int shapes = 0;                // GPU pod shapes in the LP (CPU-only pods are left out)
  int lp_rows = 0, lp_cols = 0;  // final LP size (columns include generated patterns)
  int patterns = 0;              // share patterns in the final LP (kConfiguration)
  int pricing_rounds = 0;        // LP solves (kConfiguration)
  bool converged = true;         // false if pricing stopped at max_pricing_rounds
  // What the last primal LP solution leaves unplaced, in GPU milli, by the milli a pod asks of
  // each GPU (1000 for whole-GPU pods of any count): how the optimum reaches its figure (e.g. by
  // leaving out 810-milli pods, whose GPUs would strand 190 milli each). A diagnostic of one
  // optimal solution, not part of the certificate.
  std::map<int, double> unplaced_milli_by_gpu_milli;
  double share_pods_left_out = 0;  // share pods the final primal solution leaves out
  std::string solver_status;       // "optimal", or what went wrong
};

// A pod shape with a (possibly fractional, e.g. expected) number of pods.
struct ShapeDemand {
  VmRequest shape;  // cpu_milli, memory_mib, gpu.count, gpu.milli, gpu.models are used
  double count = 0;
};

// Bound for an explicit list of arrived pods (e.g. ArrivedAt100 of one seed's sequence).
// InvalidArgument for negative node amounts, invalid requests (VmRequest::Validate) or GPU
// partition profiles; Internal if GLPK fails. A cluster without GPUs bounds at 0 (pct 0).
Result<BoundResult> ComputeAllocationBound(const std::vector<NodeRecord>& nodes,
                                           const std::vector<VmRequest>& arrived,
                                           const BoundOptions& options = {});

// Bound for shapes with counts (counts must be finite and >= 0).
Result<BoundResult> ComputeAllocationBoundForDemand(const std::vector<NodeRecord>& nodes,
                                                    const std::vector<ShapeDemand>& demand,
                                                    const BoundOptions& options = {});

// Bound for the EXPECTED arrival set at 100 % of the inflate protocol (§2a): the shuffled
// originals (plus uniform clones, or minus uniform removals) cut at 100 % of GPU demand hold
// each original shape in proportion, so count_s = n_s * capacity / (trace GPU demand), in both
// the inflation and the sampling case (boundary effects of the last pod ignored). The LP value
// is concave in the counts, so by Jensen this bounds the expected per-seed bound and hence the
// expected allocation of every policy. InvalidArgument if the trace has no GPU demand.
Result<BoundResult> ComputeExpectedAllocationBound(const std::vector<NodeRecord>& nodes,
                                                   const std::vector<VmRequest>& trace_pods,
                                                   const BoundOptions& options = {});

// The pods that have arrived when arrived GPU demand reaches 100 %: the longest prefix of
// `sequence` whose cumulative GPU demand (count x milli) is <= capacity_milli. (The runner's
// bin 100 averages events at 99.5..100.5 % arrived; the bound is nondecreasing in arrivals, so
// compare a bin with the bound of the prefix at its upper edge when rigour matters.)
std::vector<VmRequest> ArrivedAt100(const std::vector<VmRequest>& sequence, int64_t capacity_milli);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_BOUND_H_
