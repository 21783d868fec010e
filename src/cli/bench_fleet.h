// BenchFleet: what the real-guest benchmarks (`bench io`, `bench net`) stand on: the control
// plane on 127.0.0.1 with a temporary SQLite ledger and one host agent in this process, the
// admin's client, the VMs they create (deleted again by Stop) and their serial consoles.
// Thread-safety: one thread drives a BenchFleet; the agent's log sink is internally locked.
#ifndef DEVSHARE_CLI_BENCH_FLEET_H_
#define DEVSHARE_CLI_BENCH_FLEET_H_

#include <signal.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/agent_run.h"
#include "cli/bench_client.h"
#include "cli/commands.h"

namespace devshare::cli {

class BenchFleet {
 public:
  // Starts the server in `dir` and an agent for host `host` with `agent` (hypervisor, pools,
  // nics, domain prefix; the server URL, token, name, runtime dir and log are filled here), and
  // waits up to 60 s until the host is ready. Unavailable with the agent's last words otherwise.
  static Result<std::unique_ptr<BenchFleet>> Start(const std::filesystem::path& dir,
                                                   const std::string& host, AgentConfig agent);
  ~BenchFleet();  // Stop()

  BenchClient& client() { return *client_; }
  const std::string& host() const { return host_; }
  const std::string& domain_prefix() const { return prefix_; }

  // POST /v1/vms with `body`: the new VM's id (deleted by Stop).
  Result<std::string> CreateVm(const nlohmann::json& body);
  const std::vector<std::string>& vms() const { return vms_; }
  // Reads the consoles of vms() into `consoles` (same order) until each holds `marker`; a VM
  // that fails or a timeout is Unavailable naming it.
  Status PollConsoles(const std::string& marker, double timeout_ms,
                      std::vector<std::string>& consoles);
  // Deletes the VMs, waits until they are gone (up to 120 s), stops the agent and the server.
  void Stop();
  // The agent's last `n` log lines, one per line prefixed "  agent: ".
  std::string AgentLogTail(size_t n) const;
  // True once SIGINT or SIGTERM arrived after Start: the benchmark stops waiting and Stop()
  // deletes its guests (the signals' previous handlers are back after Stop).
  static bool Interrupted();

 private:
  BenchFleet() = default;

  std::unique_ptr<ServerBundle> bundle_;
  std::unique_ptr<BenchClient> client_;
  std::unique_ptr<AgentRun> agent_;
  std::string host_, prefix_;
  std::vector<std::string> vms_;
  std::shared_ptr<std::mutex> log_mu_ = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> log_ = std::make_shared<std::vector<std::string>>();
  struct sigaction old_int_ {
  }, old_term_{};
  bool handlers_set_ = false;
};

// "1,2,3" -> integers >= min for `n` guests, padded with `fallback`; InvalidArgument naming
// --flag for a bad item or more than `n` values.
Result<std::vector<int64_t>> BenchIntList(const std::string& s, const std::string& flag, int n,
                                          int64_t fallback, int64_t min);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_BENCH_FLEET_H_
