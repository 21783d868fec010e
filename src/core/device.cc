// Device model names, parsing and the built-in MIG geometry table.
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

std::shared_ptr<const PartitionGeometry> PartitionGeometry::A100_40GB() {
  static const std::shared_ptr<const PartitionGeometry> kGeometry = [] {
    auto g = std::make_shared<PartitionGeometry>();
    g->name = "A100-40GB";
    g->compute_slices = 7;
    g->memory_slices = 8;
    g->profiles = {
        {"1g.5gb", 1, 1, {0, 1, 2, 3, 4, 5, 6}},
        {"1g.10gb", 1, 2, {0, 2, 4, 6}},
        {"2g.10gb", 2, 2, {0, 2, 4}},
        {"3g.20gb", 3, 4, {0, 4}},
        {"4g.20gb", 4, 4, {0}},
        {"7g.40gb", 7, 8, {0}},
    };
    return g;
  }();
  return kGeometry;
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
  if (mode != SharingMode::kPartitioned && geometry != nullptr) {
    return Status::InvalidArgument("device " + id + ": geometry given but mode is " +
                                   std::string(SharingModeName(mode)));
  }
  return Status::Ok();
}

}  // namespace devshare
