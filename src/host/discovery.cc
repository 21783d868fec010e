// DiscoverHost: sysfs/procfs readers. Every file access uses the error_code overloads of
// std::filesystem (nothing throws); each problem becomes one warning line naming the path.
#include "devshare/host/discovery.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Reading context: the sysfs root (for relative names in warnings) and the warning list.
class Reader {
 public:
  Reader(fs::path root, std::vector<std::string>* warnings)
      : root_(std::move(root)), warnings_(warnings) {}

  void Warn(const std::string& message) { warnings_->push_back(message); }

  // Whole file, trimmed. nullopt (plus a warning unless `optional`) when missing or unreadable.
  std::optional<std::string> Read(const fs::path& p, bool optional = false) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      if (!optional) Warn(Name(p) + ": missing");
      return std::nullopt;
    }
    if (fs::is_directory(p, ec)) {
      Warn(Name(p) + ": is a directory, expected a file");
      return std::nullopt;
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      Warn(Name(p) + ": unreadable (" + std::strerror(errno) + ")");
      return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
      Warn(Name(p) + ": read error");
      return std::nullopt;
    }
    return Trim(ss.str());
  }

  // Integer file (decimal, or hex with 0x). nullopt plus a warning when odd.
  std::optional<int64_t> ReadInt(const fs::path& p, bool optional = false) {
    std::optional<std::string> s = Read(p, optional);
    if (!s) return std::nullopt;
    std::optional<int64_t> v = ParseInt(*s);
    if (!v) Warn(Name(p) + ": not a number: '" + s->substr(0, 40) + "'");
    return v;
  }

  static std::optional<int64_t> ParseInt(std::string_view s) {
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      s.remove_prefix(2);
      base = 16;
    }
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
  }

  // Basename of a symlink's target ("iommu_group" -> "12"); empty when not a link.
  std::string LinkName(const fs::path& p, bool optional = true) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(p, ec))) {
      if (!optional) Warn(Name(p) + ": missing symlink");
      return "";
    }
    fs::path target = fs::read_symlink(p, ec);
    if (ec) {
      Warn(Name(p) + ": unreadable symlink");
      return "";
    }
    if (!fs::exists(p, ec)) Warn(Name(p) + ": dangling symlink to " + target.string());
    return target.filename().string();
  }

  // Directory entries' names, sorted. Empty (plus a warning unless `optional`) when absent.
  std::vector<std::string> List(const fs::path& dir, bool optional = true) {
    std::vector<std::string> out;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      if (!optional) Warn(Name(dir) + ": cannot list (" + ec.message() + ")");
      return out;
    }
    for (const fs::directory_entry& e : it) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string Name(const fs::path& p) const {
    std::string s = p.string();
    const std::string r = root_.string();
    if (s.rfind(r, 0) == 0) return "sysfs" + s.substr(r.size());
    return s;
  }

 private:
  fs::path root_;
  std::vector<std::string>* warnings_;
};

// Numbers after a prefix in names like "cpu12", "node1", "virtfn7"; nullopt otherwise.
std::optional<int> Suffix(const std::string& name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  std::optional<int64_t> v = Reader::ParseInt(std::string_view(name).substr(prefix.size()));
  if (!v || *v < 0 || *v > 1'000'000) return std::nullopt;
  return static_cast<int>(*v);
}

void ReadCpus(Reader& r, const fs::path& sys, CpuTopology& cpu) {
  const fs::path base = sys / "devices/system/cpu";
  std::set<int> packages;
  std::set<std::pair<int64_t, int64_t>> cores;
  std::vector<std::string> entries = r.List(base, false);
  for (const std::string& e : entries) {
    std::optional<int> id = Suffix(e, "cpu");
    if (!id) continue;
    cpu.present.push_back(*id);
    std::optional<int64_t> pkg = r.ReadInt(base / e / "topology/physical_package_id", true);
    std::optional<int64_t> core = r.ReadInt(base / e / "topology/core_id", true);
    if (!pkg || !core) {
      // Offline CPUs have no topology directory: they count as threads but not as cores.
      r.Warn("sysfs/devices/system/cpu/" + e + ": no readable topology (offline?)");
      continue;
    }
    packages.insert(static_cast<int>(*pkg));
    cores.insert({*pkg, *core});
  }
  std::sort(cpu.present.begin(), cpu.present.end());
  cpu.threads = static_cast<int>(cpu.present.size());
  cpu.sockets = static_cast<int>(packages.size());
  cpu.cores = static_cast<int>(cores.size());
  if (std::optional<std::string> online = r.Read(base / "online")) {
    Result<std::vector<int>> list = ParseCpuList(*online);
    if (list.ok()) {
      cpu.online = *list;
    } else {
      r.Warn("sysfs/devices/system/cpu/online: " + list.status().message());
    }
  }
  if (cpu.online.empty() && !cpu.present.empty()) {
    r.Warn("no online CPU list; assuming every present CPU is online");
    cpu.online = cpu.present;
  }
}

