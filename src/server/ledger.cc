// Ledger: in-memory tenants, tokens, hosts, VMs and placement, rebuilt from the store.
#include "server/ledger.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "devshare/placement/framework.h"
#include "devshare/placement/volume_fit.h"
#include "server/host_spec.h"
#include "server/json_fields.h"

namespace devshare::server {

nlohmann::json AllocationToJson(const Allocation& a) {
  nlohmann::json devices = nlohmann::json::array();
  for (const DeviceSlice& s : a.gpus) {
    nlohmann::json d = {
        {"id", s.device_id}, {"kind", "gpu"}, {"milli", s.milli}, {"whole", s.whole}};
    if (!s.profile.empty()) {
      d["profile"] = s.profile;
      d["start_slot"] = s.start_slot;
    }
    d["memory_mib"] = s.memory_mib;
    if (!s.vgpu.empty()) d["vgpu"] = s.vgpu;
    devices.push_back(std::move(d));
  }
  for (const DeviceSlice& s : a.nics) {
    nlohmann::json d = {{"id", s.device_id},
                        {"kind", "nic"},
                        {"network", s.name},
                        {"mode", s.unit_index >= 0 ? "vf" : "virtio"},
                        {"bandwidth_mbps", {{"min", s.rate}, {"max", s.rate_limit}}}};
    if (s.unit_index >= 0) d["vf"] = s.unit_index;
    if (!s.network_id.empty()) {
      d["network_id"] = s.network_id;
      d["segment"] = s.segment_id;
      d["mac"] = s.mac;
      d["address"] = s.address;
    }
    devices.push_back(std::move(d));
  }
  for (const DeviceSlice& s : a.volumes) {
    devices.push_back(
        {{"id", s.device_id},
         {"kind", "disk"},
         {"volume", s.name},
         {"size_gib", s.units},
         {"iops", {{"reservation", s.rate}, {"weight", s.weight}, {"limit", s.rate_limit}}}});
  }
  return {{"cpu_milli", a.cpu_milli}, {"memory_mib", a.memory_mib}, {"devices", devices}};
}

namespace {

int64_t IntAt(const nlohmann::json& j, const char* a, const char* b, int64_t fallback) {
  auto it = j.find(a);
  if (it == j.end() || !it->is_object()) return fallback;
  auto v = it->find(b);
  return v != it->end() && v->is_number_integer() ? v->get<int64_t>() : fallback;
}

// A NIC or disk slice of a stored allocation; `kind` names the device kind it must have.
Result<DeviceSlice> UnitSliceFromJson(const nlohmann::json& d, const Host& host, DeviceKind kind) {
  DeviceSlice s;
  s.kind = kind;
  s.device_id = d.value("id", "");
  for (size_t i = 0; i < host.devices.size(); ++i) {
    if (host.devices[i].id == s.device_id && host.devices[i].kind == kind) {
      s.device = static_cast<int>(i);
    }
  }
  if (s.device < 0) {
    return Status::InvalidArgument("allocation names " + std::string(DeviceKindName(kind)) + " '" +
                                   s.device_id + "', which host " + host.id + " does not have");
  }
  if (kind == DeviceKind::kNic) {
    s.name = d.value("network", "");
    s.unit_index = d.value("vf", -1);
    s.units = s.unit_index >= 0 ? 1 : 0;
    s.rate = IntAt(d, "bandwidth_mbps", "min", 0);
    s.rate_limit = IntAt(d, "bandwidth_mbps", "max", 0);
    s.network_id = d.value("network_id", "");
    s.segment_id = d.value("segment", int64_t{0});
    s.mac = d.value("mac", "");
    s.address = d.value("address", "");
  } else {
    s.name = d.value("volume", "");
    s.units = d.value("size_gib", int64_t{0});
    s.rate = IntAt(d, "iops", "reservation", 0);
    s.weight = IntAt(d, "iops", "weight", 1);
    s.rate_limit = IntAt(d, "iops", "limit", 0);
  }
  return s;
}

}  // namespace

Result<Allocation> AllocationFromJson(const std::string& json, const Host& host) {
  DS_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonObject(json));
  Allocation a;
  a.host_id = host.id;
  if (!j.contains("cpu_milli") || !j.contains("memory_mib") || !j.contains("devices") ||
      !j["devices"].is_array()) {
    return Status::InvalidArgument("allocation lacks cpu_milli, memory_mib or devices");
  }
  a.cpu_milli = j["cpu_milli"].get<int64_t>();
  a.memory_mib = j["memory_mib"].get<int64_t>();
  const std::vector<int> gpu_indices = host.GpuDeviceIndices();
  for (const nlohmann::json& d : j["devices"]) {
    const std::string kind = d.value("kind", "gpu");
    if (kind == "nic" || kind == "disk") {
      DS_ASSIGN_OR_RETURN(
          DeviceSlice s,
          UnitSliceFromJson(d, host, kind == "nic" ? DeviceKind::kNic : DeviceKind::kDisk));
      (kind == "nic" ? a.nics : a.volumes).push_back(std::move(s));
      continue;
    }
    if (kind != "gpu")
      return Status::InvalidArgument("allocation names device kind '" + kind + "'");
    DeviceSlice s;
    s.device_id = d.value("id", "");
    for (size_t g = 0; g < gpu_indices.size(); ++g) {
      if (host.devices[gpu_indices[g]].id == s.device_id) s.gpu = static_cast<int>(g);
    }
    if (s.gpu < 0) {
      return Status::InvalidArgument("allocation names device '" + s.device_id + "', which host " +
                                     host.id + " does not have");
    }
    s.milli = d.value("milli", int64_t{0});
    s.whole = d.value("whole", false);
    s.profile = d.value("profile", "");
    s.start_slot = d.value("start_slot", -1);
    s.memory_mib = d.value("memory_mib", int64_t{0});  // absent in allocations stored before it
    s.vgpu = d.value("vgpu", "");
    a.gpus.push_back(std::move(s));
  }
  return a;
}

