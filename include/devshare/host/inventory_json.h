// Discovery -> the inventory body of PUT /v1/hosts/{name} (the JSON server::ParseHostSpec
// accepts), plus the per-device attributes that body cannot carry (PCI address, IOMMU group,
// mdev types) for the server to put on its Host after parsing. Also a JSON dump of a discovery.
// Thread-safety: pure functions.
#ifndef DEVSHARE_HOST_INVENTORY_JSON_H_
#define DEVSHARE_HOST_INVENTORY_JSON_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devshare/core/host.h"
#include "devshare/core/result.h"
#include "devshare/host/discovery.h"
#include "devshare/host/host_link.h"
#include "devshare/host/storage_pool.h"

namespace devshare::host {

struct InventoryOptions {
  // Host CPUs guests may use (`serve --guest-cpuset`); empty = every online CPU. cpu_milli is
  // 1000 per guest CPU, split over NUMA nodes by where those CPUs sit.
  std::vector<int> guest_cpus;
  int64_t memory_reserved_mib = 0;  // held back for the host (memory_reserved_mib field)
  bool include_host_disks = false;  // also offer disks the host has mounted (system disks)
  // Storage pools (PreparePool'd: capacity and IOPS known). When any is given, the disks offered
  // are these pools (one disk each, attributes pool_dir / pool_scheduler / pool_mbps) and no
  // discovered block device: a volume needs a pool to live in.
  std::vector<StoragePool> pools;
  // Host links (--nic): NICs without SR-IOV carrying tenant networks, offered after the
  // discovered PFs (id = name, network, line_rate_mbps; attribute netdev when named).
  std::vector<HostLink> links;
};

// Device attribute keys set by ApplyDeviceAttributes (and read by realization.h).
inline constexpr const char* kAttrPciAddress = "pci_address";
inline constexpr const char* kAttrIommuGroup = "iommu_group";
// Comma list of the other non-bridge functions in the device's IOMMU group that are not
// inventory devices themselves (e.g. a GPU's audio function): they go with the device.
inline constexpr const char* kAttrIommuCompanions = "iommu_companions";
inline constexpr const char* kAttrMdevTypes = "mdev_types";          // comma list of type dirs
inline constexpr const char* kAttrVfAddresses = "vf_pci_addresses";  // comma list (NIC PFs)
// The PF's network interface (first entry of its sysfs net/ directory, e.g. "ens1f0np0"): the
// name `ip link set <netdev> vf N ...` addresses it by (vf_settings.h). Absent when the PF has
// no netdev (driver unbound, or the port is in a mode without one).
inline constexpr const char* kAttrNetdev = "netdev";

struct HostInventory {
  nlohmann::json body;  // for PUT /v1/hosts/{name}
  // device id ("gpu0", "nic0", "nvme0n1") -> attributes (pci_address, iommu_group, vendor_id,
  // device_id, driver, mdev_types, iommu_companions, model, ...).
  std::map<std::string, std::map<std::string, std::string>> device_attributes;
  std::vector<std::string> notes;  // choices made (skipped devices, scaled NUMA memory)
};

// Mapping (docs/host-agent.md): cpu_milli = 1000 x guest CPUs; memory_mib = MemTotal; numa =
// kernel nodes renumbered 0..n-1 (memory scaled to MemTotal when the nodes disagree); gpus =
// display-class functions of NVIDIA/AMD/Intel, "time_sliced"/"hypervisor_sched" when they offer
// mdev types, else "exclusive"/"hw_partition" (whole passthrough); nics = SR-IOV PFs with VFs
// created (vfs = sriov_numvfs); disks = physical disks not mounted by the host (tier guess,
// capacity in GiB rounded down); traits = CPU virtualisation/AVX flags, CUSTOM_KVM, CUSTOM_SRIOV.
// InvalidArgument when a guest CPU is not online.
Result<HostInventory> BuildInventory(const DiscoveredHost& host, const InventoryOptions& options);

// Copies `inventory.device_attributes` onto the devices of `host` with the same ids (after
// server::ParseHostSpec of `inventory.body`). Devices without an entry are left alone.
void ApplyDeviceAttributes(const HostInventory& inventory, Host& host);

// Inventory NUMA index (kernel nodes renumbered 0..n-1, as in BuildInventory) of each host CPU,
// indexed by CPU id; -1 for CPUs in no node. For RealizationContext::cpu_numa.
std::vector<int> CpuNumaIndex(const DiscoveredHost& host);

// Everything discovered, as JSON (for `devshare host discover --json`).
nlohmann::json DiscoveryToJson(const DiscoveredHost& host);

// "10de:20f1" -> "A100-PCIE-40GB" for the GPUs we know, else "<vendor>-<device>" ids.
std::string GpuModelName(uint16_t vendor_id, uint16_t device_id);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_INVENTORY_JSON_H_
