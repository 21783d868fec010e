// ParseHostSpec: strict host inventory parsing (devices get kinds, sharing modes and geometry).
#include "server/host_spec.h"

#include <set>

#include "devshare/core/request.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

constexpr int64_t kMaxCpuMilli = 100'000'000;         // 100k CPUs
constexpr int64_t kMaxMemoryMib = 1'099'511'627'776;  // 1 EiB in MiB
constexpr size_t kMaxDevices = 1024;
constexpr int64_t kMaxGpuMemoryMib = int64_t{1} << 30;  // 1 PiB

std::string Item(const std::string& list, size_t i) { return list + "[" + std::to_string(i) + "]"; }

Status ParseGpu(const nlohmann::json& j, const std::string& path, int numa_nodes, Device& d,
                nlohmann::json& out) {
  if (!j.is_object()) return Status::InvalidArgument("field '" + path + "': expected an object");
  FieldReader r(j, path);
  DS_ASSIGN_OR_RETURN(d.id, r.String("id", true, 63));
  DS_RETURN_IF_ERROR(CheckName(d.id, r.FieldPath("id")));
  DS_ASSIGN_OR_RETURN(d.model, r.String("model", false, 63));
  if (d.model.empty()) d.model = "generic";
  DS_ASSIGN_OR_RETURN(std::string sharing, r.String("sharing", false, 32));
  if (sharing.empty()) sharing = "fractional";
  Result<SharingMode> mode = ParseSharingMode(sharing);
  if (!mode.ok()) {
    return Status::InvalidArgument("field '" + r.FieldPath("sharing") + "': unknown sharing '" +
                                   sharing +
                                   "' (known: exclusive, fractional, partitioned, time_sliced)");
  }
  d.kind = DeviceKind::kGpu;
  d.mode = *mode;
  DS_ASSIGN_OR_RETURN(std::string isolation, r.String("isolation", false, 32));
  if (isolation.empty()) {
    isolation = d.mode == SharingMode::kPartitioned  ? "hw_partition"
                : d.mode == SharingMode::kTimeSliced ? "time_slice"
                                                     : "mps";
  }
  Result<IsolationClass> iso = ParseIsolationClass(isolation);
  if (!iso.ok()) {
    return Status::InvalidArgument("field '" + r.FieldPath("isolation") + "': unknown isolation '" +
                                   isolation +
                                   "' (known: time_slice, mps, hypervisor_sched, hw_partition)");
  }
  d.isolation = *iso;
  DS_ASSIGN_OR_RETURN(int64_t numa, r.Int("numa_node", false, 0, numa_nodes - 1, 0));
  d.numa_node = static_cast<int>(numa);
  // GPU memory: given, or the model's published size (0 = unknown: not constrained).
  DS_ASSIGN_OR_RETURN(d.memory_mib,
                      r.Int("memory_mib", false, 0, kMaxGpuMemoryMib, GpuModelMemoryMib(d.model)));
  DS_ASSIGN_OR_RETURN(d.vgpu_mixed_sizes, r.Bool("vgpu_mixed_sizes", false, false));
  if (d.vgpu_mixed_sizes && d.mode != SharingMode::kTimeSliced) {
    return Status::InvalidArgument("field '" + r.FieldPath("vgpu_mixed_sizes") +
                                   "': only a time_sliced GPU holds vGPU profiles");
  }
  DS_ASSIGN_OR_RETURN(std::string geometry, r.String("geometry", false, 32));
  if (d.mode == SharingMode::kPartitioned) {
    // The model's MIG geometry when not named (A100 -> A100_40GB, H100 -> H100_80GB), else
    // the A100-40GB one (the only geometry before GPU models chose theirs).
    if (geometry.empty()) {
      std::shared_ptr<const PartitionGeometry> by_model = PartitionGeometry::ForModel(d.model);
      geometry = by_model != nullptr ? by_model->name : "A100_40GB";
    }
    d.geometry = PartitionGeometry::ByName(geometry);
    if (d.geometry == nullptr) {
      return Status::InvalidArgument("field '" + r.FieldPath("geometry") + "': unknown geometry '" +
                                     geometry + "' (known: " + PartitionGeometry::KnownNames() +
                                     ")");
    }
  } else if (!geometry.empty()) {
    return Status::InvalidArgument("field '" + r.FieldPath("geometry") +
                                   "': only a partitioned GPU has a geometry");
  }
  d.inventory = Inventory::Of(kMilliPerDevice);
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  out = {{"id", d.id},
         {"model", d.model},
         {"sharing", sharing},
         {"isolation", isolation},
         {"numa_node", numa}};
  if (d.geometry) out["geometry"] = geometry;
  out["memory_mib"] = d.memory_mib;  // always: an explicit 0 must survive a re-read
  if (d.vgpu_mixed_sizes) out["vgpu_mixed_sizes"] = true;
  return Status::Ok();
}

