// BuildDomainXml: element forms from libvirt's formatdomain (reference/qos.md §3.2, §5.3).
#include "devshare/host/domain_xml.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <sstream>

#include "devshare/core/xml_escape.h"
#include "devshare/host/discovery.h"

namespace devshare::host {
namespace {

std::string Hex(int v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*x", digits, v);
  return buf;
}

// "--" may not appear inside an XML comment.
std::string CommentText(std::string s) {
  for (size_t i = s.find("--"); i != std::string::npos; i = s.find("--", i)) s.replace(i, 2, "- -");
  if (!s.empty() && s.back() == '-') s += ' ';
  return s;
}

std::string AddressAttributes(const PciAddress& a) {
  return "domain='" + Hex(a.domain, 4) + "' bus='" + Hex(a.bus, 2) + "' slot='" + Hex(a.slot, 2) +
         "' function='" + Hex(a.function, 1) + "'";
}

}  // namespace

std::string DomainNameForVm(std::string_view prefix, std::string_view vm_id) {
  return std::string(prefix) + std::string(vm_id);
}

std::optional<std::string> VmIdFromDomainName(std::string_view prefix,
                                              std::string_view domain_name) {
  if (domain_name.size() <= prefix.size() || domain_name.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  return std::string(domain_name.substr(prefix.size()));
}

std::optional<std::string> MetadataVmId(std::string_view xml) {
  const size_t tag = xml.find("<devshare:vm ");
  if (tag == std::string_view::npos) return std::nullopt;
  const size_t end = xml.find('>', tag);
  const std::string_view element =
      xml.substr(tag, end == std::string_view::npos ? xml.npos : end - tag);
  for (size_t at = element.find(" id="); at != std::string_view::npos;
       at = element.find(" id=", at + 1)) {
    const size_t q = at + 4;
    if (q >= element.size() || (element[q] != '\'' && element[q] != '"')) continue;
    const size_t close = element.find(element[q], q + 1);
    if (close == std::string_view::npos) return std::nullopt;
    std::string id(element.substr(q + 1, close - q - 1));
    // Undo the escaping of EscapeXml for the characters a VM id may hold.
    for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{"&amp;", "&"},
                                   {"&lt;", "<"},
                                   {"&gt;", ">"},
                                   {"&apos;", "'"},
                                   {"&quot;", "\""}}) {
      for (size_t i = id.find(from); i != std::string::npos; i = id.find(from, i + to.size())) {
        id.replace(i, from.size(), to);
      }
    }
    return id;
  }
  return std::nullopt;
}

Result<PciAddress> ParsePciAddress(std::string_view bdf) {
  auto hex = [](std::string_view s, int max, int& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return ec == std::errc() && p == s.data() + s.size() && out >= 0 && out <= max;
  };
  PciAddress a;
  // DDDD:BB:SS.F
  if (bdf.size() != 12 || bdf[4] != ':' || bdf[7] != ':' || bdf[10] != '.' ||
      !hex(bdf.substr(0, 4), 0xffff, a.domain) || !hex(bdf.substr(5, 2), 0xff, a.bus) ||
      !hex(bdf.substr(8, 2), 0x1f, a.slot) || !hex(bdf.substr(11, 1), 7, a.function)) {
    return Status::InvalidArgument("bad PCI address '" + std::string(bdf) +
                                   "' (expected DDDD:BB:SS.F)");
  }
  return a;
}

