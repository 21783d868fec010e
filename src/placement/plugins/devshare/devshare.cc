// devshare policy: scarcity-priced, packing-aware fragmentation gradient descent.
//
// FGD (Weng et al., ATC'23) scores a placement by the change of the expected fragmentation
// F_n(M) = sum_m p_m F_n(m) over the typical-pod distribution M. devshare keeps that frame and
// changes six things (measured effect of each: docs/placement.md):
//  1. Packing-aware stranding. FGD counts a GPU as usable for shape m as soon as its free milli
//     is >= m's, so a GPU with 900 free looks as good as an empty one to an 810-milli task. For
//     each shape devshare also counts the milli a stream of copies of m could NOT use on the node
//     (free milli minus copies-that-fit x m's demand, copies limited by GPU slots and free CPU),
//     and uses the mean of that and FGD's F_n(m) per shape.
//  2. Scarcity prices. Each shape's term is weighted by 1 + (expected remaining demand for the
//     shape / cluster-wide supply of slots for it), capped at 4: while slots for a shape are
//     plentiful it weighs its plain share p_m; as the cluster fills, the shapes about to run out
//     of places (whole GPUs, 8-GPU hosts, big CPU asks) are protected. Demand = p_m x free GPU
//     milli / mean GPU milli per typical pod; supply = sum over hosts of copies that fit. Both
//     come from the current cluster state only.
//  3. Score quantisation. The change is floored to 200-milli steps, so near-equal choices tie
//     and go to the lowest node rank, which packs hosts (the effect FGD's integer sigmoid has).
//  4. Online M. Starting from the given distribution (or none), M is re-estimated with FGD's rule
//     over the last 4,096 requests and replaced when it drifts (total variation > 0.15).
//  5. Capability prices. F_n(M) ignores memory and every shape outside M. Each GPU request class
//     (shape and memory) seen at least twice in the window whose shape is outside M gets a price
//     per place (a copy of the class a host can still take): its GPU milli x P(Poisson(D) >= S),
//     S = places left cluster-wide, D = demand still expected (window share x pods left) of every
//     class whose places all are places of this class too, since those compete for the same hosts
//     (all whole-GPU requests asking >= 15 vCPU and 88 GiB; both 8-GPU / 120-vCPU classes, which
//     only an empty G3 host takes). A placement pays the price of each place it removes: the
//     expected GPU demand the lost place turns away. It is ~0 while places are plentiful, unlike
//     the fixed per-place penalty that was dropped (docs/placement.md).
//  6. Packing prices. The duals of the one-GPU bin-packing LP over M's shared sizes price each
//     size (y_s GPUs) and each free room (V(f), the best price sum that fits). A placement pays
//     its packing loss: the host's value (sum of V over its GPUs, scaled by the CPU left to fill
//     them) before minus after, minus what the request is worth. For a shared request the loss
//     decides first and the stranding change breaks ties (the measure is flat among partly used
//     GPUs, where the lowest node rank used to choose); other requests pay it as one term.
// Everything is online: the decision uses the arriving request, the cluster state, the requests
// seen so far and, when given, the history-derived M that FGD also uses.
// Speed: per (request shape, host) the per-shape stranding change of each distinct candidate
// GPU is cached by host generation; prices enter only through a K-term dot product, plus the
// places a candidate removes for the few capability classes priced at the time.
// Thread-safety: one instance per Framework (single thread).
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "devshare/placement/share_packing.h"
#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"

