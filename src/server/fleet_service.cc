// FleetService: agent tokens, heartbeats, desired state and consoles.
#include "server/fleet_service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"
#include "server/image_service.h"
#include "server/json_fields.h"
#include "server/right_sizing.h"

namespace devshare::server {
namespace {

constexpr int64_t kMaxWaitMs = 60'000;
constexpr size_t kMaxReportedVms = 100'000;

Status HostNotFound(const std::string& name) {
  return Status::NotFound("host '" + name + "' not found (its agent registers it first)");
}

struct Observed {
  std::string state;
  std::string detail;
  std::optional<UsageSample> usage;
};

constexpr int64_t kMaxUsage = int64_t{1} << 40;

// A VM entry's "usage" (docs/rightsizing.md): every figure optional, none negative.
Result<UsageSample> ParseUsage(const nlohmann::json& j, const std::string& path) {
  FieldReader r(j, path);
  UsageSample u;
  DS_ASSIGN_OR_RETURN(u.window_ms, r.Int("window_ms", false, 0, 86'400'000, 0));
  DS_ASSIGN_OR_RETURN(u.cpu_milli, r.Int("cpu_milli", false, 0, kMaxUsage, -1));
  DS_ASSIGN_OR_RETURN(u.memory_mib, r.Int("memory_mib", false, 0, kMaxUsage, -1));
  DS_ASSIGN_OR_RETURN(u.memory_source, r.String("memory_source", false, 16));
  DS_ASSIGN_OR_RETURN(u.gpu_memory_mib, r.Int("gpu_memory_mib", false, 0, kMaxUsage, -1));
  DS_ASSIGN_OR_RETURN(u.gpu_busy_pct, r.Double("gpu_busy_pct", false, 0, 100, -1));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* applied, r.Object("applied", false));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  if (applied != nullptr) {
    FieldReader ar(*applied, r.FieldPath("applied"));
    DS_ASSIGN_OR_RETURN(u.applied_memory_mib, ar.Int("memory_mib", false, 0, kMaxUsage, -1));
    DS_ASSIGN_OR_RETURN(u.applied_max_memory_mib,
                        ar.Int("max_memory_mib", false, 0, kMaxUsage, -1));
    DS_ASSIGN_OR_RETURN(u.applied_cpu_cap_milli, ar.Int("cpu_cap_milli", false, 0, kMaxUsage, -1));
    DS_RETURN_IF_ERROR(ar.CheckNoUnknown());
  }
  return u;
}

bool KnownObservedState(const std::string& s) {
  return s == "creating" || s == "running" || s == "stopped" || s == "failed";
}

// The heartbeat body: the agent's facts (checked, not kept) and the observed VMs by id; nullopt
// without "vms" (liveness only: an agent that has not observed its guests yet).
Result<std::optional<std::map<std::string, Observed>>> ParseHeartbeat(const std::string& body) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json j, ParseJsonObject(body));
  FieldReader r(j, "");
  DS_ASSIGN_OR_RETURN(const nlohmann::json* agent, r.Object("agent", false));
  if (agent != nullptr) {
    FieldReader ar(*agent, "agent");
    DS_RETURN_IF_ERROR(ar.String("hypervisor", false, 256).status());
    DS_RETURN_IF_ERROR(ar.String("domain_prefix", false, 63).status());
    DS_RETURN_IF_ERROR(ar.String("version", false, 63).status());
    DS_ASSIGN_OR_RETURN(const nlohmann::json* notes, ar.Array("notes", false, 64));
    if (notes != nullptr) {
      for (const nlohmann::json& n : *notes) {
        if (!n.is_string()) return Status::InvalidArgument("field 'agent.notes': expected strings");
      }
    }
    DS_RETURN_IF_ERROR(ar.CheckNoUnknown());
  }
  std::map<std::string, Observed> out;
  DS_ASSIGN_OR_RETURN(const nlohmann::json* vms, r.Array("vms", false, kMaxReportedVms));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  if (vms == nullptr) return std::optional<std::map<std::string, Observed>>();
  for (size_t i = 0; i < vms->size(); ++i) {
    const std::string path = "vms[" + std::to_string(i) + "]";
    if (!(*vms)[i].is_object()) {
      return Status::InvalidArgument("field '" + path + "': expected an object");
    }
    FieldReader vr((*vms)[i], path);
    DS_ASSIGN_OR_RETURN(const std::string id, vr.String("id", true, 63));
    Observed o;
    DS_ASSIGN_OR_RETURN(o.state, vr.String("state", true, 16));
    if (!KnownObservedState(o.state)) {
      return Status::InvalidArgument("field '" + vr.FieldPath("state") + "': unknown state '" +
                                     o.state + "' (known: creating, running, stopped, failed)");
    }
    DS_ASSIGN_OR_RETURN(o.detail, vr.String("detail", false, 1024));
    DS_RETURN_IF_ERROR(vr.String("domain", false, 256).status());
    DS_ASSIGN_OR_RETURN(const nlohmann::json* usage, vr.Object("usage", false));
    if (usage != nullptr) {
      DS_ASSIGN_OR_RETURN(o.usage, ParseUsage(*usage, vr.FieldPath("usage")));
    }
    DS_RETURN_IF_ERROR(vr.CheckNoUnknown());
    if (!out.emplace(id, o).second) {
      return Status::InvalidArgument("field '" + path + ".id': vm '" + id + "' reported twice");
    }
  }
  return std::optional<std::map<std::string, Observed>>(std::move(out));
}

}  // namespace

