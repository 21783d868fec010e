// VolumeService: the volume lifecycle of a placed VM: list, hot-plug (attach on a disk of the
// tier on the VM's host), unplug (detach) and move to another tier on the same host (migrate).
// Each change goes through the ledger (capacity on the host), the host-generation CAS and the
// VM record in one store transaction with its audit record; the host's agent realizes it when
// it sees the VM's new desired state. QoS changes of a volume go through VmService::Resize.
// Thread-safety: all methods are thread-safe (writes through the group committer, reads under
// the ledger lock shared).
#ifndef DEVSHARE_SERVER_VOLUME_SERVICE_H_
#define DEVSHARE_SERVER_VOLUME_SERVICE_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "server/service_context.h"

namespace devshare::server {

class VolumeService {
 public:
  explicit VolumeService(ServiceContext* ctx) : ctx_(*ctx) {}

  // 200 {"volumes": [...]}; NotFound for a missing VM or another tenant's (audited).
  Result<Reply> List(const Principal& p, const std::string& vm_id);
  // 201 with the VM's volumes. InvalidArgument naming the field (the volume object of a VM
  // spec); AlreadyExists for a name the VM uses; FailedPrecondition unschedulable when the
  // host has no disk of the tier or no room on one (details with the numbers).
  Result<Reply> Attach(const Principal& p, const std::string& vm_id, const std::string& body,
                       const std::string& key);
  // 200 with the VM's volumes; NotFound for an unknown volume.
  Result<Reply> Detach(const Principal& p, const std::string& vm_id, const std::string& name);
  // 200 with the VM's volumes; FailedPrecondition "already on tier T" for its own tier, or
  // unschedulable as Attach.
  Result<Reply> Migrate(const Principal& p, const std::string& vm_id, const std::string& name,
                        const std::string& body, const std::string& key);

  // {"volumes": [{name, tier, size_gib, device, iops {reservation, weight, limit}}]} of `vm`.
  static nlohmann::json VolumesJson(const VmEntry& vm);

 private:
  using Change = std::function<Result<VmEntry>(Ledger&)>;
  // Runs `change` on VM `vm_id` as `operation` (authorised, audited with `detail`, persisted
  // with the host-generation CAS, idempotent under `key`); `created` answers 201.
  Result<Reply> Run(const Principal& p, const std::string& vm_id, const std::string& operation,
                    const std::string& key, const std::string& hash, nlohmann::json detail,
                    Change change, bool created);

  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_VOLUME_SERVICE_H_