Ledger::Ledger(const placement::PluginRegistry* registry, std::string default_policy,
               placement::PluginArgs policy_args)
    : registry_(registry),
      default_policy_(std::move(default_policy)),
      policy_args_(std::move(policy_args)) {}

Status Ledger::Load(const store::StoreSnapshot& snap) {
  tenants_.clear();
  tenant_names_.clear();
  tokens_.clear();
  tokens_version_++;
  idempotency_.clear();
  hosts_.clear();
  host_index_.clear();
  cluster_ = ClusterState();
  vms_.clear();
  host_vms_.clear();
  groups_.clear();
  frameworks_.clear();
  for (const store::TenantRecord& t : snap.tenants) AddTenant(t);
  for (const store::TokenRecord& t : snap.tokens) AddToken(t);
  for (const store::IdempotencyRecord& r : snap.idempotency) AddIdempotency(r);
  images_.clear();
  for (const store::ImageRecord& i : snap.images) AddImage(i);
  networks_.clear();
  network_addresses_.clear();
  macs_.clear();
  for (const store::NetworkRecord& n : snap.networks) AddNetwork(n);
  // Hosts in name order: the node rank that breaks score ties is stable across restarts.
  std::vector<store::HostRecord> hosts = snap.hosts;
  std::sort(hosts.begin(), hosts.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  if (replica_index_ > 0 && !hosts.empty()) {
    // Spread the replicas' starting ranks over the fleet (Knuth's multiplicative hash).
    const uint64_t offset =
        (static_cast<uint64_t>(replica_index_) * 2654435761u) % static_cast<uint64_t>(hosts.size());
    std::rotate(hosts.begin(), hosts.begin() + static_cast<std::ptrdiff_t>(offset), hosts.end());
  }
  for (const store::HostRecord& h : hosts) {
    Result<nlohmann::json> inv = ParseJsonObject(h.inventory_json);
    if (!inv.ok()) return Status::DataLoss("host " + h.name + ": " + inv.status().message());
    Result<HostSpec> spec = ParseHostSpec(h.name, *inv);
    if (!spec.ok()) return Status::DataLoss("host " + h.name + ": " + spec.status().message());
    host_index_[h.name] = static_cast<int>(cluster_.hosts.size());
    cluster_.hosts.push_back(spec->host);
    hosts_[h.name] = HostEntry{h, *inv};
  }
  cluster_.Reset();
  for (const store::VmRecord& r : snap.vms) {
    DS_ASSIGN_OR_RETURN(VmEntry vm, VmFromRecord(r));
    Status applied = cluster_.states[vm.allocation.host_index].ApplyUnchecked(vm.allocation);
    if (!applied.ok()) {
      return Status::DataLoss("vm " + r.id + " does not fit host " + r.host + ": " +
                              applied.message());
    }
    IndexGroup(vm, +1);
    IndexNics(vm, +1);
    host_vms_[r.host].insert(r.id);
    vms_.emplace(r.id, std::move(vm));
  }
  return Status::Ok();
}

Result<VmEntry> Ledger::VmFromRecord(const store::VmRecord& r) const {
  auto hi = host_index_.find(r.host);
  if (hi == host_index_.end()) return Status::DataLoss("vm " + r.id + ": unknown host " + r.host);
  Result<VmSpec> spec = VmSpecFromStored(r.spec_json);
  if (!spec.ok()) return Status::DataLoss("vm " + r.id + ": spec: " + spec.status().message());
  Result<Allocation> a = AllocationFromJson(r.allocation_json, cluster_.hosts[hi->second]);
  if (!a.ok()) return Status::DataLoss("vm " + r.id + ": " + a.status().message());
  a->request_id = r.id;
  a->tenant = r.tenant_id;
  a->host_index = hi->second;
  VmEntry vm{r, std::move(*spec), std::move(*a)};
  vm.spec.request.id = r.id;
  vm.spec.request.tenant = r.tenant_id;
  return vm;
}

const store::TenantRecord* Ledger::FindTenant(const std::string& id) const {
  auto it = tenants_.find(id);
  return it == tenants_.end() ? nullptr : &it->second;
}
void Ledger::AddTenant(const store::TenantRecord& t) {
  tenants_[t.id] = t;
  tenant_names_[t.name] = t.id;
}
void Ledger::RemoveTenant(const std::string& id) {
  auto it = tenants_.find(id);
  if (it == tenants_.end()) return;
  tenant_names_.erase(it->second.name);
  tenants_.erase(it);
}
const store::TokenRecord* Ledger::FindTokenByHash(const std::string& sha256_hex) const {
  auto it = tokens_.find(sha256_hex);
  return it == tokens_.end() ? nullptr : &it->second;
}
void Ledger::AddToken(const store::TokenRecord& t) {
  tokens_[t.sha256_hex] = t;
  tokens_version_++;
}
void Ledger::RemoveToken(const std::string& sha256_hex) {
  tokens_.erase(sha256_hex);
  tokens_version_++;
}

const store::IdempotencyRecord* Ledger::FindIdempotency(const std::string& tenant,
                                                        const std::string& key) const {
  auto it = idempotency_.find({tenant, key});
  return it == idempotency_.end() ? nullptr : &it->second;
}
void Ledger::AddIdempotency(const store::IdempotencyRecord& r) {
  idempotency_[{r.tenant_id, r.key}] = r;
}
void Ledger::RemoveIdempotency(const std::string& tenant, const std::string& key) {
  idempotency_.erase({tenant, key});
}

const HostEntry* Ledger::FindHost(const std::string& name) const {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : &it->second;
}

Status Ledger::RebuildCluster() {
  cluster_.Reset();
  frameworks_.clear();  // policies cache per-host state keyed by generations that restart
  for (auto& [id, vm] : vms_) {
    int index = host_index_.at(vm.record.host);
    vm.allocation.host_index = index;
    Status s = cluster_.states[index].ApplyUnchecked(vm.allocation);
    if (!s.ok()) {
      return Status::FailedPrecondition("host " + vm.record.host + " cannot hold vm " + id +
                                        " any more: " + s.message());
    }
  }
  return Status::Ok();
}

Status Ledger::PutHost(const store::HostRecord& record, const Host& host,
                       nlohmann::json inventory) {
  auto it = host_index_.find(record.name);
  if (it == host_index_.end()) {
    // New hosts go last: existing node ranks stay put, and so do the other hosts' states (a
    // fleet registering one host at a time costs O(1) each, not a rebuild).
    host_index_[record.name] = static_cast<int>(cluster_.hosts.size());
    cluster_.AddHost(host);
    hosts_[record.name] = HostEntry{record, std::move(inventory)};
    return Status::Ok();
  }
  Host previous = cluster_.hosts[it->second];
  cluster_.hosts[it->second] = host;
  Status s = RebuildCluster();
  if (!s.ok()) {
    cluster_.hosts[it->second] = previous;
    Status back = RebuildCluster();
    (void)back;  // the previous inventory held these VMs before
    return s;
  }
  hosts_[record.name] = HostEntry{record, std::move(inventory)};
  return Status::Ok();
}

void Ledger::RestoreHost(const std::string& name, const HostEntry* previous,
                         const Host* previous_host) {
  auto it = host_index_.find(name);
  if (it == host_index_.end()) return;
  if (previous == nullptr) {
    // Undo of an add: the host was appended last and holds no VM.
    cluster_.hosts.erase(cluster_.hosts.begin() + it->second);
    host_index_.erase(it);
    hosts_.erase(name);
  } else {
    cluster_.hosts[it->second] = *previous_host;
    hosts_[name] = *previous;
  }
  (void)RebuildCluster();
}

void Ledger::SetHostGeneration(const std::string& name, uint64_t generation) {
  auto it = hosts_.find(name);
  if (it != hosts_.end()) it->second.record.generation = generation;
}

void Ledger::SetHostStatus(const std::string& name, const std::string& schedule, bool managed,
                           uint64_t generation) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return;
  it->second.record.schedule = schedule;
  it->second.record.managed = managed;
  it->second.record.generation = generation;
}

