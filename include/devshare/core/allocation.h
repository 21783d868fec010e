// Allocation: the concrete result of placing one request: host, CPU/memory and device slices.
// Thread-safety: value type.
#ifndef DEVSHARE_CORE_ALLOCATION_H_
#define DEVSHARE_CORE_ALLOCATION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace devshare {

// One piece of one device given to the request.
struct DeviceSlice {
  int gpu = -1;  // GPU ordinal on the host (index into Host::GpuDeviceIndices())
  std::string device_id;
  int64_t milli = 0;    // amount taken (1000 for a whole GPU)
  bool whole = false;   // the device is held whole (no sharing with anyone)
  std::string profile;  // partition profile when the device is partitioned
  int start_slot = -1;  // first memory slice of the partition instance
};

struct Allocation {
  std::string request_id;
  std::string tenant;
  int host_index = -1;
  std::string host_id;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  std::vector<DeviceSlice> gpus;
  uint64_t generation = 0;  // host generation the allocation was committed against

  int64_t GpuMilli() const {
    int64_t s = 0;
    for (const DeviceSlice& d : gpus) s += d.milli;
    return s;
  }
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_ALLOCATION_H_