// "MemTotal:  1234 kB" (procfs meminfo) or "Node 0 MemTotal: 1234 kB" (node meminfo).
std::optional<int64_t> MemTotalKib(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t pos = line.find("MemTotal:");
    if (pos == std::string::npos) continue;
    std::istringstream fields(line.substr(pos + 9));
    int64_t v = -1;
    std::string unit;
    fields >> v >> unit;
    if (v >= 0 && (unit == "kB" || unit.empty())) return v;
    return std::nullopt;
  }
  return std::nullopt;
}

void ReadNuma(Reader& r, const fs::path& sys, std::vector<NumaNodeInfo>& nodes) {
  const fs::path base = sys / "devices/system/node";
  for (const std::string& e : r.List(base)) {
    std::optional<int> id = Suffix(e, "node");
    if (!id) continue;
    NumaNodeInfo n;
    n.id = *id;
    if (std::optional<std::string> cl = r.Read(base / e / "cpulist")) {
      Result<std::vector<int>> cpus = ParseCpuList(*cl);
      if (cpus.ok()) {
        n.cpus = *cpus;
      } else {
        r.Warn("sysfs/devices/system/node/" + e + "/cpulist: " + cpus.status().message());
      }
    }
    if (std::optional<std::string> mi = r.Read(base / e / "meminfo")) {
      std::optional<int64_t> kib = MemTotalKib(*mi);
      if (kib) {
        n.memory_kib = *kib;
      } else {
        r.Warn("sysfs/devices/system/node/" + e + "/meminfo: no MemTotal line");
      }
    }
    nodes.push_back(std::move(n));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NumaNodeInfo& a, const NumaNodeInfo& b) { return a.id < b.id; });
}

void ReadMdevTypes(Reader& r, const fs::path& dev, PciFunction& f) {
  const fs::path base = dev / "mdev_supported_types";
  for (const std::string& t : r.List(base)) {
    MdevType m;
    m.type = t;
    m.name = r.Read(base / t / "name", true).value_or("");
    m.device_api = r.Read(base / t / "device_api").value_or("");
    m.available_instances = r.ReadInt(base / t / "available_instances").value_or(-1);
    f.mdev_types.push_back(std::move(m));
  }
}

std::optional<PciFunction> ReadPci(Reader& r, const fs::path& sys, const std::string& bdf) {
  const fs::path dev = sys / "bus/pci/devices" / bdf;
  std::error_code ec;
  if (!fs::exists(dev, ec)) {
    r.Warn("sysfs/bus/pci/devices/" + bdf + ": dangling entry");
    return std::nullopt;
  }
  PciFunction f;
  f.address = bdf;
  std::optional<int64_t> cls = r.ReadInt(dev / "class");
  std::optional<int64_t> vendor = r.ReadInt(dev / "vendor");
  std::optional<int64_t> device = r.ReadInt(dev / "device");
  if (!cls || !vendor || !device) {
    r.Warn("PCI " + bdf + ": skipped (class, vendor or device id unreadable)");
    return std::nullopt;
  }
  if (*cls < 0 || *cls > 0xffffff || *vendor < 0 || *vendor > 0xffff || *device < 0 ||
      *device > 0xffff) {
    r.Warn("PCI " + bdf + ": skipped (class, vendor or device id out of range)");
    return std::nullopt;
  }
  f.class_code = static_cast<uint32_t>(*cls);
  f.vendor_id = static_cast<uint16_t>(*vendor);
  f.device_id = static_cast<uint16_t>(*device);
  f.driver = r.LinkName(dev / "driver");
  f.numa_node = static_cast<int>(r.ReadInt(dev / "numa_node", true).value_or(-1));
  f.iommu_group = r.LinkName(dev / "iommu_group");
  f.physfn = r.LinkName(dev / "physfn");
  if (fs::exists(dev / "sriov_totalvfs", ec)) {
    f.sriov_totalvfs = static_cast<int>(r.ReadInt(dev / "sriov_totalvfs").value_or(0));
    f.sriov_numvfs = static_cast<int>(r.ReadInt(dev / "sriov_numvfs").value_or(0));
    std::map<int, std::string> vfs;
    for (const std::string& e : r.List(dev)) {
      if (std::optional<int> k = Suffix(e, "virtfn")) {
        std::string vf = r.LinkName(dev / e);
        if (!vf.empty()) vfs[*k] = vf;
      }
    }
    for (auto& [k, vf] : vfs) f.vfs.push_back(vf);
    if (static_cast<int>(f.vfs.size()) != f.sriov_numvfs) {
      r.Warn("PCI " + bdf + ": sriov_numvfs is " + std::to_string(f.sriov_numvfs) + " but " +
             std::to_string(f.vfs.size()) + " virtfn links exist");
    }
  }
  ReadMdevTypes(r, dev, f);
  f.net_interfaces = r.List(dev / "net");
  if (!f.net_interfaces.empty()) {
    std::optional<std::string> speed = r.Read(dev / "net" / f.net_interfaces[0] / "speed", true);
    if (speed) {
      std::optional<int64_t> v = Reader::ParseInt(*speed);
      if (v && *v > 0) f.link_speed_mbps = *v;
    }
  }
  return f;
}