Status Ledger::RemoveHost(const std::string& name) {
  auto it = host_index_.find(name);
  if (it == host_index_.end()) return Status::NotFound("host '" + name + "' not found");
  if (!VmIdsOnHost(name).empty()) {
    return Status::FailedPrecondition("host " + name + " still holds vm " +
                                      *VmIdsOnHost(name).begin());
  }
  const int index = it->second;
  cluster_.hosts.erase(cluster_.hosts.begin() + index);
  host_index_.erase(it);
  for (auto& [other, i] : host_index_) {
    if (i > index) --i;
  }
  hosts_.erase(name);
  return RebuildCluster();
}

const std::set<std::string>& Ledger::VmIdsOnHost(const std::string& host) const {
  static const std::set<std::string> kNone;
  auto it = host_vms_.find(host);
  return it == host_vms_.end() ? kNone : it->second;
}

const store::ImageRecord* Ledger::FindImage(const std::string& name) const {
  auto it = images_.find(name);
  return it == images_.end() ? nullptr : &it->second;
}

const VmEntry* Ledger::FindVm(const std::string& id) const {
  auto it = vms_.find(id);
  return it == vms_.end() ? nullptr : &it->second;
}

Result<placement::Framework*> Ledger::FrameworkFor(const std::string& policy) {
  const std::string& name = policy.empty() ? default_policy_ : policy;
  auto it = frameworks_.find(name);
  if (it != frameworks_.end()) return it->second.get();
  if (!registry_->HasPolicy(name)) {
    std::string known;
    for (const std::string& p : registry_->PolicyNames()) known += (known.empty() ? "" : ", ") + p;
    return Status::InvalidArgument("field 'policy': unknown policy '" + name +
                                   "' (known: " + known + ")");
  }
  placement::FrameworkConfig config;
  config.policy = name;
  config.args = policy_args_;
  Result<std::unique_ptr<placement::Framework>> fw = registry_->BuildFramework(config);
  if (!fw.ok()) {
    std::string hint;
    if (policy_args_.typical_pods == nullptr) {
      hint = " (start the server with --workload-history PODS.csv)";
    }
    return Status::InvalidArgument("field 'policy': " + fw.status().message() + hint);
  }
  placement::Framework* raw = fw->get();
  frameworks_[name] = std::move(*fw);
  return raw;
}

