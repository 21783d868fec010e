// "ewma": an exponentially weighted mean m of the samples (weights halve every half_life_s of
// elapsed time, so a gap ages the past like the missing samples would have) plus the
// exponentially weighted p-quantile of the residual r = (peak of the next horizon) - m, where m
// is the mean at the forecast time: Predict = max(0, m + q_p(r)). This is the split-conformal
// idea with a decaying calibration set: if residuals are roughly stationary, m + q_p(r) covers
// the next horizon's peak with probability p. Residuals live in a DecayingHistogram (3 %
// resolution) with the same half-life. Until the first residual is known (one horizon), the
// forecast is the largest sample seen.
#include <algorithm>
#include <cmath>
#include <memory>

#include "predict/builtin_forecasters.h"
#include "predict/decaying_histogram.h"
#include "predict/forecast_util.h"

namespace devshare::predict {
namespace {

class Ewma final : public Forecaster {
 public:
  explicit Ewma(const ForecastOptions& options)
      : options_(options),
        periods_(options.sample_period_s),
        pending_(HorizonPeriods(options)),
        residuals_(options.half_life_s) {}

  std::string_view Name() const override { return "ewma"; }

  void Observe(int64_t time_s, double value) override {
    const int64_t elapsed = periods_.Advance(time_s);
    const int64_t now_s = periods_.grid_time_s();
    pending_.Observe(periods_.index(), value, [&](double mean_then, double peak) {
      residuals_.Add(now_s, peak - mean_then);
    });
    const double decay =
        std::exp2(-static_cast<double>(elapsed * options_.sample_period_s) / options_.half_life_s);
    weighted_sum_ = weighted_sum_ * decay + value;
    weight_ = weight_ * decay + 1;
    const double mean = weighted_sum_ / weight_;
    pending_.Open(periods_.index(), mean);
    max_seen_ = std::max(max_seen_, value);
    prediction_ = residuals_.empty() ? max_seen_
                                     : std::max(0.0, mean + residuals_.Quantile(options_.quantile));
  }

  double Predict() const override { return prediction_; }
  int64_t Count() const override { return periods_.count(); }

 private:
  ForecastOptions options_;
  SamplePeriods periods_;
  HorizonPeakTracker<double> pending_;  // tag: the mean at the forecast time
  DecayingHistogram residuals_;
  double weighted_sum_ = 0;
  double weight_ = 0;
  double max_seen_ = 0;
  double prediction_ = 0;
};

}  // namespace

std::unique_ptr<Forecaster> MakeEwma(const ForecastOptions& options) {
  return std::make_unique<Ewma>(options);
}

}  // namespace devshare::predict
