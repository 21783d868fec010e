// `devshare demo` (what `make run` runs): generate a cluster and workload with the project's own
// generator, run every built-in policy side by side over a few seeds, print the table and write
// the report.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/sim_output.h"
#include "devshare/sim/workload_generator.h"

namespace devshare::cli {

int RunDemoCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"nodes", "seed", "seeds", "out", "jobs", "tune"}, {"help"});
  if (!flags.ok()) return Fail("demo", flags.status());
  if (flags->Has("help")) {
    std::fputs(
        "usage: devshare demo [--nodes 1213] [--seed 7] [--seeds 42-46] [--tune 1.3] "
        "[--jobs 2] [--out devshare-demo]\n",
        stdout);
    return kExitOk;
  }
  sim::GeneratorOptions gen;
  auto nodes = flags->GetInt("nodes", 1213, 1, 100000);
  if (!nodes.ok()) return Fail("demo", nodes.status());
  auto seed = flags->GetInt("seed", 7, 0, INT64_MAX);
  if (!seed.ok()) return Fail("demo", seed.status());
  gen.nodes = static_cast<int>(*nodes);
  gen.seed = static_cast<uint64_t>(*seed);
  gen.with_times = false;
  auto w = sim::GenerateWorkload(gen);
  if (!w.ok()) return Fail("demo", w.status());

  placement::PluginRegistry registry;
  placement::RegisterBuiltinPlacementPlugins(registry);
  sim::ExperimentOptions opt;
  opt.policies = placement::BuiltinPolicyNames();
  auto seeds = ParseSeeds(flags->Get("seeds", "42-46"));
  if (!seeds.ok()) return Fail("demo", seeds.status());
  opt.seeds = *seeds;
  auto jobs = flags->GetInt("jobs", 2, 1, 256);
  if (!jobs.ok()) return Fail("demo", jobs.status());
  opt.jobs = static_cast<int>(*jobs);
  auto tune = flags->GetDouble("tune", 1.3, 0.01, 10.0);
  if (!tune.ok()) return Fail("demo", tune.status());
  opt.tune = *tune;

  std::printf(
      "devshare demo: generated %zu GPU nodes and %zu pods (generator seed %llu); "
      "running %zu policies x %zu seeds, tune %.2f\n\n",
      w->nodes.size(), w->pods.size(), static_cast<unsigned long long>(gen.seed),
      opt.policies.size(), opt.seeds.size(), opt.tune);
  std::fflush(stdout);
  const bool progress = isatty(STDERR_FILENO);
  SystemClock clock;
  auto result = sim::RunInflateExperiment(
      w->nodes, w->pods, opt, registry, clock, [&](const sim::RunResult& run, int done, int total) {
        if (!progress) return;
        std::fprintf(stderr, "\r[%d/%d] %s seed %llu done      ", done, total, run.policy.c_str(),
                     static_cast<unsigned long long>(run.seed));
        if (done == total) std::fputc('\n', stderr);
      });
  if (!result.ok()) return Fail("demo", result.status());
  std::fputs(sim::ExperimentTable(*result, opt.policies).c_str(), stdout);
  const std::string out = flags->Get("out", "devshare-demo");
  Status st = sim::WriteExperimentOutputs(
      *result, opt.policies,
      "devshare demo: generated cluster of " + std::to_string(w->nodes.size()) + " nodes", out);
  if (!st.ok()) return Fail("demo", st);
  std::printf("\nLower unallocated GPU %% at 100 %% arrival is better. Report: %s/report.html\n",
              out.c_str());
  return kExitOk;
}

}  // namespace devshare::cli
