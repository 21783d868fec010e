// Host discovery: what a machine has, read from sysfs and procfs (CPUs, NUMA nodes, memory, PCI
// functions with IOMMU groups, SR-IOV PFs and VFs, mdev types, block devices, KVM). Roots are
// parameters so tests read fixture trees; odd or unreadable entries become warnings, never errors.
// Thread-safety: pure functions over the file system; results are value types.
#ifndef DEVSHARE_HOST_DISCOVERY_H_
#define DEVSHARE_HOST_DISCOVERY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::host {

struct CpuTopology {
  int sockets = 0;           // distinct physical_package_id among present CPUs
  int cores = 0;             // distinct (package, core_id) pairs
  int threads = 0;           // present logical CPUs
  std::vector<int> present;  // logical CPU ids with a cpuN directory
  std::vector<int> online;   // from devices/system/cpu/online
};

struct NumaNodeInfo {
  int id = 0;              // kernel node id (may be sparse)
  std::vector<int> cpus;   // from nodeN/cpulist
  int64_t memory_kib = 0;  // nodeN/meminfo MemTotal
};

// One mediated-device type offered by a parent device (mdev_supported_types/<type>/).
struct MdevType {
  std::string type;                  // directory name, e.g. "nvidia-471"
  std::string name;                  // the "name" file, e.g. "GRID A100-4C"
  int64_t available_instances = -1;  // -1 when unreadable
  std::string device_api;            // e.g. "vfio-pci"
};

struct PciFunction {
  std::string address;      // BDF, e.g. "0000:3b:00.0"
  uint32_t class_code = 0;  // 24-bit class, e.g. 0x030200
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  std::string driver;       // bound driver name, empty when none
  int numa_node = -1;       // -1 = unknown (the kernel's value)
  std::string iommu_group;  // empty when the function has no IOMMU group
  // SR-IOV physical function fields (sriov_totalvfs > 0).
  int sriov_totalvfs = 0;
  int sriov_numvfs = 0;
  std::vector<std::string> vfs;  // BDFs of virtfnN, in N order
  std::string physfn;            // for a VF: its PF's BDF
  std::vector<MdevType> mdev_types;
  std::vector<std::string> net_interfaces;  // net/<if> names
  int64_t link_speed_mbps = -1;             // net/<if>/speed of the first interface, -1 unknown

  bool IsGpu() const;  // display class (0x03xxxx) from NVIDIA, AMD or Intel
  bool IsNic() const { return (class_code >> 16) == 0x02; }
  bool IsBridge() const { return (class_code >> 16) == 0x06; }
  bool IsVf() const { return !physfn.empty(); }
  bool IsSriovPf() const { return sriov_totalvfs > 0; }
};

enum class DiskTier { kNvme, kSsd, kHdd };
std::string_view DiskTierName(DiskTier t);

struct BlockDevice {
  std::string name;  // e.g. "nvme0n1", "sda"
  int64_t size_bytes = 0;
  bool rotational = false;
  DiskTier tier = DiskTier::kSsd;  // guess: nvme* -> nvme, rotational -> hdd, else ssd
  std::string model;
  std::string pci_address;  // PCI function the disk hangs off, when found
  int numa_node = -1;
  bool in_use_by_host = false;  // the disk or one of its partitions is mounted (procfs mounts)
};

struct KvmInfo {
  bool present = false;  // <dev_root>/kvm exists
  // Opened read-write, KVM_GET_API_VERSION answered 12, and a one-vCPU probe VM ran a
  // 2-million-iteration loop in under kKvmProbeMaxMs (nested virtualisation without hardware
  // assist runs guest code hundreds of times slower than TCG: not usable).
  bool usable = false;
  int api_version = -1;
  double probe_loop_ms = -1;  // the probe loop's wall time, -1 when it did not run
  std::string detail;         // why not usable, or "KVM API 12, probe loop 1.2 ms"
};
inline constexpr double kKvmProbeMaxMs = 200;

struct DiscoveredHost {
  CpuTopology cpu;
  std::vector<NumaNodeInfo> numa_nodes;  // sorted by id; empty when the kernel has no node dir
  int64_t memory_total_kib = 0;          // procfs meminfo MemTotal
  std::vector<PciFunction> pci;          // sorted by address
  std::vector<BlockDevice> disks;        // physical disks only (no loop, zram, dm), by name
  KvmInfo kvm;
  std::vector<std::string> cpu_flags;  // procfs cpuinfo "flags" of the first CPU
  std::vector<std::string> warnings;   // unreadable or odd entries, one line each

  const PciFunction* FindPci(std::string_view address) const;
  // GPUs (IsGpu) in address order.
  std::vector<const PciFunction*> Gpus() const;
  // Every function (bridges included) of IOMMU group `group`, in address order.
  std::vector<const PciFunction*> IommuGroupMembers(std::string_view group) const;
};

// Reads the machine below the given roots: "/sys", "/proc" and "/dev" on a real host, a fixture
// tree in tests. Missing or odd entries are recorded in `warnings`; the result is an error only
// when `sysfs_root` itself cannot be read (NotFound / FailedPrecondition).
Result<DiscoveredHost> DiscoverHost(const std::string& sysfs_root = "/sys",
                                    const std::string& procfs_root = "/proc",
                                    const std::string& dev_root = "/dev");

// Probes <dev_root>/kvm: opens it read-write and asks KVM_GET_API_VERSION.
KvmInfo ProbeKvm(const std::string& dev_root = "/dev");

// Kernel CPU list syntax: "0-3,8,10-11" -> {0,1,2,3,8,10,11}; "" -> {}. InvalidArgument on junk.
Result<std::vector<int>> ParseCpuList(std::string_view text);
// Inverse of ParseCpuList, with ranges collapsed: {0,1,2,5} -> "0-2,5".
std::string FormatCpuList(const std::vector<int>& cpus);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_DISCOVERY_H_
