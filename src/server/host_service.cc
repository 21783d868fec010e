// HostService: host inventory operations and their JSON views.
#include "server/host_service.h"

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "server/authorizer.h"
#include "server/host_spec.h"
#include "server/json_fields.h"
#include "server/usage_view.h"

namespace devshare::server {

nlohmann::json HostService::HostJson(const HostEntry& h, bool with_devices) const {
  const Ledger& ledger = ctx_.ledger();
  const HostState& s = ledger.host_state(ledger.host_index().at(h.record.name));
  nlohmann::json j = {{"name", h.record.name},
                      {"generation", h.record.generation},
                      {"updated_unix_ms", h.record.updated_unix_ms},
                      {"schedule", h.record.schedule},
                      {"status", ctx_.HostStatus(h)},
                      {"usage", HostUsageJson(s, with_devices)}};
  if (h.record.managed) {
    const int64_t heard = ctx_.fleet().LastHeardUnixMs(h.record.name);
    j["last_heartbeat_unix_ms"] = heard == 0 ? nlohmann::json(nullptr) : nlohmann::json(heard);
  }
  j["vms"] = ledger.VmIdsOnHost(h.record.name).size();
  if (with_devices) j["inventory"] = h.inventory;
  return j;
}

Result<Reply> HostService::Put(const Principal& p, const std::string& name,
                               const std::string& body) {
  const std::string object = "host/" + name;
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.put", name));
  Result<nlohmann::json> j = ParseJsonObject(body);
  if (!j.ok()) return ctx_.Refuse(p, "host.put", object, j.status());
  Result<HostSpec> spec = ParseHostSpec(name, *j);
  if (!spec.ok()) return ctx_.Refuse(p, "host.put", object, spec.status());
  Result<Reply> put = ctx_.Run([this, p, name, object, spec = std::move(*spec)](
                                   store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "host.put", object);
    const HostEntry* existing = ledger.FindHost(name);
    std::optional<HostEntry> previous;
    std::optional<Host> previous_host;
    if (existing != nullptr) {
      previous = *existing;
      previous_host = ledger.cluster().hosts[ledger.host_index().at(name)];
    }
    const uint64_t expected = existing != nullptr ? existing->record.generation : 0;
    const std::string inventory = JsonText(spec.normalized);
    Result<uint64_t> gen = tx.PutHost(name, inventory, expected, ctx_.Now());
    if (!gen.ok()) return ServiceContext::RetryIfStale(r, gen.status());
    store::HostRecord rec{name, inventory, *gen, ctx_.Now()};
    if (existing != nullptr) {
      rec.schedule = existing->record.schedule;
      rec.managed = existing->record.managed;
    }
    Status s = ledger.PutHost(rec, spec.host, spec.normalized);
    if (!s.ok()) {
      return Status::FailedPrecondition(s.message()).WithReason("inventory_in_use");
    }
    r.undo = [&ledger, name, previous, previous_host] {
      ledger.RestoreHost(name, previous ? &*previous : nullptr,
                         previous_host ? &*previous_host : nullptr);
    };
    // Registered by its own agent: the host is managed from now on (it can be unreachable).
    if (p.agent() && !rec.managed) {
      DS_RETURN_IF_ERROR(ctx_.WriteHostStatus(tx, r, name, rec.schedule, true));
    }
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"generation", *gen}}));
    nlohmann::json answer = HostJson(*ledger.FindHost(name), true);
    return existing == nullptr ? Reply::Created(std::move(answer)) : Reply::Ok(std::move(answer));
  });
  if (put.ok() && p.agent()) ctx_.fleet().Heard(name);
  return put;
}

Result<Reply> HostService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "host.list", "host"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, index] : ctx_.ledger().host_index()) {
    list.push_back(HostJson(*ctx_.ledger().FindHost(name), false));
  }
  return Reply::Ok({{"hosts", list}});
}

Result<Reply> HostService::Get(const Principal& p, const std::string& name) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.get", name));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  const HostEntry* h = ctx_.ledger().FindHost(name);
  if (h == nullptr) return Status::NotFound("host '" + name + "' not found");
  return Reply::Ok(HostJson(*h, true));
}

namespace {

Status HostNotFound(const std::string& name) {
  return Status::NotFound("host '" + name + "' not found");
}

// A copy of the index (callers change it while they walk it).
std::vector<std::string> VmIdsOn(const Ledger& ledger, const std::string& host) {
  const std::set<std::string>& ids = ledger.VmIdsOnHost(host);
  return {ids.begin(), ids.end()};
}

Status HostInUse(const std::string& name, const std::vector<std::string>& vms,
                 const std::string& hint) {
  std::string list;
  for (size_t i = 0; i < vms.size() && i < 10; ++i) list += (i == 0 ? "" : ", ") + vms[i];
  if (vms.size() > 10) list += ", ...";
  return Status::FailedPrecondition("host " + name + " still holds " + std::to_string(vms.size()) +
                                    " VM(s) (" + list + "); " + hint)
      .WithReason("host_in_use", JsonText(nlohmann::json({{"host", name}, {"vms", vms}})));
}

}  // namespace

Result<Reply> HostService::SetSchedule(const Principal& p, const std::string& name,
                                       const std::string& action) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.cordon", name));
  const std::string schedule = action == "cordon" ? "cordoned" : "open";
  return ctx_.Run([this, p, name, action, schedule](store::Txn& tx, OpResult& r) -> Result<Reply> {
    r.audit = ctx_.Audit(p, "host." + action, "host/" + name);
    const HostEntry* h = ctx_.ledger().FindHost(name);
    if (h == nullptr) return HostNotFound(name);
    if (h->record.schedule == schedule) {
      r.write_audit = false;  // nothing changes
    } else {
      DS_RETURN_IF_ERROR(ctx_.WriteHostStatus(tx, r, name, schedule, h->record.managed));
    }
    r.audit.outcome = "ok";
    return Reply::Ok(HostJson(*ctx_.ledger().FindHost(name), false));
  });
}

