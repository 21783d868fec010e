// The built-in forecasters on synthetic series with known answers: constant, step, ramp, daily
// sine (with a gap), spikes, and quantile coverage on i.i.d. noise; plus their building blocks
// (DecayingHistogram, QuantileBoostedTrees, HorizonPeakTracker).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "devshare/predict/forecaster.h"
#include "predict/decaying_histogram.h"
#include "predict/forecast_util.h"
#include "predict/quantile_trees.h"

namespace devshare::predict {
namespace {

const std::vector<std::string> kAll = {"autopilot", "ewma", "holt_winters", "last", "qgb"};

std::unique_ptr<Forecaster> Make(const std::string& name, const ForecastOptions& options) {
  ForecasterRegistry registry;
  RegisterBuiltinForecasters(registry);
  Result<std::unique_ptr<Forecaster>> f = registry.Create(name, options);
  EXPECT_TRUE(f.ok()) << name << ": " << f.status().message();
  return f.ok() ? std::move(*f) : nullptr;
}

// Feeds series[i] at time i * sample_period_s; returns Predict() after each sample.
std::vector<double> Feed(Forecaster& f, const std::vector<double>& series,
                         const ForecastOptions& options) {
  std::vector<double> predictions;
  for (size_t i = 0; i < series.size(); ++i) {
    f.Observe(static_cast<int64_t>(i) * options.sample_period_s, series[i]);
    predictions.push_back(f.Predict());
  }
  return predictions;
}

std::vector<double> Feed(const std::string& name, const std::vector<double>& series,
                         const ForecastOptions& options = {}) {
  std::unique_ptr<Forecaster> f = Make(name, options);
  return Feed(*f, series, options);
}

// The peak of the horizon after sample i: max(series[i+1 .. i+h]); needs i + h < size.
double NextPeak(const std::vector<double>& series, size_t i, size_t h) {
  return *std::max_element(series.begin() + static_cast<std::ptrdiff_t>(i + 1),
                           series.begin() + static_cast<std::ptrdiff_t>(i + 1 + h));
}

TEST(ForecastersTest, AllAreRegisteredAndPredictZeroBeforeTheFirstSample) {
  ForecasterRegistry registry;
  RegisterBuiltinForecasters(registry);
  EXPECT_EQ(registry.Names(), kAll);
  for (const std::string& name : kAll) {
    std::unique_ptr<Forecaster> f = Make(name, ForecastOptions{});
    EXPECT_EQ(f->Name(), name);
    EXPECT_EQ(f->Predict(), 0) << name;
    EXPECT_EQ(f->Count(), 0) << name;
    f->Observe(0, 42);
    EXPECT_EQ(f->Count(), 1) << name;
    EXPECT_NEAR(f->Predict(), 42, 1e-9) << name;
  }
}

TEST(ForecastersTest, ConstantSeriesIsPredictedAsTheConstant) {
  const std::vector<double> series(400, 800);
  for (const std::string& name : kAll) {
    const std::vector<double> p = Feed(name, series);
    for (size_t i = 0; i < p.size(); ++i) {
      ASSERT_NEAR(p[i], 800, 1e-6) << name << " at sample " << i;
    }
  }
}

// 300 samples at 100, then 400: samples after the step until the forecast is within 3 % of 400.
TEST(ForecastersTest, StepUpIsReachedWithinABoundPerForecaster) {
  struct Case {
    std::string name;
    size_t bound;  // samples after the step (default options: 60 s samples, 5 min horizon)
  };
  const Case cases[] = {
      {"last", 1},  // the step itself
      // p95 needs 5 % of the decayed weight (~260 samples' worth after 300 at 100) above:
      {"ewma", 16},         // 13 residuals of the new level
      {"autopilot", 20},    // 3 windows of 5 samples peaking at the new level
      {"holt_winters", 5},  // level alpha 0.3, trend, and the error quantile
      {"qgb", 1},           // max-normalised features: the new max scales the old model
  };
  std::vector<double> series(300, 100);
  series.resize(600, 400);
  for (const Case& c : cases) {
    const std::vector<double> p = Feed(c.name, series);
    size_t reached = 0;
    while (300 + reached < p.size() && p[300 + reached] < 0.97 * 400) ++reached;
    EXPECT_LT(reached, c.bound) << c.name << " reached the new level after " << reached;
    for (size_t i = 300 + c.bound; i < p.size(); ++i) {
      ASSERT_GE(p[i], 0.97 * 400) << c.name << " fell back at sample " << i;
    }
  }
}

TEST(ForecastersTest, RampIsTrackedByHoltWintersAndQgbWhileLastLagsBySlopeTimesHorizon) {
  ForecastOptions options;  // horizon 5 samples
  std::vector<double> series;
  for (int i = 0; i < 1000; ++i) series.push_back(100 + 2.0 * i);
  const std::vector<double> last = Feed("last", series, options);
  for (size_t i = 200; i + 5 < series.size(); ++i) {
    ASSERT_DOUBLE_EQ(NextPeak(series, i, 5) - last[i], 2.0 * 5) << i;
  }
  for (const std::string name : {"holt_winters", "qgb"}) {
    const std::vector<double> p = Feed(name, series, options);
    for (size_t i = 200; i + 5 < series.size(); ++i) {
      ASSERT_GE(p[i], NextPeak(series, i, 5) - 1.0) << name << " at sample " << i;
    }
  }
}

// 500 + 100 sin(2 pi t / day) + N(0, 2), hourly samples, 3 h horizon.
std::vector<double> DailySine(int days) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 2);
  std::vector<double> series;
  for (int i = 0; i < 24 * days; ++i) {
    series.push_back(500 + 100 * std::sin(2 * std::numbers::pi * i / 24.0) + noise(rng));
  }
  return series;
}

