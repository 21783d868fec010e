// PlanDomain and its helpers: allocation + QoS -> DomainSpec.
#include "devshare/host/realization.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "devshare/core/atomic_file.h"
#include "devshare/host/inventory_json.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

// FNV-1a 64 over `s` starting from `seed`.
uint64_t Fnv(std::string_view s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

int64_t QosInt(const nlohmann::json& qos, const char* key, int64_t def) {
  if (!qos.is_object()) return def;
  auto it = qos.find(key);
  if (it == qos.end() || !it->is_number_integer()) return def;
  return it->get<int64_t>();
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string Attr(const Device& d, const char* key) {
  auto it = d.attributes.find(key);
  return it == d.attributes.end() ? "" : it->second;
}

// "52:54:00:0a:0b:0c": six pairs of hex digits separated by ':'.
bool IsMac(std::string_view mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    const char c = mac[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (i % 3 == 2 ? c != ':' : !hex) return false;
  }
  return true;
}

}  // namespace

CgroupVersion DetectCgroupVersion(const std::string& sysfs_root) {
  std::ifstream in(sysfs_root + "/fs/cgroup/cgroup.controllers");
  std::string word;
  while (in >> word) {
    if (word == "cpu") return CgroupVersion::kV2;
  }
  return CgroupVersion::kV1;
}

Result<CpuTune> CpuTuneForQos(int vcpus, int64_t cpu_weight, int64_t cpu_cap_pct,
                              CgroupVersion cgroup) {
  DS_ASSIGN_OR_RETURN(qos::CpuQosSettings m,
                      qos::MapVmCpuQos({vcpus, cpu_weight, cpu_cap_pct}, cgroup));
  CpuTune t;
  t.shares = m.libvirt_shares;
  if (m.libvirt_quota_us > 0) {
    t.period_us = m.libvirt_period_us;
    t.quota_us = m.libvirt_quota_us;
  }
  return t;
}

Result<GuestImage> ParseGuestImage(std::string_view name) {
  if (name == "none" || name.empty()) return GuestImage::kNone;
  if (name == "spin") return GuestImage::kSpin;
  return Status::InvalidArgument("unknown guest image '" + std::string(name) +
                                 "' (known: none, spin)");
}

std::string SpinImageBytes() {
  std::string img(512, '\0');
  img[0] = static_cast<char>(0xEB);  // jmp short -2: an endless loop at the boot address
  img[1] = static_cast<char>(0xFE);
  img[510] = static_cast<char>(0x55);  // boot signature
  img[511] = static_cast<char>(0xAA);
  return img;
}

Result<std::string> WriteSpinImage(const std::string& dir, const std::string& file_name) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0755);
  const std::string path = (fs::path(dir) / file_name).string();
  const Status written = WriteFileAtomically(path, SpinImageBytes(), 0644);
  if (!written.ok()) return Status::Unavailable(written.message());
  return path;
}

std::string MdevUuid(std::string_view vm_id, std::string_view device_id) {
  const std::string key = std::string(vm_id) + "/" + std::string(device_id);
  const uint64_t a = Fnv(key, 14695981039346656037ULL);
  const uint64_t b = Fnv(key, 0x9e3779b97f4a7c15ULL);
  char buf[40];
  // Version 8 (custom) and the RFC 4122 variant bits.
  std::snprintf(buf, sizeof buf, "%08x-%04x-8%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string VfMac(std::string_view vm_id, std::string_view vf_address) {
  const uint64_t h =
      Fnv(std::string(vm_id) + "/" + std::string(vf_address), 14695981039346656037ULL);
  char buf[20];
  std::snprintf(buf, sizeof buf, "52:54:00:%02x:%02x:%02x", static_cast<unsigned>((h >> 16) & 0xff),
                static_cast<unsigned>((h >> 8) & 0xff), static_cast<unsigned>(h & 0xff));
  return buf;
}

std::string AbsolutePath(std::string_view path) {
  if (path.empty()) return "";
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) p = fs::path(path);
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

GuestFiles GuestFilePaths(const RealizationContext& ctx, std::string_view vm_id) {
  const std::string name = DomainNameForVm(ctx.domain_prefix, vm_id);
  const fs::path root(ctx.runtime_dir);
  GuestFiles f;
  f.spin_image = (root / "images" / (name + ".img")).string();
  f.disk = (root / "disks" / (name + ".qcow2")).string();
  f.seed = (root / "disks" / (name + "-seed.iso")).string();
  f.console_log = (root / "console" / (name + ".log")).string();
  return f;
}

std::string GuestHostname(const GuestRequest& request) {
  const std::string& from = !request.hostname.empty() ? request.hostname
                            : !request.name.empty()   ? request.name
                                                      : request.vm_id;
  std::string h;
  for (char c : from) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) {
      h += c;
    } else if (!h.empty() && h.back() != '-') {
      h += '-';
    }
    if (h.size() == 63) break;
  }
  while (!h.empty() && h.back() == '-') h.pop_back();
  return h.empty() ? "devshare-guest" : h;
}

