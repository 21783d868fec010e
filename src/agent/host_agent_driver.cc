// HostAgentDriver: the GuestDriver calls on host::HostAgent.
#include "devshare/agent/host_agent_driver.h"

#include <utility>

#include "server/json_fields.h"
#include "server/ledger.h"
#include "server/vm_spec.h"

namespace devshare::agent {

Result<host::GuestRequest> GuestRequestFor(const DesiredVm& vm, const Host& host) {
  host::GuestRequest g;
  g.vm_id = vm.id;
  g.tenant = vm.tenant_id;
  Result<Allocation> a = server::AllocationFromJson(server::JsonText(vm.allocation), host);
  if (!a.ok()) {
    return Status::InvalidArgument("vm " + vm.id + ": allocation: " + a.status().message());
  }
  g.allocation = std::move(*a);
  Result<server::VmSpec> spec = server::ParseVmSpec(vm.spec);
  if (!spec.ok())
    return Status::InvalidArgument("vm " + vm.id + ": spec: " + spec.status().message());
  g.qos = spec->qos;
  // TODO(fleet-guest): g.boot from vm.image, g.hostname / g.name from vm.name, g.ssh_key, and the
  // VF addresses of the allocation's NICs, once GuestRequest has them.
  return g;
}

GuestState GuestStateOf(const host::DomainStatus& d) {
  GuestState s;
  s.domain = d.name;
  s.detail = d.detail;
  switch (d.state) {
    case host::DomainState::kRunning:
      s.state = kStateRunning;
      break;
    case host::DomainState::kDefined:
      s.state = kStateStopped;
      break;
    case host::DomainState::kFailed:
      s.state = kStateFailed;
      break;
  }
  return s;
}

Result<GuestState> HostAgentDriver::Realize(const DesiredVm& vm) {
  DS_ASSIGN_OR_RETURN(host::GuestRequest request, GuestRequestFor(vm, agent_.context().host));
  DS_ASSIGN_OR_RETURN(host::DomainStatus d, agent_.Realize(request));
  return GuestStateOf(d);
}

Status HostAgentDriver::Remove(const std::string& vm_id) { return agent_.Remove(vm_id); }

Status HostAgentDriver::Update(const DesiredVm& vm) {
  DS_ASSIGN_OR_RETURN(host::GuestRequest request, GuestRequestFor(vm, agent_.context().host));
  Result<host::ResizeOutcome> out = agent_.Update(request);
  return out.ok() ? Status::Ok() : out.status();
}

Result<GuestState> HostAgentDriver::State(const std::string& vm_id) {
  DS_ASSIGN_OR_RETURN(host::DomainStatus d, agent_.State(vm_id));
  return GuestStateOf(d);
}

// TODO(fleet-guest): return agent_.Start(vm_id).
Status HostAgentDriver::Start(const std::string& vm_id) {
  return Status::Unimplemented("starting " + vm_id + ": HostAgent::Start is not available yet");
}

// TODO(fleet-guest): return agent_.Stop(vm_id).
Status HostAgentDriver::Stop(const std::string& vm_id) {
  return Status::Unimplemented("stopping " + vm_id + ": HostAgent::Stop is not available yet");
}

// TODO(fleet-guest): return agent_.Reboot(vm_id).
Status HostAgentDriver::Reboot(const std::string& vm_id) {
  return Status::Unimplemented("rebooting " + vm_id + ": HostAgent::Reboot is not available yet");
}

// TODO(fleet-guest): return agent_.ListVmIds() (prefix-aware). HostAgent::Reconcile({}) would
// list every "devshare-*" domain, including other agents' domains on a shared libvirt, which
// the agent would then remove as orphans; so orphan removal waits for the real call.
Result<std::vector<std::string>> HostAgentDriver::ListVmIds() {
  return Status::Unimplemented("listing domains: HostAgent::ListVmIds is not available yet");
}

// TODO(fleet-guest): return agent_.ReadConsole(vm_id, offset, max_bytes).
Result<std::string> HostAgentDriver::ReadConsole(const std::string& vm_id, int64_t offset,
                                                 int64_t max_bytes) {
  (void)offset;
  (void)max_bytes;
  return Status::Unimplemented("console of " + vm_id +
                               ": HostAgent::ReadConsole is not available yet");
}

}  // namespace devshare::agent