namespace devshare::placement {
namespace {

constexpr double kScoreQuantumMilli = 200.0;
constexpr double kFgdShare = 0.5;  // weight of FGD's F_n(m) in the per-shape stranding
constexpr double kMaxScarcity = 4.0;
constexpr double kRepriceFraction = 0.01;  // re-price after 1 % of capacity changed
constexpr size_t kWindowRequests = 4096;   // online estimate of M: the last requests seen
constexpr size_t kRelearnEvery = 512;      // re-estimate M after this many requests
constexpr double kTypicalCoverage = 0.95;  // FGD's cut of the shape list
constexpr double kRelearnDistance = 0.15;  // total variation that counts as drift
constexpr size_t kMaxCacheKeys = 1024;     // (shape, tenant, floor) keys of the score cache
// (key, host) entries of the score cache by default, 300-700 bytes each (under 3 GB):
// on big clusters fewer keys are kept (at least kMinCacheKeys), the least recently used one
// making room for a new one.
constexpr size_t kDefaultCacheEntries = size_t{4} << 20;
constexpr size_t kMinCacheKeys = 8;
// Hosts with at most this many GPUs keep their cached stranding changes as int16 (2 x change
// stays within +-32,000); bigger ones as float.
constexpr int kMaxCompactGpus = 16;
// Weights of the packing loss (6.), milli of score per GPU of packing potential lost. For a
// shared request the loss decides first and the stranding change breaks its ties (50x-1000x
// the milli scale measured alike; 1x-20x clearly worse); for whole-GPU and CPU-only requests,
// which the stranding measure already prices, it is one strong term among the others (1x-10x
// measured; 3x best).
constexpr double kShareLossMilliPerGpu = 200.0 * kMilliPerDevice;
constexpr double kOtherLossMilliPerGpu = 3.0 * kMilliPerDevice;
constexpr int64_t kMinCapRequests = 2;  // window requests that make a class a priced cap
constexpr double kMinCapPrice = 1.0;    // milli per lost place below which a cap is ignored

// P(N >= s) for N ~ Poisson(d).
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

// floor(x) and round-half-away-from-zero(x) for |x| well inside the integer range, inline:
// the libm calls (no SSE4.1 in the baseline ISA) were 7 % and 3 % of a devshare run.
int64_t FloorToInt64(double x) {
  const auto t = static_cast<int64_t>(x);  // truncates toward zero
  return static_cast<double>(t) > x ? t - 1 : t;
}
int16_t RoundToInt16(float x) {
  return static_cast<int16_t>(x >= 0 ? static_cast<int32_t>(x + 0.5f)
                                     : static_cast<int32_t>(x - 0.5f));
}

bool Accepts(const TaskShape& m, const std::string& model) {
  return m.models.empty() || std::find(m.models.begin(), m.models.end(), model) != m.models.end();
}

class DevsharePolicy final : public GpuChoosingScorePlugin {
 public:
  // `prior`: the workload distribution to start from (FGD's typical pods of the history), or
  // empty; either way M is re-estimated online from the requests seen.
  // `cache_entries`: budget of (key, host) score-cache entries; 0 = kDefaultCacheEntries.
  // `history` (may be null): past requests; until the window holds kWindowRequests requests the
  // capability classes and their rates come from it instead.
  DevsharePolicy(TypicalPods prior, size_t cache_entries,
                 std::shared_ptr<const std::vector<VmRequest>> history)
      : cache_entries_(cache_entries > 0 ? cache_entries : kDefaultCacheEntries),
        history_classes_(history != nullptr && !history->empty()
                             ? std::optional<ClassCounts>(CountClasses(*history))
                             : std::nullopt) {
    SetDistribution(std::move(prior));
    if (history_classes_) LearnDemand();
  }
  std::string_view Name() const override { return "devshare"; }

  // Whether the share-packing LP of the current M solved (if not, there are no packing prices).
  const Status& packing_status() const { return packing_status_; }

