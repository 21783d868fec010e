// Per-resource totals and per-device usage JSON of hosts.
#include "server/usage_view.h"

namespace devshare::server {
namespace {

void Add(std::vector<ResourceTotal>& out, const std::string& resource, const std::string& tier,
         int64_t used, int64_t capacity) {
  for (ResourceTotal& t : out) {
    if (t.resource == resource && t.tier == tier) {
      t.used += used;
      t.capacity += capacity;
      return;
    }
  }
  out.push_back({resource, tier, used, capacity});
}

void AddHost(std::vector<ResourceTotal>& out, const HostState& h) {
  Add(out, "cpu_milli", "", h.cpu_capacity_milli() - h.cpu_free_milli(), h.cpu_capacity_milli());
  Add(out, "memory_mib", "", h.memory_capacity_mib() - h.memory_free_mib(),
      h.memory_capacity_mib());
  Add(out, "gpu_milli", "", h.gpu_capacity_total_milli() - h.gpu_free_total_milli(),
      h.gpu_capacity_total_milli());
  int64_t vf_used = 0, vf_cap = 0, bw_used = 0, bw_cap = 0;
  for (int d : h.unit_device_indices()) {
    const Device& dev = h.host().devices[d];
    if (dev.kind != DeviceKind::kNic) continue;
    vf_cap += dev.inventory.Capacity();
    vf_used += dev.inventory.Capacity() - h.device_free_units(d);
    bw_cap += dev.rate_capacity;
    bw_used += dev.rate_capacity - h.device_free_rate(d);
  }
  Add(out, "nic_vf", "", vf_used, vf_cap);
  Add(out, "nic_bandwidth_mbps", "", bw_used, bw_cap);
  for (const char* tier : kStorageTiers) {
    for (int d : h.unit_device_indices()) {
      const Device& dev = h.host().devices[d];
      if (dev.kind != DeviceKind::kDisk || dev.tier != tier) continue;
      Add(out, "disk_gib", tier, dev.inventory.Capacity() - h.device_free_units(d),
          dev.inventory.Capacity());
      Add(out, "disk_iops", tier, dev.rate_capacity - h.device_free_rate(d), dev.rate_capacity);
    }
  }
}

nlohmann::json UsedOf(int64_t used, int64_t capacity) {
  return {{"used", used}, {"capacity", capacity}};
}

}  // namespace

std::vector<ResourceTotal> HostTotals(const HostState& h) {
  std::vector<ResourceTotal> out;
  AddHost(out, h);
  return out;
}

std::vector<ResourceTotal> ClusterTotals(const ClusterState& c) {
  std::vector<ResourceTotal> out;
  for (const char* r : {"cpu_milli", "memory_mib", "gpu_milli", "nic_vf", "nic_bandwidth_mbps"}) {
    Add(out, r, "", 0, 0);
  }
  for (const char* tier : kStorageTiers) {
    Add(out, "disk_gib", tier, 0, 0);
    Add(out, "disk_iops", tier, 0, 0);
  }
  for (const HostState& h : c.states) AddHost(out, h);
  return out;
}

nlohmann::json HostUsageJson(const HostState& h, bool with_devices) {
  nlohmann::json usage = nlohmann::json::object();
  for (const ResourceTotal& t : HostTotals(h)) {
    if (t.tier.empty()) {
      usage[t.resource] = UsedOf(t.used, t.capacity);
    } else {
      usage[t.resource][t.tier] = UsedOf(t.used, t.capacity);
    }
  }
  if (!with_devices) return usage;
  nlohmann::json gpus = nlohmann::json::array();
  for (int g = 0; g < h.gpu_count(); ++g) {
    const GpuUsage& u = h.gpu_usage(g);
    nlohmann::json gpu = {{"id", h.gpu_device(g).id},
                          {"used_milli", u.used_milli},
                          {"whole", u.whole},
                          {"shares", u.shares},
                          {"partitions", u.partitions.size()},
                          {"memory_mib", h.gpu_memory_capacity_mib(g)},
                          {"used_memory_mib", u.used_memory_mib}};
    if (!u.vgpu.empty()) gpu["vgpu"] = u.vgpu;
    gpus.push_back(std::move(gpu));
  }
  usage["gpus"] = gpus;
  nlohmann::json nics = nlohmann::json::array();
  nlohmann::json disks = nlohmann::json::array();
  for (int d : h.unit_device_indices()) {
    const Device& dev = h.host().devices[d];
    const DeviceUsage& u = h.device_usage(d);
    if (dev.kind == DeviceKind::kNic) {
      nlohmann::json taken = nlohmann::json::array();
      for (size_t i = 0; i < u.units_taken.size(); ++i) {
        if (u.units_taken[i]) taken.push_back(i);
      }
      nics.push_back({{"id", dev.id},
                      {"network", dev.network},
                      {"vfs", UsedOf(u.used_units, dev.inventory.Capacity())},
                      {"vfs_taken", taken},
                      {"bandwidth_mbps", UsedOf(u.used_rate, dev.rate_capacity)},
                      {"interfaces", u.shares},
                      {"whole", u.whole}});
    } else {
      disks.push_back({{"id", dev.id},
                       {"tier", dev.tier},
                       {"gib", UsedOf(u.used_units, dev.inventory.Capacity())},
                       {"iops", UsedOf(u.used_rate, dev.rate_capacity)},
                       {"volumes", u.shares},
                       {"whole", u.whole}});
    }
  }
  usage["nics"] = nics;
  usage["disks"] = disks;
  return usage;
}

}  // namespace devshare::server
