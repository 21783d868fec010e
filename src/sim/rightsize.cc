// RunRightsize: per pod and resource, a policy sizes the allocation period by period; the GPU
// memory allocations are then packed onto GPUs over time.
#include "devshare/sim/rightsize.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>

#include "devshare/core/json_writer.h"
#include "devshare/sim/stats.h"
#include "sim/run_grid.h"

namespace devshare::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// How allocations of one resource are expressed: units, rounding and bounds.
predict::RightSizeOptions ResourceBounds(UsageResource r, double gpu_memory_capacity_mib) {
  predict::RightSizeOptions o;
  switch (r) {
    case UsageResource::kGpuMemory:
      o.unit = "MiB";
      o.granularity = 256;
      o.min_value = 1024;
      o.max_value = gpu_memory_capacity_mib;
      break;
    case UsageResource::kGpuBusy:
    case UsageResource::kMemory:
      o.unit = "%";
      o.granularity = 1;
      o.min_value = 1;
      o.max_value = 100;
      break;
  }
  return o;
}

struct Accumulator {
  int64_t n = 0;
  double alloc = 0;
  double slack = 0;
  int64_t violations = 0;
  int64_t resizes = 0;
  double pinball = 0;
  double peaks = 0;
  int64_t windows = 0;
  int64_t covered = 0;

  void Score(double a, double u) {
    ++n;
    alloc += a;
    slack += std::max(0.0, a - u);
    violations += u > a + 1e-9;
  }
  ResourceMetrics Finish(bool has_forecast, double period_s) const {
    ResourceMetrics m;
    m.pod_periods = n;
    m.slack_pct = alloc > 0 ? 100 * slack / alloc : kNaN;
    m.violation_pct = n > 0 ? 100.0 * violations / n : kNaN;
    m.resizes_per_pod_hour = n > 0 ? resizes / (n * period_s / 3600) : kNaN;
    m.pinball_pct = has_forecast && peaks > 0 ? 100 * pinball / peaks : kNaN;
    m.covered_25_pct = windows > 0 ? 100.0 * covered / windows : kNaN;
    return m;
  }
};

// Peak of values[from..to] (inclusive, clipped), NaN when all missing.
double PeakOf(const std::vector<double>& v, int64_t from, int64_t to) {
  double peak = kNaN;
  for (int64_t i = std::max<int64_t>(from, 0); i <= to && i < static_cast<int64_t>(v.size()); ++i) {
    if (!std::isnan(v[i])) peak = std::isnan(peak) ? v[i] : std::max(peak, v[i]);
  }
  return peak;
}

// Sizes one resource of one pod; returns the allocation in force at each period of the series.
Result<std::vector<double>> SizeSeries(const UsageSeries& s, UsageResource r,
                                       const RightsizePolicy& p, const RightsizeOptions& opt,
                                       int64_t period_s,
                                       const predict::ForecasterRegistry& registry,
                                       Accumulator& acc) {
  const predict::RightSizeOptions bounds = ResourceBounds(r, opt.gpu_memory_capacity_mib);
  const int64_t n = static_cast<int64_t>(s.values.size());
  const int64_t h = std::max<int64_t>(1, opt.horizon_s / period_s);
  std::vector<double> alloc(static_cast<size_t>(n), kNaN);
  std::vector<double> known;
  for (double v : s.values) {
    if (!std::isnan(v)) known.push_back(v);
  }
  if (known.empty()) return alloc;
  const double peak =
      predict::RoundAllocation(*std::max_element(known.begin(), known.end()), bounds);
  double a = peak;  // every pod starts with what its user asked: its peak
  if (p.kind == RightsizePolicy::Kind::kStaticP95)
    a = predict::RoundAllocation(Quantile(known, 0.95), bounds);

  std::unique_ptr<predict::RightSizer> sizer;
  if (p.kind == RightsizePolicy::Kind::kController) {
    predict::RightSizeOptions o = bounds;
    o.margin = p.margin;
    o.shrink_interval_s = p.shrink_interval_s;
    o.hysteresis = p.hysteresis;
    predict::ForecastOptions f = p.forecast;
    f.sample_period_s = period_s;
    DS_ASSIGN_OR_RETURN(std::unique_ptr<predict::Forecaster> forecaster,
                        registry.Create(p.forecaster, f));
    sizer = std::make_unique<predict::RightSizer>(std::move(forecaster), o, f);
  }
  for (int64_t i = 0; i < n; ++i) {
    alloc[i] = a;
    const double u = s.values[i];
    if (std::isnan(u)) continue;
    acc.Score(a, u);
    double next = a;
    double forecast = kNaN;
    if (sizer != nullptr) {
      const predict::Recommendation rec = sizer->Step((s.first + i) * period_s, u, a);
      forecast = rec.forecast;
      next = rec.allocation;
    } else if (p.kind == RightsizePolicy::Kind::kOracle) {
      const double future = PeakOf(s.values, i + 1, i + h);
      if (!std::isnan(future)) next = std::max(future, bounds.min_value);
    }
    if (next != a) ++acc.resizes;
    a = next;
    if (i % h == 0 && i + 1 < n) {  // forecast accuracy over the next window
      const double future = PeakOf(s.values, i + 1, i + h);
      if (!std::isnan(future)) {
        if (!std::isnan(forecast)) {
          acc.pinball += predict::PinballLoss(p.forecast.quantile, forecast, future);
        }
        acc.peaks += future;
        ++acc.windows;
        acc.covered += a >= future - 1e-9 && future >= 0.75 * a;
      }
    }
  }
  return alloc;
}

