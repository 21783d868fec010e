// `devshare sim`: the FGD-protocol experiment over a node and a pod CSV file.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/sim_output.h"
#include "devshare/sim/trace.h"

namespace devshare::cli {
namespace {

constexpr const char* kSimHelp =
    "usage: devshare sim --nodes NODES.csv --pods PODS.csv [flags]\n"
    "  --policies a,b,..  policies to compare (default: all built-in)\n"
    "  --seeds 42-51      seeds, as a range or a comma list (default 42-51)\n"
    "  --tune 1.3         inflate arrivals to tune x cluster GPU capacity (default 1.3)\n"
    "  --jobs 2           worker threads (default 2)\n"
    "  --json             print one JSON document instead of the table\n"
    "  --out DIR          also write DIR/summary.json, DIR/curves/*.csv, DIR/report.html\n"
    "  --quiet            no progress on stderr\n"
    "  --peer FILE        compare with the FGD artifact's peer_analysis_allo_discrete.csv\n"
    "  --check-peer       with --peer: exit 1 unless every policy is within 0.5 points of the\n"
    "                     peer's mean (1.0 for random)\n";

}  // namespace

int Fail(const std::string& command, const Status& status) {
  std::fprintf(stderr, "devshare %s: %s\n", command.c_str(), status.message().c_str());
  return ExitCodeFor(status);
}

int RunSimCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"nodes", "pods", "policies", "seeds", "tune", "jobs", "out", "peer"},
                            {"json", "quiet", "help", "check-peer"});
  if (!flags.ok()) return Fail("sim", flags.status());
  if (flags->Has("help")) {
    std::fputs(kSimHelp, stdout);
    return kExitOk;
  }
  if (!flags->Has("nodes") || !flags->Has("pods")) {
    std::fputs(kSimHelp, stderr);
    return Fail("sim", Status::InvalidArgument("--nodes and --pods are required"));
  }
  placement::PluginRegistry registry;
  placement::RegisterBuiltinPlacementPlugins(registry);

  sim::ExperimentOptions opt;
  opt.policies = placement::BuiltinPolicyNames();
  if (flags->Has("policies")) {
    auto p = ParseList(flags->Get("policies"), "policies");
    if (!p.ok()) return Fail("sim", p.status());
    opt.policies = *p;
  }
  auto seeds = ParseSeeds(flags->Get("seeds", "42-51"));
  if (!seeds.ok()) return Fail("sim", seeds.status());
  opt.seeds = *seeds;
  auto tune = flags->GetDouble("tune", 1.3, 0.01, 10.0);
  if (!tune.ok()) return Fail("sim", tune.status());
  opt.tune = *tune;
  auto jobs = flags->GetInt("jobs", 2, 1, 256);
  if (!jobs.ok()) return Fail("sim", jobs.status());
  opt.jobs = static_cast<int>(*jobs);

  sim::PeerResults peer;
  if (flags->Has("peer")) {
    auto p = sim::ReadPeerAllocation(flags->Get("peer"), opt.tune);
    if (!p.ok()) return Fail("sim", p.status());
    peer = std::move(*p);
  } else if (flags->Has("check-peer")) {
    return Fail("sim", Status::InvalidArgument("--check-peer needs --peer FILE"));
  }
  auto nodes = sim::ReadNodeCsv(flags->Get("nodes"));
  if (!nodes.ok()) return Fail("sim", nodes.status());
  auto pods = sim::ReadPodCsv(flags->Get("pods"));
  if (!pods.ok()) return Fail("sim", pods.status());

  const bool progress = !flags->Has("quiet") && isatty(STDERR_FILENO);
  SystemClock clock;
  auto result = sim::RunInflateExperiment(
      *nodes, *pods, opt, registry, clock,
      [&](const sim::RunResult& run, int done, int total) {
        if (!progress) return;
        std::fprintf(stderr, "\r[%d/%d] %s seed %llu: unallocated %.2f %% (%.2f s)      ", done,
                     total, run.policy.c_str(), static_cast<unsigned long long>(run.seed),
                     run.unallocated_gpu_pct_at_100, run.wall_s);
        if (done == total) std::fputc('\n', stderr);
      });
  if (!result.ok()) return Fail("sim", result.status());
  if (flags->Has("json")) {
    std::fputs(sim::ExperimentJson(*result, opt.policies).c_str(), stdout);
  } else {
    std::fputs(sim::ExperimentTable(*result, opt.policies).c_str(), stdout);
  }
  bool within = true;
  if (flags->Has("peer")) {
    std::string table = sim::PeerComparisonTable(*result, opt.policies, peer,
                                                 sim::WorkloadName(flags->Get("pods")), &within);
    std::fputs(table.c_str(), flags->Has("json") ? stderr : stdout);
  }
  if (flags->Has("out")) {
    const std::string title = flags->Get("pods") + ", tune " + flags->Get("tune", "1.3") +
                              ", seeds " + flags->Get("seeds", "42-51");
    Status st = sim::WriteExperimentOutputs(*result, opt.policies, title, flags->Get("out"));
    if (!st.ok()) return Fail("sim", st);
    if (!flags->Has("json")) {
      std::printf("\nwrote %s/summary.json, %s/curves/, %s/report.html\n",
                  flags->Get("out").c_str(), flags->Get("out").c_str(),
                  flags->Get("out").c_str());
    }
  }
  if (flags->Has("check-peer") && !within) {
    std::fprintf(stderr, "devshare sim: results outside the peer reproduction band\n");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace devshare::cli
