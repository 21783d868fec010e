// RightSizer: forecast x (1 + margin), rounded and clamped; grow at once, shrink rate-limited.
#include "devshare/predict/right_sizer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace devshare::predict {
namespace {

std::string Amount(double v, const std::string& unit) {
  char buf[64];
  if (unit == "MiB" && v >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", v / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f %s", v, unit.c_str());
  }
  return buf;
}

std::string Duration(int64_t s) {
  if (s % 3600 == 0) return std::to_string(s / 3600) + " h";
  if (s % 60 == 0) return std::to_string(s / 60) + " min";
  return std::to_string(s) + " s";
}

}  // namespace

Status RightSizeOptions::Validate() const {
  auto bad = [](const std::string& field, const std::string& why) {
    return Status::InvalidArgument("field '" + field + "': " + why);
  };
  if (!(margin >= 0 && margin <= 10)) return bad("margin", "must be in 0..10");
  if (!(min_value >= 0)) return bad("min", "must be >= 0");
  if (!(max_value >= 0)) return bad("max", "must be >= 0 (0 = no cap)");
  if (max_value > 0 && min_value > max_value) return bad("min", "is above max");
  if (!(granularity > 0)) return bad("granularity", "must be > 0");
  if (shrink_interval_s < 0) return bad("shrink_interval_s", "must be >= 0");
  if (!(hysteresis >= 0 && hysteresis < 1)) return bad("hysteresis", "must be in [0, 1)");
  if (warmup_samples < 0) return bad("warmup_samples", "must be >= 0");
  return Status::Ok();
}

RightSizer::RightSizer(std::unique_ptr<Forecaster> forecaster, RightSizeOptions options,
                       ForecastOptions forecast_options)
    : forecaster_(std::move(forecaster)),
      options_(std::move(options)),
      forecast_options_(forecast_options) {}

double RoundAllocation(double v, const RightSizeOptions& o) {
  double r = std::ceil(v / o.granularity - 1e-9) * o.granularity;
  r = std::max(r, o.min_value);
  if (o.max_value > 0) r = std::min(r, o.max_value);
  return r;
}

double RightSizer::Round(double v) const { return RoundAllocation(v, options_); }

void RightSizer::Propose(int64_t time_s, double allocation) {
  change_before_s_ = last_change_s_;
  last_change_s_ = time_s;
  proposed_ = allocation;
}

Recommendation RightSizer::Step(int64_t time_s, double usage, double current) {
  // The previous change did not take effect (a grow without room, a failed resize): it does not
  // count for the shrink rate limit.
  if (proposed_ >= 0 && current != proposed_) last_change_s_ = change_before_s_;
  proposed_ = -1;
  forecaster_->Observe(time_s, usage);
  ++samples_;
  Recommendation rec;
  rec.allocation = current;
  rec.forecast = forecaster_->Predict();
  const std::string& unit = options_.unit;
  char pct[32];
  std::snprintf(pct, sizeof pct, "p%g", forecast_options_.quantile * 100);
  char margin[32];
  std::snprintf(margin, sizeof margin, "%g %%", options_.margin * 100);
  const std::string basis = std::string("forecast ") + pct + " of the next " +
                            Duration(forecast_options_.horizon_s) + " peak " +
                            Amount(rec.forecast, unit) + " (" + std::string(forecaster_->Name()) +
                            ") + " + margin + " margin";
  if (usage > current) {
    // Usage is already above the allocation: grow at once, at least to usage + margin.
    const double target = Round(std::max(rec.forecast, usage) * (1 + options_.margin));
    if (target > current) {
      rec.allocation = target;
      rec.change = true;
      Propose(time_s, target);
      rec.reason = "grow " + Amount(current, unit) + " -> " + Amount(target, unit) + ": usage " +
                   Amount(usage, unit) + " is above the allocation; " + basis;
      return rec;
    }
  }
  if (samples_ < options_.warmup_samples) {
    rec.reason = "keep " + Amount(current, unit) + ": warming up (" + std::to_string(samples_) +
                 " of " + std::to_string(options_.warmup_samples) + " samples)";
    return rec;
  }
  const double target = Round(rec.forecast * (1 + options_.margin));
  if (target > current) {
    rec.allocation = target;
    rec.change = true;
    Propose(time_s, target);
    rec.reason = "grow " + Amount(current, unit) + " -> " + Amount(target, unit) + ": " + basis;
    return rec;
  }
  if (target < current * (1 - options_.hysteresis)) {
    const int64_t wait = last_change_s_ + options_.shrink_interval_s - time_s;
    if (wait > 0) {
      rec.reason = "keep " + Amount(current, unit) + " (would shrink to " + Amount(target, unit) +
                   " in " + Duration(wait) + ": at most one change per " +
                   Duration(options_.shrink_interval_s) + "); " + basis;
      return rec;
    }
    rec.allocation = target;
    rec.change = true;
    Propose(time_s, target);
    rec.reason = "shrink " + Amount(current, unit) + " -> " + Amount(target, unit) + ": " + basis;
    return rec;
  }
  rec.reason = "keep " + Amount(current, unit) + ": " + basis;
  return rec;
}

}  // namespace devshare::predict