  void BeginRequest(const VmRequest& req, const ClusterState& cluster) override {
    if (&cluster != cluster_ || cluster.states.size() != cluster_hosts_) {
      // Another cluster: generations restart, so nothing cached may be reused.
      cluster_ = &cluster;
      cluster_hosts_ = cluster.states.size();
      ResetDerivedState();
    }
    Learn(req);
    UpdatePrices(cluster);
    // A host's candidates depend on the request's shape and, through which GPUs it may share
    // (tenant mixing, isolation floor), on its tenant and floor: those key the cache. Many
    // tenants x shapes would grow it without bound, so past the key budget (kMaxCacheKeys,
    // fewer on big clusters) the least recently used key gives its row to the new one.
    std::string key = RequestShapeKey(req);
    if (!req.tenant.empty() || req.isolation_floor) {
      key += "|" + req.tenant + "|" +
             (req.isolation_floor ? std::string(IsolationClassName(*req.isolation_floor)) : "");
    }
    auto it = shape_ids_.find(key);
    if (it == shape_ids_.end()) {
      const size_t max_keys =
          std::clamp<size_t>(cache_entries_ / std::max<size_t>(1, cluster.states.size()),
                             kMinCacheKeys, kMaxCacheKeys);
      int id = static_cast<int>(cache_.size());
      if (cache_.size() < max_keys) {
        cache_.emplace_back();
        key_names_.push_back(key);
        key_used_.push_back(0);
      } else {
        id = static_cast<int>(std::min_element(key_used_.begin(), key_used_.end()) -
                              key_used_.begin());
        shape_ids_.erase(key_names_[id]);
        std::vector<Entry>().swap(cache_[id]);  // give the memory back
        key_names_[id] = key;
      }
      it = shape_ids_.emplace(std::move(key), id).first;
    }
    shape_ = it->second;
    key_used_[shape_] = ++key_clock_;
  }

  int64_t Score(const VmRequest& req, const HostState& h, int host_index) override {
    return BestOf(req, h, host_index).score;
  }

  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int host_index) override {
    if (!req.gpu.Any() || req.gpu.IsWhole()) return SelectGpusByRule(req, h, FitRule::kFirst);
    return ChoiceOnGpu(req, h, BestOf(req, h, host_index).gpu);
  }

 private:
  struct Choice {
    int64_t score = 0;
    int gpu = -1;
  };
  // A class of GPU requests in the window: shape and memory (memory decides which hosts fit).
  struct Demand {
    TaskShape shape;
    int64_t memory_mib = 0;
    double rate = 0;  // share of the window's requests
    bool SameClass(const Demand& o) const { return memory_mib == o.memory_mib && shape == o.shape; }
  };
  struct CapPrice {
    size_t cap = 0;    // index into caps_
    double price = 0;  // milli per place lost
  };
  struct Entry {
    // Read for every feasible host at every request; kept together at the start so that a
    // host whose memoised best still holds costs one cache line (10,000 hosts: the scan is
    // memory-bound).
    uint64_t generation = UINT64_MAX;
    uint64_t price_epoch = UINT64_MAX;  // epoch `best` was computed under
    int64_t memory_mib = -1;  // request memory `best` was priced for; -1: no cap price entered
    Choice best;
    // Candidates: the GPU each places the request on (-1: whole GPUs / CPU-only, one
    // after-state) and, contiguous, its per-shape stranding after - before (milli, unweighted).
    std::vector<int> gpus;
    // [candidate x k_], twice the change: the stranding is a multiple of 0.5 milli within
    // +-(GPUs x 1000), so for hosts of up to kMaxCompactGpus GPUs int16 holds it exactly at
    // half the memory of float (scoring is memory-bound on large clusters); bigger hosts use
    // wide_deltas (the change itself, float) instead.
    std::vector<int16_t> deltas;
    std::vector<float> wide_deltas;
    uint64_t base_epoch = UINT64_MAX;  // epoch `base` was computed under
    std::vector<double> base;          // per candidate: weighted stranding change (milli)
    // Per candidate: weighted packing loss (6.) in milli; depends on the host state only.
    std::vector<float> packing;
  };

  // Zeroes in `free` (a copy of h's free milli) the GPUs a whole-GPU request takes: the
  // lowest-index fully free ones that fit it, as SelectGpusByRule picks them.
  static void TakeWholeGpus(const VmRequest& req, const HostState& h, std::vector<int32_t>* free) {
    int need = req.gpu.count;
    for (int g = 0; g < h.gpu_count() && need > 0; ++g) {
      if (GpuFitsWhole(req, h, g)) {
        (*free)[g] = 0;
        --need;
      }
    }
  }

