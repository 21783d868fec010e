// Device model names, parsing, the built-in MIG geometry tables, GPU model memory sizes and
// vGPU framebuffer profiles.
#include "devshare/core/device.h"

#include <string>

namespace devshare {

std::string_view DeviceKindName(DeviceKind k) {
  switch (k) {
    case DeviceKind::kCpu:
      return "cpu";
    case DeviceKind::kMemory:
      return "memory";
    case DeviceKind::kGpu:
      return "gpu";
    case DeviceKind::kNic:
      return "nic";
    case DeviceKind::kDisk:
      return "disk";
    case DeviceKind::kGeneric:
      return "generic";
  }
  return "?";
}

std::string_view SharingModeName(SharingMode m) {
  switch (m) {
    case SharingMode::kExclusive:
      return "exclusive";
    case SharingMode::kFractional:
      return "fractional";
    case SharingMode::kPartitioned:
      return "partitioned";
    case SharingMode::kTimeSliced:
      return "time_sliced";
  }
  return "?";
}

std::string_view IsolationClassName(IsolationClass c) {
  switch (c) {
    case IsolationClass::kTimeSlice:
      return "time_slice";
    case IsolationClass::kMps:
      return "mps";
    case IsolationClass::kHypervisorSched:
      return "hypervisor_sched";
    case IsolationClass::kHwPartition:
      return "hw_partition";
  }
  return "?";
}

Result<DeviceKind> ParseDeviceKind(std::string_view s) {
  for (DeviceKind k : {DeviceKind::kCpu, DeviceKind::kMemory, DeviceKind::kGpu, DeviceKind::kNic,
                       DeviceKind::kDisk, DeviceKind::kGeneric}) {
    if (DeviceKindName(k) == s) return k;
  }
  return Status::InvalidArgument("unknown device kind '" + std::string(s) +
                                 "' (want cpu, memory, gpu, nic, disk, generic)");
}

Result<SharingMode> ParseSharingMode(std::string_view s) {
  for (SharingMode m : {SharingMode::kExclusive, SharingMode::kFractional,
                        SharingMode::kPartitioned, SharingMode::kTimeSliced}) {
    if (SharingModeName(m) == s) return m;
  }
  return Status::InvalidArgument("unknown sharing mode '" + std::string(s) +
                                 "' (want exclusive, fractional, partitioned, time_sliced)");
}

Result<IsolationClass> ParseIsolationClass(std::string_view s) {
  for (IsolationClass c : {IsolationClass::kTimeSlice, IsolationClass::kMps,
                           IsolationClass::kHypervisorSched, IsolationClass::kHwPartition}) {
    if (IsolationClassName(c) == s) return c;
  }
  return Status::InvalidArgument("unknown isolation class '" + std::string(s) +
                                 "' (want hw_partition, hypervisor_sched, mps, time_slice)");
}

const PartitionProfile* PartitionGeometry::Find(std::string_view profile) const {
  for (const PartitionProfile& p : profiles) {
    if (p.name == profile) return &p;
  }
  return nullptr;
}

namespace {

constexpr int64_t kGiB = 1024;  // MiB

// The seven MIG profiles of NVIDIA's A100/H100 tables (reference/qos.md §4.1) at a per-slice
// memory of `slice_gib` (5 on 40 GB parts, 10 on 80 GB parts): the placements are the same.
std::shared_ptr<const PartitionGeometry> MigGeometry(std::string name, int slice_gib) {
  auto g = std::make_shared<PartitionGeometry>();
  g->name = std::move(name);
  g->compute_slices = 7;
  g->memory_slices = 8;
  const auto profile = [&](int compute, int memory, std::vector<int> starts, int max) {
    const int gib = memory * slice_gib;
    // Names by NVIDIA's convention: <compute>g.<memory GB>gb; 1g.<2 slices> is 1g.10gb/20gb.
    PartitionProfile p;
    p.name = std::to_string(compute) + "g." + std::to_string(gib) + "gb";
    p.compute_slices = compute;
    p.memory_slices = memory;
    p.starts = std::move(starts);
    p.memory_mib = gib * kGiB;
    p.max_instances = max;
    return p;
  };
  g->profiles = {
      profile(1, 1, {0, 1, 2, 3, 4, 5, 6}, 7),
      profile(1, 2, {0, 2, 4, 6}, 4),
      profile(2, 2, {0, 2, 4}, 3),
      profile(3, 4, {0, 4}, 2),
      profile(4, 4, {0}, 1),
      profile(7, 8, {0}, 1),
  };
  return g;
}

}  // namespace

std::shared_ptr<const PartitionGeometry> PartitionGeometry::A100_40GB() {
  static const std::shared_ptr<const PartitionGeometry> kGeometry = MigGeometry("A100_40GB", 5);
  return kGeometry;
}

std::shared_ptr<const PartitionGeometry> PartitionGeometry::A100_80GB() {
  static const std::shared_ptr<const PartitionGeometry> kGeometry = MigGeometry("A100_80GB", 10);
  return kGeometry;
}

std::shared_ptr<const PartitionGeometry> PartitionGeometry::H100_80GB() {
  static const std::shared_ptr<const PartitionGeometry> kGeometry = MigGeometry("H100_80GB", 10);
  return kGeometry;
}

std::shared_ptr<const PartitionGeometry> PartitionGeometry::ByName(std::string_view name) {
  if (name == "A100_40GB") return A100_40GB();
  if (name == "A100_80GB") return A100_80GB();
  if (name == "H100_80GB") return H100_80GB();
  return nullptr;
}

std::string PartitionGeometry::KnownNames() { return "A100_40GB, A100_80GB, H100_80GB"; }

std::shared_ptr<const PartitionGeometry> PartitionGeometry::ForModel(std::string_view model) {
  if (model == "A100" || model == "A100-40GB") return A100_40GB();
  if (model == "A100-80GB") return A100_80GB();
  if (model == "H100" || model == "H100-80GB" || model == "H800") return H100_80GB();
  return nullptr;
}

int64_t GpuModelMemoryMib(std::string_view model) {
  struct Known {
    const char* model;
    int64_t gib;
  };
  // Model names as discovery (host/inventory_json.cc) and the traces spell them.
  static constexpr Known kKnown[] = {
      {"A100", 40},    {"A100-40GB", 40}, {"A100-80GB", 80}, {"H100", 80},    {"H100-80GB", 80},
      {"H800", 80},    {"A30", 24},       {"A10", 24},       {"A40", 48},     {"A16", 16},
      {"T4", 16},      {"L4", 24},        {"L40", 48},       {"L40S", 48},    {"V100M16", 16},
      {"V100M32", 32}, {"P100", 16},      {"MI210", 64},     {"MI250X", 128}, {"MI300X", 192},
  };
  for (const Known& k : kKnown) {
    if (model == k.model) return k.gib * kGiB;
  }
  return 0;
}

namespace {

// vGPU framebuffer sizes (GiB) offered per GPU memory size (GiB): reference/qos.md §4.2.
struct VgpuSizes {
  int64_t gpu_gib;
  std::vector<int64_t> sizes_gib;
};
const std::vector<VgpuSizes>& VgpuTable() {
  static const std::vector<VgpuSizes> kTable = {
      {16, {4, 8, 16}},
      {24, {4, 6, 8, 12, 24}},
      {32, {4, 8, 16, 32}},
      {40, {4, 5, 8, 10, 20, 40}},
      {48, {4, 6, 8, 12, 16, 24, 48}},
      {80, {4, 8, 10, 16, 20, 40, 80}},
  };
  return kTable;
}

}  // namespace

Result<int64_t> ParseVgpuProfile(std::string_view name) {
  const auto bad = [&] {
    return Status::InvalidArgument("unknown vGPU profile '" + std::string(name) +
                                   "' (want vgpu-<N>g, N GiB of framebuffer, e.g. vgpu-8g)");
  };
  constexpr std::string_view kPrefix = "vgpu-";
  if (name.size() < kPrefix.size() + 2 || name.substr(0, kPrefix.size()) != kPrefix ||
      name.back() != 'g') {
    return bad();
  }
  const std::string_view digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - 1);
  if (digits.empty() || digits.size() > 4 || digits[0] == '0') return bad();
  int64_t gib = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return bad();
    gib = gib * 10 + (c - '0');
  }
  return gib * kGiB;
}