struct Gpu {
  double used = 0;
  int pods = 0;
};

// GPUs a first-fit-decreasing packing of `sizes` (0 = absent) uses.
int FirstFitDecreasing(std::vector<double> sizes, double capacity) {
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  std::vector<double> free;
  for (double s : sizes) {
    if (s <= 0) break;
    bool placed = false;
    for (double& f : free) {
      if (f + 1e-9 >= s) {
        f -= s;
        placed = true;
        break;
      }
    }
    if (!placed) free.push_back(capacity - s);
  }
  return static_cast<int>(free.size());
}

// Packs GPU-memory allocations over time: arrivals best-fit, a grow in place when the GPU has
// room, else the pod moves to the best-fitting GPU with room (a new one if none).
void Pack(const std::vector<PodUsage>& pods, const std::vector<std::vector<double>>& alloc,
          int64_t periods, double capacity, int64_t count_from, RightsizePolicyResult& out) {
  std::vector<Gpu> gpus;
  std::vector<int> where(pods.size(), -1);
  std::vector<double> held(pods.size(), 0);
  out.allocated_gib.assign(static_cast<size_t>(periods), 0);
  auto best_fit = [&](double need) {
    int best = -1;
    for (int g = 0; g < static_cast<int>(gpus.size()); ++g) {
      const double free = capacity - gpus[g].used;
      if (free + 1e-9 >= need && (best < 0 || free < capacity - gpus[best].used)) best = g;
    }
    if (best < 0) {
      for (int g = 0; g < static_cast<int>(gpus.size()); ++g) {
        if (gpus[g].pods == 0) return g;
      }
      gpus.push_back({});
      best = static_cast<int>(gpus.size()) - 1;
    }
    return best;
  };
  for (int64_t t = 0; t < periods; ++t) {
    double total = 0;
    // Shrinks and departures first, so that grows see the room they free.
    std::vector<std::pair<size_t, double>> grows;
    for (size_t k = 0; k < pods.size(); ++k) {
      const UsageSeries& s = pods[k].Of(UsageResource::kGpuMemory);
      double want = 0;
      if (!s.values.empty() && t >= s.first && t <= s.last()) want = alloc[k][t - s.first];
      if (std::isnan(want)) want = 0;
      total += want;
      if (want <= held[k]) {
        if (where[k] >= 0) {
          gpus[where[k]].used -= held[k] - want;
          if (want == 0) {
            --gpus[where[k]].pods;
            where[k] = -1;
          }
        }
        held[k] = want;
      } else {
        grows.push_back({k, want});
      }
    }
    for (const auto& [k, want] : grows) {
      if (where[k] >= 0 && capacity - gpus[where[k]].used + 1e-9 >= want - held[k]) {
        gpus[where[k]].used += want - held[k];
      } else {
        if (where[k] >= 0) {
          gpus[where[k]].used -= held[k];
          --gpus[where[k]].pods;
          ++out.moves;
        }
        const int g = best_fit(want);
        gpus[g].used += want;
        ++gpus[g].pods;
        where[k] = g;
      }
      held[k] = want;
    }
    out.allocated_gib[t] = total / 1024;
    if (t < count_from) continue;
    int in_use = 0;
    for (const Gpu& g : gpus) in_use += g.pods > 0;
    out.gpus_online = std::max(out.gpus_online, in_use);
    out.gpus_needed = std::max(out.gpus_needed, FirstFitDecreasing(held, capacity));
    out.gpus_lower_bound =
        std::max(out.gpus_lower_bound, static_cast<int>(std::ceil(total / capacity - 1e-9)));
  }
}