  // Copies of shape m a node with this free CPU/GPU can still host (GPU slots and CPU).
  static int64_t Copies(const TaskShape& m, int64_t cpu_free, const std::vector<int32_t>& free,
                        int fully_free) {
    int64_t copies = 0;
    if (m.gpu_milli < kMilliPerDevice) {
      for (int32_t f : free) copies += f / m.gpu_milli;
    } else {
      copies = fully_free / m.num_gpu;
    }
    if (m.cpu_milli > 0) copies = std::min<int64_t>(copies, cpu_free / m.cpu_milli);
    return std::max<int64_t>(copies, 0);
  }

  // Per-shape stranding (milli, unweighted) of a node state into out[0..k_).
  void Stranding(int64_t cpu_free, const std::vector<int32_t>& free, const std::string& model,
                 float* out) const {
    int64_t total = 0;
    int fully_free = 0;
    for (int32_t f : free) {
      total += f;
      fully_free += f >= kMilliPerDevice ? 1 : 0;
    }
    const auto& shapes = typical_.shapes();
    for (size_t k = 0; k < k_; ++k) {
      const TaskShape& m = shapes[k].shape;
      if (total == 0 || m.num_gpu == 0 || !Accepts(m, model)) {
        out[k] = static_cast<float>(total);
        continue;
      }
      const int64_t copies = Copies(m, cpu_free, free, fully_free);
      const double packing = static_cast<double>(total - copies * m.num_gpu * m.gpu_milli);
      const double fgd = TypicalPods::ShapeFragMilli(cpu_free, free, model, m);
      out[k] = static_cast<float>((1.0 - kFgdShare) * packing + kFgdShare * fgd);
    }
  }

  // Installs a distribution M and drops everything derived from the previous one.
  void SetDistribution(TypicalPods typical) {
    typical_ = std::move(typical);
    const auto& shapes = typical_.shapes();
    k_ = shapes.size();
    Result<SharePackingPrices> packing = SolvePacking(typical_);
    packing_status_ = packing.status();
    packing_ = packing.ok() ? std::move(packing).value() : SharePackingPrices();
    weight_.assign(k_, 0.0f);
    supply_.assign(k_, 0);
    mean_gpu_milli_ = 0;
    for (size_t k = 0; k < k_; ++k) {
      mean_gpu_milli_ += shapes[k].p * shapes[k].shape.num_gpu * shapes[k].shape.gpu_milli;
      weight_[k] = static_cast<float>(shapes[k].p);
    }
    ResetDerivedState();
  }

  // Packing potential (GPUs) the host loses when `req` is placed on `gpu` (-1: whole GPUs /
  // CPU-only), beyond what the request itself is worth: the host's value before
  // (`host_value`, packing_.HostValue of h) minus after (the room or GPUs it takes and the CPU
  // the host's rooms needed) minus y of its size for a shared request, or its GPU count for a
  // whole-GPU one.
  double PackingLoss(const VmRequest& req, const HostState& h, int gpu, double host_value) {
    after_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
    double worth = 0;
    if (gpu >= 0) {
      after_[gpu] -= req.gpu.milli;
      worth = packing_.Price(req.gpu.milli);
    } else if (req.gpu.Any()) {
      TakeWholeGpus(req, h, &after_);
      worth = req.gpu.count;
    }
    return host_value - packing_.HostValue(after_, h.cpu_free_milli() - req.cpu_milli) - worth;
  }

  // Share-packing prices (6.) for the one-GPU shared shapes of `m`, weighted by their p.
  static Result<SharePackingPrices> SolvePacking(const TypicalPods& m) {
    std::vector<ShareDemand> demand;
    for (const WeightedShape& w : m.shapes()) {
      if (w.shape.num_gpu == 1 && w.shape.gpu_milli < kMilliPerDevice) {
        demand.push_back({w.shape.gpu_milli, w.p, w.shape.cpu_milli});
      }
    }
    return SharePackingPrices::Solve(demand);
  }

  // Drops supply, prices and every cached score (recomputed lazily for each host).
  void ResetDerivedState() {
    node_generation_.clear();
    before_generation_.clear();
    before_.clear();
    cache_.clear();
    shape_ids_.clear();
    key_names_.clear();
    key_used_.clear();
  }

