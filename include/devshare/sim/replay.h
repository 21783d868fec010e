// Time-based replay of a pod trace: arrivals at creation_time, departures after the trace's
// duration, unschedulable pods wait in a FIFO queue (with backfill) until capacity frees or the
// --max-wait horizon passes; every (policy, seed) run in parallel worker threads.
// Thread-safety: RunReplayExperiment is reentrant (starts and joins its own workers); the output
// helpers are pure functions of their input.
#ifndef DEVSHARE_SIM_REPLAY_H_
#define DEVSHARE_SIM_REPLAY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/placement/registry.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/trace.h"

namespace devshare::sim {

inline constexpr int kReplayTimelineSamples = 200;  // bins of alloc_timeline_pct over the span

struct ReplayOptions {
  std::vector<std::string> policies;
  std::vector<uint64_t> seeds;
  // A waiting pod may start at most this long after its creation_time; later it never runs.
  std::chrono::seconds max_wait{86400};
  int jobs = 2;  // worker threads
  double typical_coverage = 0.95;
  // Arrival-rate multiplier: creation times are divided by it (measured from the first
  // creation), lifetimes kept. 1 = the trace as recorded; >1 loads the cluster harder.
  double arrival_speedup = 1.0;
};

struct ReplayRunResult {
  std::string policy;
  uint64_t seed = 0;
  int pods_with_times = 0;        // creation_time and deletion_time > creation_time
  int pods_skipped_no_times = 0;  // missing creation or deletion time, or deletion <= creation
  int pods_started = 0;           // immediately or after waiting
  int pods_never_ran = 0;         // dropped at max_wait or still waiting at the end
  int pods_started_after_wait = 0;
  // Integral of allocated GPU milli / capacity over [span_start_s, span_end_s], in %.
  double time_weighted_gpu_alloc_pct = 0;
  // The same over the arrival window [first arrival, last arrival] (the whole span if that is
  // empty): the figure that compares policies, since afterwards the cluster only drains.
  double arrival_window_gpu_alloc_pct = 0;
  // Start time - creation time over started pods (0 for immediate starts), seconds.
  double queue_delay_s_p50 = 0;
  double queue_delay_s_p99 = 0;
  double decision_us_p50 = 0;  // over every Schedule call (arrivals and retries)
  double decision_us_p99 = 0;
  double wall_s = 0;
  int64_t span_start_s = 0;  // first arrival
  int64_t span_end_s = 0;    // last processed event
  // Time-weighted GPU allocation % in kReplayTimelineSamples equal bins of the span.
  std::vector<double> alloc_timeline_pct;
};

struct ReplayResult {
  ClusterSummary cluster;
  int pods = 0;  // pods in the trace (with and without times)
  std::chrono::seconds max_wait{0};
  int typical_shapes = 0;             // distinct shapes in the trace
  int typical_kept = 0;               // shapes kept in M
  double typical_coverage = 0;        // fraction of pods the kept shapes hold
  std::vector<ReplayRunResult> runs;  // ordered by (policy as given, seed as given)
};

// Called after each finished run (from a worker thread, serialised by the runner).
using ReplayProgressFn = std::function<void(const ReplayRunResult& run, int done, int total)>;

// Replays `pods` on `nodes` for every (policy, seed) of `options`.
//
// Semantics:
// - Pods with creation_time and deletion_time > creation_time arrive at creation_time (ties in
//   trace order) and hold their allocation for deletion - creation seconds from their actual
//   start. Other pods are skipped and counted in pods_skipped_no_times.
// - Events are ordered by (time_s, kind, sequence) with departures before arrivals at equal
//   time (a departure frees capacity the arrival may use); sequence is the push order.
// - All departures of one instant are released together, then the wait queue is retried once:
//   oldest first, pods that waited longer than max_wait are dropped (never ran), each other pod
//   is scheduled if it fits, and a pod that still does not fit stays queued while younger ones
//   are still tried (FIFO with backfill). Arrivals are scheduled on arrival even if others wait.
//   The retry is exact (the outcome of calling Schedule for every waiting pod in order) but not
//   quadratic: a waiting pod was infeasible on every host when last tried, and only released
//   hosts gained capacity since, so it is passed to Schedule (the policy then chooses among all
//   hosts as usual) only when a host released at this instant passes the filters
//   (Framework::Feasible); and since free capacity only shrinks during the pass, once a request
//   shape fails there, later pods of the same shape are skipped. Cost per instant: one pass over
//   the queue plus a few filter calls per distinct shape.
// - Pods still waiting when no event is left never ran.
// - The seed picks the node rank (seeded permutation of the hosts) and the plugin seed; the
//   typical pods and framework config are those of RunInflateExperiment.
// InvalidArgument for an empty or GPU-less cluster, no policies or seeds, an unknown policy, a
// negative max_wait, or a trace where no pod has both times. `clock` times decisions and runs
// (reported only; never used to decide).
Result<ReplayResult> RunReplayExperiment(const std::vector<NodeRecord>& nodes,
                                         const std::vector<PodRecord>& pods,
                                         const ReplayOptions& options,
                                         const placement::PluginRegistry& registry,
                                         const Clock& clock, ReplayProgressFn progress = nullptr);

// Per-policy means over seeds.
struct ReplayPolicySummary {
  std::string policy;
  int seeds = 0;
  double time_weighted_gpu_alloc_pct_mean = 0;
  double arrival_window_gpu_alloc_pct_mean = 0;
  double pods_never_ran_mean = 0;
  double pods_started_after_wait_mean = 0;
  double queue_delay_s_p50_mean = 0;
  double queue_delay_s_p99_mean = 0;
  double decision_us_p99_mean = 0;
  double wall_s_mean = 0;
};
// One entry per policy of `policies` that has runs, in that order.
std::vector<ReplayPolicySummary> SummarizeReplayRuns(const ReplayResult& r,
                                                     const std::vector<std::string>& policies);

// {"mode": "replay", "cluster": {...}, "pods": N, "max_wait_s": s, "typical_pods": {...},
//  "runs": [...], "summary": [...]}.
std::string ReplayJson(const ReplayResult& r, const std::vector<std::string>& policies);
// Fixed-width table, one row per policy (means over seeds).
std::string ReplayTable(const ReplayResult& r, const std::vector<std::string>& policies);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_REPLAY_H_
