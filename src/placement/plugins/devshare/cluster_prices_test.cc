// Tests of the devshare cluster prices: the Poisson tail against direct summation, class copies,
// scarcity weights and supply on hand-computed clusters, re-pricing only after 1 % of the
// capacity moved, and the capability price a lost place costs.
#include "placement/plugins/devshare/cluster_prices.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/testutil/requests.h"

namespace devshare::placement::devshare_policy {
namespace {

// 1 - sum_{j < s} e^-d d^j / j!, term by term.
double DirectTail(double d, int64_t s) {
  double term = std::exp(-d);
  double below = 0;
  for (int64_t j = 0; j < s; ++j) {
    below += term;
    term *= d / static_cast<double>(j + 1);
  }
  return 1.0 - below;
}

ClusterState Hosts(int n, int64_t cpu_milli, int gpus) {
  ClusterState c;
  for (int i = 0; i < n; ++i) {
    c.hosts.push_back(Host::MakeGpuHost("h" + std::to_string(i), cpu_milli, 1 << 20, gpus, "A100"));
  }
  c.Reset();
  return c;
}

void Use(ClusterState& c, int host, int gpu, int64_t milli) {
  Allocation a;
  a.request_id = "u" + std::to_string(host) + "." + std::to_string(gpu);
  a.host_index = host;
  a.gpus.push_back(DeviceSlice{gpu, "gpu" + std::to_string(gpu), milli, milli >= 1000, "", -1});
  ASSERT_TRUE(c.states[host].ApplyUnchecked(a).ok());
}

TEST(DevshareClusterPrices, PoissonTailMatchesDirectSummation) {
  for (double d : {0.3, 2.0, 7.5, 40.0}) {
    for (int64_t s : {1, 2, 5, 10, 30, 60}) {
      EXPECT_NEAR(PoissonTail(d, s), DirectTail(d, s), 1e-9) << d << " " << s;
    }
  }
  EXPECT_EQ(PoissonTail(3.0, 0), 1.0);
  EXPECT_EQ(PoissonTail(0.0, 1), 0.0);
  EXPECT_EQ(PoissonTail(1.0, 1000), 0.0);
}

TEST(DevshareClusterPrices, ClassCopiesAreLimitedByMemoryAndModel) {
  Demand d{testutil::Weighted(1000, 1000, 1, 0).shape, 4096, 0};
  const std::vector<int32_t> free = {1000, 1000, 1000};
  EXPECT_EQ(ClassCopies(d, 64000, 1 << 20, free, 3, "A100"), 3);
  EXPECT_EQ(ClassCopies(d, 64000, 8192, free, 3, "A100"), 2);  // memory for two
  EXPECT_EQ(AcceptedClassCopies(d, 64000, 100, free, 3), 0);
  d.shape.models = {"T4"};
  EXPECT_EQ(ClassCopies(d, 64000, 1 << 20, free, 3, "A100"), 0);
}

// One shape (1 whole GPU, p = 1) on 2 hosts x 8 GPUs: supply 16, pods left 16000 / 1000 = 16,
// price 1 + min(4, 16 / 16) = 2. A CPU-only shape keeps its plain p.
TEST(DevshareClusterPrices, ScarcityWeightsFromDemandOverSupply) {
  ClusterPrices prices;
  prices.SetDistribution(
      TypicalPods({testutil::Weighted(1000, 1000, 1, 0.75), testutil::Weighted(1000, 0, 0, 0.25)}));
  EXPECT_FLOAT_EQ(prices.weights()[0], 0.75f);  // before any cluster: p
  ClusterState c = Hosts(2, 64000, 8);
  prices.Update(c);
  EXPECT_EQ(prices.supply(0), 16);
  // mean GPU milli per typical pod 750; pods left 16000 / 750; demand 0.75 x that = 16.
  EXPECT_FLOAT_EQ(prices.weights()[0], static_cast<float>(0.75 * (1 + 16.0 / 16)));
  EXPECT_FLOAT_EQ(prices.weights()[1], 0.25f);
  // Half the GPUs taken (whole): supply 8, pods left 8000 / 750, demand 8: price 2 again; with
  // CPU for one copy per host the supply is 2 and the price capped at 1 + 4.
  for (int g = 0; g < 8; ++g) Use(c, g % 2, g / 2, 1000);
  prices.Update(c);
  EXPECT_EQ(prices.supply(0), 8);
  EXPECT_FLOAT_EQ(prices.weights()[0], static_cast<float>(0.75 * 2));
  ClusterState tight = Hosts(2, 1000, 8);
  prices.Reset();
  prices.Update(tight);
  EXPECT_EQ(prices.supply(0), 2);
  EXPECT_FLOAT_EQ(prices.weights()[0], static_cast<float>(0.75 * (1 + kMaxScarcity)));
}

TEST(DevshareClusterPrices, RepricesOnlyAfterOnePercentOfCapacityMoved) {
  ClusterPrices prices;
  prices.SetDistribution(TypicalPods({testutil::Weighted(1000, 500, 1, 1.0)}));
  ClusterState c = Hosts(4, 64000, 8);  // 32,000 milli: 1 % is 320
  prices.Update(c);
  const uint64_t first = prices.epoch();
  Use(c, 0, 0, 300);
  prices.Update(c);
  EXPECT_EQ(prices.epoch(), first) << "300 milli moved: below 1 %";
  EXPECT_EQ(prices.supply(0), 64 - 1) << "supply still follows every host change";
  Use(c, 1, 0, 100);
  prices.Update(c);
  EXPECT_EQ(prices.epoch(), first + 1) << "400 milli moved since pricing";
  prices.SetDemand(DemandClasses{});
  prices.Update(c);
  EXPECT_EQ(prices.epoch(), first + 2) << "new classes re-price at once";
}

// M: a 500-milli share. Class outside M: 1 whole GPU, rate 0.5, seen twice. Two 1-GPU hosts:
// 2 places; pods left 2000 / 500 = 4, D = 0.5 x 4 = 2, price 1000 x P(Poisson(2) >= 2).
TEST(DevshareClusterPrices, CapabilityPriceOfALostPlace) {
  const TypicalPods m({testutil::Weighted(1000, 500, 1, 1.0)});
  const std::vector<VmRequest> window = {testutil::Request(1000, 1, 1000),
                                         testutil::Request(1000, 1, 1000), testutil::Request(1000),
                                         testutil::Request(1000)};
  ClusterPrices prices;
  prices.SetDistribution(m);
  prices.SetDemand(PricedClasses(CountClasses(window), m));
  ClusterState c = Hosts(2, 64000, 1);
  prices.Update(c);
  ASSERT_EQ(prices.priced_caps(), 1u);
  const double expected = 1000 * (1 - std::exp(-2.0) * (1 + 2.0));
  EXPECT_NEAR(prices.cap_price(0), expected, 1e-9);
  EXPECT_TRUE(prices.HoldsPricedPlace(0));
  EXPECT_NEAR(prices.CapCost(testutil::Request(1000, 1, 1000), c.states[0], 0, -1), expected, 1e-9);
  EXPECT_NEAR(prices.CapCost(testutil::Request(1000, 1, 200), c.states[0], 0, 0), expected, 1e-9)
      << "a share on the only GPU removes the place too";
  EXPECT_EQ(prices.CapCost(testutil::Request(1000), c.states[0], 0, -1), 0.0);
  // Host 0's place gone: one place left, D = 0.5 x (1500 / 500) = 1.5, price 1000 x P(>= 1).
  Use(c, 0, 0, 500);
  prices.Update(c);
  EXPECT_FALSE(prices.HoldsPricedPlace(0));
  EXPECT_TRUE(prices.HoldsPricedPlace(1));
  ASSERT_EQ(prices.priced_caps(), 1u);
  EXPECT_NEAR(prices.cap_price(0), 1000 * (1 - std::exp(-1.5)), 1e-9);
}

}  // namespace
}  // namespace devshare::placement::devshare_policy
