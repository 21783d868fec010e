// The devshare policy's view of recent demand: a window of the last kWindowRequests requests,
// the online estimate of M over it (4.), and the GPU request classes the capability prices (5.)
// use, taken from the history (when given) while the window is filling.
// Thread-safety: a DemandWindow belongs to one policy (one thread); free functions are pure.
#ifndef DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_DEMAND_WINDOW_H_
#define DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_DEMAND_WINDOW_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "devshare/core/request.h"
#include "devshare/placement/fragmentation.h"

namespace devshare::placement::devshare_policy {

inline constexpr size_t kWindowRequests = 4096;   // online estimate of M: the last requests seen
inline constexpr size_t kRelearnEvery = 512;      // re-estimate M after this many requests
inline constexpr double kTypicalCoverage = 0.95;  // FGD's cut of the shape list
inline constexpr double kRelearnDistance = 0.15;  // total variation that counts as drift
inline constexpr int64_t kMinCapRequests = 2;     // window requests that make a class a priced cap

// A class of GPU requests: shape and memory (memory decides which hosts fit).
struct Demand {
  TaskShape shape;
  int64_t memory_mib = 0;
  double rate = 0;  // share of the counted requests
  bool SameClass(const Demand& o) const { return memory_mib == o.memory_mib && shape == o.shape; }
};

// The GPU request classes of some requests, how many requests each has, and how many requests
// there are in all (with or without GPUs).
struct ClassCounts {
  std::vector<Demand> classes;  // in order of first appearance; rate left 0
  std::vector<int64_t> counts;
  size_t requests = 0;
};
ClassCounts CountClasses(const std::vector<VmRequest>& requests);

// The classes of `counted` with their rates (count / requests), and which of them are priced
// caps: seen at least kMinCapRequests times with a shape outside M.
struct DemandClasses {
  std::vector<Demand> classes;
  std::vector<size_t> caps;  // indices into classes
};
DemandClasses PricedClasses(ClassCounts counted, const TypicalPods& m);

// Total variation distance between two shape distributions (a shape missing from one has
// p = 0 there): 0 for equal, 1 for disjoint.
double TotalVariation(const TypicalPods& a, const TypicalPods& b);

class DemandWindow {
 public:
  // `history` (may be null or empty): past requests, counted once; their classes stand in for
  // the window's until it holds kWindowRequests requests.
  explicit DemandWindow(const std::vector<VmRequest>* history);

  // Adds a request, replacing the oldest once the window is full. Returns true on every
  // kRelearnEvery-th call: time to re-estimate M (Relearn) and the classes (Classes).
  bool Add(const VmRequest& req);
  // FGD's typical pods of the window if they differ from `current` by more than
  // kRelearnDistance in total variation (sampling noise of a stationary workload stays below);
  // nullopt otherwise.
  std::optional<TypicalPods> Relearn(const TypicalPods& current) const;
  // The classes of the history while the window is not full and a history was given, else of
  // the window.
  ClassCounts Classes() const;

  bool has_history() const { return history_classes_.has_value(); }
  bool full() const { return window_.size() >= kWindowRequests; }
  // The window's requests (storage order of the ring buffer, not arrival order).
  const std::vector<VmRequest>& requests() const { return window_; }

 private:
  std::optional<ClassCounts> history_classes_;
  std::vector<VmRequest> window_;  // ring buffer of the last kWindowRequests requests
  size_t window_next_ = 0;
  size_t seen_since_learn_ = 0;
};

}  // namespace devshare::placement::devshare_policy

#endif  // DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_DEMAND_WINDOW_H_
