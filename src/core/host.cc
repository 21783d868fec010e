// Host helpers: GPU ordinals, validation, the openb-style host constructor.
#include "devshare/core/host.h"

namespace devshare {

std::vector<int> Host::GpuDeviceIndices() const {
  std::vector<int> out;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i].kind == DeviceKind::kGpu) out.push_back(static_cast<int>(i));
  }
  return out;
}

Status Host::Validate() const {
  if (id.empty()) return Status::InvalidArgument("host: empty id");
  DS_RETURN_IF_ERROR(cpu_milli.Validate("host " + id + " cpu_milli"));
  DS_RETURN_IF_ERROR(memory_mib.Validate("host " + id + " memory_mib"));
  std::set<std::string> ids;
  for (const Device& d : devices) {
    DS_RETURN_IF_ERROR(d.Validate());
    if (!ids.insert(d.id).second) {
      return Status::InvalidArgument("host " + id + ": duplicate device id " + d.id);
    }
    bool numa_found = numa_nodes.empty() && d.numa_node == 0;
    for (const NumaNode& n : numa_nodes) numa_found = numa_found || n.id == d.numa_node;
    if (!numa_found) {
      return Status::InvalidArgument("host " + id + ": device " + d.id + " names NUMA node " +
                                     std::to_string(d.numa_node) + " which the host lacks");
    }
  }
  return Status::Ok();
}

Host Host::MakeGpuHost(std::string id, int64_t cpu_milli, int64_t memory_mib, int gpus,
                       std::string model) {
  Host h;
  h.id = std::move(id);
  h.cpu_milli = Inventory::Of(cpu_milli);
  h.memory_mib = Inventory::Of(memory_mib);
  h.numa_nodes.push_back(NumaNode{0, cpu_milli, memory_mib});
  for (int g = 0; g < gpus; ++g) {
    Device d;
    d.id = "gpu" + std::to_string(g);
    d.kind = DeviceKind::kGpu;
    d.mode = SharingMode::kFractional;
    d.isolation = IsolationClass::kMps;
    d.model = model;
    d.inventory = Inventory::Of(kMilliPerDevice);
    h.devices.push_back(std::move(d));
  }
  return h;
}

}  // namespace devshare
