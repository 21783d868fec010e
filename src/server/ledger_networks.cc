// Ledger: tenant networks, their segment ids and the binding of VM NICs to them (address
// management and MACs); see ledger.h.
#include <algorithm>
#include <cstdio>

#include "server/ledger.h"

namespace devshare::server {
namespace {

// "52:54:xx:xx:xx:xx" from a 32-bit value (QEMU's locally administered prefix 52:54).
std::string MacOf(uint32_t v) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "52:54:%02x:%02x:%02x:%02x", (v >> 24) & 255, (v >> 16) & 255,
                (v >> 8) & 255, v & 255);
  return buf;
}

uint32_t Fnv1a(const std::string& s, uint32_t salt) {
  uint32_t h = 2166136261u ^ salt;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace

const store::NetworkRecord* Ledger::FindNetwork(const std::string& id) const {
  auto it = networks_.find(id);
  return it == networks_.end() ? nullptr : &it->second;
}

const store::NetworkRecord* Ledger::FindTenantNetwork(const std::string& tenant,
                                                      const std::string& ref) const {
  for (const auto& [id, n] : networks_) {
    if (n.tenant_id == tenant && (n.id == ref || n.name == ref)) return &n;
  }
  return nullptr;
}

Result<int64_t> Ledger::FreeSegmentId() const {
  std::set<int64_t> taken;
  for (const auto& [id, n] : networks_) taken.insert(n.segment_id);
  for (int64_t s = kFirstSegmentId; s <= kLastSegmentId; ++s) {
    if (!taken.count(s)) return s;
  }
  return Status::ResourceExhausted("every segment id " + std::to_string(kFirstSegmentId) + ".." +
                                   std::to_string(kLastSegmentId) +
                                   " is held by a network; delete unused networks");
}

Status Ledger::CheckCidrFree(const std::string& tenant, const Ipv4Cidr& cidr) const {
  for (const auto& [id, n] : networks_) {
    if (n.tenant_id != tenant) continue;
    Result<Ipv4Cidr> other = ParseCidr(n.cidr);
    if (other.ok() && other->Overlaps(cidr)) {
      return Status::AlreadyExists("field 'cidr': " + cidr.ToString() + " overlaps " + n.cidr +
                                   " of the tenant's network '" + n.name + "' (" + n.id + ")")
          .WithReason("network_overlap");
    }
  }
  return Status::Ok();
}

std::vector<std::string> Ledger::VmsOnNetwork(const std::string& id) const {
  std::set<std::string> vms;
  auto it = network_addresses_.find(id);
  if (it != network_addresses_.end()) {
    for (const auto& [address, vm] : it->second) vms.insert(vm);
  }
  return {vms.begin(), vms.end()};
}

const std::map<uint32_t, std::string>& Ledger::NetworkAddresses(const std::string& id) const {
  static const std::map<uint32_t, std::string> kNone;
  auto it = network_addresses_.find(id);
  return it == network_addresses_.end() ? kNone : it->second;
}

VmRequest Ledger::ForPlacement(const VmRequest& asked, const std::string& tenant) const {
  VmRequest req = asked;
  req.tenant = tenant;
  for (NicRequest& n : req.nics) {
    if (const store::NetworkRecord* net = FindTenantNetwork(tenant, n.network)) {
      n.network = net->physical_network;
    }
  }
  return req;
}

Status Ledger::BindNics(const std::string& vm_id, const std::string& tenant, const VmRequest& req,
                        const std::vector<DeviceSlice>* previous,
                        std::vector<DeviceSlice>& nics) const {
  std::set<std::string> macs;                       // given in this request
  std::map<std::string, std::set<uint32_t>> taken;  // network -> addresses given here
  for (size_t i = 0; i < nics.size() && i < req.nics.size(); ++i) {
    const store::NetworkRecord* net = FindTenantNetwork(tenant, req.nics[i].network);
    if (net == nullptr) continue;  // a provider network: placed, not bound
    const std::string field = "field 'nics[" + std::to_string(i) + "].address'";
    DS_ASSIGN_OR_RETURN(const Ipv4Cidr cidr, ParseCidr(net->cidr));
    const std::map<uint32_t, std::string>& used = NetworkAddresses(net->id);
    auto free = [&](uint32_t a) { return !used.count(a) && !taken[net->id].count(a); };
    const DeviceSlice* old =
        previous != nullptr && i < previous->size() && (*previous)[i].network_id == net->id
            ? &(*previous)[i]
            : nullptr;
    std::string asked = req.nics[i].address;
    if (asked.empty() && old != nullptr) {
      Result<Ipv4Interface> kept = ParseIpv4Interface(old->address);
      if (kept.ok()) asked = FormatIpv4(kept->address);
    }
    uint32_t address = 0;
    // The first usable address (network + 1) is kept for a gateway; the broadcast is not given.
    const uint32_t first = cidr.base + 2, last = cidr.last() - 1;
    if (!asked.empty()) {
      Result<uint32_t> a = ParseIpv4(asked);
      if (!a.ok()) return Status::InvalidArgument(field + ": " + a.status().message());
      if (*a < first || *a > last) {
        return Status::InvalidArgument(field + ": " + asked + " is not an address network '" +
                                       net->name + "' (" + net->cidr + ") gives (" +
                                       FormatIpv4(first) + ".." + FormatIpv4(last) + ")");
      }
      if (!free(*a)) {
        auto holder = used.find(*a);
        return Status::AlreadyExists(field + ": " + asked + " on network '" + net->name +
                                     "' is taken by " +
                                     (holder != used.end() ? "vm " + holder->second
                                                           : std::string("another NIC of this VM")))
            .WithReason("address_in_use");
      }
      address = *a;
    } else {
      bool found = false;
      for (uint64_t a = first; a <= last && !found; ++a) {
        if (free(static_cast<uint32_t>(a))) {
          address = static_cast<uint32_t>(a);
          found = true;
        }
      }
      if (!found) {
        return Status::ResourceExhausted("network '" + net->name + "' (" + net->cidr +
                                         ") has no free address")
            .WithReason("network_full");
      }
    }
    taken[net->id].insert(address);
    std::string mac = old != nullptr ? old->mac : "";
    for (uint32_t salt = 0; mac.empty() || macs_.count(mac) || macs.count(mac); ++salt) {
      mac = MacOf(Fnv1a(vm_id + "/" + std::to_string(i), salt));
    }
    macs.insert(mac);
    DeviceSlice& s = nics[i];
    s.name = net->name;
    s.network_id = net->id;
    s.segment_id = net->segment_id;
    s.mac = mac;
    s.address = FormatIpv4(address) + "/" + std::to_string(cidr.prefix_len);
  }
  return Status::Ok();
}

void Ledger::IndexNics(const VmEntry& vm, int delta) {
  for (const DeviceSlice& s : vm.allocation.nics) {
    if (s.network_id.empty()) continue;
    Result<Ipv4Interface> a = ParseIpv4Interface(s.address);
    if (delta > 0) {
      if (a.ok()) network_addresses_[s.network_id][a->address] = vm.record.id;
      macs_.insert(s.mac);
      continue;
    }
    if (a.ok()) {
      auto it = network_addresses_.find(s.network_id);
      if (it != network_addresses_.end()) {
        it->second.erase(a->address);
        if (it->second.empty()) network_addresses_.erase(it);
      }
    }
    macs_.erase(s.mac);
  }
}

}  // namespace devshare::server