Result<placement::PlacementOutcome> Ledger::Place(const std::string& vm_id,
                                                  const std::string& tenant, const VmSpec& spec,
                                                  const std::vector<ClosedHost>& closed,
                                                  const std::vector<DeviceSlice>* previous_nics) {
  DS_ASSIGN_OR_RETURN(placement::Framework * fw, FrameworkFor(spec.policy));
  VmRequest req = ForPlacement(spec.request, tenant);
  DS_RETURN_IF_ERROR(CheckNicsAgainstFleet(spec.request, req));
  if (req.gpu.memory_mib > 0) {
    // More GPU memory than any GPU has can never fit: the body's fault, not a full fleet.
    int64_t largest = 0;
    std::string where;
    for (const Host& h : cluster_.hosts) {
      for (const Device& d : h.devices) {
        if (d.kind != DeviceKind::kGpu || d.memory_mib <= largest) continue;
        largest = d.memory_mib;
        where = h.id + " " + d.id;
      }
    }
    if (largest > 0 && req.gpu.memory_mib > largest) {
      return Status::InvalidArgument(
          "field 'gpu.memory_mib': " + std::to_string(req.gpu.memory_mib) +
          " MiB is more than the largest GPU has (" + std::to_string(largest) + " MiB, " + where +
          ")");
    }
  }
  req.id = vm_id;
  req.tenant = tenant;
  if (!spec.anti_affinity_group.empty()) {
    req.avoid_host_ids = GroupHosts(tenant, spec.anti_affinity_group);
  }
  req.closed_hosts = closed;
  DS_ASSIGN_OR_RETURN(placement::PlacementOutcome outcome, fw->Schedule(req, cluster_));
  if (!outcome.placed()) return outcome;
  Status bound = BindNics(vm_id, tenant, spec.request, previous_nics, outcome.allocation.nics);
  if (!bound.ok()) {
    ReleasePlacement(outcome.allocation);
    return bound;
  }
  return outcome;
}

Status Ledger::CheckNicsAgainstFleet(const VmRequest& asked, const VmRequest& req) const {
  for (size_t i = 0; i < req.nics.size(); ++i) {
    const NicRequest& n = req.nics[i];
    const bool tenant_network =
        asked.nics[i].network != n.network || FindTenantNetwork(req.tenant, n.network) != nullptr;
    bool network = false, sriov = false;
    for (const Host& h : cluster_.hosts) {
      for (const Device& d : h.devices) {
        if (d.kind != DeviceKind::kNic || d.network != n.network) continue;
        network = true;
        sriov = sriov || d.inventory.Capacity() > 0;
      }
    }
    const std::string field = "field 'nics[" + std::to_string(i) + "]";
    if (!network && !tenant_network) {
      return Status::NotFound(field + ".network': network '" + n.network +
                              "' not found (neither a network of this tenant nor a provider "
                              "network of any host's NIC)");
    }
    if (!network) {
      return Status::InvalidArgument(field + ".network': network '" + asked.nics[i].network +
                                     "' is carried on physical network '" + n.network +
                                     "', which no host has a NIC on");
    }
    if (!tenant_network && !asked.nics[i].address.empty()) {
      return Status::InvalidArgument(field +
                                     ".address': only a NIC on a network of the tenant "
                                     "(POST /v1/networks) takes an address; '" +
                                     n.network + "' is a provider network");
    }
    if (n.vf && !sriov) {
      return Status::InvalidArgument(field + ".vf': no NIC on network '" + n.network +
                                     "' has SR-IOV virtual functions; ask for a virtio NIC "
                                     "(\"vf\": false)");
    }
  }
  return Status::Ok();
}

void Ledger::ReleasePlacement(const Allocation& a) {
  (void)cluster_.states[a.host_index].Release(a);
}

void Ledger::IndexGroup(const VmEntry& vm, int delta) {
  if (vm.spec.anti_affinity_group.empty()) return;
  auto& hosts = groups_[vm.record.tenant_id + "/" + vm.spec.anti_affinity_group];
  int& n = hosts[vm.record.host];
  n += delta;
  if (n <= 0) hosts.erase(vm.record.host);
}

std::vector<std::string> Ledger::GroupHosts(const std::string& tenant,
                                            const std::string& group) const {
  std::vector<std::string> out;
  auto it = groups_.find(tenant + "/" + group);
  if (it == groups_.end()) return out;
  for (const auto& [host, n] : it->second) out.push_back(host);
  return out;
}

