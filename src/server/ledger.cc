// Ledger: in-memory tenants, tokens, hosts, VMs and placement, rebuilt from the store.
#include "server/ledger.h"

#include <algorithm>

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
    devices.push_back(std::move(d));
  }
  return {{"cpu_milli", a.cpu_milli}, {"memory_mib", a.memory_mib}, {"devices", devices}};
}

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
  groups_.clear();
  frameworks_.clear();
  for (const store::TenantRecord& t : snap.tenants) AddTenant(t);
  for (const store::TokenRecord& t : snap.tokens) AddToken(t);
  for (const store::IdempotencyRecord& r : snap.idempotency) AddIdempotency(r);
  // Hosts in name order: the node rank that breaks score ties is stable across restarts.
  std::vector<store::HostRecord> hosts = snap.hosts;
  std::sort(hosts.begin(), hosts.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
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
    auto hi = host_index_.find(r.host);
    if (hi == host_index_.end()) return Status::DataLoss("vm " + r.id + ": unknown host " + r.host);
    Result<VmSpec> spec = VmSpecFromStored(r.spec_json);
    if (!spec.ok()) return Status::DataLoss("vm " + r.id + ": spec: " + spec.status().message());
    Result<Allocation> a = AllocationFromJson(r.allocation_json, cluster_.hosts[hi->second]);
    if (!a.ok()) return Status::DataLoss("vm " + r.id + ": " + a.status().message());
    a->request_id = r.id;
    a->tenant = r.tenant_id;
    a->host_index = hi->second;
    Status applied = cluster_.states[hi->second].ApplyUnchecked(*a);
    if (!applied.ok()) {
      return Status::DataLoss("vm " + r.id + " does not fit host " + r.host + ": " +
                              applied.message());
    }
    VmEntry vm{r, std::move(*spec), std::move(*a)};
    vm.spec.request.id = r.id;
    vm.spec.request.tenant = r.tenant_id;
    IndexGroup(vm, +1);
    vms_.emplace(r.id, std::move(vm));
  }
  return Status::Ok();
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
                                                  const std::string& tenant, const VmSpec& spec) {
  DS_ASSIGN_OR_RETURN(placement::Framework * fw, FrameworkFor(spec.policy));
  VmRequest req = spec.request;
  req.id = vm_id;
  req.tenant = tenant;
  if (!spec.anti_affinity_group.empty()) {
    req.avoid_host_ids = GroupHosts(tenant, spec.anti_affinity_group);
  }
  return fw->Schedule(req, cluster_);
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
  std::string id = vm.record.id;
  vms_[id] = std::move(vm);
}

Result<VmEntry> Ledger::RemoveVm(const std::string& id) {
  auto it = vms_.find(id);
  if (it == vms_.end()) return Status::NotFound("vm " + id + " not found");
  VmEntry vm = std::move(it->second);
  vms_.erase(it);
  IndexGroup(vm, -1);
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
  if (r.gpu_milli > 0) {
    if (next.gpus.size() != 1 || next.gpus[0].whole || !next.gpus[0].profile.empty()) {
      return Status::FailedPrecondition(
          "gpu_milli can change only for a VM holding part of one GPU");
    }
    next.gpus[0].milli = r.gpu_milli;
  }
  HostState& h = cluster_.states[vm.allocation.host_index];
  DS_RETURN_IF_ERROR(h.Release(vm.allocation));
  next.generation = h.generation();
  Status s = h.Apply(next);
  if (!s.ok()) {
    Status back = h.ApplyUnchecked(vm.allocation);
    (void)back;  // it fitted a moment ago
    return Status::FailedPrecondition("host " + vm.record.host + " has no room: " + s.message());
  }
  VmEntry previous = vm;
  vm.allocation = next;
  vm.spec.request.cpu_milli = next.cpu_milli;
  vm.spec.request.memory_mib = next.memory_mib;
  vm.spec.normalized["cpu_milli"] = next.cpu_milli;
  vm.spec.normalized["memory_mib"] = next.memory_mib;
  if (r.gpu_milli > 0) {
    vm.spec.request.gpu.milli = static_cast<int>(r.gpu_milli);
    vm.spec.normalized["gpu"]["milli"] = r.gpu_milli;
  }
  return previous;
}

Status Ledger::ReplaceVm(VmEntry vm) {
  auto it = vms_.find(vm.record.id);
  if (it == vms_.end()) return RestoreVm(std::move(vm));
  HostState& h = cluster_.states[it->second.allocation.host_index];
  DS_RETURN_IF_ERROR(h.Release(it->second.allocation));
  DS_RETURN_IF_ERROR(h.ApplyUnchecked(vm.allocation));
  it->second = std::move(vm);
  return Status::Ok();
}

nlohmann::json Ledger::ExplainCandidates(const VmSpec& spec, const std::string& tenant,
                                         int limit) const {
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
  VmRequest req = spec.request;
  req.tenant = tenant;
  if (!spec.anti_affinity_group.empty()) {
    req.avoid_host_ids = GroupHosts(tenant, spec.anti_affinity_group);
  }
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
