// HostAgentDriver: GuestDriver over host::HostAgent (libvirt). It rebuilds each desired VM's
// host::GuestRequest from the server's JSON (server::AllocationFromJson against the agent's Host
// model, the QoS from server::ParseVmSpec of the normalised spec).
// The catalogue image becomes the GuestBoot, the VM name the guest's hostname, each VF slice the
// PF's VF address; power, listing (this agent's domain prefix only) and console calls go to
// HostAgent unchanged.
// Thread-safety: thread-safe (HostAgent is; this holds no mutable state of its own).
#ifndef DEVSHARE_AGENT_HOST_AGENT_DRIVER_H_
#define DEVSHARE_AGENT_HOST_AGENT_DRIVER_H_

#include <string>

#include "devshare/agent/guest_driver.h"
#include "devshare/host/host_agent.h"

namespace devshare::agent {

// DesiredVm -> GuestRequest for `host` (the agent's own Host model, with device attributes).
// InvalidArgument naming the VM when the allocation or spec does not parse.
Result<host::GuestRequest> GuestRequestFor(const DesiredVm& vm, const Host& host);

// host::DomainStatus -> GuestState (defined -> stopped).
GuestState GuestStateOf(const host::DomainStatus& d);
// host::GuestUsage -> GuestCounters: used memory from the balloon statistics, preferring
// balloon.current - usable, then available - usable, available - unused, rss
// (VmUsage::memory_mib says why).
GuestCounters GuestCountersOf(const host::GuestUsage& u);

class HostAgentDriver final : public GuestDriver {
 public:
  // REQUIRES: `agent` outlives this driver.
  explicit HostAgentDriver(host::HostAgent& agent) : agent_(agent) {}

  Result<GuestState> Realize(const DesiredVm& vm) override;
  Status Remove(const std::string& vm_id) override;
  Status Update(const DesiredVm& vm) override;
  Result<GuestState> State(const std::string& vm_id) override;
  Status Start(const std::string& vm_id) override;
  Status Stop(const std::string& vm_id) override;
  Status Reboot(const std::string& vm_id) override;
  Result<GuestCounters> Usage(const std::string& vm_id) override;
  Result<std::vector<std::string>> ListVmIds() override;
  Result<std::string> ReadConsole(const std::string& vm_id, int64_t offset,
                                  int64_t max_bytes) override;

 private:
  host::HostAgent& agent_;
};

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_HOST_AGENT_DRIVER_H_
