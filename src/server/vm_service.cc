// VmService: VM operations and their JSON view.
#include "server/vm_service.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"
#include "server/json_fields.h"
#include "server/right_sizing.h"

namespace devshare::server {
namespace {

Status Unschedulable(const placement::PlacementOutcome& outcome, const Ledger& ledger,
                     const VmSpec& spec, const std::string& tenant,
                     const std::vector<ClosedHost>& closed) {
  nlohmann::json reasons = nlohmann::json::array();
  for (const placement::Reason& why : outcome.reasons) {
    reasons.push_back({{"filter", why.plugin},
                       {"resource", why.resource},
                       {"hosts", why.hosts},
                       {"example", why.message}});
  }
  const int hosts = static_cast<int>(ledger.cluster().states.size());
  const nlohmann::json details = {
      {"reasons", reasons}, {"candidates", ledger.ExplainCandidates(spec, tenant, 5, closed)}};
  return Status::FailedPrecondition(outcome.Summary(hosts))
      .WithReason("unschedulable", JsonText(details));
}

}  // namespace

nlohmann::json VmService::VmJson(const ServiceContext& ctx, const VmEntry& vm) {
  nlohmann::json j = vm.spec.normalized;
  j["id"] = vm.record.id;
  j["tenant_id"] = vm.record.tenant_id;
  j["host"] = vm.record.host;
  j["state"] = vm.record.state;
  if (!vm.record.state_detail.empty()) j["state_detail"] = vm.record.state_detail;
  j["power"] = vm.record.power == kPowerDeleted ? "stopped" : vm.record.power;
  if (vm.record.power == kPowerDeleted) j["state"] = "deleting";
  const HostEntry* host = ctx.ledger().FindHost(vm.record.host);
  if (host != nullptr && ctx.Unreachable(*host)) {
    // The last word of an agent that stopped talking is not the VM's state any more.
    j["last_state"] = j["state"];
    j["state"] = "unknown";
  }
  j["policy"] = vm.spec.policy.empty() ? ctx.options().default_policy : vm.spec.policy;
  j["devices"] = AllocationToJson(vm.allocation)["devices"];
  j["created_unix_ms"] = vm.record.created_unix_ms;
  j["updated_unix_ms"] = vm.record.updated_unix_ms;
  if (ctx.rightsizing() != nullptr) {
    nlohmann::json rs = ctx.rightsizing()->VmJson(vm.record.id);
    if (!rs.is_null()) j["rightsizing"] = std::move(rs);
  }
  return j;
}

Result<Reply> VmService::Create(const Principal& p, const std::string& body,
                                const std::string& key) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "vm.create", "vm"));
  Result<nlohmann::json> j = ParseJsonObject(body);
  if (!j.ok()) return ctx_.Refuse(p, "vm.create", "vm", j.status());
  Result<VmSpec> parsed = ParseVmSpec(*j);
  if (!parsed.ok()) return ctx_.Refuse(p, "vm.create", "vm", parsed.status());
  const std::string hash = store::Sha256Hex("POST /v1/vms\n" + body);
  Result<Reply> created = ctx_.Run([this, p, key, hash, spec = std::move(*parsed)](
                                       store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "vm.create", "vm/" + spec.name);
    if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
      r.write_audit = false;
      return *replay;
    }
    if (!spec.image.empty() && ledger.FindImage(spec.image) == nullptr) {
      std::string known;
      for (const auto& [name, image] : ledger.images()) known += (known.empty() ? "" : ", ") + name;
      return Status::InvalidArgument("field 'image': unknown image '" + spec.image +
                                     "' (known: " + (known.empty() ? "none" : known) + ")");
    }
    const std::string id = ctx_.NewId("vm");
    const std::vector<ClosedHost> closed = ctx_.ClosedHosts();
    DS_ASSIGN_OR_RETURN(const placement::PlacementOutcome outcome,
                        ledger.Place(id, p.tenant_id, spec, closed));
    if (!outcome.placed()) {
      Status refused = Unschedulable(outcome, ledger, spec, p.tenant_id, closed);
      r.audit.detail_json = JsonText(nlohmann::json({{"message", refused.message()}}));
      return refused;
    }
    const Allocation a = outcome.allocation;
    r.undo = [&ledger, a] { ledger.ReleasePlacement(a); };
    const uint64_t old_gen = ledger.FindHost(a.host_id)->record.generation;
    Result<uint64_t> gen = tx.GuardHost(a.host_id, old_gen);
    if (!gen.ok()) return ServiceContext::RetryIfStale(r, gen.status());
    const int64_t now = ctx_.Now();
    const nlohmann::json alloc = AllocationToJson(a);
    // A host with an agent realizes the VM once it sees it in its desired state.
    const bool managed = ledger.FindHost(a.host_id)->record.managed;
    store::VmRecord rec{id,
                        p.tenant_id,
                        spec.name,
                        a.host_id,
                        JsonText(spec.normalized),
                        JsonText(alloc),
                        managed ? "creating" : "allocated",
                        now,
                        now,
                        /*power=*/"running",
                        /*reboot_seq=*/0,
                        /*state_detail=*/""};
    DS_RETURN_IF_ERROR(tx.InsertVm(rec));
    VmEntry entry{rec, spec, a};
    entry.spec.request.id = id;
    entry.spec.request.tenant = p.tenant_id;
    ledger.AddVm(entry);
    ledger.SetHostGeneration(a.host_id, *gen);
    r.undo = [&ledger, id, host = a.host_id, old_gen] {
      (void)ledger.RemoveVm(id);
      ledger.SetHostGeneration(host, old_gen);
    };
    Reply reply = Reply::Created(VmJson(ctx_, entry));
    DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    r.audit.object = "vm/" + id;
    r.audit.outcome = "ok";
    r.audit.detail_json =
        JsonText(nlohmann::json({{"host", a.host_id}, {"name", spec.name}, {"allocation", alloc}}));
    return reply;
  });
  return created;
}

