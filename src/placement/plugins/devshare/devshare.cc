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
// Units (each tested on its own): stranding.h (1.), cluster_prices.h (2., 5.), demand_window.h
// (4. and the classes of 5.), packing_prices.h (6.), score_cache.h (the cache above); this file
// combines them into scores and the GPU choice.
// Thread-safety: one instance per Framework (single thread).
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "placement/device_match.h"
#include "placement/plugins/builtin_plugins.h"
#include "placement/plugins/devshare/cluster_prices.h"
#include "placement/plugins/devshare/demand_window.h"
#include "placement/plugins/devshare/packing_prices.h"
#include "placement/plugins/devshare/score_cache.h"
#include "placement/plugins/devshare/stranding.h"
#include "placement/unit_device_match.h"

namespace devshare::placement {
namespace {

using devshare_policy::Choice;
using devshare_policy::ScoreEntry;

constexpr double kScoreQuantumMilli = 200.0;

class DevsharePolicy final : public GpuChoosingScorePlugin {
 public:
  // `prior`: the workload distribution to start from (FGD's typical pods of the history), or
  // empty; either way M is re-estimated online from the requests seen.
  // `cache_entries`: budget of (key, host) score-cache entries; 0 = kDefaultCacheEntries.
  // `history` (may be null): past requests; until the window holds kWindowRequests requests the
  // capability classes and their rates come from it instead.
  DevsharePolicy(TypicalPods prior, size_t cache_entries,
                 std::shared_ptr<const std::vector<VmRequest>> history)
      : cache_(cache_entries), window_(history.get()) {
    SetDistribution(std::move(prior));
    if (window_.has_history()) LearnDemand();
  }
  std::string_view Name() const override { return "devshare"; }

  // Whether the share-packing LP of the current M solved (if not, there are no packing prices).
  const Status& packing_status() const { return packing_.status(); }

  void BeginRequest(const VmRequest& req, const ClusterState& cluster) override {
    BeginRequestWithChanges(req, cluster, nullptr);
  }

  // Scores are functions of (request, host state) under the prices of one ScoreEpoch: every
  // cache is keyed by host generation and price epoch.
  bool ScoresByHostState() const override { return true; }
  uint64_t ScoreEpoch() const override { return score_epoch_; }

  void BeginRequestWithChanges(const VmRequest& req, const ClusterState& cluster,
                               const std::vector<int>* changed) override {
    if (&cluster != cluster_ || cluster.states.size() != cluster_hosts_) {
      // Another cluster: generations restart, so nothing cached may be reused.
      cluster_ = &cluster;
      cluster_hosts_ = cluster.states.size();
      ResetDerivedState();
    }
    Learn(req);
    prices_.Update(cluster, changed);
    if (derived_reset_ || prices_.epoch() != seen_price_epoch_) {
      ++score_epoch_;
      seen_price_epoch_ = prices_.epoch();
      derived_reset_ = false;
    }
    // A host's candidates depend on the request's shape and, through which GPUs it may share
    // (tenant mixing, isolation floor), on its tenant and floor: those key the cache. Many
    // tenants x shapes would grow it without bound, so past the key budget (kMaxCacheKeys,
    // fewer on big clusters) the least recently used key gives its row to the new one.
    cache_.Select(devshare_policy::CacheKey(req), cluster.states.size());
  }

  int64_t Score(const VmRequest& req, const HostState& h, int host_index) override {
    const int64_t score = BestOf(req, h, host_index).score;
    if (!req.HasDevicesBeyondGpus()) return score;
    // NICs and volumes: GPU (and CPU) packing decides first; among hosts equal on it, the one
    // whose requested NICs / disks keep the least free share after the request (best fit, so
    // whole devices stay free for big requests) wins. Trace pods never get here.
    double free = 0;
    int kinds = 0;
    for (const std::vector<UnitItem>& items : {NicItems(req), VolumeItems(req)}) {
      const double f = UnitFreeFraction(items, h, /*after=*/true);
      if (f < 0) continue;
      free += f;
      ++kinds;
    }
    const int64_t fit = kinds == 0 ? 0 : static_cast<int64_t>(1000.0 * (1.0 - free / kinds));
    return score * 1001 + fit;
  }

