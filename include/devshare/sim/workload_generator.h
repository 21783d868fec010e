// Synthetic openb-like GPU cluster and pod list whose distributions follow the published
// statistics of the openb trace (reference/gpu-sharing-benchmark.md §1). Used by `devshare gen`
// and `devshare demo` so the project never ships the public trace itself.
// Thread-safety: pure functions of their options; safe to call concurrently.
#ifndef DEVSHARE_SIM_WORKLOAD_GENERATOR_H_
#define DEVSHARE_SIM_WORKLOAD_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/sim/trace.h"

namespace devshare::sim {

struct GeneratorOptions {
  int nodes = 1213;  // GPU nodes in the cluster (1..100000)
  uint64_t seed = 42;
  // Number of pods; 0 = derive so the total GPU request is ~98 % of cluster GPU capacity,
  // as in the openb default trace.
  int pods = 0;
  bool with_times = true;  // fill creation/deletion/scheduled times (for replay mode)
};

struct GeneratedWorkload {
  std::vector<NodeRecord> nodes;
  std::vector<PodRecord> pods;
};

// Generates the cluster and the pods. InvalidArgument for out-of-range options.
Result<GeneratedWorkload> GenerateWorkload(const GeneratorOptions& options);

// Writes DIR/openb_node_list_gpu_node.csv and DIR/openb_pod_list_default.csv (creates DIR).
Status WriteWorkload(const GeneratedWorkload& w, const std::string& dir);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_WORKLOAD_GENERATOR_H_
