// NetworkService: tenant networks; see network_service.h.
#include "server/network_service.h"

#include "devshare/core/ipv4.h"
#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

constexpr int kMinPrefixLen = 8;   // at most 16 M addresses
constexpr int kMaxPrefixLen = 29;  // at least 5 addresses a NIC may get

struct NetworkBody {
  std::string name, physical_network;
  Ipv4Cidr cidr;
};

Result<NetworkBody> ParseNetwork(const std::string& body) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json j, ParseJsonObject(body));
  FieldReader r(j, "");
  NetworkBody n;
  DS_ASSIGN_OR_RETURN(n.name, r.String("name", true, 63));
  DS_RETURN_IF_ERROR(CheckName(n.name, "name"));
  DS_ASSIGN_OR_RETURN(const std::string cidr, r.String("cidr", true, 18));
  Result<Ipv4Cidr> c = ParseCidr(cidr, kMinPrefixLen, kMaxPrefixLen);
  if (!c.ok()) return Status::InvalidArgument("field 'cidr': " + c.status().message());
  n.cidr = *c;
  DS_ASSIGN_OR_RETURN(n.physical_network, r.String("physical_network", false, 63));
  if (n.physical_network.empty()) n.physical_network = "default";
  DS_RETURN_IF_ERROR(CheckName(n.physical_network, "physical_network"));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  return n;
}

nlohmann::json NetworkJson(const store::NetworkRecord& n) {
  return {{"id", n.id},
          {"tenant_id", n.tenant_id},
          {"name", n.name},
          {"cidr", n.cidr},
          {"segment_id", n.segment_id},
          {"physical_network", n.physical_network},
          {"created_unix_ms", n.created_unix_ms}};
}

Status NetworkNotFound(const std::string& id) {
  return Status::NotFound("network " + id + " not found");
}

}  // namespace

Result<Reply> NetworkService::Create(const Principal& p, const std::string& body,
                                     const std::string& key) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "network.create", "network"));
  Result<NetworkBody> parsed = ParseNetwork(body);
  if (!parsed.ok()) return ctx_.Refuse(p, "network.create", "network", parsed.status());
  const std::string hash = store::Sha256Hex("POST /v1/networks\n" + body);
  return ctx_.Run([this, p, key, hash, n = *parsed](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "network.create", "network/" + n.name);
    if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
      r.write_audit = false;
      return *replay;
    }
    if (const store::NetworkRecord* same = ledger.FindTenantNetwork(p.tenant_id, n.name)) {
      return Status::AlreadyExists("field 'name': the tenant has a network '" + n.name + "' (" +
                                   same->id + ")");
    }
    DS_RETURN_IF_ERROR(ledger.CheckCidrFree(p.tenant_id, n.cidr));
    DS_ASSIGN_OR_RETURN(const int64_t segment, ledger.FreeSegmentId());
    store::NetworkRecord rec{ctx_.NewId("net"), p.tenant_id,        n.name,    n.cidr.ToString(),
                             segment,           n.physical_network, ctx_.Now()};
    DS_RETURN_IF_ERROR(tx.InsertNetwork(rec));
    ledger.AddNetwork(rec);
    r.undo = [&ledger, id = rec.id] { ledger.RemoveNetwork(id); };
    Reply reply = Reply::Created(NetworkJson(rec));
    DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    r.audit.object = "network/" + rec.id;
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(NetworkJson(rec));
    return reply;
  });
}

Result<Reply> NetworkService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "network.list", "network"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, n] : ctx_.ledger().networks()) {
    if (AuthorizeOn(p, "network.list", n.tenant_id, NetworkNotFound(id)).ok()) {
      nlohmann::json j = NetworkJson(n);
      j["nics"] = ctx_.ledger().NetworkAddresses(id).size();
      list.push_back(std::move(j));
    }
  }
  return Reply::Ok({{"networks", list}});
}

Result<Reply> NetworkService::Get(const Principal& p, const std::string& id) {
  DS_RETURN_IF_ERROR(Authorize(p, "network.get"));
  Status visible;
  nlohmann::json j;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const store::NetworkRecord* n = ctx_.ledger().FindNetwork(id);
    if (n == nullptr) return NetworkNotFound(id);
    visible = AuthorizeOn(p, "network.get", n->tenant_id, NetworkNotFound(id));
    if (visible.ok()) j = DetailJson(ctx_.ledger(), *n);
  }
  if (!visible.ok()) return ctx_.Refuse(p, "network.get", "network/" + id, visible);
  return Reply::Ok(std::move(j));
}

// The network with the NICs on it ({vm, address, mac, host}, by address).
nlohmann::json NetworkService::DetailJson(const Ledger& ledger, const store::NetworkRecord& n) {
  const std::string& id = n.id;
  nlohmann::json j = NetworkJson(n);
  nlohmann::json nics = nlohmann::json::array();
  for (const auto& [address, vm_id] : ledger.NetworkAddresses(id)) {
    const VmEntry* vm = ledger.FindVm(vm_id);
    if (vm == nullptr) continue;
    for (const DeviceSlice& s : vm->allocation.nics) {
      Result<Ipv4Interface> at = ParseIpv4Interface(s.address);
      if (s.network_id == id && at.ok() && at->address == address) {
        nics.push_back(
            {{"vm", vm_id}, {"address", s.address}, {"mac", s.mac}, {"host", vm->record.host}});
      }
    }
  }
  j["nics"] = std::move(nics);
  return j;
}

Result<Reply> NetworkService::Delete(const Principal& p, const std::string& id) {
  return ctx_.Run([this, p, id](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "network.delete", "network/" + id);
    const store::NetworkRecord* n = ledger.FindNetwork(id);
    if (n == nullptr) return NetworkNotFound(id);
    DS_RETURN_IF_ERROR(AuthorizeOn(p, "network.delete", n->tenant_id, NetworkNotFound(id)));
    const std::vector<std::string> vms = ledger.VmsOnNetwork(id);
    if (!vms.empty()) {
      return Status::FailedPrecondition("network " + id + " ('" + n->name + "') has NICs of " +
                                        std::to_string(vms.size()) + " VM(s), e.g. vm " +
                                        vms.front() + "; delete them first")
          .WithReason("network_in_use");
    }
    DS_RETURN_IF_ERROR(tx.DeleteNetwork(id));
    r.undo = [&ledger, copy = *n] { ledger.AddNetwork(copy); };
    ledger.RemoveNetwork(id);
    r.audit.outcome = "ok";
    return Reply::Ok({{"id", id}, {"deleted", true}});
  });
}

}  // namespace devshare::server
