// The "rightsize" object of a VM spec (docs/rightsizing.md): which resources the right-sizing
// controller manages for the VM, its bounds, forecaster and controller settings; parsed
// strictly (unknown fields and out-of-range values are errors naming the field) and normalised
// with every default resolved except the forecaster (empty = the server's default).
// Thread-safety: pure functions over value types.
#ifndef DEVSHARE_SERVER_RIGHTSIZE_SPEC_H_
#define DEVSHARE_SERVER_RIGHTSIZE_SPEC_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "devshare/core/result.h"

namespace devshare::server {

// One managed resource: bounds in its unit (cpu: milli-CPU, memory: MiB).
struct RightSizeResource {
  bool enabled = false;
  int64_t min = 0;
  int64_t max = 0;
};

struct RightSizeSpec {
  RightSizeResource cpu;     // "cpu": true | {"min_milli", "max_milli"}
  RightSizeResource memory;  // "memory": true | {"min_mib", "max_mib"}
  std::string forecaster;    // a predict::ForecasterRegistry name; empty = the server's default
  double margin = 0.2;       // above the forecast
  double quantile = 0.95;    // of the next horizon's peak
  int64_t period_s = 60;     // one sample (the peak of the heartbeats) per period; 0 = each one
  int64_t horizon_s = 300;
  int64_t shrink_interval_s = 600;  // at most one shrink per this (grows at once)
  int64_t warmup_samples = 5;
  bool enabled() const { return cpu.enabled || memory.enabled; }
};

// Granularity of right-sized allocations.
inline constexpr int64_t kRightSizeCpuStepMilli = 50;
inline constexpr int64_t kRightSizeMemoryStepMib = 64;

// `j` is the "rightsize" value; cpu_milli / memory_mib are the VM's request, the base of the
// default bounds: cpu [100, 1000 x ceil(cpu_milli / 1000)] (the vCPUs the VM boots with),
// memory [128, 2 x memory_mib]. InvalidArgument "field 'rightsize.x': ..." otherwise (an
// unknown forecaster names the known ones).
Result<RightSizeSpec> ParseRightSizeSpec(const nlohmann::json& j, int64_t cpu_milli,
                                         int64_t memory_mib);
// The normalised JSON (parses back to the same spec).
nlohmann::json RightSizeJson(const RightSizeSpec& s);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_RIGHTSIZE_SPEC_H_
