// RightSizer: margin, rounding, clamping, grow at once, rate-limited shrinks, reasons.
#include "devshare/predict/right_sizer.h"

#include <gtest/gtest.h>

#include <memory>

namespace devshare::predict {
namespace {

// Predicts whatever the test sets.
class FixedForecaster : public Forecaster {
 public:
  explicit FixedForecaster(double* value) : value_(value) {}
  std::string_view Name() const override { return "fixed"; }
  void Observe(int64_t, double) override { ++count_; }
  double Predict() const override { return *value_; }
  int64_t Count() const override { return count_; }

 private:
  double* value_;
  int64_t count_ = 0;
};

RightSizeOptions Options() {
  RightSizeOptions o;
  o.margin = 0.25;
  o.granularity = 256;
  o.min_value = 512;
  o.max_value = 8192;
  o.shrink_interval_s = 600;
  o.hysteresis = 0.05;
  o.warmup_samples = 2;
  return o;
}

TEST(RightSizerTest, GrowsToForecastPlusMarginRoundedUp) {
  double f = 1000;
  RightSizer r(std::make_unique<FixedForecaster>(&f), Options(), ForecastOptions{});
  Recommendation a = r.Step(0, 900, 1024);
  EXPECT_FALSE(a.change) << a.reason;  // warming up
  EXPECT_NE(a.reason.find("warming up"), std::string::npos) << a.reason;
  f = 2000;  // x 1.25 = 2500 -> 2560
  Recommendation b = r.Step(60, 900, 1024);
  EXPECT_TRUE(b.change);
  EXPECT_DOUBLE_EQ(b.allocation, 2560);
  EXPECT_NE(b.reason.find("grow 1.0 GiB -> 2.5 GiB"), std::string::npos) << b.reason;
  EXPECT_NE(b.reason.find("(fixed) + 25 % margin"), std::string::npos) << b.reason;
}

TEST(RightSizerTest, ClampsToMinAndMax) {
  double f = 100000;
  RightSizer r(std::make_unique<FixedForecaster>(&f), Options(), ForecastOptions{});
  r.Step(0, 1, 1024);
  EXPECT_DOUBLE_EQ(r.Step(60, 1, 1024).allocation, 8192);
  f = 1;
  RightSizeOptions o = Options();
  o.shrink_interval_s = 0;
  RightSizer s(std::make_unique<FixedForecaster>(&f), o, ForecastOptions{});
  s.Step(0, 1, 1024);
  EXPECT_DOUBLE_EQ(s.Step(60, 1, 1024).allocation, 512);
}

TEST(RightSizerTest, UsageAboveAllocationGrowsAtOnceEvenWhenWarmingUp) {
  double f = 100;
  RightSizer r(std::make_unique<FixedForecaster>(&f), Options(), ForecastOptions{});
  Recommendation a = r.Step(0, 2000, 1024);
  EXPECT_TRUE(a.change);
  EXPECT_DOUBLE_EQ(a.allocation, 2560);  // 2000 x 1.25
  EXPECT_NE(a.reason.find("above the allocation"), std::string::npos) << a.reason;
}

TEST(RightSizerTest, ShrinksAtMostOncePerIntervalAndIgnoresSmallSavings) {
  double f = 4000;  // -> 5120
  RightSizer r(std::make_unique<FixedForecaster>(&f), Options(), ForecastOptions{});
  r.Step(0, 10, 4096);
  double cur = r.Step(60, 10, 4096).allocation;  // grow at t=60
  ASSERT_DOUBLE_EQ(cur, 5120);
  f = 1000;  // -> 1280: a shrink, but the last change was at 60
  Recommendation k = r.Step(120, 10, cur);
  EXPECT_FALSE(k.change);
  EXPECT_NE(k.reason.find("would shrink to 1.2 GiB in 9 min"), std::string::npos) << k.reason;
  Recommendation s = r.Step(660, 10, cur);
  EXPECT_TRUE(s.change);
  EXPECT_DOUBLE_EQ(s.allocation, 1280);
  // Saving under 5 % is not worth a resize.
  f = 1000 * 0.97;  // -> 1212.5 -> 1280 after rounding: no change at all
  EXPECT_FALSE(r.Step(2000, 10, 1280).change);
  RightSizeOptions o = Options();
  o.granularity = 1;
  o.shrink_interval_s = 0;
  double g = 1000;
  RightSizer t(std::make_unique<FixedForecaster>(&g), o, ForecastOptions{});
  t.Step(0, 1, 1250);
  g = 990;  // -> 1237.5: saves 1 %
  EXPECT_FALSE(t.Step(60, 1, 1250).change);
  g = 900;  // -> 1125: saves 10 %
  EXPECT_TRUE(t.Step(120, 1, 1250).change);
}

// A change that did not take effect (the caller passes the old allocation again: no room for a
// grow) is not the last change of the rate limit; one that did take effect is.
TEST(RightSizerTest, AChangeThatDidNotTakeEffectDoesNotHoldBackAShrink) {
  // A sizer that shrank 4096 -> 1280 at t=60 (applied), then proposes a grow to 5120 at 120.
  auto after_shrink_then_grow = [](double* f) {
    auto r = std::make_unique<RightSizer>(std::make_unique<FixedForecaster>(f), Options(),
                                          ForecastOptions{});
    *f = 1000;  // -> 1280
    r->Step(0, 10, 4096);
    EXPECT_DOUBLE_EQ(r->Step(60, 10, 4096).allocation, 1280);
    *f = 4000;  // -> 5120
    EXPECT_DOUBLE_EQ(r->Step(120, 10, 1280).allocation, 5120);
    return r;
  };
  double f = 0;
  // The grow was refused (the caller still holds 1280): the last change is the shrink at 60.
  std::unique_ptr<RightSizer> refused = after_shrink_then_grow(&f);
  f = 500;  // -> 768
  Recommendation k = refused->Step(180, 10, 1280);
  EXPECT_FALSE(k.change);
  EXPECT_NE(k.reason.find("in 8 min"), std::string::npos) << k.reason;
  // The grow was applied: it is the last change, the shrink waits from 120.
  std::unique_ptr<RightSizer> applied = after_shrink_then_grow(&f);
  f = 500;
  Recommendation w = applied->Step(180, 10, 5120);
  EXPECT_FALSE(w.change);
  EXPECT_NE(w.reason.find("in 9 min"), std::string::npos) << w.reason;
  // Refused twice in a row: still measured from the shrink at 60.
  std::unique_ptr<RightSizer> twice = after_shrink_then_grow(&f);
  ASSERT_TRUE(twice->Step(180, 10, 1280).change);
  f = 500;
  EXPECT_TRUE(twice->Step(660, 10, 1280).change);  // 600 s after 60
}

TEST(RightSizerTest, OptionsValidateNamesTheField) {
  RightSizeOptions o;
  o.granularity = 0;
  EXPECT_NE(o.Validate().message().find("granularity"), std::string::npos);
  o = RightSizeOptions{};
  o.min_value = 10;
  o.max_value = 5;
  EXPECT_NE(o.Validate().message().find("'min'"), std::string::npos);
  EXPECT_TRUE(RightSizeOptions{}.Validate().ok());
}

}  // namespace
}  // namespace devshare::predict
