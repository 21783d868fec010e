// `devshare host list|show|put`: hosts through the control plane's REST API
// (docs/api.md#hosts). The host agent's verbs (discover, register, qos-check) live in
// host_agent_command.cc.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/client_common.h"
#include "cli/commands.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kHostHelp =
    "usage: devshare host list\n"
    "       devshare host show NAME\n"
    "       devshare host put NAME --file inventory.json   (\"-\" reads stdin; system admins)\n"
    "       devshare host token NAME --out FILE     (an agent token for NAME; system admins)\n"
    "       devshare host cordon|uncordon NAME      (no new VMs / new VMs again)\n"
    "       devshare host drain NAME [--replace]    (cordon; --replace re-places its VMs)\n"
    "       devshare host delete NAME               (refused while VMs remain)\n"
    "       devshare host discover [--sysfs-root DIR] [--json]        (this machine, no server)\n"
    "       devshare host register NAME [--guest-cpuset LIST]    (discover + put; system admins)\n"
    "       devshare host qos-check [--hypervisor URI] [--window-s 5]     (libvirt, no server)\n";

std::string UsedCap(const json& usage, const char* key) {
  const json u = usage.value(key, json::object());
  return std::to_string(Int(u, "used")) + "/" + std::to_string(Int(u, "capacity"));
}

void PrintHost(const json& h) {
  const json usage = h.value("usage", json::object());
  const json inv = h.value("inventory", json::object());
  std::vector<std::pair<std::string, std::string>> kv = {
      {"name", Str(h, "name")},
      {"status", Str(h, "status") + " (schedule " + Str(h, "schedule") + ")"},
      {"last heartbeat", TimeOf(h, "last_heartbeat_unix_ms")},
      {"generation", std::to_string(Int(h, "generation"))},
      {"updated", TimeOf(h, "updated_unix_ms")},
      {"cpu_milli used/cap", UsedCap(usage, "cpu_milli")},
      {"memory_mib used/cap", UsedCap(usage, "memory_mib")},
      {"gpu_milli used/cap", UsedCap(usage, "gpu_milli")}};
  if (inv.is_object() && !inv.empty()) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%lld (reserved %lld, allocation ratio %g)",
                  static_cast<long long>(Int(inv, "cpu_milli")),
                  static_cast<long long>(Int(inv, "cpu_reserved_milli")),
                  inv.value("cpu_allocation_ratio", 1.0));
    kv.emplace_back("inventory cpu_milli", buf);
    std::snprintf(buf, sizeof buf, "%lld (reserved %lld, allocation ratio %g)",
                  static_cast<long long>(Int(inv, "memory_mib")),
                  static_cast<long long>(Int(inv, "memory_reserved_mib")),
                  inv.value("memory_allocation_ratio", 1.0));
    kv.emplace_back("inventory memory_mib", buf);
    std::vector<std::string> numa;
    for (const json& n : inv.value("numa", json::array())) {
      numa.push_back(std::to_string(Int(n, "id")) + ": " + std::to_string(Int(n, "cpu_milli")) +
                     "m " + std::to_string(Int(n, "memory_mib")) + "MiB");
    }
    kv.emplace_back("numa", numa.empty() ? "-" : Join(numa, "; "));
    std::vector<std::string> traits;
    for (const json& t : inv.value("traits", json::array())) {
      traits.push_back(t.is_string() ? t.get<std::string>() : t.dump());
    }
    kv.emplace_back("traits", traits.empty() ? "-" : Join(traits, ", "));
  }
  PrintBlock(kv);
  const json gpus = inv.value("gpus", json::array());
  if (!gpus.empty()) {
    std::vector<std::vector<std::string>> rows;
    const json used = usage.value("gpus", json::array());
    for (const json& g : gpus) {
      json u = json::object();
      for (const json& x : used) {
        if (Str(x, "id") == Str(g, "id")) u = x;
      }
      rows.push_back({Str(g, "id"), Str(g, "model"), Str(g, "sharing"), Str(g, "isolation"),
                      std::to_string(Int(g, "numa_node")), std::to_string(Int(u, "used_milli")),
                      u.value("whole", false) ? "yes" : "no", std::to_string(Int(u, "shares")),
                      std::to_string(Int(u, "partitions"))});
    }
    std::printf("\n");
    PrintTable({"GPU", "MODEL", "SHARING", "ISOLATION", "NUMA", "USED(m)", "WHOLE", "SHARES",
                "PARTITIONS"},
               {false, false, false, false, true, true, false, true, true}, rows);
  }
  // NICs and disks: the inventory with the usage of each device (VFs, guaranteed bandwidth,
  // GiB, reserved IOPS as used/capacity).
  auto usage_of = [&](const char* list, const json& device) {
    for (const json& x : usage.value(list, json::array())) {
      if (Str(x, "id") == Str(device, "id")) return x;
    }
    return json(json::object());
  };
  auto used_of = [](const json& u, const char* field) {
    const json f = u.value(field, json::object());
    return std::to_string(Int(f, "used")) + "/" + std::to_string(Int(f, "capacity"));
  };
  const json nics = inv.value("nics", json::array());
  if (!nics.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& n : nics) {
      const json u = usage_of("nics", n);
      rows.push_back({Str(n, "id"), Str(n, "network", "-"), used_of(u, "vfs"),
                      used_of(u, "bandwidth_mbps"), std::to_string(Int(u, "interfaces")),
                      std::to_string(Int(n, "numa_node"))});
    }
    std::printf("\n");
    PrintTable({"NIC", "NETWORK", "VFS", "MBPS(min)", "IFACES", "NUMA"},
               {false, false, true, true, true, true}, rows);
  }
  const json disks = inv.value("disks", json::array());
  if (!disks.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& d : disks) {
      const json u = usage_of("disks", d);
      rows.push_back({Str(d, "id"), Str(d, "tier"), used_of(u, "gib"), used_of(u, "iops"),
                      std::to_string(Int(u, "volumes")), std::to_string(Int(d, "numa_node"))});
    }
    std::printf("\n");
    PrintTable({"DISK", "TIER", "GIB", "IOPS(res)", "VOLUMES", "NUMA"},
               {false, false, true, true, true, true}, rows);
  }
}

