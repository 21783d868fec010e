// The values of `devshare vm create|resize --nic ... --volume ... --gpu ...`: comma lists of
// key=value items turned into the JSON objects of the request body's "nics" and "volumes" arrays
// and its "gpu" object; and memory sizes ("12G").
// Thread-safety: pure functions.
#ifndef DEVSHARE_CLI_VM_DEVICE_FLAGS_H_
#define DEVSHARE_CLI_VM_DEVICE_FLAGS_H_

#include <nlohmann/json.hpp>
#include <string>

#include "devshare/core/result.h"

namespace devshare::cli {

// Each parser refuses, with InvalidArgument naming the flag and the key (e.g. "--volume: key
// 'size': expected a non-negative integer, got 'x'"): an empty item, an item without '=' (but
// the bare `vf`), an unknown or repeated key, a number that is not a non-negative integer, an
// empty name, and a missing required key.

// vm create --nic network=blue[,address=10.1.0.50],min=1000,max=5000[,vf | vf=true|false]
//   -> {"network": "blue", "bandwidth_mbps": {"min": 1000, "max": 5000}, "vf": true,
//       "address": "10.1.0.50"}
// network (a tenant network's name or id, or a provider network) defaults to "default",
// min/max to 0 (none), vf to false; "address" only when given, and it must be a dotted-quad
// IPv4 address (no prefix length; the server checks it lies in the network and is free).
Result<nlohmann::json> ParseCreateNicFlag(const std::string& value);

// vm create --volume name=data,size=50[,tier=nvme][,iops=500][,weight=1][,limit=0]
//   -> {"name": "data", "size_gib": 50, "tier": "nvme",
//       "iops": {"reservation": 500, "weight": 1, "limit": 0}}
// name and size are required; "tier" only when given; "iops" only when any of iops, weight,
// limit is given (weight defaults to 1, the others to 0).
Result<nlohmann::json> ParseCreateVolumeFlag(const std::string& value);

// vm resize --nic index=0[,min=2000][,max=8000]
//   -> {"index": 0, "bandwidth_mbps": {"min": 2000, "max": 8000}}
// index and at least one of min, max are required; only the given bounds are sent.
Result<nlohmann::json> ParseResizeNicFlag(const std::string& value);

// vm resize --volume name=data[,size=80][,iops=600][,weight=3][,limit=900]
//   -> {"name": "data", "size_gib": 80, "iops": {"reservation": 600, "weight": 3, "limit": 900}}
// name and at least one of size, iops, weight, limit are required; only the given keys are
// sent (the server keeps the others).
Result<nlohmann::json> ParseResizeVolumeFlag(const std::string& value);

// A memory size: <N>[M|MiB|G|GiB] (unit case-insensitive; a bare number is MiB) -> MiB, e.g.
// "12G" -> 12288. InvalidArgument prefixed with `what` (e.g. "--gpu-memory") otherwise.
Result<int64_t> ParseMemoryMib(const std::string& value, const std::string& what);

// vm create --gpu count=1,milli=500,memory=12G[,profile=3g.20gb | vgpu=vgpu-8g][,model=T4|A10]
//   -> {"count": 1, "milli": 500, "memory_mib": 12288, "models": ["T4", "A10"]}
// Only the given keys are sent (the server fills in count 1, milli 1000); memory as in
// ParseMemoryMib; model takes one model or several separated by '|'.
Result<nlohmann::json> ParseCreateGpuFlag(const std::string& value);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_VM_DEVICE_FLAGS_H_
