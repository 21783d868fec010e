// `devshare host discover | register | qos-check`: the host agent's commands (docs/host-agent.md).
// discover prints what sysfs/procfs show and the inventory it maps to; register PUTs that
// inventory to the control plane through `devshare host put`; qos-check samples the CPU time of
// devshare-* libvirt domains and compares it with what their cputune promises.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/core/clock.h"
#include "devshare/host/discovery.h"
#include "devshare/host/hypervisor.h"
#include "devshare/host/inventory_json.h"
#include "devshare/host/qos_check.h"

namespace devshare::cli {
namespace {

using nlohmann::json;

constexpr const char* kDiscoverHelp =
    "usage: devshare host discover [--sysfs-root DIR] [--procfs-root DIR] [--dev-root DIR]\n"
    "                              [--guest-cpuset LIST] [--json]\n"
    "  Reads CPUs, NUMA nodes, memory, PCI functions (IOMMU groups, SR-IOV, mdev types), block\n"
    "  devices and KVM from sysfs/procfs and prints them with the inventory they map to.\n"
    "  --sysfs-root DIR   default /sys; a fixture tree's sys/ takes its sibling proc/ and dev/\n"
    "  --guest-cpuset L   host CPUs guests may use (e.g. 1-3); default every online CPU\n"
    "  --json             {\"discovery\": ..., \"inventory\": ..., \"notes\": [...]} on stdout\n";

constexpr const char* kRegisterHelp =
    "usage: devshare host register NAME [--server URL] [--token-file PATH] [--sysfs-root DIR]\n"
    "                               [--guest-cpuset LIST] [--memory-reserved-mib N]\n"
    "                               [--dry-run] [--json]\n"
    "  Discovers this machine and PUTs its inventory to /v1/hosts/NAME (an admin token from\n"
    "  $DEVSHARE_TOKEN or --token-file). --dry-run prints the body instead of sending it.\n";

constexpr const char* kQosCheckHelp =
    "usage: devshare host qos-check [--hypervisor URI] [--window-s 5] [--prefix devshare-]\n"
    "                               [--tolerance-pct P] [--json]\n"
    "  Samples the CPU time of running devshare-* domains over the window and prints the share\n"
    "  each achieved next to the share its cputune promises (CFS shares water-filled among the\n"
    "  busy domains pinned to overlapping CPUs, capped by vCPUs and period/quota).\n"
    "  --hypervisor URI   default $DEVSHARE_HYPERVISOR, else qemu:///system\n"
    "  --tolerance-pct P  exit 1 when a busy domain's group share is off by more than P %\n"
    "                     of its promise, or it exceeds its cap by more than 2 points\n";

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

int Usage(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "devshare host %s: %s (see 'devshare host %s --help')\n", command.c_str(),
               message.c_str(), command.c_str());
  return kExitBadInput;
}

// Splits positionals from flags (values of `value_flags` stay with their flag).
std::vector<std::string> TakePositionals(std::vector<std::string>& args,
                                         const std::set<std::string>& value_flags) {
  std::vector<std::string> positionals, rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      rest.push_back(args[i]);
      const std::string name = args[i].substr(2);
      if (name.find('=') == std::string::npos && value_flags.count(name) && i + 1 < args.size()) {
        rest.push_back(args[++i]);
      }
    } else {
      positionals.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return positionals;
}

struct Roots {
  std::string sys = "/sys", proc = "/proc", dev = "/dev";
};

// --sysfs-root DIR: a fixture tree's sys/ comes with proc/ and dev/ beside it.
Roots RootsFrom(const Flags& flags) {
  Roots r;
  if (flags.Has("sysfs-root")) {
    r.sys = flags.Get("sysfs-root");
    const std::filesystem::path parent =
        std::filesystem::path(r.sys).lexically_normal().parent_path();
    std::error_code ec;
    if (std::filesystem::is_directory(parent / "proc", ec)) r.proc = (parent / "proc").string();
    if (std::filesystem::exists(parent / "dev", ec)) r.dev = (parent / "dev").string();
  }
  r.proc = flags.Get("procfs-root", r.proc);
  r.dev = flags.Get("dev-root", r.dev);
  return r;
}

struct Discovery {
  host::DiscoveredHost host;
  host::HostInventory inventory;
};

Result<Discovery> Discover(const Flags& flags) {
  const Roots roots = RootsFrom(flags);
  DS_ASSIGN_OR_RETURN(host::DiscoveredHost h, host::DiscoverHost(roots.sys, roots.proc, roots.dev));
  host::InventoryOptions o;
  if (flags.Has("guest-cpuset")) {
    DS_ASSIGN_OR_RETURN(o.guest_cpus, host::ParseCpuList(flags.Get("guest-cpuset")));
  }
  if (flags.Has("memory-reserved-mib")) {
    DS_ASSIGN_OR_RETURN(o.memory_reserved_mib,
                        flags.GetInt("memory-reserved-mib", 0, 0, int64_t{1} << 40));
  }
  DS_ASSIGN_OR_RETURN(host::HostInventory inv, host::BuildInventory(h, o));
  return Discovery{std::move(h), std::move(inv)};
}

std::string Hex(unsigned v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, v);
  return buf;
}