void Ledger::AddVm(VmEntry vm) {
  IndexGroup(vm, +1);
  IndexNics(vm, +1);
  host_vms_[vm.record.host].insert(vm.record.id);
  std::string id = vm.record.id;
  vms_[id] = std::move(vm);
}

Result<VmEntry> Ledger::RemoveVm(const std::string& id) {
  auto it = vms_.find(id);
  if (it == vms_.end()) return Status::NotFound("vm " + id + " not found");
  VmEntry vm = std::move(it->second);
  vms_.erase(it);
  IndexGroup(vm, -1);
  IndexNics(vm, -1);
  if (auto h = host_vms_.find(vm.record.host); h != host_vms_.end()) {
    h->second.erase(id);
    if (h->second.empty()) host_vms_.erase(h);
  }
  ReleasePlacement(vm.allocation);
  return vm;
}

Status Ledger::RestoreVm(VmEntry vm) {
  vm.allocation.host_index = host_index_.at(vm.record.host);
  DS_RETURN_IF_ERROR(cluster_.states[vm.allocation.host_index].ApplyUnchecked(vm.allocation));
  AddVm(std::move(vm));
  return Status::Ok();
}

Result<VmEntry> Ledger::Resize(const std::string& id, const ResizeSpec& r) {
  auto it = vms_.find(id);
  if (it == vms_.end()) return Status::NotFound("vm " + id + " not found");
  VmEntry& vm = it->second;
  Allocation next = vm.allocation;
  if (r.cpu_milli > 0) next.cpu_milli = r.cpu_milli;
  if (r.memory_mib > 0) next.memory_mib = r.memory_mib;
  const bool gpu_change = r.gpu_milli > 0 || r.gpu_memory_mib >= 0;
  if (gpu_change) {
    if (next.gpus.size() != 1 || next.gpus[0].whole || !next.gpus[0].profile.empty() ||
        !next.gpus[0].vgpu.empty()) {
      return Status::FailedPrecondition(
          "gpu_milli and gpu_memory_mib can change only for a VM holding a free-size share of "
          "one GPU (a whole GPU, a partition or a vGPU profile has fixed amounts)");
    }
    if (r.gpu_milli > 0) next.gpus[0].milli = r.gpu_milli;
    if (r.gpu_memory_mib >= 0) next.gpus[0].memory_mib = r.gpu_memory_mib;
    DS_RETURN_IF_ERROR(FitShareOnHost(vm, r.move, next));
  }
  for (size_t i = 0; i < r.volumes.size(); ++i) {
    const ResizeSpec::Volume& want = r.volumes[i];
    const std::string field = "field 'volumes[" + std::to_string(i) + "]";
    auto slice = std::find_if(next.volumes.begin(), next.volumes.end(),
                              [&](const DeviceSlice& s) { return s.name == want.name; });
    if (slice == next.volumes.end()) {
      return Status::InvalidArgument(field + ".name': vm " + id + " has no volume '" + want.name +
                                     "'");
    }
    if (want.size_gib >= 0 && want.size_gib < slice->units) {
      return Status::InvalidArgument(field + ".size_gib': " + std::to_string(want.size_gib) +
                                     " < " + std::to_string(slice->units) +
                                     " now; volumes only grow");
    }
    if (want.size_gib >= 0) slice->units = want.size_gib;
    if (want.iops_reservation >= 0) slice->rate = want.iops_reservation;
    if (want.iops_weight >= 0) slice->weight = want.iops_weight;
    if (want.iops_limit >= 0) slice->rate_limit = want.iops_limit;
    if (slice->rate_limit > 0 && slice->rate > slice->rate_limit) {
      return Status::InvalidArgument(field + ".iops.reservation': " + std::to_string(slice->rate) +
                                     " > limit " + std::to_string(slice->rate_limit) +
                                     " (limit 0 = none)");
    }
  }
  for (size_t i = 0; i < r.nics.size(); ++i) {
    const ResizeSpec::Nic& n = r.nics[i];
    if (n.index >= static_cast<int64_t>(next.nics.size())) {
      return Status::InvalidArgument("field 'nics[" + std::to_string(i) + "].index': vm " + id +
                                     " has " + std::to_string(next.nics.size()) + " NICs");
    }
    DeviceSlice& nic = next.nics[n.index];
    if (n.bandwidth_min_mbps >= 0) nic.rate = n.bandwidth_min_mbps;
    if (n.bandwidth_max_mbps >= 0) nic.rate_limit = n.bandwidth_max_mbps;
    if (nic.rate_limit > 0 && nic.rate > nic.rate_limit) {
      return Status::InvalidArgument("field 'nics[" + std::to_string(i) +
                                     "].bandwidth_mbps.min': " + std::to_string(nic.rate) +
                                     " > max " + std::to_string(nic.rate_limit));
    }
  }
  VmEntry previous = vm;
  DS_RETURN_IF_ERROR(SwapAllocation(vm, next));
  vm.spec.request.cpu_milli = next.cpu_milli;
  vm.spec.request.memory_mib = next.memory_mib;
  vm.spec.normalized["cpu_milli"] = next.cpu_milli;
  vm.spec.normalized["memory_mib"] = next.memory_mib;
  if (gpu_change) {
    vm.spec.request.gpu.milli = static_cast<int>(next.gpus[0].milli);
    vm.spec.request.gpu.memory_mib = next.gpus[0].memory_mib;
    vm.spec.normalized["gpu"]["milli"] = next.gpus[0].milli;
    if (next.gpus[0].memory_mib > 0) {
      vm.spec.normalized["gpu"]["memory_mib"] = next.gpus[0].memory_mib;
    } else {
      vm.spec.normalized["gpu"].erase("memory_mib");
    }
  }
  for (size_t v = 0; v < next.volumes.size() && v < vm.spec.request.volumes.size(); ++v) {
    VolumeRequest& spec = vm.spec.request.volumes[v];
    spec.size_gib = next.volumes[v].units;
    spec.iops_reservation = next.volumes[v].rate;
    spec.iops_weight = next.volumes[v].weight;
    spec.iops_limit = next.volumes[v].rate_limit;
    vm.spec.normalized["volumes"][v] = VolumeJson(spec);
  }
  for (size_t n = 0; n < next.nics.size() && n < vm.spec.request.nics.size(); ++n) {
    vm.spec.request.nics[n].bandwidth_min_mbps = next.nics[n].rate;
    vm.spec.request.nics[n].bandwidth_max_mbps = next.nics[n].rate_limit;
    vm.spec.normalized["nics"][n]["bandwidth_mbps"] = {{"min", next.nics[n].rate},
                                                       {"max", next.nics[n].rate_limit}};
  }
  return previous;
}

