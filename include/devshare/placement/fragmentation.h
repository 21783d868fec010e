// GPU fragmentation measure and typical-pod distribution of FGD (Weng et al., "Beware of
// Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent",
// USENIX ATC'23), as the reference simulator computes them (reference §2b).
// Thread-safety: TypicalPods caches per-model views lazily, so one instance must not be used by
// two threads at once; copy it per thread (copies are independent).
#ifndef DEVSHARE_PLACEMENT_FRAGMENTATION_H_
#define DEVSHARE_PLACEMENT_FRAGMENTATION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devshare/core/request.h"

namespace devshare::placement {

// Task shape: (cpu, per-GPU milli, GPU count, acceptable models). Memory is not part of it.
struct TaskShape {
  int64_t cpu_milli = 0;
  int gpu_milli = 0;
  int num_gpu = 0;
  std::vector<std::string> models;  // empty = any model

  static TaskShape Of(const VmRequest& r);
  bool operator==(const TaskShape& o) const = default;
  std::string ToString() const;  // "(3152m, 1x810m)" or "(8000m, 0 GPU)" with "|T4" spec suffix
};

struct WeightedShape {
  TaskShape shape;
  int64_t count = 0;  // occurrences in the source pod list (0 when given by hand)
  double p = 0;       // probability mass used by the measure
};

// A target workload distribution M over task shapes.
class TypicalPods {
 public:
  TypicalPods() = default;
  // Takes the shapes and their probabilities as given (no renormalisation).
  explicit TypicalPods(std::vector<WeightedShape> shapes);
  TypicalPods(const TypicalPods& o)
      : shapes_(o.shapes_),
        distinct_shapes_(o.distinct_shapes_),
        kept_coverage_(o.kept_coverage_) {}
  TypicalPods& operator=(const TypicalPods& o) {
    shapes_ = o.shapes_;
    distinct_shapes_ = o.distinct_shapes_;
    kept_coverage_ = o.kept_coverage_;
    views_.clear();
    return *this;
  }
  TypicalPods(TypicalPods&&) = default;
  TypicalPods& operator=(TypicalPods&&) = default;

  // FGD's TypicalPods(): count shapes over `pods`, sort by count (desc; ties: larger cpu, larger
  // gpu milli, larger GPU count, then spec), keep the fewest top shapes whose cumulative count
  // reaches `coverage` of all pods, and set p = count / (sum of kept counts).
  static TypicalPods FromPods(std::span<const VmRequest> pods, double coverage = 0.95);

  const std::vector<WeightedShape>& shapes() const { return shapes_; }
  int distinct_shapes() const { return distinct_shapes_; }
  double kept_coverage() const { return kept_coverage_; }  // fraction of pods the kept shapes hold

  // F_n(m) in milli-GPU for a node with `cpu_free_milli`, per-GPU free milli and GPU `model`.
  static double ShapeFragMilli(int64_t cpu_free_milli, std::span<const int32_t> gpu_free_milli,
                               const std::string& model, const TaskShape& m);
  // F_n(M) = sum_m p_m F_n(m).
  double NodeFragMilli(int64_t cpu_free_milli, std::span<const int32_t> gpu_free_milli,
                       const std::string& model) const;

 private:
  // Shapes that can use GPUs of one model, plus the mass of those that cannot (CPU-only tasks,
  // model mismatch): their fragment is simply all free GPU milli.
  struct ModelView {
    double blind_p = 0;
    std::vector<const WeightedShape*> gpu_shapes;
  };
  const ModelView& ViewFor(const std::string& model) const;

  std::vector<WeightedShape> shapes_;
  int distinct_shapes_ = 0;
  double kept_coverage_ = 1.0;
  mutable std::map<std::string, ModelView> views_;  // pointers into shapes_; rebuilt on copy
};

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_FRAGMENTATION_H_
