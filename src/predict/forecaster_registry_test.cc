// ForecasterRegistry, ForecastOptions and PinballLoss.
#include <gtest/gtest.h>

#include "devshare/predict/forecaster.h"

namespace devshare::predict {
namespace {

TEST(ForecasterRegistryTest, CreatesBuiltinsAndNamesTheKnownOnesForAnUnknownName) {
  ForecasterRegistry r;
  RegisterBuiltinForecasters(r);
  Result<std::unique_ptr<Forecaster>> last = r.Create("last", ForecastOptions{});
  ASSERT_TRUE(last.ok()) << last.status().message();
  (*last)->Observe(0, 5);
  (*last)->Observe(60, 7);
  EXPECT_DOUBLE_EQ((*last)->Predict(), 7);
  EXPECT_EQ((*last)->Count(), 2);
  Result<std::unique_ptr<Forecaster>> bad = r.Create("nope", ForecastOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("known: "), std::string::npos);
  EXPECT_NE(bad.status().message().find("last"), std::string::npos);
  EXPECT_FALSE(r.Register("last", nullptr).ok());
}

TEST(ForecasterRegistryTest, OptionsAreValidated) {
  ForecasterRegistry r;
  RegisterBuiltinForecasters(r);
  ForecastOptions o;
  o.quantile = 1.0;
  Result<std::unique_ptr<Forecaster>> f = r.Create("last", o);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("quantile"), std::string::npos);
  o = ForecastOptions{};
  o.horizon_s = 30;
  EXPECT_NE(o.Validate().message().find("horizon_s"), std::string::npos);
  o = ForecastOptions{};
  o.season_s = 86'430;
  EXPECT_NE(o.Validate().message().find("season_s"), std::string::npos);
}

TEST(PinballLossTest, WeighsUnderAndOverByTheQuantile) {
  EXPECT_DOUBLE_EQ(PinballLoss(0.9, 10, 20), 9);  // under by 10
  EXPECT_DOUBLE_EQ(PinballLoss(0.9, 20, 10), 1);  // over by 10
  EXPECT_DOUBLE_EQ(PinballLoss(0.5, 10, 10), 0);
}

}  // namespace
}  // namespace devshare::predict
