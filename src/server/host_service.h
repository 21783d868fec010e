// HostService: register or replace a host's inventory, list hosts, read one host with its
// per-GPU usage. Answers are Results; api_types.cc maps their errors to HTTP.
// Thread-safety: all methods are thread-safe (writes go through the group committer, reads
// hold the ledger lock shared).
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

 private:
  // REQUIRES: the ledger lock (shared or inside an operation).
  nlohmann::json HostJson(const HostEntry& h, bool with_devices) const;

  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_HOST_SERVICE_H_
