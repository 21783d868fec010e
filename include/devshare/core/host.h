// Host model: a physical host with NUMA nodes, CPU/memory inventories, devices and traits.
// Thread-safety: immutable once built; share freely across threads.
#ifndef DEVSHARE_CORE_HOST_H_
#define DEVSHARE_CORE_HOST_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "devshare/core/device.h"
#include "devshare/core/inventory.h"
#include "devshare/core/status.h"

namespace devshare {

struct NumaNode {
  int id = 0;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
};

struct Host {
  std::string id;
  std::vector<NumaNode> numa_nodes;
  Inventory cpu_milli;   // host-wide vCPU capacity in milli-CPU
  Inventory memory_mib;  // host-wide memory capacity in MiB
  std::vector<Device> devices;
  std::set<std::string> traits;  // e.g. "CUSTOM_NVLINK", "HW_CPU_X86_AVX512F"

  // Ordinals of GPU devices (indices into `devices`), in device order.
  std::vector<int> GpuDeviceIndices() const;
  // OK if ids are unique, inventories valid and NUMA references exist.
  Status Validate() const;

  // A host like the openb trace's: one NUMA node, `gpus` fractional GPUs of `model`.
  static Host MakeGpuHost(std::string id, int64_t cpu_milli, int64_t memory_mib, int gpus,
                          std::string model);
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_HOST_H_
