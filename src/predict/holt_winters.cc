// "holt_winters": additive Holt-Winters (Winters 1960; Hyndman & Athanasopoulos, "Forecasting:
// Principles and Practice", §8.3) with level l, per-step trend b and season s of m =
// season_s / sample_period_s steps. Fixed smoothing constants (no per-series fit, deterministic):
// alpha = 0.3 (level), beta = 0.05 (trend), gamma = 0.3 (season; each phase is updated once per
// season, so it needs a larger constant than the level). Before a full season has been seen the
// seasonal term is 0 (Holt's linear trend). At the first sample of the second season the first
// season is decomposed: the trend is the phase-matched slope (x[t] - x[t-m]) / m (else, after a
// gap, first to last sample of the season), the seasonal term of each phase is its sample minus
// the line through the season's mean with that slope (missing phases 0), and the level is the
// line's value; then the usual update applies. A gap of g periods extrapolates l + g*b (g capped
// at one season) before the update, and the phase advances by g.
// Point forecast h steps ahead: l + h*b + s[phase+h]; Predict = max(0, max over h = 1..H of it
// + the empirical p-quantile of the last 240 errors (peak of the next horizon - that max)). The
// errors made with Holt's model are discarded when the seasonal model takes over.
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <vector>

#include "predict/builtin_forecasters.h"
#include "predict/forecast_util.h"

namespace devshare::predict {
namespace {

constexpr double kAlpha = 0.3;
constexpr double kBeta = 0.05;
constexpr double kGamma = 0.3;
constexpr size_t kErrorWindow = 240;

class HoltWinters final : public Forecaster {
 public:
  explicit HoltWinters(const ForecastOptions& options)
      : options_(options),
        periods_(options.sample_period_s),
        horizon_(HorizonPeriods(options)),
        season_(options.season_s / options.sample_period_s),
        first_season_(static_cast<size_t>(season_), std::numeric_limits<double>::quiet_NaN()),
        seasonal_(static_cast<size_t>(season_), 0.0),
        pending_(horizon_) {}

  std::string_view Name() const override { return "holt_winters"; }

  void Observe(int64_t time_s, double value) override {
    const int64_t elapsed = periods_.Advance(time_s);
    const int64_t index = periods_.index();
    pending_.Observe(index, value, [&](double point_peak, double peak) {
      const double error = peak - point_peak;
      errors_.push_back(error);
      sorted_errors_.insert(std::lower_bound(sorted_errors_.begin(), sorted_errors_.end(), error),
                            error);
      if (errors_.size() > kErrorWindow) {
        sorted_errors_.erase(
            std::lower_bound(sorted_errors_.begin(), sorted_errors_.end(), errors_.front()));
        errors_.pop_front();
      }
    });
    if (!seasonal_ready_ && index < season_) {
      first_season_[static_cast<size_t>(index)] = value;
    }
    if (periods_.count() == 1) {
      level_ = value;
    } else if (!seasonal_ready_ && index >= season_) {
      InitialiseSeason(index, value);
      errors_.clear();
      sorted_errors_.clear();
      pending_.Clear();
    } else {
      Update(index, elapsed, value);
    }
    double point_peak = 0;
    for (int64_t h = 1; h <= horizon_; ++h) {
      const double f = level_ + static_cast<double>(h) * trend_ + Seasonal(index + h);
      point_peak = h == 1 ? f : std::max(point_peak, f);
    }
    pending_.Open(index, point_peak);
    prediction_ = std::max(0.0, point_peak + ErrorQuantile());
  }

  double Predict() const override { return prediction_; }
  int64_t Count() const override { return periods_.count(); }

 private:
  double Seasonal(int64_t index) const {
    return seasonal_ready_ ? seasonal_[static_cast<size_t>(index % season_)] : 0.0;
  }

  void Update(int64_t index, int64_t elapsed, double value) {
    const double steps = static_cast<double>(std::min(elapsed, season_));
    const double season_term = Seasonal(index);
    const double previous = level_;
    level_ = kAlpha * (value - season_term) + (1 - kAlpha) * (level_ + steps * trend_);
    trend_ = kBeta * (level_ - previous) / steps + (1 - kBeta) * trend_;
    if (seasonal_ready_) {
      seasonal_[static_cast<size_t>(index % season_)] =
          kGamma * (value - level_) + (1 - kGamma) * season_term;
    }
  }

  // Decomposes the first season (phases 0..m-1, NaN = missing) into a line + seasonal terms at
  // the first sample of a later season (`index` >= m), then applies that sample's update.
  void InitialiseSeason(int64_t index, double value) {
    double sum = 0, sum_pos = 0;
    int64_t n = 0, first = -1, last = -1;
    for (int64_t i = 0; i < season_; ++i) {
      const double v = first_season_[static_cast<size_t>(i)];
      if (std::isnan(v)) continue;
      sum += v;
      sum_pos += static_cast<double>(i);
      ++n;
      if (first < 0) first = i;
      last = i;
    }
    // n >= 1: the first sample (phase 0) is in it.
    auto x = [&](int64_t i) { return first_season_[static_cast<size_t>(i)]; };
    double slope = 0;
    const int64_t same_phase = index - season_;
    if (same_phase < season_ && !std::isnan(x(same_phase))) {
      slope = (value - x(same_phase)) / static_cast<double>(season_);  // phase-matched
    } else if (last > first) {
      slope = (x(last) - x(first)) / static_cast<double>(last - first);
    }
    const double mean = sum / static_cast<double>(n);
    const double mean_pos = sum_pos / static_cast<double>(n);
    auto line = [&](int64_t i) { return mean + slope * (static_cast<double>(i) - mean_pos); };
    for (int64_t i = 0; i < season_; ++i) {
      seasonal_[static_cast<size_t>(i)] = std::isnan(x(i)) ? 0.0 : x(i) - line(i);
    }
    seasonal_ready_ = true;
    level_ = line(index - 1);
    trend_ = slope;
    first_season_.clear();
    first_season_.shrink_to_fit();
    Update(index, 1, value);
  }

  // The higher empirical p-quantile of the recent errors (0 when there are none).
  double ErrorQuantile() const {
    if (sorted_errors_.empty()) return 0;
    const size_t n = sorted_errors_.size();
    const auto rank = static_cast<size_t>(std::ceil(options_.quantile * static_cast<double>(n)));
    return sorted_errors_[std::clamp<size_t>(rank, 1, n) - 1];
  }

  ForecastOptions options_;
  SamplePeriods periods_;
  int64_t horizon_;
  int64_t season_;
  std::vector<double> first_season_;
  std::vector<double> seasonal_;
  bool seasonal_ready_ = false;
  double level_ = 0;
  double trend_ = 0;
  HorizonPeakTracker<double> pending_;  // tag: the point forecast of the horizon's peak
  std::deque<double> errors_;           // the last kErrorWindow errors, oldest first
  std::vector<double> sorted_errors_;   // the same, ascending
  double prediction_ = 0;
};

}  // namespace

std::unique_ptr<Forecaster> MakeHoltWinters(const ForecastOptions& options) {
  return std::make_unique<HoltWinters>(options);
}

}  // namespace devshare::predict
