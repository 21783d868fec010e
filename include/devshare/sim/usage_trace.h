// Per-pod usage time series for right-sizing experiments: the Alibaba GenAI serving trace
// (cluster-trace-v2026-GenAI: GPU memory bytes, GPU duty cycle %, container memory utilisation),
// read by header name and put on one minute grid shared by all pods.
// Thread-safety: free functions; records are value types.
#ifndef DEVSHARE_SIM_USAGE_TRACE_H_
#define DEVSHARE_SIM_USAGE_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::sim {

// Resources a usage series measures.
enum class UsageResource { kGpuMemory = 0, kGpuBusy = 1, kMemory = 2 };
inline constexpr int kUsageResources = 3;
const char* UsageResourceName(UsageResource r);  // "gpu_memory", "gpu_busy", "memory"
const char* UsageResourceUnit(UsageResource r);  // "MiB", "%", "% of limit"

// One resource of one pod on the shared grid: values[i] is the peak of period first + i; NaN
// marks a missing sample. Empty when the pod has no sample of this resource.
struct UsageSeries {
  int64_t first = 0;
  std::vector<double> values;
  int64_t last() const { return first + static_cast<int64_t>(values.size()) - 1; }
  int64_t Samples() const;  // non-missing values
};

struct PodUsage {
  std::string pod;  // the trace's container_ip (an MD5)
  UsageSeries series[kUsageResources];
  const UsageSeries& Of(UsageResource r) const { return series[static_cast<int>(r)]; }
};

struct UsageTrace {
  int64_t start_unix_s = 0;    // time of grid period 0
  int64_t period_s = 60;       // grid step
  int64_t periods = 0;         // grid length
  std::vector<PodUsage> pods;  // sorted by pod id
};

// Reads DIR/pod_gpu_memory_used_bytes_anon.csv (bytes -> MiB), DIR/pod_gpu_duty_cycle_anon.csv
// (0..100) and DIR/pod_memory_util_anon.csv (fraction 0..1 -> %; optional file). Columns by
// header name (timestamp_anon, value, container_ip); a sample goes to the grid period nearest its
// time, the max of several. Errors name file:line and column (out-of-range values, bad numbers,
// empty pod ids); NotFound when a required file is missing.
Result<UsageTrace> ReadGenAiUsage(const std::string& dir, int64_t period_s = 60);

// Pods whose hash (FNV-1a of the id) is even (half 0) or odd (half 1): a split that does not
// depend on the order or on tuning, for checking that results hold on pods not looked at.
std::vector<PodUsage> PodsOfHalf(const UsageTrace& trace, int half);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_USAGE_TRACE_H_
