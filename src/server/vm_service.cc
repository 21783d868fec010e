// VmService: VM operations and their JSON view.
#include "server/vm_service.h"

#include <algorithm>
#include <tuple>

#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

Status VmNotFound(const std::string& id) { return Status::NotFound("vm '" + id + "' not found"); }

// The answer as it goes out (a replay carries the stored one).
nlohmann::json& BodyOf(Reply& r) { return r.replayed ? r.replayed->body : r.body; }

Status Unschedulable(const placement::PlacementOutcome& outcome, const Ledger& ledger,
                     const VmSpec& spec, const std::string& tenant) {
  nlohmann::json reasons = nlohmann::json::array();
  for (const placement::Reason& why : outcome.reasons) {
    reasons.push_back({{"filter", why.plugin},
                       {"resource", why.resource},
                       {"hosts", why.hosts},
                       {"example", why.message}});
  }
  const int hosts = static_cast<int>(ledger.cluster().states.size());
  const nlohmann::json details = {{"reasons", reasons},
                                  {"candidates", ledger.ExplainCandidates(spec, tenant, 5)}};
  return Status::FailedPrecondition(outcome.Summary(hosts))
      .WithReason("unschedulable", JsonText(details));
}

}  // namespace

nlohmann::json VmService::VmJson(const VmEntry& vm) const {
  nlohmann::json j = vm.spec.normalized;
  j["id"] = vm.record.id;
  j["tenant_id"] = vm.record.tenant_id;
  j["host"] = vm.record.host;
  j["state"] = vm.record.state;
  j["policy"] = vm.spec.policy.empty() ? ctx_.options().default_policy : vm.spec.policy;
  j["devices"] = AllocationToJson(vm.allocation)["devices"];
  j["created_unix_ms"] = vm.record.created_unix_ms;
  j["updated_unix_ms"] = vm.record.updated_unix_ms;
  return j;
}

host::GuestRequest VmService::GuestFor(const VmEntry& vm) {
  host::GuestRequest g;
  g.vm_id = vm.record.id;
  g.tenant = vm.record.tenant_id;
  g.allocation = vm.allocation;
  g.qos = vm.spec.qos;
  return g;
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
    const std::string id = ctx_.NewId("vm");
    DS_ASSIGN_OR_RETURN(const placement::PlacementOutcome outcome,
                        ledger.Place(id, p.tenant_id, spec));
    if (!outcome.placed()) {
      Status refused = Unschedulable(outcome, ledger, spec, p.tenant_id);
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
    // On the local host the VM is answered only after libvirt has it (FinishLocalCreate).
    const bool realize = ctx_.IsLocal(a.host_id);
    store::VmRecord rec{id,
                        p.tenant_id,
                        spec.name,
                        a.host_id,
                        JsonText(spec.normalized),
                        JsonText(alloc),
                        realize ? "creating" : "allocated",
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
    Reply reply = Reply::Created(VmJson(entry));
    if (!realize) DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    r.audit.object = "vm/" + id;
    r.audit.outcome = "ok";
    r.audit.detail_json =
        JsonText(nlohmann::json({{"host", a.host_id}, {"name", spec.name}, {"allocation", alloc}}));
    return reply;
  });
  const ApiResponse answer = ToResponse(created);
  if (answer.status == 201 && answer.body.value("state", std::string()) == "creating") {
    return FinishLocalCreate(p, answer.body["id"].get<std::string>(), key, hash);
  }
  return created;
}

Result<Reply> VmService::FinishLocalCreate(const Principal& p, const std::string& vm_id,
                                           const std::string& key,
                                           const std::string& request_hash) {
  host::GuestRequest guest;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const VmEntry* vm = ctx_.ledger().FindVm(vm_id);
    if (vm == nullptr) {
      return Status::FailedPrecondition("vm " + vm_id + " was deleted while being created");
    }
    guest = GuestFor(*vm);
  }
  Result<host::DomainStatus> realized = ctx_.options().local_agent->Realize(guest);
  return ctx_.Run([this, p, vm_id, key, request_hash, realized](store::Txn& tx,
                                                                OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "vm.realize", "vm/" + vm_id);
    const VmEntry* vm = ledger.FindVm(vm_id);
    if (vm == nullptr) {
      return Status::FailedPrecondition("vm " + vm_id + " was deleted while created");
    }
    if (realized.ok()) {
      VmEntry updated = *vm;
      updated.record.state = std::string(host::DomainStateName(realized->state));
      updated.record.updated_unix_ms = ctx_.Now();
      DS_RETURN_IF_ERROR(tx.UpdateVm(updated.record));
      VmEntry previous = *vm;
      (void)ledger.ReplaceVm(updated);
      r.undo = [&ledger, previous] { (void)ledger.ReplaceVm(previous); };
      Reply reply = Reply::Created(VmJson(updated));
      reply.body["domain"] = realized->name;
      DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, request_hash, ToResponse(reply)));
      r.audit.outcome = "ok";
      r.audit.detail_json =
          JsonText(nlohmann::json({{"domain", realized->name}, {"state", updated.record.state}}));
      return reply;
    }
    // libvirt refused: the allocation is rolled back (deleted), and the refusal audited.
    DS_ASSIGN_OR_RETURN(const VmEntry removed, RemoveInTxn(tx, vm_id, r));
    const std::string host_name = removed.record.host;
    r.audit.outcome = "realization_failed";
    r.audit.detail_json = JsonText(nlohmann::json({{"error", realized.status().message()}}));
    r.keep = true;  // the deletion of the allocation is the point
    return Status::Unavailable("host " + host_name +
                               " could not start the VM: " + realized.status().message())
        .WithReason("realization_failed",
                    JsonText({{"host", host_name}, {"vm", vm_id}, {"rolled_back", true}}));
  });
}

