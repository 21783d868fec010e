// Forecaster: per-VM demand forecasters behind one interface, and an explicit registry by name.
// A forecaster is fed one sample per sample period (the peak usage of that period, e.g. GPU
// memory MiB over one minute) and predicts the p-quantile of the peak of the next `horizon_s`
// seconds. Built in: "last" (last value), "ewma", "autopilot" (Autopilot's moving-window
// peak-percentile recommender with exponential decay, EuroSys'20 §3.1), "holt_winters"
// (additive, daily season), "qgb" (quantile gradient boosting on lag features, refit online).
// Thread-safety: a forecaster is used by one thread; the registry is read-only once filled.
#ifndef DEVSHARE_PREDICT_FORECASTER_H_
#define DEVSHARE_PREDICT_FORECASTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::predict {

struct ForecastOptions {
  double quantile = 0.95;        // p in (0, 1): the quantile of the next horizon's peak
  int64_t sample_period_s = 60;  // one Observe() per period
  int64_t horizon_s = 300;       // the window whose peak is predicted
  int64_t season_s = 86'400;     // holt_winters: the season (a day)
  double half_life_s = 43'200;   // ewma and autopilot: the weight of a sample halves per this
  // Validates ranges: quantile in (0,1), periods > 0, horizon >= sample period, season a
  // multiple of the sample period. InvalidArgument naming the field.
  Status Validate() const;
};

class Forecaster {
 public:
  virtual ~Forecaster() = default;
  virtual std::string_view Name() const = 0;
  // One sample: the peak of the period ending at `time_s` (non-decreasing; a gap of several
  // periods is allowed and treated as missing samples). Values are >= 0.
  virtual void Observe(int64_t time_s, double value) = 0;
  // The p-quantile of the peak of the next horizon (>= 0). 0 before the first sample.
  virtual double Predict() const = 0;
  // Samples observed so far.
  virtual int64_t Count() const = 0;
};

using ForecasterFactory = std::function<std::unique_ptr<Forecaster>(const ForecastOptions&)>;

class ForecasterRegistry {
 public:
  // AlreadyExists for a name registered twice.
  Status Register(std::string name, ForecasterFactory factory);
  // NotFound naming the known forecasters; InvalidArgument when options do not validate.
  Result<std::unique_ptr<Forecaster>> Create(std::string_view name,
                                             const ForecastOptions& options) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, ForecasterFactory, std::less<>> factories_;
};

// last, ewma, autopilot, holt_winters, qgb.
void RegisterBuiltinForecasters(ForecasterRegistry& registry);

// Pinball (quantile) loss of predicting `predicted` for an outcome `actual` at quantile p:
// p * (actual - predicted) when under, (1 - p) * (predicted - actual) when over.
double PinballLoss(double quantile, double predicted, double actual);

}  // namespace devshare::predict

#endif  // DEVSHARE_PREDICT_FORECASTER_H_