  // Total variation distance between two shape distributions (a shape missing from one has
  // p = 0 there): 0 for equal, 1 for disjoint.
  static double TotalVariation(const TypicalPods& a, const TypicalPods& b) {
    double d = 0;
    for (const WeightedShape& x : a.shapes()) {
      double q = 0;
      for (const WeightedShape& y : b.shapes()) q += x.shape == y.shape ? y.p : 0;
      d += std::abs(x.p - q);
    }
    for (const WeightedShape& y : b.shapes()) {
      bool in_a = false;
      for (const WeightedShape& x : a.shapes()) in_a = in_a || x.shape == y.shape;
      if (!in_a) d += y.p;
    }
    return d / 2;
  }

  // Online estimate of M: FGD's typical-pod rule over a sliding window of the requests seen,
  // re-estimated every kRelearnEvery requests and installed when it has drifted from the current
  // M by more than kRelearnDistance (sampling noise alone stays below it).
  void Learn(const VmRequest& req) {
    if (window_.size() < kWindowRequests) {
      window_.push_back(req);
    } else {
      window_[window_next_] = req;
      window_next_ = (window_next_ + 1) % kWindowRequests;
    }
    if (++seen_since_learn_ < kRelearnEvery) return;
    seen_since_learn_ = 0;
    TypicalPods learned = TypicalPods::FromPods(window_, kTypicalCoverage);
    if (TotalVariation(learned, typical_) > kRelearnDistance) SetDistribution(std::move(learned));
    LearnDemand();
  }

  // Copies of class d a node with this free CPU/memory/GPU can still host.
  static int64_t ClassCopies(const Demand& d, int64_t cpu_free, int64_t mem_free,
                             const std::vector<int32_t>& free, int fully_free,
                             const std::string& model) {
    if (!Accepts(d.shape, model)) return 0;
    return AcceptedClassCopies(d, cpu_free, mem_free, free, fully_free);
  }
  // ClassCopies on a host whose model d accepts.
  static int64_t AcceptedClassCopies(const Demand& d, int64_t cpu_free, int64_t mem_free,
                                     const std::vector<int32_t>& free, int fully_free) {
    int64_t c = Copies(d.shape, cpu_free, free, fully_free);
    if (d.memory_mib > 0) c = std::min<int64_t>(c, mem_free / d.memory_mib);
    return std::max<int64_t>(c, 0);
  }

  // The GPU request classes of `requests`, how many requests each has, and how many requests
  // there are in all (with or without GPUs).
  struct ClassCounts {
    std::vector<Demand> classes;
    std::vector<int64_t> counts;
    size_t requests = 0;
  };
  static ClassCounts CountClasses(const std::vector<VmRequest>& requests) {
    ClassCounts out;
    out.requests = requests.size();
    for (const VmRequest& r : requests) {
      if (!r.gpu.Any()) continue;
      Demand d;
      d.shape = TaskShape::Of(r);
      d.memory_mib = r.memory_mib;
      size_t i = 0;
      while (i < out.classes.size() && !out.classes[i].SameClass(d)) ++i;
      if (i == out.classes.size()) {
        out.classes.push_back(std::move(d));
        out.counts.push_back(0);
      }
      ++out.counts[i];
    }
    return out;
  }

  // Re-derives the GPU request classes of the window (of the history while the window is not
  // full yet, when there is one) and which of them are priced (caps_: not in M, seen at least
  // kMinCapRequests times). Places are recomputed at the next UpdatePrices.
  void LearnDemand() {
    ClassCounts counted = history_classes_ && window_.size() < kWindowRequests
                              ? *history_classes_
                              : CountClasses(window_);
    std::vector<Demand>& classes = counted.classes;
    const std::vector<int64_t>& counts = counted.counts;
    caps_.clear();
    for (size_t i = 0; i < classes.size(); ++i) {
      classes[i].rate = static_cast<double>(counts[i]) / static_cast<double>(counted.requests);
      if (counts[i] < kMinCapRequests) continue;
      bool in_m = false;
      for (const WeightedShape& w : typical_.shapes()) in_m = in_m || w.shape == classes[i].shape;
      if (!in_m) caps_.push_back(i);
    }
    demand_ = std::move(classes);
    demand_dirty_ = true;
  }

