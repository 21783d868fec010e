// Placement framework: Filter -> Score -> choose host (ties to the lowest host index, i.e. the
// seeded node rank) -> select concrete device slices (one DeviceSelector per device kind) ->
// Reserve. Plugins are small interfaces; policies
// are score plugins with stable names. Model: Kubernetes scheduler framework/interface.go.
// Thread-safety: a Framework and its plugins belong to one thread (one simulator run, or the
// control plane's placement loop); build one per thread from the same registry.
#ifndef DEVSHARE_PLACEMENT_FRAMEWORK_H_
#define DEVSHARE_PLACEMENT_FRAMEWORK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host_state.h"
#include "devshare/core/request.h"
#include "devshare/core/status.h"

namespace devshare::placement {

// Why a host (or, aggregated, how many hosts) cannot take a request.
struct Reason {
  std::string plugin;    // filter name, e.g. "gpu_fit"
  std::string resource;  // "cpu", "memory", "gpu", "gpu_model", "traits", "isolation"
  std::string message;   // e.g. "gpu: requested 2x1000 milli, free 1x650" (first host seen)
  int hosts = 1;         // number of hosts rejected for this reason (aggregated outcomes)
};

// GPUs chosen on the selected host, by GPU ordinal; start_slot for partition profiles.
struct GpuChoice {
  std::vector<int> gpus;
  int start_slot = -1;
};

class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual std::string_view Name() const = 0;
  // True if `host` can hold `req` as far as this filter is concerned. Hot path: no allocation.
  virtual bool Fits(const VmRequest& req, const HostState& host) const = 0;
  // Why `host` does not fit. REQUIRES: !Fits(req, host).
  virtual Reason Explain(const VmRequest& req, const HostState& host) const = 0;
  // True if, for `req`, Fits depends only on the host's description (all but its id) and
  // state: then hosts of one equivalence class (identical description and usage) answer alike
  // and the framework asks one of them. False (the safe default) for filters that read the
  // host's id, e.g. anti-affinity with hosts to avoid.
  virtual bool ReadsOnlyHostState(const VmRequest& /*req*/) const { return false; }
};

// Chooses the concrete slices of one device kind on the chosen host and adds them to the
// allocation: GPU ordinals, NIC virtual functions, the disks of volumes. One per kind in a
// framework (the "gpu", "nic" and "volume" selectors by default); a policy may choose a kind's
// slices its own way by returning its own selector from ScorePlugin::SelectorFor.
class DeviceSelector {
 public:
  virtual ~DeviceSelector() = default;
  virtual std::string_view Name() const = 0;
  virtual DeviceKind Kind() const = 0;
  // Adds `req`'s slices of Kind() on `host` to `a` (a.host_* and amounts are set). Internal
  // when the host cannot hold them: the filters passed it, so that is a bug.
  virtual Status Select(const VmRequest& req, const HostState& host, int host_index,
                        Allocation& a) = 0;
};

// The GPU selector of a policy: it picks GPU ordinals (and a partition's start slot); the
// framework turns the choice into slices.
class GpuSelector : public DeviceSelector {
 public:
  DeviceKind Kind() const final { return DeviceKind::kGpu; }
  // GPUs for `req` on the chosen host. REQUIRES: req.gpu.Any() and the host passed gpu_fit.
  virtual GpuChoice ChooseGpus(const VmRequest& req, const HostState& host, int host_index) = 0;
  Status Select(const VmRequest& req, const HostState& host, int host_index, Allocation& a) final;
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual std::string_view Name() const = 0;
  // Called once per request before Score() is called on each feasible host; `cluster` is the
  // whole current state (for plugins that weigh cluster-wide supply).
  virtual void BeginRequest(const VmRequest& /*req*/, const ClusterState& /*cluster*/) {}
  // BeginRequest, told which hosts' states changed since the previous call (`changed`, may
  // repeat hosts; null when unknown: any host may have changed, or the cluster is another).
  // Plugins that follow host changes override this to avoid a scan of every host.
  virtual void BeginRequestWithChanges(const VmRequest& req, const ClusterState& cluster,
                                       const std::vector<int>* /*changed*/) {
    BeginRequest(req, cluster);
  }
  // Score of a feasible host; higher is better. REQUIRES: host passed every filter.
  virtual int64_t Score(const VmRequest& req, const HostState& host, int host_index) = 0;
  // True if raw scores are min-max normalised to 0..100 (integer) over the feasible hosts.
  virtual bool NormalizesScores() const { return false; }
  // True if Score is a function of the request, the host's description (all but its id) and
  // state, and ScoreEpoch() alone: not of host_index, of the other hosts scored or of how often
  // it is called (caches are fine). The framework then scores one host per equivalence class
  // and keeps scores of unchanged hosts from one request to the next (host_classes.h).
  virtual bool ScoresByHostState() const { return false; }
  // With ScoresByHostState: a value that changes whenever scores of hosts whose state did not
  // change may have changed (e.g. cluster-wide prices moved). Read after BeginRequest.
  virtual uint64_t ScoreEpoch() const { return 0; }
  // The policy's own selector for `kind`, or null to use the framework's (for GPUs: best fit;
  // share: fitting GPU with the least free milli; whole: lowest-index fully free GPUs;
  // partition: first GPU/slot that fits). The selector lives as long as the plugin.
  virtual DeviceSelector* SelectorFor(DeviceKind /*kind*/) { return nullptr; }
  // Notifications after a successful reserve / release (for plugins that keep per-host state).
  virtual void Reserved(const VmRequest& /*req*/, const Allocation& /*a*/) {}
  virtual void Released(const VmRequest& /*req*/, const Allocation& /*a*/) {}
};

