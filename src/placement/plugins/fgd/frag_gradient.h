// FragGradientScore: the engine of fragmentation-gradient policies (fgd; devshare has its own
// vector-valued variant in plugins/devshare).
// For a request it evaluates, on each feasible host, the after-state of placing it (trying each
// fitting GPU for shared/partition requests) and scores the change of a node fragmentation
// measure. Scores depend only on (host state, request shape), so they are cached per host
// generation and shape. Subclasses supply the measure and the score of a change.
// Thread-safety: one instance per Framework (single thread).
#ifndef DEVSHARE_PLACEMENT_PLUGINS_FGD_FRAG_GRADIENT_H_
#define DEVSHARE_PLACEMENT_PLUGINS_FGD_FRAG_GRADIENT_H_

#include <string>
#include <unordered_map>
#include <vector>

#include "devshare/placement/fragmentation.h"
#include "devshare/placement/framework.h"

namespace devshare::placement {

class FragGradientScore : public GpuChoosingScorePlugin {
 public:
  void BeginRequest(const VmRequest& req, const ClusterState& cluster) override;
  // Scores depend on the host state and the request shape only (the caches are keyed by host
  // generation), so the framework may score one host per class.
  bool ScoresByHostState() const override { return true; }
  int64_t Score(const VmRequest& req, const HostState& h, int host_index) override;
  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int host_index) override;

 protected:
  // Fragmentation (milli-GPU) of a node with this free CPU and per-GPU free milli.
  virtual double Measure(int64_t cpu_free_milli, const std::vector<int32_t>& gpu_free_milli,
                         const std::string& model) = 0;
  // Score of moving the node's measure from `before` to `after` (higher is better).
  // `host` is the state before placement; `gpu` the GPU tried (-1 for whole/CPU-only).
  virtual int64_t ScoreChange(double before, double after, const VmRequest& req,
                              const HostState& host, int gpu) = 0;

 private:
  struct Entry {
    uint64_t generation = UINT64_MAX;
    int64_t score = 0;
    int gpu = -1;
  };
  struct Frag {
    uint64_t generation = UINT64_MAX;
    double value = 0;
  };
  double NodeMeasure(const HostState& h, int host_index);
  Entry Evaluate(const VmRequest& req, const HostState& h, int host_index);
  Entry Compute(const VmRequest& req, const HostState& h, int host_index);

  const ClusterState* cluster_ = nullptr;  // the cluster the caches describe
  size_t cluster_hosts_ = 0;
  std::unordered_map<std::string, int> shape_ids_;
  std::vector<std::vector<Entry>> cache_;  // [shape id][host index]
  std::vector<Frag> measure_;              // [host index]
  std::vector<int32_t> scratch_;
  bool cacheable_ = false;
  int shape_ = -1;
};

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_PLUGINS_FGD_FRAG_GRADIENT_H_
