// Placing volumes on one given host's disks outside the placement of a whole request (a volume
// hot-plugged into a running VM, a volume moved to another tier): the rules and the best-fit disk
// choice of the volume_fit filter and the volume selector, with the numbers of a refusal.
// Thread-safety: pure functions over a const HostState.
#ifndef DEVSHARE_PLACEMENT_VOLUME_FIT_H_
#define DEVSHARE_PLACEMENT_VOLUME_FIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host_state.h"
#include "devshare/core/request.h"

namespace devshare::placement {

struct VolumeFit {
  std::vector<DeviceSlice> slices;  // one per volume, in order, when ok()
  // When a volume fits on no disk: its index, the volume_fit filter's message (e.g. "volume:
  // tier nvme requested 60 GiB, free 50 GiB") and its numbers on the closest disk of the tier.
  int failed = -1;
  std::string message;
  std::string resource;  // "disk_gib" | "disk_iops"
  std::string device;    // the closest disk's id; "" when the host has no disk of the tier
  int64_t requested = 0;
  int64_t free = 0;
  int64_t capacity = 0;
  int disks_of_tier = 0;  // disks of the failed volume's tier on the host

  bool ok() const { return failed < 0; }
};

// Places `volumes` on the disks of their tiers on `h` as they stand (GiB and IOPS reservations
// free), each on the fitting disk with the least GiB left after it, several on one disk if they
// fit; nothing is applied to `h`.
VolumeFit FitVolumes(const std::vector<VolumeRequest>& volumes, const HostState& h);

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_VOLUME_FIT_H_
