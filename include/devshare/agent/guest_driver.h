// GuestDriver: what `devshare agent` needs from its host to realize the desired VMs (create,
// remove, resize, power, console), behind an interface so the agent loop can be tested with a
// fake; HostAgentDriver (host_agent_driver.h) is the libvirt implementation.
// Thread-safety: implementations are thread-safe for calls on different VMs; the agent never
// runs two mutating calls for the same VM at once (ReadConsole and State may overlap them).
#ifndef DEVSHARE_AGENT_GUEST_DRIVER_H_
#define DEVSHARE_AGENT_GUEST_DRIVER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/agent/control_link.h"
#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::agent {

// A guest as the host sees it. `state` is kStateRunning, kStateStopped (defined, not running)
// or kStateFailed (crashed, or the last realization failed: then there may be no domain).
struct GuestState {
  std::string domain;
  std::string state;
  std::string detail;
};

// A running guest's raw usage counters (GuestDriver::Usage); -1 = not reported.
struct GuestCounters {
  int64_t cpu_time_ns = 0;  // cumulative
  int64_t memory_used_mib = -1;
  std::string memory_source;  // VmUsage::memory_source
  int64_t balloon_current_mib = -1, balloon_maximum_mib = -1;
  int64_t cpu_cap_milli = -1;
  int64_t gpu_memory_mib = -1;
  double gpu_busy_pct = -1;
};

class GuestDriver {
 public:
  virtual ~GuestDriver() = default;

  // Creates the VM's domain and starts it. AlreadyExists (nothing changed) when it exists;
  // any other error leaves nothing behind, and State() then answers failed with it.
  virtual Result<GuestState> Realize(const DesiredVm& vm) = 0;
  // Destroys and undefines the VM's domain and its files. OK when already gone.
  virtual Status Remove(const std::string& vm_id) = 0;
  // Applies the VM's allocation and QoS to its existing domain (live where possible).
  // NotFound when there is no domain.
  virtual Status Update(const DesiredVm& vm) = 0;
  // NotFound when the VM has neither a domain nor a recorded failure.
  virtual Result<GuestState> State(const std::string& vm_id) = 0;
  // Power: Start OK when running already; Stop keeps the domain defined; Reboot resets it.
  virtual Status Start(const std::string& vm_id) = 0;
  virtual Status Stop(const std::string& vm_id) = 0;
  virtual Status Reboot(const std::string& vm_id) = 0;
  // The running guest's usage counters. Unavailable when it is not running; Unimplemented (the
  // default) when the driver has none: the heartbeat then carries no usage.
  virtual Result<GuestCounters> Usage(const std::string& vm_id) {
    (void)vm_id;
    return Status::Unimplemented("this guest driver reports no usage");
  }
  // VM ids of every domain this agent manages (its domain prefix).
  virtual Result<std::vector<std::string>> ListVmIds() = 0;
  // The serial log from byte `offset`, at most `max_bytes`; empty when nothing new; NotFound
  // when there is no log.
  virtual Result<std::string> ReadConsole(const std::string& vm_id, int64_t offset,
                                          int64_t max_bytes) = 0;
};

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_GUEST_DRIVER_H_