std::string VgpuProfileName(int64_t memory_mib) {
  return "vgpu-" + std::to_string(memory_mib / kGiB) + "g";
}

bool GpuOffersVgpu(int64_t gpu_memory_mib, int64_t profile_mib) {
  if (gpu_memory_mib <= 0 || profile_mib <= 0 || profile_mib % kGiB != 0) return false;
  for (const VgpuSizes& row : VgpuTable()) {
    if (row.gpu_gib * kGiB != gpu_memory_mib) continue;
    for (int64_t gib : row.sizes_gib) {
      if (gib * kGiB == profile_mib) return true;
    }
  }
  return false;
}

std::string VgpuProfilesOffered(int64_t gpu_memory_mib) {
  std::string out;
  for (const VgpuSizes& row : VgpuTable()) {
    if (row.gpu_gib * kGiB != gpu_memory_mib) continue;
    for (int64_t gib : row.sizes_gib) {
      out += (out.empty() ? "" : ", ") + VgpuProfileName(gib * kGiB);
    }
  }
  return out;
}

int VgpuMilli(int64_t profile_mib, int64_t gpu_memory_mib) {
  if (!GpuOffersVgpu(gpu_memory_mib, profile_mib)) return -1;
  return static_cast<int>(kMilliPerDevice / (gpu_memory_mib / profile_mib));
}

