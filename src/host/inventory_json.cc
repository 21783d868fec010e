// BuildInventory / ApplyDeviceAttributes / DiscoveryToJson: the mapping of docs/host-agent.md.
#include "devshare/host/inventory_json.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

namespace devshare::host {
namespace {

using nlohmann::json;

std::string Hex4(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

std::string Hex6(uint32_t v) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "0x%06x", v);
  return buf;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Inventory NUMA index of a kernel node id (nodes renumbered 0..n-1); 0 when unknown.
int NumaIndex(const DiscoveredHost& h, int kernel_node) {
  for (size_t i = 0; i < h.numa_nodes.size(); ++i) {
    if (h.numa_nodes[i].id == kernel_node) return static_cast<int>(i);
  }
  return 0;
}

// A device id usable as an inventory name ([A-Za-z0-9._-], <= 63, starting alnum).
std::string SafeId(std::string s) {
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '-';
  }
  if (s.empty() || s[0] == '.' || s[0] == '_' || s[0] == '-') s = "d" + s;
  if (s.size() > 63) s.resize(63);
  return s;
}

}  // namespace

std::string GpuModelName(uint16_t vendor_id, uint16_t device_id) {
  struct Known {
    uint16_t vendor, device;
    const char* model;
  };
  // Names follow the traces' model column where one exists (A100, T4, V100M16, ...).
  static constexpr Known kKnown[] = {
      {0x10de, 0x20b0, "A100"},      {0x10de, 0x20f1, "A100"},      {0x10de, 0x20b2, "A100-80GB"},
      {0x10de, 0x20b5, "A100-80GB"}, {0x10de, 0x20f3, "A100-80GB"}, {0x10de, 0x20b7, "A30"},
      {0x10de, 0x2235, "A40"},       {0x10de, 0x25b6, "A16"},       {0x10de, 0x2330, "H100"},
      {0x10de, 0x2331, "H100"},      {0x10de, 0x2322, "H800"},      {0x10de, 0x1eb8, "T4"},
      {0x10de, 0x1db1, "V100M16"},   {0x10de, 0x1db4, "V100M16"},   {0x10de, 0x1db5, "V100M32"},
      {0x10de, 0x1db6, "V100M32"},   {0x10de, 0x15f8, "P100"},      {0x10de, 0x26b5, "L40"},
      {0x10de, 0x26b9, "L40S"},      {0x10de, 0x27b8, "L4"},        {0x1002, 0x740c, "MI250X"},
      {0x1002, 0x740f, "MI210"},     {0x1002, 0x74a1, "MI300X"},
  };
  for (const Known& k : kKnown) {
    if (k.vendor == vendor_id && k.device == device_id) return k.model;
  }
  return Hex4(vendor_id) + "-" + Hex4(device_id);
}

