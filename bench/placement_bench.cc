// Micro-benchmarks of the placement hot path: the FGD fragmentation measure of one node, and one
// Schedule() decision of each GPU policy on a generated 1,213-node cluster kept half full.
// Run: ./build/bench/devshare_placement_bench (Google Benchmark flags apply).
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "devshare/placement/registry.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/workload_generator.h"

namespace devshare {
namespace {

struct Fixture {
  std::vector<VmRequest> pods;
  std::vector<Host> hosts;
  std::shared_ptr<const placement::TypicalPods> typical;

  static const Fixture& Get() {
    static const Fixture f = [] {
      Fixture x;
      sim::GeneratorOptions g;
      g.nodes = 1213;
      g.seed = 42;
      g.with_times = false;
      auto w = sim::GenerateWorkload(g);
      for (const sim::NodeRecord& n : w->nodes) x.hosts.push_back(sim::HostFromNode(n));
      for (const sim::PodRecord& p : w->pods) x.pods.push_back(sim::RequestFromPod(p));
      x.typical =
          std::make_shared<const placement::TypicalPods>(placement::TypicalPods::FromPods(x.pods));
      return x;
    }();
    return f;
  }
};

void BM_NodeFragMilli(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  placement::TypicalPods typical = *f.typical;
  const std::vector<int32_t> free = {1000, 190, 530, 1000, 0, 350, 1000, 60};
  for (auto _ : state) {
    benchmark::DoNotOptimize(typical.NodeFragMilli(48000, free, "G2"));
  }
}
BENCHMARK(BM_NodeFragMilli);

// One decision per iteration on a cluster pre-filled with half of the workload; the placed pod
// is released again so every iteration sees the same state.
void BM_Schedule(benchmark::State& state, const char* policy) {
  const Fixture& f = Fixture::Get();
  ClusterState cluster;
  cluster.hosts = f.hosts;
  cluster.Reset();
  placement::PluginRegistry registry;
  placement::RegisterBuiltinPlacementPlugins(registry);
  placement::FrameworkConfig config;
  config.policy = policy;
  config.args.typical_pods = f.typical;
  auto fw = std::move(*registry.BuildFramework(config));
  const size_t half = f.pods.size() / 2;
  for (size_t i = 0; i < half; ++i) (void)fw->Schedule(f.pods[i], cluster);
  size_t next = half;
  for (auto _ : state) {
    const VmRequest& req = f.pods[next];
    next = next + 1 < f.pods.size() ? next + 1 : half;
    auto out = fw->Schedule(req, cluster);
    if (out.ok() && out->placed()) (void)fw->Release(req, out->allocation, cluster);
  }
}
BENCHMARK_CAPTURE(BM_Schedule, first_fit, "first_fit");
BENCHMARK_CAPTURE(BM_Schedule, best_fit, "best_fit");
BENCHMARK_CAPTURE(BM_Schedule, fgd, "fgd");
BENCHMARK_CAPTURE(BM_Schedule, devshare, "devshare");

}  // namespace
}  // namespace devshare

BENCHMARK_MAIN();