Result<RightsizePolicyResult> RunPolicy(const std::vector<PodUsage>& pods, int64_t periods,
                                        int64_t period_s, const RightsizePolicy& p,
                                        const RightsizeOptions& opt,
                                        const predict::ForecasterRegistry& registry) {
  const auto start = std::chrono::steady_clock::now();
  RightsizePolicyResult out;
  out.policy = p.name;
  out.description = p.description;
  std::vector<std::vector<double>> gpu_alloc(pods.size());
  for (int k = 0; k < kUsageResources; ++k) {
    const UsageResource r = static_cast<UsageResource>(k);
    Accumulator acc;
    for (size_t i = 0; i < pods.size(); ++i) {
      DS_ASSIGN_OR_RETURN(std::vector<double> a,
                          SizeSeries(pods[i].Of(r), r, p, opt, period_s, registry, acc));
      if (r == UsageResource::kGpuMemory) gpu_alloc[i] = std::move(a);
    }
    out.metrics[k] = acc.Finish(p.kind == RightsizePolicy::Kind::kController, period_s);
  }
  Pack(pods, gpu_alloc, periods, opt.gpu_memory_capacity_mib,
       std::min(periods - 1, opt.gpu_count_after_s / period_s), out);
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace

std::vector<RightsizePolicy> DefaultRightsizePolicies(const std::vector<std::string>& forecasters,
                                                      double quantile,
                                                      const std::vector<double>& margins,
                                                      int64_t horizon_s, double half_life_s,
                                                      int64_t shrink_interval_s) {
  std::vector<RightsizePolicy> out;
  RightsizePolicy peak;
  peak.name = "static-peak";
  peak.kind = RightsizePolicy::Kind::kStaticPeak;
  peak.description = "the pod's peak over the whole trace: a user who sizes for peak";
  out.push_back(peak);
  RightsizePolicy p95;
  p95.name = "static-p95";
  p95.kind = RightsizePolicy::Kind::kStaticP95;
  p95.description = "the pod's p95 over the whole trace, fixed (knows the future)";
  out.push_back(p95);
  // Autopilot's moving-window recommender (EuroSys'20 §3.1) with its memory settings: 5-minute
  // peaks in a decaying histogram (half-life 12 h), the p98, a 10 % safety margin.
  RightsizePolicy ap;
  ap.name = "autopilot";
  ap.forecaster = "autopilot";
  ap.forecast.quantile = 0.98;
  ap.forecast.horizon_s = 300;
  ap.forecast.half_life_s = 12 * 3600;
  ap.margin = 0.10;
  ap.description = "Autopilot's recommender: p98 of 5-min peaks, half-life 12 h, +10 %";
  out.push_back(ap);
  for (const std::string& f : forecasters) {
    for (double margin : margins) {
      RightsizePolicy d;
      d.name = "devshare-" + f;
      if (margins.size() > 1) d.name += "@" + FormatDecimal(margin, 3);
      d.forecaster = f;
      d.forecast.quantile = quantile;
      d.forecast.horizon_s = horizon_s;
      d.forecast.half_life_s = half_life_s;
      d.margin = margin;
      d.shrink_interval_s = shrink_interval_s;
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "devshare's controller, forecaster %s: p%g of the next %lld s "
                    "peak, +%g %%, shrinks at most every %lld s",
                    f.c_str(), quantile * 100, static_cast<long long>(horizon_s), margin * 100,
                    static_cast<long long>(shrink_interval_s));
      d.description = buf;
      out.push_back(d);
    }
  }
  RightsizePolicy oracle;
  oracle.name = "oracle";
  oracle.kind = RightsizePolicy::Kind::kOracle;
  oracle.description = "perfect foresight of the next window's peak, no margin: a bound";
  out.push_back(oracle);
  return out;
}

Result<RightsizeResult> RunRightsize(const std::vector<PodUsage>& pods, int64_t periods,
                                     int64_t period_s, const RightsizeOptions& options,
                                     const predict::ForecasterRegistry& registry,
                                     const RightsizeProgress& progress) {
  if (period_s <= 0) return Status::InvalidArgument("period must be > 0 s");
  if (!(options.gpu_memory_capacity_mib > 0)) {
    return Status::InvalidArgument("GPU memory capacity must be > 0");
  }
  // An unknown forecaster or bad options fail here, before any worker thread runs a policy.
  for (const RightsizePolicy& p : options.policies) {
    if (p.kind != RightsizePolicy::Kind::kController) continue;
    DS_ASSIGN_OR_RETURN(std::unique_ptr<predict::Forecaster> f,
                        registry.Create(p.forecaster, p.forecast));
    (void)f;
  }
  RightsizeResult result;
  result.pods = static_cast<int>(pods.size());
  result.periods = periods;
  result.period_s = period_s;
  result.used_gib.assign(static_cast<size_t>(periods), 0);
  for (const PodUsage& p : pods) {
    const UsageSeries& s = p.Of(UsageResource::kGpuMemory);
    result.gpu_pods += s.Samples() > 0;
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (!std::isnan(s.values[i])) result.used_gib[s.first + i] += s.values[i] / 1024;
    }
  }
  DS_ASSIGN_OR_RETURN(result.policies,
                      internal::RunParallel<RightsizePolicyResult>(
                          options.policies.size(), options.jobs,
                          [&](size_t i) {
                            return RunPolicy(pods, periods, period_s, options.policies[i], options,
                                             registry);
                          },
                          [&](const RightsizePolicyResult& r, int done, int total) {
                            if (progress) progress(r, done, total);
                          }));
  return result;
}

}  // namespace devshare::sim
