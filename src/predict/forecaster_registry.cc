// ForecasterRegistry, ForecastOptions::Validate and PinballLoss.
#include <string>
#include <utility>

#include "devshare/predict/forecaster.h"

namespace devshare::predict {

Status ForecastOptions::Validate() const {
  auto bad = [](const std::string& field, const std::string& why) {
    return Status::InvalidArgument("field '" + field + "': " + why);
  };
  if (!(quantile > 0 && quantile < 1)) return bad("quantile", "must be in (0, 1)");
  if (sample_period_s <= 0) return bad("sample_period_s", "must be > 0");
  if (horizon_s < sample_period_s) return bad("horizon_s", "must be >= sample_period_s");
  if (season_s <= 0 || season_s % sample_period_s != 0) {
    return bad("season_s", "must be a positive multiple of sample_period_s");
  }
  if (!(half_life_s > 0)) return bad("half_life_s", "must be > 0");
  return Status::Ok();
}

Status ForecasterRegistry::Register(std::string name, ForecasterFactory factory) {
  if (factories_.count(name)) {
    return Status::AlreadyExists("forecaster '" + name + "' registered twice");
  }
  factories_.emplace(std::move(name), std::move(factory));
  return Status::Ok();
}

Result<std::unique_ptr<Forecaster>> ForecasterRegistry::Create(
    std::string_view name, const ForecastOptions& options) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown forecaster '" + std::string(name) + "' (known: " + known +
                            ")");
  }
  DS_RETURN_IF_ERROR(options.Validate());
  return it->second(options);
}

std::vector<std::string> ForecasterRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [n, f] : factories_) names.push_back(n);
  return names;
}

double PinballLoss(double quantile, double predicted, double actual) {
  return actual >= predicted ? quantile * (actual - predicted)
                             : (1 - quantile) * (predicted - actual);
}

}  // namespace devshare::predict