Result<VmEntry> VmService::RemoveInTxn(store::Txn& tx, const std::string& id, OpResult& r) {
  Ledger& ledger = ctx_.ledger();
  const std::string host = ledger.FindVm(id)->record.host;
  const uint64_t old_gen = ledger.FindHost(host)->record.generation;
  Result<uint64_t> gen = tx.GuardHost(host, old_gen);
  Status s = gen.ok() ? tx.DeleteVm(id) : gen.status();
  Result<VmEntry> removed = s.ok() ? ledger.RemoveVm(id) : Result<VmEntry>(s);
  if (!removed.ok()) return ServiceContext::RetryIfStale(r, removed.status());
  ledger.SetHostGeneration(host, *gen);
  r.undo = [&ledger, vm = *removed, host, old_gen] {
    (void)ledger.RestoreVm(vm);
    ledger.SetHostGeneration(host, old_gen);
  };
  return removed;
}

Result<Reply> VmService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(Authorize(p, "vm.list"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  std::vector<const VmEntry*> mine;
  for (const auto& [id, vm] : ctx_.ledger().vms()) {
    if (AuthorizeOn(p, "vm.list", vm.record.tenant_id, VmNotFound(id)).ok()) mine.push_back(&vm);
  }
  std::sort(mine.begin(), mine.end(), [](const VmEntry* a, const VmEntry* b) {
    return std::tie(a->record.created_unix_ms, a->record.id) <
           std::tie(b->record.created_unix_ms, b->record.id);
  });
  nlohmann::json list = nlohmann::json::array();
  for (const VmEntry* vm : mine) list.push_back(VmJson(*vm));
  return Reply::Ok({{"vms", list}});
}

Result<Reply> VmService::Get(const Principal& p, const std::string& id) {
  DS_RETURN_IF_ERROR(Authorize(p, "vm.get"));
  Reply r;
  Status visible;
  bool live = false;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const VmEntry* vm = ctx_.ledger().FindVm(id);
    if (vm == nullptr) return VmNotFound(id);
    visible = AuthorizeOn(p, "vm.get", vm->record.tenant_id, VmNotFound(id));
    if (visible.ok()) {
      r.body = VmJson(*vm);
      live = ctx_.IsLocal(vm->record.host) && vm->record.state != "creating";
    }
  }
  // Another tenant's VM: answered exactly like a missing one, and audited as a denial.
  if (!visible.ok()) return ctx_.Refuse(p, "vm.get", "vm/" + id, visible);
  if (live) {
    // The live state asks libvirt: outside the ledger lock, so the writer never waits on it.
    Result<host::DomainStatus> st = ctx_.options().local_agent->State(id);
    if (st.ok()) {
      r.body["state"] = std::string(host::DomainStateName(st->state));
      r.body["domain"] = st->name;
      if (!st->detail.empty()) r.body["state_detail"] = st->detail;
    } else {
      r.body["state"] = "failed";
      r.body["state_detail"] = st.status().message();
    }
  }
  return r;
}

Result<Reply> VmService::Delete(const Principal& p, const std::string& id) {
  if (ctx_.options().local_agent != nullptr) {
    bool local = false;
    {
      std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
      const VmEntry* vm = ctx_.ledger().FindVm(id);
      local = vm != nullptr && ctx_.IsLocal(vm->record.host) &&
              AuthorizeOn(p, "vm.delete", vm->record.tenant_id, VmNotFound(id)).ok();
    }
    // The domain goes first: an allocation is never freed while its guest still runs.
    if (local) {
      Status removed = ctx_.options().local_agent->Remove(id);
      if (!removed.ok()) {
        return ctx_.Refuse(
            p, "vm.delete", "vm/" + id,
            Status::Unavailable("could not destroy the VM's domain: " + removed.message())
                .WithReason("realization_failed"));
      }
    }
  }
  return ctx_.Run([this, p, id](store::Txn& tx, OpResult& r) -> Result<Reply> {
    r.audit = ctx_.Audit(p, "vm.delete", "vm/" + id);
    const VmEntry* vm = ctx_.ledger().FindVm(id);
    if (vm == nullptr) return VmNotFound(id);
    DS_RETURN_IF_ERROR(AuthorizeOn(p, "vm.delete", vm->record.tenant_id, VmNotFound(id)));
    DS_ASSIGN_OR_RETURN(const VmEntry removed, RemoveInTxn(tx, id, r));
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"host", removed.record.host}}));
    return Reply::Ok({{"id", id}, {"deleted", true}});
  });
}

