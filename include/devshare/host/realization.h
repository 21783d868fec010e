// Realization planning: one placed VM (its Allocation and QoS JSON) on this host -> a DomainSpec
// (vCPUs, cputune from cpu_weight/cpu_cap_pct, pinning to the guest CPU set, memtune, numatune,
// disk iotune, PCI/mdev hostdevs for its GPUs, VF interfaces), with the IOMMU-group rule checked:
// every function of an IOMMU group goes to the same VM; real guests from an image (qcow2 overlay
// or direct kernel boot) with a NoCloud seed, a virtio NIC and a logged serial console. Also the
// built-in "spin" guest image and the files each guest gets under the runtime directory.
// Thread-safety: pure functions except WriteSpinImage (writes one file) and AbsolutePath (reads
// the working directory).
#ifndef DEVSHARE_HOST_REALIZATION_H_
#define DEVSHARE_HOST_REALIZATION_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host.h"
#include "devshare/core/result.h"
#include "devshare/host/domain_xml.h"
#include "devshare/host/storage_pool.h"
#include "devshare/host/tenant_network.h"
#include "devshare/qos/cpu_qos_mapping.h"

namespace devshare::host {

using CgroupVersion = qos::CgroupVersion;  // the host's cgroup hierarchy (v1 or v2)
// v2 when <sysfs_root>/fs/cgroup/cgroup.controllers lists "cpu", else v1.
CgroupVersion DetectCgroupVersion(const std::string& sysfs_root = "/sys");

// <cputune> for qos.cpu_weight (1..10000) and qos.cpu_cap_pct (0 = none, 1..100 % of one host
// CPU per vCPU), from the qos module's one mapping (qos::MapVmCpuQos, docs/qos.md): shares are
// weight * 1024 / 100 on cgroup v1 and the weight itself on v2 (libvirt writes <shares> to
// cpu.weight unchanged); a cap gives period 100000 us and a per-vCPU quota of pct * 1000 us.
// InvalidArgument (from the mapping) for values outside those ranges.
Result<CpuTune> CpuTuneForQos(int vcpus, int64_t cpu_weight, int64_t cpu_cap_pct,
                              CgroupVersion cgroup);

// The guest image of `serve --guest-image`: none (no disk; the guest idles in firmware) or spin
// (a 512-byte boot sector that loops forever, so the vCPU runs at 100 %).
enum class GuestImage { kNone, kSpin };
Result<GuestImage> ParseGuestImage(std::string_view name);  // "none" | "spin"
// The spin image: EB FE (jmp $) at offset 0, 55 AA at 510, zeros elsewhere.
std::string SpinImageBytes();
// Writes SpinImageBytes() to <dir>/<file_name> atomically (WriteFileAtomically; mode 0644, dir
// created 0755) and returns the path. Unavailable, naming the path, when it cannot be written.
Result<std::string> WriteSpinImage(const std::string& dir, const std::string& file_name);

// `path` made absolute against the working directory and normalised ("./var/run" ->
// "/work/x/var/run"); "" stays "". libvirt refuses relative disk, kernel and log paths.
std::string AbsolutePath(std::string_view path);

// How a real guest boots, from the server's image catalogue entry.
struct GuestBoot {
  std::string image_name;  // empty: no catalogue image (RealizationContext::image decides)
  std::string kind;        // "disk" | "kernel"; empty = no catalogue image
  std::string file;        // disk: the qcow2 base (absolute)
  std::string kernel, initrd, cmdline;  // kernel: direct boot
};

// One SR-IOV VF NIC of a VM: which VF, and the tenant-network binding the ledger gave it.
struct GuestVf {
  std::string address;  // the VF's PCI BDF
  std::string mac;      // the ledger's MAC; empty (a slice without network) = VfMac(vm, address)
  int64_t vlan_id = 0;  // the network's segment id (1..4094); 0 = untagged (no network)
};

// One placed VM as the control plane hands it over.
struct GuestRequest {
  std::string vm_id;
  std::string tenant;
  Allocation allocation;                          // cpu_milli, memory_mib, gpus (by device id)
  nlohmann::json qos = nlohmann::json::object();  // server::VmSpec::qos (normalised)
  std::vector<GuestVf> vfs;                       // SR-IOV VFs given to the VM, in NIC order
  GuestBoot boot;
  std::string hostname;  // seed local-hostname; empty = from `name`, else the VM id
  std::string ssh_key;   // one "ssh-... AAAA... comment" line for the seed's user-data; may be ""
  std::string name;      // the VM's name in the ledger
  // Right-sizing (docs/rightsizing.md), so the control plane's resizes take effect live:
  // max_memory_mib > memory_mib boots the guest with <memory> = max and <currentMemory> = the
  // allocation (grows up to max are balloon deflations, no restart); 0 = no headroom.
  int64_t max_memory_mib = 0;
  // > 0: the VM's CPU is right-sized: it gets ceil(max_cpu_milli / 1000) vCPUs and a cap of
  // exactly its allocation's cpu_milli (per-vCPU quota = cpu_milli x period / 1000 / vCPUs,
  // the lower of it and qos.cpu_cap_pct's), so a cpu_milli resize is a live quota change.
  int64_t max_cpu_milli = 0;
};

// Per-vCPU <quota> (us, period kCfsPeriodUs) that caps `vcpus` vCPUs at `cpu_milli` in all;
// at least 1000 us (the kernel's minimum).
int64_t CpuCapQuotaUs(int64_t cpu_milli, int vcpus);

// RealizationContext::network values: "" or kUserNetwork = user-mode networking (slirp: per-VM
// NAT). libvirt's shared "default" network is never chosen by itself: guests of different
// tenants on it could talk to each other. Tenant NICs go on their network's bridge instead.
inline constexpr std::string_view kUserNetwork = "user";
inline constexpr int64_t kScratchDiskBytes = int64_t{1} << 30;  // kernel images' per-VM disk

// What the host agent knows about its host.
struct RealizationContext {
  Host host;                        // inventory devices, with attributes from ApplyDeviceAttributes
  std::string domain_type = "kvm";  // Hypervisor::domain_type()
  std::vector<int> guest_cpus;      // pin set for every guest (--guest-cpuset); empty = no pinning
  // NUMA node (inventory index) of each host CPU: cpu_numa[cpu]; empty = unknown (no numatune).
  std::vector<int> cpu_numa;
  CgroupVersion cgroup = CgroupVersion::kV1;
  GuestImage image = GuestImage::kNone;  // guests without a catalogue image (boot.kind empty)
  // Per-guest files (GuestFilePaths): spin images, disks, seeds, console logs. Absolute (the
  // HostAgent makes it so).
  std::string runtime_dir = "/var/lib/devshare";
  std::string domain_prefix = std::string(kDomainPrefix);  // distinct per agent on one libvirt
  // Libvirt network of the virtio NIC of a real guest without tenant NICs: an operator-chosen
  // network name, kUserNetwork, or "" (user-mode too).
  std::string network;
  // Tenant networks (tenant_network.h): link-name prefix and nft table. Whether the agent runs
  // the ip / tc / nft commands is HostAgent's choice (HostNetworking).
  TenantNetOptions tenant_net;
  // Where the agent checks the PFs of SR-IOV VF NICs before setting their rates
  // (PlanVfSettings); tests point it at a fixture tree.
  std::string sysfs_root = "/sys";
  // Also write <memtune><hard_limit> (MemoryHardLimitMib). Off by default: libvirt turns a hard
  // limit into the QEMU process's locked-memory rlimit, which needs CAP_SYS_RESOURCE (these
  // machines' containers lack it: QEMU then fails to start), and a limit too low OOM-kills QEMU.
  bool memory_hard_limit = false;
  // The unix socket of the host's volume server (VolumeServer::socket_path): volumes on pools
  // with devshare QoS (scheduler mclock or fifo) are NBD disks on it. Empty = no volume server.
  std::string nbd_socket;
};

// One volume of a VM on this host: where its data lives and how the guest reaches it.
struct VolumePlan {
  std::string name;  // the VM's volume name
  std::string pool;  // the pool (inventory disk id)
  std::string tier;
  std::string scheduler;    // the pool's: mclock | fifo | none
  std::string file;         // VolumeFilePath(pool dir, domain name, volume name)
  std::string export_name;  // VolumeExportName(domain name, volume name)
  int64_t size_bytes = 0;
  int64_t reservation_iops = 0;
  int64_t weight = 1;
  int64_t limit_iops = 0;
  DomainDisk disk;  // the guest's disk: NBD on ctx.nbd_socket, or the plain file (cache none)
};
inline constexpr int kMaxVolumesPerVm = 20;  // targets vdc .. vdv
// The volumes of `request` (allocation volume slices, in order; the i-th is target vd<c+i>).
// NotFound for a slice naming a disk the host lacks; FailedPrecondition for a disk that is no
// storage pool (no pool_dir: declare pools with `devshare agent --pool`), or a QoS pool while
// ctx.nbd_socket is empty; InvalidArgument for more than kMaxVolumesPerVm volumes.
Result<std::vector<VolumePlan>> PlanVolumes(const GuestRequest& request,
                                            const RealizationContext& ctx);

// The files of one guest (names "<prefix><vm id>..."):
struct GuestFiles {
  std::string spin_image;   // <runtime_dir>/images/<name>.img   (GuestImage::kSpin)
  std::string disk;         // <runtime_dir>/disks/<name>.qcow2  (overlay or scratch disk)
  std::string seed;         // <runtime_dir>/disks/<name>-seed.iso (NoCloud, label cidata)
  std::string console_log;  // <runtime_dir>/console/<name>.log  (serial port 0)
};
GuestFiles GuestFilePaths(const RealizationContext& ctx, std::string_view vm_id);

// The guest's host name: request.hostname, else request.name, else the VM id, reduced to what a
// host name may hold (lower-case letters, digits, '-'; at most 63 characters; never empty).
std::string GuestHostname(const GuestRequest& request);

// NoCloud seed contents (cloud-init's nocloud data source; the guest of tools/build_guest.sh
// reads local-hostname and instance-id).
struct NoCloudSeed {
  std::string meta_data;  // "instance-id: <vm id>\nlocal-hostname: <host>\n"
  std::string user_data;  // "#cloud-config\n" [+ ssh_authorized_keys with request.ssh_key]
  // NetworkConfigV2(request.allocation): static addresses of the tenant NICs; "" = none (the
  // seed then has no network-config file).
  std::string network_config;
};
// InvalidArgument when ssh_key holds a line break or a control character.
Result<NoCloudSeed> BuildNoCloudSeed(const GuestRequest& request);

// The kernel command line of a kernel image: `cmdline`, with " console=ttyS0" added when it names
// no console (the serial console is where the guest's log and marker go).
std::string KernelCmdline(std::string_view cmdline);

// Extra memory the QEMU process may use above guest RAM before <hard_limit> stops it (device
// model, page tables, VFIO pinning): 1 GiB + 1/64 of guest RAM.
int64_t MemoryHardLimitMib(int64_t memory_mib);

// The domain for `request` on `ctx`'s host. vCPUs = ceil(cpu_milli / 1000) (of max_cpu_milli
// when set, then capped at cpu_milli: CpuCapQuotaUs); cputune from CpuTuneForQos; memory
// <currentMemory> = memory_mib, <memory> = max(memory_mib, max_memory_mib); real guests get a
// virtio balloon with 2 s statistics; memtune soft = memory_mib (hard = MemoryHardLimitMib when the
// context asks for it); numatune = nodes of the guest CPUs; boot disk (spin image, path only: the
// caller writes it) with iotune from qos disk_*; each whole GPU with a known pci_address -> PCI
// hostdev (plus IOMMU companions); a share of a GPU that offers mdev types -> mdev hostdev; each VF
// -> a hostdev interface with its MAC and VLAN tag (rates are not domain XML: vf_settings.h plans
// them on the PF). Devices without an address produce no hostdev and a comment saying so. Volumes:
// PlanVolumes' disks after the others. With request.boot.kind set (a real guest): "disk" boots
// GuestFiles::disk (vda, virtio, qcow2: the caller creates it as an overlay on boot.file), "kernel"
// boots boot.kernel/initrd with KernelCmdline(boot.cmdline) and gets GuestFiles::disk as scratch
// disk; both get the seed as a read-only vdb, without tenant NICs one virtio NIC (ctx.network; ""
// or kUserNetwork = user-mode), and the serial console logged to GuestFiles::console_log. Image
// paths are made absolute (AbsolutePath). Every guest gets one <interface type='bridge'> per tenant
// NIC (PlanTenantPorts: its network's bridge, its tap name, its MAC, <bandwidth><inbound> = the
// NIC's max when the ledger set one); the ports' errors are returned.
// InvalidArgument for an empty vm id or a non-positive cpu/memory, a VF VLAN outside 0..4094 or a
// VF MAC not of the form "xx:xx:xx:xx:xx:xx" (hex), an unknown boot kind, a disk
// image without file or a kernel image without kernel, a bad ssh key; NotFound for a device id
// the host does not have; FailedPrecondition when the IOMMU-group rule would be broken.
Result<DomainSpec> PlanDomain(const GuestRequest& request, const RealizationContext& ctx);

// The IOMMU-group rule over the devices of one VM: for each device holding an iommu_group
// attribute, every other inventory device of the host in that group must also be in
// `vm_device_ids`. FailedPrecondition naming the device and group otherwise.
Status CheckIommuGroups(const std::vector<std::string>& vm_device_ids, const Host& host);

// Deterministic per (vm, device): an mdev UUID and a locally administered MAC (52:54:00:...).
std::string MdevUuid(std::string_view vm_id, std::string_view device_id);
std::string VfMac(std::string_view vm_id, std::string_view vf_address);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_REALIZATION_H_
