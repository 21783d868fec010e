// Ledger: the control plane's in-memory picture of the durable store: tenants, tokens, hosts as a
// ClusterState, VMs with their concrete allocations, idempotency answers, and the placement
// frameworks that decide against it. The store is the truth; the ledger is rebuilt from a
// StoreSnapshot at start and after any failed commit.
// Thread-safety: not thread-safe. ControlPlane guards it with a reader/writer lock; only its
// writer thread mutates it.
#ifndef DEVSHARE_SERVER_LEDGER_H_
#define DEVSHARE_SERVER_LEDGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/core/ipv4.h"
#include "devshare/core/result.h"
#include "devshare/placement/registry.h"
#include "devshare/store/records.h"
#include "server/vm_spec.h"

namespace devshare::server {

struct VmEntry {
  store::VmRecord record;
  VmSpec spec;
  Allocation allocation;
};

struct HostEntry {
  store::HostRecord record;
  nlohmann::json inventory;  // parsed record.inventory_json
};

class Ledger {
 public:
  // `policy_args` go to every policy built (typical pods and history from --workload-history).
  Ledger(const placement::PluginRegistry* registry, std::string default_policy,
         placement::PluginArgs policy_args = {});

  // Replaces everything with `snap`. DataLoss naming the record that does not parse or whose
  // allocation does not fit its host (the store was edited by hand or is corrupt).
  Status Load(const store::StoreSnapshot& snap);
  // Replicas on one store (docs/scale-out.md): Load ranks the hosts (the order that breaks
  // placement score ties) from a different place in name order for each `replica_index`, so
  // replicas do not all pick the same host among equals and collide on it. 0: name order.
  void set_replica_index(int64_t replica_index) { replica_index_ = replica_index; }
  // Applies what another control plane committed (ledger_changes.cc): `changed.changes` names
  // the rows, `changed.rows` holds their current versions (a named row absent was deleted).
  // VMs (their allocations released and re-applied), host records (generation, schedule,
  // managed flag), tenants, tokens, idempotency keys and images are refreshed in place.
  // Returns false, having changed nothing, when a change needs Load instead: a host added,
  // removed or given another inventory, a network. DataLoss for a row that does not parse.
  Result<bool> ApplyChanges(const store::ChangedRows& changed);

  // --- tenants and tokens
  const std::map<std::string, store::TenantRecord>& tenants() const { return tenants_; }
  const store::TenantRecord* FindTenant(const std::string& id) const;
  bool TenantNameTaken(const std::string& name) const { return tenant_names_.count(name) > 0; }
  void AddTenant(const store::TenantRecord& t);
  void RemoveTenant(const std::string& id);
  const store::TokenRecord* FindTokenByHash(const std::string& sha256_hex) const;
  void AddToken(const store::TokenRecord& t);
  void RemoveToken(const std::string& sha256_hex);
  // Bumped by every token change (and Load): copies of the token table compare it.
  uint64_t tokens_version() const { return tokens_version_; }
  const std::unordered_map<std::string, store::TokenRecord>& tokens() const { return tokens_; }

  // --- idempotency
  const store::IdempotencyRecord* FindIdempotency(const std::string& tenant,
                                                  const std::string& key) const;
  void AddIdempotency(const store::IdempotencyRecord& r);
  void RemoveIdempotency(const std::string& tenant, const std::string& key);

  // --- hosts
  const std::map<std::string, int>& host_index() const { return host_index_; }
  const HostEntry* FindHost(const std::string& name) const;
  const HostState& host_state(int index) const { return cluster_.states[index]; }
  const ClusterState& cluster() const { return cluster_; }
  // Adds or replaces a host (generation from `record`). FailedPrecondition, with nothing
  // changed, when the new inventory cannot hold the VMs already allocated on it.
  Status PutHost(const store::HostRecord& record, const Host& host, nlohmann::json inventory);
  // Restores a host to a previous entry (undo of PutHost); `previous` null removes it.
  void RestoreHost(const std::string& name, const HostEntry* previous, const Host* previous_host);
  void SetHostGeneration(const std::string& name, uint64_t generation);
  // The host's schedule, managed flag and generation as just written to the store.
  void SetHostStatus(const std::string& name, const std::string& schedule, bool managed,
                     uint64_t generation);
  // Removes a host that holds no VM (FailedPrecondition naming one otherwise); the later hosts'
  // indices shift down.
  Status RemoveHost(const std::string& name);

  // --- images
  const std::map<std::string, store::ImageRecord>& images() const { return images_; }
  const store::ImageRecord* FindImage(const std::string& name) const;
  void AddImage(const store::ImageRecord& image) { images_[image.name] = image; }
  void RemoveImage(const std::string& name) { images_.erase(name); }

