// `devshare serve`: the control plane (REST API over the durable ledger) until SIGINT/SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/agent_run.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/core/atomic_file.h"
#include "devshare/host/discovery.h"
#include "devshare/host/host_agent.h"
#include "devshare/host/inventory_json.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/trace.h"
#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "server/control_plane.h"
#include "server/host_spec.h"
#include "server/http_api.h"
#include "server/json_fields.h"

namespace devshare::cli {
namespace {

constexpr const char* kServeUsage =
    "usage: devshare serve [--listen 127.0.0.1:8080]\n"
    "                      [--db sqlite:./var/devshare.db | postgresql://... | memory:]\n"
    "                      [--admin-token-file ./var/admin.token] [--policy devshare]\n"
    "                      [--threads 64] [--unauthenticated-audit-rate 10]\n"
    "                      [--unauthenticated-audit-burst 100] [--workload-history PODS.csv]\n"
    "                      [--host-timeout 30] [--rightsize-forecaster autopilot|last|...]\n"
    "                      [--follow-ms 200] [--replica-index 0]\n"
    "                      [--local-host NAME [--hypervisor test:///default|qemu:///system]\n"
    "                       [--guest-cpuset LIST] [--guest-image none|spin]\n"
    "                       [--runtime-dir ./var/run] [--pool NAME:TIER:DIR[,...][;...]]\n"
    "                       [--nic NAME:NETWORK:MBPS[,netdev=IF][;...]]]\n"
    "Serves the REST API (docs/api.md) until SIGINT or SIGTERM. The admin token file is created\n"
    "with a fresh random token (mode 0600) when missing; its holder is an admin of the 'system'\n"
    "tenant.\n"
    "With --local-host the server discovers the machine it runs on, registers it under NAME "
    "(guest\n"
    "vCPUs limited to --guest-cpuset) and realizes the VMs placed there as libvirt domains\n"
    "(docs/host-agent.md); at start it reconciles libvirt's devshare-* domains with the ledger.\n"
    "--pool declares its storage pools as `devshare agent --pool` does (docs/storage.md), with\n"
    "--migration-mbps and --tiering-period-s as there; --nic its host links as `devshare agent\n"
    "--nic` (docs/networks.md).\n"
    "Requests without a valid token are refused (401) and audited at most\n"
    "--unauthenticated-audit-rate per second (bursts of --unauthenticated-audit-burst; 0 = all);\n"
    "the others are counted in the next record and in /metrics.\n"
    "--workload-history takes past requests in the openb pod CSV format (docs/formats.md):\n"
    "the typical-pod distribution the fgd policy needs and devshare starts from.\n"
    "--host-timeout S: a host whose agent (devshare agent) sends no heartbeat for S seconds is\n"
    "unreachable: its VMs show 'unknown' and new VMs avoid it until it returns.\n"
    "--rightsize-forecaster: the right-sizing controller's forecaster for VMs whose spec\n"
    "'rightsize' names none (default autopilot when built in, else last; docs/rightsizing.md).\n"
    "--follow-ms MS: replicas on one --db (docs/scale-out.md) see each other's writes within\n"
    "about MS (the store's change feed is read that often; 0 = never: one server per store).\n"
    "--replica-index N: give each replica on one store its own N, so that they break placement\n"
    "ties differently and do not all pick the same host among equals.\n";

Result<std::pair<std::string, int>> ParseListen(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("--listen: expected HOST:PORT, got '" + s + "'");
  }
  std::string host = s.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535 || colon + 1 == s.size()) {
    return Status::InvalidArgument("--listen: bad port in '" + s + "'");
  }
  return std::make_pair(host, static_cast<int>(port));
}

// Reads the admin token from `path`, creating it (0600, parent folders too) when missing.
Result<std::string> LoadOrCreateAdminToken(const std::string& path, bool* created) {
  *created = false;
  std::ifstream in(path);
  if (in) {
    std::string token;
    std::getline(in, token);
    if (token.size() < 16) {
      return Status::InvalidArgument("admin token file " + path + ": token shorter than 16 chars");
    }
    return token;
  }
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  DS_ASSIGN_OR_RETURN(std::string token, server::NewBearerToken());
  // O_EXCL: never overwrite a file another process created meanwhile.
  FILE* f = nullptr;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) f = ::fdopen(fd, "w");
  if (f == nullptr) {
    return Status::Unavailable("cannot create admin token file " + path + ": " +
                               std::strerror(errno));
  }
  std::fprintf(f, "%s\n", token.c_str());
  std::fflush(f);
  ::fsync(fileno(f));
  std::fclose(f);
  *created = true;
  return token;
}