// Devices named in procfs mounts ("/dev/sda1" -> "sda1").
std::set<std::string> MountedDevices(const fs::path& proc) {
  std::set<std::string> out;
  std::ifstream in(proc / "mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source;
    fields >> source;
    if (source.rfind("/dev/", 0) == 0) out.insert(source.substr(5));
  }
  return out;
}

void ReadDisks(Reader& r, const fs::path& sys, const fs::path& proc, DiscoveredHost& h) {
  const fs::path base = sys / "block";
  const std::set<std::string> mounted = MountedDevices(proc);
  std::error_code ec;
  const fs::path sys_canonical = fs::weakly_canonical(sys, ec);
  for (const std::string& name : r.List(base, false)) {
    const fs::path link = base / name;
    fs::path target = fs::read_symlink(link, ec);
    if (!ec && target.string().find("/virtual/") != std::string::npos) continue;  // loop, zram
    fs::path real = fs::canonical(link, ec);
    if (ec) {
      r.Warn("sysfs/block/" + name + ": cannot resolve (" + ec.message() + ")");
      continue;
    }
    BlockDevice d;
    d.name = name;
    std::optional<int64_t> sectors = r.ReadInt(real / "size");
    if (!sectors) continue;
    d.size_bytes = *sectors * 512;
    if (d.size_bytes == 0) continue;  // empty card readers, unused virtual slots
    d.rotational = r.ReadInt(real / "queue/rotational").value_or(0) != 0;
    d.tier = name.rfind("nvme", 0) == 0 ? DiskTier::kNvme
             : d.rotational             ? DiskTier::kHdd
                                        : DiskTier::kSsd;
    d.model = r.Read(real / "device/model", true).value_or("");
    if (d.model.empty()) d.model = r.Read(real / "device/device/model", true).value_or("");
    // The PCI function it hangs off: the nearest ancestor directory holding a numa_node file.
    for (fs::path p = real.parent_path(); !p.empty() && p != sys_canonical && p != p.root_path();
         p = p.parent_path()) {
      const std::string dir = p.filename().string();
      const bool bdf = dir.size() == 12 && dir[4] == ':' && dir[7] == ':' && dir[10] == '.';
      if (bdf && fs::exists(p / "class", ec)) {
        d.pci_address = p.filename().string();
        d.numa_node = static_cast<int>(r.ReadInt(p / "numa_node", true).value_or(-1));
        break;
      }
    }
    for (const std::string& m : mounted) {
      if (m.rfind(name, 0) == 0) d.in_use_by_host = true;
    }
    h.disks.push_back(std::move(d));
  }
}

void ReadCpuFlags(const fs::path& proc, DiscoveredHost& h) {
  std::ifstream in(proc / "cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream fields(line.substr(colon + 1));
    std::string f;
    while (fields >> f) h.cpu_flags.push_back(f);
    break;
  }
}

}  // namespace

std::string_view DiskTierName(DiskTier t) {
  switch (t) {
    case DiskTier::kNvme:
      return "nvme";
    case DiskTier::kSsd:
      return "ssd";
    case DiskTier::kHdd:
      return "hdd";
  }
  return "ssd";
}

bool PciFunction::IsGpu() const {
  if ((class_code >> 16) != 0x03) return false;
  return vendor_id == 0x10de || vendor_id == 0x1002 || vendor_id == 0x8086;
}

