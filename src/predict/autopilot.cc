// "autopilot": the moving-window recommender of Autopilot (Rzadca et al., "Autopilot: workload
// autoscaling at Google", EuroSys'20, §3.1). Taken from the paper: the usage signal is cut into
// fixed, non-overlapping windows (here one horizon long; the paper uses 5 min); for memory the
// per-window aggregate is the window's peak; these peaks enter a histogram whose entries are
// weighted w = 2^(-age / t_half) (exponential decay, t_half = half_life_s); the recommendation is
// the j-th weighted percentile of that histogram (S_pj, here j = quantile). Not taken: the paper's
// safety margin (the RightSizer adds one), its job-level aggregation over tasks, its fixed bucket
// set, and the max/average variants. Buckets are geometric with ratio 1.03 (like Kubernetes VPA's
// recommender, but finer), and the percentile is interpolated between the smallest and largest peak
// of its bucket, so the resolution does not bias it and a constant series is predicted exactly. A
// window with no sample (a gap) adds nothing; decay follows elapsed time. Until the first window
// closes, the forecast is the peak of the samples seen so far.
#include <algorithm>
#include <memory>

#include "predict/builtin_forecasters.h"
#include "predict/decaying_histogram.h"
#include "predict/forecast_util.h"

namespace devshare::predict {
namespace {

class Autopilot final : public Forecaster {
 public:
  explicit Autopilot(const ForecastOptions& options)
      : options_(options),
        periods_(options.sample_period_s),
        window_periods_(HorizonPeriods(options)),
        peaks_(options.half_life_s) {}

  std::string_view Name() const override { return "autopilot"; }

  void Observe(int64_t time_s, double value) override {
    periods_.Advance(time_s);
    const int64_t window = periods_.index() / window_periods_;
    if (has_window_ && window != window_) {
      // The window closed at its end time; its peak enters the histogram then.
      peaks_.Add((window_ + 1) * window_periods_ * options_.sample_period_s, window_peak_);
      has_window_ = false;
    }
    window_peak_ = has_window_ ? std::max(window_peak_, value) : value;
    window_ = window;
    has_window_ = true;
    prediction_ = peaks_.empty() ? window_peak_ : peaks_.Quantile(options_.quantile);
  }

  double Predict() const override { return prediction_; }
  int64_t Count() const override { return periods_.count(); }

 private:
  ForecastOptions options_;
  SamplePeriods periods_;
  int64_t window_periods_;
  DecayingHistogram peaks_;
  int64_t window_ = 0;
  bool has_window_ = false;
  double window_peak_ = 0;
  double prediction_ = 0;
};

}  // namespace

std::unique_ptr<Forecaster> MakeAutopilot(const ForecastOptions& options) {
  return std::make_unique<Autopilot>(options);
}

}  // namespace devshare::predict
