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

// One managed resource: bounds in its unit (cpu: milli-CPU, memory and GPU memory: MiB).
struct RightSizeResource {
  bool enabled = false;
  int64_t min = 0;
  int64_t max = 0;
};

struct RightSizeSpec {
  RightSizeResource cpu;     // "cpu": true | {"min_milli", "max_milli"}
  RightSizeResource memory;  // "memory": true | {"min_mib", "max_mib"}
  // "gpu_memory": true | {"min_mib", "max_mib"}: the framebuffer of the VM's free-size share of
  // one GPU, grown in place when its GPU has room; with gpu_move a grow that does not fit may
  // move the share to another GPU of the host (as `vm resize --gpu-memory --move`).
  RightSizeResource gpu_memory;
  bool gpu_move = false;
  std::string forecaster;  // a predict::ForecasterRegistry name; empty = the server's default
  double margin = 0.2;     // above the forecast
  double quantile = 0.95;  // of the next horizon's peak
  int64_t period_s = 60;   // one sample (the peak of the heartbeats) per period; 0 = each one
  int64_t horizon_s = 300;
  int64_t shrink_interval_s = 600;  // at most one shrink per this (grows at once)
  int64_t warmup_samples = 5;
  bool enabled() const { return cpu.enabled || memory.enabled || gpu_memory.enabled; }
};

// Granularity of right-sized allocations.
inline constexpr int64_t kRightSizeCpuStepMilli = 50;
inline constexpr int64_t kRightSizeMemoryStepMib = 64;
inline constexpr int64_t kRightSizeGpuMemoryStepMib = 256;

// What the VM asks of a GPU, for the gpu_memory bounds: `share` = a free-size share of one GPU
// (the only kind whose memory resizes), `memory_mib` its framebuffer ask (0 = not constrained).
struct RightSizeGpuBase {
  bool share = false;
  int64_t memory_mib = 0;
};

// `j` is the "rightsize" value; cpu_milli / memory_mib are the VM's request, the base of the
// default bounds: cpu [100, 1000 x ceil(cpu_milli / 1000)] (the vCPUs the VM boots with),
// memory [128, 2 x memory_mib], gpu_memory [1024 (or the ask when smaller), 2 x the ask] (a
// share that asks no memory needs max_mib). InvalidArgument "field 'rightsize.x': ..."
// otherwise (an unknown forecaster names the known ones; gpu_memory without a GPU share).
Result<RightSizeSpec> ParseRightSizeSpec(const nlohmann::json& j, int64_t cpu_milli,
                                         int64_t memory_mib, const RightSizeGpuBase& gpu = {});
// The normalised JSON (parses back to the same spec).
nlohmann::json RightSizeJson(const RightSizeSpec& s);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_RIGHTSIZE_SPEC_H_
