// NetworkService: tenants' networks (POST/GET/DELETE /v1/networks): each an isolated L2 segment
// with a CIDR, a segment id from the ledger and the addresses of the NICs on it.
// Thread-safety: all methods are thread-safe (writes go through the group committer, reads hold
// the ledger lock shared).
#ifndef DEVSHARE_SERVER_NETWORK_SERVICE_H_
#define DEVSHARE_SERVER_NETWORK_SERVICE_H_

#include <string>

#include "server/service_context.h"

namespace devshare::server {

class NetworkService {
 public:
  explicit NetworkService(ServiceContext* ctx) : ctx_(*ctx) {}

  // POST /v1/networks {"name", "cidr" (prefix 8..29), "physical_network" (default "default")}
  // in the caller's tenant: 201 with the network and its segment_id. InvalidArgument naming the
  // field; AlreadyExists for a taken name or a CIDR overlapping one of the tenant's networks
  // (network_overlap); ResourceExhausted when no segment id is free.
  Result<Reply> Create(const Principal& p, const std::string& body, const std::string& key);
  // The caller's tenant's networks (a system admin sees all).
  Result<Reply> List(const Principal& p);
  // One network with its NICs ({vm, address, mac}); another tenant's answers NotFound.
  Result<Reply> Get(const Principal& p, const std::string& id);
  // FailedPrecondition network_in_use naming a VM while any VM has a NIC on it.
  Result<Reply> Delete(const Principal& p, const std::string& id);

 private:
  static nlohmann::json DetailJson(const Ledger& ledger, const store::NetworkRecord& n);

  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_NETWORK_SERVICE_H_