  // --- tenant networks (ledger_networks.cc)
  const std::map<std::string, store::NetworkRecord>& networks() const { return networks_; }
  const store::NetworkRecord* FindNetwork(const std::string& id) const;
  // The network of `tenant` whose id or name is `ref`; null when the tenant has none.
  const store::NetworkRecord* FindTenantNetwork(const std::string& tenant,
                                                const std::string& ref) const;
  // The lowest segment id in kFirstSegmentId..kLastSegmentId that no network holds (a deleted
  // network's id comes free); ResourceExhausted when every one is taken.
  Result<int64_t> FreeSegmentId() const;
  // AlreadyExists (reason network_overlap) naming the network of `tenant` whose CIDR overlaps
  // `cidr`. Networks of other tenants may overlap: they never share a segment.
  Status CheckCidrFree(const std::string& tenant, const Ipv4Cidr& cidr) const;
  void AddNetwork(const store::NetworkRecord& n) { networks_[n.id] = n; }
  void RemoveNetwork(const std::string& id) { networks_.erase(id); }
  // The VMs with a NIC on the network, sorted (empty when none).
  std::vector<std::string> VmsOnNetwork(const std::string& id) const;
  // The addresses taken on the network (address -> VM id).
  const std::map<uint32_t, std::string>& NetworkAddresses(const std::string& id) const;

  // --- VMs
  const std::unordered_map<std::string, VmEntry>& vms() const { return vms_; }
  const VmEntry* FindVm(const std::string& id) const;
  // The ids of the VMs placed on `host`, sorted (empty for an unknown host).
  const std::set<std::string>& VmIdsOnHost(const std::string& host) const;
  // Places `spec` for `tenant` with its policy (or the default). The allocation is applied to
  // the cluster; the caller records the VM with AddVm or undoes with ReleasePlacement.
  // InvalidArgument for an unknown policy; the outcome tells unschedulable apart.
  // `closed` hosts (cordoned, draining, unreachable) are not used.
  // NICs naming one of the tenant's networks are placed on host NICs of its physical network
  // and bound (BindNics): `previous_nics` (a re-placed VM's old slices) keeps their MAC and
  // address. NotFound naming the field for a network neither the tenant's nor on a host NIC.
  Result<placement::PlacementOutcome> Place(
      const std::string& vm_id, const std::string& tenant, const VmSpec& spec,
      const std::vector<ClosedHost>& closed = {},
      const std::vector<DeviceSlice>* previous_nics = nullptr);
  void ReleasePlacement(const Allocation& a);
  void AddVm(VmEntry vm);  // REQUIRES: its allocation is applied (Place) or re-applied
  // Removes the VM and frees its allocation. NotFound when absent.
  Result<VmEntry> RemoveVm(const std::string& id);
  // Re-inserts a removed VM and re-applies its allocation (undo of RemoveVm).
  Status RestoreVm(VmEntry vm);
  // Grows/shrinks in place: FailedPrecondition with the reason when the host has no room;
  // a GPU share (gpu_milli, gpu_memory_mib) stays on its GPU, or with r.move goes to another GPU
  // of the host: ResourceExhausted gpu_memory_full / gpu_full when neither has room;
  // InvalidArgument naming the field for a volume it lacks, a shrinking volume or a NIC index
  // out of range.
  // On success returns the previous entry (for undo with ReplaceVm).
  Result<VmEntry> Resize(const std::string& id, const ResizeSpec& r);
  // Puts `vm` back in place of the current entry of the same id (allocation swapped).
  Status ReplaceVm(VmEntry vm);

  // --- volumes of a placed VM (each keeps spec.request.volumes, spec.normalized["volumes"] and
  // allocation.volumes in one order, and on success returns the previous entry for ReplaceVm).
  // NotFound for an unknown VM (or volume name); FailedPrecondition "unschedulable" with
  // details {"reasons": [{filter, resource, requested, free, capacity, device, example}]} when
  // the VM's host has no disk of the tier or no room on one (GiB or IOPS reservation).
  // Hot-plug: `v` goes on a disk of its tier on the VM's host (the volume_fit choice), appended.
  // AlreadyExists when the VM has a volume of that name.
  Result<VmEntry> AttachVolume(const std::string& id, const VolumeRequest& v);
  // Unplug: the volume's slice leaves the allocation (its GiB and IOPS are free again).
  Result<VmEntry> DetachVolume(const std::string& id, const std::string& name);
  // Moves the volume to a disk of `tier` on the same host (size and IOPS checked there, freed
  // on the old disk) in one change. FailedPrecondition "already on tier T" for its own tier.
  Result<VmEntry> MigrateVolume(const std::string& id, const std::string& name,
                                const std::string& tier);
  // Per-host reasons for up to `limit` hosts with the most free CPU (for 409 answers).
  nlohmann::json ExplainCandidates(const VmSpec& spec, const std::string& tenant, int limit,
                                   const std::vector<ClosedHost>& closed = {}) const;
  // Hosts holding a VM of (tenant, group).
  std::vector<std::string> GroupHosts(const std::string& tenant, const std::string& group) const;

