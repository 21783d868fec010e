// `devshare sim`: the FGD-protocol experiment over a node and a pod CSV file.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/bound.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/replay.h"
#include "devshare/sim/sim_output.h"
#include "devshare/sim/trace.h"

namespace devshare::cli {

int Fail(const std::string& command, const Status& status);
int RunSimRightsize(const Flags& flags);  // sim_rightsize_command.cc

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
    "                     peer's mean (1.0 for random)\n"
    "  --holes            also print where the free GPU capacity lies at 100 % arrival: free\n"
    "                     milli summed by how much each GPU has free (1-99, ..., idle GPUs)\n"
    "  --bound            also compute an LP upper bound (GLPK) on the GPU allocation any\n"
    "                     placement could reach at 100 % arrival, and each policy's gap to it\n"
    "  --no-prior         devshare starts without the trace's typical pods and learns them\n"
    "                     from the arrivals (the other policies keep them: they define them)\n"
    "  --mode inflate     the FGD protocol (default); --mode replay: arrivals and departures in\n"
    "                     trace time, failed pods wait FIFO (with backfill) and retry;\n"
    "                     --mode rightsize --usage DIR: per-pod usage series through every\n"
    "                     sizing policy (devshare sim --mode rightsize --help)\n"
    "  --max-wait 86400   replay: seconds a pod may wait before it counts as never ran\n"
    "  --arrival-speedup 1  replay: divide inter-arrival times by this (lifetimes kept)\n";

int RunReplay(const Flags& flags, const std::vector<sim::NodeRecord>& nodes,
              const std::vector<sim::PodRecord>& pods, const sim::ExperimentOptions& opt,
              const placement::PluginRegistry& registry) {
  sim::ReplayOptions r;
  r.policies = opt.policies;
  r.seeds = opt.seeds;
  r.jobs = opt.jobs;
  auto wait = flags.GetInt("max-wait", 86400, 0, int64_t{10} * 365 * 86400);
  if (!wait.ok()) return Fail("sim", wait.status());
  r.max_wait = std::chrono::seconds(*wait);
  auto speed = flags.GetDouble("arrival-speedup", 1.0, 1.0, 1e6);
  if (!speed.ok()) return Fail("sim", speed.status());
  r.arrival_speedup = *speed;
  const bool progress = !flags.Has("quiet") && isatty(STDERR_FILENO);
  SystemClock clock;
  auto result = sim::RunReplayExperiment(
      nodes, pods, r, registry, clock, [&](const sim::ReplayRunResult& run, int done, int total) {
        if (!progress) return;
        std::fprintf(stderr, "\r[%d/%d] %s seed %llu done      ", done, total, run.policy.c_str(),
                     static_cast<unsigned long long>(run.seed));
        if (done == total) std::fputc('\n', stderr);
      });
  if (!result.ok()) return Fail("sim", result.status());
  std::fputs(flags.Has("json") ? sim::ReplayJson(*result, r.policies).c_str()
                               : sim::ReplayTable(*result, r.policies).c_str(),
             stdout);
  return kExitOk;
}

// The LP bounds on the arrival prefix at 100 % of every seed (any placement; placements that
// place every share pod), what the first leaves out, and each policy's gap to both.
Status PrintBound(const std::vector<sim::NodeRecord>& nodes,
                  const std::vector<sim::PodRecord>& pods, const sim::ExperimentResult& result,
                  const sim::ExperimentOptions& opt, std::FILE* out) {
  const std::vector<VmRequest> orig = sim::RequestsByName(pods);
  sim::BoundOptions share_placed;
  share_placed.place_every_share_pod = true;
  double bound_sum = 0, share_bound_sum = 0;
  std::map<int, double> unplaced_pct_sum;  // by the milli a pod asks of each GPU
  bool share_fits = true;
  for (uint64_t seed : opt.seeds) {
    std::vector<VmRequest> seq =
        sim::ArrivalSequence(orig, result.cluster.gpu_milli, opt.tune, seed);
    const std::vector<VmRequest> arrived = sim::ArrivedAt100(seq, result.cluster.gpu_milli);
    auto b = sim::ComputeAllocationBound(nodes, arrived);
    if (!b.ok()) return b.status();
    bound_sum += b->max_alloc_pct;
    for (const auto& [milli, left] : b->unplaced_milli_by_gpu_milli) {
      unplaced_pct_sum[milli] += 100.0 * left / static_cast<double>(b->capacity_milli);
    }
    auto f = sim::ComputeAllocationBound(nodes, arrived, share_placed);
    if (!f.ok()) return f.status();
    share_bound_sum += f->max_alloc_pct;
    share_fits = share_fits && f->share_pods_left_out <= 1e-6;
  }
  const double n = static_cast<double>(opt.seeds.size());
  const double floor = 100.0 - bound_sum / n;
  const double share_floor = 100.0 - share_bound_sum / n;
  std::string left_out;
  for (auto it = unplaced_pct_sum.rbegin(); it != unplaced_pct_sum.rend(); ++it) {
    const double pct = it->second / n;
    if (pct < 0.005) continue;
    char buf[64];
    std::snprintf(
        buf, sizeof buf, "%s pods %.2f",
        it->first == kMilliPerDevice ? "whole-GPU" : (std::to_string(it->first) + "-milli").c_str(),
        pct);
    left_out += (left_out.empty() ? "" : ", ") + std::string(buf);
  }
  std::fprintf(out,
               "\nupper bound (configuration LP, GLPK) on GPU allocation at 100 %% arrival, mean "
               "over seeds: %.2f %% -> unallocated >= %.2f %%\n"
               "  its optimum leaves out (GPU demand, %% of capacity): %s\n"
               "  with every share-GPU pod placed%s: unallocated >= %.2f %%\n",
               100.0 - floor, floor, left_out.empty() ? "nothing" : left_out.c_str(),
               share_fits ? "" : " (as many as fit)", share_floor);
  std::fprintf(out, "%-16s %12s %22s %26s\n", "policy", "unalloc %", "gap to bound (points)",
               "gap, share pods placed");
  for (const sim::PolicySummary& s : sim::SummarizeRuns(result, opt.policies)) {
    std::fprintf(out, "%-16s %12.2f %22.2f %26.2f\n", s.policy.c_str(), s.unalloc_mean,
                 s.unalloc_mean - floor, s.unalloc_mean - share_floor);
  }
  return Status::Ok();
}

}  // namespace

