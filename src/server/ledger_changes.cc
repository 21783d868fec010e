// Ledger::ApplyChanges: another control plane's commits, row by row, instead of a reload.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/ledger.h"

namespace devshare::server {
namespace {

// The rows of `rows` by key, for the kinds ApplyChanges refreshes.
template <typename Record, typename KeyFn>
std::map<std::string, const Record*> ByKey(const std::vector<Record>& rows, KeyFn key) {
  std::map<std::string, const Record*> out;
  for (const Record& r : rows) out.emplace(key(r), &r);
  return out;
}

}  // namespace

Result<bool> Ledger::ApplyChanges(const store::ChangedRows& changed) {
  std::map<std::string, std::set<std::string>> named;  // kind -> keys
  for (const store::ChangeRecord& c : changed.changes) named[c.kind].insert(c.key);
  const store::StoreSnapshot& rows = changed.rows;
  const auto hosts = ByKey(rows.hosts, [](const store::HostRecord& h) { return h.name; });
  const auto vms = ByKey(rows.vms, [](const store::VmRecord& v) { return v.id; });

  // First what needs a reload, before anything changes: hosts that came, went or changed
  // their inventory (the cluster's host order and shapes), and networks (address indices).
  if (named.count("network")) return false;
  for (const std::string& name : named["host"]) {
    auto it = hosts.find(name);
    const HostEntry* mine = FindHost(name);
    if ((it == hosts.end()) != (mine == nullptr)) return false;
    if (mine != nullptr && mine->record.inventory_json != it->second->inventory_json) {
      return false;
    }
  }
  // Parse every VM before changing anything (a parse error is DataLoss, with nothing applied).
  std::vector<VmEntry> fresh;
  for (const std::string& id : named["vm"]) {
    auto it = vms.find(id);
    if (it == vms.end()) continue;
    if (!host_index_.count(it->second->host)) return false;  // on a host not known yet
    DS_ASSIGN_OR_RETURN(VmEntry vm, VmFromRecord(*it->second));
    fresh.push_back(std::move(vm));
  }

  // VMs: release the old allocations, then apply the new ones (a VM may have moved hosts).
  for (const std::string& id : named["vm"]) {
    if (FindVm(id) != nullptr) (void)RemoveVm(id);
  }
  for (VmEntry& vm : fresh) {
    DS_RETURN_IF_ERROR(RestoreVm(std::move(vm)));
  }
  // Host records: generation, schedule, managed flag (the allocations are the VMs' above).
  for (const std::string& name : named["host"]) {
    auto it = hosts.find(name);
    if (it == hosts.end()) continue;
    const store::HostRecord& h = *it->second;
    SetHostStatus(h.name, h.schedule, h.managed, h.generation);
    hosts_[h.name].record.updated_unix_ms = h.updated_unix_ms;
  }
  // Tenants, tokens, idempotency keys, images.
  const auto tenants = ByKey(rows.tenants, [](const store::TenantRecord& t) { return t.id; });
  for (const std::string& id : named["tenant"]) {
    RemoveTenant(id);
    if (auto it = tenants.find(id); it != tenants.end()) AddTenant(*it->second);
  }
  const auto tokens = ByKey(rows.tokens, [](const store::TokenRecord& t) { return t.id; });
  for (const std::string& id : named["token"]) {
    std::vector<std::string> hashes;  // tokens_ is by hash: find the old one by id
    for (const auto& [sha, t] : tokens_) {
      if (t.id == id) hashes.push_back(sha);
    }
    for (const std::string& sha : hashes) RemoveToken(sha);
    if (auto it = tokens.find(id); it != tokens.end()) AddToken(*it->second);
  }
  const auto keys = ByKey(rows.idempotency, [](const store::IdempotencyRecord& r) {
    return store::IdempotencyChangeKey(r.tenant_id, r.key);
  });
  for (const std::string& k : named["idempotency"]) {
    if (auto it = keys.find(k); it != keys.end()) {
      AddIdempotency(*it->second);
    } else if (const size_t slash = k.find('/'); slash != std::string::npos) {
      RemoveIdempotency(k.substr(0, slash), k.substr(slash + 1));
    }
  }
  const auto images = ByKey(rows.images, [](const store::ImageRecord& i) { return i.name; });
  for (const std::string& name : named["image"]) {
    RemoveImage(name);
    if (auto it = images.find(name); it != images.end()) AddImage(*it->second);
  }
  return true;
}

}  // namespace devshare::server