 private:
  // `req` with each NIC on a tenant network sent to that network's physical network.
  VmRequest ForPlacement(const VmRequest& req, const std::string& tenant) const;
  // Fills the tenant-network binding of the placed NIC slices of `vm_id`: network id, segment,
  // a MAC unique among all NICs, and the asked or lowest free address (the network's first
  // address, its second (kept for a gateway) and its broadcast are never given).
  // InvalidArgument for an address outside the network; AlreadyExists (address_in_use) for a
  // taken one; ResourceExhausted (network_full) when no address is free.
  Status BindNics(const std::string& vm_id, const std::string& tenant, const VmRequest& req,
                  const std::vector<DeviceSlice>* previous, std::vector<DeviceSlice>& nics) const;
  void IndexNics(const VmEntry& vm, int delta);
  Status RebuildCluster();  // Reset states and re-apply every VM's allocation
  // A VM of the store as the ledger holds it (spec and allocation parsed against its host;
  // not applied). DataLoss naming the record.
  Result<VmEntry> VmFromRecord(const store::VmRecord& r) const;
  Result<placement::Framework*> FrameworkFor(const std::string& policy);
  // NotFound naming the field for a network that is neither the tenant's nor on any host NIC;
  // InvalidArgument for a tenant network whose physical network no host has, an address on a
  // provider network, or a VF on a network whose NICs have no SR-IOV: no capacity could ever
  // come free for it.
  // `asked` is the request as given, `req` its ForPlacement form (tenant set).
  Status CheckNicsAgainstFleet(const VmRequest& asked, const VmRequest& req) const;
  void IndexGroup(const VmEntry& vm, int delta);
  // Swaps vm's allocation for `next` on its host (capacity checked, generation bumped): the
  // host's ResourceExhausted/FailedPrecondition message when it does not fit, nothing changed.
  Status SwapAllocation(VmEntry& vm, Allocation next);
  // Resize of vm's GPU share to next.gpus[0]'s milli and memory: OK when its GPU has room
  // (in place); with `move`, re-points next.gpus[0] at the host's other GPU with room (best fit
  // by free memory). Otherwise ResourceExhausted, reason gpu_memory_full (memory short) or
  // gpu_full (milli short), naming the GPU, its free amounts and the ask (details: host, gpu,
  // requested_/free_/capacity_memory_mib, requested_/free_milli); InvalidArgument for more
  // memory than any GPU of the host has.
  Status FitShareOnHost(const VmEntry& vm, bool move, Allocation& next) const;

  const placement::PluginRegistry* registry_;
  std::string default_policy_;
  placement::PluginArgs policy_args_;
  int64_t replica_index_ = 0;
  std::map<std::string, store::TenantRecord> tenants_;
  std::map<std::string, std::string> tenant_names_;             // name -> id
  std::unordered_map<std::string, store::TokenRecord> tokens_;  // by hash
  uint64_t tokens_version_ = 0;
  std::map<std::pair<std::string, std::string>, store::IdempotencyRecord> idempotency_;
  std::map<std::string, HostEntry> hosts_;
  std::map<std::string, int> host_index_;
  ClusterState cluster_;
  std::unordered_map<std::string, VmEntry> vms_;
  std::map<std::string, std::set<std::string>> host_vms_;     // host -> VM ids (no empty sets)
  std::map<std::string, std::map<std::string, int>> groups_;  // tenant/group -> host -> VMs
  std::map<std::string, std::unique_ptr<placement::Framework>> frameworks_;
  std::map<std::string, store::ImageRecord> images_;
  std::map<std::string, store::NetworkRecord> networks_;
  std::map<std::string, std::map<uint32_t, std::string>> network_addresses_;  // -> VM id
  std::set<std::string> macs_;                                                // of every bound NIC
};

// Segment ids given to tenant networks (VLAN ids 100..4094; below 100 is left to the site).
inline constexpr int64_t kFirstSegmentId = 100;
inline constexpr int64_t kLastSegmentId = 4094;

// JSON of an allocation's concrete devices, and back (GPU ordinals from device ids on `host`).
nlohmann::json AllocationToJson(const Allocation& a);
Result<Allocation> AllocationFromJson(const std::string& json, const Host& host);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_LEDGER_H_