std::string Gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) w[c] = header[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string cell = c < r.size() ? r[c] : "";
      out += cell;
      if (c + 1 < header.size()) out += std::string(w[c] - cell.size() + 2, ' ');
    }
    std::printf("%s\n", out.c_str());
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string Role(const host::PciFunction& f) {
  if (f.IsGpu()) {
    std::string s = "gpu " + host::GpuModelName(f.vendor_id, f.device_id);
    if (!f.mdev_types.empty()) s += " (" + std::to_string(f.mdev_types.size()) + " mdev types)";
    return s;
  }
  if (f.IsSriovPf()) {
    return "nic PF, SR-IOV " + std::to_string(f.sriov_numvfs) + "/" +
           std::to_string(f.sriov_totalvfs) + " VFs";
  }
  if (f.IsVf()) return "VF of " + f.physfn;
  if (f.IsNic()) return "nic";
  if (f.IsBridge()) return "bridge";
  if ((f.class_code >> 8) == 0x0108) return "nvme";
  if ((f.class_code >> 16) == 0x01) return "storage";
  if (f.vendor_id == 0x1af4) return "virtio";
  return "-";
}

void PrintDiscovery(const Discovery& d) {
  const host::DiscoveredHost& h = d.host;
  std::printf("cpus:    %d sockets, %d cores, %d threads; online %s\n", h.cpu.sockets, h.cpu.cores,
              h.cpu.threads, host::FormatCpuList(h.cpu.online).c_str());
  std::printf("memory:  %s GiB\n", Gib(h.memory_total_kib * 1024).c_str());
  std::printf("kvm:     %s (%s)\n", h.kvm.usable ? "usable" : "not usable", h.kvm.detail.c_str());
  if (!h.numa_nodes.empty()) {
    std::printf("\n");
    std::vector<std::vector<std::string>> rows;
    for (const host::NumaNodeInfo& n : h.numa_nodes) {
      rows.push_back({std::to_string(n.id), host::FormatCpuList(n.cpus), Gib(n.memory_kib * 1024)});
    }
    PrintTable({"NUMA", "CPUS", "MEMORY(GiB)"}, rows);
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> hidden_vfs;
  for (const host::PciFunction& f : h.pci) {
    if (f.IsVf()) {
      hidden_vfs.push_back(f.address);
      continue;
    }
    char cls[12];
    std::snprintf(cls, sizeof cls, "0x%06x", f.class_code);
    rows.push_back({f.address, cls, Hex(f.vendor_id, 4) + ":" + Hex(f.device_id, 4),
                    f.driver.empty() ? "-" : f.driver,
                    f.numa_node < 0 ? "-" : std::to_string(f.numa_node),
                    f.iommu_group.empty() ? "-" : f.iommu_group, Role(f)});
  }
  std::printf("\n");
  PrintTable({"PCI", "CLASS", "VENDOR:DEVICE", "DRIVER", "NUMA", "IOMMU", "ROLE"}, rows);
  if (!hidden_vfs.empty()) {
    std::printf("(%zu SR-IOV VFs not listed; --json lists them)\n", hidden_vfs.size());
  }
  rows.clear();
  for (const host::PciFunction& f : h.pci) {
    for (const host::MdevType& t : f.mdev_types) {
      rows.push_back(
          {f.address, t.type, t.name, std::to_string(t.available_instances), t.device_api});
    }
  }
  if (!rows.empty()) {
    std::printf("\n");
    PrintTable({"MDEV PARENT", "TYPE", "NAME", "AVAILABLE", "API"}, rows);
  }
  rows.clear();
  for (const host::BlockDevice& b : h.disks) {
    rows.push_back({b.name, std::string(host::DiskTierName(b.tier)), Gib(b.size_bytes),
                    b.rotational ? "yes" : "no", b.model.empty() ? "-" : b.model,
                    b.pci_address.empty() ? "-" : b.pci_address,
                    b.in_use_by_host ? "mounted by the host" : "-"});
  }
  if (!rows.empty()) {
    std::printf("\n");
    PrintTable({"DISK", "TIER", "SIZE(GiB)", "ROTATIONAL", "MODEL", "PCI", "NOTE"}, rows);
  }
  const json& b = d.inventory.body;
  int64_t vfs = 0;
  for (const json& n : b["nics"]) vfs += n.value("vfs", 0);
  std::printf(
      "\ninventory (PUT /v1/hosts/NAME): cpu_milli %lld, memory_mib %lld, %zu NUMA "
      "nodes, %zu GPUs, %zu NICs (%lld VFs), %zu disks, traits %s\n",
      static_cast<long long>(b.value("cpu_milli", 0LL)),
      static_cast<long long>(b.value("memory_mib", 0LL)),
      b.contains("numa") ? b["numa"].size() : size_t{1}, b["gpus"].size(), b["nics"].size(),
      static_cast<long long>(vfs), b["disks"].size(), b["traits"].dump().c_str());
  for (const std::string& n : d.inventory.notes) std::printf("  note: %s\n", n.c_str());
  for (const std::string& w : h.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
}

}  // namespace

int RunHostDiscoverCommand(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s", kDiscoverHelp);
    return kExitOk;
  }
  Result<Flags> flags = Flags::Parse(
      args, {"sysfs-root", "procfs-root", "dev-root", "guest-cpuset", "memory-reserved-mib"},
      {"json"});
  if (!flags.ok()) return Usage("discover", flags.status().message());
  Result<Discovery> d = Discover(*flags);
  if (!d.ok()) return Fail("host discover", d.status());
  if (flags->Has("json")) {
    json out = {{"discovery", host::DiscoveryToJson(d->host)},
                {"inventory", d->inventory.body},
                {"device_attributes", d->inventory.device_attributes},
                {"notes", d->inventory.notes}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    PrintDiscovery(*d);
  }
  return kExitOk;
}

int RunHostRegisterCommand(const std::vector<std::string>& args_in) {
  if (WantsHelp(args_in)) {
    std::printf("%s", kRegisterHelp);
    return kExitOk;
  }
  const std::set<std::string> value_flags = {
      "server",   "token-file",   "sysfs-root",         "procfs-root",
      "dev-root", "guest-cpuset", "memory-reserved-mib"};
  std::vector<std::string> args = args_in;
  std::vector<std::string> pos = TakePositionals(args, value_flags);
  if (pos.empty()) return Usage("register", "the host NAME is required");
  if (pos.size() > 1) return Usage("register", "unexpected argument '" + pos[1] + "'");
  Result<Flags> flags = Flags::Parse(args, value_flags, {"json", "dry-run"});
  if (!flags.ok()) return Usage("register", flags.status().message());
  Result<Discovery> d = Discover(*flags);
  if (!d.ok()) return Fail("host register", d.status());
  for (const std::string& w : d->host.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const std::string& n : d->inventory.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  const std::string body = d->inventory.body.dump(2);
  if (flags->Has("dry-run")) {
    std::printf("%s\n", body.c_str());
    return kExitOk;
  }
  // The same request as `devshare host put NAME --file F`: one code path for HTTP, tokens and
  // error reporting.
  char path[] = "/tmp/devshare-inventory-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return Fail("host register", Status::Unavailable("cannot create a temporary file"));
  const bool written = ::write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
  ::close(fd);
  if (!written) {
    ::unlink(path);
    return Fail("host register", Status::Unavailable(std::string("cannot write ") + path));
  }
  std::vector<std::string> put = {"put", pos[0], "--file", path};
  for (const char* f : {"server", "token-file"}) {
    if (flags->Has(f)) {
      put.push_back(std::string("--") + f);
      put.push_back(flags->Get(f));
    }
  }
  if (flags->Has("json")) put.push_back("--json");
  const int rc = RunClientCommand("host", put);
  ::unlink(path);
  return rc;
}

int RunHostQosCheckCommand(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s", kQosCheckHelp);
    return kExitOk;
  }
  Result<Flags> flags =
      Flags::Parse(args, {"hypervisor", "window-s", "prefix", "tolerance-pct"}, {"json"});
  if (!flags.ok()) return Usage("qos-check", flags.status().message());
  const char* env = std::getenv("DEVSHARE_HYPERVISOR");
  const std::string uri = flags->Get("hypervisor", env != nullptr && *env ? env : "qemu:///system");
  Result<double> window_s = flags->GetDouble("window-s", 5, 0.1, 3600);
  if (!window_s.ok()) return Usage("qos-check", window_s.status().message());
  Result<double> tolerance = flags->GetDouble("tolerance-pct", -1, 0, 1000);
  if (!tolerance.ok()) return Usage("qos-check", tolerance.status().message());
  const std::string prefix = flags->Get("prefix", std::string(host::kDomainPrefix));

  Result<std::unique_ptr<host::Hypervisor>> hv = host::OpenHypervisor(uri);
  if (!hv.ok()) return Fail("host qos-check", hv.status());
  for (const std::string& n : (*hv)->notes()) std::fprintf(stderr, "hypervisor: %s\n", n.c_str());
  SystemClock clock;
  const auto window =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*window_s));
  std::fprintf(stderr, "sampling %s* domains on %s for %.1f s\n", prefix.c_str(), uri.c_str(),
               *window_s);
  Result<std::vector<host::QosRow>> rows = host::MeasureQos(
      **hv, clock, [](Duration d) { std::this_thread::sleep_for(d); }, window, prefix);
  if (!rows.ok()) return Fail("host qos-check", rows.status());

  std::vector<std::string> violations;
  if (*tolerance >= 0) {
    for (const host::QosRow& r : *rows) {
      if (r.idle) continue;
      if (r.promised_group_share > 0) {
        const double off = 100.0 * (r.achieved_group_share / r.promised_group_share - 1.0);
        if (off > *tolerance || off < -*tolerance) {
          char buf[160];
          std::snprintf(buf, sizeof buf, "%s: group share %.3f, promised %.3f (%+.1f %%)",
                        r.name.c_str(), r.achieved_group_share, r.promised_group_share, off);
          violations.push_back(buf);
        }
      }
      if (r.cap_pct > 0 && r.achieved_pct > r.cap_pct + 2.0) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: %.1f %% of a CPU above its cap of %.1f %%",
                      r.name.c_str(), r.achieved_pct, r.cap_pct);
        violations.push_back(buf);
      }
    }
  }
  if (flags->Has("json")) {
    json out = {{"hypervisor", uri},
                {"window_s", *window_s},
                {"domains", json::array()},
                {"violations", violations}};
    for (const host::QosRow& r : *rows) {
      out["domains"].push_back({{"name", r.name},
                                {"group", r.group},
                                {"cpus", host::FormatCpuList(r.info.pinned)},
                                {"vcpus", r.info.vcpus},
                                {"shares", r.info.tune.shares},
                                {"cap_pct", r.cap_pct > 0 ? json(r.cap_pct) : json(nullptr)},
                                {"idle", r.idle},
                                {"promised_pct", r.promised_pct},
                                {"achieved_pct", r.achieved_pct},
                                {"promised_group_share", r.promised_group_share},
                                {"achieved_group_share", r.achieved_group_share}});
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else if (rows->empty()) {
    std::printf("no running %s* domains on %s\n", prefix.c_str(), uri.c_str());
  } else {
    std::printf("%s", host::FormatQosTable(*rows).c_str());
  }
  for (const std::string& v : violations) std::fprintf(stderr, "qos-check: %s\n", v.c_str());
  return violations.empty() ? kExitOk : kExitFailure;
}

}  // namespace devshare::cli
