// libvirt domain XML for one guest: the DomainSpec value (what realization decided) and the
// writer that turns it into <domain> XML (cputune, memtune, numatune, direct kernel boot, disks
// with iotune, PCI and mdev hostdevs, SR-IOV VF interfaces, virtio NICs, a serial console logged
// to a file). Domain names are "<prefix><vm id>" (prefix "devshare-" by default, distinct per
// agent sharing one libvirt) so reconcile can tell its own domains from others.
// Thread-safety: pure functions over value types.
#ifndef DEVSHARE_HOST_DOMAIN_XML_H_
#define DEVSHARE_HOST_DOMAIN_XML_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::host {

inline constexpr std::string_view kDomainPrefix = "devshare-";

// ("devshare-", "vm-1a2b") -> "devshare-vm-1a2b".
std::string DomainNameForVm(std::string_view prefix, std::string_view vm_id);
// Inverse; nullopt for names that do not start with `prefix` or are nothing but the prefix.
// A name of another agent whose prefix extends this one ("devshare-a1-vm-1" under "devshare-")
// matches by name; MetadataVmId tells them apart.
std::optional<std::string> VmIdFromDomainName(std::string_view prefix,
                                              std::string_view domain_name);
// The VM id in the <devshare:vm id=...> metadata of a domain document (as BuildDomainXml writes
// it or libvirt returns it); nullopt when absent.
std::optional<std::string> MetadataVmId(std::string_view domain_xml);

// CFS knobs of <cputune>: <shares>, and per-vCPU <period>/<quota> (libvirt writes them to each
// vcpuN cgroup's cpu.cfs_period_us / cpu.cfs_quota_us, or cpu.max on cgroup v2).
struct CpuTune {
  int64_t shares = 1024;
  int64_t period_us = 0;  // 0 = not set (libvirt default 100000)
  int64_t quota_us = -1;  // < 0 = no cap
  bool operator==(const CpuTune&) const = default;
};

struct DiskIoTune {  // <iotune>; 0 = no limit
  int64_t read_iops_sec = 0;
  int64_t write_iops_sec = 0;
  int64_t read_bytes_sec = 0;
  int64_t write_bytes_sec = 0;
  bool Any() const {
    return read_iops_sec > 0 || write_iops_sec > 0 || read_bytes_sec > 0 || write_bytes_sec > 0;
  }
};

struct DomainDisk {
  std::string source_path;     // file on the host (unless nbd_socket is set)
  std::string format = "raw";  // "raw" | "qcow2"
  std::string target_dev = "hda";
  std::string bus = "ide";  // SeaBIOS boots a 512-byte raw image from IDE reliably
  bool readonly = false;    // (QEMU refuses read-only IDE disks)
  DiskIoTune iotune;
  std::string cache;  // <driver cache=...>: "" = libvirt's default, "none" = O_DIRECT on the host
  // A volume served over NBD (<disk type='network'><source protocol='nbd'> on a unix socket):
  // the export of devshare's nbdkit plugin. Empty = a file disk.
  std::string nbd_socket;
  std::string nbd_export;
  std::string serial;  // <serial>: the guest sees it as /dev/disk/by-id/virtio-<serial>
};

// One <disk> element (each line prefixed by `indent`), as BuildDomainXml writes it and as
// virDomainAttachDevice / DetachDevice take it.
std::string BuildDiskXml(const DomainDisk& disk, std::string_view indent = "");

// A virtio NIC: on a tenant network's Linux bridge (<interface type='bridge'>, `bridge` set,
// with a deterministic tap name and the cap toward the guest), on a libvirt network
// (<interface type='network'>), or, with both empty, QEMU's user-mode (slirp) networking
// (<interface type='user'>: per-VM NAT, guest 10.0.2.15).
struct NetInterface {
  std::string network;
  std::string mac;         // "52:54:00:xx:xx:xx"
  std::string bridge;      // tenant network bridge (TenantBridgeName)
  std::string target_dev;  // <target dev>: the tap's name (TenantTapName); empty = libvirt's
  // <bandwidth><inbound average>: most the guest receives, kilobytes (1000 B) per second;
  // 0 = no cap.
  int64_t inbound_average_kbytes_per_s = 0;
};

struct PciHostdev {        // <hostdev type='pci'> (whole GPU, or a function going with it)
  std::string address;     // "0000:17:00.0"
  std::string device_id;   // inventory device it belongs to ("gpu0")
  bool companion = false;  // a non-inventory function of the same IOMMU group
};

struct MdevHostdev {  // <hostdev type='mdev'>: the mdev must exist before the domain starts
  std::string uuid;
  std::string device_id;
  std::string parent_address;
  std::string type;  // mdev type dir, e.g. "nvidia-471"
};

// <interface type='hostdev' managed='yes'>: an SR-IOV VF as the guest's NIC. libvirt sets the MAC
// and the VLAN on the VF itself (through its PF) before the guest starts and restores them after.
struct VfInterface {
  std::string address;  // the VF's PCI BDF
  std::string mac;      // "52:54:00:xx:xx:xx"; empty = none written (libvirt picks one)
  int64_t vlan_id = 0;  // <vlan><tag id=.../></vlan>, 1..4094; 0 = untagged (no <vlan>)
};

struct DomainSpec {
  std::string name;          // DomainNameForVm(prefix, vm_id)
  std::string type = "kvm";  // "kvm", "qemu" (TCG) or "test" (libvirt test driver)
  std::string vm_id;
  std::string tenant;
  int vcpus = 1;
  int64_t memory_mib = 0;      // <currentMemory>: what the guest has at start (balloon target)
  int64_t max_memory_mib = 0;  // <memory>: the live ceiling of balloon grows; 0 = memory_mib
  // <memballoon model='virtio'><stats period>: guest memory statistics every this many seconds
  // (Hypervisor::Stats); 0 = no element (libvirt's default balloon, no statistics).
  int memory_stats_period_s = 0;
  CpuTune cputune;
  std::vector<int> cpuset;  // host CPUs for <vcpupin> (every vCPU) and <emulatorpin>; empty = none
  int64_t memory_soft_limit_mib = 0;  // <memtune>; 0 = not set
  int64_t memory_hard_limit_mib = 0;
  std::vector<int> numa_nodeset;  // <numatune><memory mode='strict'>; empty = none
  // Direct kernel boot (<os><kernel>/<initrd>/<cmdline>); empty kernel = boot from the first disk.
  std::string kernel, initrd, cmdline;
  std::vector<DomainDisk> disks;  // the first is the boot disk
  std::vector<NetInterface> nics;
  // Serial port 0 (and the console) written to this file, appended across restarts; empty = none.
  std::string console_log;
  std::vector<PciHostdev> pci_hostdevs;
  std::vector<MdevHostdev> mdev_hostdevs;
  std::vector<VfInterface> vf_interfaces;
  std::vector<std::string> comments;  // written as XML comments (why something is absent)
};

// The <domain> document. REQUIRES: spec.name non-empty, vcpus >= 1, memory_mib >= 1, PCI
// addresses in "DDDD:BB:SS.F" form (PlanDomain guarantees these; bad addresses are skipped with
// a comment).
std::string BuildDomainXml(const DomainSpec& spec);

struct PciAddress {
  int domain = 0, bus = 0, slot = 0, function = 0;
};
// "0000:3b:02.1" -> {0, 0x3b, 2, 1}. InvalidArgument otherwise.
Result<PciAddress> ParsePciAddress(std::string_view bdf);

// XML attribute/text escaping (&, <, >, ', ").
std::string XmlEscape(std::string_view s);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_DOMAIN_XML_H_