Result<Reply> FleetService::CreateAgentToken(const Principal& p, const std::string& host,
                                             const std::string& key) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.token", host));
  DS_RETURN_IF_ERROR(CheckName(host, "host"));
  const std::string hash = store::Sha256Hex("POST /v1/hosts/" + host + "/tokens\n");
  return ctx_.Run([this, p, host, key, hash](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "host.token", "host/" + host);
    if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
      r.write_audit = false;
      return *replay;
    }
    DS_ASSIGN_OR_RETURN(const std::string token, NewBearerToken());
    store::TokenRecord k{
        ctx_.NewId("k"), store::Sha256Hex(token), kSystemTenant, "agent", ctx_.Now(), host};
    DS_RETURN_IF_ERROR(tx.InsertToken(k));
    ledger.AddToken(k);
    r.undo = [&ledger, sha = k.sha256_hex] { ledger.RemoveToken(sha); };
    Reply reply =
        Reply::Created({{"id", k.id}, {"role", "agent"}, {"host", host}, {"token_redacted", true}});
    DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    reply.body.erase("token_redacted");
    reply.body["token"] = token;
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"token_id", k.id}}));
    return reply;
  });
}

nlohmann::json FleetService::DesiredJson(const HostEntry& host, uint64_t* revision) const {
  const Ledger& ledger = ctx_.ledger();
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& id : ledger.VmIdsOnHost(host.record.name)) {
    const VmEntry* vm = ledger.FindVm(id);
    if (vm->record.power == kPowerDeleted) continue;
    const store::ImageRecord* image =
        vm->spec.image.empty() ? nullptr : ledger.FindImage(vm->spec.image);
    list.push_back({{"id", vm->record.id},
                    {"tenant_id", vm->record.tenant_id},
                    {"name", vm->record.name},
                    {"power", vm->record.power},
                    {"reboot_seq", vm->record.reboot_seq},
                    {"allocation", AllocationToJson(vm->allocation)},
                    {"spec", vm->spec.normalized},
                    {"image", image != nullptr ? ImageJson(*image) : nlohmann::json(nullptr)},
                    {"ssh_key", vm->spec.ssh_key}});
  }
  nlohmann::json j = {
      {"host", host.record.name}, {"schedule", host.record.schedule}, {"vms", std::move(list)}};
  // The revision names the content: it changes exactly when the answer does, and survives a
  // server restart (an agent watching across it is not woken for nothing). 52 bits: exact in
  // every JSON reader.
  const std::string digest = store::Sha256Hex(JsonText(j));
  *revision = std::stoull(digest.substr(0, 13), nullptr, 16);
  j["revision"] = *revision;
  return j;
}

