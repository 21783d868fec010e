// The devshare policy's scarcity and capability prices (see the header).
// Thread-safety: see cluster_prices.h.
#include "placement/plugins/devshare/cluster_prices.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "placement/device_match.h"
#include "placement/plugins/devshare/stranding.h"

namespace devshare::placement::devshare_policy {

double PoissonTail(double d, int64_t s) {
  if (s <= 0) return 1.0;
  if (d <= 0) return 0.0;
  // Outside d +- (12 sd + 20) the tail is below 1e-20: no need to sum.
  const double reach = 12.0 * std::sqrt(d) + 20.0;
  if (static_cast<double>(s) > d + reach) return 0.0;
  if (static_cast<double>(s) < d - reach) return 1.0;
  const double log_d = std::log(d);
  double below = 0;  // P(N < s), from the first term that is not negligible
  for (int64_t j = std::max<int64_t>(0, static_cast<int64_t>(d - reach)); j < s; ++j) {
    below += std::exp(static_cast<double>(j) * log_d - d - std::lgamma(static_cast<double>(j + 1)));
  }
  return std::max(0.0, 1.0 - below);
}

int64_t ClassCopies(const Demand& d, int64_t cpu_free, int64_t mem_free,
                    const std::vector<int32_t>& free, int fully_free, const std::string& model) {
  if (!Accepts(d.shape, model)) return 0;
  return AcceptedClassCopies(d, cpu_free, mem_free, free, fully_free);
}

int64_t AcceptedClassCopies(const Demand& d, int64_t cpu_free, int64_t mem_free,
                            const std::vector<int32_t>& free, int fully_free) {
  int64_t c = Copies(d.shape, cpu_free, free, fully_free);
  if (d.memory_mib > 0) c = std::min<int64_t>(c, mem_free / d.memory_mib);
  return std::max<int64_t>(c, 0);
}

void ClusterPrices::SetDistribution(const TypicalPods& m) {
  shapes_ = m.shapes();
  k_ = shapes_.size();
  weight_.assign(k_, 0.0f);
  supply_.assign(k_, 0);
  mean_gpu_milli_ = 0;
  for (size_t k = 0; k < k_; ++k) {
    mean_gpu_milli_ += shapes_[k].p * shapes_[k].shape.num_gpu * shapes_[k].shape.gpu_milli;
    weight_[k] = static_cast<float>(shapes_[k].p);
  }
  Reset();
}

void ClusterPrices::SetDemand(DemandClasses demand) {
  demand_ = std::move(demand.classes);
  caps_ = std::move(demand.caps);
  demand_dirty_ = true;
}

void ClusterPrices::Update(const ClusterState& cluster, const std::vector<int>* changed) {
  const size_t n = cluster.states.size();
  bool full_scan = false;
  if (node_generation_.size() != n) {
    full_scan = true;
    node_generation_.assign(n, UINT64_MAX - 1);  // "never seen"
    capacity_total_ = 0;
    price_epoch_ = UINT64_MAX;
    node_copies_.assign(n * k_, 0);
    node_free_.assign(n, 0);
    node_state_.assign(n, -1);
    state_ids_.clear();
    std::fill(supply_.begin(), supply_.end(), 0);
    free_total_ = 0;
    demand_dirty_ = true;
    placed_demand_.clear();  // rows of another cluster: recount every class
    placed_caps_.clear();
  }
  bool reprice = false;
  if (demand_dirty_) {
    demand_dirty_ = false;
    reprice = true;
    RemapPlaces(cluster);
  }
  // Every host, or only those named as changed (the sums below are order-independent).
  const bool all = changed == nullptr || full_scan;
  const size_t visits = all ? n : changed->size();
  for (size_t v = 0; v < visits; ++v) {
    const size_t i = all ? v : static_cast<size_t>((*changed)[v]);
    const HostState& h = cluster.states[i];
    if (node_generation_[i] == h.generation()) continue;
    if (node_generation_[i] == UINT64_MAX - 1) capacity_total_ += h.gpu_capacity_total_milli();
    node_generation_[i] = h.generation();
    free_total_ += h.gpu_free_total_milli() - node_free_[i];
    node_free_[i] = h.gpu_free_total_milli();
    node_state_[i] = StateId(h);
    const int fully_free = FullyFreeGpus(h.gpu_free_milli());
    for (size_t k = 0; k < k_; ++k) {
      const TaskShape& m = shapes_[k].shape;
      const int64_t c = (m.num_gpu == 0 || !Accepts(m, h.gpu_model()))
                            ? 0
                            : Copies(m, h.cpu_free_milli(), h.gpu_free_milli(), fully_free);
      supply_[k] += c - node_copies_[i * k_ + k];
      node_copies_[i * k_ + k] = c;
    }
    if (!demand_.empty()) UpdatePlaces(h, i);
  }
  if (!fresh_classes_.empty() || !fresh_caps_.empty()) CountFresh(cluster);
  // Prices move with the free capacity; re-price when it moved by kRepriceFraction of the
  // cluster (and memoised scores stay valid in between).
  const int64_t capacity = std::max<int64_t>(1, capacity_total_);
  if (!reprice && price_epoch_ != UINT64_MAX &&
      std::llabs(free_total_ - priced_at_free_) < kRepriceFraction * capacity) {
    return;
  }
  priced_at_free_ = free_total_;
  ++price_epoch_;
  const double pods_left =
      mean_gpu_milli_ > 0 ? static_cast<double>(free_total_) / mean_gpu_milli_ : 0;
  for (size_t k = 0; k < k_; ++k) {
    double price = 1.0;
    if (shapes_[k].shape.num_gpu > 0) {
      const double demand = shapes_[k].p * pods_left;
      price += std::min(kMaxScarcity, demand / std::max<double>(1.0, supply_[k]));
    }
    weight_[k] = static_cast<float>(shapes_[k].p * price);
  }
  PriceCaps(pods_left);
}

// Price of a lost place of each cap: its GPU milli x P(Poisson(D) >= S), D counting the demand
// of every class whose places all are places of the cap too (they compete for the same hosts;
// two 8-GPU / 120-vCPU classes differing in memory both need an empty G3 host).
void ClusterPrices::PriceCaps(double pods_left) {
  cap_prices_.clear();
  for (size_t j = 0; j < caps_.size(); ++j) {
    const size_t s = caps_[j];
    if (cap_supply_[j] == 0) continue;  // no place left to protect
    double rate = demand_[s].rate;
    for (size_t t = 0; t < demand_.size(); ++t) {
      if (t != s && PlacesWithin(t, s)) rate += demand_[t].rate;
    }
    const Demand& d = demand_[s];
    const double price = static_cast<double>(d.shape.num_gpu) * d.shape.gpu_milli *
                         PoissonTail(rate * pods_left, cap_supply_[j]);
    if (price >= kMinCapPrice) cap_prices_.push_back({j, price});
  }
}

// True if class t has a place and every host that can take t can take class s.
bool ClusterPrices::PlacesWithin(size_t t, size_t s) const {
  const uint64_t* a = &places_[t * words_];
  const uint64_t* b = &places_[s * words_];
  bool any = false;
  for (size_t w = 0; w < words_; ++w) {
    if ((a[w] & ~b[w]) != 0) return false;
    any = any || a[w] != 0;
  }
  return any;
}

// Places and cap copies of a class depend only on the class and the host states, so a class
// the previous demand had too keeps its row (hosts changed since are recounted by Update's
// loop, as for every class); only new classes are counted on every host (CountFresh).
void ClusterPrices::RemapPlaces(const ClusterState& cluster) {
  const size_t n = cluster.states.size();
  const size_t words = (n + 63) / 64;
  const size_t c_n = caps_.size();
  auto find_old = [&](const Demand& d) -> int {
    for (size_t o = 0; o < placed_demand_.size(); ++o) {
      if (placed_demand_[o].SameClass(d)) return static_cast<int>(o);
    }
    return -1;
  };
  // Built in the spare buffers and swapped in: reusing their memory spares the page faults
  // of fresh multi-megabyte arrays every kRelearnEvery requests.
  std::vector<uint64_t>& places = spare_places_;
  std::vector<int64_t>& node_cap_copies = spare_cap_copies_;
  places.assign(demand_.size() * words, 0);
  node_cap_copies.assign(n * c_n, 0);
  std::vector<int64_t> cap_supply(c_n, 0);
  std::vector<size_t> fresh_classes, fresh_caps;
  std::vector<std::pair<size_t, size_t>> kept_caps;  // (new cap, old cap)
  for (size_t t = 0; t < demand_.size(); ++t) {
    const int o = words == words_ ? find_old(demand_[t]) : -1;
    if (o < 0) {
      fresh_classes.push_back(t);
      continue;
    }
    std::copy_n(&places_[static_cast<size_t>(o) * words], words, &places[t * words]);
  }
  const size_t old_c_n = placed_caps_.size();
  for (size_t j = 0; j < c_n; ++j) {
    int oj = -1;
    if (words == words_) {
      for (size_t q = 0; q < old_c_n; ++q) {
        if (placed_demand_[placed_caps_[q]].SameClass(demand_[caps_[j]])) {
          oj = static_cast<int>(q);
          break;
        }
      }
    }
    if (oj < 0) {
      fresh_caps.push_back(j);
      continue;
    }
    cap_supply[j] = cap_supply_[oj];
    kept_caps.emplace_back(j, static_cast<size_t>(oj));
  }
  for (size_t i = 0; i < n; ++i) {  // one pass, row by row
    for (const auto& [j, oj] : kept_caps) {
      node_cap_copies[i * c_n + j] = node_cap_copies_[i * old_c_n + oj];
    }
  }
  places_.swap(places);
  cap_supply_ = std::move(cap_supply);
  node_cap_copies_.swap(node_cap_copies);
  words_ = words;
  placed_demand_ = demand_;
  placed_caps_ = caps_;
  fresh_classes_ = std::move(fresh_classes);
  fresh_caps_ = std::move(fresh_caps);
}

// Counts the classes RemapPlaces found new on every host, once per distinct host state (hosts
// of equal free CPU, memory, GPUs and model take the same copies). Runs after Update's loop,
// so every host's state id is current; it sets (not adds) what the loop set for changed hosts.
void ClusterPrices::CountFresh(const ClusterState& cluster) {
  const size_t n = cluster.states.size();
  const size_t c_n = caps_.size();
  if (state_ids_.size() > 4 * n + 1024) {  // ids of states long gone: start afresh
    state_ids_.clear();
    std::fill(node_state_.begin(), node_state_.end(), -1);
  }
  for (size_t i = 0; i < n; ++i) {
    if (node_state_[i] < 0) node_state_[i] = StateId(cluster.states[i]);
  }
  for (size_t j : fresh_caps_) cap_supply_[j] = 0;
  const size_t f_n = fresh_classes_.size() + fresh_caps_.size();
  std::vector<int32_t>& memo_of_state = memo_of_state_;  // -> row of memo
  memo_of_state.assign(state_ids_.size(), -1);
  std::vector<int64_t>& memo = memo_;
  memo.clear();
  for (size_t i = 0; i < n; ++i) {
    int32_t& row = memo_of_state[static_cast<size_t>(node_state_[i])];
    if (row < 0) {
      row = static_cast<int32_t>(memo.size() / f_n);
      const HostState& h = cluster.states[i];
      const int fully_free = FullyFreeGpus(h.gpu_free_milli());
      for (size_t t : fresh_classes_) {
        memo.push_back(ClassCopies(demand_[t], h.cpu_free_milli(), h.memory_free_mib(),
                                   h.gpu_free_milli(), fully_free, h.gpu_model()));
      }
      for (size_t j : fresh_caps_) {
        memo.push_back(ClassCopies(demand_[caps_[j]], h.cpu_free_milli(), h.memory_free_mib(),
                                   h.gpu_free_milli(), fully_free, h.gpu_model()));
      }
    }
    const int64_t* m = &memo[static_cast<size_t>(row) * f_n];
    const uint64_t bit = uint64_t{1} << (i % 64);
    size_t q = 0;
    for (size_t t : fresh_classes_) {
      uint64_t& w = places_[t * words_ + i / 64];
      w = m[q++] > 0 ? (w | bit) : (w & ~bit);
    }
    for (size_t j : fresh_caps_) {
      const int64_t c = m[q++];
      cap_supply_[j] += c;
      node_cap_copies_[i * c_n + j] = c;
    }
  }
  fresh_classes_.clear();
  fresh_caps_.clear();
}

// Id of the host's (model, free CPU, free memory, per-GPU free milli): what ClassCopies reads.
int ClusterPrices::StateId(const HostState& h) {
  state_key_.clear();
  const int64_t cpu = h.cpu_free_milli();
  const int64_t mem = h.memory_free_mib();
  state_key_.append(reinterpret_cast<const char*>(&cpu), sizeof(cpu));
  state_key_.append(reinterpret_cast<const char*>(&mem), sizeof(mem));
  const std::vector<int32_t>& free = h.gpu_free_milli();
  state_key_.append(reinterpret_cast<const char*>(free.data()), free.size() * sizeof(int32_t));
  state_key_.append(h.gpu_model());
  auto [it, inserted] = state_ids_.emplace(state_key_, static_cast<int>(state_ids_.size()));
  return it->second;
}

void ClusterPrices::UpdatePlaces(const HostState& h, size_t i) {
  const int fully_free = FullyFreeGpus(h.gpu_free_milli());
  const uint64_t bit = uint64_t{1} << (i % 64);
  for (size_t t = 0; t < demand_.size(); ++t) {
    const int64_t c = ClassCopies(demand_[t], h.cpu_free_milli(), h.memory_free_mib(),
                                  h.gpu_free_milli(), fully_free, h.gpu_model());
    uint64_t& w = places_[t * words_ + i / 64];
    w = c > 0 ? (w | bit) : (w & ~bit);
  }
  const size_t c_n = caps_.size();
  for (size_t j = 0; j < c_n; ++j) {
    const int64_t c = ClassCopies(demand_[caps_[j]], h.cpu_free_milli(), h.memory_free_mib(),
                                  h.gpu_free_milli(), fully_free, h.gpu_model());
    cap_supply_[j] += c - node_cap_copies_[i * c_n + j];
    node_cap_copies_[i * c_n + j] = c;
  }
}

bool ClusterPrices::HoldsPricedPlace(int host_index) const {
  const size_t c_n = caps_.size();
  for (const CapPrice& c : cap_prices_) {
    if (node_cap_copies_[host_index * c_n + c.cap] > 0) return true;
  }
  return false;
}

double ClusterPrices::CapCost(const VmRequest& req, const HostState& h, int host_index, int gpu) {
  const size_t c_n = caps_.size();
  after_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
  if (gpu >= 0) {
    after_[gpu] -= MilliOnGpu(req, h, gpu);
  } else {
    TakeWholeGpus(req, h, &after_);
  }
  const int fully_free = FullyFreeGpus(after_);
  const int64_t cpu_after = h.cpu_free_milli() - req.cpu_milli;
  const int64_t mem_after = h.memory_free_mib() - req.memory_mib;
  double cost = 0;
  for (const CapPrice& c : cap_prices_) {
    const int64_t before = node_cap_copies_[host_index * c_n + c.cap];
    if (before == 0) continue;  // (also: the cap does not accept this host's model)
    const int64_t after =
        AcceptedClassCopies(demand_[caps_[c.cap]], cpu_after, mem_after, after_, fully_free);
    cost += c.price * static_cast<double>(before - after);
  }
  return cost;
}

}  // namespace devshare::placement::devshare_policy
