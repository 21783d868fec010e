// `devshare sim --mode rightsize --usage DIR`: per-pod usage series through every sizing policy.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/predict/forecaster.h"
#include "devshare/sim/rightsize.h"
#include "devshare/sim/usage_trace.h"

namespace devshare::cli {

int Fail(const std::string& command, const Status& status);

constexpr const char* kSimRightsizeHelp =
    "usage: devshare sim --mode rightsize --usage DIR [flags]\n"
    "  DIR holds the GenAI trace's pod_gpu_memory_used_bytes_anon.csv, "
    "pod_gpu_duty_cycle_anon.csv\n"
    "  and (optional) pod_memory_util_anon.csv. Every pod starts at its peak (what its user\n"
    "  asked); each policy then sizes GPU memory, GPU busy % and memory minute by minute.\n"
    "  --forecasters a,b  devshare controller rows, one per forecaster (default: all built-in)\n"
    "  --quantile 0.95    devshare: the quantile of the next window's peak each forecaster "
    "predicts\n"
    "  --margin 0.08      devshare: safety margin over the forecast\n"
    "  --margins a,b,..   devshare: one row per margin and forecaster (the slack/violation\n"
    "                     frontier), instead of --margin\n"
    "  --half-life 3600   devshare: seconds after which a sample's weight halves (ewma,\n"
    "                     autopilot)\n"
    "  --horizon 300      seconds of the window whose peak is forecast (and of accuracy windows)\n"
    "  --shrink-interval 600  devshare: at most one shrink per this many seconds\n"
    "  --gpu-memory-gib 80  GPU memory for packing (every pod must fit one GPU)\n"
    "  --half 0|1         only the pods of one hash half (a split not looked at when tuning)\n"
    "  --jobs 2           worker threads, one policy each\n"
    "  --json             print one JSON document instead of the tables\n"
    "  --out DIR          also write DIR/summary.json and DIR/report.html\n"
    "  --quiet            no progress on stderr\n";

int RunSimRightsize(const Flags& flags) {
  if (flags.Has("help")) {
    std::fputs(kSimRightsizeHelp, stdout);
    return kExitOk;
  }
  for (const char* other :
       {"nodes", "pods", "policies", "seeds", "tune", "peer", "max-wait", "arrival-speedup"}) {
    if (flags.Has(other)) {
      return Fail("sim", Status::InvalidArgument(std::string("--") + other +
                                                 ": not a flag of --mode rightsize"));
    }
  }
  if (!flags.Has("usage")) {
    std::fputs(kSimRightsizeHelp, stderr);
    return Fail("sim", Status::InvalidArgument("--mode rightsize needs --usage DIR"));
  }
  predict::ForecasterRegistry registry;
  predict::RegisterBuiltinForecasters(registry);
  std::vector<std::string> forecasters = registry.Names();
  if (flags.Has("forecasters")) {
    auto f = ParseList(flags.Get("forecasters"), "forecasters");
    if (!f.ok()) return Fail("sim", f.status());
    forecasters = *f;
  }
  auto quantile = flags.GetDouble("quantile", 0.95, 0.5, 0.9999);
  if (!quantile.ok()) return Fail("sim", quantile.status());
  std::vector<double> margins;
  if (flags.Has("margins")) {
    auto list = ParseList(flags.Get("margins"), "margins");
    if (!list.ok()) return Fail("sim", list.status());
    for (const std::string& m : *list) {
      char* end = nullptr;
      const double v = std::strtod(m.c_str(), &end);
      if (m.empty() || *end != '\0' || !(v >= 0 && v <= 2)) {
        return Fail("sim",
                    Status::InvalidArgument("--margins: '" + m + "' is not a number in 0..2"));
      }
      margins.push_back(v);
    }
  } else {
    auto margin = flags.GetDouble("margin", 0.08, 0, 2);
    if (!margin.ok()) return Fail("sim", margin.status());
    margins.push_back(*margin);
  }
  auto horizon = flags.GetInt("horizon", 300, 60, 86'400);
  if (!horizon.ok()) return Fail("sim", horizon.status());
  auto half_life = flags.GetDouble("half-life", 3600, 60, 30 * 86'400.0);
  if (!half_life.ok()) return Fail("sim", half_life.status());
  auto shrink_interval = flags.GetInt("shrink-interval", 600, 0, 86'400);
  if (!shrink_interval.ok()) return Fail("sim", shrink_interval.status());
  auto gib = flags.GetDouble("gpu-memory-gib", 80, 1, 4096);
  if (!gib.ok()) return Fail("sim", gib.status());
  auto jobs = flags.GetInt("jobs", 2, 1, 256);
  if (!jobs.ok()) return Fail("sim", jobs.status());
  auto half = flags.GetInt("half", -1, 0, 1);
  if (!half.ok()) return Fail("sim", half.status());

  auto trace = sim::ReadGenAiUsage(flags.Get("usage"));
  if (!trace.ok()) return Fail("sim", trace.status());
  std::vector<sim::PodUsage> pods =
      *half < 0 ? trace->pods : sim::PodsOfHalf(*trace, static_cast<int>(*half));
  if (pods.empty()) {
    return Fail("sim", Status::InvalidArgument("--usage " + flags.Get("usage") + ": no pods"));
  }
  for (const sim::PodUsage& p : pods) {
    const sim::UsageSeries& s = p.Of(sim::UsageResource::kGpuMemory);
    for (double v : s.values) {
      if (v > *gib * 1024) {
        return Fail("sim",
                    Status::InvalidArgument("pod " + p.pod + " uses " + std::to_string(v / 1024) +
                                            " GiB of GPU memory, more than --gpu-memory-gib"));
      }
    }
  }
  sim::RightsizeOptions opt;
  opt.policies = sim::DefaultRightsizePolicies(forecasters, *quantile, margins, *horizon,
                                               *half_life, *shrink_interval);
  opt.gpu_memory_capacity_mib = *gib * 1024;
  opt.horizon_s = *horizon;
  opt.jobs = static_cast<int>(*jobs);
  const bool progress = !flags.Has("quiet") && isatty(STDERR_FILENO);
  auto result =
      sim::RunRightsize(pods, trace->periods, trace->period_s, opt, registry,
                        [&](const sim::RightsizePolicyResult& p, int done, int total) {
                          if (!progress) return;
                          std::fprintf(stderr, "\r[%d/%d] %s: %d GPUs (%.2f s)          ", done,
                                       total, p.policy.c_str(), p.gpus_needed, p.wall_s);
                          if (done == total) std::fputc('\n', stderr);
                        });
  if (!result.ok()) return Fail("sim", result.status());
  if (flags.Has("json")) {
    std::fputs(sim::RightsizeJson(*result).c_str(), stdout);
  } else {
    std::fputs(sim::RightsizeTable(*result).c_str(), stdout);
  }
  if (flags.Has("out")) {
    const std::string title = "right-sizing, " + flags.Get("usage") +
                              (*half < 0 ? "" : ", half " + std::to_string(*half));
    Status st = sim::WriteRightsizeOutputs(*result, title, flags.Get("out"));
    if (!st.ok()) return Fail("sim", st);
    if (!flags.Has("json")) {
      std::printf("\nwrote %s/summary.json, %s/report.html\n", flags.Get("out").c_str(),
                  flags.Get("out").c_str());
    }
  }
  return kExitOk;
}

}  // namespace devshare::cli
