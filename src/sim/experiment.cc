// FGD-protocol experiment runner (reference §2a) with worker threads over (policy, seed) runs.
#include "devshare/sim/experiment.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <numeric>
#include <thread>

#include "devshare/sim/stats.h"
#include "sim/run_grid.h"

namespace devshare::sim {
namespace {

// The arrival sequence of one seed: shuffled originals, then inflation (or random removal) to
// tune x capacity; and the node rank permutation. Uses one Random in this fixed order.
struct Arrivals {
  std::vector<VmRequest> pods;
  std::vector<int> node_order;
};

Arrivals BuildArrivals(const std::vector<VmRequest>& orig, int num_nodes, int64_t capacity_milli,
                       double tune, uint64_t seed) {
  Random rng(seed);
  Arrivals a;
  a.pods = orig;
  rng.Shuffle(a.pods);
  const double target = tune * static_cast<double>(capacity_milli);
  int64_t req = 0;
  for (const VmRequest& p : a.pods) req += p.gpu.TotalMilli();
  if (static_cast<double>(req) < target && !orig.empty()) {
    for (int i = 0;; ++i) {
      const VmRequest& p = orig[rng.Uniform(orig.size())];
      // As the reference simulator: compare with the per-GPU milli, then add the full demand.
      if (static_cast<double>(req + p.gpu.milli) > target) break;
      VmRequest clone = p;
      clone.id = p.id + "-tuned-" + std::to_string(i);
      req += p.gpu.TotalMilli();
      a.pods.push_back(std::move(clone));
    }
  } else if (static_cast<double>(req) > target) {
    while (static_cast<double>(req) > target && !a.pods.empty()) {
      size_t k = static_cast<size_t>(rng.Uniform(a.pods.size()));
      req -= a.pods[k].gpu.TotalMilli();
      a.pods.erase(a.pods.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  a.node_order.resize(num_nodes);
  std::iota(a.node_order.begin(), a.node_order.end(), 0);
  rng.Shuffle(a.node_order);
  return a;
}

Result<RunResult> RunOne(const std::vector<Host>& hosts, const std::vector<VmRequest>& orig,
                         const std::shared_ptr<const placement::TypicalPods>& typical,
                         const std::string& policy, uint64_t seed, double tune,
                         bool devshare_without_prior, const placement::PluginRegistry& registry,
                         const Clock& clock) {
  const TimePoint start = clock.Now();
  ClusterState cluster;
  int64_t capacity = 0;
  for (const Host& h : hosts) {
    for (int idx : h.GpuDeviceIndices()) capacity += h.devices[idx].inventory.Capacity();
  }
  Arrivals arr = BuildArrivals(orig, static_cast<int>(hosts.size()), capacity, tune, seed);
  cluster.hosts.reserve(hosts.size());
  for (int idx : arr.node_order) cluster.hosts.push_back(hosts[idx]);
  cluster.Reset();

  placement::FrameworkConfig config;
  config.policy = policy;
  config.args.seed = seed;
  if (!(devshare_without_prior && policy == "devshare")) config.args.typical_pods = typical;
  DS_ASSIGN_OR_RETURN(std::unique_ptr<placement::Framework> fw, registry.BuildFramework(config));
  fw->set_sole_writer(true);  // hosts change only through fw (no scan of every host)

  // Fragmentation of every node, kept current as placements change single nodes.
  placement::TypicalPods measure = *typical;
  std::vector<double> node_frag(cluster.states.size());
  double frag_total = 0;
  for (size_t i = 0; i < cluster.states.size(); ++i) {
    const HostState& h = cluster.states[i];
    node_frag[i] = measure.NodeFragMilli(h.cpu_free_milli(), h.gpu_free_milli(), h.gpu_model());
    frag_total += node_frag[i];
  }

  RunResult run;
  run.policy = policy;
  run.seed = seed;
  run.pods_arrived = static_cast<int>(arr.pods.size());
  std::vector<double> alloc_sum(kCurveBins, 0), frag_sum(kCurveBins, 0);
  std::vector<int> bin_events(kCurveBins, 0);
  std::vector<double> decision_us;
  decision_us.reserve(arr.pods.size());
  int64_t arrived = 0;
  int64_t used = 0;
  const double cap = static_cast<double>(capacity);
  std::vector<int64_t> refused_milli(kRefusedBins, 0);
  auto snapshot_holes = [&] {
    for (int64_t milli : FreeMilliByHole(cluster)) {
      run.free_by_hole_pct_at_100.push_back(100.0 * static_cast<double>(milli) / cap);
    }
    for (int64_t milli : refused_milli) {
      run.refused_by_size_pct_at_100.push_back(100.0 * static_cast<double>(milli) / cap);
    }
  };
  for (const VmRequest& p : arr.pods) {
    if (run.free_by_hole_pct_at_100.empty() && arrived + p.gpu.TotalMilli() > capacity) {
      snapshot_holes();
    }
    arrived += p.gpu.TotalMilli();
    const TimePoint t0 = clock.Now();
    DS_ASSIGN_OR_RETURN(placement::PlacementOutcome out, fw->Schedule(p, cluster));
    const TimePoint t1 = clock.Now();
    const long bin = std::lround(std::floor(100.0 * static_cast<double>(arrived) / cap + 0.5));
    decision_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (out.placed()) {
      ++run.pods_placed;
      used += out.allocation.GpuMilli();
      const int i = out.allocation.host_index;
      const HostState& h = cluster.states[i];
      const double f = measure.NodeFragMilli(h.cpu_free_milli(), h.gpu_free_milli(), h.gpu_model());
      frag_total += f - node_frag[i];
      node_frag[i] = f;
    } else {
      ++run.pods_failed;
      if (const int b = RefusedBin(p); b >= 0) refused_milli[b] += p.gpu.TotalMilli();
    }
    if (bin >= 0 && bin < kCurveBins) {
      alloc_sum[bin] += 100.0 * static_cast<double>(used) / cap;
      frag_sum[bin] += 100.0 * frag_total / cap;
      bin_events[bin]++;
    }
  }
  if (run.free_by_hole_pct_at_100.empty()) snapshot_holes();
  // Bins no event fell into (a multi-GPU arrival can jump over one) carry the previous value.
  run.alloc_curve.assign(kCurveBins, 0);
  run.frag_curve.assign(kCurveBins, 0);
  double last_alloc = 0, last_frag = 0;
  for (int b = 0; b < kCurveBins; ++b) {
    if (bin_events[b] > 0) {
      last_alloc = alloc_sum[b] / bin_events[b];
      last_frag = frag_sum[b] / bin_events[b];
    }
    run.alloc_curve[b] = last_alloc;
    run.frag_curve[b] = last_frag;
  }
  run.unallocated_gpu_pct_at_100 = 100.0 - run.alloc_curve[100];
  run.frag_gpu_pct_at_100 = run.frag_curve[100];
  run.decision_us_p50 = Quantile(decision_us, 0.50);
  run.decision_us_p99 = Quantile(decision_us, 0.99);
  run.wall_s = std::chrono::duration<double>(clock.Now() - start).count();
  return run;
}

}  // namespace

std::string HoleBinLabel(int bin) {
  if (bin == kHoleBins - 1) return "idle";
  return std::to_string(kHoleBinEdges[bin]) + "-" + std::to_string(kHoleBinEdges[bin + 1] - 1);
}

std::string RefusedBinLabel(int bin) {
  if (bin == kRefusedBins - 1) return "whole GPUs";
  return "share " + std::to_string(kRefusedBinEdges[bin]) + "-" +
         std::to_string(kRefusedBinEdges[bin + 1] - 1);
}

int RefusedBin(const VmRequest& request) {
  if (request.gpu.count <= 0 || request.gpu.milli <= 0) return -1;
  int b = 0;
  while (b + 1 < kRefusedBins && request.gpu.milli >= kRefusedBinEdges[b + 1]) ++b;
  return b;
}

std::vector<int64_t> FreeMilliByHole(const ClusterState& cluster) {
  std::vector<int64_t> milli(kHoleBins, 0);
  for (const HostState& h : cluster.states) {
    for (int32_t f : h.gpu_free_milli()) {
      if (f <= 0) continue;
      int b = 0;
      while (b + 1 < kHoleBins && f >= kHoleBinEdges[b + 1]) ++b;
      milli[b] += f;
    }
  }
  return milli;
}

std::vector<VmRequest> ArrivalSequence(const std::vector<VmRequest>& orig, int64_t capacity_milli,
                                       double tune, uint64_t seed) {
  return BuildArrivals(orig, 0, capacity_milli, tune, seed).pods;
}

Host HostFromNode(const NodeRecord& n) {
  return Host::MakeGpuHost(n.name, n.cpu_milli, n.memory_mib, n.gpus, n.model);
}

VmRequest RequestFromPod(const PodRecord& p) {
  VmRequest r;
  r.id = p.name;
  r.cpu_milli = p.cpu_milli;
  r.memory_mib = p.memory_mib;
  r.gpu.count = p.num_gpu;
  r.gpu.milli = p.num_gpu > 0 ? p.gpu_milli : 0;
  r.gpu.models = p.gpu_spec;
  return r;
}

std::vector<VmRequest> RequestsFromPods(const std::vector<PodRecord>& pods) {
  std::vector<VmRequest> out;
  out.reserve(pods.size());
  for (const PodRecord& p : pods) out.push_back(RequestFromPod(p));
  return out;
}

std::vector<VmRequest> RequestsByName(const std::vector<PodRecord>& pods) {
  std::vector<const PodRecord*> sorted;
  sorted.reserve(pods.size());
  for (const PodRecord& p : pods) sorted.push_back(&p);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const PodRecord* a, const PodRecord* b) { return a->name < b->name; });
  std::vector<VmRequest> out;
  out.reserve(sorted.size());
  for (const PodRecord* p : sorted) out.push_back(RequestFromPod(*p));
  return out;
}

ClusterSummary Summarize(const std::vector<NodeRecord>& nodes) {
  ClusterSummary s;
  s.nodes = static_cast<int>(nodes.size());
  for (const NodeRecord& n : nodes) {
    s.gpus += n.gpus;
    s.gpu_milli += int64_t{n.gpus} * kMilliPerDevice;
    s.cpu_milli += n.cpu_milli;
    s.memory_mib += n.memory_mib;
  }
  return s;
}

Result<ExperimentResult> RunInflateExperiment(const std::vector<NodeRecord>& nodes,
                                              const std::vector<PodRecord>& pods,
                                              const ExperimentOptions& options,
                                              const placement::PluginRegistry& registry,
                                              const Clock& clock, ProgressFn progress) {
  if (!(options.tune > 0) || options.tune > 10) {
    return Status::InvalidArgument("--tune " + std::to_string(options.tune) + " outside (0, 10]");
  }
  DS_ASSIGN_OR_RETURN(internal::PreparedTrace trace,
                      internal::PrepareTrace(nodes, pods, options.policies, options.seeds,
                                             options.typical_coverage, registry));
  ExperimentResult result;
  result.cluster = trace.cluster;
  result.pods = static_cast<int>(pods.size());
  result.tune = options.tune;
  result.typical_shapes = trace.typical->distinct_shapes();
  result.typical_kept = static_cast<int>(trace.typical->shapes().size());
  result.typical_coverage = trace.typical->kept_coverage();
  DS_ASSIGN_OR_RETURN(result.runs, internal::RunGrid<RunResult>(
                                       options.policies, options.seeds, options.jobs,
                                       [&](const internal::GridTask& t) {
                                         return RunOne(trace.hosts, trace.orig, trace.typical,
                                                       t.policy, t.seed, options.tune,
                                                       options.devshare_without_prior, registry,
                                                       clock);
                                       },
                                       [&](const RunResult& run, int done, int total) {
                                         if (progress) progress(run, done, total);
                                       }));
  return result;
}

std::vector<PolicySummary> SummarizeRuns(const ExperimentResult& r,
                                         const std::vector<std::string>& policies) {
  std::vector<PolicySummary> out;
  for (const std::string& p : policies) {
    PolicySummary s;
    s.policy = p;
    std::vector<double> un;
    double frag = 0, p50 = 0, p99 = 0, wall = 0;
    s.free_by_hole_pct_mean.assign(kHoleBins, 0.0);
    s.refused_by_size_pct_mean.assign(kRefusedBins, 0.0);
    for (const RunResult& run : r.runs) {
      if (run.policy != p) continue;
      un.push_back(run.unallocated_gpu_pct_at_100);
      for (size_t b = 0; b < run.free_by_hole_pct_at_100.size() && b < kHoleBins; ++b) {
        s.free_by_hole_pct_mean[b] += run.free_by_hole_pct_at_100[b];
      }
      for (size_t b = 0; b < run.refused_by_size_pct_at_100.size() && b < kRefusedBins; ++b) {
        s.refused_by_size_pct_mean[b] += run.refused_by_size_pct_at_100[b];
      }
      frag += run.frag_gpu_pct_at_100;
      p50 += run.decision_us_p50;
      p99 += run.decision_us_p99;
      wall += run.wall_s;
    }
    s.seeds = static_cast<int>(un.size());
    if (s.seeds == 0) continue;
    const double n = static_cast<double>(s.seeds);
    s.unalloc_mean = std::accumulate(un.begin(), un.end(), 0.0) / n;
    s.unalloc_median = Quantile(un, 0.5);
    double var = 0;
    for (double v : un) var += (v - s.unalloc_mean) * (v - s.unalloc_mean);
    s.unalloc_sd = s.seeds > 1 ? std::sqrt(var / (n - 1)) : 0;
    s.frag_mean = frag / n;
    for (double& v : s.free_by_hole_pct_mean) v /= n;
    for (double& v : s.refused_by_size_pct_mean) v /= n;
    s.decision_us_p50_mean = p50 / n;
    s.decision_us_p99_mean = p99 / n;
    s.wall_s_mean = wall / n;
    out.push_back(s);
  }
  return out;
}

}  // namespace devshare::sim
