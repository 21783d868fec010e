// Factories of the built-in forecasters (one file each), and RegisterBuiltinForecasters.
// Thread-safety: see forecaster.h.
#ifndef DEVSHARE_SRC_PREDICT_BUILTIN_FORECASTERS_H_
#define DEVSHARE_SRC_PREDICT_BUILTIN_FORECASTERS_H_

#include <memory>

#include "devshare/predict/forecaster.h"

namespace devshare::predict {

std::unique_ptr<Forecaster> MakeLastValue(const ForecastOptions& options);
std::unique_ptr<Forecaster> MakeEwma(const ForecastOptions& options);
std::unique_ptr<Forecaster> MakeAutopilot(const ForecastOptions& options);
std::unique_ptr<Forecaster> MakeHoltWinters(const ForecastOptions& options);
std::unique_ptr<Forecaster> MakeQgb(const ForecastOptions& options);

}  // namespace devshare::predict

#endif  // DEVSHARE_SRC_PREDICT_BUILTIN_FORECASTERS_H_
