// `devshare bench`: placement speed figures on a trace (one FGD-protocol run per policy on one
// core, and the full policies x seeds grid on --jobs threads).
#include <cstdio>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/trace.h"
#include "devshare/sim/workload_generator.h"

namespace devshare::cli {

int RunBenchCommand(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "api") {
    return RunBenchApiCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "io") {
    return RunBenchIoCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "net") {
    return RunBenchNetCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "vm-start") {
    return RunBenchVmStartCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  auto flags = Flags::Parse(
      args,
      {"nodes", "pods", "policies", "seeds", "jobs", "tune", "generated-nodes", "generator-seed"},
      {"help", "no-grid"});
  if (!flags.ok()) return Fail("bench", flags.status());
  const bool generated = flags->Has("generated-nodes");
  if (flags->Has("help") || (!generated && (!flags->Has("nodes") || !flags->Has("pods")))) {
    std::fputs(
        "usage: devshare bench api --help   (REST API throughput)\n"
        "       devshare bench vm-start --help   (POST /v1/vms to guest running)\n"
        "       devshare bench io --help   (storage QoS measured by fio in guests)\n"
        "       devshare bench net --help   (network QoS measured by iperf3 in guests)\n"
        "       devshare bench (--nodes NODES.csv --pods PODS.csv | --generated-nodes N)\n"
        "                      [--policies ...] [--seeds 42-51] [--jobs 2] [--tune 1.3]\n"
        "                      [--no-grid] [--generator-seed 42]\n"
        "  prints the single-core wall time and decisions/s of one run per policy, then\n"
        "  the wall time of the whole policies x seeds grid on --jobs threads\n",
        flags->Has("help") ? stdout : stderr);
    return flags->Has("help") ? kExitOk : kExitBadInput;
  }
  placement::PluginRegistry registry;
  placement::RegisterBuiltinPlacementPlugins(registry);
  Result<std::vector<sim::NodeRecord>> nodes = std::vector<sim::NodeRecord>();
  Result<std::vector<sim::PodRecord>> pods = std::vector<sim::PodRecord>();
  if (generated) {
    sim::GeneratorOptions g;
    auto n = flags->GetInt("generated-nodes", 10000, 1, 100000);
    if (!n.ok()) return Fail("bench", n.status());
    auto gs = flags->GetInt("generator-seed", 42, 0, INT64_MAX);
    if (!gs.ok()) return Fail("bench", gs.status());
    g.nodes = static_cast<int>(*n);
    g.seed = static_cast<uint64_t>(*gs);
    g.with_times = false;
    auto w = sim::GenerateWorkload(g);
    if (!w.ok()) return Fail("bench", w.status());
    std::printf("generated cluster: %zu nodes, %zu pods (generator seed %llu)\n", w->nodes.size(),
                w->pods.size(), static_cast<unsigned long long>(g.seed));
    nodes = std::move(w->nodes);
    pods = std::move(w->pods);
  } else {
    nodes = sim::ReadNodeCsv(flags->Get("nodes"));
    if (!nodes.ok()) return Fail("bench", nodes.status());
    pods = sim::ReadPodCsv(flags->Get("pods"));
    if (!pods.ok()) return Fail("bench", pods.status());
  }
  auto policies = ParseList(flags->Get("policies",
                                       "random,dot_product,gpu_clustering,gpu_packing,"
                                       "best_fit,fgd"),
                            "policies");
  if (!policies.ok()) return Fail("bench", policies.status());
  auto seeds = ParseSeeds(flags->Get("seeds", "42-51"));
  if (!seeds.ok()) return Fail("bench", seeds.status());
  auto jobs = flags->GetInt("jobs", 2, 1, 256);
  if (!jobs.ok()) return Fail("bench", jobs.status());
  auto tune = flags->GetDouble("tune", 1.3, 0.01, 10.0);
  if (!tune.ok()) return Fail("bench", tune.status());
  SystemClock clock;

  std::printf("single run per policy on one thread (seed %llu, tune %.2f):\n",
              static_cast<unsigned long long>(seeds->front()), *tune);
  std::printf("%-16s %10s %12s %12s %12s %14s\n", "policy", "wall s", "decisions", "p50 us",
              "p99 us", "decisions/s");
  for (const std::string& p : *policies) {
    sim::ExperimentOptions one;
    one.policies = {p};
    one.seeds = {seeds->front()};
    one.tune = *tune;
    one.jobs = 1;
    auto r = sim::RunInflateExperiment(*nodes, *pods, one, registry, clock);
    if (!r.ok()) return Fail("bench", r.status());
    const sim::RunResult& run = r->runs.front();
    std::printf("%-16s %10.3f %12d %12.2f %12.2f %14.0f\n", p.c_str(), run.wall_s, run.pods_arrived,
                run.decision_us_p50, run.decision_us_p99,
                run.pods_arrived / std::max(run.wall_s, 1e-9));
  }
  if (flags->Has("no-grid")) return kExitOk;
  sim::ExperimentOptions grid;
  grid.policies = *policies;
  grid.seeds = *seeds;
  grid.tune = *tune;
  grid.jobs = static_cast<int>(*jobs);
  const TimePoint t0 = clock.Now();
  auto r = sim::RunInflateExperiment(*nodes, *pods, grid, registry, clock);
  if (!r.ok()) return Fail("bench", r.status());
  const double grid_s = std::chrono::duration<double>(clock.Now() - t0).count();
  std::printf("\ngrid: %zu policies x %zu seeds = %zu runs on %lld threads: %.2f s wall\n",
              policies->size(), seeds->size(), r->runs.size(), static_cast<long long>(*jobs),
              grid_s);
  return kExitOk;
}

}  // namespace devshare::cli
