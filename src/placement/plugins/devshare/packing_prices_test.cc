// Tests of the devshare packing prices: which shapes enter the LP, no prices (all losses 0)
// without shared shapes or for partitions, and the host loss of good and spoiling placements on
// a mix with known duals (y = 1/2, 1/3, 2/3 for 470, 320, 650), weighted per request kind.
#include "placement/plugins/devshare/packing_prices.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testutil/clusters.h"
#include "tests/testutil/requests.h"

namespace devshare::placement::devshare_policy {
namespace {

// The mix of share_packing_test's known patterns, with 1000m CPU per request.
TypicalPods KnownMix() {
  return TypicalPods({testutil::Weighted(1000, 470, 1, 0.6), testutil::Weighted(1000, 320, 1, 0.25),
                      testutil::Weighted(1000, 650, 1, 0.15)});
}

TEST(DevsharePackingPrices, OnlyOneGpuSharedShapesEnterTheLp) {
  const TypicalPods m({testutil::Weighted(2000, 470, 1, 0.4),
                       testutil::Weighted(8000, 1000, 1, 0.3),
                       testutil::Weighted(4000, 500, 2, 0.2), testutil::Weighted(500, 0, 0, 0.1)});
  const std::vector<ShareDemand> d = SharedDemandOf(m);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].milli, 470);
  EXPECT_DOUBLE_EQ(d[0].rate, 0.4);
  EXPECT_EQ(d[0].cpu_milli, 2000);
}

TEST(DevsharePackingPrices, NoSharedShapeMeansNoPricesAndZeroLosses) {
  PackingPrices p;
  p.SetDistribution(TypicalPods({testutil::Weighted(8000, 1000, 1, 1.0)}));
  EXPECT_TRUE(p.status().ok());
  EXPECT_TRUE(p.empty());
  ClusterState c = testutil::OneGpuHost(2, 64000, {470, 0});
  std::vector<float> out = {7.0f};
  p.WeightedLosses(testutil::Request(1000, 1, 320), c.states[0], {0, 1}, &out);
  EXPECT_EQ(out, (std::vector<float>{0.0f, 0.0f}));
}

TEST(DevsharePackingPrices, LossOfPairingsOnAHost) {
  PackingPrices p;
  p.SetDistribution(KnownMix());
  ASSERT_TRUE(p.status().ok()) << p.status().ToString();
  ASSERT_FALSE(p.empty());
  ClusterState c = testutil::OneGpuHost(2, 64000, {470, 0});  // GPU 0: 530 free, GPU 1 empty
  const HostState& h = c.states[0];
  const double value = p.prices().HostValue(h.gpu_free_milli(), h.cpu_free_milli());
  EXPECT_NEAR(value, 0.5 + 1.0, 1e-9);  // V(530) = y_470, V(1000) = 1
  const VmRequest r470 = testutil::Request(1000, 1, 470);
  const VmRequest r320 = testutil::Request(1000, 1, 320);
  EXPECT_NEAR(p.Loss(r470, h, 0, value), 0.0, 1e-9);  // completes 470 + 470
  EXPECT_NEAR(p.Loss(r470, h, 1, value), 0.0, 1e-9);  // opens one
  // A 320 next to the 470 leaves 210 that nothing fills: 1/2 - 1/3 of a GPU lost.
  EXPECT_NEAR(p.Loss(r320, h, 0, value), 0.5 - 1.0 / 3, 1e-9);
  EXPECT_NEAR(p.Loss(r320, h, 0, value), p.prices().Loss(530, 320), 1e-9);
  // A whole GPU is worth its count: taking the empty GPU loses nothing more.
  EXPECT_NEAR(p.Loss(testutil::Request(1000, 1, 1000), h, -1, value), 0.0, 1e-9);

  std::vector<float> out;
  p.WeightedLosses(r320, h, {0, 1}, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0], kShareLossMilliPerGpu * (0.5 - 1.0 / 3), 0.01);
  EXPECT_NEAR(out[1], 0.0, 0.01);
  VmRequest partition = testutil::Request(1000, 1, 0);
  partition.gpu.profile = "3g.20gb";
  p.WeightedLosses(partition, h, {0}, &out);
  EXPECT_EQ(out, (std::vector<float>{0.0f}));
}

// CPU-only requests pay for the CPU the host's rooms needed: with 2000m free and two empty GPUs
// (each filled by two 470s asking 1000m each) the host is worth 1 GPU; a 1500m CPU-only request
// leaves 500m, a quarter of what filling one GPU needs.
TEST(DevsharePackingPrices, CpuOnlyRequestsPayForTheCpuRoomsNeeded) {
  PackingPrices p;
  p.SetDistribution(KnownMix());
  ClusterState c = testutil::OneGpuHost(2, 2000);
  const HostState& h = c.states[0];
  const double value = p.prices().HostValue(h.gpu_free_milli(), h.cpu_free_milli());
  const VmRequest cpu_only = testutil::Request(1500);
  const double after = p.prices().HostValue(h.gpu_free_milli(), 500);
  EXPECT_NEAR(p.Loss(cpu_only, h, -1, value), value - after, 1e-9);
  EXPECT_GT(p.Loss(cpu_only, h, -1, value), 0.5);
  std::vector<float> out;
  p.WeightedLosses(cpu_only, h, {-1}, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NEAR(out[0], kOtherLossMilliPerGpu * (value - after), 0.01);
}

}  // namespace
}  // namespace devshare::placement::devshare_policy