Status ParseNic(const nlohmann::json& j, const std::string& path, int numa_nodes, Device& d,
                nlohmann::json& out) {
  if (!j.is_object()) return Status::InvalidArgument("field '" + path + "': expected an object");
  FieldReader r(j, path);
  DS_ASSIGN_OR_RETURN(std::string id, r.String("id", true, 63));
  DS_RETURN_IF_ERROR(CheckName(id, r.FieldPath("id")));
  DS_ASSIGN_OR_RETURN(std::string network, r.String("network", false, 63));
  if (network.empty()) network = "default";
  DS_RETURN_IF_ERROR(CheckName(network, r.FieldPath("network")));
  DS_ASSIGN_OR_RETURN(int64_t vfs, r.Int("vfs", false, 0, 4096, 0));
  DS_ASSIGN_OR_RETURN(int64_t numa, r.Int("numa_node", false, 0, numa_nodes - 1, 0));
  // The line rate: line_rate_mbps, or bandwidth_gbps as the host agent reports link speed.
  DS_ASSIGN_OR_RETURN(int64_t mbps, r.Int("line_rate_mbps", false, 0, 100'000'000, 0));
  DS_ASSIGN_OR_RETURN(double gbps, r.Double("bandwidth_gbps", false, 0, 100000, 0));
  if (r.Has("line_rate_mbps") && r.Has("bandwidth_gbps")) {
    return Status::InvalidArgument("field '" + r.FieldPath("bandwidth_gbps") +
                                   "': give the line rate once (line_rate_mbps or bandwidth_gbps)");
  }
  if (!r.Has("line_rate_mbps")) mbps = static_cast<int64_t>(gbps * 1000 + 0.5);
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  // SR-IOV: each virtual function is one unit of the NIC's inventory (exclusive to one VM); the
  // line rate is the rate capacity that bandwidth guarantees are summed against.
  d = Device::Nic(id, network, vfs, mbps);
  d.numa_node = static_cast<int>(numa);
  out = {{"id", d.id},
         {"network", network},
         {"vfs", vfs},
         {"line_rate_mbps", mbps},
         {"numa_node", numa}};
  return Status::Ok();
}