// The local host's agent token: reused from <runtime dir>/agent.token while the server still
// knows it as this host's agent, else a fresh one (written there, mode 0600).
Result<std::string> LocalAgentToken(const ServeConfig& config, const std::string& runtime_dir,
                                    server::ControlPlane& cp) {
  const std::string path = runtime_dir + "/agent.token";
  std::ifstream in(path);
  std::string token;
  if (in && std::getline(in, token)) {
    const server::Principal p = cp.Authenticate(token);
    if (p.agent() && p.host == config.local_host) return token;
  }
  const server::Principal admin = server::Principal::SystemAdmin("serve-local-host");
  const server::ApiResponse r =
      server::ToResponse(cp.fleet().CreateAgentToken(admin, config.local_host, ""));
  if (r.status != 201) {
    return Status::FailedPrecondition("an agent token for local host " + config.local_host + ": " +
                                      r.body.value("message", std::string()));
  }
  token = r.body.value("token", std::string());
  DS_RETURN_IF_ERROR(WriteFileAtomically(path, token + "\n", 0600));
  return token;
}

// `--local-host NAME`: the same host agent as `devshare agent`, in this process, talking to this
// server over its loopback URL.
Status StartLocalAgent(const ServeConfig& config, ServerBundle& bundle) {
  // libvirt refuses relative disk paths: resolve --runtime-dir once, and say which is used.
  const std::string runtime_dir = host::AbsolutePath(config.runtime_dir);
  std::error_code ec;
  std::filesystem::create_directories(runtime_dir, ec);
  std::fprintf(stderr, "devshare serve: runtime dir %s\n", runtime_dir.c_str());
  AgentConfig agent;
  agent.server_url = bundle.url;
  DS_ASSIGN_OR_RETURN(agent.token, LocalAgentToken(config, runtime_dir, *bundle.control_plane));
  agent.name = config.local_host;
  agent.hypervisor = config.hypervisor;
  agent.runtime_dir = runtime_dir;
  agent.guest_cpuset = config.guest_cpuset;
  agent.sysfs_root = config.sysfs_root;
  agent.guest_image = config.guest_image;
  agent.pools = config.pools;
  agent.nics = config.nics;
  agent.migration_mbps = config.migration_mbps;
  agent.tiering_period_ms = config.tiering_period_ms;
  agent.log = [](const std::string& line) {
    std::fprintf(stderr, "devshare serve: agent: %s\n", line.c_str());
  };
  std::fprintf(stderr, "devshare serve: local host %s on %s (the in-process agent)\n",
               config.local_host.c_str(), config.hypervisor.c_str());
  DS_ASSIGN_OR_RETURN(bundle.agent, AgentRun::Start(std::move(agent)));
  return Status::Ok();
}

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

Result<std::unique_ptr<ServerBundle>> StartServer(const ServeConfig& config) {
  auto bundle = std::make_unique<ServerBundle>();
  DS_ASSIGN_OR_RETURN(auto listen, ParseListen(config.listen));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> st, store::OpenStore(config.db));
  bool created = false;
  DS_ASSIGN_OR_RETURN(std::string token, LoadOrCreateAdminToken(config.admin_token_file, &created));
  bundle->admin_token_created = created;
  server::ControlPlaneOptions options;
  options.unauthenticated_audit_per_s = config.unauthenticated_audit_per_s;
  options.unauthenticated_audit_burst = config.unauthenticated_audit_burst;
  options.default_policy = config.policy;
  options.bootstrap_admin_sha256 = store::Sha256Hex(token);
  options.workload_history = config.workload_history;
  options.host_timeout_ms = config.host_timeout_ms;
  options.follow_interval_ms = config.follow_ms;
  options.replica_index = config.replica_index;
  options.rightsize_forecaster = config.rightsize_forecaster;
  if (!config.local_host.empty()) {
    // Flags of the local agent are checked before anything listens.
    DS_RETURN_IF_ERROR(host::ParseGuestImage(config.guest_image).status());
    if (!config.guest_cpuset.empty()) {
      Result<std::vector<int>> cpus = host::ParseCpuList(config.guest_cpuset);
      if (!cpus.ok()) return Status::InvalidArgument("--guest-cpuset: " + cpus.status().message());
    }
  }
  DS_ASSIGN_OR_RETURN(bundle->control_plane,
                      server::ControlPlane::Open(std::move(st), std::move(options)));
  bundle->api = std::make_unique<server::HttpApi>(bundle->control_plane.get());
  server::HttpApiOptions http;
  http.host = listen.first;
  http.port = listen.second;
  http.threads = config.threads;
  DS_RETURN_IF_ERROR(bundle->api->Start(http));
  bundle->url = "http://" + listen.first + ":" + std::to_string(bundle->api->port());
  if (!config.local_host.empty()) DS_RETURN_IF_ERROR(StartLocalAgent(config, *bundle));
  return bundle;
}

