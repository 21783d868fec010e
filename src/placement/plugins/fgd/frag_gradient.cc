// FragGradientScore: after-state evaluation and caching shared by fgd and devshare.
#include "placement/plugins/fgd/frag_gradient.h"

#include "placement/device_match.h"

namespace devshare::placement {

void FragGradientScore::BeginRequest(const VmRequest& req, const ClusterState& cluster) {
  if (&cluster != cluster_ || cluster.states.size() != cluster_hosts_) {
    // Another cluster: generations restart, so nothing cached may be reused.
    cluster_ = &cluster;
    cluster_hosts_ = cluster.states.size();
    cache_.clear();
    shape_ids_.clear();
    measure_.clear();
  }
  cacheable_ = req.tenant.empty() && !req.isolation_floor;
  if (!cacheable_) return;
  auto [it, inserted] = shape_ids_.emplace(RequestShapeKey(req), static_cast<int>(cache_.size()));
  if (inserted) cache_.emplace_back();
  shape_ = it->second;
}

int64_t FragGradientScore::Score(const VmRequest& req, const HostState& h, int host_index) {
  return Evaluate(req, h, host_index).score;
}

GpuChoice FragGradientScore::ChooseGpus(const VmRequest& req, const HostState& h, int host_index) {
  // Whole GPUs are interchangeable for the measure: take the lowest-index free ones.
  if (!req.gpu.Any() || req.gpu.IsWhole()) return SelectGpusByRule(req, h, FitRule::kFirst);
  return ChoiceOnGpu(req, h, Evaluate(req, h, host_index).gpu);
}

double FragGradientScore::NodeMeasure(const HostState& h, int host_index) {
  if (host_index >= static_cast<int>(measure_.size())) measure_.resize(host_index + 1);
  Frag& f = measure_[host_index];
  if (f.generation != h.generation()) {
    f.generation = h.generation();
    f.value = Measure(h.cpu_free_milli(), h.gpu_free_milli(), h.gpu_model());
  }
  return f.value;
}

FragGradientScore::Entry FragGradientScore::Evaluate(const VmRequest& req, const HostState& h,
                                                     int host_index) {
  Entry* slot = nullptr;
  if (cacheable_) {
    std::vector<Entry>& row = cache_[shape_];
    if (host_index >= static_cast<int>(row.size())) row.resize(host_index + 1);
    slot = &row[host_index];
    if (slot->generation == h.generation()) return *slot;
  }
  Entry e = Compute(req, h, host_index);
  e.generation = h.generation();
  if (slot != nullptr) *slot = e;
  return e;
}

FragGradientScore::Entry FragGradientScore::Compute(const VmRequest& req, const HostState& h,
                                                    int host_index) {
  const double before = NodeMeasure(h, host_index);
  const int64_t cpu_after = h.cpu_free_milli() - req.cpu_milli;
  scratch_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
  Entry e;
  if (req.gpu.IsShare() || req.gpu.IsPartition()) {
    for (int g = 0; g < h.gpu_count(); ++g) {
      const int milli = MilliOnGpu(req, h, g);
      if (milli < 0) continue;
      scratch_[g] -= milli;
      const double after = Measure(cpu_after, scratch_, h.gpu_model());
      scratch_[g] += milli;
      const int64_t s = ScoreChange(before, after, req, h, g);
      if (e.gpu < 0 || s > e.score) {  // first GPU with the best score
        e.score = s;
        e.gpu = g;
      }
    }
    return e;
  }
  // CPU-only or whole GPUs: the after-state does not depend on which free GPUs are taken.
  int need = req.gpu.count;
  for (int g = 0; g < h.gpu_count() && need > 0; ++g) {
    if (GpuFitsWhole(req, h, g)) {
      scratch_[g] = 0;
      --need;
    }
  }
  e.score = ScoreChange(before, Measure(cpu_after, scratch_, h.gpu_model()), req, h, -1);
  return e;
}

}  // namespace devshare::placement