Result<Reply> VmService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(Authorize(p, "vm.list"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  std::vector<const VmEntry*> mine;
  for (const auto& [id, vm] : ctx_.ledger().vms()) {
    if (AuthorizeOnVm(p, "vm.list", vm.record.tenant_id, vm.record.host, VmNotFound(id)).ok()) {
      mine.push_back(&vm);
    }
  }
  std::sort(mine.begin(), mine.end(), [](const VmEntry* a, const VmEntry* b) {
    return std::tie(a->record.created_unix_ms, a->record.id) <
           std::tie(b->record.created_unix_ms, b->record.id);
  });
  nlohmann::json list = nlohmann::json::array();
  for (const VmEntry* vm : mine) list.push_back(VmJson(ctx_, *vm));
  return Reply::Ok({{"vms", list}});
}

Result<Reply> VmService::Get(const Principal& p, const std::string& id) {
  return ctx_.ReadVm(p, "vm.get", id, [this](const VmEntry& vm) { return VmJson(ctx_, vm); });
}

Result<Reply> VmService::Delete(const Principal& p, const std::string& id, bool force) {
  if (force && !p.operator_admin()) {
    return ctx_.Refuse(p, "vm.delete", "vm/" + id,
                       Status::PermissionDenied("only an admin of the system tenant forces a "
                                                "delete past the host's agent"));
  }
  return ctx_.Run([this, p, id, force](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "vm.delete", "vm/" + id);
    const VmEntry* vm = ledger.FindVm(id);
    if (vm == nullptr) return VmNotFound(id);
    DS_RETURN_IF_ERROR(
        AuthorizeOnVm(p, "vm.delete", vm->record.tenant_id, vm->record.host, VmNotFound(id)));
    const bool managed = ledger.FindHost(vm->record.host)->record.managed;
    if (managed && !force) {
      // Two-phase: the agent removes the domain, its next heartbeat frees the allocation.
      if (vm->record.power != kPowerDeleted) {
        VmEntry updated = *vm;
        updated.record.power = kPowerDeleted;
        updated.record.updated_unix_ms = ctx_.Now();
        DS_RETURN_IF_ERROR(tx.UpdateVm(updated.record));
        VmEntry previous = *vm;
        (void)ledger.ReplaceVm(updated);
        r.undo = [&ledger, previous] { (void)ledger.ReplaceVm(previous); };
      } else {
        r.write_audit = false;  // a repeat changes nothing
      }
      r.audit.outcome = "ok";
      r.audit.detail_json =
          JsonText(nlohmann::json({{"host", vm->record.host}, {"phase", "deleting"}}));
      return Reply::Accepted(VmJson(ctx_, *ledger.FindVm(id)));
    }
    DS_ASSIGN_OR_RETURN(const VmEntry removed, ctx_.RemoveVmInTxn(tx, id, r));
    ctx_.consoles().Drop(id);
    r.audit.outcome = "ok";
    r.audit.detail_json =
        JsonText(nlohmann::json({{"host", removed.record.host}, {"forced", force}}));
    return Reply::Ok({{"id", id}, {"deleted", true}});
  });
}

Result<Reply> VmService::Power(const Principal& p, const std::string& id,
                               const std::string& action) {
  if (action != "start" && action != "stop" && action != "reboot") {
    return Status::NotFound("unknown action '" + action + "' (known: start, stop, reboot)");
  }
  return ctx_.Run([this, p, id, action](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "vm." + action, "vm/" + id);
    const VmEntry* vm = ledger.FindVm(id);
    if (vm == nullptr) return VmNotFound(id);
    DS_RETURN_IF_ERROR(
        AuthorizeOnVm(p, "vm.power", vm->record.tenant_id, vm->record.host, VmNotFound(id)));
    if (!ledger.FindHost(vm->record.host)->record.managed) {
      return Status::FailedPrecondition("host " + vm->record.host +
                                        " has no agent: nothing runs the VM to " + action);
    }
    if (vm->record.power == kPowerDeleted) {
      return Status::FailedPrecondition("vm " + id + " is being deleted");
    }
    VmEntry updated = *vm;
    updated.record.power = action == "stop" ? "stopped" : "running";
    if (action == "reboot") ++updated.record.reboot_seq;
    updated.record.updated_unix_ms = ctx_.Now();
    DS_RETURN_IF_ERROR(tx.UpdateVm(updated.record));
    VmEntry previous = *vm;
    (void)ledger.ReplaceVm(updated);
    r.undo = [&ledger, previous] { (void)ledger.ReplaceVm(previous); };
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json(
        {{"power", updated.record.power}, {"reboot_seq", updated.record.reboot_seq}}));
    return Reply::Accepted(VmJson(ctx_, updated));
  });
}