  GpuChoice ChooseGpus(const VmRequest& req, const HostState& h, int host_index) override {
    return SelectDevshareGpus(req, h, host_index);
  }

 private:
  // The GPU choice of the devshare policy on the chosen host (ChooseGpus, the policy's GPU
  // selector, only forwards here): whole-GPU and CPU-only requests take the lowest-index fully
  // free GPUs (as the score assumed); shared and partition requests take the GPU of the host's
  // best-scoring candidate (memoised by Score for this request).
  GpuChoice SelectDevshareGpus(const VmRequest& req, const HostState& h, int host_index) {
    if (!req.gpu.Any() || req.gpu.IsWhole()) return SelectGpusByRule(req, h, FitRule::kFirst);
    return ChoiceOnGpu(req, h, BestOf(req, h, host_index).gpu);
  }

  // Installs a distribution M and drops everything derived from the previous one.
  void SetDistribution(TypicalPods typical) {
    typical_ = std::move(typical);
    k_ = typical_.shapes().size();
    packing_.SetDistribution(typical_);
    prices_.SetDistribution(typical_);
    ResetDerivedState();
  }

  // Drops supply, prices and every cached score (recomputed lazily for each host).
  void ResetDerivedState() {
    derived_reset_ = true;
    prices_.Reset();
    before_.Clear();
    cache_.Clear();
  }

  // Online estimate of M: FGD's typical-pod rule over a sliding window of the requests seen,
  // re-estimated every kRelearnEvery requests and installed when it has drifted from the current
  // M by more than kRelearnDistance (sampling noise alone stays below it).
  void Learn(const VmRequest& req) {
    if (!window_.Add(req)) return;
    std::optional<TypicalPods> learned = window_.Relearn(typical_);
    if (learned) SetDistribution(std::move(*learned));
    LearnDemand();
  }

  // Re-derives the GPU request classes of the window (of the history while the window is not
  // full yet, when there is one) and which of them are priced (caps: not in M, seen at least
  // kMinCapRequests times). Places are recomputed at the next prices_.Update.
  void LearnDemand() {
    prices_.SetDemand(devshare_policy::PricedClasses(window_.Classes(), typical_));
  }

  // Appends the candidate placing on `gpu` whose after-state is scratch_ and cpu_after.
  void AddCandidate(ScoreEntry& e, int gpu, const float* before, const HostState& h,
                    int64_t cpu_after) {
    e.gpus.push_back(gpu);
    after_stranding_.resize(k_);
    devshare_policy::Stranding(typical_, cpu_after, scratch_, h.gpu_model(),
                               after_stranding_.data());
    if (h.gpu_count() > devshare_policy::kMaxCompactGpus) {
      const size_t at = e.wide_deltas.size();
      e.wide_deltas.resize(at + k_);
      for (size_t k = 0; k < k_; ++k) e.wide_deltas[at + k] = after_stranding_[k] - before[k];
      return;
    }
    const size_t at = e.deltas.size();
    e.deltas.resize(at + k_);
    int16_t* d = &e.deltas[at];
    for (size_t k = 0; k < k_; ++k) {
      d[k] = devshare_policy::RoundToInt16(2.0f * (after_stranding_[k] - before[k]));
    }
  }

  // sum_k weight_k x d_k, with eight partial sums so the loop vectorises.
  template <typename T>
  double WeightedSum(const T* d) const {
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* w = prices_.weights().data();
    size_t k = 0;
    for (; k + 8 <= k_; k += 8) {
      for (int j = 0; j < 8; ++j) part[j] += w[k + j] * static_cast<float>(d[k + j]);
    }
    double sum = 0;
    for (; k < k_; ++k) sum += static_cast<double>(w[k]) * static_cast<double>(d[k]);
    for (float p : part) sum += p;
    return sum;
  }

