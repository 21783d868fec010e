// ReadGenAiUsage: three CSV files to per-pod series on a shared minute grid.
#include "devshare/sim/usage_trace.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "sim/csv_table.h"

namespace devshare::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct RawSample {
  double time_s;
  double value;
};

struct FileSpec {
  const char* name;
  UsageResource resource;
  double max_value;  // in the file's unit
  double scale;      // file unit -> series unit
  bool required;
};

constexpr FileSpec kFiles[] = {
    {"pod_gpu_memory_used_bytes_anon.csv", UsageResource::kGpuMemory, 1e15, 1.0 / (1 << 20), true},
    {"pod_gpu_duty_cycle_anon.csv", UsageResource::kGpuBusy, 100, 1, true},
    {"pod_memory_util_anon.csv", UsageResource::kMemory, 1, 100, false},
};

}  // namespace

const char* UsageResourceName(UsageResource r) {
  switch (r) {
    case UsageResource::kGpuMemory:
      return "gpu_memory";
    case UsageResource::kGpuBusy:
      return "gpu_busy";
    case UsageResource::kMemory:
      return "memory";
  }
  return "?";
}

const char* UsageResourceUnit(UsageResource r) {
  switch (r) {
    case UsageResource::kGpuMemory:
      return "MiB";
    case UsageResource::kGpuBusy:
      return "%";
    case UsageResource::kMemory:
      return "% of limit";
  }
  return "?";
}

int64_t UsageSeries::Samples() const {
  int64_t n = 0;
  for (double v : values) n += !std::isnan(v);
  return n;
}

Result<UsageTrace> ReadGenAiUsage(const std::string& dir, int64_t period_s) {
  if (period_s <= 0) return Status::InvalidArgument("usage period must be > 0 s");
  std::map<std::string, std::vector<RawSample>> raw[kUsageResources];
  double t_min = std::numeric_limits<double>::infinity();
  for (const FileSpec& f : kFiles) {
    const std::string path = (std::filesystem::path(dir) / f.name).string();
    if (!f.required && !std::filesystem::exists(path)) continue;
    DS_ASSIGN_OR_RETURN(CsvTable t,
                        CsvTable::Load(path, {"timestamp_anon", "value", "container_ip"}, {}));
    auto& by_pod = raw[static_cast<int>(f.resource)];
    for (const CsvTable::Row& r : t.rows()) {
      DS_ASSIGN_OR_RETURN(double ts, t.Double(r, "timestamp_anon", 0, 1e11));
      DS_ASSIGN_OR_RETURN(double v, t.Double(r, "value", 0, f.max_value));
      const std::string& pod = t.Field(r, "container_ip");
      if (pod.empty()) {
        return Status::InvalidArgument(t.Where(r, "container_ip") + ": empty pod id");
      }
      by_pod[pod].push_back({ts, v * f.scale});
      t_min = std::min(t_min, ts);
    }
  }
  UsageTrace trace;
  trace.period_s = period_s;
  if (!std::isfinite(t_min)) return trace;  // no samples at all
  trace.start_unix_s = static_cast<int64_t>(std::floor(t_min));
  std::map<std::string, PodUsage> pods;
  for (int k = 0; k < kUsageResources; ++k) {
    for (auto& [pod, samples] : raw[k]) {
      PodUsage& p = pods[pod];
      p.pod = pod;
      auto index = [&](double ts) {
        return static_cast<int64_t>(std::llround((ts - trace.start_unix_s) / period_s));
      };
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (const RawSample& s : samples) {
        lo = std::min(lo, index(s.time_s));
        hi = std::max(hi, index(s.time_s));
      }
      UsageSeries& series = p.series[k];
      series.first = lo;
      series.values.assign(static_cast<size_t>(hi - lo + 1), kNaN);
      for (const RawSample& s : samples) {
        double& slot = series.values[static_cast<size_t>(index(s.time_s) - lo)];
        slot = std::isnan(slot) ? s.value : std::max(slot, s.value);
      }
      trace.periods = std::max(trace.periods, hi + 1);
    }
  }
  for (auto& [id, p] : pods) trace.pods.push_back(std::move(p));
  return trace;
}

std::vector<PodUsage> PodsOfHalf(const UsageTrace& trace, int half) {
  std::vector<PodUsage> out;
  for (const PodUsage& p : trace.pods) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : p.pod) h = (h ^ c) * 1099511628211ull;
    if (static_cast<int>(h & 1) == half) out.push_back(p);
  }
  return out;
}

}  // namespace devshare::sim