Result<Reply> VmService::Resize(const Principal& p, const std::string& id, const std::string& body,
                                const std::string& key) {
  Result<nlohmann::json> j = ParseJsonObject(body);
  Result<ResizeSpec> spec = j.ok() ? ParseResizeSpec(*j) : Result<ResizeSpec>(j.status());
  if (!spec.ok()) return ctx_.Refuse(p, "vm.resize", "vm/" + id, spec.status());
  const std::string hash = store::Sha256Hex("POST /v1/vms/" + id + "/resize\n" + body);
  return ApplyResize(p, id, *spec, key, hash, nlohmann::json::object());
}

Result<Reply> VmService::ApplyResize(const Principal& p, const std::string& id,
                                     const ResizeSpec& spec, const std::string& key,
                                     const std::string& hash, const nlohmann::json& audit_extra) {
  Result<Reply> resized = ctx_.Run(
      [this, p, id, key, hash, spec, audit_extra](store::Txn& tx, OpResult& r) -> Result<Reply> {
        Ledger& ledger = ctx_.ledger();
        r.audit = ctx_.Audit(p, "vm.resize", "vm/" + id);
        if (!audit_extra.empty()) r.audit.detail_json = JsonText(audit_extra);
        const VmEntry* vm = ledger.FindVm(id);
        if (vm == nullptr) return VmNotFound(id);
        DS_RETURN_IF_ERROR(
            AuthorizeOnVm(p, "vm.resize", vm->record.tenant_id, vm->record.host, VmNotFound(id)));
        if (vm->record.power == kPowerDeleted) {
          return Status::FailedPrecondition("vm " + id + " is being deleted");
        }
        if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
          r.write_audit = false;
          return *replay;
        }
        const std::string host = vm->record.host;
        Result<VmEntry> previous = ledger.Resize(id, spec);
        if (!previous.ok()) {
          // A field the VM cannot take (unknown volume, shrinking volume, NIC index) is the
          // body's fault: 400. A GPU share without room on its GPU (or, with move, on any GPU
          // of the host) answers 409 gpu_memory_full / gpu_full. Everything else is the host's
          // lack of room: 409 no_room.
          if (previous.status().IsInvalidArgument()) return previous.status();
          if (previous.status().reason() == "gpu_memory_full" ||
              previous.status().reason() == "gpu_full") {
            nlohmann::json detail = audit_extra;
            detail["message"] = previous.status().message();
            detail["reason"] = previous.status().reason();
            r.audit.detail_json = JsonText(detail);
            return previous.status();
          }
          return Status::ResourceExhausted(previous.status().message())
              .WithReason("no_room", std::string(previous.status().details_json()));
        }
        const uint64_t old_gen = ledger.FindHost(host)->record.generation;
        r.undo = [&ledger, prev = *previous, host, old_gen] {
          (void)ledger.ReplaceVm(prev);
          ledger.SetHostGeneration(host, old_gen);
        };
        Result<uint64_t> gen = tx.GuardHost(host, old_gen);
        if (!gen.ok()) return ServiceContext::RetryIfStale(r, gen.status());
        const VmEntry& now = *ledger.FindVm(id);
        store::VmRecord rec = now.record;
        rec.spec_json = JsonText(now.spec.normalized);
        rec.allocation_json = JsonText(AllocationToJson(now.allocation));
        rec.updated_unix_ms = ctx_.Now();
        DS_RETURN_IF_ERROR(tx.UpdateVm(rec));
        VmEntry updated = now;
        updated.record = rec;
        (void)ledger.ReplaceVm(updated);
        ledger.SetHostGeneration(host, *gen);
        Reply reply = Reply::Ok(VmJson(ctx_, updated));
        DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
        r.audit.outcome = "ok";
        nlohmann::json detail = audit_extra;
        detail["host"] = host;
        detail["allocation"] = AllocationToJson(updated.allocation);
        if (!previous->allocation.gpus.empty() && !updated.allocation.gpus.empty() &&
            previous->allocation.gpus[0].device_id != updated.allocation.gpus[0].device_id) {
          detail["gpu_moved"] = {{"from", previous->allocation.gpus[0].device_id},
                                 {"to", updated.allocation.gpus[0].device_id}};
        }
        r.audit.detail_json = JsonText(detail);
        return reply;
      });
  return resized;
}

std::vector<std::string> VmService::IdsOnHost(const std::string& host) const {
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  const std::set<std::string>& ids = ctx_.ledger().VmIdsOnHost(host);
  return {ids.begin(), ids.end()};
}

}  // namespace devshare::server