namespace {

// Where `next` asks more of one of its disks than `h` has free: {"reasons": [...]} in the shape
// of unschedulable answers (resource, requested, free, capacity, device); null when none does.
nlohmann::json DiskShortfalls(const HostState& h, const Allocation& next) {
  std::map<int, std::pair<int64_t, int64_t>> asked;  // disk -> GiB, IOPS reserved
  for (const DeviceSlice& s : next.volumes) {
    asked[s.device].first += s.units;
    asked[s.device].second += s.rate;
  }
  nlohmann::json reasons = nlohmann::json::array();
  for (const auto& [disk, want] : asked) {
    const Device& d = h.host().devices[disk];
    const std::pair<const char*, std::array<int64_t, 3>> dims[] = {
        {"disk_gib", {want.first, h.device_free_units(disk), d.inventory.Capacity()}},
        {"disk_iops", {want.second, h.device_free_rate(disk), d.rate_capacity}}};
    for (const auto& [resource, n] : dims) {
      if (n[0] <= n[1]) continue;
      reasons.push_back({{"resource", resource},
                         {"device", d.id},
                         {"requested", n[0]},
                         {"free", n[1]},
                         {"capacity", n[2]}});
    }
  }
  return reasons.empty() ? nlohmann::json() : nlohmann::json{{"reasons", reasons}};
}

// A volume that fits on no disk of its tier on `host`: unschedulable with the numbers.
Status VolumeUnschedulable(const std::string& volume, const std::string& tier,
                           const std::string& host, const placement::VolumeFit& fit) {
  std::string message = "volume '" + volume + "': host " + host + " has no " + tier + " pool";
  if (fit.disks_of_tier > 0) {
    constexpr std::string_view kPrefix = "volume: ";
    std::string why = fit.message;
    if (why.rfind(kPrefix, 0) == 0) why = why.substr(kPrefix.size());
    message = "volume '" + volume + "' does not fit on host " + host + ": " + why;
  }
  nlohmann::json reason = {{"filter", "volume_fit"},
                           {"resource", fit.disks_of_tier > 0 ? fit.resource : "disk_tier"},
                           {"requested", fit.requested},
                           {"free", fit.free},
                           {"capacity", fit.capacity},
                           {"hosts", 1},
                           {"example", fit.message}};
  if (!fit.device.empty()) reason["device"] = fit.device;
  const nlohmann::json details = {{"reasons", nlohmann::json::array({reason})},
                                  {"candidates", nlohmann::json::array()}};
  return Status::FailedPrecondition(message).WithReason("unschedulable", JsonText(details));
}

Status UnknownVolume(const std::string& id, const std::string& name) {
  return Status::NotFound("vm " + id + " has no volume '" + name + "'");
}

}  // namespace

