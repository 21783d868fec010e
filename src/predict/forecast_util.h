// Helpers shared by the forecasters: the sample-period index of each Observe() (gaps count as
// missing periods) and the resolution of "the peak of the next horizon" for past forecasts.
// Thread-safety: none; each instance belongs to one forecaster.
#ifndef DEVSHARE_SRC_PREDICT_FORECAST_UTIL_H_
#define DEVSHARE_SRC_PREDICT_FORECAST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

#include "devshare/predict/forecaster.h"

namespace devshare::predict {

// Samples in one horizon: ceil(horizon_s / sample_period_s), at least 1.
inline int64_t HorizonPeriods(const ForecastOptions& options) {
  return std::max<int64_t>(
      1, (options.horizon_s + options.sample_period_s - 1) / options.sample_period_s);
}

// Maps sample times to period indices: the first sample is period 0; each later one advances by
// the elapsed time rounded to whole periods, at least 1 (a repeated or early timestamp counts as
// the next period, so indices are strictly increasing).
class SamplePeriods {
 public:
  explicit SamplePeriods(int64_t sample_period_s) : period_s_(sample_period_s) {}

  // Returns the periods elapsed since the previous sample (1 for the first sample).
  int64_t Advance(int64_t time_s) {
    int64_t elapsed = 1;
    if (count_ > 0) {
      elapsed = std::max<int64_t>(1, (time_s - last_time_s_ + period_s_ / 2) / period_s_);
      index_ += elapsed;
    }
    last_time_s_ = time_s;
    ++count_;
    return elapsed;
  }
  // Period index of the last sample (0 before and at the first sample).
  int64_t index() const { return index_; }
  // Seconds of the last sample since the first one, on the period grid.
  int64_t grid_time_s() const { return index_ * period_s_; }
  int64_t count() const { return count_; }
  int64_t period_s() const { return period_s_; }

 private:
  int64_t period_s_;
  int64_t last_time_s_ = 0;
  int64_t index_ = 0;
  int64_t count_ = 0;
};

// Forecasts made at a period index wait here until the peak of the samples in the following
// `horizon_periods` periods is known. Windows that saw no sample (a gap longer than the
// horizon) are dropped. Cost: O(pending) = O(horizon_periods) per sample.
template <typename Tag>
class HorizonPeakTracker {
 public:
  explicit HorizonPeakTracker(int64_t horizon_periods) : horizon_(horizon_periods) {}

  // Feeds the sample of period `index` (strictly increasing); calls on_resolved(tag, peak) for
  // every pending forecast whose window is now complete, oldest first.
  template <typename OnResolved>
  void Observe(int64_t index, double value, OnResolved&& on_resolved) {
    // Windows that ended before this sample (a gap) are complete without it.
    while (!pending_.empty() && pending_.front().index + horizon_ < index) {
      if (pending_.front().seen) on_resolved(pending_.front().tag, pending_.front().peak);
      pending_.pop_front();
    }
    for (Pending& p : pending_) {
      p.peak = p.seen ? std::max(p.peak, value) : value;
      p.seen = true;
    }
    while (!pending_.empty() && pending_.front().index + horizon_ == index) {
      on_resolved(pending_.front().tag, pending_.front().peak);
      pending_.pop_front();
    }
  }
  // Registers a forecast made at period `index` (after that period's sample was observed).
  void Open(int64_t index, Tag tag) { pending_.push_back({index, std::move(tag), 0, false}); }
  void Clear() { pending_.clear(); }

 private:
  struct Pending {
    int64_t index;
    Tag tag;
    double peak;
    bool seen;
  };
  int64_t horizon_;
  std::deque<Pending> pending_;
};

}  // namespace devshare::predict

#endif  // DEVSHARE_SRC_PREDICT_FORECAST_UTIL_H_