int ServeUntilSignal(ServerBundle& bundle) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  while (!g_stop) ::usleep(100 * 1000);
  std::fprintf(stderr, "devshare serve: stopping\n");
  if (bundle.agent) bundle.agent->Stop();  // the local guests keep running
  // cpp-httplib's stop() waits for every keep-alive connection to time out (30 s), so stop
  // accepting on another thread and give open requests a moment; then drain the writer, after
  // which every acknowledged write is committed, and leave without waiting for idle clients.
  std::atomic<bool> api_stopped{false};
  std::thread stopper([&] {
    bundle.api->Stop();
    api_stopped = true;
  });
  for (int i = 0; i < 20 && !api_stopped; ++i) ::usleep(100 * 1000);
  bundle.control_plane->Shutdown();
  if (api_stopped) {
    stopper.join();
    bundle.control_plane.reset();
    return kExitOk;
  }
  std::fprintf(stderr, "devshare serve: leaving idle keep-alive connections behind\n");
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(kExitOk);
}

int RunServeCommand(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kServeUsage, stdout);
      return kExitOk;
    }
  }
  Result<Flags> flags = Flags::Parse(args,
                                     {"listen",
                                      "db",
                                      "admin-token-file",
                                      "policy",
                                      "threads",
                                      "local-host",
                                      "hypervisor",
                                      "guest-cpuset",
                                      "guest-image",
                                      "runtime-dir",
                                      "sysfs-root",
                                      "unauthenticated-audit-rate",
                                      "unauthenticated-audit-burst",
                                      "workload-history",
                                      "host-timeout",
                                      "follow-ms",
                                      "replica-index",
                                      "pool",
                                      "nic",
                                      "migration-mbps",
                                      "tiering-period-s",
                                      "rightsize-forecaster"},
                                     {});
  if (!flags.ok()) return Fail("serve", flags.status());
  ServeConfig config;
  config.listen = flags->Get("listen", config.listen);
  config.db = flags->Get("db", config.db);
  config.admin_token_file = flags->Get("admin-token-file", config.admin_token_file);
  config.policy = flags->Get("policy", config.policy);
  config.local_host = flags->Get("local-host", "");
  config.hypervisor = flags->Get("hypervisor", config.hypervisor);
  config.guest_cpuset = flags->Get("guest-cpuset", "");
  config.guest_image = flags->Get("guest-image", config.guest_image);
  config.runtime_dir = flags->Get("runtime-dir", config.runtime_dir);
  config.sysfs_root = flags->Get("sysfs-root", config.sysfs_root);
  config.rightsize_forecaster = flags->Get("rightsize-forecaster", "");
  if (flags->Has("pool")) {
    Result<std::vector<std::string>> pools = SplitPoolFlags(flags->Get("pool"));
    if (!pools.ok()) return Fail("serve", pools.status());
    config.pools = *pools;
  }
  config.nics = flags->Get("nic", "");
  if (!config.nics.empty()) {
    Result<std::vector<host::HostLink>> links = host::ParseHostLinkFlags(config.nics);
    if (!links.ok()) return Fail("serve", links.status());
  }
  Result<int64_t> mig = flags->GetInt("migration-mbps", config.migration_mbps, 1, 100'000);
  if (!mig.ok()) return Fail("serve", mig.status());
  config.migration_mbps = *mig;
  Result<double> tier_s =
      flags->GetDouble("tiering-period-s", config.tiering_period_ms / 1000.0, 0, 86'400);
  if (!tier_s.ok()) return Fail("serve", tier_s.status());
  config.tiering_period_ms = static_cast<int64_t>(*tier_s * 1000);
  for (const char* f : {"hypervisor", "guest-cpuset", "guest-image", "runtime-dir", "pool", "nic",
                        "migration-mbps", "tiering-period-s"}) {
    if (flags->Has(f) && config.local_host.empty()) {
      return Fail("serve",
                  Status::InvalidArgument(std::string("--") + f + " needs --local-host NAME"));
    }
  }
  Result<int64_t> threads = flags->GetInt("threads", config.threads, 4, 1024);
  if (!threads.ok()) return Fail("serve", threads.status());
  config.threads = static_cast<int>(*threads);
  Result<double> host_timeout_s =
      flags->GetDouble("host-timeout", config.host_timeout_ms / 1000.0, 0.5, 86'400);
  if (!host_timeout_s.ok()) return Fail("serve", host_timeout_s.status());
  config.host_timeout_ms = static_cast<int64_t>(*host_timeout_s * 1000);
  Result<int64_t> follow_ms = flags->GetInt("follow-ms", config.follow_ms, 0, 60'000);
  if (!follow_ms.ok()) return Fail("serve", follow_ms.status());
  config.follow_ms = *follow_ms;
  Result<int64_t> replica_index =
      flags->GetInt("replica-index", config.replica_index, 0, 1'000'000);
  if (!replica_index.ok()) return Fail("serve", replica_index.status());
  config.replica_index = *replica_index;
  Result<double> audit_rate =
      flags->GetDouble("unauthenticated-audit-rate", config.unauthenticated_audit_per_s, 0, 1e6);
  if (!audit_rate.ok()) return Fail("serve", audit_rate.status());
  config.unauthenticated_audit_per_s = *audit_rate;
  Result<int64_t> audit_burst = flags->GetInt("unauthenticated-audit-burst",
                                              config.unauthenticated_audit_burst, 1, 1'000'000);
  if (!audit_burst.ok()) return Fail("serve", audit_burst.status());
  config.unauthenticated_audit_burst = *audit_burst;
  if (flags->Has("workload-history")) {
    Result<std::vector<sim::PodRecord>> pods = sim::ReadPodCsv(flags->Get("workload-history"));
    if (!pods.ok()) return Fail("serve", pods.status());
    auto history = std::make_shared<const std::vector<VmRequest>>(sim::RequestsFromPods(*pods));
    if (history->empty()) {
      return Fail("serve",
                  Status::InvalidArgument("--workload-history " + flags->Get("workload-history") +
                                          ": no pods in the file"));
    }
    config.workload_history = std::move(history);
  }
  Result<std::unique_ptr<ServerBundle>> bundle = StartServer(config);
  if (!bundle.ok()) return Fail("serve", bundle.status());
  if (config.workload_history != nullptr) {
    std::printf("devshare serve: workload history of %zu requests from %s\n",
                config.workload_history->size(), flags->Get("workload-history").c_str());
  }
  std::printf("devshare serve: listening on %s (store %s)\n", (*bundle)->url.c_str(),
              (*bundle)->control_plane->store().Describe().c_str());
  std::printf("devshare serve: admin token in %s%s\n", config.admin_token_file.c_str(),
              (*bundle)->admin_token_created ? " (created)" : "");
  std::fflush(stdout);
  return ServeUntilSignal(**bundle);
}

int RunAuditCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "verify") {
    std::fputs("usage: devshare audit verify --db sqlite:PATH|postgresql://...\n", stderr);
    return kExitBadInput;
  }
  Result<Flags> flags =
      Flags::Parse(std::vector<std::string>(args.begin() + 1, args.end()), {"db"}, {});
  if (!flags.ok()) return Fail("audit verify", flags.status());
  if (!flags->Has("db")) {
    return Fail("audit verify", Status::InvalidArgument("--db is required"));
  }
  Result<std::unique_ptr<store::Store>> st = store::OpenStore(flags->Get("db"));
  if (!st.ok()) return Fail("audit verify", st.status());
  Result<std::vector<store::AuditRecord>> records = (*st)->ReadAudit(0, 0);
  if (!records.ok()) return Fail("audit verify", records.status());
  Result<store::AuditHead> head = (*st)->ReadAuditHead();
  if (!head.ok()) return Fail("audit verify", head.status());
  Status s = store::VerifyAuditChain(*records, *head);
  if (!s.ok()) {
    std::printf("BAD: %s\n", s.message().c_str());
    return kExitFailure;
  }
  std::printf("OK: %zu audit records, head seq %lld hash %s\n", records->size(),
              static_cast<long long>(head->seq), head->hash_hex.c_str());
  return kExitOk;
}

}  // namespace devshare::cli

namespace devshare::cli {
ServerBundle::~ServerBundle() {
  if (agent) agent->Stop();  // its long poll ends when the control plane shuts down
  if (api) api->Stop();
}
}  // namespace devshare::cli
