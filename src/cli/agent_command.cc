// `devshare agent`: the host agent of a fleet (docs/host-agent.md, "devshare agent"). Discovers
// this machine, connects to libvirt and to the control plane with a host-scoped agent token,
// then runs agent::AgentLoop until SIGINT/SIGTERM (the guests keep running after it stops).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/agent/agent_loop.h"
#include "devshare/agent/host_agent_driver.h"
#include "devshare/agent/http_control_link.h"
#include "devshare/core/clock.h"
#include "devshare/host/discovery.h"
#include "devshare/host/domain_xml.h"
#include "devshare/host/host_agent.h"
#include "devshare/host/hypervisor.h"
#include "devshare/host/inventory_json.h"
#include "server/host_spec.h"

namespace devshare::cli {
namespace {

constexpr const char* kAgentHelp =
    "usage: devshare agent --server URL --token-file FILE --name NAME --hypervisor URI\n"
    "                      --runtime-dir DIR [--guest-cpuset LIST]\n"
    "                      [--reserve-cpu-milli N] [--reserve-memory-mib N]\n"
    "                      [--domain-prefix P] [--sysfs-root DIR]\n"
    "  Runs the host agent of this machine for the control plane at URL: registers the\n"
    "  discovered inventory as host NAME, reconciles libvirt with the VMs the server places\n"
    "  here (adopts their running domains, removes the agent's other domains, creates the\n"
    "  missing ones), then heartbeats the guests' states, long-polls the desired state and\n"
    "  pushes the guests' console output, until SIGINT or SIGTERM. Guests keep running when the\n"
    "  agent stops or the server is unreachable (the agent retries with backoff).\n"
    "  --server URL           http://HOST:PORT of `devshare serve`\n"
    "  --token-file FILE      the agent token of NAME (`devshare host token NAME --out FILE`)\n"
    "  --name NAME            the host name this agent registers and serves\n"
    "  --hypervisor URI       libvirt URI: qemu:///system (KVM) or test:///default\n"
    "  --runtime-dir DIR      guest disks, seeds and console logs (made absolute, created)\n"
    "  --guest-cpuset LIST    host CPUs guests may use (e.g. 1-3); default every online CPU\n"
    "  --reserve-cpu-milli N  held back for the host: the inventory's cpu_reserved_milli\n"
    "  --reserve-memory-mib N held back for the host: the inventory's memory_reserved_mib\n"
    "  --domain-prefix P      libvirt domain name prefix (default devshare-), distinct per\n"
    "                         agent when several share one libvirt\n"
    "  --sysfs-root DIR       default /sys; a fixture tree's sys/ takes its sibling proc/, dev/\n";

volatile sig_atomic_t g_agent_stop = 0;
void OnAgentSignal(int) { g_agent_stop = 1; }

std::mutex g_log_mu;
void LogLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::fprintf(stderr, "devshare agent: %s\n", line.c_str());
  std::fflush(stderr);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "devshare agent: %s (see 'devshare agent --help')\n", message.c_str());
  return kExitBadInput;
}

Result<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::InvalidArgument("--token-file " + path + ": cannot read it (" +
                                   std::strerror(errno) + ")");
  }
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return Status::InvalidArgument("--token-file " + path + ": empty");
  return token;
}

struct Roots {
  std::string sys = "/sys", proc = "/proc", dev = "/dev";
};

Roots RootsFrom(const Flags& flags) {
  Roots r;
  if (flags.Has("sysfs-root")) {
    r.sys = flags.Get("sysfs-root");
    const std::filesystem::path parent =
        std::filesystem::path(r.sys).lexically_normal().parent_path();
    std::error_code ec;
    if (std::filesystem::is_directory(parent / "proc", ec)) r.proc = (parent / "proc").string();
    if (std::filesystem::exists(parent / "dev", ec)) r.dev = (parent / "dev").string();
  }
  return r;
}