Result<HostInventory> BuildInventory(const DiscoveredHost& h, const InventoryOptions& options) {
  HostInventory inv;
  json& body = inv.body;

  // --- CPUs: the guest CPU set, split by NUMA node.
  std::vector<int> guest = options.guest_cpus.empty() ? h.cpu.online : options.guest_cpus;
  std::sort(guest.begin(), guest.end());
  guest.erase(std::unique(guest.begin(), guest.end()), guest.end());
  for (int c : guest) {
    if (std::find(h.cpu.online.begin(), h.cpu.online.end(), c) == h.cpu.online.end()) {
      return Status::InvalidArgument("guest CPU " + std::to_string(c) + " is not online (online: " +
                                     FormatCpuList(h.cpu.online) + ")");
    }
  }
  if (guest.empty()) return Status::FailedPrecondition("the host has no online CPU");
  const int64_t cpu_milli = static_cast<int64_t>(guest.size()) * 1000;
  const int64_t memory_mib = h.memory_total_kib / 1024;
  if (memory_mib <= 0) return Status::FailedPrecondition("the host's memory size is unknown");
  if (options.memory_reserved_mib < 0 || options.memory_reserved_mib > memory_mib) {
    return Status::InvalidArgument("memory_reserved_mib must be within 0.." +
                                   std::to_string(memory_mib));
  }
  body["cpu_milli"] = cpu_milli;
  body["memory_mib"] = memory_mib;
  if (options.memory_reserved_mib > 0) body["memory_reserved_mib"] = options.memory_reserved_mib;

  // --- NUMA nodes: renumbered; CPU milli from the guest CPUs on each; memory scaled so the
  // nodes add up to MemTotal (ParseHostSpec requires it; the kernel's node meminfo may not).
  const size_t nodes = h.numa_nodes.size();
  if (nodes > 1) {
    std::vector<int64_t> node_cpu(nodes, 0), node_mem(nodes, 0);
    for (int c : guest) {
      size_t at = 0;
      for (size_t i = 0; i < nodes; ++i) {
        const std::vector<int>& cpus = h.numa_nodes[i].cpus;
        if (std::find(cpus.begin(), cpus.end(), c) != cpus.end()) at = i;
      }
      node_cpu[at] += 1000;
    }
    int64_t node_kib = 0;
    for (const NumaNodeInfo& n : h.numa_nodes) node_kib += n.memory_kib;
    int64_t assigned = 0;
    for (size_t i = 0; i < nodes; ++i) {
      node_mem[i] = node_kib > 0 ? static_cast<int64_t>(static_cast<long double>(memory_mib) *
                                                        h.numa_nodes[i].memory_kib / node_kib)
                                 : memory_mib / static_cast<int64_t>(nodes);
      assigned += node_mem[i];
    }
    node_mem[nodes - 1] += memory_mib - assigned;
    if (node_kib / 1024 != memory_mib) {
      inv.notes.push_back("NUMA nodes report " + std::to_string(node_kib / 1024) +
                          " MiB in all, MemTotal " + std::to_string(memory_mib) +
                          " MiB: node memory scaled to MemTotal");
    }
    body["numa"] = json::array();
    for (size_t i = 0; i < nodes; ++i) {
      body["numa"].push_back(
          {{"id", static_cast<int>(i)}, {"cpu_milli", node_cpu[i]}, {"memory_mib", node_mem[i]}});
      if (h.numa_nodes[i].id != static_cast<int>(i)) {
        inv.notes.push_back("kernel NUMA node " + std::to_string(h.numa_nodes[i].id) +
                            " is inventory node " + std::to_string(i));
      }
    }
  }
  auto numa_of = [&](int kernel_node) { return nodes > 1 ? NumaIndex(h, kernel_node) : 0; };

  // --- GPUs, in address order: gpu0, gpu1, ...
  std::set<std::string> inventory_functions;  // BDFs that become inventory devices
  std::vector<const PciFunction*> gpus = h.Gpus();
  for (const PciFunction* g : gpus) inventory_functions.insert(g->address);
  std::vector<const PciFunction*> pfs;
  for (const PciFunction& f : h.pci) {
    if (!f.IsSriovPf()) continue;
    if (f.sriov_numvfs <= 0) {
      inv.notes.push_back("NIC " + f.address + " can have " + std::to_string(f.sriov_totalvfs) +
                          " VFs but none is created (write N to sriov_numvfs): not offered");
      continue;
    }
    pfs.push_back(&f);
    inventory_functions.insert(f.address);
  }
  auto pci_attributes = [&](const PciFunction& f) {
    std::map<std::string, std::string> a = {{kAttrPciAddress, f.address},
                                            {"vendor_id", Hex4(f.vendor_id)},
                                            {"device_id", Hex4(f.device_id)},
                                            {"class", Hex6(f.class_code)}};
    if (!f.driver.empty()) a["driver"] = f.driver;
    if (!f.iommu_group.empty()) {
      a[kAttrIommuGroup] = f.iommu_group;
      std::vector<std::string> companions;
      for (const PciFunction* m : h.IommuGroupMembers(f.iommu_group)) {
        if (m->address == f.address || m->IsBridge()) continue;
        if (inventory_functions.count(m->address)) continue;
        companions.push_back(m->address);
      }
      if (!companions.empty()) a[kAttrIommuCompanions] = Join(companions);
    }
    return a;
  };
  body["gpus"] = json::array();
  for (size_t i = 0; i < gpus.size(); ++i) {
    const PciFunction& g = *gpus[i];
    const std::string id = "gpu" + std::to_string(i);
    const bool mdev = !g.mdev_types.empty();
    json j = {{"id", id},
              {"model", GpuModelName(g.vendor_id, g.device_id)},
              {"sharing", mdev ? "time_sliced" : "exclusive"},
              {"isolation", mdev ? "hypervisor_sched" : "hw_partition"},
              {"numa_node", numa_of(g.numa_node)}};
    body["gpus"].push_back(std::move(j));
    std::map<std::string, std::string> a = pci_attributes(g);
    if (mdev) {
      std::vector<std::string> types;
      for (const MdevType& t : g.mdev_types) types.push_back(t.type);
      a[kAttrMdevTypes] = Join(types);
    }
    inv.device_attributes[id] = std::move(a);
  }

  // --- NICs: SR-IOV PFs with VFs; each VF is one unit.
  body["nics"] = json::array();
  for (size_t i = 0; i < pfs.size(); ++i) {
    const PciFunction& f = *pfs[i];
    const std::string id = "nic" + std::to_string(i);
    json j = {{"id", id}, {"vfs", f.sriov_numvfs}, {"numa_node", numa_of(f.numa_node)}};
    if (f.link_speed_mbps > 0) j["bandwidth_gbps"] = static_cast<double>(f.link_speed_mbps) / 1000;
    body["nics"].push_back(std::move(j));
    std::map<std::string, std::string> a = pci_attributes(f);
    a[kAttrVfAddresses] = Join(f.vfs);
    if (!f.net_interfaces.empty()) {
      a[kAttrNetdev] = f.net_interfaces[0];
      if (f.net_interfaces.size() > 1) {
        inv.notes.push_back("NIC " + f.address + " has " + std::to_string(f.net_interfaces.size()) +
                            " netdevs: " + f.net_interfaces[0] + " addresses its VFs");
      }
    } else {
      inv.notes.push_back("NIC " + f.address +
                          " has no netdev (sysfs net/ is empty): its VFs' rates cannot be set");
    }
    inv.device_attributes[id] = std::move(a);
  }

  for (const HostLink& l : options.links) {
    for (const json& n : body["nics"]) {
      if (n["id"] == l.name) {
        return Status::InvalidArgument("--nic " + l.name + ": a discovered SR-IOV NIC has that id");
      }
    }
    body["nics"].push_back(
        {{"id", l.name}, {"network", l.network}, {"line_rate_mbps", l.line_rate_mbps}});
    if (!l.netdev.empty()) inv.device_attributes[l.name] = {{kAttrNetdev, l.netdev}};
    inv.notes.push_back("NIC " + l.name + " (--nic): network " + l.network + ", " +
                        std::to_string(l.line_rate_mbps) + " Mbps" +
                        (l.netdev.empty() ? ", host-local bridges" : ", uplink " + l.netdev));
  }

  // --- disks
  body["disks"] = json::array();
  constexpr int64_t kGiB = int64_t{1} << 30;
  for (const StoragePool& p : options.pools) {
    body["disks"].push_back(
        {{"id", p.name}, {"tier", p.tier}, {"capacity_gib", p.capacity_gib}, {"iops", p.iops}});
    inv.device_attributes[p.name] = {{kAttrPoolDir, p.dir},
                                     {kAttrPoolScheduler, p.scheduler},
                                     {kAttrPoolMbps, std::to_string(p.mbps)}};
    inv.notes.push_back("pool " + p.name + " (" + p.tier + ", " + p.dir +
                        "): " + std::to_string(p.capacity_gib) + " GiB, " + std::to_string(p.iops) +
                        " IOPS, " + std::to_string(p.mbps) + " MB/s, scheduler " + p.scheduler +
                        " (" + p.origin + ")");
  }
  for (const BlockDevice& d : h.disks) {
    if (!options.pools.empty()) {
      inv.notes.push_back("disk " + d.name + ": not offered (storage pools are declared)");
      continue;
    }
    if (d.in_use_by_host && !options.include_host_disks) {
      inv.notes.push_back("disk " + d.name + " is mounted by the host: not offered");
      continue;
    }
    const int64_t gib = d.size_bytes / kGiB;
    if (gib < 1) {
      inv.notes.push_back("disk " + d.name + " is smaller than 1 GiB: not offered");
      continue;
    }
    const std::string id = SafeId(d.name);
    body["disks"].push_back({{"id", id},
                             {"tier", std::string(DiskTierName(d.tier))},
                             {"capacity_gib", gib},
                             {"numa_node", numa_of(d.numa_node)}});
    std::map<std::string, std::string> a = {{"dev", d.name},
                                            {"rotational", d.rotational ? "1" : "0"},
                                            {"size_bytes", std::to_string(d.size_bytes)}};
    if (!d.model.empty()) a["model"] = d.model;
    if (!d.pci_address.empty()) a[kAttrPciAddress] = d.pci_address;
    inv.device_attributes[id] = std::move(a);
  }

  // --- traits
  std::set<std::string> traits;
  for (const std::string& f : h.cpu_flags) {
    if (f == "vmx") traits.insert("HW_CPU_X86_VMX");
    if (f == "svm") traits.insert("HW_CPU_X86_SVM");
    if (f == "avx2") traits.insert("HW_CPU_X86_AVX2");
    if (f == "avx512f") traits.insert("HW_CPU_X86_AVX512F");
  }
  if (h.kvm.usable) traits.insert("CUSTOM_KVM");
  if (!pfs.empty()) traits.insert("CUSTOM_SRIOV");
  body["traits"] = json::array();
  for (const std::string& t : traits) body["traits"].push_back(t);
  return inv;
}