Result<Reply> VmService::Resize(const Principal& p, const std::string& id, const std::string& body,
                                const std::string& key) {
  Result<nlohmann::json> j = ParseJsonObject(body);
  Result<ResizeSpec> spec = j.ok() ? ParseResizeSpec(*j) : Result<ResizeSpec>(j.status());
  if (!spec.ok()) return ctx_.Refuse(p, "vm.resize", "vm/" + id, spec.status());
  const std::string hash = store::Sha256Hex("POST /v1/vms/" + id + "/resize\n" + body);
  Result<Reply> resized = ctx_.Run(
      [this, p, id, key, hash, spec = *spec](store::Txn& tx, OpResult& r) -> Result<Reply> {
        Ledger& ledger = ctx_.ledger();
        r.audit = ctx_.Audit(p, "vm.resize", "vm/" + id);
        const VmEntry* vm = ledger.FindVm(id);
        if (vm == nullptr) return VmNotFound(id);
        DS_RETURN_IF_ERROR(AuthorizeOn(p, "vm.resize", vm->record.tenant_id, VmNotFound(id)));
        if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
          r.write_audit = false;
          return *replay;
        }
        const std::string host = vm->record.host;
        Result<VmEntry> previous = ledger.Resize(id, spec);
        if (!previous.ok()) {
          // A field the VM cannot take (unknown volume, shrinking volume, NIC index) is the
          // body's fault: 400. Everything else is the host's lack of room: 409 no_room.
          if (previous.status().IsInvalidArgument()) return previous.status();
          return Status::ResourceExhausted(previous.status().message()).WithReason("no_room");
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
        Reply reply = Reply::Ok(VmJson(updated));
        DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
        r.audit.outcome = "ok";
        r.audit.detail_json = JsonText(
            nlohmann::json({{"host", host}, {"allocation", AllocationToJson(updated.allocation)}}));
        return reply;
      });
  if (!resized.ok() || ToResponse(resized).status != 200) return resized;
  nlohmann::json& out = BodyOf(*resized);
  if (!ctx_.IsLocal(out.value("host", std::string()))) return resized;
  host::GuestRequest guest;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const VmEntry* vm = ctx_.ledger().FindVm(id);
    if (vm == nullptr) return resized;
    guest = GuestFor(*vm);
  }
  Result<host::ResizeOutcome> live = ctx_.options().local_agent->Update(guest);
  if (live.ok()) {
    out["realization"] = {
        {"cpu_live", live->cpu_live}, {"memory_live", live->memory_live}, {"notes", live->notes}};
  } else {
    out["realization"] = {{"error", live.status().message()}};
  }
  return resized;
}

std::vector<std::string> VmService::IdsOnHost(const std::string& host) const {
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  std::vector<std::string> ids;
  for (const auto& [id, vm] : ctx_.ledger().vms()) {
    if (vm.record.host == host) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> VmService::RollBackUnrealized(const std::vector<std::string>& vm_ids) {
  std::vector<std::string> rolled_back;
  const Principal system = Principal::SystemAdmin("serve-reconcile");
  for (const std::string& id : vm_ids) {
    Result<Reply> r = ctx_.Run([this, system, id](store::Txn& tx, OpResult& out) -> Result<Reply> {
      out.audit = ctx_.Audit(system, "vm.realize", "vm/" + id);
      out.write_audit = false;
      const VmEntry* vm = ctx_.ledger().FindVm(id);
      if (vm == nullptr || vm->record.state != "creating") {
        return Status::FailedPrecondition("not an unrealized vm");
      }
      DS_ASSIGN_OR_RETURN(const VmEntry removed, RemoveInTxn(tx, id, out));
      out.audit.tenant_id = removed.record.tenant_id;
      out.audit.outcome = "rolled_back_at_start";
      out.audit.detail_json = JsonText(nlohmann::json({{"host", removed.record.host}}));
      out.write_audit = true;
      return Reply::Ok({{"id", id}});
    });
    if (r.ok()) rolled_back.push_back(id);
  }
  return rolled_back;
}

}  // namespace devshare::server
