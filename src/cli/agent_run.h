// AgentRun: one host agent at work (the discovered host, its libvirt connection, the HTTP link
// to the control plane and agent::AgentLoop on a thread). `devshare agent` runs one until a
// signal; `devshare serve --local-host` runs one in-process against its own loopback URL, so
// the local host is realized exactly like every other host of the fleet.
// Thread-safety: Start/Stop from the owner thread; the loop runs on its own threads.
#ifndef DEVSHARE_CLI_AGENT_RUN_H_
#define DEVSHARE_CLI_AGENT_RUN_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::cli {

struct AgentConfig {
  std::string server_url;  // http://HOST:PORT of `devshare serve`
  std::string token;       // the host's agent token
  std::string name;        // the host name to register and serve
  std::string hypervisor = "qemu:///system";
  std::string runtime_dir;   // made absolute and created by StartAgent
  std::string guest_cpuset;  // "" = every online CPU
  int64_t reserve_cpu_milli = 0;
  int64_t reserve_memory_mib = 0;
  std::string domain_prefix = "devshare-";
  std::string sysfs_root;                       // "" = /sys
  std::string guest_image = "none";             // VMs without a catalogue image: none | spin
  std::function<void(const std::string&)> log;  // one line, no newline; default stderr
  // Storage pools (`--pool NAME:TIER:DIR[,iops=N,mbps=M,capacity_gib=G,scheduler=S]`,
  // host::ParsePoolFlag); undeclared speed is calibrated for `calibrate_ms` per phase.
  std::vector<std::string> pools;
  // Host links (`--nic NAME:NETWORK:MBPS[,netdev=IF]`, several separated by ';'; host_link.h).
  std::string nics;
  int64_t calibrate_ms = 500;
  std::string nbdkit_plugin;    // "" = host::FindNbdkitPlugin()
  int64_t migration_mbps = 64;  // live moves between pools, all together
  // Stop the volume server (nbdkit) when the agent stops. Off for `devshare agent` (guests keep
  // using their volumes); on for benchmarks that remove their guests.
  bool stop_volume_server = false;
  // The tiering controller (agent::TieringLoop): a sample every tiering_period_ms; 0 = off.
  int64_t tiering_period_ms = 10'000;
};

// The value of --pool (several pools separated by ';') -> one flag per pool. InvalidArgument for
// an empty item.
Result<std::vector<std::string>> SplitPoolFlags(const std::string& value);

class AgentRun {
 public:
  // Discovers the host, opens libvirt and the link, and starts the loop (registration, which
  // may wait for the server, then reconcile and the threads) on a thread. InvalidArgument /
  // Unavailable for a bad flag, an unreadable machine or libvirt refusing the connection.
  static Result<std::unique_ptr<AgentRun>> Start(AgentConfig config);
  ~AgentRun();  // Stop()
  // Stops the loop and joins its threads; the guests keep running. Idempotent.
  void Stop();
  // True (with the reason in *why) once the loop has given up (bad token, host refused).
  bool Failed(Status* why) const;
  const std::string& runtime_dir() const;

 private:
  struct Parts;
  explicit AgentRun(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_AGENT_RUN_H_
