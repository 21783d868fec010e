// RightSizing: the right-sizing controller of the control plane (docs/rightsizing.md). Host
// agents report each running VM's usage in their heartbeats; for every VM whose spec opts in
// ("rightsize"), one predict::RightSizer per managed resource (cpu_milli, memory_mib, and
// gpu_memory_mib of a free-size GPU share) is fed the peak usage of each sample period and its
// recommendation is applied through the same ledger resize as PATCH /v1/vms/{id}
// (VmService::ApplyResize), audited with actor "rightsizer" and the recommendation's reason. A
// grow the host (or the share's GPU) cannot hold is a recorded outcome (the failed resize is
// audited as no_room / gpu_memory_full) and is not retried before the shrink interval passes. The
// latest usage and recommendation per resource are kept in memory for GET /v1/vms/{id}. Time is the
// control plane's injected clock (ControlPlaneOptions::now_unix_ms). Thread-safety: thread-safe.
// Observe must be called without the ledger lock (it takes it shared, and resizes go through the
// group committer); VmJson may be called under it.
#ifndef DEVSHARE_SERVER_RIGHT_SIZING_H_
#define DEVSHARE_SERVER_RIGHT_SIZING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devshare/predict/forecaster.h"
#include "devshare/predict/right_sizer.h"
#include "server/service_context.h"
#include "server/vm_service.h"

namespace devshare::server {

// One VM's usage as its heartbeat entry reports it; -1 = not reported.
struct UsageSample {
  int64_t window_ms = 0;
  int64_t cpu_milli = -1;
  int64_t memory_mib = -1;
  std::string memory_source;
  int64_t gpu_memory_mib = -1;
  double gpu_busy_pct = -1;
  // What the agent sees in force on the guest (balloon.current / maximum, CPU cap).
  int64_t applied_memory_mib = -1;
  int64_t applied_max_memory_mib = -1;
  int64_t applied_cpu_cap_milli = -1;
  nlohmann::json ToJson() const;
};

class RightSizing {
 public:
  // `default_forecaster` empty: "autopilot" when registered, else "last". REQUIRES: ctx and vms
  // outlive this. InvalidArgument (from Create) for an unknown default forecaster.
  static Result<std::unique_ptr<RightSizing>> Create(ServiceContext* ctx, VmService* vms,
                                                     const std::string& default_forecaster);

  // The samples of the VMs `host`'s agent reported (VMs not placed on `host` are ignored).
  // Returns the number of resizes applied.
  int Observe(const std::string& host, const std::map<std::string, UsageSample>& samples);

  // {"usage": {...}, "forecaster", "cpu_milli": {allocation, forecast, reason, time_unix_ms,
  // outcome}, "memory_mib": {...}} of `vm_id`; null when nothing was observed.
  nlohmann::json VmJson(const std::string& vm_id) const;

  const std::string& default_forecaster() const { return default_forecaster_; }

 private:
  struct Resource {
    std::unique_ptr<predict::RightSizer> sizer;
    double peak = -1;              // the period's peak usage so far
    int64_t no_room_until_ms = 0;  // a grow refused for room is not retried before this
    nlohmann::json latest;         // the last recommendation and its outcome
  };
  struct VmState {
    std::string host;
    std::string config;  // the normalised rightsize spec the sizers were built from
    std::string forecaster;
    int64_t last_step_ms = 0;
    bool stepped = false;
    std::vector<Resource> resources;  // by kResources index
    nlohmann::json usage;
    int64_t usage_unix_ms = 0;
  };

  RightSizing(ServiceContext* ctx, VmService* vms, std::string default_forecaster);

  ServiceContext& ctx_;
  VmService& vms_;
  predict::ForecasterRegistry registry_;
  std::string default_forecaster_;

  mutable std::mutex mu_;
  std::map<std::string, VmState> vms_state_;  // GUARDED_BY(mu_)
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_RIGHT_SIZING_H_