Status Ledger::FitShareOnHost(const VmEntry& vm, bool move, Allocation& next) const {
  const HostState& h = cluster_.states[vm.allocation.host_index];
  const DeviceSlice& now = vm.allocation.gpus[0];
  DeviceSlice& want = next.gpus[0];
  const int g = now.gpu;
  // What this VM could have on its GPU: the free amounts plus its own.
  const int64_t capacity_mib = h.gpu_memory_capacity_mib(g);
  const int64_t free_mib = h.gpu_free_memory_mib(g) + now.memory_mib;
  const int64_t free_milli = h.gpu_free_milli()[g] + now.milli;
  const bool memory_short = capacity_mib > 0 && want.memory_mib > free_mib;
  const bool milli_short = want.milli > free_milli;
  int64_t largest_mib = 0;
  for (int o = 0; o < h.gpu_count(); ++o) {
    largest_mib = std::max(largest_mib, h.gpu_memory_capacity_mib(o));
  }
  if (largest_mib > 0 && want.memory_mib > largest_mib) {
    return Status::InvalidArgument("field 'gpu_memory_mib': " + std::to_string(want.memory_mib) +
                                   " MiB is more than the largest GPU of host " + vm.record.host +
                                   " has (" + std::to_string(largest_mib) + " MiB)");
  }
  if (!memory_short && !milli_short) return Status::Ok();  // in place
  const std::string reason = memory_short ? "gpu_memory_full" : "gpu_full";
  const std::string asked = std::to_string(want.memory_mib) + " MiB GPU memory and " +
                            std::to_string(want.milli) + " milli";
  nlohmann::json details = {{"host", vm.record.host},
                            {"gpu", now.device_id},
                            {"requested_memory_mib", want.memory_mib},
                            {"free_memory_mib", free_mib},
                            {"capacity_memory_mib", capacity_mib},
                            {"requested_milli", want.milli},
                            {"free_milli", free_milli}};
  if (!move) {
    details["hint"] = "resize with \"move\": true (devshare vm resize --move)";
    return Status::ResourceExhausted(
               "host " + vm.record.host + " " + now.device_id + " has " + std::to_string(free_mib) +
               " MiB GPU memory" + (capacity_mib > 0 ? " of " + std::to_string(capacity_mib) : "") +
               " and " + std::to_string(free_milli) + " milli free for this VM; asked " + asked +
               ". Resize with \"move\": true (devshare vm resize --move) to move the share to "
               "another GPU of host " +
               vm.record.host + " with room")
        .WithReason(reason, JsonText(details));
  }
  // Move: the fitting GPU of the host with the least free memory (best fit; lowest ordinal on
  // ties), by the same rules as placement's (model, isolation, tenants, vGPU profiles).
  VmRequest req = vm.spec.request;
  req.gpu.milli = static_cast<int>(want.milli);
  req.gpu.memory_mib = want.memory_mib;
  int best = -1;
  std::string others;
  for (int o = 0; o < h.gpu_count(); ++o) {
    if (o == g) continue;
    others += (others.empty() ? "" : ", ") + h.gpu_device(o).id + " " +
              std::to_string(h.gpu_free_memory_mib(o)) + " MiB/" +
              std::to_string(h.gpu_free_milli()[o]) + " milli";
    if (!placement::GpuCanTakeShare(req, h, o)) continue;
    if (best < 0 || h.gpu_free_memory_mib(o) < h.gpu_free_memory_mib(best)) best = o;
  }
  if (best < 0) {
    details["other_gpus"] = others.empty() ? "none" : others;
    return Status::ResourceExhausted("no other GPU of host " + vm.record.host + " has room for " +
                                     asked +
                                     " (free: " + (others.empty() ? "no other GPU" : others) +
                                     "); the share stays on " + now.device_id)
        .WithReason(reason, JsonText(details));
  }
  want.gpu = best;
  want.device_id = h.gpu_device(best).id;
  return Status::Ok();
}

Status Ledger::SwapAllocation(VmEntry& vm, Allocation next) {
  HostState& h = cluster_.states[vm.allocation.host_index];
  DS_RETURN_IF_ERROR(h.Release(vm.allocation));
  next.generation = h.generation();
  Status s = h.Apply(next);
  if (!s.ok()) {
    const nlohmann::json details = DiskShortfalls(h, next);
    Status back = h.ApplyUnchecked(vm.allocation);
    (void)back;  // it fitted a moment ago
    if (details.is_null()) {
      return Status::FailedPrecondition("host " + vm.record.host + " has no room: " + s.message());
    }
    const nlohmann::json& d = details["reasons"][0];
    const bool gib = d["resource"] == "disk_gib";
    return Status::FailedPrecondition("host " + vm.record.host + " has no room on disk " +
                                      d["device"].get<std::string>() + ": requested " +
                                      d["requested"].dump() + (gib ? " GiB" : " IOPS reserved") +
                                      ", free " + d["free"].dump() + " of " + d["capacity"].dump())
        .WithReason("no_room", JsonText(details));
  }
  vm.allocation = std::move(next);
  return Status::Ok();
}

Result<VmEntry> Ledger::AttachVolume(const std::string& id, const VolumeRequest& v) {
  auto it = vms_.find(id);
  if (it == vms_.end()) return Status::NotFound("vm " + id + " not found");
  VmEntry& vm = it->second;
  for (const DeviceSlice& s : vm.allocation.volumes) {
    if (s.name == v.name) {
      return Status::AlreadyExists("vm " + id + " already has a volume '" + v.name + "'");
    }
  }
  const placement::VolumeFit fit =
      placement::FitVolumes({v}, cluster_.states[vm.allocation.host_index]);
  if (!fit.ok()) return VolumeUnschedulable(v.name, v.tier, vm.record.host, fit);
  Allocation next = vm.allocation;
  next.volumes.push_back(fit.slices[0]);
  VmEntry previous = vm;
  DS_RETURN_IF_ERROR(SwapAllocation(vm, std::move(next)));
  vm.spec.request.volumes.push_back(v);
  if (!vm.spec.normalized.contains("volumes")) {
    vm.spec.normalized["volumes"] = nlohmann::json::array();
  }
  vm.spec.normalized["volumes"].push_back(VolumeJson(v));
  return previous;
}

