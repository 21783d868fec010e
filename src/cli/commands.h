// The devshare subcommands. Each takes its arguments (after the subcommand name) and returns
// the process exit code; messages go to stdout (results) and stderr (errors, progress).
// Thread-safety: call from main() only.
#ifndef DEVSHARE_CLI_COMMANDS_H_
#define DEVSHARE_CLI_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "devshare/core/request.h"
#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::cli {

int RunSimCommand(const std::vector<std::string>& args);
int RunGenCommand(const std::vector<std::string>& args);
int RunDemoCommand(const std::vector<std::string>& args);
int RunBenchCommand(const std::vector<std::string>& args);
int RunBenchApiCommand(const std::vector<std::string>& args);
int RunBenchVmStartCommand(const std::vector<std::string>& args);
int RunBenchIoCommand(const std::vector<std::string>& args);
int RunBenchNetCommand(const std::vector<std::string>& args);
int RunServeCommand(const std::vector<std::string>& args);
int RunAuditCommand(const std::vector<std::string>& args);
int RunQosSimCommand(const std::vector<std::string>& args);
// Client commands (vm, host, tenant) talking to a server through ApiClient: client_command.cc
// dispatches to vm_commands.cc, host_commands.cc, tenant_commands.cc.
int RunClientCommand(const std::string& noun, const std::vector<std::string>& args);
// Host agent commands (host discover | register | qos-check): host_agent_command.cc.
int RunHostDiscoverCommand(const std::vector<std::string>& args);
int RunHostRegisterCommand(const std::vector<std::string>& args);
int RunHostQosCheckCommand(const std::vector<std::string>& args);
// The fleet host agent (`devshare agent`): agent_command.cc.
int RunAgentCommand(const std::vector<std::string>& args);

}  // namespace devshare::cli

namespace devshare::server {
class ControlPlane;
class HttpApi;
}  // namespace devshare::server

namespace devshare::cli {

class AgentRun;

// A running control plane with its HTTP API (serve and demo share it).
struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string db = "sqlite:./var/devshare.db";
  std::string admin_token_file = "./var/admin.token";
  std::string rightsize_forecaster;  // empty: autopilot when registered, else last
  std::string policy = "devshare";
  int threads = 64;
  // A host whose agent sends no heartbeat for this long is unreachable (--host-timeout S).
  int64_t host_timeout_ms = 30'000;
  int64_t follow_ms = 200;    // ControlPlaneOptions::follow_interval_ms
  int64_t replica_index = 0;  // ControlPlaneOptions::replica_index
  // Host agent (issue 5): realize VMs placed on `local_host` through libvirt at `hypervisor`.
  std::string local_host;                      // empty = no local host
  std::string hypervisor = "test:///default";  // in-process libvirt driver; qemu:///system = real
  std::string guest_cpuset;                    // host CPUs guests may use; empty = all online
  std::string guest_image = "none";            // none | spin
  std::string runtime_dir = "./var/run";       // guest images
  std::string sysfs_root = "/sys";
  std::vector<std::string> pools;  // --pool: the local host's storage pools (AgentConfig::pools)
  std::string nics;                // --nic: the local host's links (AgentConfig::nics)
  int64_t migration_mbps = 64;     // --migration-mbps (AgentConfig::migration_mbps)
  int64_t tiering_period_ms = 10'000;  // --tiering-period-s (AgentConfig::tiering_period_ms)
  // Audit records for refusals of requests without a valid token: per second, and burst.
  double unauthenticated_audit_per_s = 10;
  int64_t unauthenticated_audit_burst = 100;
  // Past requests of the workload (--workload-history, or the demo's generated pods): policies
  // learn the typical-pod distribution from them. Null or empty: none.
  std::shared_ptr<const std::vector<VmRequest>> workload_history;
};
struct ServerBundle {
  std::unique_ptr<server::ControlPlane> control_plane;
  std::unique_ptr<server::HttpApi> api;
  std::unique_ptr<AgentRun> agent;  // serve --local-host; stopped first (~ServerBundle)
  std::string url;
  bool admin_token_created = false;
  ~ServerBundle();
};
Result<std::unique_ptr<ServerBundle>> StartServer(const ServeConfig& config);
// Blocks until SIGINT/SIGTERM, then stops the API and the control plane.
int ServeUntilSignal(ServerBundle& bundle);

// Prints "devshare <cmd>: <status message>" to stderr and returns the mapped exit code.
int Fail(const std::string& command, const Status& status);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_COMMANDS_H_