Result<Reply> FleetService::Desired(const Principal& p, const std::string& host,
                                    std::optional<uint64_t> revision, int64_t wait_ms) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.desired", host));
  if (wait_ms < 0 || wait_ms > kMaxWaitMs) {
    return Status::InvalidArgument("'wait_ms' must be in 0.." + std::to_string(kMaxWaitMs));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    const uint64_t seen = ctx_.fleet().changes();
    uint64_t current = 0;
    nlohmann::json answer;
    {
      std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
      const HostEntry* h = ctx_.ledger().FindHost(host);
      if (h == nullptr) return HostNotFound(host);
      answer = DesiredJson(*h, &current);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!revision || current != *revision || now >= deadline) return Reply::Ok(std::move(answer));
    ctx_.fleet().WaitForChange(
        seen, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
  }
}

Result<Reply> FleetService::Heartbeat(const Principal& p, const std::string& host,
                                      const std::string& body) {
  DS_RETURN_IF_ERROR(ctx_.CheckHost(p, "host.heartbeat", host));
  Result<std::optional<std::map<std::string, Observed>>> parsed = ParseHeartbeat(body);
  if (!parsed.ok()) return ctx_.Refuse(p, "host.heartbeat", "host/" + host, parsed.status());
  const bool liveness_only = !parsed->has_value();
  const std::map<std::string, Observed> reported =
      liveness_only ? std::map<std::string, Observed>() : **parsed;
  // What the report changes, decided under the shared lock and re-checked in the operation.
  bool work = false;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const HostEntry* h = ctx_.ledger().FindHost(host);
    if (h == nullptr) return HostNotFound(host);
    work = !h->record.managed;
    for (const std::string& id : ctx_.ledger().VmIdsOnHost(host)) {
      if (work || liveness_only) break;
      const VmEntry& vm = *ctx_.ledger().FindVm(id);
      auto it = reported.find(id);
      if (vm.record.power == kPowerDeleted) {
        work = it == reported.end();
      } else if (it != reported.end()) {
        work = it->second.state != vm.record.state || it->second.detail != vm.record.state_detail;
      }
    }
  }
  ctx_.fleet().Heard(host);
  // Usage feeds the right-sizing controller; its resizes are operations of their own (audited
  // as actor "rightsizer"), after the states are written.
  std::map<std::string, UsageSample> usage;
  for (const auto& [id, o] : reported) {
    if (o.usage) usage.emplace(id, *o.usage);
  }
  if (work) {
    Result<Reply> written = ctx_.Run([this, p, host, liveness_only, obs = reported](
                                         store::Txn& tx, OpResult& r) -> Result<Reply> {
      Ledger& ledger = ctx_.ledger();
      r.audit = ctx_.Audit(p, "vm.report", "host/" + host);
      const HostEntry* h = ledger.FindHost(host);
      if (h == nullptr) return HostNotFound(host);
      const bool now_managed = !h->record.managed;  // an agent's first word
      if (now_managed) {
        DS_RETURN_IF_ERROR(ctx_.WriteHostStatus(tx, r, host, h->record.schedule, true));
      }
      // A copy: freeing a VM below changes the index.
      std::vector<std::string> ids;
      if (!liveness_only) {
        const std::set<std::string>& on_host = ledger.VmIdsOnHost(host);
        ids.assign(on_host.begin(), on_host.end());
      }
      nlohmann::json changes = nlohmann::json::array(), freed = nlohmann::json::array();
      for (const std::string& id : ids) {
        const VmEntry& vm = *ledger.FindVm(id);
        auto it = obs.find(id);
        if (vm.record.power == kPowerDeleted) {
          if (it != obs.end()) continue;  // its agent still has the domain
          DS_RETURN_IF_ERROR(ctx_.RemoveVmInTxn(tx, id, r).status());
          ctx_.consoles().Drop(id);
          freed.push_back(id);
          continue;
        }
        if (it == obs.end() ||
            (it->second.state == vm.record.state && it->second.detail == vm.record.state_detail)) {
          continue;
        }
        VmEntry updated = vm;
        updated.record.state = it->second.state;
        updated.record.state_detail = it->second.detail;
        updated.record.updated_unix_ms = ctx_.Now();
        DS_RETURN_IF_ERROR(tx.UpdateVm(updated.record));
        ServiceContext::ChainUndo(r,
                                  [&ledger, previous = vm] { (void)ledger.ReplaceVm(previous); });
        (void)ledger.ReplaceVm(updated);
        changes.push_back({{"vm", id}, {"state", it->second.state}});
      }
      r.write_audit = now_managed || !changes.empty() || !freed.empty();
      r.audit.outcome = "ok";
      r.audit.detail_json = JsonText(nlohmann::json(
          {{"changes", changes}, {"freed", freed}, {"became_managed", now_managed}}));
      return Reply::Ok({});
    });
    if (!written.ok()) return written.status();
  }
  if (!usage.empty() && ctx_.rightsizing() != nullptr) ctx_.rightsizing()->Observe(host, usage);
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  const HostEntry* h = ctx_.ledger().FindHost(host);
  if (h == nullptr) return HostNotFound(host);
  uint64_t revision = 0;
  (void)DesiredJson(*h, &revision);
  nlohmann::json unknown = nlohmann::json::array();
  for (const auto& [id, o] : reported) {
    const VmEntry* vm = ctx_.ledger().FindVm(id);
    if (vm == nullptr || vm->record.host != host) unknown.push_back(id);
  }
  return Reply::Ok({{"host", host},
                    {"schedule", h->record.schedule},
                    {"status", "ready"},
                    {"revision", revision},
                    {"heartbeat_interval_ms", ctx_.fleet().heartbeat_interval_ms()},
                    {"timeout_ms", ctx_.fleet().host_timeout_ms()},
                    {"unknown_vms", unknown}});
}