int HostList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("host list", p.status().message());
  return Finish("host list", *p, p->api.ListHosts(), [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& h : doc.value("hosts", json::array())) {
      const json usage = h.value("usage", json::object());
      rows.push_back({Str(h, "name"), Str(h, "status"), Str(h, "schedule"),
                      std::to_string(Int(h, "vms")), UsedCap(usage, "cpu_milli"),
                      UsedCap(usage, "memory_mib"), UsedCap(usage, "gpu_milli"),
                      std::to_string(Int(h, "generation"))});
    }
    PrintTable({"NAME", "STATUS", "SCHEDULE", "VMS", "CPU(m) used/cap", "MEM(MiB) used/cap",
                "GPU(milli) used/cap", "GENERATION"},
               {false, false, false, true, true, true, true, true}, rows);
  });
}

int HostShow(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the host name");
  if (!p.ok()) return Usage("host show", p.status().message());
  return Finish("host show", *p, p->api.GetHost(p->positionals[0]), PrintHost);
}

int HostPut(const std::vector<std::string>& args) {
  const std::string cmd = "host put";
  Result<Parsed> p = ParseArgs(args, {"file"}, {}, 1, "the host name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  if (!p->flags.Has("file")) return Usage(cmd, "--file is required");
  const std::string file = p->flags.Get("file");
  std::string body;
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(cmd, Status::InvalidArgument("--file: cannot read " + file));
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return Finish(cmd, *p, p->api.PutHost(p->positionals[0], body), PrintHost);
}

}  // namespace

int RunHost(const std::vector<std::string>& args) {
  auto schedule = [](const std::string& verb) {
    return [verb](const std::vector<std::string>& rest) { return HostSchedule(verb, rest); };
  };
  return Dispatch("host", kHostHelp,
                  {{"list", HostList},
                   {"show", HostShow},
                   {"put", HostPut},
                   {"token", HostToken},
                   {"cordon", schedule("cordon")},
                   {"uncordon", schedule("uncordon")},
                   {"drain", schedule("drain")},
                   {"delete", HostDelete}},
                  args);
}

}  // namespace devshare::cli::client