  void UpdatePrices(const ClusterState& cluster) {
    const size_t n = cluster.states.size();
    const auto& shapes = typical_.shapes();
    if (node_generation_.size() != n) {
      node_generation_.assign(n, UINT64_MAX - 1);  // "never seen"
      capacity_total_ = 0;
      price_epoch_ = UINT64_MAX;
      node_copies_.assign(n * k_, 0);
      node_free_.assign(n, 0);
      std::fill(supply_.begin(), supply_.end(), 0);
      free_total_ = 0;
      demand_dirty_ = true;
    }
    bool reprice = false;
    if (demand_dirty_) {
      demand_dirty_ = false;
      reprice = true;
      words_ = (n + 63) / 64;
      places_.assign(demand_.size() * words_, 0);
      cap_supply_.assign(caps_.size(), 0);
      node_cap_copies_.assign(n * caps_.size(), 0);
      for (size_t i = 0; i < n; ++i) UpdatePlaces(cluster.states[i], i);
    }
    for (size_t i = 0; i < n; ++i) {
      const HostState& h = cluster.states[i];
      if (node_generation_[i] == h.generation()) continue;
      if (node_generation_[i] == UINT64_MAX - 1) capacity_total_ += h.gpu_capacity_total_milli();
      node_generation_[i] = h.generation();
      free_total_ += h.gpu_free_total_milli() - node_free_[i];
      node_free_[i] = h.gpu_free_total_milli();
      int fully_free = 0;
      for (int32_t f : h.gpu_free_milli()) fully_free += f >= kMilliPerDevice ? 1 : 0;
      for (size_t k = 0; k < k_; ++k) {
        const TaskShape& m = shapes[k].shape;
        const int64_t c = (m.num_gpu == 0 || !Accepts(m, h.gpu_model()))
                              ? 0
                              : Copies(m, h.cpu_free_milli(), h.gpu_free_milli(), fully_free);
        supply_[k] += c - node_copies_[i * k_ + k];
        node_copies_[i * k_ + k] = c;
      }
      if (!demand_.empty()) UpdatePlaces(h, i);
    }
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
      if (shapes[k].shape.num_gpu > 0) {
        const double demand = shapes[k].p * pods_left;
        price += std::min(kMaxScarcity, demand / std::max<double>(1.0, supply_[k]));
      }
      weight_[k] = static_cast<float>(shapes[k].p * price);
    }
    PriceCaps(pods_left);
  }

