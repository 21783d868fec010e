// `devshare gen`: write a synthetic openb-like cluster and pod list.
#include <cstdio>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/workload_generator.h"

namespace devshare::cli {

int RunGenCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"nodes", "seed", "pods", "out"}, {"help", "no-times"});
  if (!flags.ok()) return Fail("gen", flags.status());
  if (flags->Has("help") || !flags->Has("out")) {
    std::fputs(
        "usage: devshare gen --out DIR [--nodes 1213] [--seed 42] [--pods 0=auto] "
        "[--no-times]\n",
        flags->Has("help") ? stdout : stderr);
    return flags->Has("help") ? kExitOk : kExitBadInput;
  }
  sim::GeneratorOptions opt;
  auto nodes = flags->GetInt("nodes", 1213, 1, 100000);
  if (!nodes.ok()) return Fail("gen", nodes.status());
  auto seed = flags->GetInt("seed", 42, 0, INT64_MAX);
  if (!seed.ok()) return Fail("gen", seed.status());
  auto pods = flags->GetInt("pods", 0, 0, 100000000);
  if (!pods.ok()) return Fail("gen", pods.status());
  opt.nodes = static_cast<int>(*nodes);
  opt.seed = static_cast<uint64_t>(*seed);
  opt.pods = static_cast<int>(*pods);
  opt.with_times = !flags->Has("no-times");
  auto w = sim::GenerateWorkload(opt);
  if (!w.ok()) return Fail("gen", w.status());
  Status st = sim::WriteWorkload(*w, flags->Get("out"));
  if (!st.ok()) return Fail("gen", st);
  std::printf(
      "wrote %zu nodes to %s/openb_node_list_gpu_node.csv and %zu pods to "
      "%s/openb_pod_list_default.csv (seed %llu)\n",
      w->nodes.size(), flags->Get("out").c_str(), w->pods.size(), flags->Get("out").c_str(),
      static_cast<unsigned long long>(opt.seed));
  return kExitOk;
}

}  // namespace devshare::cli
