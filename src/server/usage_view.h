// Usage of every device kind as the API and /metrics show it: per-resource totals of one host
// or the cluster (cpu_milli, memory_mib, gpu_milli, nic_vf, nic_bandwidth_mbps, disk_gib and
// disk_iops per tier) and the per-device JSON of GET /v1/hosts/{name}.
// Thread-safety: pure functions over const state; the caller holds the ledger lock.
#ifndef DEVSHARE_SERVER_USAGE_VIEW_H_
#define DEVSHARE_SERVER_USAGE_VIEW_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/core/request.h"

namespace devshare::server {

struct ResourceTotal {
  std::string resource;  // e.g. "disk_gib"
  std::string tier;      // disk resources: nvme | ssd | hdd; else empty
  int64_t used = 0;
  int64_t capacity = 0;
};

// Totals of `h`, in a fixed order: cpu, memory, gpu, nic_vf, nic_bandwidth_mbps, then
// disk_gib and disk_iops for each tier the host has (tiers in kStorageTiers order).
std::vector<ResourceTotal> HostTotals(const HostState& h);
// Sum of HostTotals over the cluster (every resource listed even at capacity 0, so /metrics
// always has the same series; disk resources for every tier).
std::vector<ResourceTotal> ClusterTotals(const ClusterState& c);

// {"cpu_milli": {used, capacity}, ..., "disk_gib": {"nvme": {used, capacity}}, "gpus": [...],
// "nics": [...], "disks": [...]} for one host; devices only when `with_devices`.
nlohmann::json HostUsageJson(const HostState& h, bool with_devices);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_USAGE_VIEW_H_