ForecastOptions HourlyOptions() {
  ForecastOptions o;
  o.sample_period_s = 3600;
  o.horizon_s = 3 * 3600;
  o.season_s = 86'400;
  o.quantile = 0.5;
  return o;
}

TEST(ForecastersTest, HoltWintersPredictsTheDailySineAfterThreeDaysBetterThanLast) {
  const std::vector<double> series = DailySine(10);
  const ForecastOptions o = HourlyOptions();
  const std::vector<double> hw = Feed("holt_winters", series, o);
  const std::vector<double> last = Feed("last", series, o);
  double hw_error = 0, last_error = 0;
  size_t n = 0;
  for (size_t i = 3 * 24; i + 3 < series.size(); ++i, ++n) {
    const double peak = NextPeak(series, i, 3);
    ASSERT_NEAR(hw[i], peak, 10) << "hour " << i;  // 10 % of the amplitude
    hw_error += std::fabs(hw[i] - peak);
    last_error += std::fabs(last[i] - peak);
  }
  EXPECT_LT(hw_error / n, 0.5 * last_error / n);
}

TEST(ForecastersTest, HoltWintersAdvancesTheSeasonOverAGap) {
  const std::vector<double> series = DailySine(10);
  const ForecastOptions o = HourlyOptions();
  std::unique_ptr<Forecaster> f = Make("holt_winters", o);
  // Hours 100..104 are missing: the next sample's phase is hour 105's, not hour 100's.
  for (size_t i = 0; i < series.size(); ++i) {
    if (i >= 100 && i < 105) continue;
    f->Observe(static_cast<int64_t>(i) * o.sample_period_s, series[i]);
    if (i >= 105 && i + 3 < series.size()) {
      ASSERT_NEAR(f->Predict(), NextPeak(series, i, 3), 10) << "hour " << i;
    }
  }
  EXPECT_EQ(f->Count(), static_cast<int64_t>(series.size()) - 5);
}

TEST(ForecastersTest, AGapLongerThanTheHorizonKeepsForecastsSane) {
  std::vector<double> series(2000, 300);
  for (const std::string& name : kAll) {
    std::unique_ptr<Forecaster> f = Make(name, ForecastOptions{});
    for (size_t i = 0; i < series.size(); ++i) {
      const int64_t t = static_cast<int64_t>(i) * 60 + (i >= 1000 ? 7200 : 0);  // 2 h gap
      f->Observe(t, series[i]);
      ASSERT_NEAR(f->Predict(), 300, 1e-6) << name << " at sample " << i;
    }
  }
}

// Flat 100, one-sample spikes to 500 every 40 samples (one 5-sample window in 8).
TEST(ForecastersTest, AutopilotAtP99CoversRecurringSpikes) {
  std::vector<double> series(2000, 100);
  for (size_t i = 20; i < series.size(); i += 40) series[i] = 500;
  ForecastOptions o;
  o.quantile = 0.99;
  const std::vector<double> p = Feed("autopilot", series, o);
  for (size_t i = 400; i < p.size(); ++i) ASSERT_GE(p[i], 500) << i;
  o.quantile = 0.5;  // the median window has no spike
  const std::vector<double> median = Feed("autopilot", series, o);
  EXPECT_NEAR(median.back(), 100, 1e-9);
}

TEST(ForecastersTest, EwmaIsNotPulledFarByOneSpike) {
  std::vector<double> series(1500, 100);
  series[1000] = 1000;
  const std::vector<double> p = Feed("ewma", series);
  for (size_t i = 1000; i < p.size(); ++i) ASSERT_LE(p[i], 105) << i;
  EXPECT_GE(p.back(), 100);
}