std::string BuildDiskXml(const DomainDisk& d, std::string_view indent) {
  std::ostringstream x;
  const std::string in(indent);
  if (!d.nbd_socket.empty()) {
    x << in << "<disk type='network' device='disk'>\n"
      << in << "  <driver name='qemu' type='raw'/>\n"
      << in << "  <source protocol='nbd' name='" << EscapeXml(d.nbd_export) << "'>\n"
      << in << "    <host transport='unix' socket='" << EscapeXml(d.nbd_socket) << "'/>\n"
      << in << "  </source>\n";
  } else {
    x << in << "<disk type='file' device='disk'>\n"
      << in << "  <driver name='qemu' type='" << EscapeXml(d.format) << "'"
      << (d.cache.empty() ? "" : " cache='" + EscapeXml(d.cache) + "'") << "/>\n"
      << in << "  <source file='" << EscapeXml(d.source_path) << "'/>\n";
  }
  x << in << "  <target dev='" << EscapeXml(d.target_dev) << "' bus='" << EscapeXml(d.bus)
    << "'/>\n";
  if (d.readonly) x << in << "  <readonly/>\n";
  if (!d.serial.empty()) x << in << "  <serial>" << EscapeXml(d.serial) << "</serial>\n";
  if (d.iotune.Any()) {
    x << in << "  <iotune>\n";
    if (d.iotune.read_bytes_sec > 0) {
      x << in << "    <read_bytes_sec>" << d.iotune.read_bytes_sec << "</read_bytes_sec>\n";
    }
    if (d.iotune.write_bytes_sec > 0) {
      x << in << "    <write_bytes_sec>" << d.iotune.write_bytes_sec << "</write_bytes_sec>\n";
    }
    if (d.iotune.read_iops_sec > 0) {
      x << in << "    <read_iops_sec>" << d.iotune.read_iops_sec << "</read_iops_sec>\n";
    }
    if (d.iotune.write_iops_sec > 0) {
      x << in << "    <write_iops_sec>" << d.iotune.write_iops_sec << "</write_iops_sec>\n";
    }
    x << in << "  </iotune>\n";
  }
  x << in << "</disk>\n";
  return x.str();
}

