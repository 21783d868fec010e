// Host equivalence classes (see the header).
// Thread-safety: see host_classes.h.
#include "placement/host_classes.h"

#include <cstring>
#include <utility>

#include "placement/key_bytes.h"

namespace devshare::placement {
namespace {

void AppendInventory(std::string* key, const Inventory& inv) {
  AppendRaw(key, inv.total);
  AppendRaw(key, inv.reserved);
  AppendRaw(key, inv.min_unit);
  AppendRaw(key, inv.max_unit);
  AppendRaw(key, inv.step_size);
  AppendRaw(key, inv.allocation_ratio);
}

// Cap on the change log, relative to the slots: readers further behind re-read everything,
// which costs about as much as replaying that many changes.
constexpr size_t kLogSlack = 4096;

}  // namespace

std::string HostShapeKey(const Host& host) {
  std::string key;
  AppendRaw<uint64_t>(&key, host.numa_nodes.size());
  for (const NumaNode& n : host.numa_nodes) {
    AppendRaw(&key, n.id);
    AppendRaw(&key, n.cpu_milli);
    AppendRaw(&key, n.memory_mib);
  }
  AppendInventory(&key, host.cpu_milli);
  AppendInventory(&key, host.memory_mib);
  AppendRaw<uint64_t>(&key, host.traits.size());
  for (const std::string& t : host.traits) AppendString(&key, t);
  AppendRaw<uint64_t>(&key, host.devices.size());
  for (const Device& d : host.devices) {
    AppendString(&key, d.id);
    AppendRaw(&key, static_cast<int>(d.kind));
    AppendString(&key, d.generic_kind);
    AppendRaw(&key, static_cast<int>(d.mode));
    AppendRaw(&key, static_cast<int>(d.isolation));
    AppendString(&key, d.model);
    AppendRaw(&key, d.memory_mib);
    AppendRaw(&key, d.vgpu_mixed_sizes);
    AppendRaw(&key, d.numa_node);
    AppendInventory(&key, d.inventory);
    AppendString(&key, d.geometry ? d.geometry->name : std::string("-"));
    // A geometry is shared by name (PartitionGeometry::ByName); a hand-built one with the
    // same name but other profiles would differ, so its address decides too.
    AppendRaw(&key, reinterpret_cast<uintptr_t>(d.geometry.get()));
    AppendRaw<uint64_t>(&key, d.attributes.size());
    for (const auto& [k, v] : d.attributes) {
      AppendString(&key, k);
      AppendString(&key, v);
    }
    AppendRaw(&key, d.rate_capacity);
    AppendString(&key, d.network);
    AppendString(&key, d.tier);
  }
  return key;
}

void AppendUsageKey(const HostState& s, std::string* key) {
  AppendRaw(key, s.cpu_free_milli());
  AppendRaw(key, s.memory_free_mib());
  for (int g = 0; g < s.gpu_count(); ++g) {
    AppendRaw(key, s.gpu_free_milli()[g]);
    const GpuUsage& u = s.gpu_usage(g);
    AppendRaw(key, u.used_milli);
    AppendRaw(key, u.whole);
    AppendRaw(key, u.shares);
    AppendRaw(key, u.used_memory_mib);
    AppendRaw(key, u.vgpu_shares);
    AppendString(key, u.vgpu);
    AppendRaw<uint64_t>(key, u.partitions.size());
    for (const PartitionInstance& p : u.partitions) {
      AppendRaw(key, p.start);
      AppendRaw(key, p.memory_slices);
      AppendRaw(key, p.compute_slices);
    }
    AppendRaw<uint64_t>(key, u.tenants.size());
    for (const std::string& t : u.tenants) AppendString(key, t);
  }
  for (int d : s.unit_device_indices()) {
    const DeviceUsage& u = s.device_usage(d);
    AppendRaw(key, u.whole);
    AppendRaw(key, u.shares);
    AppendRaw(key, u.used_units);
    AppendRaw(key, u.used_rate);
    AppendRaw<uint64_t>(key, u.units_taken.size());
    for (bool taken : u.units_taken) AppendRaw(key, taken);
  }
}

void HostClasses::Reset(const ClusterState& cluster) {
  cluster_ = &cluster;
  const size_t n = cluster.states.size();
  shape_ids_.clear();
  shape_of_.assign(n, 0);
  class_of_.assign(n, -1);
  generation_.assign(n, 0);
  slots_.clear();
  free_slots_.clear();
  slot_of_key_.clear();
  live_ = 0;
  log_begin_ = log_end();
  log_.clear();
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] =
        shape_ids_.emplace(HostShapeKey(cluster.hosts[i]), static_cast<int>(shape_ids_.size()));
    shape_of_[i] = it->second;
  }
  for (size_t i = 0; i < n; ++i) File(cluster, static_cast<int>(i));
}

void HostClasses::Refile(const ClusterState& cluster, int i) {
  if (generation_[i] == cluster.states[i].generation()) return;
  scratch_.clear();
  AppendRaw(&scratch_, shape_of_[i]);
  AppendUsageKey(cluster.states[i], &scratch_);
  generation_[i] = cluster.states[i].generation();
  if (slots_[class_of_[i]].key == scratch_) return;
  Leave(i);
  File(cluster, i);
}

void HostClasses::RefileChanged(const ClusterState& cluster) {
  for (size_t i = 0; i < class_of_.size(); ++i) Refile(cluster, static_cast<int>(i));
}

void HostClasses::File(const ClusterState& cluster, int i) {
  scratch_.clear();
  AppendRaw(&scratch_, shape_of_[i]);
  AppendUsageKey(cluster.states[i], &scratch_);
  generation_[i] = cluster.states[i].generation();
  auto it = slot_of_key_.find(scratch_);
  int s;
  if (it != slot_of_key_.end()) {
    s = it->second;
  } else {
    if (!free_slots_.empty()) {
      s = free_slots_.back();
      free_slots_.pop_back();
    } else {
      s = static_cast<int>(slots_.size());
      slots_.emplace_back();
    }
    Slot& slot = slots_[s];
    slot.live = true;
    ++slot.version;
    slot.key = scratch_;
    slot_of_key_.emplace(scratch_, s);
    ++live_;
  }
  slots_[s].members.insert(i);
  Summarize(slots_[s]);
  class_of_[i] = s;
  log_.push_back(s);
  Trim();
}

void HostClasses::Leave(int i) {
  const int s = class_of_[i];
  Slot& slot = slots_[s];
  slot.members.erase(i);
  Summarize(slot);
  class_of_[i] = -1;
  if (slot.members.empty()) {
    slot.live = false;
    slot_of_key_.erase(slot.key);
    std::string().swap(slot.key);
    free_slots_.push_back(s);
    --live_;
  }
  log_.push_back(s);
}

void HostClasses::Summarize(Slot& slot) {
  slot.size = static_cast<int64_t>(slot.members.size());
  slot.first = slot.members.empty() ? -1 : *slot.members.begin();
  slot.last = slot.members.empty() ? -1 : *slot.members.rbegin();
}

void HostClasses::Trim() {
  const size_t cap = 4 * slots_.size() + kLogSlack;
  if (log_.size() <= cap) return;
  const size_t drop = log_.size() / 2;
  log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(drop));
  log_begin_ += drop;
}

}  // namespace devshare::placement
