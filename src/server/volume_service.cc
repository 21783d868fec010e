// VolumeService: attach, detach, migrate and list the volumes of a VM.
#include "server/volume_service.h"

#include <utility>

#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"
#include "server/json_fields.h"

namespace devshare::server {

nlohmann::json VolumeService::VolumesJson(const VmEntry& vm) {
  nlohmann::json list = nlohmann::json::array();
  const std::vector<VolumeRequest>& spec = vm.spec.request.volumes;
  for (size_t i = 0; i < vm.allocation.volumes.size(); ++i) {
    const DeviceSlice& s = vm.allocation.volumes[i];
    list.push_back(
        {{"name", s.name},
         {"tier", i < spec.size() ? spec[i].tier : ""},
         {"size_gib", s.units},
         {"device", s.device_id},
         {"iops", {{"reservation", s.rate}, {"weight", s.weight}, {"limit", s.rate_limit}}}});
  }
  return {{"volumes", list}};
}

Result<Reply> VolumeService::List(const Principal& p, const std::string& vm_id) {
  return ctx_.ReadVm(p, "volume.list", vm_id, [](const VmEntry& vm) { return VolumesJson(vm); });
}

Result<Reply> VolumeService::Attach(const Principal& p, const std::string& vm_id,
                                    const std::string& body, const std::string& key) {
  Result<nlohmann::json> j = ParseJsonObject(body);
  Result<VolumeRequest> v = j.ok() ? ParseVolumeSpec(*j) : Result<VolumeRequest>(j.status());
  if (!v.ok()) return ctx_.Refuse(p, "volume.attach", "vm/" + vm_id, v.status());
  const std::string hash = store::Sha256Hex("POST /v1/vms/" + vm_id + "/volumes\n" + body);
  return Run(
      p, vm_id, "volume.attach", key, hash, {{"volume", v->name}, {"tier", v->tier}},
      [v = *v, vm_id](Ledger& ledger) { return ledger.AttachVolume(vm_id, v); }, true);
}

Result<Reply> VolumeService::Detach(const Principal& p, const std::string& vm_id,
                                    const std::string& name) {
  return Run(
      p, vm_id, "volume.detach", "", "", {{"volume", name}},
      [vm_id, name](Ledger& ledger) { return ledger.DetachVolume(vm_id, name); }, false);
}

Result<Reply> VolumeService::Migrate(const Principal& p, const std::string& vm_id,
                                     const std::string& name, const std::string& body,
                                     const std::string& key) {
  Result<nlohmann::json> j = ParseJsonObject(body);
  Result<std::string> tier = j.ok() ? ParseVolumeMigrateSpec(*j) : Result<std::string>(j.status());
  if (!tier.ok()) return ctx_.Refuse(p, "volume.migrate", "vm/" + vm_id, tier.status());
  const std::string hash =
      store::Sha256Hex("POST /v1/vms/" + vm_id + "/volumes/" + name + "/migrate\n" + body);
  return Run(
      p, vm_id, "volume.migrate", key, hash, {{"volume", name}, {"tier", *tier}},
      [vm_id, name, tier = *tier](Ledger& ledger) {
        return ledger.MigrateVolume(vm_id, name, tier);
      },
      false);
}

Result<Reply> VolumeService::Run(const Principal& p, const std::string& vm_id,
                                 const std::string& operation, const std::string& key,
                                 const std::string& hash, nlohmann::json detail, Change change,
                                 bool created) {
  return ctx_.Run([this, p, vm_id, operation, key, hash, detail, change, created](
                      store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, operation, "vm/" + vm_id);
    r.audit.detail_json = JsonText(detail);
    const VmEntry* vm = ledger.FindVm(vm_id);
    if (vm == nullptr) return VmNotFound(vm_id);
    DS_RETURN_IF_ERROR(
        AuthorizeOnVm(p, operation, vm->record.tenant_id, vm->record.host, VmNotFound(vm_id)));
    if (vm->record.power == kPowerDeleted) {
      return Status::FailedPrecondition("vm " + vm_id + " is being deleted");
    }
    if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
      r.write_audit = false;
      return *replay;
    }
    const std::string host = vm->record.host;
    Result<VmEntry> previous = change(ledger);
    if (!previous.ok()) {
      nlohmann::json refused = detail;
      refused["message"] = previous.status().message();
      r.audit.detail_json = JsonText(refused);
      return previous.status();
    }
    const uint64_t old_gen = ledger.FindHost(host)->record.generation;
    r.undo = [&ledger, prev = *previous, host, old_gen] {
      (void)ledger.ReplaceVm(prev);
      ledger.SetHostGeneration(host, old_gen);
    };
    Result<uint64_t> gen = tx.GuardHost(host, old_gen);
    if (!gen.ok()) return ServiceContext::RetryIfStale(r, gen.status());
    VmEntry updated = *ledger.FindVm(vm_id);
    updated.record.spec_json = JsonText(updated.spec.normalized);
    updated.record.allocation_json = JsonText(AllocationToJson(updated.allocation));
    updated.record.updated_unix_ms = ctx_.Now();
    DS_RETURN_IF_ERROR(tx.UpdateVm(updated.record));
    (void)ledger.ReplaceVm(updated);
    ledger.SetHostGeneration(host, *gen);
    const nlohmann::json volumes = VolumesJson(updated);
    Reply reply = created ? Reply::Created(volumes) : Reply::Ok(volumes);
    DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    r.audit.outcome = "ok";
    nlohmann::json done = detail;
    done["host"] = host;
    done["allocation"] = AllocationToJson(updated.allocation);
    r.audit.detail_json = JsonText(done);
    return reply;
  });
}

}  // namespace devshare::server