// Adds `reserve` to the inventory's `field` (a reservation of `capacity_field`).
Status Reserve(nlohmann::json& body, const char* field, const char* capacity_field, int64_t reserve,
               const char* flag) {
  if (reserve == 0) return Status::Ok();
  const int64_t capacity = body.value(capacity_field, int64_t{0});
  const int64_t total = body.value(field, int64_t{0}) + reserve;
  if (total >= capacity) {
    return Status::InvalidArgument(std::string("--") + flag + " " + std::to_string(reserve) +
                                   ": leaves nothing of the " + std::to_string(capacity) + " " +
                                   capacity_field + " discovered");
  }
  body[field] = total;
  return Status::Ok();
}

struct Setup {
  host::HostInventory inventory;
  std::unique_ptr<host::HostAgent> host_agent;
  std::vector<std::string> notes;
};

Result<Setup> SetUpHost(const Flags& flags, const std::string& name, const std::string& uri,
                        const std::string& runtime_dir) {
  Setup s;
  const Roots roots = RootsFrom(flags);
  DS_ASSIGN_OR_RETURN(host::DiscoveredHost found,
                      host::DiscoverHost(roots.sys, roots.proc, roots.dev));
  for (const std::string& w : found.warnings) LogLine("warning: " + w);
  host::InventoryOptions o;
  if (flags.Has("guest-cpuset")) {
    Result<std::vector<int>> cpus = host::ParseCpuList(flags.Get("guest-cpuset"));
    if (!cpus.ok()) return Status::InvalidArgument("--guest-cpuset: " + cpus.status().message());
    o.guest_cpus = *cpus;
  }
  DS_ASSIGN_OR_RETURN(s.inventory, host::BuildInventory(found, o));
  DS_ASSIGN_OR_RETURN(int64_t cpu_reserve,
                      flags.GetInt("reserve-cpu-milli", 0, 0, int64_t{1} << 40));
  DS_ASSIGN_OR_RETURN(int64_t mem_reserve,
                      flags.GetInt("reserve-memory-mib", 0, 0, int64_t{1} << 40));
  nlohmann::json& body = s.inventory.body;
  DS_RETURN_IF_ERROR(
      Reserve(body, "cpu_reserved_milli", "cpu_milli", cpu_reserve, "reserve-cpu-milli"));
  DS_RETURN_IF_ERROR(
      Reserve(body, "memory_reserved_mib", "memory_mib", mem_reserve, "reserve-memory-mib"));
  DS_ASSIGN_OR_RETURN(server::HostSpec spec, server::ParseHostSpec(name, body));
  host::ApplyDeviceAttributes(s.inventory, spec.host);
  DS_ASSIGN_OR_RETURN(std::unique_ptr<host::Hypervisor> hv, host::OpenHypervisor(uri, roots.dev));
  s.notes = hv->notes();
  for (const std::string& n : s.inventory.notes) s.notes.push_back(n);
  host::RealizationContext ctx;
  ctx.host = spec.host;
  ctx.guest_cpus = o.guest_cpus;
  ctx.cpu_numa = host::CpuNumaIndex(found);
  ctx.cgroup = host::DetectCgroupVersion(roots.sys);
  ctx.runtime_dir = runtime_dir;
  // TODO(fleet-guest): ctx.domain_prefix = --domain-prefix once RealizationContext has it.
  LogLine("host " + name + ": cpu_milli " + std::to_string(body.value("cpu_milli", 0LL)) +
          " (reserved " + std::to_string(body.value("cpu_reserved_milli", 0LL)) + "), memory_mib " +
          std::to_string(body.value("memory_mib", 0LL)) + " (reserved " +
          std::to_string(body.value("memory_reserved_mib", 0LL)) + "); libvirt " + uri +
          " (domain type " + hv->domain_type() + ")");
  s.host_agent = std::make_unique<host::HostAgent>(std::move(hv), std::move(ctx));
  return s;
}

