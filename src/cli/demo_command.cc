// `devshare demo` (what `make run` runs): generate a cluster and workload with the project's own
// generator, run every built-in policy side by side over a few seeds, print the table and write
// the report; then serve the control plane on embedded defaults (a SQLite file under ./var/, the
// generated hosts registered) until Ctrl-C.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/sim_output.h"
#include "devshare/sim/workload_generator.h"
#include "server/control_plane.h"

namespace devshare::cli {

int RunDemoCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(
      args, {"nodes", "seed", "seeds", "out", "jobs", "tune", "listen", "db", "admin-token-file"},
      {"help", "no-serve"});
  if (!flags.ok()) return Fail("demo", flags.status());
  if (flags->Has("help")) {
    std::fputs(
        "usage: devshare demo [--nodes 1213] [--seed 7] [--seeds 42-46] [--tune 1.3] "
        "[--jobs 2] [--out devshare-demo]\n"
        "                     [--listen 127.0.0.1:8080] [--db sqlite:./var/devshare.db]\n"
        "                     [--admin-token-file ./var/admin.token] [--no-serve]\n"
        "  runs every policy on a generated cluster and workload, writes report.html, then\n"
        "  serves the control plane with the generated hosts registered until Ctrl-C\n"
        "  (--no-serve: stop after the report)\n",
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
  std::fflush(stdout);
  if (flags->Has("no-serve")) return kExitOk;

  ServeConfig config;
  config.listen = flags->Get("listen", config.listen);
  config.db = flags->Get("db", config.db);
  config.admin_token_file = flags->Get("admin-token-file", config.admin_token_file);
  // The generated pods are the server's workload history (typical pods for fgd and devshare).
  config.workload_history =
      std::make_shared<const std::vector<VmRequest>>(sim::RequestsFromPods(w->pods));
  Result<std::unique_ptr<ServerBundle>> bundle = StartServer(config);
  if (!bundle.ok()) return Fail("demo", bundle.status());
  // Register the generated hosts (as the system admin, through the same code path as
  // PUT /v1/hosts); several threads so the group commit batches them.
  const server::Principal admin = server::Principal::SystemAdmin("demo");
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < w->nodes.size();) {
        const sim::NodeRecord& n = w->nodes[i];
        nlohmann::json body = {{"cpu_milli", n.cpu_milli},
                               {"memory_mib", n.memory_mib},
                               {"gpus", nlohmann::json::array()}};
        for (int g = 0; g < n.gpus; ++g) {
          body["gpus"].push_back({{"id", "gpu" + std::to_string(g)}, {"model", n.model}});
        }
        // Every demo host also has an SR-IOV NIC and two storage tiers, so VMs may ask for
        // NICs and volumes (`devshare vm create --nic ... --volume ...`).
        body["nics"] = {{{"id", "nic0"}, {"vfs", 8}, {"line_rate_mbps", 25000}}};
        body["disks"] = {
            {{"id", "nvme0"}, {"tier", "nvme"}, {"capacity_gib", 1920}, {"iops", 400000}},
            {{"id", "hdd0"}, {"tier", "hdd"}, {"capacity_gib", 8000}, {"iops", 500}}};
        server::ApiResponse r = (*bundle)->control_plane->PutHost(admin, n.name, body.dump());
        if (r.status != 200 && r.status != 201) failed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed > 0) {
    std::fprintf(stderr, "devshare demo: %d host registrations failed\n", failed.load());
  }
  std::printf("\nControl plane: %s (store %s, %zu hosts registered)\n", (*bundle)->url.c_str(),
              config.db.c_str(), w->nodes.size() - static_cast<size_t>(failed.load()));
  std::printf("Admin token: %s  (e.g. curl -H \"Authorization: Bearer $(cat %s)\" %s/v1/hosts)\n",
              config.admin_token_file.c_str(), config.admin_token_file.c_str(),
              (*bundle)->url.c_str());
  std::printf("Serving until Ctrl-C.\n");
  std::fflush(stdout);
  return ServeUntilSignal(**bundle);
}

}  // namespace devshare::cli