// Base of a policy that chooses GPUs itself (by its own score): implement Score and ChooseGpus.
class GpuChoosingScorePlugin : public ScorePlugin, public GpuSelector {
 public:
  DeviceSelector* SelectorFor(DeviceKind kind) override {
    return kind == DeviceKind::kGpu ? static_cast<GpuSelector*>(this) : nullptr;
  }
};

class ReservePlugin {
 public:
  virtual ~ReservePlugin() = default;
  virtual std::string_view Name() const = 0;
  // Commits `a` on `host`. Aborted if a.generation is stale; nothing changes on failure.
  virtual Status Reserve(const Allocation& a, HostState& host) = 0;
  // Undoes a successful Reserve (used when a later reserve plugin fails).
  virtual void Unreserve(const Allocation& a, HostState& host) = 0;
};

struct PlacementOutcome {
  enum class Kind { kPlaced, kUnschedulable };
  Kind kind = Kind::kUnschedulable;
  Allocation allocation;        // when placed
  std::vector<Reason> reasons;  // when unschedulable: one entry per filter that rejected hosts
  int feasible_hosts = 0;

  bool placed() const { return kind == Kind::kPlaced; }
  // "placed on h7 (gpu3 420m)" or "0/1213 hosts fit: gpu_fit 900 (gpu: requested ...); ..."
  std::string Summary(int total_hosts) const;
};

// True if GPU `g` of `host` can take `req`'s single-GPU share now: milli and GPU memory fit, and
// the model, isolation, tenant and vGPU-profile rules of the filters allow it (for moving a share
// between GPUs of one host). REQUIRES: req.gpu.IsShare().
bool GpuCanTakeShare(const VmRequest& req, const HostState& host, int g);

class Framework {
 public:
  Framework(std::string policy, std::vector<std::unique_ptr<FilterPlugin>> filters,
            std::unique_ptr<ScorePlugin> score,
            std::vector<std::unique_ptr<DeviceSelector>> selectors,
            std::vector<std::unique_ptr<ReservePlugin>> reserves);
  ~Framework();

  // Host classes (default on): for requests every filter answers from host state alone and a
  // policy whose scores depend on host state alone (ScoresByHostState), hosts with identical
  // description and usage are filtered and scored once per class, and scores are kept between
  // requests for the classes that did not change; decisions are the same as the per-host scan
  // (the best score, ties to the lowest host index). Off: every host is filtered and scored.
  void set_host_classes(bool on) { use_classes_ = on; }
  // Declares that host states of the clusters passed to Schedule change only through this
  // framework's Schedule and Release (the simulator). Then changes are followed from those
  // calls; otherwise (the default; the control plane also changes hosts itself) every host's
  // generation is compared at each request that takes the class path.
  void set_sole_writer(bool on) { sole_writer_ = on; }

  const std::string& policy() const { return policy_; }
  ScorePlugin& score_plugin() { return *score_; }

  // Places `req` on the best feasible host of `cluster` and commits it. An unschedulable
  // outcome is a value, not an error; non-OK Status only for invalid requests or internal faults.
  Result<PlacementOutcome> Schedule(const VmRequest& req, ClusterState& cluster);
  // Releases a placed allocation (departure). FailedPrecondition if it does not match.
  Status Release(const VmRequest& req, const Allocation& a, ClusterState& cluster);
  // Per-host feasibility for `req` (no scoring); used by tests and the CLI's explain.
  bool Feasible(const VmRequest& req, const HostState& host) const;
  // Every filter's reason for rejecting `host` (empty when it fits); for per-host answers.
  std::vector<Reason> ExplainHost(const VmRequest& req, const HostState& host) const;

 private:
  struct ClassPath;  // framework.cc
  PlacementOutcome Unschedulable(const VmRequest& req, const ClusterState& cluster) const;
  bool TakesClassPath(const VmRequest& req) const;
  Result<PlacementOutcome> ScheduleByClass(const VmRequest& req, ClusterState& cluster);
  // The hosts changed since the score plugin's last BeginRequest (null: unknown); clears them.
  const std::vector<int>* TakePluginChanges(const ClusterState& cluster);
  void NoteChanged(int host);
  Result<PlacementOutcome> Commit(const VmRequest& req, ClusterState& cluster, int h,
                                  int feasible_hosts);

  std::string policy_;
  std::vector<std::unique_ptr<FilterPlugin>> filters_;
  std::unique_ptr<ScorePlugin> score_;
  std::vector<std::unique_ptr<DeviceSelector>> selectors_;
  std::vector<DeviceSelector*> active_selectors_;  // the policy's where it has its own
  std::vector<std::unique_ptr<ReservePlugin>> reserves_;
  std::vector<int> feasible_;    // scratch
  std::vector<int64_t> scores_;  // scratch
  bool use_classes_ = true;
  bool sole_writer_ = false;
  std::unique_ptr<ClassPath> classes_;
  // Hosts changed through this framework since the score plugin's last BeginRequest, and the
  // cluster that plugin last saw (sole-writer mode).
  std::vector<int> plugin_changes_;
  const ClusterState* plugin_cluster_ = nullptr;
  size_t plugin_cluster_hosts_ = 0;
};

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_FRAMEWORK_H_
