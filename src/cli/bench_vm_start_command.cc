// `devshare bench vm-start`: time from POST /v1/vms to the guest running and to its first serial
// console line, through the whole fleet path (HTTP, group commit, placement, the host agent's
// long poll, libvirt define + start, the agent's heartbeat and console push), against a server
// on loopback and --hosts host agents on this machine (each with its own domain prefix, runtime
// folder and guest CPU).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/agent_run.h"
#include "cli/bench_client.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/sim/stats.h"
#include "server/control_plane.h"

namespace devshare::cli {
namespace {

constexpr const char* kUsage =
    "usage: devshare bench vm-start [--hosts 3] [--count 12] [--hypervisor qemu:///system]\n"
    "                               [--guest-dir build/guest | --no-image]\n"
    "  Starts the control plane on 127.0.0.1 (a temp SQLite file) and --hosts host agents in this\n"
    "  process (hosts bench-<pid>-aN, domain prefixes devshare-b<pid>aN-, one host CPU each\n"
    "  round-robin), registers the real guest of tools/build_guest.sh from --guest-dir as image\n"
    "  'linux' (--no-image: diskless guests idling in firmware), then creates --count VMs (100\n"
    "  milli, 256 MiB, policy least_utilized) one after another and times, per VM, POST ->\n"
    "  state running (as the agent reports it) and POST -> first line and boot marker on its\n"
    "  serial console (through GET /v1/vms/{id}/console). Then it deletes them all and waits\n"
    "  until the ledger is empty. Needs libvirtd for qemu:///system (tools/libvirt_up.sh).\n";

using Clock = BenchClock;

void PrintRow(const char* what, const std::vector<double>& ms) {
  if (ms.empty()) {
    std::printf("%-32s   n=0\n", what);
    return;
  }
  std::printf("%-32s   n=%-3zu p50 %6.0f ms   p99 %6.0f ms   min %6.0f ms   max %6.0f ms\n", what,
              ms.size(), sim::Quantile(ms, 0.5), sim::Quantile(ms, 0.99), sim::Quantile(ms, 0.0),
              sim::Quantile(ms, 1.0));
}

}  // namespace

int RunBenchVmStartCommand(const std::vector<std::string>& args) {
  const std::string cmd = "bench vm-start";
  auto flags =
      Flags::Parse(args, {"hosts", "count", "hypervisor", "guest-dir"}, {"help", "no-image"});
  if (!flags.ok()) return Fail(cmd, flags.status());
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  auto hosts = flags->GetInt("hosts", 3, 1, 64);
  if (!hosts.ok()) return Fail(cmd, hosts.status());
  auto count = flags->GetInt("count", 12, 1, 1000);
  if (!count.ok()) return Fail(cmd, count.status());
  const bool image = !flags->Has("no-image");
  const std::string guest_dir =
      std::filesystem::absolute(flags->Get("guest-dir", "build/guest")).lexically_normal();
  if (image && (!std::filesystem::exists(guest_dir + "/vmlinuz") ||
                !std::filesystem::exists(guest_dir + "/initramfs.img"))) {
    return Fail(cmd, Status::InvalidArgument("--guest-dir " + guest_dir +
                                             ": no vmlinuz + initramfs.img (run `make guest`, "
                                             "or pass --no-image)"));
  }
  std::error_code ec;
  const std::string tag = std::to_string(getpid());
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("devshare-bench-vm-start-" + tag);
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir,
                               std::filesystem::perms::all & ~std::filesystem::perms::others_write &
                                   ~std::filesystem::perms::group_write,
                               ec);
  ServeConfig config;
  config.listen = "127.0.0.1:0";
  config.db = "sqlite:" + (dir / "bench.db").string();
  config.admin_token_file = (dir / "admin.token").string();
  Result<std::unique_ptr<ServerBundle>> bundle = StartServer(config);
  if (!bundle.ok()) return Fail(cmd, bundle.status());
  std::string admin;
  std::ifstream(config.admin_token_file) >> admin;
  BenchClient b((*bundle)->url, admin);

