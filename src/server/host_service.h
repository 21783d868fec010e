// HostService: register or replace a host's inventory (by an admin or the host's agent), list
// hosts, read one host with its usage and liveness, cordon / uncordon / drain / delete. Answers are
// Results; api_types.cc maps their errors to HTTP. Thread-safety: all methods are thread-safe
// (writes go through the group committer, reads hold the ledger lock shared).
#ifndef DEVSHARE_SERVER_HOST_SERVICE_H_
#define DEVSHARE_SERVER_HOST_SERVICE_H_

#include <string>

#include "server/service_context.h"

namespace devshare::server {

class HostService {
 public:
  explicit HostService(ServiceContext* ctx) : ctx_(*ctx) {}

  // PUT /v1/hosts/{name}: 201 created / 200 replaced; FailedPrecondition inventory_in_use when
  // the new inventory cannot hold the host's VMs (nothing changes).
  Result<Reply> Put(const Principal& p, const std::string& name, const std::string& body);
  Result<Reply> List(const Principal& p);
  Result<Reply> Get(const Principal& p, const std::string& name);  // NotFound when unknown
  // cordon | uncordon: the host takes no new VMs / takes them again (200 host).
  Result<Reply> SetSchedule(const Principal& p, const std::string& name, const std::string& action);
  // Cordons the host as "draining". Without `replace`: FailedPrecondition host_in_use listing
  // the VMs that remain (the schedule change is kept). With `replace`: every VM is placed again
  // on another open host (same id, new allocation; the old host's agent removes its domain, the
  // new host's agent creates it), all or nothing: when one fits nowhere none moves and the
  // answer is unschedulable with its reasons.
  Result<Reply> Drain(const Principal& p, const std::string& name, bool replace);
  // FailedPrecondition host_in_use while VMs remain; the host's agent tokens go with it.
  Result<Reply> Delete(const Principal& p, const std::string& name);

 private:
  // REQUIRES: the ledger lock (shared or inside an operation).
  nlohmann::json HostJson(const HostEntry& h, bool with_devices) const;
  // Moves every VM of `name` to other open hosts inside the operation (drain with replace).
  Result<nlohmann::json> ReplaceAll(store::Txn& tx, OpResult& r, const std::string& name);

  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_HOST_SERVICE_H_