Result<Reply> FleetService::PushConsole(const Principal& p, const std::string& vm_id,
                                        int64_t offset, const std::string& bytes) {
  Status visible;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const VmEntry* vm = ctx_.ledger().FindVm(vm_id);
    if (vm == nullptr) return VmNotFound(vm_id);
    visible = AuthorizeOnVm(p, "vm.console_push", vm->record.tenant_id, vm->record.host,
                            VmNotFound(vm_id));
  }
  if (!visible.ok()) return ctx_.Refuse(p, "vm.console_push", "vm/" + vm_id, visible);
  DS_ASSIGN_OR_RETURN(const int64_t end, ctx_.consoles().Append(vm_id, offset, bytes));
  return Reply::Ok({{"offset", end}});
}

Result<Reply> FleetService::ReadConsole(const Principal& p, const std::string& vm_id,
                                        int64_t offset, int64_t wait_ms, int64_t max_bytes) {
  if (wait_ms < 0 || wait_ms > kMaxWaitMs) {
    return Status::InvalidArgument("'wait_ms' must be in 0.." + std::to_string(kMaxWaitMs));
  }
  if (offset < 0) return Status::InvalidArgument("'offset' must be >= 0");
  Status visible;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const VmEntry* vm = ctx_.ledger().FindVm(vm_id);
    if (vm == nullptr) return VmNotFound(vm_id);
    visible =
        AuthorizeOnVm(p, "vm.console", vm->record.tenant_id, vm->record.host, VmNotFound(vm_id));
  }
  if (!visible.ok()) return ctx_.Refuse(p, "vm.console", "vm/" + vm_id, visible);
  ConsoleBuffers::Chunk c = ctx_.consoles().Read(vm_id, offset, max_bytes, wait_ms);
  return Reply::Ok({{"start", c.start}, {"next", c.next}, {"data", c.bytes}});
}

}  // namespace devshare::server