Result<nlohmann::json> HostService::ReplaceAll(store::Txn& tx, OpResult& r,
                                               const std::string& name) {
  Ledger& ledger = ctx_.ledger();
  nlohmann::json moves = nlohmann::json::array();
  for (const std::string& id : VmIdsOn(ledger, name)) {
    const VmEntry* vm = ledger.FindVm(id);
    if (vm->record.power == kPowerDeleted) continue;            // going anyway
    const std::vector<ClosedHost> closed = ctx_.ClosedHosts();  // `name` is draining already
    DS_ASSIGN_OR_RETURN(const VmEntry old, ctx_.RemoveVmInTxn(tx, id, r));
    DS_ASSIGN_OR_RETURN(
        const placement::PlacementOutcome outcome,
        ledger.Place(id, old.record.tenant_id, old.spec, closed, &old.allocation.nics));
    if (!outcome.placed()) {
      return Status::FailedPrecondition(
                 "cannot drain " + name + ": vm " + id + " fits on no other host: " +
                 outcome.Summary(static_cast<int>(ledger.cluster().hosts.size())))
          .WithReason("unschedulable");
    }
    // Placed (applied to the cluster) but not yet a VM of the ledger: a failure before AddVm
    // releases it here; after AddVm the chained RemoveVm undo frees it.
    const Allocation a = outcome.allocation;
    const uint64_t old_gen = ledger.FindHost(a.host_id)->record.generation;
    Result<uint64_t> gen = tx.GuardHost(a.host_id, old_gen);
    if (!gen.ok()) {
      ledger.ReleasePlacement(a);
      return ServiceContext::RetryIfStale(r, gen.status());
    }
    VmEntry moved = old;
    moved.allocation = a;
    moved.record.host = a.host_id;
    moved.record.allocation_json = JsonText(AllocationToJson(a));
    moved.record.state = ledger.FindHost(a.host_id)->record.managed ? "creating" : "allocated";
    moved.record.state_detail = "re-placed from " + name + " by a drain";
    moved.record.updated_unix_ms = ctx_.Now();
    if (Status inserted = tx.InsertVm(moved.record); !inserted.ok()) {
      ledger.ReleasePlacement(a);
      return inserted;
    }
    ledger.AddVm(moved);
    ledger.SetHostGeneration(a.host_id, *gen);
    ServiceContext::ChainUndo(r, [&ledger, id, host = a.host_id, old_gen] {
      (void)ledger.RemoveVm(id);
      ledger.SetHostGeneration(host, old_gen);
    });
    ctx_.consoles().Drop(id);
    moves.push_back(
        {{"vm", id}, {"from", name}, {"to", a.host_id}, {"allocation", AllocationToJson(a)}});
  }
  return moves;
}

Result<Reply> HostService::Drain(const Principal& p, const std::string& name, bool replace) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.drain", name));
  return ctx_.Run([this, p, name, replace](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "host.drain", "host/" + name);
    const HostEntry* h = ledger.FindHost(name);
    if (h == nullptr) return HostNotFound(name);
    if (h->record.schedule != "draining") {
      DS_RETURN_IF_ERROR(ctx_.WriteHostStatus(tx, r, name, "draining", h->record.managed));
    }
    nlohmann::json moves = nlohmann::json::array();
    if (replace) {
      DS_ASSIGN_OR_RETURN(moves, ReplaceAll(tx, r, name));
    }
    const std::vector<std::string> left = VmIdsOn(ledger, name);
    r.audit.detail_json = JsonText(nlohmann::json({{"moves", moves}, {"left", left}}));
    if (!left.empty()) {
      // The schedule change stands (no new VMs land here); the caller decides about the rest.
      r.keep = true;
      return HostInUse(
          name, left,
          replace ? "they are being deleted" : "move them with drain --replace or delete them");
    }
    r.audit.outcome = "ok";
    nlohmann::json answer = HostJson(*ledger.FindHost(name), false);
    answer["moves"] = moves;
    return Reply::Ok(std::move(answer));
  });
}

Result<Reply> HostService::Delete(const Principal& p, const std::string& name) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.delete", name));
  Result<Reply> out = ctx_.Run([this, p, name](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "host.delete", "host/" + name);
    const HostEntry* h = ledger.FindHost(name);
    if (h == nullptr) return HostNotFound(name);
    const std::vector<std::string> left = VmIdsOn(ledger, name);
    if (!left.empty()) return HostInUse(name, left, "drain it first");
    DS_RETURN_IF_ERROR(tx.DeleteHost(name, h->record.generation));
    const HostEntry previous = *h;
    const Host previous_host = ledger.cluster().hosts[ledger.host_index().at(name)];
    DS_RETURN_IF_ERROR(ledger.RemoveHost(name));
    std::vector<store::TokenRecord> tokens;
    for (const auto& [sha, t] : ledger.tokens()) {
      if (t.role == "agent" && t.host == name) tokens.push_back(t);
    }
    for (const store::TokenRecord& t : tokens) ledger.RemoveToken(t.sha256_hex);
    r.undo = [&ledger, previous, previous_host, tokens] {
      (void)ledger.PutHost(previous.record, previous_host, previous.inventory);
      for (const store::TokenRecord& t : tokens) ledger.AddToken(t);
    };
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"agent_tokens_revoked", tokens.size()}}));
    return Reply::Ok({{"name", name}, {"deleted", true}});
  });
  if (out.ok()) ctx_.fleet().Forget(name);
  return out;
}

}  // namespace devshare::server
