// VmService: VM operations: create (placement against the ledger's open, reachable hosts),
// list, get, delete (two-phase on hosts with an agent), resize in place, and power actions.
// Host agents realize what the ledger says (FleetService serves them the desired state).
// Answers are Results; api_types.cc maps their errors to HTTP (unschedulable, no_room, ...).
// Thread-safety: all methods are thread-safe (writes go through the group committer, reads
// hold the ledger lock shared).
#ifndef DEVSHARE_SERVER_VM_SERVICE_H_
#define DEVSHARE_SERVER_VM_SERVICE_H_

#include <string>
#include <vector>

#include "server/service_context.h"

namespace devshare::server {

class VmService {
 public:
  explicit VmService(ServiceContext* ctx) : ctx_(*ctx) {}

  // 201 VM (state "creating" on a host with an agent, which then realizes it; "allocated" on a
  // host without one); FailedPrecondition unschedulable (details: reasons, candidates) when no
  // open, reachable host fits; InvalidArgument for an unknown image.
  Result<Reply> Create(const Principal& p, const std::string& body, const std::string& key);
  Result<Reply> List(const Principal& p);
  // NotFound for a missing VM or another tenant's (the latter audited as a denial).
  Result<Reply> Get(const Principal& p, const std::string& id);
  // On a host without agent the allocation is freed at once (200). On an agent's host the VM
  // becomes "deleting" (202): its agent removes the domain and its next heartbeat without the
  // VM frees the allocation, so capacity is never handed out while a guest still runs. `force`
  // (system admins only) frees it at once, for a host that will never return.
  Result<Reply> Delete(const Principal& p, const std::string& id, bool force);
  // In place on the same host: ResourceExhausted no_room when that host cannot hold it. The
  // host's agent applies the change when it sees the new desired state.
  Result<Reply> Resize(const Principal& p, const std::string& id, const std::string& body,
                       const std::string& key);
  // Resize with a parsed spec; `audit_extra` is merged into the audit record's detail (the
  // right-sizing controller's reason). `hash` identifies the request for `key`'s idempotency.
  Result<Reply> ApplyResize(const Principal& p, const std::string& id, const ResizeSpec& spec,
                            const std::string& key, const std::string& hash,
                            const nlohmann::json& audit_extra);
  // start | stop | reboot: the desired power state for the host's agent (202).
  // FailedPrecondition on a host without agent.
  Result<Reply> Power(const Principal& p, const std::string& id, const std::string& action);

  std::vector<std::string> IdsOnHost(const std::string& host) const;

  // The API view of a VM. REQUIRES: the ledger lock.
  static nlohmann::json VmJson(const ServiceContext& ctx, const VmEntry& vm);

 private:
  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_VM_SERVICE_H_