  // The host's cache entry with its candidates for the current host state.
  ScoreEntry& Evaluate(const VmRequest& req, const HostState& h, int host_index) {
    ScoreEntry& e = cache_.At(host_index);
    if (e.generation == h.generation()) return e;
    e.generation = h.generation();
    e.price_epoch = UINT64_MAX;
    e.base_epoch = UINT64_MAX;
    e.gpus.clear();
    e.deltas.clear();
    e.wide_deltas.clear();
    e.packing.clear();
    const float* before = before_.Before(typical_, h, host_index);
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
        AddCandidate(e, g, before, h, cpu_after);
        scratch_[g] += milli;
      }
    } else {
      devshare_policy::TakeWholeGpus(req, h, &scratch_);
      AddCandidate(e, -1, before, h, cpu_after);
    }
    packing_.WeightedLosses(req, h, e.gpus, &e.packing);
    return e;
  }

  // Best candidate under the current prices, memoised per price epoch.
  Choice BestOf(const VmRequest& req, const HostState& h, int host_index) {
    ScoreEntry& e = Evaluate(req, h, host_index);
    // The memoised best depends on the request's memory only through capability prices, and
    // only on hosts holding a priced place (the cache key, the shape, leaves memory out).
    if (e.price_epoch != prices_.epoch() || (e.memory_mib >= 0 && e.memory_mib != req.memory_mib)) {
      const bool priced = prices_.HoldsPricedPlace(host_index);
      e.best = Best(req, h, host_index, e, priced);
      e.price_epoch = prices_.epoch();
      e.memory_mib = priced ? req.memory_mib : -1;
    }
    return e.best;
  }

  Choice Best(const VmRequest& req, const HostState& h, int host_index, ScoreEntry& e,
              bool priced) {
    // The weighted stranding change of each candidate depends only on the prices: kept per
    // price epoch, so a new request memory (capability prices) costs only the cap terms.
    if (e.base_epoch != prices_.epoch()) {
      e.base.resize(e.gpus.size());
      for (size_t i = 0; i < e.gpus.size(); ++i) {
        e.base[i] = (e.wide_deltas.empty() ? 0.5 * WeightedSum(&e.deltas[i * k_])
                                           : WeightedSum(&e.wide_deltas[i * k_])) +
                    e.packing[i];
      }
      e.base_epoch = prices_.epoch();
    }
    Choice best;
    bool have = false;
    for (size_t i = 0; i < e.gpus.size(); ++i) {
      const int gpu = e.gpus[i];
      double change = e.base[i];
      if (priced) change += prices_.CapCost(req, h, host_index, gpu);
      const int64_t s = devshare_policy::FloorToInt64(-change / kScoreQuantumMilli);
      if (!have || s > best.score || (s == best.score && gpu < best.gpu)) {
        best.score = s;
        best.gpu = gpu;
        have = true;
      }
    }
    return best;
  }

  devshare_policy::ScoreCache cache_;
  devshare_policy::DemandWindow window_;
  TypicalPods typical_;
  size_t k_ = 0;
  // Prices of shared sizes from the packing LP over M (none if M has no shared shape or the LP
  // failed on a re-estimated M; the first M's LP must solve: NewDevshareScore checks it).
  devshare_policy::PackingPrices packing_;
  devshare_policy::ClusterPrices prices_;
  devshare_policy::StrandingMemo before_;
  const ClusterState* cluster_ = nullptr;  // the cluster the caches describe
  size_t cluster_hosts_ = 0;
  std::vector<int32_t> scratch_;
  std::vector<float> after_stranding_;
  std::vector<int32_t> seen_;
  // ScoreEpoch(): bumped when the prices moved or the derived state was dropped (a new M
  // restarts the price epochs, so they alone could repeat).
  uint64_t score_epoch_ = 0;
  uint64_t seen_price_epoch_ = UINT64_MAX;
  bool derived_reset_ = true;
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