Result<VmEntry> Ledger::DetachVolume(const std::string& id, const std::string& name) {
  auto it = vms_.find(id);
  if (it == vms_.end()) return Status::NotFound("vm " + id + " not found");
  VmEntry& vm = it->second;
  Allocation next = vm.allocation;
  auto slice = std::find_if(next.volumes.begin(), next.volumes.end(),
                            [&](const DeviceSlice& s) { return s.name == name; });
  if (slice == next.volumes.end()) return UnknownVolume(id, name);
  const size_t index = static_cast<size_t>(slice - next.volumes.begin());
  next.volumes.erase(slice);
  VmEntry previous = vm;
  DS_RETURN_IF_ERROR(SwapAllocation(vm, std::move(next)));
  std::vector<VolumeRequest>& spec = vm.spec.request.volumes;
  if (index < spec.size()) spec.erase(spec.begin() + static_cast<std::ptrdiff_t>(index));
  nlohmann::json& normalized = vm.spec.normalized["volumes"];
  if (index < normalized.size()) normalized.erase(index);
  if (normalized.empty()) vm.spec.normalized.erase("volumes");
  return previous;
}

Result<VmEntry> Ledger::MigrateVolume(const std::string& id, const std::string& name,
                                      const std::string& tier) {
  auto it = vms_.find(id);
  if (it == vms_.end()) return Status::NotFound("vm " + id + " not found");
  VmEntry& vm = it->second;
  auto slice = std::find_if(vm.allocation.volumes.begin(), vm.allocation.volumes.end(),
                            [&](const DeviceSlice& s) { return s.name == name; });
  if (slice == vm.allocation.volumes.end()) return UnknownVolume(id, name);
  const size_t index = static_cast<size_t>(slice - vm.allocation.volumes.begin());
  if (index >= vm.spec.request.volumes.size()) {
    return Status::Internal("vm " + id + ": volume '" + name + "' is not in its spec");
  }
  VolumeRequest moved = vm.spec.request.volumes[index];
  if (moved.tier == tier) return Status::FailedPrecondition("already on tier " + tier);
  moved.tier = tier;
  moved.size_gib = slice->units;
  moved.iops_reservation = slice->rate;
  moved.iops_weight = slice->weight;
  moved.iops_limit = slice->rate_limit;
  // The old disk is of another tier, so the VM's slice on it does not count against the new one.
  const placement::VolumeFit fit =
      placement::FitVolumes({moved}, cluster_.states[vm.allocation.host_index]);
  if (!fit.ok()) return VolumeUnschedulable(name, tier, vm.record.host, fit);
  Allocation next = vm.allocation;
  next.volumes[index] = fit.slices[0];
  VmEntry previous = vm;
  DS_RETURN_IF_ERROR(SwapAllocation(vm, std::move(next)));
  vm.spec.request.volumes[index].tier = tier;
  vm.spec.normalized["volumes"][index]["tier"] = tier;
  return previous;
}

Status Ledger::ReplaceVm(VmEntry vm) {
  auto it = vms_.find(vm.record.id);
  if (it == vms_.end()) return RestoreVm(std::move(vm));
  HostState& h = cluster_.states[it->second.allocation.host_index];
  DS_RETURN_IF_ERROR(h.Release(it->second.allocation));
  DS_RETURN_IF_ERROR(h.ApplyUnchecked(vm.allocation));
  IndexNics(it->second, -1);
  IndexNics(vm, +1);
  it->second = std::move(vm);
  return Status::Ok();
}

nlohmann::json Ledger::ExplainCandidates(const VmSpec& spec, const std::string& tenant, int limit,
                                         const std::vector<ClosedHost>& closed) const {
  std::vector<int> order(cluster_.states.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const HostState& x = cluster_.states[a];
    const HostState& y = cluster_.states[b];
    if (x.gpu_free_total_milli() != y.gpu_free_total_milli()) {
      return x.gpu_free_total_milli() > y.gpu_free_total_milli();
    }
    return x.cpu_free_milli() > y.cpu_free_milli();
  });
  nlohmann::json out = nlohmann::json::array();
  auto fw_it = frameworks_.find(spec.policy.empty() ? default_policy_ : spec.policy);
  if (fw_it == frameworks_.end()) return out;
  VmRequest req = ForPlacement(spec.request, tenant);
  req.tenant = tenant;
  if (!spec.anti_affinity_group.empty()) {
    req.avoid_host_ids = GroupHosts(tenant, spec.anti_affinity_group);
  }
  req.closed_hosts = closed;
  for (int i : order) {
    if (static_cast<int>(out.size()) >= limit) break;
    nlohmann::json reasons = nlohmann::json::array();
    for (const placement::Reason& r : fw_it->second->ExplainHost(req, cluster_.states[i])) {
      reasons.push_back({{"filter", r.plugin}, {"resource", r.resource}, {"message", r.message}});
    }
    out.push_back({{"host", cluster_.hosts[i].id}, {"reasons", reasons}});
  }
  return out;
}

}  // namespace devshare::server