  // The agents, in this process, each like `devshare agent` on its own host name and CPU.
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<AgentRun>> agents;
  std::vector<std::string> names;
  std::string failure;
  for (int64_t i = 0; i < *hosts && failure.empty(); ++i) {
    const std::string name = "bench-" + tag + "-a" + std::to_string(i);
    Result<nlohmann::json> t = b.Call("POST", "/v1/hosts/" + name + "/tokens");
    if (!t.ok()) return Fail(cmd, t.status());
    AgentConfig a;
    a.server_url = (*bundle)->url;
    a.token = t->value("token", "");
    a.name = name;
    a.hypervisor = flags->Get("hypervisor", "qemu:///system");
    a.runtime_dir = (dir / ("run-" + name)).string();
    a.guest_cpuset = std::to_string(i % cpus);
    a.domain_prefix = "devshare-b" + tag + "a" + std::to_string(i) + "-";
    a.log = [](const std::string&) {};  // quiet: the figures are the output
    Result<std::unique_ptr<AgentRun>> run = AgentRun::Start(std::move(a));
    if (!run.ok()) return Fail(cmd, run.status());
    agents.push_back(std::move(*run));
    names.push_back(name);
  }
  for (const std::string& name : names) {
    const Clock::time_point t0 = Clock::now();
    for (;;) {
      Result<nlohmann::json> h = b.Call("GET", "/v1/hosts/" + name);
      if (h.ok() && h->value("status", "") == "ready") break;
      if (MsSince(t0) > 60'000) return Fail(cmd, Status::Unavailable(name + " never became ready"));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (image) {
    Result<nlohmann::json> im = b.Call("POST", "/v1/images",
                                       nlohmann::json{{"name", "linux"},
                                                      {"kind", "kernel"},
                                                      {"kernel", guest_dir + "/vmlinuz"},
                                                      {"initrd", guest_dir + "/initramfs.img"},
                                                      {"cmdline", "quiet"}}
                                           .dump());
    if (!im.ok()) return Fail(cmd, im.status());
  }

  std::vector<double> running_ms, first_line_ms, booted_ms;
  std::vector<std::string> ids;
  for (int64_t i = 0; i < *count && failure.empty(); ++i) {
    nlohmann::json body = {{"name", "start" + std::to_string(i)},
                           {"cpu_milli", 100},
                           {"memory_mib", 256},
                           {"policy", "least_utilized"}};
    if (image) body["image"] = "linux";
    const Clock::time_point t0 = Clock::now();
    Result<nlohmann::json> vm = b.Call("POST", "/v1/vms", body.dump());
    if (!vm.ok()) {
      failure = vm.status().message();
      break;
    }
    const std::string id = vm->value("id", "");
    ids.push_back(id);
    bool running = false, line = false, booted = !image;
    std::string console;
    while (!(running && line && booted) && MsSince(t0) < 60'000) {
      if (!running) {
        Result<nlohmann::json> got = b.Call("GET", "/v1/vms/" + id);
        const std::string state = got.ok() ? got->value("state", "") : "";
        if (state == "running") {
          running = true;
          running_ms.push_back(MsSince(t0));
        } else if (state == "failed") {
          failure = "vm " + id + " failed: " + got->value("state_detail", "");
          break;
        }
      }
      if (running && !line && !image) line = true;  // diskless guests print nothing
      if (!line || !booted) {
        Result<nlohmann::json> c =
            b.Call("GET", "/v1/vms/" + id + "/console?offset=" + std::to_string(console.size()) +
                              "&wait_ms=" + (running ? "200" : "0"));
        if (c.ok()) console += c->value("data", "");
        if (!line && console.find('\n') != std::string::npos) {
          line = true;
          first_line_ms.push_back(MsSince(t0));
        }
        if (!booted && console.find("devshare-guest: booted") != std::string::npos) {
          booted = true;
          booted_ms.push_back(MsSince(t0));
        }
      }
      if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (failure.empty() && !(running && line && booted)) {
      failure = "vm " + id + " not running and booted after 60 s";
    }
  }
  for (const std::string& id : ids) (void)b.Call("DELETE", "/v1/vms/" + id);
  const Clock::time_point del = Clock::now();
  size_t left = ids.size();
  while (left > 0 && MsSince(del) < 120'000) {
    Result<nlohmann::json> list = b.Call("GET", "/v1/vms");
    left = list.ok() ? list->value("vms", nlohmann::json::array()).size() : left;
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("bench vm-start: %zu VMs over %lld host agents on %s (%s)\n", ids.size(),
              static_cast<long long>(*hosts), flags->Get("hypervisor", "qemu:///system").c_str(),
              image ? "the real Linux guest, direct kernel boot" : "diskless guests");
  PrintRow("POST -> state running", running_ms);
  if (image) {
    PrintRow("POST -> first serial line", first_line_ms);
    PrintRow("POST -> boot marker on console", booted_ms);
  }
  std::printf("deleted %zu in %.1f s; VMs left in the ledger: %zu\n", ids.size(),
              MsSince(del) / 1000, left);
  for (auto& a : agents) a->Stop();
  agents.clear();
  bundle->reset();
  std::filesystem::remove_all(dir, ec);
  if (!failure.empty()) return Fail(cmd, Status::Unavailable(failure));
  return left == 0 ? kExitOk : kExitFailure;
}

}  // namespace devshare::cli