Status ParseDisk(const nlohmann::json& j, const std::string& path, int numa_nodes, Device& d,
                 nlohmann::json& out) {
  if (!j.is_object()) return Status::InvalidArgument("field '" + path + "': expected an object");
  FieldReader r(j, path);
  DS_ASSIGN_OR_RETURN(std::string id, r.String("id", true, 63));
  DS_RETURN_IF_ERROR(CheckName(id, r.FieldPath("id")));
  DS_ASSIGN_OR_RETURN(std::string tier, r.String("tier", true, 16));
  if (!IsStorageTier(tier)) {
    return Status::InvalidArgument("field '" + r.FieldPath("tier") + "': unknown tier '" + tier +
                                   "' (known: nvme, ssd, hdd)");
  }
  DS_ASSIGN_OR_RETURN(int64_t gib, r.Int("capacity_gib", true, 1, 1LL << 40));
  DS_ASSIGN_OR_RETURN(int64_t iops, r.Int("iops", false, 0, 1'000'000'000, 0));
  DS_ASSIGN_OR_RETURN(int64_t numa, r.Int("numa_node", false, 0, numa_nodes - 1, 0));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  d = Device::Disk(id, tier, gib, iops);
  d.numa_node = static_cast<int>(numa);
  out = {{"id", d.id}, {"tier", tier}, {"capacity_gib", gib}, {"iops", iops}, {"numa_node", numa}};
  return Status::Ok();
}

}  // namespace

Result<HostSpec> ParseHostSpec(const std::string& name, const nlohmann::json& body) {
  DS_RETURN_IF_ERROR(CheckName(name, "name"));
  HostSpec spec;
  Host& h = spec.host;
  h.id = name;
  FieldReader r(body, "");
  DS_ASSIGN_OR_RETURN(int64_t cpu, r.Int("cpu_milli", true, 1, kMaxCpuMilli));
  DS_ASSIGN_OR_RETURN(int64_t mem, r.Int("memory_mib", true, 1, kMaxMemoryMib));
  DS_ASSIGN_OR_RETURN(double cpu_ratio, r.Double("cpu_allocation_ratio", false, 0.01, 64, 1.0));
  DS_ASSIGN_OR_RETURN(double mem_ratio, r.Double("memory_allocation_ratio", false, 0.01, 64, 1.0));
  DS_ASSIGN_OR_RETURN(int64_t cpu_reserved, r.Int("cpu_reserved_milli", false, 0, cpu, 0));
  DS_ASSIGN_OR_RETURN(int64_t mem_reserved, r.Int("memory_reserved_mib", false, 0, mem, 0));
  h.cpu_milli = Inventory::Of(cpu);
  h.cpu_milli.reserved = cpu_reserved;
  h.cpu_milli.allocation_ratio = cpu_ratio;
  h.memory_mib = Inventory::Of(mem);
  h.memory_mib.reserved = mem_reserved;
  h.memory_mib.allocation_ratio = mem_ratio;
  nlohmann::json& out = spec.normalized;
  out = {{"cpu_milli", cpu},
         {"memory_mib", mem},
         {"cpu_allocation_ratio", cpu_ratio},
         {"memory_allocation_ratio", mem_ratio},
         {"cpu_reserved_milli", cpu_reserved},
         {"memory_reserved_mib", mem_reserved}};

  DS_ASSIGN_OR_RETURN(const nlohmann::json* numa, r.Array("numa", false, 64));
  out["numa"] = nlohmann::json::array();
  if (numa == nullptr || numa->empty()) {
    h.numa_nodes.push_back({0, cpu, mem});
    out["numa"].push_back({{"id", 0}, {"cpu_milli", cpu}, {"memory_mib", mem}});
  } else {
    int64_t cpu_sum = 0, mem_sum = 0;
    for (size_t i = 0; i < numa->size(); ++i) {
      const nlohmann::json& n = (*numa)[i];
      std::string p = Item("numa", i);
      if (!n.is_object()) return Status::InvalidArgument("field '" + p + "': expected an object");
      FieldReader nr(n, p);
      DS_ASSIGN_OR_RETURN(int64_t id, nr.Int("id", false, static_cast<int64_t>(i),
                                             static_cast<int64_t>(i), static_cast<int64_t>(i)));
      DS_ASSIGN_OR_RETURN(int64_t ncpu, nr.Int("cpu_milli", true, 0, cpu));
      DS_ASSIGN_OR_RETURN(int64_t nmem, nr.Int("memory_mib", true, 0, mem));
      DS_RETURN_IF_ERROR(nr.CheckNoUnknown());
      cpu_sum += ncpu;
      mem_sum += nmem;
      h.numa_nodes.push_back({static_cast<int>(id), ncpu, nmem});
      out["numa"].push_back({{"id", id}, {"cpu_milli", ncpu}, {"memory_mib", nmem}});
    }
    if (cpu_sum != cpu || mem_sum != mem) {
      return Status::InvalidArgument(
          "field 'numa': the nodes' cpu_milli and memory_mib must add up to the host's");
    }
  }
  const int numa_nodes = static_cast<int>(h.numa_nodes.size());

  std::set<std::string> ids;
  auto add = [&](Device d, const std::string& path) -> Status {
    if (!ids.insert(d.id).second) {
      return Status::InvalidArgument("field '" + path + ".id': device id '" + d.id +
                                     "' is used twice on this host");
    }
    h.devices.push_back(std::move(d));
    return Status::Ok();
  };
  struct Kind {
    const char* list;
    Status (*parse)(const nlohmann::json&, const std::string&, int, Device&, nlohmann::json&);
  };
  for (const Kind& k : {Kind{"gpus", ParseGpu}, Kind{"nics", ParseNic}, Kind{"disks", ParseDisk}}) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* list, r.Array(k.list, false, kMaxDevices));
    out[k.list] = nlohmann::json::array();
    if (list == nullptr) continue;
    for (size_t i = 0; i < list->size(); ++i) {
      Device d;
      nlohmann::json dj;
      std::string p = Item(k.list, i);
      DS_RETURN_IF_ERROR(k.parse((*list)[i], p, numa_nodes, d, dj));
      DS_RETURN_IF_ERROR(add(std::move(d), p));
      out[k.list].push_back(std::move(dj));
    }
  }
  DS_ASSIGN_OR_RETURN(const nlohmann::json* traits, r.Array("traits", false, 256));
  out["traits"] = nlohmann::json::array();
  if (traits != nullptr) {
    for (size_t i = 0; i < traits->size(); ++i) {
      const nlohmann::json& t = (*traits)[i];
      if (!t.is_string() || t.get_ref<const std::string&>().empty() ||
          t.get_ref<const std::string&>().size() > 255) {
        return Status::InvalidArgument("field '" + Item("traits", i) +
                                       "': expected a non-empty string");
      }
      h.traits.insert(t.get<std::string>());
    }
    for (const std::string& t : h.traits) out["traits"].push_back(t);
  }
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  Status valid = h.Validate();
  if (!valid.ok()) return Status::InvalidArgument(valid.message());
  return spec;
}

}  // namespace devshare::server
