// The devshare policy's prices from the cluster state: scarcity weights of M's shapes (2.),
// p_k x (1 + min(4, demand / supply of slots)), and capability prices (5.) of priced request
// classes, GPU milli x P(Poisson(D) >= S) per lost place. Supply and places are maintained from
// host generations; prices move only when kRepriceFraction of the GPU capacity changed hands.
// Thread-safety: a ClusterPrices belongs to one policy (one thread); free functions are pure.
#ifndef DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_CLUSTER_PRICES_H_
#define DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_CLUSTER_PRICES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/core/request.h"
#include "devshare/placement/fragmentation.h"
#include "placement/plugins/devshare/demand_window.h"

namespace devshare::placement::devshare_policy {

inline constexpr double kMaxScarcity = 4.0;
inline constexpr double kRepriceFraction = 0.01;  // re-price after 1 % of capacity changed
inline constexpr double kMinCapPrice = 1.0;  // milli per lost place below which a cap is ignored

// P(N >= s) for N ~ Poisson(d).
double PoissonTail(double d, int64_t s);

// Copies of class d a node with this free CPU/memory/GPU can still host (0 if d does not accept
// the model); `fully_free` = FullyFreeGpus(free).
int64_t ClassCopies(const Demand& d, int64_t cpu_free, int64_t mem_free,
                    const std::vector<int32_t>& free, int fully_free, const std::string& model);
// ClassCopies on a host whose model d accepts.
int64_t AcceptedClassCopies(const Demand& d, int64_t cpu_free, int64_t mem_free,
                            const std::vector<int32_t>& free, int fully_free);

class ClusterPrices {
 public:
  // Installs M: weights back to the plain p_k, every host recounted at the next Update.
  void SetDistribution(const TypicalPods& m);
  // Installs the request classes and which are priced (caps: indices into classes); their places
  // are recounted (and everything re-priced) at the next Update.
  void SetDemand(DemandClasses demand);
  // Forgets every host: the next Update recounts all (another cluster, or generations restart).
  void Reset() { node_generation_.clear(); }
  // Brings supply and places up to date with the hosts whose generation changed and re-prices
  // when the free GPU milli moved by kRepriceFraction of the capacity (or the classes changed).
  // `changed` (may be null: compare every host): the hosts that may have changed since the
  // previous Update on this cluster; it must hold every one that did (repeats are fine).
  void Update(const ClusterState& cluster, const std::vector<int>* changed = nullptr);

  // p_k x scarcity price_k per shape of M.
  const std::vector<float>& weights() const { return weight_; }
  // Bumped at every re-pricing: what was computed under one epoch holds until the next.
  uint64_t epoch() const { return price_epoch_; }
  // Cluster-wide copies of shape k that fit (as of the last Update).
  int64_t supply(size_t k) const { return supply_[k]; }
  // Caps whose lost places cost at least kMinCapPrice now, and their price (milli per place).
  size_t priced_caps() const { return cap_prices_.size(); }
  double cap_price(size_t i) const { return cap_prices_[i].price; }
  // True if the host holds a place of a cap whose places are priced now.
  bool HoldsPricedPlace(int host_index) const;
  // Priced cap places the request would remove from the host when placed on `gpu` (-1: whole
  // GPUs / CPU-only), in milli. REQUIRES: Update saw h's current generation.
  double CapCost(const VmRequest& req, const HostState& h, int host_index, int gpu);

 private:
  struct CapPrice {
    size_t cap = 0;    // index into caps_
    double price = 0;  // milli per place lost
  };
  void PriceCaps(double pods_left);
  bool PlacesWithin(size_t t, size_t s) const;
  void UpdatePlaces(const HostState& h, size_t i);
  void RemapPlaces(const ClusterState& cluster);
  void CountFresh(const ClusterState& cluster);
  int StateId(const HostState& h);

  std::vector<WeightedShape> shapes_;  // M
  size_t k_ = 0;
  double mean_gpu_milli_ = 0;
  std::vector<float> weight_;  // p_k x scarcity price_k
  // Cluster-wide supply of slots per shape, maintained from host generations.
  std::vector<uint64_t> node_generation_;
  std::vector<int64_t> node_copies_;  // [host x k]
  std::vector<int64_t> node_free_;
  std::vector<int64_t> supply_;
  int64_t free_total_ = 0;
  int64_t capacity_total_ = 0;
  int64_t priced_at_free_ = 0;
  uint64_t price_epoch_ = UINT64_MAX;
  // Rare capability (5.): the window's GPU request classes, the priced ones and their places.
  std::vector<Demand> demand_;
  std::vector<size_t> caps_;  // indices into demand_
  bool demand_dirty_ = false;
  size_t words_ = 0;                      // 64-host words per class in places_
  std::vector<uint64_t> places_;          // [class][host bit]: the host can take the class now
  std::vector<int64_t> cap_supply_;       // per cap: copies that fit, cluster-wide
  std::vector<int64_t> node_cap_copies_;  // [host x cap]
  std::vector<CapPrice> cap_prices_;      // caps whose lost places cost >= kMinCapPrice
  // The classes and caps places_ / node_cap_copies_ are counted for (their rows, in order).
  std::vector<Demand> placed_demand_;
  std::vector<size_t> placed_caps_;
  // Per host, the id of its (free CPU, memory, GPUs, model) among the states seen on this
  // cluster (-1: not filed yet), for counting new classes once per distinct state.
  std::vector<int> node_state_;
  std::unordered_map<std::string, int> state_ids_;
  std::string state_key_;  // scratch
  // Classes and caps RemapPlaces found new, counted on every host at the end of Update.
  std::vector<size_t> fresh_classes_;
  std::vector<size_t> fresh_caps_;
  // Scratch of RemapPlaces and CountFresh, kept for their memory.
  std::vector<uint64_t> spare_places_;
  std::vector<int64_t> spare_cap_copies_;
  std::vector<int32_t> memo_of_state_;
  std::vector<int64_t> memo_;
  std::vector<int32_t> after_;  // scratch
};

}  // namespace devshare::placement::devshare_policy

#endif  // DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_CLUSTER_PRICES_H_
