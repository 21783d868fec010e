// The devshare policy's stranding measure (see the header).
// Thread-safety: see stranding.h.
#include "placement/plugins/devshare/stranding.h"

#include "placement/device_match.h"

namespace devshare::placement::devshare_policy {

void TakeWholeGpus(const VmRequest& req, const HostState& h, std::vector<int32_t>* free) {
  int need = req.gpu.count;
  for (int g = 0; g < h.gpu_count() && need > 0; ++g) {
    if (GpuFitsWhole(req, h, g)) {
      (*free)[g] = 0;
      --need;
    }
  }
}

void Stranding(const TypicalPods& m, int64_t cpu_free, const std::vector<int32_t>& free,
               const std::string& model, float* out) {
  int64_t total = 0;
  int fully_free = 0;
  for (int32_t f : free) {
    total += f;
    fully_free += f >= kMilliPerDevice ? 1 : 0;
  }
  const auto& shapes = m.shapes();
  const size_t k_n = shapes.size();
  for (size_t k = 0; k < k_n; ++k) {
    const TaskShape& s = shapes[k].shape;
    if (total == 0 || s.num_gpu == 0 || !Accepts(s, model)) {
      out[k] = static_cast<float>(total);
      continue;
    }
    const int64_t copies = Copies(s, cpu_free, free, fully_free);
    const double packing = static_cast<double>(total - copies * s.num_gpu * s.gpu_milli);
    const double fgd = TypicalPods::ShapeFragMilli(cpu_free, free, model, s);
    out[k] = static_cast<float>((1.0 - kFgdShare) * packing + kFgdShare * fgd);
  }
}

const float* StrandingMemo::Before(const TypicalPods& m, const HostState& h, int host_index) {
  const size_t k_n = m.shapes().size();
  if (host_index >= static_cast<int>(generation_.size())) {
    generation_.resize(host_index + 1, UINT64_MAX);
    values_.resize((host_index + 1) * k_n);
  }
  float* b = &values_[host_index * k_n];
  if (generation_[host_index] != h.generation()) {
    generation_[host_index] = h.generation();
    Stranding(m, h.cpu_free_milli(), h.gpu_free_milli(), h.gpu_model(), b);
  }
  return b;
}

void StrandingMemo::Clear() {
  generation_.clear();
  values_.clear();
}

}  // namespace devshare::placement::devshare_policy