int Fail(const std::string& command, const Status& status) {
  std::fprintf(stderr, "devshare %s: %s\n", command.c_str(), status.message().c_str());
  return ExitCodeFor(status);
}

int RunSimCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"nodes",
                             "pods",
                             "policies",
                             "seeds",
                             "tune",
                             "jobs",
                             "out",
                             "peer",
                             "mode",
                             "max-wait",
                             "arrival-speedup",
                             "usage",
                             "forecasters",
                             "quantile",
                             "margin",
                             "margins",
                             "horizon",
                             "half-life",
                             "shrink-interval",
                             "gpu-memory-gib",
                             "half"},
                            {"json", "quiet", "help", "check-peer", "bound", "holes", "no-prior"});
  if (!flags.ok()) return Fail("sim", flags.status());
  if (flags->Get("mode", "inflate") == "rightsize") return RunSimRightsize(*flags);
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
  opt.devshare_without_prior = flags->Has("no-prior");
  const std::string mode = flags->Get("mode", "inflate");
  if (mode == "replay" && opt.devshare_without_prior) {
    return Fail("sim", Status::InvalidArgument("--no-prior: only with --mode inflate"));
  }

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
  if (mode == "replay") return RunReplay(*flags, *nodes, *pods, opt, registry);
  if (mode != "inflate") {
    return Fail("sim",
                Status::InvalidArgument("--mode: '" + mode +
                                        "' is not a mode (want inflate, replay or rightsize)"));
  }

  const bool progress = !flags->Has("quiet") && isatty(STDERR_FILENO);
  SystemClock clock;
  auto result = sim::RunInflateExperiment(
      *nodes, *pods, opt, registry, clock, [&](const sim::RunResult& run, int done, int total) {
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
  if (flags->Has("holes")) {
    std::fputs(sim::HoleTable(*result, opt.policies).c_str(), flags->Has("json") ? stderr : stdout);
  }
  if (flags->Has("bound")) {
    Status st = PrintBound(*nodes, *pods, *result, opt, flags->Has("json") ? stderr : stdout);
    if (!st.ok()) return Fail("sim", st);
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
                  flags->Get("out").c_str(), flags->Get("out").c_str(), flags->Get("out").c_str());
    }
  }
  if (flags->Has("check-peer") && !within) {
    std::fprintf(stderr, "devshare sim: results outside the peer reproduction band\n");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace devshare::cli