void ApplyDeviceAttributes(const HostInventory& inventory, Host& host) {
  for (Device& d : host.devices) {
    auto it = inventory.device_attributes.find(d.id);
    if (it == inventory.device_attributes.end()) continue;
    for (const auto& [k, v] : it->second) d.attributes[k] = v;
  }
}

std::vector<int> CpuNumaIndex(const DiscoveredHost& h) {
  std::vector<int> out;
  for (size_t i = 0; i < h.numa_nodes.size(); ++i) {
    for (int c : h.numa_nodes[i].cpus) {
      if (c >= static_cast<int>(out.size())) out.resize(static_cast<size_t>(c) + 1, -1);
      out[static_cast<size_t>(c)] = static_cast<int>(i);
    }
  }
  return out;
}

nlohmann::json DiscoveryToJson(const DiscoveredHost& h) {
  json j;
  j["cpu"] = {{"sockets", h.cpu.sockets},
              {"cores", h.cpu.cores},
              {"threads", h.cpu.threads},
              {"present", FormatCpuList(h.cpu.present)},
              {"online", FormatCpuList(h.cpu.online)}};
  j["memory_total_kib"] = h.memory_total_kib;
  j["numa_nodes"] = json::array();
  for (const NumaNodeInfo& n : h.numa_nodes) {
    j["numa_nodes"].push_back(
        {{"id", n.id}, {"cpus", FormatCpuList(n.cpus)}, {"memory_kib", n.memory_kib}});
  }
  j["pci"] = json::array();
  for (const PciFunction& f : h.pci) {
    json p = {{"address", f.address},
              {"class", Hex6(f.class_code)},
              {"vendor_id", Hex4(f.vendor_id)},
              {"device_id", Hex4(f.device_id)},
              {"driver", f.driver},
              {"numa_node", f.numa_node},
              {"iommu_group", f.iommu_group}};
    if (f.IsGpu()) p["gpu_model"] = GpuModelName(f.vendor_id, f.device_id);
    if (f.IsSriovPf()) {
      p["sriov_totalvfs"] = f.sriov_totalvfs;
      p["sriov_numvfs"] = f.sriov_numvfs;
      p["vfs"] = f.vfs;
    }
    if (f.IsVf()) p["physfn"] = f.physfn;
    if (!f.mdev_types.empty()) {
      p["mdev_types"] = json::array();
      for (const MdevType& t : f.mdev_types) {
        p["mdev_types"].push_back({{"type", t.type},
                                   {"name", t.name},
                                   {"available_instances", t.available_instances},
                                   {"device_api", t.device_api}});
      }
    }
    if (!f.net_interfaces.empty()) p["net"] = f.net_interfaces;
    if (f.link_speed_mbps > 0) p["link_speed_mbps"] = f.link_speed_mbps;
    j["pci"].push_back(std::move(p));
  }
  j["disks"] = json::array();
  for (const BlockDevice& d : h.disks) {
    j["disks"].push_back({{"name", d.name},
                          {"size_bytes", d.size_bytes},
                          {"rotational", d.rotational},
                          {"tier", std::string(DiskTierName(d.tier))},
                          {"model", d.model},
                          {"pci_address", d.pci_address},
                          {"numa_node", d.numa_node},
                          {"in_use_by_host", d.in_use_by_host}});
  }
  j["kvm"] = {{"present", h.kvm.present},
              {"usable", h.kvm.usable},
              {"api_version", h.kvm.api_version},
              {"probe_loop_ms", h.kvm.probe_loop_ms},
              {"detail", h.kvm.detail}};
  j["cpu_flags_count"] = h.cpu_flags.size();
  j["warnings"] = h.warnings;
  return j;
}

}  // namespace devshare::host
