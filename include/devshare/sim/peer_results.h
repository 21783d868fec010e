// The FGD artifact's published per-seed results (peer_analysis_allo_discrete.csv: one row per
// workload, policy, tune, seed with GPU allocation % per arrived-% bin) and their comparison
// with our runs of the same protocol.
// Thread-safety: pure functions; PeerResults is an immutable value after reading.
#ifndef DEVSHARE_SIM_PEER_RESULTS_H_
#define DEVSHARE_SIM_PEER_RESULTS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::sim {

struct PeerStat {
  int seeds = 0;
  double unalloc_mean = 0;  // 100 - allocation % at arrived = 100 %, mean over seeds
  double unalloc_median = 0;
};

// (workload, our policy name) -> stats. Workload as in the file, e.g. "openb_pod_list_default".
using PeerResults = std::map<std::pair<std::string, std::string>, PeerStat>;

// Reads the peer CSV; the peer's policy labels map to ours (01-Random -> random, 02-DotProd ->
// dot_product, 03-GpuClustering -> gpu_clustering, 04-GpuPacking -> gpu_packing,
// 05-BestFit -> best_fit, 06-FGD -> fgd). Only rows with the given tune are kept.
// Errors name file:line.
Result<PeerResults> ReadPeerAllocation(const std::string& path, double tune);

// The reproduction band of the foundation issue: 0.5 points, 1.0 for random.
double PeerTolerance(const std::string& policy);

// "openb_pod_list_default" from ".../openb_pod_list_default.csv".
std::string WorkloadName(const std::string& pods_path);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_PEER_RESULTS_H_