Result<NoCloudSeed> BuildNoCloudSeed(const GuestRequest& request) {
  for (unsigned char c : request.ssh_key) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("VM " + request.vm_id +
                                     ": ssh_key must be one line without control characters");
    }
  }
  NoCloudSeed seed;
  seed.meta_data =
      "instance-id: " + request.vm_id + "\nlocal-hostname: " + GuestHostname(request) + "\n";
  seed.user_data = "#cloud-config\n";
  seed.network_config = NetworkConfigV2(request.allocation);
  if (!request.ssh_key.empty()) {
    std::string quoted;  // a YAML double-quoted scalar
    for (char c : request.ssh_key) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    seed.user_data += "ssh_authorized_keys:\n  - \"" + quoted + "\"\n";
  }
  return seed;
}

std::string KernelCmdline(std::string_view cmdline) {
  std::string out(cmdline);
  const bool has_console =
      out.rfind("console=", 0) == 0 || out.find(" console=") != std::string::npos;
  if (!has_console) out += out.empty() ? "console=ttyS0" : " console=ttyS0";
  return out;
}

int64_t MemoryHardLimitMib(int64_t memory_mib) { return memory_mib + 1024 + memory_mib / 64; }

Status CheckIommuGroups(const std::vector<std::string>& vm_device_ids, const Host& host) {
  const std::set<std::string> mine(vm_device_ids.begin(), vm_device_ids.end());
  for (const Device& d : host.devices) {
    if (!mine.count(d.id)) continue;
    const std::string group = Attr(d, kAttrIommuGroup);
    if (group.empty()) continue;
    for (const Device& other : host.devices) {
      if (other.id == d.id || Attr(other, kAttrIommuGroup) != group) continue;
      if (!mine.count(other.id)) {
        return Status::FailedPrecondition(
            "IOMMU group " + group + " holds " + d.id + " and " + other.id +
            ": the functions of one IOMMU group must all go to the same VM, and this VM gets " +
            d.id + " without " + other.id);
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<VolumePlan>> PlanVolumes(const GuestRequest& request,
                                            const RealizationContext& ctx) {
  const Allocation& a = request.allocation;
  if (static_cast<int>(a.volumes.size()) > kMaxVolumesPerVm) {
    return Status::InvalidArgument("VM " + request.vm_id + ": " + std::to_string(a.volumes.size()) +
                                   " volumes (at most " + std::to_string(kMaxVolumesPerVm) + ")");
  }
  const std::string domain = DomainNameForVm(ctx.domain_prefix, request.vm_id);
  std::vector<VolumePlan> out;
  for (size_t i = 0; i < a.volumes.size(); ++i) {
    const DeviceSlice& slice = a.volumes[i];
    const Device* dev = nullptr;
    for (const Device& d : ctx.host.devices) {
      if (d.id == slice.device_id && d.kind == DeviceKind::kDisk) dev = &d;
    }
    if (dev == nullptr) {
      return Status::NotFound("VM " + request.vm_id + ": volume '" + slice.name + "' is on disk '" +
                              slice.device_id + "', which host " + ctx.host.id + " does not have");
    }
    const std::string dir = Attr(*dev, kAttrPoolDir);
    if (dir.empty()) {
      return Status::FailedPrecondition("VM " + request.vm_id + ": volume '" + slice.name +
                                        "' is on disk " + dev->id +
                                        ", which is no storage pool of this agent (declare "
                                        "pools with devshare agent --pool)");
    }
    VolumePlan v;
    v.name = slice.name;
    v.pool = dev->id;
    v.tier = dev->tier;
    v.scheduler = Attr(*dev, kAttrPoolScheduler);
    if (v.scheduler.empty()) v.scheduler = "mclock";
    v.file = VolumeFilePath(dir, domain, slice.name);
    v.export_name = VolumeExportName(domain, slice.name);
    v.size_bytes = slice.units * (int64_t{1} << 30);
    v.reservation_iops = slice.rate;
    v.weight = std::max<int64_t>(1, slice.weight);
    v.limit_iops = slice.rate_limit;
    v.disk.target_dev = std::string("vd") + static_cast<char>('c' + i);
    v.disk.bus = "virtio";
    v.disk.serial = slice.name.substr(0, 20);
    if (v.scheduler == "none") {
      v.disk.source_path = v.file;
      v.disk.cache = "none";
    } else {
      if (ctx.nbd_socket.empty()) {
        return Status::FailedPrecondition("VM " + request.vm_id + ": volume '" + slice.name +
                                          "' is on pool " + dev->id + " (scheduler " + v.scheduler +
                                          "), but this agent runs no volume server");
      }
      v.disk.nbd_socket = ctx.nbd_socket;
      v.disk.nbd_export = v.export_name;
    }
    out.push_back(std::move(v));
  }
  return out;
}

int64_t CpuCapQuotaUs(int64_t cpu_milli, int vcpus) {
  return std::max<int64_t>(1000, cpu_milli * qos::kCfsPeriodUs / 1000 / std::max(1, vcpus));
}

Result<DomainSpec> PlanDomain(const GuestRequest& request, const RealizationContext& ctx) {
  const Allocation& a = request.allocation;
  if (request.vm_id.empty()) return Status::InvalidArgument("the VM id is empty");
  if (a.cpu_milli <= 0 || a.memory_mib <= 0) {
    return Status::InvalidArgument("VM " + request.vm_id +
                                   ": cpu_milli and memory_mib must be > 0");
  }
  DomainSpec s;
  s.name = DomainNameForVm(ctx.domain_prefix, request.vm_id);
  s.type = ctx.domain_type;
  s.vm_id = request.vm_id;
  s.tenant = request.tenant;
  s.vcpus = static_cast<int>((std::max(a.cpu_milli, request.max_cpu_milli) + 999) / 1000);
  s.memory_mib = a.memory_mib;
  s.max_memory_mib = std::max(a.memory_mib, request.max_memory_mib);
  Result<CpuTune> tune = CpuTuneForQos(s.vcpus, QosInt(request.qos, "cpu_weight", 100),
                                       QosInt(request.qos, "cpu_cap_pct", 0), ctx.cgroup);
  if (!tune.ok()) {
    return Status::InvalidArgument("VM " + request.vm_id + ": qos " + tune.status().message());
  }
  s.cputune = *tune;
  if (request.max_cpu_milli > 0) {
    const int64_t quota = CpuCapQuotaUs(a.cpu_milli, s.vcpus);
    if (s.cputune.quota_us <= 0 || quota < s.cputune.quota_us) {
      s.cputune.period_us = qos::kCfsPeriodUs;
      s.cputune.quota_us = quota;
    }
    s.comments.push_back("right-sized CPU: capped at its allocation, " +
                         std::to_string(a.cpu_milli) + " milli-CPU");
  }
  s.cpuset = ctx.guest_cpus;
  s.memory_soft_limit_mib = a.memory_mib;
  if (ctx.memory_hard_limit) s.memory_hard_limit_mib = MemoryHardLimitMib(a.memory_mib);
  if (!ctx.cpu_numa.empty() && !ctx.guest_cpus.empty()) {
    std::set<int> nodes;
    for (int c : ctx.guest_cpus) {
      if (c >= 0 && c < static_cast<int>(ctx.cpu_numa.size()) && ctx.cpu_numa[c] >= 0) {
        nodes.insert(ctx.cpu_numa[c]);
      }
    }
    s.numa_nodeset.assign(nodes.begin(), nodes.end());
  }
  if (s.numa_nodeset.empty())
    s.comments.push_back("no numatune: the guest CPUs' NUMA nodes are unknown");

  DiskIoTune io;
  io.read_iops_sec = QosInt(request.qos, "disk_read_iops", 0);
  io.write_iops_sec = QosInt(request.qos, "disk_write_iops", 0);
  io.read_bytes_sec = QosInt(request.qos, "disk_read_bytes_sec", 0);
  io.write_bytes_sec = QosInt(request.qos, "disk_write_bytes_sec", 0);
  const GuestFiles files = GuestFilePaths(ctx, request.vm_id);
  const GuestBoot& boot = request.boot;
  Result<std::vector<TenantPort>> ports = PlanTenantPorts(ctx.tenant_net, s.name, a, ctx.host, {});
  if (!ports.ok()) {
    return Status(ports.status().code(), "VM " + request.vm_id + ": " + ports.status().message());
  }
  if (!boot.kind.empty()) {
    DomainDisk disk;
    disk.source_path = files.disk;
    disk.format = "qcow2";
    disk.target_dev = "vda";
    disk.bus = "virtio";
    disk.iotune = io;
    if (boot.kind == "disk") {
      if (boot.file.empty()) {
        return Status::InvalidArgument("VM " + request.vm_id + ": disk image '" + boot.image_name +
                                       "' has no file");
      }
      s.comments.push_back("boots image " + boot.image_name + ": qcow2 overlay on " +
                           AbsolutePath(boot.file));
    } else if (boot.kind == "kernel") {
      if (boot.kernel.empty()) {
        return Status::InvalidArgument("VM " + request.vm_id + ": kernel image '" +
                                       boot.image_name + "' has no kernel");
      }
      s.kernel = AbsolutePath(boot.kernel);
      s.initrd = AbsolutePath(boot.initrd);
      s.cmdline = KernelCmdline(boot.cmdline);
      s.comments.push_back("boots kernel image " + boot.image_name + "; vda is a scratch disk");
    } else {
      return Status::InvalidArgument("VM " + request.vm_id + ": unknown image kind '" + boot.kind +
                                     "' (known: disk, kernel)");
    }
    DS_RETURN_IF_ERROR(BuildNoCloudSeed(request).status());
    s.disks.push_back(std::move(disk));
    DomainDisk seed;
    seed.source_path = files.seed;
    seed.target_dev = "vdb";
    seed.bus = "virtio";
    seed.readonly = true;
    s.disks.push_back(std::move(seed));
    if (ports->empty()) {  // no tenant NIC: one NIC of its own, user-mode unless told otherwise
      NetInterface nic;
      if (ctx.network != kUserNetwork) nic.network = ctx.network;
      nic.mac = VfMac(s.name, "virtio-nic0");
      s.nics.push_back(std::move(nic));
    }
    s.console_log = files.console_log;
    s.memory_stats_period_s = 2;  // balloon statistics for the heartbeat's usage
  } else if (ctx.image == GuestImage::kSpin) {
    DomainDisk d;
    d.source_path = files.spin_image;
    d.iotune = io;
    s.disks.push_back(std::move(d));
  } else {
    s.comments.push_back("no disk (guest image none): the guest idles in firmware");
    if (io.Any()) s.comments.push_back("qos disk limits kept for a disk; this guest has none");
  }
  for (const TenantPort& p : *ports) {
    NetInterface nic;
    nic.bridge = p.bridge;
    nic.mac = p.mac;
    nic.target_dev = p.tap;
    s.comments.push_back("NIC " + std::to_string(p.nic_index) + ": tenant network " + p.network_id +
                         " (segment " + std::to_string(p.segment_id) + ") " + p.address +
                         ", bandwidth min " + std::to_string(p.min_mbps) + " / max " +
                         std::to_string(p.max_mbps) + " Mbps on " + p.host_nic);
    s.nics.push_back(std::move(nic));
  }
  DS_ASSIGN_OR_RETURN(std::vector<VolumePlan> volumes, PlanVolumes(request, ctx));
  for (VolumePlan& v : volumes) {
    s.comments.push_back("volume " + v.name + ": pool " + v.pool + " (" + v.tier + "), " +
                         (v.disk.nbd_socket.empty()
                              ? "plain file, no devshare QoS"
                              : "NBD export " + v.export_name + ", " + v.scheduler));
    s.disks.push_back(std::move(v.disk));
  }
  if (QosInt(request.qos, "net_mbps", 0) > 0) {
    s.comments.push_back(
        "qos net_mbps: a VF's rate is set on its PF (ip link set PF vf N "
        "max_tx_rate), not in the domain XML");
  }

  // Devices: each allocation slice names an inventory device.
  std::vector<std::string> pci_ids;
  std::set<std::string> pci_addresses;  // a companion shared by two GPUs of a group goes once
  for (const DeviceSlice& slice : a.gpus) {
    const Device* dev = nullptr;
    for (const Device& d : ctx.host.devices) {
      if (d.id == slice.device_id) dev = &d;
    }
    if (dev == nullptr) {
      return Status::NotFound("VM " + request.vm_id + ": device '" + slice.device_id +
                              "' is not on host " + ctx.host.id);
    }
    const std::string address = Attr(*dev, kAttrPciAddress);
    const bool whole = slice.whole || slice.milli >= kMilliPerDevice;
    if (whole) {
      if (address.empty()) {
        s.comments.push_back(dev->id +
                             ": whole device, no PCI address known on this host: no "
                             "hostdev");
        continue;
      }
      if (pci_addresses.insert(address).second) s.pci_hostdevs.push_back({address, dev->id, false});
      pci_ids.push_back(dev->id);
      for (const std::string& c : SplitComma(Attr(*dev, kAttrIommuCompanions))) {
        if (pci_addresses.insert(c).second) s.pci_hostdevs.push_back({c, dev->id, true});
      }
      continue;
    }
    const std::vector<std::string> types = SplitComma(Attr(*dev, kAttrMdevTypes));
    if (types.empty() || address.empty()) {
      s.comments.push_back(dev->id + ": " + std::to_string(slice.milli) +
                           " milli share without an mdev type on this host: no hostdev");
      continue;
    }
    MdevHostdev m;
    m.uuid = MdevUuid(request.vm_id, dev->id);
    m.device_id = dev->id;
    m.parent_address = address;
    m.type = types.front();
    s.mdev_hostdevs.push_back(std::move(m));
  }
  DS_RETURN_IF_ERROR(CheckIommuGroups(pci_ids, ctx.host));
  for (const GuestVf& vf : request.vfs) {
    if (vf.vlan_id < 0 || vf.vlan_id > 4094) {
      return Status::InvalidArgument("VM " + request.vm_id + ": VF " + vf.address + ": VLAN " +
                                     std::to_string(vf.vlan_id) + " is outside 1..4094");
    }
    if (!vf.mac.empty() && !IsMac(vf.mac)) {
      return Status::InvalidArgument("VM " + request.vm_id + ": VF " + vf.address + ": bad MAC '" +
                                     vf.mac + "' (expected xx:xx:xx:xx:xx:xx)");
    }
    s.vf_interfaces.push_back(
        {vf.address, vf.mac.empty() ? VfMac(request.vm_id, vf.address) : vf.mac, vf.vlan_id});
  }
  return s;
}

}  // namespace devshare::host
