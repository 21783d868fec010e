// DecayingHistogram: a weighted histogram of signed values whose entries' weights halve every
// `half_life_s`, with geometric buckets (ratio 1.03, so a quantile is resolved to 3 % of its
// magnitude) and a weighted-quantile query. Used by "ewma" (residuals) and "autopilot" (peaks).
// Thread-safety: none; each instance belongs to one forecaster.
#ifndef DEVSHARE_SRC_PREDICT_DECAYING_HISTOGRAM_H_
#define DEVSHARE_SRC_PREDICT_DECAYING_HISTOGRAM_H_

#include <cstdint>
#include <map>

namespace devshare::predict {

class DecayingHistogram {
 public:
  // Bucket growth ratio and the magnitude below which values share the zero bucket.
  static constexpr double kRatio = 1.03;
  static constexpr double kMinMagnitude = 1e-6;

  explicit DecayingHistogram(double half_life_s) : half_life_s_(half_life_s) {}

  // Adds `value` with weight 1 at `time_s` (non-decreasing across calls); older entries count
  // 2^(-(time_s - their time) / half_life_s).
  void Add(int64_t time_s, double value);
  // The weighted p-quantile (p in [0, 1]): in the smallest bucket whose cumulative weight
  // reaches p of the total, interpolated linearly by weight between the smallest and largest
  // value ever added to that bucket (so within that bucket, 3 %; exact for a constant). 0 when
  // empty.
  double Quantile(double p) const;
  bool empty() const { return buckets_.empty(); }

  // The bucket of a value: 0 for |v| < kMinMagnitude, else sign(v) * (1 + floor(log_ratio(|v| /
  // kMinMagnitude))); monotone in v.
  static int BucketOf(double value);

 private:
  struct Bucket {
    double weight = 0;  // relative to 2^((time - reference_s_) / half_life_s)
    double min_value = 0;
    double max_value = 0;
  };
  // Rescales weights to a new reference time so they stay finite; drops negligible buckets.
  void Rebase(int64_t time_s);

  double half_life_s_;
  int64_t reference_s_ = 0;
  bool has_reference_ = false;
  double total_ = 0;
  std::map<int, Bucket> buckets_;
};

}  // namespace devshare::predict

#endif  // DEVSHARE_SRC_PREDICT_DECAYING_HISTOGRAM_H_
