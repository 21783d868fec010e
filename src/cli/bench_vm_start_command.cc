// `devshare bench vm-start`: time from POST /v1/vms to the guest running, through the whole
// path (HTTP, group commit, placement, libvirt define + start on the local host, state recorded),
// against a server on loopback that realizes VMs on this machine.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/stats.h"
#include "server/control_plane.h"

namespace devshare::cli {
namespace {

constexpr const char* kUsage =
    "usage: devshare bench vm-start [--count 20] [--hypervisor qemu:///system]\n"
    "                               [--guest-cpuset LIST] [--guest-image none|spin]\n"
    "  starts the control plane on 127.0.0.1 with --local-host (this machine, a temp SQLite\n"
    "  file), creates --count VMs (1 vCPU of 100 milli, 64 MiB) one after another, timing each\n"
    "  POST /v1/vms until its 201 (answered once libvirt runs the guest), then deletes them all\n"
    "  and checks that no devshare domain is left. Needs libvirtd for qemu:///system\n"
    "  (tools/libvirt_up.sh).\n";

}  // namespace

int RunBenchVmStartCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"count", "hypervisor", "guest-cpuset", "guest-image"}, {"help"});
  if (!flags.ok()) return Fail("bench vm-start", flags.status());
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  auto count = flags->GetInt("count", 20, 1, 1000);
  if (!count.ok()) return Fail("bench vm-start", count.status());
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("devshare-bench-vm-start-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir, ec);
  ServeConfig config;
  config.listen = "127.0.0.1:0";
  config.db = "sqlite:" + (dir / "bench.db").string();
  config.admin_token_file = (dir / "admin.token").string();
  config.local_host = "bench-local";
  config.hypervisor = flags->Get("hypervisor", "qemu:///system");
  config.guest_cpuset = flags->Get("guest-cpuset", "");
  config.guest_image = flags->Get("guest-image", "none");
  config.runtime_dir = (dir / "run").string();
  Result<std::unique_ptr<ServerBundle>> bundle = StartServer(config);
  if (!bundle.ok()) return Fail("bench vm-start", bundle.status());
  std::string admin;
  std::ifstream(config.admin_token_file) >> admin;
  httplib::Client cli((*bundle)->url);
  cli.set_keep_alive(true);
  cli.set_tcp_nodelay(true);
  cli.set_read_timeout(120, 0);
  cli.set_default_headers({{"Authorization", "Bearer " + admin}});

  std::vector<double> ms;
  std::vector<std::string> ids;
  std::string failure;
  for (int64_t i = 0; i < *count; ++i) {
    nlohmann::json body = {
        {"name", "start" + std::to_string(i)}, {"cpu_milli", 100}, {"memory_mib", 64}};
    const auto a = std::chrono::steady_clock::now();
    auto r = cli.Post("/v1/vms", body.dump(), "application/json");
    const auto b = std::chrono::steady_clock::now();
    if (!r || r->status != 201) {
      failure = r ? std::to_string(r->status) + " " + r->body : "transport error";
      break;
    }
    nlohmann::json vm = nlohmann::json::parse(r->body);
    if (vm.value("state", "") != "running") {
      failure = "vm " + vm.value("id", "") + " answered in state " + vm.value("state", "");
      ids.push_back(vm.value("id", ""));
      break;
    }
    ids.push_back(vm["id"]);
    ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  int delete_failures = 0;
  for (const std::string& id : ids) {
    auto d = cli.Delete("/v1/vms/" + id);
    if (!d || d->status != 200) delete_failures++;
  }
  const std::vector<std::string> left = (*bundle)->control_plane->VmIdsOnHost(config.local_host);
  std::printf("bench vm-start: %zu VMs on %s, POST /v1/vms -> 201 with the guest running\n",
              ms.size(), config.hypervisor.c_str());
  std::printf("p50 %.0f ms, p99 %.0f ms, min %.0f ms, max %.0f ms\n", sim::Quantile(ms, 0.5),
              sim::Quantile(ms, 0.99), sim::Quantile(ms, 0.0), sim::Quantile(ms, 1.0));
  std::printf("deleted %zu, delete failures %d, VMs left in the ledger %zu\n", ids.size(),
              delete_failures, left.size());
  bundle->reset();
  std::filesystem::remove_all(dir, ec);
  if (!failure.empty()) {
    return Fail("bench vm-start", Status::Unavailable("create failed: " + failure));
  }
  return delete_failures == 0 && left.empty() ? kExitOk : kExitFailure;
}

}  // namespace devshare::cli