// i.i.d. N(100, 10): the fraction of next-horizon peaks at or below the forecast is near p.
TEST(ForecastersTest, QuantileCoverageOnIidNoise) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(100, 10);
  std::vector<double> series;
  for (int i = 0; i < 4000; ++i) series.push_back(std::max(0.0, noise(rng)));
  for (const std::string name : {"ewma", "autopilot", "qgb"}) {
    for (double q : {0.5, 0.9}) {
      ForecastOptions o;
      o.quantile = q;
      o.half_life_s = 6 * 3600;  // 360 samples
      const std::vector<double> p = Feed(name, series, o);
      size_t covered = 0, n = 0;
      for (size_t i = 500; i + 5 < series.size(); ++i, ++n) {
        if (NextPeak(series, i, 5) <= p[i]) ++covered;
      }
      const double coverage = static_cast<double>(covered) / static_cast<double>(n);
      EXPECT_NEAR(coverage, q, 0.05) << name << " at p" << q * 100;
    }
  }
}

TEST(DecayingHistogramTest, WeightsHalveEveryHalfLife) {
  DecayingHistogram h(3600);
  EXPECT_EQ(h.Quantile(0.5), 0);
  h.Add(0, 10);
  h.Add(3600, 20);  // weights now 1 (10) and 2 (20)
  EXPECT_DOUBLE_EQ(h.Quantile(0.3), 10);
  EXPECT_DOUBLE_EQ(h.Quantile(0.34), 20);
  h.Add(3600, -5);  // weights 2 (-5), 1 (10), 2 (20)
  EXPECT_DOUBLE_EQ(h.Quantile(0.2), -5);
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 10);
  EXPECT_DOUBLE_EQ(h.Quantile(0.7), 20);
  // Many half-lives later (a rebase), the old entries no longer count.
  h.Add(3600 * 200, 7);
  EXPECT_DOUBLE_EQ(h.Quantile(0.01), 7);
  EXPECT_DOUBLE_EQ(h.Quantile(0.99), 7);
}

TEST(DecayingHistogramTest, InterpolatesWithinABucket) {
  DecayingHistogram h(3600);
  ASSERT_EQ(DecayingHistogram::BucketOf(100), DecayingHistogram::BucketOf(100.4));
  h.Add(0, 100);
  h.Add(0, 100.4);
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 100.2);
  EXPECT_DOUBLE_EQ(h.Quantile(1), 100.4);
  EXPECT_DOUBLE_EQ(h.Quantile(0), 100);
}

TEST(DecayingHistogramTest, BucketsAreMonotoneAndThreePercentWide) {
  EXPECT_EQ(DecayingHistogram::BucketOf(0), 0);
  EXPECT_LT(DecayingHistogram::BucketOf(-2), DecayingHistogram::BucketOf(-1));
  EXPECT_LT(DecayingHistogram::BucketOf(1), DecayingHistogram::BucketOf(1.031));
  EXPECT_LE(DecayingHistogram::BucketOf(1.031) - DecayingHistogram::BucketOf(1), 1);
}

TEST(HorizonPeakTrackerTest, ResolvesThePeakOfTheNextHorizonAndDropsEmptyWindows) {
  HorizonPeakTracker<int> t(2);
  std::vector<std::pair<int, double>> got;
  auto record = [&](int tag, double peak) { got.emplace_back(tag, peak); };
  t.Observe(0, 1, record);
  t.Open(0, 0);
  t.Observe(1, 5, record);
  t.Open(1, 1);
  t.Observe(2, 3, record);  // resolves tag 0: max(5, 3)
  t.Open(2, 2);
  t.Observe(6, 9, record);  // tag 1's window (2..3) saw 3; tag 2's (3..4) saw nothing
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], std::make_pair(0, 5.0));
  EXPECT_EQ(got[1], std::make_pair(1, 3.0));
}

TEST(QuantileBoostedTreesTest, LearnsAConditionalQuantile) {
  // y = 10 * [x0 > 0.5] + U(0, 1); x1 is noise. The p90 is 10 * [x0 > 0.5] + 0.9.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> x, y;
  for (int i = 0; i < 1000; ++i) {
    const double x0 = u(rng), x1 = u(rng);
    x.push_back(static_cast<float>(x0));
    x.push_back(static_cast<float>(x1));
    y.push_back(static_cast<float>((x0 > 0.5 ? 10 : 0) + u(rng)));
  }
  QuantileBoostedTrees model;
  EXPECT_EQ(model.Predict(x.data()), 0);
  model.Fit(x, 2, y, 0.9, BoostingParams{});
  const float low[] = {0.2f, 0.5f}, high[] = {0.8f, 0.5f};
  EXPECT_NEAR(model.Predict(low), 0.9, 0.2);
  EXPECT_NEAR(model.Predict(high), 10.9, 0.2);
}

}  // namespace
}  // namespace devshare::predict
