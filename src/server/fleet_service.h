// FleetService: what host agents talk to. Agent tokens (role "agent", scoped to one host),
// heartbeats carrying the observed state of the host's VMs (liveness, state changes written to
// the ledger, the second phase of deletes), the long-polled desired state of a host, and the
// VMs' serial consoles (pushed by agents, read by tenants).
// Thread-safety: all methods are thread-safe (writes go through the group committer, reads hold
// the ledger lock shared; waits happen outside it).
#ifndef DEVSHARE_SERVER_FLEET_SERVICE_H_
#define DEVSHARE_SERVER_FLEET_SERVICE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "server/service_context.h"

namespace devshare::server {

class FleetService {
 public:
  explicit FleetService(ServiceContext* ctx) : ctx_(*ctx) {}

  // POST /v1/hosts/{name}/tokens: 201 {"id", "token", "role": "agent", "host"}. The host need
  // not be registered yet (its agent registers it with this token).
  Result<Reply> CreateAgentToken(const Principal& p, const std::string& host,
                                 const std::string& key);
  // POST /v1/hosts/{name}/heartbeat (without "vms": liveness only): {"agent": {...}, "vms": [{"id",
  // "state", "detail", "domain", "usage"}]}. NotFound for a host not registered; InvalidArgument
  // naming the field. Each "usage" ({window_ms, cpu_milli, memory_mib, memory_source,
  // gpu_memory_mib, gpu_busy_pct, applied {memory_mib, max_memory_mib, cpu_cap_milli}}) goes to
  // the right-sizing controller, whose resizes are applied before the answer.
  Result<Reply> Heartbeat(const Principal& p, const std::string& host, const std::string& body);
  // GET /v1/hosts/{name}/desired: answers when the revision differs from `revision` (at once
  // without one), else after it changes or `wait_ms`.
  Result<Reply> Desired(const Principal& p, const std::string& host,
                        std::optional<uint64_t> revision, int64_t wait_ms);
  // POST /v1/vms/{id}/console?offset=N by the VM's host agent: {"offset": end}.
  Result<Reply> PushConsole(const Principal& p, const std::string& vm_id, int64_t offset,
                            const std::string& bytes);
  // GET /v1/vms/{id}/console?offset=N&wait_ms=W: {"start", "next", "data"}.
  Result<Reply> ReadConsole(const Principal& p, const std::string& vm_id, int64_t offset,
                            int64_t wait_ms, int64_t max_bytes);

  // The desired state of `host` and its revision (a hash of it). REQUIRES: the ledger lock.
  nlohmann::json DesiredJson(const HostEntry& host, uint64_t* revision) const;

 private:
  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_FLEET_SERVICE_H_
