// devshare policy: fragmentation gradient descent over a packing-aware measure.
//
// FGD (Weng et al., ATC'23) counts a GPU as usable for a typical shape m as soon as its free milli
// is >= m's, so a GPU with 900 free looks as good as an empty one to an 810-milli task and the
// 90 milli it will strand are invisible. devshare measures, for each typical shape m, the GPU
// milli that a stream of copies of m could NOT use on the node: free milli minus
// (copies of m that fit, limited by GPU slots and by free CPU) x m's GPU demand. Its score is the
// decrease of that expected stranding, quantised to 100 milli so that near-equal choices tie and
// go to the lowest node rank (which packs hosts, the effect that makes FGD's integer scores
// work well). The typical shapes are the distribution FGD uses; everything is online.
// Measured effect: docs/placement.md.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "placement/plugins/builtin_plugins.h"
#include "placement/plugins/fgd/frag_gradient.h"

namespace devshare::placement {
namespace {

constexpr double kScoreQuantumMilli = 100.0;

bool Accepts(const TaskShape& m, const std::string& model) {
  return m.models.empty() || std::find(m.models.begin(), m.models.end(), model) != m.models.end();
}

class DevsharePolicy final : public FragGradientScore {
 public:
  explicit DevsharePolicy(TypicalPods typical) : typical_(std::move(typical)) {
    const char* b = std::getenv("DEVSHARE_BETA");
    beta_ = b ? std::atof(b) : 0.0;
    const char* a = std::getenv("DEVSHARE_ALPHA");
    alpha_ = a ? std::atof(a) : 2.0;
    price_.assign(typical_.shapes().size(), 1.0);
    if (beta_ > 0) cache_enabled_ = false;
    const char* q = std::getenv("DEVSHARE_Q");
    quantum_ = q ? std::atof(q) : kScoreQuantumMilli;
    const char* mx = std::getenv("DEVSHARE_MIX");
    mix_ = mx ? std::atof(mx) : 0.0;
  }
  std::string_view Name() const override { return "devshare"; }

  void BeginRequest(const VmRequest& req, const ClusterState& cluster) override {
    if (beta_ > 0) UpdatePrices(cluster);
    FragGradientScore::BeginRequest(req, cluster);
  }

 protected:
  // Expected GPU milli stranded w.r.t. a stream of copies of each typical shape.
  double Measure(int64_t cpu_free_milli, const std::vector<int32_t>& gpu_free_milli,
                 const std::string& model) override {
    int64_t total = 0;
    int fully_free = 0;
    for (int32_t f : gpu_free_milli) {
      total += f;
      fully_free += f >= kMilliPerDevice ? 1 : 0;
    }
    if (total == 0) return 0;
    double stranded = mix_ > 0 ? mix_ * typical_.NodeFragMilli(cpu_free_milli, gpu_free_milli, model) : 0;
    const double own = 1.0 - mix_;
    for (const WeightedShape& w : typical_.shapes()) {
      const TaskShape& m = w.shape;
      if (m.num_gpu == 0 || !Accepts(m, model)) {
        stranded += own * w.p * static_cast<double>(total);  // cannot use any of it
        continue;
      }
      int64_t copies = 0;
      if (m.gpu_milli < kMilliPerDevice) {
        for (int32_t f : gpu_free_milli) copies += f / m.gpu_milli;
      } else {
        copies = fully_free / m.num_gpu;
      }
      if (m.cpu_milli > 0) copies = std::min<int64_t>(copies, cpu_free_milli / m.cpu_milli);
      copies = std::max<int64_t>(copies, 0);
      stranded += own * w.p * price_[&w - &typical_.shapes()[0]] *
                  static_cast<double>(total - copies * m.num_gpu * m.gpu_milli);
    }
    return stranded;
  }

  int64_t Copies(const TaskShape& m, int64_t cpu, const std::vector<int32_t>& free) {
    int64_t copies = 0;
    if (m.gpu_milli < kMilliPerDevice) {
      for (int32_t f : free) copies += f / m.gpu_milli;
    } else {
      int full = 0;
      for (int32_t f : free) full += f >= kMilliPerDevice ? 1 : 0;
      copies = full / m.num_gpu;
    }
    if (m.cpu_milli > 0) copies = std::min<int64_t>(copies, cpu / m.cpu_milli);
    return std::max<int64_t>(copies, 0);
  }

  void UpdatePrices(const ClusterState& cluster) {
    const auto& shapes = typical_.shapes();
    const size_t n = cluster.states.size();
    if (node_gen_.size() != n) {
      node_gen_.assign(n, UINT64_MAX);
      node_copies_.assign(n, std::vector<int64_t>(shapes.size(), 0));
      supply_.assign(shapes.size(), 0);
      free_total_ = 0;
      node_free_.assign(n, 0);
    }
    for (size_t i = 0; i < n; ++i) {
      const HostState& h = cluster.states[i];
      if (node_gen_[i] == h.generation()) continue;
      node_gen_[i] = h.generation();
      free_total_ += h.gpu_free_total_milli() - node_free_[i];
      node_free_[i] = h.gpu_free_total_milli();
      for (size_t k = 0; k < shapes.size(); ++k) {
        const TaskShape& m = shapes[k].shape;
        int64_t c = (m.num_gpu == 0 || !Accepts(m, h.gpu_model()))
                        ? 0
                        : Copies(m, h.cpu_free_milli(), h.gpu_free_milli());
        supply_[k] += c - node_copies_[i][k];
        node_copies_[i][k] = c;
      }
    }
    double mean_gpu = 0;
    for (const WeightedShape& w : shapes) mean_gpu += w.p * w.shape.num_gpu * w.shape.gpu_milli;
    const double pods_left = mean_gpu > 0 ? static_cast<double>(free_total_) / mean_gpu : 0;
    for (size_t k = 0; k < shapes.size(); ++k) {
      if (shapes[k].shape.num_gpu == 0) continue;
      const double demand = shapes[k].p * pods_left;
      const double ratio = std::min(4.0, demand / std::max<double>(1.0, supply_[k]));
      price_[k] = 1.0 + beta_ * std::pow(ratio, alpha_);
    }
  }

  int64_t ScoreChange(double before, double after, const VmRequest&, const HostState&,
                      int) override {
    return static_cast<int64_t>(std::floor((before - after) / quantum_));
  }

 private:
  TypicalPods typical_;
  double beta_ = 0, alpha_ = 2, quantum_ = 100, mix_ = 0;
  std::vector<double> price_;
  std::vector<uint64_t> node_gen_;
  std::vector<std::vector<int64_t>> node_copies_;
  std::vector<int64_t> supply_;
  std::vector<int64_t> node_free_;
  int64_t free_total_ = 0;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewDevshareScore(const PluginArgs& args) {
  if (args.typical_pods == nullptr) {
    return Status::InvalidArgument("policy devshare needs a typical-pod distribution");
  }
  return std::unique_ptr<ScorePlugin>(std::make_unique<DevsharePolicy>(*args.typical_pods));
}

}  // namespace devshare::placement
