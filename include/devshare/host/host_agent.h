// HostAgent: what `devshare serve` calls to realize VMs placed on its own host: create = plan +
// guest image + define + start (nothing left behind on failure), delete = destroy + undefine,
// resize = live cputune/memory update, state (defined / running / failed with the error), and
// reconcile of libvirt's devshare-* domains against the ledger.
// Thread-safety: thread-safe; calls for different VMs may run concurrently (the caller must not
// run two calls for the same VM at once).
#ifndef DEVSHARE_HOST_HOST_AGENT_H_
#define DEVSHARE_HOST_HOST_AGENT_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/host/hypervisor.h"
#include "devshare/host/realization.h"

namespace devshare::host {

struct ResizeOutcome {
  bool cpu_live = false;     // cputune applied to the running guest
  bool memory_live = false;  // memory applied to the running guest (else at next start)
  std::vector<std::string> notes;
};

struct ReconcileReport {
  std::vector<std::string> missing;       // ledger VMs without a domain
  std::vector<std::string> orphans;       // VM ids of devshare-* domains the ledger does not know
  std::vector<DomainStatus> not_running;  // domains of ledger VMs that are not running
  bool clean() const { return missing.empty() && orphans.empty() && not_running.empty(); }
};

class HostAgent {
 public:
  // REQUIRES: hypervisor != nullptr. context.domain_type is overwritten with the hypervisor's.
  HostAgent(std::unique_ptr<Hypervisor> hypervisor, RealizationContext context);

  Hypervisor& hypervisor() { return *hypervisor_; }
  RealizationContext context() const;
  // Replaces the host model (after registration or a PUT of this host's inventory).
  void SetHost(Host host);

  // Creates the VM's domain and starts it. AlreadyExists (nothing changed) when the VM's domain
  // exists. The plan's errors (unknown device, IOMMU rule) and libvirt's define/start failures
  // are returned with nothing left in libvirt; State() then answers failed with that error until
  // Remove or a later success.
  Result<DomainStatus> Realize(const GuestRequest& request);
  // Destroys and undefines the VM's domain and removes its guest image. OK when already gone.
  Status Remove(const std::string& vm_id);
  // Applies the request's QoS and memory to the existing domain, live where libvirt allows.
  // NotFound when the VM has no domain.
  Result<ResizeOutcome> Update(const GuestRequest& request);
  // defined / running / failed. NotFound when the VM has no domain and no recorded failure.
  Result<DomainStatus> State(const std::string& vm_id);
  // Compares the devshare-* domains with `ledger_vm_ids` (VMs the ledger places on this host).
  Result<ReconcileReport> Reconcile(const std::vector<std::string>& ledger_vm_ids);

 private:
  std::string ImagePath(const RealizationContext& ctx, const std::string& vm_id) const;

  std::unique_ptr<Hypervisor> hypervisor_;
  mutable std::mutex mu_;
  RealizationContext context_;                 // guarded by mu_
  std::map<std::string, std::string> failed_;  // vm id -> last realization error; by mu_
};

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_HOST_AGENT_H_