const PciFunction* DiscoveredHost::FindPci(std::string_view address) const {
  for (const PciFunction& f : pci) {
    if (f.address == address) return &f;
  }
  return nullptr;
}

std::vector<const PciFunction*> DiscoveredHost::Gpus() const {
  std::vector<const PciFunction*> out;
  for (const PciFunction& f : pci) {
    if (f.IsGpu()) out.push_back(&f);
  }
  return out;
}

std::vector<const PciFunction*> DiscoveredHost::IommuGroupMembers(std::string_view group) const {
  std::vector<const PciFunction*> out;
  if (group.empty()) return out;
  for (const PciFunction& f : pci) {
    if (f.iommu_group == group) out.push_back(&f);
  }
  return out;
}

namespace {

// Runs a busy loop in a one-vCPU VM of `kvm_fd` (real mode, code at 0x1000 of 64 KiB of guest
// memory) and returns its wall time in ms: 2 million iterations of dec/jnz, then hlt. The
// vCPU executes it natively under KVM in about a millisecond. The wall clock is what is
// measured (a hardware probe), not injected.
Result<double> KvmProbeLoopMs(int kvm_fd) {
  // mov ecx, 2000000; L: dec ecx; jnz L; hlt
  static constexpr uint8_t kCode[] = {0x66, 0xB9, 0x80, 0x84, 0x1E, 0x00,  // mov ecx, imm32
                                      0x66, 0x49,                          // dec ecx
                                      0x75, 0xFC,                          // jnz -4
                                      0xF4};                               // hlt
  constexpr size_t kMemBytes = 64 << 10;
  constexpr uint64_t kCodeAddr = 0x1000;
  const int vm = ::ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (vm < 0)
    return Status::Unavailable(std::string("KVM_CREATE_VM failed: ") + std::strerror(errno));
  void* mem =
      ::mmap(nullptr, kMemBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int cpu = -1;
  void* run_map = MAP_FAILED;
  int run_size = 0;
  auto done = [&](Result<double> r) {
    if (run_map != MAP_FAILED) ::munmap(run_map, static_cast<size_t>(run_size));
    if (cpu >= 0) ::close(cpu);
    ::close(vm);
    if (mem != MAP_FAILED) ::munmap(mem, kMemBytes);
    return r;
  };
  auto failed = [&](const char* what) {
    return done(Status::Unavailable(std::string(what) + " failed: " + std::strerror(errno)));
  };
  if (mem == MAP_FAILED) return failed("mmap of the probe's guest memory");
  std::memcpy(static_cast<uint8_t*>(mem) + kCodeAddr, kCode, sizeof kCode);
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kMemBytes;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return failed("KVM_SET_USER_MEMORY_REGION");
  cpu = ::ioctl(vm, KVM_CREATE_VCPU, 0);
  if (cpu < 0) return failed("KVM_CREATE_VCPU");
  run_size = ::ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return failed("KVM_GET_VCPU_MMAP_SIZE");
  run_map =
      ::mmap(nullptr, static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
  if (run_map == MAP_FAILED) return failed("mmap of kvm_run");
  kvm_sregs sregs{};
  if (::ioctl(cpu, KVM_GET_SREGS, &sregs) < 0) return failed("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (::ioctl(cpu, KVM_SET_SREGS, &sregs) < 0) return failed("KVM_SET_SREGS");
  kvm_regs regs{};
  regs.rip = kCodeAddr;
  regs.rflags = 0x2;  // bit 1 is reserved, always set
  if (::ioctl(cpu, KVM_SET_REGS, &regs) < 0) return failed("KVM_SET_REGS");
  const auto* run = static_cast<const kvm_run*>(run_map);
  const auto t0 = std::chrono::steady_clock::now();
  for (int exits = 0; exits < 1000; ++exits) {
    if (::ioctl(cpu, KVM_RUN, 0) < 0 && errno != EINTR) return failed("KVM_RUN");
    if (run->exit_reason == KVM_EXIT_HLT) {
      return done(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (run->exit_reason != KVM_EXIT_INTR) {
      return done(Status::Unavailable("the probe vCPU exited with reason " +
                                      std::to_string(run->exit_reason) + " before its hlt"));
    }
  }
  return done(Status::Unavailable("the probe vCPU did not reach its hlt"));
}

}  // namespace

KvmInfo ProbeKvm(const std::string& dev_root) {
  KvmInfo k;
  const std::string path = dev_root + "/kvm";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    k.detail = path + " is missing";
    return k;
  }
  k.present = true;
  if (!S_ISCHR(st.st_mode)) {
    k.detail = path + " is not a character device";
    return k;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    k.detail = "cannot open " + path + ": " + std::strerror(errno);
    return k;
  }
  k.api_version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  if (k.api_version != KVM_API_VERSION) {
    k.detail = "KVM_GET_API_VERSION answered " + std::to_string(k.api_version);
    ::close(fd);
    return k;
  }
  Result<double> loop_ms = KvmProbeLoopMs(fd);
  ::close(fd);
  if (!loop_ms.ok()) {
    k.detail = std::string(loop_ms.status().message());
    return k;
  }
  k.probe_loop_ms = *loop_ms;
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.1f ms", *loop_ms);
  if (*loop_ms > kKvmProbeMaxMs) {
    k.detail =
        std::string("KVM runs guest code too slowly to use: a 2M-iteration probe loop took ") + ms +
        " (about 1 ms natively; nested virtualisation without hardware assist?)";
    return k;
  }
  k.usable = true;
  k.detail = "KVM API " + std::to_string(k.api_version) + ", probe loop " + ms;
  return k;
}

Result<std::vector<int>> ParseCpuList(std::string_view text) {
  std::vector<int> out;
  std::string s = Trim(text);
  if (s.empty()) return out;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = Trim(item);
    size_t dash = item.find('-');
    std::optional<int64_t> a = Reader::ParseInt(item.substr(0, dash));
    std::optional<int64_t> b =
        dash == std::string::npos ? a : Reader::ParseInt(item.substr(dash + 1));
    if (!a || !b || *a < 0 || *b < *a || *b > 65535) {
      return Status::InvalidArgument("bad CPU list '" + s + "' (expected e.g. 0-3,8)");
    }
    for (int64_t c = *a; c <= *b; ++c) out.push_back(static_cast<int>(c));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::vector<int> c = cpus;
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  std::string out;
  for (size_t i = 0; i < c.size();) {
    size_t j = i;
    while (j + 1 < c.size() && c[j + 1] == c[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(c[i]);
    if (j > i) {
      out += '-';
      out += std::to_string(c[j]);
    }
    i = j + 1;
  }
  return out;
}

Result<DiscoveredHost> DiscoverHost(const std::string& sysfs_root, const std::string& procfs_root,
                                    const std::string& dev_root) {
  DiscoveredHost h;
  const fs::path sys(sysfs_root);
  const fs::path proc(procfs_root);
  std::error_code ec;
  if (!fs::is_directory(sys, ec)) {
    return Status::NotFound("sysfs root " + sysfs_root + " is not a readable directory");
  }
  if (!fs::is_directory(sys / "devices", ec) && !fs::is_directory(sys / "bus", ec)) {
    return Status::FailedPrecondition("sysfs root " + sysfs_root +
                                      " has neither devices/ nor bus/: not a sysfs tree");
  }
  Reader r(sys, &h.warnings);
  ReadCpus(r, sys, h.cpu);
  ReadNuma(r, sys, h.numa_nodes);

  std::ifstream meminfo(proc / "meminfo");
  if (meminfo) {
    std::ostringstream ss;
    ss << meminfo.rdbuf();
    h.memory_total_kib = MemTotalKib(ss.str()).value_or(0);
  }
  if (h.memory_total_kib <= 0) {
    int64_t sum = 0;
    for (const NumaNodeInfo& n : h.numa_nodes) sum += n.memory_kib;
    h.warnings.push_back("procfs meminfo: no MemTotal; using the NUMA nodes' sum");
    h.memory_total_kib = sum;
  }
  ReadCpuFlags(proc, h);

  for (const std::string& bdf : r.List(sys / "bus/pci/devices")) {
    std::optional<PciFunction> f = ReadPci(r, sys, bdf);
    if (f) h.pci.push_back(std::move(*f));
  }
  std::sort(h.pci.begin(), h.pci.end(),
            [](const PciFunction& a, const PciFunction& b) { return a.address < b.address; });
  for (const PciFunction& f : h.pci) {
    if (f.IsVf() && h.FindPci(f.physfn) == nullptr) {
      h.warnings.push_back("PCI " + f.address + ": physfn " + f.physfn + " not found");
    }
  }
  ReadDisks(r, sys, proc, h);
  h.kvm = ProbeKvm(dev_root);
  return h;
}

}  // namespace devshare::host
