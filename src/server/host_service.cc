// HostService: host inventory operations and their JSON views.
#include "server/host_service.h"

#include <optional>

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
                      {"usage", HostUsageJson(s, with_devices)}};
  if (with_devices) j["inventory"] = h.inventory;
  return j;
}

Result<Reply> HostService::Put(const Principal& p, const std::string& name,
                               const std::string& body) {
  const std::string object = "host/" + name;
  DS_RETURN_IF_ERROR(ctx_.Check(p, "host.put", object));
  Result<nlohmann::json> j = ParseJsonObject(body);
  if (!j.ok()) return ctx_.Refuse(p, "host.put", object, j.status());
  Result<HostSpec> spec = ParseHostSpec(name, *j);
  if (!spec.ok()) return ctx_.Refuse(p, "host.put", object, spec.status());
  return ctx_.Run([this, p, name, object, spec = std::move(*spec)](store::Txn& tx,
                                                                   OpResult& r) -> Result<Reply> {
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
    Status s = ledger.PutHost(rec, spec.host, spec.normalized);
    if (!s.ok()) {
      return Status::FailedPrecondition(s.message()).WithReason("inventory_in_use");
    }
    r.undo = [&ledger, name, previous, previous_host] {
      ledger.RestoreHost(name, previous ? &*previous : nullptr,
                         previous_host ? &*previous_host : nullptr);
    };
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"generation", *gen}}));
    nlohmann::json answer = HostJson(*ledger.FindHost(name), true);
    return existing == nullptr ? Reply::Created(std::move(answer)) : Reply::Ok(std::move(answer));
  });
}

Result<Reply> HostService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(Authorize(p, "host.list"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, index] : ctx_.ledger().host_index()) {
    list.push_back(HostJson(*ctx_.ledger().FindHost(name), false));
  }
  return Reply::Ok({{"hosts", list}});
}

Result<Reply> HostService::Get(const Principal& p, const std::string& name) {
  DS_RETURN_IF_ERROR(Authorize(p, "host.get"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  const HostEntry* h = ctx_.ledger().FindHost(name);
  if (h == nullptr) return Status::NotFound("host '" + name + "' not found");
  return Reply::Ok(HostJson(*h, true));
}

}  // namespace devshare::server
