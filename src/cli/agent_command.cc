// `devshare agent`: the host agent of a fleet (docs/host-agent.md, "devshare agent"). Discovers
// this machine, connects to libvirt and to the control plane with a host-scoped agent token,
// then runs agent::AgentLoop until SIGINT/SIGTERM (the guests keep running after it stops).
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
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

#include "cli/agent_run.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/agent/agent_loop.h"
#include "devshare/agent/host_agent_driver.h"
#include "devshare/agent/http_control_link.h"
#include "devshare/agent/tiering_loop.h"
#include "devshare/core/clock.h"
#include "devshare/host/discovery.h"
#include "devshare/host/domain_xml.h"
#include "devshare/host/host_agent.h"
#include "devshare/host/host_link.h"
#include "devshare/host/hypervisor.h"
#include "devshare/host/inventory_json.h"
#include "devshare/host/storage_pool.h"
#include "devshare/host/volume_server.h"
#include "server/host_spec.h"

namespace devshare::cli {
namespace {

constexpr const char* kAgentHelp =
    "usage: devshare agent --server URL --token-file FILE --name NAME --hypervisor URI\n"
    "                      --runtime-dir DIR [--guest-cpuset LIST]\n"
    "                      [--reserve-cpu-milli N] [--reserve-memory-mib N]\n"
    "                      [--domain-prefix P] [--sysfs-root DIR] [--guest-image none|spin]\n"
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
    "  --sysfs-root DIR       default /sys; a fixture tree's sys/ takes its sibling proc/, dev/\n"
    "  --guest-image none|spin  the disk of VMs that name no catalogue image (default none)\n"
    "  --pool NAME:TIER:DIR[,iops=N][,mbps=M][,capacity_gib=G][,scheduler=mclock|fifo|none]\n"
    "                         a storage pool (a directory) offered as disk NAME of TIER; several\n"
    "                         pools are separated by ';'. Undeclared iops/mbps are calibrated,\n"
    "                         capacity_gib defaults to the free space. Volumes on mclock/fifo\n"
    "                         pools reach guests over NBD through devshare's nbdkit plugin\n"
    "                         (docs/storage.md); scheduler none gives plain files\n"
    "  --nic NAME:NETWORK:MBPS[,netdev=IF]\n"
    "                         a host NIC without SR-IOV carrying tenant networks "
    "(docs/networks.md):\n"
    "                         offered as NIC NAME on NETWORK with line rate MBPS (its guests'\n"
    "                         bandwidth guarantees sum to at most that; HTB shapes to it);\n"
    "                         several are separated by ';'\n"
    "  --calibrate-ms N       length of each calibration phase (default 500)\n"
    "  --nbdkit-plugin PATH   devshare's plugin (default: next to this binary)\n"
    "  --migration-mbps N     bandwidth of live volume moves, all together (default 64)\n"
    "  --tiering-period-s S   the tiering controller samples volume heat every S seconds and\n"
    "                         moves hot volumes to faster pools, cold ones to slower pools\n"
    "                         (docs/storage.md#tiering; default 10, 0 = off)\n";

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

Roots RootsFrom(const std::string& sysfs_root) {
  Roots r;
  if (!sysfs_root.empty()) {
    r.sys = sysfs_root;
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
  std::unique_ptr<host::VolumeServer> volume_server;  // outlives host_agent (declared first)
  std::unique_ptr<host::HostAgent> host_agent;
  std::vector<host::StoragePool> pools;
  std::vector<std::string> notes;
};

// Parses and prepares the --pool flags (calibrating undeclared speeds) into `o.pools`.
Status SetUpPools(const AgentConfig& config, host::InventoryOptions& o) {
  for (const std::string& flag : config.pools) {
    DS_ASSIGN_OR_RETURN(host::StoragePool p, host::ParsePoolFlag(flag));
    for (const host::StoragePool& q : o.pools) {
      if (q.name == p.name) return Status::InvalidArgument("--pool " + p.name + ": named twice");
    }
    if (p.iops == 0 || p.mbps == 0) config.log("pool " + p.name + ": calibrating " + p.dir);
    DS_RETURN_IF_ERROR(host::PreparePool(p, std::chrono::milliseconds(config.calibrate_ms)));
    o.pools.push_back(std::move(p));
  }
  return Status::Ok();
}

Result<Setup> SetUpHost(const AgentConfig& config) {
  Setup s;
  const Roots roots = RootsFrom(config.sysfs_root);
  const std::string& name = config.name;
  const std::string& uri = config.hypervisor;
  DS_ASSIGN_OR_RETURN(host::DiscoveredHost found,
                      host::DiscoverHost(roots.sys, roots.proc, roots.dev));
  for (const std::string& w : found.warnings) config.log("warning: " + w);
  host::InventoryOptions o;
  if (!config.guest_cpuset.empty()) {
    Result<std::vector<int>> cpus = host::ParseCpuList(config.guest_cpuset);
    if (!cpus.ok()) return Status::InvalidArgument("--guest-cpuset: " + cpus.status().message());
    o.guest_cpus = *cpus;
  }
  DS_RETURN_IF_ERROR(SetUpPools(config, o));
  if (!config.nics.empty()) {
    DS_ASSIGN_OR_RETURN(o.links, host::ParseHostLinkFlags(config.nics));
  }
  DS_ASSIGN_OR_RETURN(s.inventory, host::BuildInventory(found, o));
  const int64_t cpu_reserve = config.reserve_cpu_milli;
  const int64_t mem_reserve = config.reserve_memory_mib;
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
  ctx.runtime_dir = config.runtime_dir;
  ctx.domain_prefix = config.domain_prefix;
  DS_ASSIGN_OR_RETURN(ctx.image, host::ParseGuestImage(config.guest_image));
  config.log("host " + name + ": cpu_milli " + std::to_string(body.value("cpu_milli", 0LL)) +
             " (reserved " + std::to_string(body.value("cpu_reserved_milli", 0LL)) +
             "), memory_mib " + std::to_string(body.value("memory_mib", 0LL)) + " (reserved " +
             std::to_string(body.value("memory_reserved_mib", 0LL)) + "); libvirt " + uri +
             " (domain type " + hv->domain_type() + ")");
  s.host_agent = std::make_unique<host::HostAgent>(std::move(hv), std::move(ctx));
  const bool served = std::any_of(o.pools.begin(), o.pools.end(),
                                  [](const host::StoragePool& p) { return p.scheduler != "none"; });
  if (served) {
    host::VolumeServerOptions vo;
    vo.state_dir = (std::filesystem::path(config.runtime_dir) / "storage").string();
    if (!config.nbdkit_plugin.empty()) {
      vo.plugin_path = config.nbdkit_plugin;
    } else {
      DS_ASSIGN_OR_RETURN(vo.plugin_path, host::FindNbdkitPlugin());
    }
    vo.pools = o.pools;
    s.pools = o.pools;
    vo.migration_mbps = config.migration_mbps;
    vo.log = [log = config.log](const std::string& line) { log("volumes: " + line); };
    DS_ASSIGN_OR_RETURN(s.volume_server, host::VolumeServer::Start(std::move(vo)));
    s.host_agent->SetVolumeServer(s.volume_server.get());
  }
  return s;
}

}  // namespace

Result<std::vector<std::string>> SplitPoolFlags(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    const size_t end = value.find(';', start);
    std::string item = value.substr(start, end == std::string::npos ? end : end - start);
    if (item.empty()) return Status::InvalidArgument("--pool: empty pool in '" + value + "'");
    out.push_back(std::move(item));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

struct AgentRun::Parts {
  AgentConfig config;
  Setup setup;
  std::unique_ptr<agent::HttpControlLink> link;
  std::unique_ptr<agent::HostAgentDriver> driver;
  SystemClock clock;
  agent::SystemWaiter waiter;
  std::unique_ptr<agent::AgentLoop> loop;
  std::unique_ptr<agent::TieringLoop> tiering;  // with a volume server and a period only
  std::thread runner;
  mutable std::mutex mu;
  Status started;           // GUARDED_BY(mu)
  bool start_done = false;  // GUARDED_BY(mu)
  bool stopped = false;
};

AgentRun::AgentRun(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

AgentRun::~AgentRun() { Stop(); }

const std::string& AgentRun::runtime_dir() const { return parts_->config.runtime_dir; }

Result<std::unique_ptr<AgentRun>> AgentRun::Start(AgentConfig config) {
  auto parts = std::make_unique<Parts>();
  if (!config.log) config.log = LogLine;
  std::error_code ec;
  const std::filesystem::path runtime =
      std::filesystem::absolute(config.runtime_dir, ec).lexically_normal();
  std::filesystem::create_directories(runtime, ec);
  if (ec || !std::filesystem::is_directory(runtime)) {
    return Status::Unavailable("--runtime-dir " + runtime.string() + ": cannot create it" +
                               (ec ? " (" + ec.message() + ")" : ""));
  }
  config.runtime_dir = runtime.string();
  config.log("runtime dir " + config.runtime_dir + ", domain prefix " + config.domain_prefix);
  DS_ASSIGN_OR_RETURN(parts->link,
                      agent::HttpControlLink::Create(config.server_url, config.token, config.name));
  DS_ASSIGN_OR_RETURN(parts->setup, SetUpHost(config));
  parts->driver = std::make_unique<agent::HostAgentDriver>(*parts->setup.host_agent);
  agent::AgentOptions options;
  options.info.hypervisor = config.hypervisor;
  options.info.domain_prefix = config.domain_prefix;
  options.info.notes = parts->setup.notes;
  options.inventory = parts->setup.inventory.body;
  options.seed = std::hash<std::string>()(config.name) ^ static_cast<uint64_t>(::getpid());
  options.log = config.log;
  options.keepalive_during_start = true;
  config.log("server " + parts->link->url() + ", host " + config.name);
  parts->loop = std::make_unique<agent::AgentLoop>(*parts->link, *parts->driver, parts->clock,
                                                   parts->waiter, std::move(options));
  parts->config = std::move(config);
  if (parts->setup.volume_server != nullptr && parts->config.tiering_period_ms > 0) {
    agent::TieringLoopOptions t;
    t.period = std::chrono::milliseconds(parts->config.tiering_period_ms);
    t.log = parts->config.log;
    auto migrate = [url = parts->config.server_url, token = parts->config.token](
                       const std::string& vm, const std::string& volume,
                       const std::string& tier) -> Status {
      httplib::Client cli(url);
      cli.set_read_timeout(60, 0);
      httplib::Result r = cli.Post("/v1/vms/" + agent::PathSegment(vm) + "/volumes/" +
                                       agent::PathSegment(volume) + "/migrate",
                                   httplib::Headers{{"Authorization", "Bearer " + token}},
                                   nlohmann::json{{"tier", tier}}.dump(), "application/json");
      if (!r) return Status::Unavailable("migrate: no answer from " + url);
      if (r->status / 100 != 2) {
        return Status::FailedPrecondition("migrate: HTTP " + std::to_string(r->status) + " " +
                                          r->body);
      }
      return Status::Ok();
    };
    parts->tiering = std::make_unique<agent::TieringLoop>(
        *parts->setup.host_agent, *parts->setup.volume_server, parts->setup.pools,
        std::move(migrate), parts->clock, std::move(t));
    parts->tiering->Start();
  }
  Parts* raw = parts.get();
  raw->runner = std::thread([raw] {
    Status s = raw->loop->Start();
    {
      std::lock_guard<std::mutex> lock(raw->mu);
      raw->started = s;
      raw->start_done = true;
    }
    if (s.ok()) raw->loop->RunThreads();
  });
  return std::unique_ptr<AgentRun>(new AgentRun(std::move(parts)));
}

void AgentRun::Stop() {
  if (parts_ == nullptr || parts_->stopped) return;
  parts_->stopped = true;
  if (parts_->tiering != nullptr) parts_->tiering->Stop();
  parts_->loop->Stop();
  if (parts_->runner.joinable()) parts_->runner.join();
  if (parts_->config.stop_volume_server && parts_->setup.volume_server != nullptr) {
    (void)parts_->setup.volume_server->Stop();
  }
}

bool AgentRun::Failed(Status* why) const {
  std::lock_guard<std::mutex> lock(parts_->mu);
  if (!parts_->start_done || parts_->started.ok()) return false;
  if (why != nullptr) *why = parts_->started;
  return true;
}

int RunAgentCommand(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kAgentHelp, stdout);
      return kExitOk;
    }
  }
  Result<Flags> flags = Flags::Parse(
      args,
      {"server", "token-file", "name", "hypervisor", "runtime-dir", "guest-cpuset",
       "reserve-cpu-milli", "reserve-memory-mib", "domain-prefix", "sysfs-root", "guest-image",
       "pool", "nic", "calibrate-ms", "nbdkit-plugin", "migration-mbps", "tiering-period-s"},
      {});
  if (!flags.ok()) return Usage(flags.status().message());
  for (const char* f : {"server", "token-file", "name", "hypervisor", "runtime-dir"}) {
    if (!flags->Has(f) || flags->Get(f).empty())
      return Usage(std::string("--") + f + " is required");
  }
  AgentConfig config;
  config.name = flags->Get("name");
  Result<std::string> token = ReadToken(flags->Get("token-file"));
  if (!token.ok()) return Fail("agent", token.status());
  config.token = *token;
  config.server_url = flags->Get("server");
  config.hypervisor = flags->Get("hypervisor");
  config.runtime_dir = flags->Get("runtime-dir");
  config.guest_cpuset = flags->Get("guest-cpuset", "");
  config.domain_prefix = flags->Get("domain-prefix", config.domain_prefix);
  config.sysfs_root = flags->Get("sysfs-root", "");
  config.guest_image = flags->Get("guest-image", config.guest_image);
  Result<int64_t> cpu = flags->GetInt("reserve-cpu-milli", 0, 0, int64_t{1} << 40);
  if (!cpu.ok()) return Usage(cpu.status().message());
  Result<int64_t> mem = flags->GetInt("reserve-memory-mib", 0, 0, int64_t{1} << 40);
  if (!mem.ok()) return Usage(mem.status().message());
  if (flags->Has("pool")) {
    Result<std::vector<std::string>> pools = SplitPoolFlags(flags->Get("pool"));
    if (!pools.ok()) return Usage(pools.status().message());
    config.pools = *pools;
  }
  config.nics = flags->Get("nic", "");
  if (!config.nics.empty()) {
    Result<std::vector<host::HostLink>> links = host::ParseHostLinkFlags(config.nics);
    if (!links.ok()) return Usage(links.status().message());
  }
  Result<int64_t> cal = flags->GetInt("calibrate-ms", config.calibrate_ms, 50, 60'000);
  if (!cal.ok()) return Usage(cal.status().message());
  config.calibrate_ms = *cal;
  Result<int64_t> mig = flags->GetInt("migration-mbps", config.migration_mbps, 1, 100'000);
  if (!mig.ok()) return Usage(mig.status().message());
  config.migration_mbps = *mig;
  config.nbdkit_plugin = flags->Get("nbdkit-plugin", "");
  Result<double> tier_s = flags->GetDouble("tiering-period-s", 10, 0, 86'400);
  if (!tier_s.ok()) return Usage(tier_s.status().message());
  config.tiering_period_ms = static_cast<int64_t>(*tier_s * 1000);
  config.reserve_cpu_milli = *cpu;
  config.reserve_memory_mib = *mem;
  if (config.domain_prefix.empty()) return Usage("--domain-prefix must not be empty");

  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnAgentSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Result<std::unique_ptr<AgentRun>> run = AgentRun::Start(std::move(config));
  if (!run.ok()) return Fail("agent", run.status());
  Status failed;
  while (!g_agent_stop && !(*run)->Failed(&failed)) ::usleep(100 * 1000);
  if (g_agent_stop) LogLine("stopping (guests keep running)");
  (*run)->Stop();
  if (!failed.ok() && failed.code() != StatusCode::kAborted) {
    const StatusCode c = failed.code();
    if (c == StatusCode::kUnauthenticated || c == StatusCode::kPermissionDenied) {
      LogLine(failed.message() + " (is --token-file the agent token of this host?)");
      return kExitUnauthorized;
    }
    return Fail("agent", failed);
  }
  LogLine("stopped");
  return kExitOk;
}

}  // namespace devshare::cli
