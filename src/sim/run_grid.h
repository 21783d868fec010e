// Internal to the sim module: what the inflate and replay runners share: the trace prepared once
// (hosts, name-sorted requests, typical pods), the (policy, seed) task grid run on worker threads,
// and the common JSON header.
// Thread-safety: RunGrid starts and joins its own threads; `run` must be safe to call
// concurrently for different tasks; `done` is called under a lock.
#ifndef DEVSHARE_SIM_RUN_GRID_H_
#define DEVSHARE_SIM_RUN_GRID_H_

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "devshare/core/json_writer.h"
#include "devshare/core/result.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/registry.h"
#include "devshare/sim/experiment.h"

namespace devshare::sim::internal {

// The trace as every run sees it.
struct PreparedTrace {
  ClusterSummary cluster;
  std::vector<Host> hosts;      // node file order
  std::vector<VmRequest> orig;  // pods sorted by name (the reference's original order)
  std::shared_ptr<const placement::TypicalPods> typical;  // M, from `orig`
};

// InvalidArgument for an empty or GPU-less cluster, no policies/seeds, unknown policies.
Result<PreparedTrace> PrepareTrace(const std::vector<NodeRecord>& nodes,
                                   const std::vector<PodRecord>& pods,
                                   const std::vector<std::string>& policies,
                                   const std::vector<uint64_t>& seeds, double typical_coverage,
                                   const placement::PluginRegistry& registry);

// "cluster" and "typical_pods" members of a result document.
void WriteTraceJson(JsonWriter& w, const ClusterSummary& cluster, int typical_shapes,
                    int typical_kept, double typical_coverage);

struct GridTask {
  std::string policy;
  uint64_t seed = 0;
};

// Runs run(k) for every k in [0, n) on `jobs` threads (the caller's included), calling
// done(result, finished, n) under a lock after each that succeeded (`finished` counts failures
// too). Results come back in index order, or the first error in that order.
template <typename T, typename Run, typename Done>
Result<std::vector<T>> RunParallel(size_t n, int jobs, Run run, Done done) {
  std::vector<std::optional<Result<T>>> out(n);
  std::atomic<size_t> next{0};
  std::mutex mu;
  int finished = 0;
  auto worker = [&] {
    while (true) {
      const size_t k = next.fetch_add(1);
      if (k >= n) return;
      Result<T> r = run(k);
      std::lock_guard<std::mutex> lock(mu);
      ++finished;
      if (r.ok()) done(*r, finished, static_cast<int>(n));
      out[k] = std::move(r);
    }
  };
  const int threads_wanted = std::max(1, std::min<int>(jobs, static_cast<int>(n)));
  std::vector<std::thread> threads;
  for (int j = 1; j < threads_wanted; ++j) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  std::vector<T> results;
  results.reserve(out.size());
  for (auto& r : out) {
    if (!r->ok()) return r->status();
    results.push_back(std::move(**r));
  }
  return results;
}

// Runs run(task) for every (policy, seed) on `jobs` threads (the caller's included). Results come
// back in task order (policies as given, then seeds), or the first error in that order.
template <typename T, typename Run, typename Done>
Result<std::vector<T>> RunGrid(const std::vector<std::string>& policies,
                               const std::vector<uint64_t>& seeds, int jobs, Run run, Done done) {
  std::vector<GridTask> tasks;
  for (const std::string& p : policies) {
    for (uint64_t s : seeds) tasks.push_back({p, s});
  }
  return RunParallel<T>(
      tasks.size(), jobs, [&](size_t k) { return run(tasks[k]); }, done);
}

}  // namespace devshare::sim::internal

#endif  // DEVSHARE_SIM_RUN_GRID_H_