namespace {

// A shared NIC or disk: `units` in its inventory, `rate` its rate capacity.
Device UnitDevice(std::string id, DeviceKind kind, int64_t units, int64_t rate) {
  Device d;
  d.id = std::move(id);
  d.kind = kind;
  d.mode = SharingMode::kFractional;
  d.isolation = IsolationClass::kHwPartition;
  d.inventory = Inventory::Of(units);
  d.rate_capacity = rate;
  return d;
}

}  // namespace

Device Device::Nic(std::string id, std::string network, int64_t vfs, int64_t line_rate_mbps) {
  Device d = UnitDevice(std::move(id), DeviceKind::kNic, vfs, line_rate_mbps);
  d.network = std::move(network);
  d.attributes["vfs"] = std::to_string(vfs);
  return d;
}

Device Device::Disk(std::string id, std::string tier, int64_t capacity_gib, int64_t iops) {
  Device d = UnitDevice(std::move(id), DeviceKind::kDisk, capacity_gib, iops);
  d.tier = tier;
  d.attributes["tier"] = std::move(tier);
  return d;
}

Status Device::Validate() const {
  if (id.empty()) return Status::InvalidArgument("device: empty id");
  DS_RETURN_IF_ERROR(inventory.Validate("device " + id));
  if (mode == SharingMode::kPartitioned && geometry == nullptr) {
    return Status::InvalidArgument("device " + id + ": partitioned mode needs a geometry");
  }
  if (rate_capacity < 0) return Status::InvalidArgument("device " + id + ": rate_capacity < 0");
  if (memory_mib < 0) return Status::InvalidArgument("device " + id + ": memory_mib < 0");
  if (mode != SharingMode::kPartitioned && geometry != nullptr) {
    return Status::InvalidArgument("device " + id + ": geometry given but mode is " +
                                   std::string(SharingModeName(mode)));
  }
  return Status::Ok();
}

}  // namespace devshare
