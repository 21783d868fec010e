// The inventory body of PUT /v1/hosts/{name}: parsing into a core Host, and the normalised JSON
// the ledger stores (defaults filled in, so a re-read gives the same Host).
// Thread-safety: pure functions.
#ifndef DEVSHARE_SERVER_HOST_SPEC_H_
#define DEVSHARE_SERVER_HOST_SPEC_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "devshare/core/host.h"
#include "devshare/core/result.h"

namespace devshare::server {

struct HostSpec {
  Host host;
  nlohmann::json normalized;  // every field with its default filled in
};

// Fields: cpu_milli, memory_mib (required); cpu_allocation_ratio, memory_allocation_ratio,
// cpu_reserved_milli, memory_reserved_mib; numa [{id, cpu_milli, memory_mib}];
// gpus [{id, model, sharing, isolation, numa_node, geometry (default: the model's MIG
// geometry), memory_mib (default: the model's size, 0 = unknown), vgpu_mixed_sizes}]; nics [{id,
// network (default "default"), vfs, numa_node, line_rate_mbps | bandwidth_gbps}]; disks [{id, tier
// nvme|ssd|hdd, capacity_gib, iops, numa_node}]; traits [string]. InvalidArgument naming the field
// (e.g. "gpus[1].sharing") on any error or unknown field.
Result<HostSpec> ParseHostSpec(const std::string& name, const nlohmann::json& body);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_HOST_SPEC_H_