  // Price of a lost place of each cap: its GPU milli x P(Poisson(D) >= S), D counting the demand
  // of every class whose places all are places of the cap too (they compete for the same hosts;
  // two 8-GPU / 120-vCPU classes differing in memory both need an empty G3 host).
  void PriceCaps(double pods_left) {
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
  bool PlacesWithin(size_t t, size_t s) const {
    const uint64_t* a = &places_[t * words_];
    const uint64_t* b = &places_[s * words_];
    bool any = false;
    for (size_t w = 0; w < words_; ++w) {
      if ((a[w] & ~b[w]) != 0) return false;
      any = any || a[w] != 0;
    }
    return any;
  }

  void UpdatePlaces(const HostState& h, size_t i) {
    int fully_free = 0;
    for (int32_t f : h.gpu_free_milli()) fully_free += f >= kMilliPerDevice ? 1 : 0;
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

  // True if the host holds a place of a cap whose places are priced now.
  bool HoldsPricedPlace(int host_index) const {
    const size_t c_n = caps_.size();
    for (const CapPrice& c : cap_prices_) {
      if (node_cap_copies_[host_index * c_n + c.cap] > 0) return true;
    }
    return false;
  }

  // Priced cap places the request would remove from the host when placed on `gpu` (-1: whole
  // GPUs / CPU-only), in milli.
  double CapCost(const VmRequest& req, const HostState& h, int host_index, int gpu) {
    const size_t c_n = caps_.size();
    after_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
    if (gpu >= 0) {
      after_[gpu] -= MilliOnGpu(req, h, gpu);
    } else {
      TakeWholeGpus(req, h, &after_);
    }
    int fully_free = 0;
    for (int32_t f : after_) fully_free += f >= kMilliPerDevice ? 1 : 0;
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

  const float* Before(const HostState& h, int host_index) {
    if (host_index >= static_cast<int>(before_generation_.size())) {
      before_generation_.resize(host_index + 1, UINT64_MAX);
      before_.resize((host_index + 1) * k_);
    }
    float* b = &before_[host_index * k_];
    if (before_generation_[host_index] != h.generation()) {
      before_generation_[host_index] = h.generation();
      Stranding(h.cpu_free_milli(), h.gpu_free_milli(), h.gpu_model(), b);
    }
    return b;
  }

  // Appends the candidate placing on `gpu` whose after-state is scratch_ and cpu_after.
  void AddCandidate(Entry& e, int gpu, const float* before, const HostState& h, int64_t cpu_after) {
    e.gpus.push_back(gpu);
    after_stranding_.resize(k_);
    Stranding(cpu_after, scratch_, h.gpu_model(), after_stranding_.data());
    if (h.gpu_count() > kMaxCompactGpus) {
      const size_t at = e.wide_deltas.size();
      e.wide_deltas.resize(at + k_);
      for (size_t k = 0; k < k_; ++k) e.wide_deltas[at + k] = after_stranding_[k] - before[k];
      return;
    }
    const size_t at = e.deltas.size();
    e.deltas.resize(at + k_);
    int16_t* d = &e.deltas[at];
    for (size_t k = 0; k < k_; ++k) {
      d[k] = RoundToInt16(2.0f * (after_stranding_[k] - before[k]));
    }
  }

  // sum_k weight_k x d_k, with eight partial sums so the loop vectorises.
  template <typename T>
  double WeightedSum(const T* d) const {
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* w = weight_.data();
    size_t k = 0;
    for (; k + 8 <= k_; k += 8) {
      for (int j = 0; j < 8; ++j) part[j] += w[k + j] * static_cast<float>(d[k + j]);
    }
    double sum = 0;
    for (; k < k_; ++k) sum += static_cast<double>(w[k]) * static_cast<double>(d[k]);
    for (float p : part) sum += p;
    return sum;
  }

  void Evaluate(const VmRequest& req, const HostState& h, int host_index) {
    Entry* e = &uncached_;
    {
      std::vector<Entry>& row = cache_[shape_];
      if (host_index >= static_cast<int>(row.size())) row.resize(host_index + 1);
      e = &row[host_index];
      last_entry_ = e;
      if (e->generation == h.generation()) return;
    }
    last_entry_ = e;
    e->generation = h.generation();
    e->price_epoch = UINT64_MAX;
    e->base_epoch = UINT64_MAX;
    e->gpus.clear();
    e->deltas.clear();
    e->wide_deltas.clear();
    e->packing.clear();
    const float* before = Before(h, host_index);
    const int64_t cpu_after = h.cpu_free_milli() - req.cpu_milli;
    scratch_.assign(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
    if (req.gpu.IsShare() || req.gpu.IsPartition()) {
      // One candidate per distinct free amount (GPUs with equal free give equal after-states;
      // the lowest index represents them, as FGD's "first GPU with the best score").
      seen_.clear();
      for (int g = 0; g < h.gpu_count(); ++g) {
        const int milli = MilliOnGpu(req, h, g);
        if (milli < 0) continue;
        const int32_t f = h.gpu_free_milli()[g];
        if (std::find(seen_.begin(), seen_.end(), f) != seen_.end()) continue;
        seen_.push_back(f);
        scratch_[g] -= milli;
        AddCandidate(*e, g, before, h, cpu_after);
        scratch_[g] += milli;
      }
    } else {
      TakeWholeGpus(req, h, &scratch_);
      AddCandidate(*e, -1, before, h, cpu_after);
    }
    if (packing_.empty() || req.gpu.IsPartition()) {
      e->packing.assign(e->gpus.size(), 0.0f);
      return;
    }
    const double weight = req.gpu.IsShare() ? kShareLossMilliPerGpu : kOtherLossMilliPerGpu;
    const double host_value = packing_.HostValue(h.gpu_free_milli(), h.cpu_free_milli());
    for (int gpu : e->gpus) {
      e->packing.push_back(static_cast<float>(weight * PackingLoss(req, h, gpu, host_value)));
    }
  }

  // Best candidate under the current prices, memoised per price epoch.
  Choice BestOf(const VmRequest& req, const HostState& h, int host_index) {
    Evaluate(req, h, host_index);
    Entry& e = *last_entry_;
    // The memoised best depends on the request's memory only through capability prices, and
    // only on hosts holding a priced place (the cache key, the shape, leaves memory out).
    if (e.price_epoch != price_epoch_ || (e.memory_mib >= 0 && e.memory_mib != req.memory_mib)) {
      const bool priced = HoldsPricedPlace(host_index);
      e.best = Best(req, h, host_index, e, priced);
      e.price_epoch = price_epoch_;
      e.memory_mib = priced ? req.memory_mib : -1;
    }
    return e.best;
  }

  Choice Best(const VmRequest& req, const HostState& h, int host_index, Entry& e, bool priced) {
    // The weighted stranding change of each candidate depends only on the prices: kept per
    // price epoch, so a new request memory (capability prices) costs only the cap terms.
    if (e.base_epoch != price_epoch_) {
      e.base.resize(e.gpus.size());
      for (size_t i = 0; i < e.gpus.size(); ++i) {
        e.base[i] = (e.wide_deltas.empty() ? 0.5 * WeightedSum(&e.deltas[i * k_])
                                           : WeightedSum(&e.wide_deltas[i * k_])) +
                    e.packing[i];
      }
      e.base_epoch = price_epoch_;
    }
    Choice best;
    bool have = false;
    for (size_t i = 0; i < e.gpus.size(); ++i) {
      const int gpu = e.gpus[i];
      double change = e.base[i];
      if (priced) change += CapCost(req, h, host_index, gpu);
      const int64_t s = FloorToInt64(-change / kScoreQuantumMilli);
      if (!have || s > best.score || (s == best.score && gpu < best.gpu)) {
        best.score = s;
        best.gpu = gpu;
        have = true;
      }
    }
    return best;
  }

  const size_t cache_entries_;
  // The classes of the history (counted once), used while the window is not full; none: no
  // history was given.
  const std::optional<ClassCounts> history_classes_;
  TypicalPods typical_;
  // Prices of shared sizes from the packing LP over M (none if M has no shared shape or the LP
  // failed on a re-estimated M; the first M's LP must solve: NewDevshareScore checks it).
  SharePackingPrices packing_;
  Status packing_status_;
  const ClusterState* cluster_ = nullptr;  // the cluster the caches describe
  size_t cluster_hosts_ = 0;
  std::vector<VmRequest> window_;  // ring buffer of the last kWindowRequests requests
  size_t window_next_ = 0;
  size_t seen_since_learn_ = 0;
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
  std::vector<int32_t> after_;            // scratch
  // Caches.
  std::vector<uint64_t> before_generation_;
  std::vector<float> before_;  // [host x k]
  std::unordered_map<std::string, int> shape_ids_;
  std::vector<std::vector<Entry>> cache_;  // [request shape][host]
  std::vector<std::string> key_names_;     // [cache row]: its key in shape_ids_
  std::vector<uint64_t> key_used_;         // [cache row]: key_clock_ at its last use
  uint64_t key_clock_ = 0;
  Entry uncached_;
  Entry* last_entry_ = nullptr;
  std::vector<int32_t> scratch_;
  std::vector<float> after_stranding_;
  std::vector<int32_t> seen_;
  int shape_ = -1;
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> NewDevshareScore(const PluginArgs& args) {
  auto policy = std::make_unique<DevsharePolicy>(
      args.typical_pods != nullptr ? *args.typical_pods : TypicalPods(), args.score_cache_entries,
      args.history);
  // The policy falls back to no packing prices when an LP fails later (re-estimated M); on the
  // M it starts from that would be a silent change of policy, so it is an error.
  DS_RETURN_IF_ERROR(policy->packing_status());
  return std::unique_ptr<ScorePlugin>(std::move(policy));
}

}  // namespace devshare::placement
