// RightSizer: the right-sizing controller for one resource of one VM. Fed one usage sample per
// period, it asks its forecaster for the p-quantile of the next horizon's peak and recommends an
// allocation: forecast x (1 + margin), rounded up to the granularity and clamped to [min, max].
// Grows apply at once (and at once to usage x (1 + margin) when usage is above the allocation);
// shrinks wait `shrink_interval_s` since the previous change and must save more than
// `hysteresis` of the allocation, so a VM is not resized every sample. Each recommendation says
// why, in words a `vm show` can print.
// Thread-safety: not thread-safe; one owner per VM resource.
#ifndef DEVSHARE_PREDICT_RIGHT_SIZER_H_
#define DEVSHARE_PREDICT_RIGHT_SIZER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "devshare/core/status.h"
#include "devshare/predict/forecaster.h"

namespace devshare::predict {

struct RightSizeOptions {
  double margin = 0.10;             // safety margin above the forecast
  double min_value = 0;             // never below (e.g. 256 MiB)
  double max_value = 0;             // never above (0 = no cap), e.g. the GPU's memory
  double granularity = 1;           // allocations are multiples of this (e.g. 256 MiB)
  int64_t shrink_interval_s = 600;  // at most one shrink per this; grows are not limited
  double hysteresis = 0.05;         // a shrink must save more than this share
  int64_t warmup_samples = 5;       // no change before this many samples
  std::string unit = "MiB";         // for reasons
  // InvalidArgument naming the field: margin >= 0, granularity > 0, min <= max, ...
  Status Validate() const;
};

// `v` rounded up to a multiple of o.granularity and clamped to [o.min_value, o.max_value]
// (max 0 = no cap): an allocation as RightSizer recommends it.
double RoundAllocation(double v, const RightSizeOptions& o);

struct Recommendation {
  double allocation = 0;  // what the VM should have from now on
  bool change = false;    // allocation differs from the current one
  double forecast = 0;    // the forecaster's p-quantile of the next horizon's peak
  std::string reason;     // "forecast p95 of the next 5 min peak 22.9 GiB (autopilot) ..."
};

class RightSizer {
 public:
  // REQUIRES: forecaster != nullptr, options.Validate().ok().
  RightSizer(std::unique_ptr<Forecaster> forecaster, RightSizeOptions options,
             ForecastOptions forecast_options);

  // One usage sample at `time_s` while the VM holds `current`; returns the recommendation.
  // The caller applies it (a ledger resize, or the simulator's packing) and passes the
  // allocation it really got as `current` next time: a change that did not take effect does
  // not count as the last change of the shrink rate limit.
  Recommendation Step(int64_t time_s, double usage, double current);

  const Forecaster& forecaster() const { return *forecaster_; }
  const RightSizeOptions& options() const { return options_; }

 private:
  double Round(double v) const;
  void Propose(int64_t time_s, double allocation);

  std::unique_ptr<Forecaster> forecaster_;
  RightSizeOptions options_;
  ForecastOptions forecast_options_;
  int64_t last_change_s_ = INT64_MIN / 2;
  int64_t change_before_s_ = INT64_MIN / 2;  // last_change_s_ before the proposed change
  double proposed_ = -1;                     // the last step's changed allocation, -1 = none
  int64_t samples_ = 0;
};

}  // namespace devshare::predict

#endif  // DEVSHARE_PREDICT_RIGHT_SIZER_H_
