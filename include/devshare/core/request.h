// Requests and tenants: what a VM (or trace pod) asks for, and who asks.
// Thread-safety: value types; no internal synchronisation.
#ifndef DEVSHARE_CORE_REQUEST_H_
#define DEVSHARE_CORE_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devshare/core/device.h"
#include "devshare/core/status.h"

namespace devshare {

struct Tenant {
  std::string id;
  std::string name;
  // The weakest isolation this tenant's VMs may run under (none = any).
  std::optional<IsolationClass> isolation_floor;
};

// GPU part of a request: `count` GPUs of `milli` each (1000 = whole), or one partition `profile`.
struct GpuRequest {
  int count = 0;
  int milli = 0;        // per GPU; < 1000 only when count == 1 (sharing)
  std::string profile;  // partition profile, e.g. "3g.20gb"; then count == 1, milli ignored
  std::vector<std::string> models;  // acceptable models; empty = any

  bool Any() const { return count > 0; }
  bool IsShare() const { return count == 1 && profile.empty() && milli < kMilliPerDevice; }
  bool IsPartition() const { return count == 1 && !profile.empty(); }
  bool IsWhole() const { return count > 0 && profile.empty() && milli >= kMilliPerDevice; }
  int64_t TotalMilli() const { return static_cast<int64_t>(count) * milli; }
  bool AcceptsModel(const std::string& model) const;
};

struct VmRequest {
  std::string id;
  std::string tenant;  // empty = no tenant (simulation)
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  GpuRequest gpu;
  std::optional<IsolationClass> isolation_floor;
  std::vector<std::string> required_traits;
  std::vector<std::string> forbidden_traits;
  // Hosts this request must not use (anti-affinity: they hold a VM of the same group).
  std::vector<std::string> avoid_host_ids;

  // OK if amounts are in range: non-negative, GPU milli in 1..1000, multi-GPU requests whole.
  Status Validate() const;
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_REQUEST_H_
