// DecayingHistogram: growing weights instead of decaying every bucket (one multiply per Add);
// a rebase every 64 half-lives keeps them finite.
#include "predict/decaying_histogram.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace devshare::predict {
namespace {

// Rebase when the newest weight exceeds 2^kRebaseExponent (far from double overflow).
constexpr double kRebaseExponent = 64;
// Buckets lighter than this fraction of the total are dropped at a rebase.
constexpr double kNegligible = 1e-12;

}  // namespace

int DecayingHistogram::BucketOf(double value) {
  const double magnitude = std::fabs(value);
  if (!(magnitude >= kMinMagnitude)) return 0;
  static const double kLogRatio = std::log(kRatio);
  const int b = 1 + static_cast<int>(std::floor(std::log(magnitude / kMinMagnitude) / kLogRatio));
  return value < 0 ? -b : b;
}

void DecayingHistogram::Add(int64_t time_s, double value) {
  if (!has_reference_) {
    reference_s_ = time_s;
    has_reference_ = true;
  }
  double exponent = static_cast<double>(time_s - reference_s_) / half_life_s_;
  if (exponent > kRebaseExponent) {
    Rebase(time_s);
    exponent = 0;
  }
  const double weight = std::exp2(exponent);
  Bucket& b = buckets_[BucketOf(value)];
  b.min_value = b.weight > 0 ? std::min(b.min_value, value) : value;
  b.max_value = b.weight > 0 ? std::max(b.max_value, value) : value;
  b.weight += weight;
  total_ += weight;
}

void DecayingHistogram::Rebase(int64_t time_s) {
  const double scale = std::exp2(-static_cast<double>(time_s - reference_s_) / half_life_s_);
  reference_s_ = time_s;
  total_ *= scale;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it->second.weight *= scale;
    if (it->second.weight < kNegligible * total_) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  total_ = 0;
  for (const auto& [index, b] : buckets_) total_ += b.weight;
}

double DecayingHistogram::Quantile(double p) const {
  if (buckets_.empty()) return 0;
  // Walk from the top: the answer is the first bucket b (from above) whose weight plus all the
  // weight above it exceeds (1 - p) of the total, i.e. the smallest b with cum(b) >= p * total.
  const double target = std::clamp(p, 0.0, 1.0) * total_;
  const double above_limit = total_ - target;
  double above = 0;
  for (auto it = buckets_.rbegin(); it != buckets_.rend(); ++it) {
    const Bucket& b = it->second;
    if (above + b.weight > above_limit) {
      const double below = total_ - above - b.weight;
      const double fraction = std::clamp((target - below) / b.weight, 0.0, 1.0);
      return b.min_value + fraction * (b.max_value - b.min_value);
    }
    above += b.weight;
  }
  return buckets_.begin()->second.min_value;
}

}  // namespace devshare::predict