// Runs `loop` until a signal: Start (which may wait for the server) and the threads on a
// helper thread, so that this thread notices the signal and stops them.
int RunUntilSignal(agent::AgentLoop& loop) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnAgentSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Status started;
  std::atomic<bool> start_done{false};
  std::thread starter([&] {
    started = loop.Start();
    if (started.ok()) loop.RunThreads();
    start_done = true;
  });
  while (!g_agent_stop && !(start_done && !started.ok())) ::usleep(100 * 1000);
  if (g_agent_stop) LogLine("stopping (guests keep running)");
  loop.Stop();
  starter.join();
  if (!started.ok() && started.code() != StatusCode::kAborted) {
    const StatusCode c = started.code();
    if (c == StatusCode::kUnauthenticated || c == StatusCode::kPermissionDenied) {
      LogLine(started.message() + " (is --token-file the agent token of this host?)");
      return kExitUnauthorized;
    }
    return Fail("agent", started);
  }
  LogLine("stopped");
  return kExitOk;
}

}  // namespace

int RunAgentCommand(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kAgentHelp, stdout);
      return kExitOk;
    }
  }
  Result<Flags> flags =
      Flags::Parse(args,
                   {"server", "token-file", "name", "hypervisor", "runtime-dir", "guest-cpuset",
                    "reserve-cpu-milli", "reserve-memory-mib", "domain-prefix", "sysfs-root"},
                   {});
  if (!flags.ok()) return Usage(flags.status().message());
  for (const char* f : {"server", "token-file", "name", "hypervisor", "runtime-dir"}) {
    if (!flags->Has(f) || flags->Get(f).empty())
      return Usage(std::string("--") + f + " is required");
  }
  const std::string name = flags->Get("name");
  Result<std::string> token = ReadToken(flags->Get("token-file"));
  if (!token.ok()) return Fail("agent", token.status());
  Result<std::unique_ptr<agent::HttpControlLink>> link =
      agent::HttpControlLink::Create(flags->Get("server"), *token, name);
  if (!link.ok()) return Fail("agent", link.status());

  std::error_code ec;
  const std::filesystem::path runtime =
      std::filesystem::absolute(flags->Get("runtime-dir"), ec).lexically_normal();
  std::filesystem::create_directories(runtime, ec);
  if (ec || !std::filesystem::is_directory(runtime)) {
    return Fail("agent",
                Status::Unavailable("--runtime-dir " + runtime.string() + ": cannot create it" +
                                    (ec ? " (" + ec.message() + ")" : "")));
  }
  LogLine("runtime dir " + runtime.string());
  const std::string prefix = flags->Get("domain-prefix", std::string(host::kDomainPrefix));
  if (prefix != host::kDomainPrefix) {
    // TODO(fleet-guest): pass it to RealizationContext::domain_prefix and report it.
    LogLine("warning: --domain-prefix " + prefix + " is not supported by this build's host " +
            "agent yet; domains are named " + std::string(host::kDomainPrefix) + "<vm id>");
  }

  const std::string uri = flags->Get("hypervisor");
  Result<Setup> setup = SetUpHost(*flags, name, uri, runtime.string());
  if (!setup.ok()) return Fail("agent", setup.status());
  agent::HostAgentDriver driver(*setup->host_agent);

  agent::AgentOptions options;
  options.info.hypervisor = uri;
  options.info.domain_prefix = std::string(host::kDomainPrefix);
  options.info.notes = setup->notes;
  options.inventory = setup->inventory.body;
  options.seed = std::hash<std::string>()(name) ^ static_cast<uint64_t>(::getpid());
  options.log = LogLine;
  LogLine("server " + (*link)->url() + ", host " + name);
  SystemClock clock;
  agent::SystemWaiter waiter;
  agent::AgentLoop loop(**link, driver, clock, waiter, std::move(options));
  return RunUntilSignal(loop);
}

}  // namespace devshare::cli
