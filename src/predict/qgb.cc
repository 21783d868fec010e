// "qgb": quantile gradient boosting on lag features, trained online on the series' own history.
// Features at each sample, all divided by the scale s = max of the last 60 samples (1 if that is
// 0), so one model fits a series of any magnitude: the last value; max/mean/stddev of the last 5
// and 15 samples; mean/stddev of the last 60; the change over 1, 5 and 15 samples. Target: the
// peak of the next horizon / s. Model: QuantileBoostedTrees (40 rounds, depth 3, learning rate
// 0.1, >= 20 rows a leaf) minimising the pinball loss at `quantile`. The first fit happens once
// 60 targets are known, then a refit from scratch every 60 new targets on the last 1440.
// Predict = max(0, s * model(features)); before the first fit, the max of the last 60 samples.
// Windows count observed samples (a gap shortens nothing); targets follow the period grid.
// Cost: a fit is ~rows * 12 features * 3 levels * 40 rounds; ~24 fits a day of 1-min samples.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "predict/builtin_forecasters.h"
#include "predict/forecast_util.h"
#include "predict/quantile_trees.h"

namespace devshare::predict {
namespace {

constexpr size_t kFeatures = 12;
constexpr size_t kScaleWindow = 60;    // samples: the scale and the longest feature window
constexpr int64_t kFirstFitRows = 60;  // targets before the first fit
constexpr int64_t kRefitEvery = 60;    // new targets between fits
constexpr size_t kTrainRows = 1440;    // the newest targets used by a fit

class Qgb final : public Forecaster {
 public:
  explicit Qgb(const ForecastOptions& options)
      : options_(options),
        periods_(options.sample_period_s),
        horizon_(HorizonPeriods(options)),
        pending_(horizon_) {}

  std::string_view Name() const override { return "qgb"; }

  void Observe(int64_t time_s, double value) override {
    periods_.Advance(time_s);
    pending_.Observe(periods_.index(), value,
                     [&](int64_t seq, double peak) { Resolve(seq, peak); });
    recent_.push_back(value);
    if (recent_.size() > kScaleWindow) recent_.pop_front();

    Row row;
    row.seq = next_seq_++;
    row.scale = Features(row.x);
    rows_.push_back(row);
    while (rows_.size() > kTrainRows + static_cast<size_t>(horizon_)) rows_.pop_front();
    pending_.Open(periods_.index(), row.seq);

    if (resolved_ >= kFirstFitRows && resolved_ - resolved_at_fit_ >= kRefitEvery) Fit();
    if (model_.fitted()) {
      prediction_ = std::max(0.0, row.scale * model_.Predict(row.x.data()));
    } else {
      prediction_ = *std::max_element(recent_.begin(), recent_.end());
    }
  }

  double Predict() const override { return prediction_; }
  int64_t Count() const override { return periods_.count(); }

 private:
  struct Row {
    int64_t seq = 0;
    double scale = 1;
    std::array<float, kFeatures> x{};
    float target = 0;
    bool resolved = false;
  };

  void Resolve(int64_t seq, double peak) {
    if (rows_.empty() || seq < rows_.front().seq) return;
    Row& row = rows_[static_cast<size_t>(seq - rows_.front().seq)];
    row.target = static_cast<float>(peak / row.scale);
    row.resolved = true;
    ++resolved_;
  }

  // Fills the normalised features from recent_ (newest last); returns the scale.
  double Features(std::array<float, kFeatures>& x) const {
    const size_t n = recent_.size();
    double scale = *std::max_element(recent_.begin(), recent_.end());
    if (!(scale > 0)) scale = 1;
    const double last = recent_.back();
    auto ago = [&](size_t k) { return recent_[n - 1 - std::min(k, n - 1)]; };
    struct Stats {
      double max, mean, stddev;
    };
    auto stats = [&](size_t window) {
      const size_t w = std::min(window, n);
      double max = 0, sum = 0, sum_sq = 0;
      for (size_t i = n - w; i < n; ++i) {
        max = std::max(max, recent_[i]);
        sum += recent_[i];
        sum_sq += recent_[i] * recent_[i];
      }
      const double mean = sum / static_cast<double>(w);
      return Stats{max, mean,
                   std::sqrt(std::max(0.0, sum_sq / static_cast<double>(w) - mean * mean))};
    };
    const Stats s5 = stats(5), s15 = stats(15), s60 = stats(60);
    const double v[kFeatures] = {last,       s5.max,        s5.mean,       s5.stddev,
                                 s15.max,    s15.mean,      s15.stddev,    s60.mean,
                                 s60.stddev, last - ago(1), last - ago(5), last - ago(15)};
    for (size_t f = 0; f < kFeatures; ++f) x[f] = static_cast<float>(v[f] / scale);
    return scale;
  }

  void Fit() {
    resolved_at_fit_ = resolved_;
    x_.clear();
    y_.clear();
    size_t used = 0;
    for (auto it = rows_.rbegin(); it != rows_.rend() && used < kTrainRows; ++it) {
      if (!it->resolved) continue;
      x_.insert(x_.end(), it->x.begin(), it->x.end());
      y_.push_back(it->target);
      ++used;
    }
    if (used == 0) return;
    model_.Fit(x_, kFeatures, y_, options_.quantile, BoostingParams{});
  }

  ForecastOptions options_;
  SamplePeriods periods_;
  int64_t horizon_;
  HorizonPeakTracker<int64_t> pending_;  // tag: the row's seq
  std::deque<double> recent_;
  std::deque<Row> rows_;
  int64_t next_seq_ = 0;
  int64_t resolved_ = 0;
  int64_t resolved_at_fit_ = 0;
  QuantileBoostedTrees model_;
  std::vector<float> x_, y_;
  double prediction_ = 0;
};

}  // namespace

std::unique_ptr<Forecaster> MakeQgb(const ForecastOptions& options) {
  return std::make_unique<Qgb>(options);
}

}  // namespace devshare::predict
