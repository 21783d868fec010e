// HostAgentDriver: the GuestDriver calls on host::HostAgent.
#include "devshare/agent/host_agent_driver.h"

#include <algorithm>
#include <utility>

#include "devshare/host/inventory_json.h"
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
  // A right-sized VM boots with room to grow live (docs/rightsizing.md).
  if (spec->rightsize.memory.enabled) g.max_memory_mib = spec->rightsize.memory.max;
  if (spec->rightsize.cpu.enabled) g.max_cpu_milli = spec->rightsize.cpu.max;
  g.name = vm.name;
  g.hostname = vm.name;
  g.ssh_key = vm.ssh_key;
  if (vm.image) {
    g.boot.image_name = vm.image->name;
    g.boot.kind = vm.image->kind;
    g.boot.file = vm.image->file;
    g.boot.kernel = vm.image->kernel;
    g.boot.initrd = vm.image->initrd;
    g.boot.cmdline = vm.image->cmdline;
  }
  // The PCI address of each VF the allocation names, from the PF's discovered VF list, with the
  // slice's tenant-network binding (MAC, VLAN = segment id; none for a slice without network).
  for (const DeviceSlice& nic : g.allocation.nics) {
    if (nic.unit_index < 0) continue;
    const Device* pf = nullptr;
    for (const Device& d : host.devices) {
      if (d.id == nic.device_id) pf = &d;
    }
    if (pf == nullptr) continue;
    auto it = pf->attributes.find(host::kAttrVfAddresses);
    if (it == pf->attributes.end()) continue;  // a test host: no hostdev
    std::vector<std::string> vfs;
    size_t start = 0;
    while (start <= it->second.size()) {
      const size_t comma = it->second.find(',', start);
      vfs.push_back(it->second.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (static_cast<size_t>(nic.unit_index) >= vfs.size()) {
      return Status::FailedPrecondition("vm " + vm.id + ": " + nic.device_id + " has no VF " +
                                        std::to_string(nic.unit_index));
    }
    host::GuestVf vf;
    vf.address = vfs[nic.unit_index];
    if (!nic.network_id.empty()) {
      vf.mac = nic.mac;
      vf.vlan_id = nic.segment_id;
    }
    g.vfs.push_back(std::move(vf));
  }
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

GuestCounters GuestCountersOf(const host::GuestUsage& u) {
  const host::DomainStats& s = u.stats;
  GuestCounters c;
  c.cpu_time_ns = s.cpu_time.count();
  if (s.balloon_current_kib >= 0 && s.usable_kib >= 0) {
    // What of its allocation the guest cannot give back: its kernel's own memory (which MemTotal
    // leaves out), anonymous and tmpfs pages; not the page cache it could drop.
    c.memory_used_mib = std::max<int64_t>(0, s.balloon_current_kib - s.usable_kib) / 1024;
    c.memory_source = "usable";
  } else if (s.available_kib >= 0 && s.usable_kib >= 0) {
    c.memory_used_mib = std::max<int64_t>(0, s.available_kib - s.usable_kib) / 1024;
    c.memory_source = "usable";
  } else if (s.available_kib >= 0 && s.unused_kib >= 0) {
    c.memory_used_mib = std::max<int64_t>(0, s.available_kib - s.unused_kib) / 1024;
    c.memory_source = "unused";
  } else if (s.rss_kib >= 0) {
    c.memory_used_mib = s.rss_kib / 1024;
    c.memory_source = "rss";
  }
  if (s.balloon_current_kib >= 0) c.balloon_current_mib = s.balloon_current_kib / 1024;
  if (s.balloon_maximum_kib >= 0) c.balloon_maximum_mib = s.balloon_maximum_kib / 1024;
  c.cpu_cap_milli = u.cpu_cap_milli;
  c.gpu_memory_mib = u.gpu_memory_mib;
  c.gpu_busy_pct = u.gpu_busy_pct;
  return c;
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

Status HostAgentDriver::Start(const std::string& vm_id) { return agent_.Start(vm_id); }

Status HostAgentDriver::Stop(const std::string& vm_id) { return agent_.Stop(vm_id); }

Status HostAgentDriver::Reboot(const std::string& vm_id) { return agent_.Reboot(vm_id); }

Result<GuestCounters> HostAgentDriver::Usage(const std::string& vm_id) {
  DS_ASSIGN_OR_RETURN(host::GuestUsage u, agent_.Usage(vm_id));
  return GuestCountersOf(u);
}

// Only this agent's domains (its prefix): other agents may share the libvirt.
Result<std::vector<std::string>> HostAgentDriver::ListVmIds() { return agent_.ListVmIds(); }

Result<std::string> HostAgentDriver::ReadConsole(const std::string& vm_id, int64_t offset,
                                                 int64_t max_bytes) {
  return agent_.ReadConsole(vm_id, offset, max_bytes);
}

}  // namespace devshare::agent
