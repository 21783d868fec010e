// VmService: VM operations: create (placement against the ledger, realization on the local
// host), list, get (live state from libvirt on the local host), delete, resize in place, and
// the start-up roll-back of VMs left unrealized. Answers are Results; api_types.cc maps their
// errors to HTTP (unschedulable, no_room, realization_failed, ...).
// Thread-safety: all methods are thread-safe (writes go through the group committer, reads
// hold the ledger lock shared; libvirt is called outside the lock).
#ifndef DEVSHARE_SERVER_VM_SERVICE_H_
#define DEVSHARE_SERVER_VM_SERVICE_H_

#include <string>
#include <vector>

#include "server/service_context.h"

namespace devshare::server {

class VmService {
 public:
  explicit VmService(ServiceContext* ctx) : ctx_(*ctx) {}

  // 201 VM; FailedPrecondition unschedulable (details: reasons, candidates) when no host fits;
  // on the local host Unavailable realization_failed (allocation rolled back) when libvirt fails.
  Result<Reply> Create(const Principal& p, const std::string& body, const std::string& key);
  Result<Reply> List(const Principal& p);
  // NotFound for a missing VM or another tenant's (the latter audited as a denial).
  Result<Reply> Get(const Principal& p, const std::string& id);
  // Frees the allocation (the local host's domain first: realization_failed keeps it).
  Result<Reply> Delete(const Principal& p, const std::string& id);
  // In place on the same host: ResourceExhausted no_room when that host cannot hold it.
  Result<Reply> Resize(const Principal& p, const std::string& id, const std::string& body,
                       const std::string& key);

  std::vector<std::string> IdsOnHost(const std::string& host) const;
  // VMs among `vm_ids` still "creating" get their allocation rolled back (audited as
  // vm.realize / rolled_back_at_start). Returns the ids rolled back.
  std::vector<std::string> RollBackUnrealized(const std::vector<std::string>& vm_ids);

 private:
  nlohmann::json VmJson(const VmEntry& vm) const;
  static host::GuestRequest GuestFor(const VmEntry& vm);
  // Second half of a create on the local host: realize the committed VM (state "creating"),
  // then record its state, or delete it again when libvirt failed (audited either way).
  Result<Reply> FinishLocalCreate(const Principal& p, const std::string& vm_id,
                                  const std::string& key, const std::string& request_hash);
  // Frees a VM's allocation inside `tx` (host-generation CAS, row, ledger) and sets r.undo;
  // a stale generation sets r.retry.
  Result<VmEntry> RemoveInTxn(store::Txn& tx, const std::string& id, OpResult& r);

  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_VM_SERVICE_H_