std::string BuildDomainXml(const DomainSpec& s) {
  std::ostringstream x;
  const std::string cpuset = FormatCpuList(s.cpuset);
  x << "<domain type='" << EscapeXml(s.type) << "'>\n";
  x << "  <name>" << EscapeXml(s.name) << "</name>\n";
  for (const std::string& c : s.comments) x << "  <!-- " << CommentText(c) << " -->\n";
  x << "  <metadata>\n"
    << "    <devshare:vm xmlns:devshare='urn:devshare:vm:1' id='" << EscapeXml(s.vm_id)
    << "' tenant='" << EscapeXml(s.tenant) << "'/>\n"
    << "  </metadata>\n";
  x << "  <memory unit='MiB'>" << std::max(s.memory_mib, s.max_memory_mib) << "</memory>\n";
  x << "  <currentMemory unit='MiB'>" << s.memory_mib << "</currentMemory>\n";
  x << "  <vcpu placement='static'";
  if (!cpuset.empty()) x << " cpuset='" << cpuset << "'";
  x << ">" << s.vcpus << "</vcpu>\n";

  x << "  <cputune>\n";
  x << "    <shares>" << s.cputune.shares << "</shares>\n";
  if (s.cputune.period_us > 0) x << "    <period>" << s.cputune.period_us << "</period>\n";
  if (s.cputune.quota_us > 0) x << "    <quota>" << s.cputune.quota_us << "</quota>\n";
  if (!cpuset.empty()) {
    for (int v = 0; v < s.vcpus; ++v) {
      x << "    <vcpupin vcpu='" << v << "' cpuset='" << cpuset << "'/>\n";
    }
    x << "    <emulatorpin cpuset='" << cpuset << "'/>\n";
  }
  x << "  </cputune>\n";

  if (s.memory_hard_limit_mib > 0 || s.memory_soft_limit_mib > 0) {
    x << "  <memtune>\n";
    if (s.memory_hard_limit_mib > 0) {
      x << "    <hard_limit unit='MiB'>" << s.memory_hard_limit_mib << "</hard_limit>\n";
    }
    if (s.memory_soft_limit_mib > 0) {
      x << "    <soft_limit unit='MiB'>" << s.memory_soft_limit_mib << "</soft_limit>\n";
    }
    x << "  </memtune>\n";
  }
  if (!s.numa_nodeset.empty()) {
    x << "  <numatune>\n    <memory mode='strict' nodeset='" << FormatCpuList(s.numa_nodeset)
      << "'/>\n  </numatune>\n";
  }
  x << "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n";
  if (!s.kernel.empty()) {
    x << "    <kernel>" << EscapeXml(s.kernel) << "</kernel>\n";
    if (!s.initrd.empty()) x << "    <initrd>" << EscapeXml(s.initrd) << "</initrd>\n";
    if (!s.cmdline.empty()) x << "    <cmdline>" << EscapeXml(s.cmdline) << "</cmdline>\n";
  } else if (!s.disks.empty()) {
    x << "    <boot dev='hd'/>\n";
  }
  x << "  </os>\n";
  x << "  <features>\n    <acpi/>\n  </features>\n";
  x << "  <on_poweroff>destroy</on_poweroff>\n"
    << "  <on_reboot>restart</on_reboot>\n"
    << "  <on_crash>destroy</on_crash>\n";

  x << "  <devices>\n";
  for (const DomainDisk& d : s.disks) x << BuildDiskXml(d, "    ");
  for (const PciHostdev& h : s.pci_hostdevs) {
    Result<PciAddress> a = ParsePciAddress(h.address);
    if (!a.ok()) {
      x << "    <!-- " << CommentText(h.device_id + ": " + a.status().message()) << " -->\n";
      continue;
    }
    x << "    <hostdev mode='subsystem' type='pci' managed='yes'>\n";
    if (!h.device_id.empty()) {
      x << "      <!-- " << CommentText(h.device_id + (h.companion ? " (same IOMMU group)" : ""))
        << " -->\n";
    }
    x << "      <driver name='vfio'/>\n"
      << "      <source>\n        <address " << AddressAttributes(*a) << "/>\n      </source>\n"
      << "    </hostdev>\n";
  }
  for (const MdevHostdev& m : s.mdev_hostdevs) {
    x << "    <hostdev mode='subsystem' type='mdev' model='vfio-pci' display='off'>\n"
      << "      <!-- " << CommentText(m.device_id + ": mdev " + m.type + " on " + m.parent_address)
      << " -->\n"
      << "      <source>\n        <address uuid='" << EscapeXml(m.uuid) << "'/>\n"
      << "      </source>\n    </hostdev>\n";
  }
  for (const VfInterface& v : s.vf_interfaces) {
    Result<PciAddress> a = ParsePciAddress(v.address);
    if (!a.ok()) {
      x << "    <!-- " << CommentText("VF: " + a.status().message()) << " -->\n";
      continue;
    }
    x << "    <interface type='hostdev' managed='yes'>\n";
    if (!v.mac.empty()) x << "      <mac address='" << EscapeXml(v.mac) << "'/>\n";
    x << "      <source>\n        <address type='pci' " << AddressAttributes(*a) << "/>\n"
      << "      </source>\n";
    if (v.vlan_id > 0) {
      x << "      <vlan>\n        <tag id='" << v.vlan_id << "'/>\n      </vlan>\n";
    }
    x << "    </interface>\n";
  }
  for (const NetInterface& n : s.nics) {
    if (!n.bridge.empty()) {
      x << "    <interface type='bridge'>\n";
    } else if (n.network.empty()) {
      x << "    <interface type='user'>\n";
    } else {
      x << "    <interface type='network'>\n"
        << "      <source network='" << EscapeXml(n.network) << "'/>\n";
    }
    if (!n.mac.empty()) x << "      <mac address='" << EscapeXml(n.mac) << "'/>\n";
    if (!n.bridge.empty()) x << "      <source bridge='" << EscapeXml(n.bridge) << "'/>\n";
    if (!n.target_dev.empty()) x << "      <target dev='" << EscapeXml(n.target_dev) << "'/>\n";
    x << "      <model type='virtio'/>\n";
    if (n.inbound_average_kbytes_per_s > 0) {
      x << "      <bandwidth>\n        <inbound average='" << n.inbound_average_kbytes_per_s
        << "'/>\n      </bandwidth>\n";
    }
    x << "    </interface>\n";
  }
  if (!s.console_log.empty()) {
    const std::string source = "<source path='" + EscapeXml(s.console_log) + "' append='on'/>";
    x << "    <serial type='file'>\n      " << source << "\n      <target port='0'/>\n"
      << "    </serial>\n"
      << "    <console type='file'>\n      " << source << "\n"
      << "      <target type='serial' port='0'/>\n    </console>\n";
  }
  if (s.memory_stats_period_s > 0) {
    x << "    <memballoon model='virtio'>\n      <stats period='" << s.memory_stats_period_s
      << "'/>\n    </memballoon>\n";
  }
  x << "  </devices>\n";
  x << "</domain>\n";
  return x.str();
}

}  // namespace devshare::host
