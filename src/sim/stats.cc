// Quantiles and moments skipping non-finite values.
#include "devshare/sim/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace devshare::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double Quantile(std::vector<double> values, double q) {
  values.erase(
      std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }),
      values.end());
  if (values.empty() || std::isnan(q)) return kNaN;
  std::sort(values.begin(), values.end());
  q = std::clamp(q, 0.0, 1.0);
  const double h = q * static_cast<double>(values.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

double Median(const std::vector<double>& values) { return Quantile(values, 0.5); }

MeanSd ComputeMeanSd(const std::vector<double>& values) {
  MeanSd out;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    ++out.count;
  }
  if (out.count == 0) {
    out.mean = kNaN;
    out.sd = kNaN;
    return out;
  }
  out.mean = sum / static_cast<double>(out.count);
  if (out.count < 2) {
    out.sd = kNaN;
    return out;
  }
  double squares = 0;
  for (double v : values) {
    if (std::isfinite(v)) squares += (v - out.mean) * (v - out.mean);
  }
  out.sd = std::sqrt(squares / static_cast<double>(out.count - 1));
  return out;
}

}  // namespace devshare::sim
