// Tests of the share-packing LP prices: the duals of a mix with a known optimal packing, the
// loss of good and bad pairings, and the degenerate inputs.
#include "devshare/placement/share_packing.h"

#include <gtest/gtest.h>

namespace devshare::placement {
namespace {

// 470s pair (940, 60 left), a 320 completes a 650 (970) or two other 320s (960): the optimal
// packing uses only those patterns, so y = 1/2, 1/3, 2/3.
TEST(SharePackingPrices, DualsOfAMixWithKnownPatterns) {
  Result<SharePackingPrices> p = SharePackingPrices::Solve({{470, 0.6}, {320, 0.25}, {650, 0.15}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_NEAR(p->Price(470), 0.5, 1e-9);
  EXPECT_NEAR(p->Price(320), 1.0 / 3, 1e-9);
  EXPECT_NEAR(p->Price(650), 2.0 / 3, 1e-9);
  EXPECT_NEAR(p->RoomValue(1000), 1.0, 1e-9);  // LP optimality: no pattern is worth more
  EXPECT_NEAR(p->RoomValue(469), 1.0 / 3, 1e-9);
  EXPECT_EQ(p->Price(810), 0.0);  // not in the mix
}

TEST(SharePackingPrices, LossIsZeroOnOptimalPatternsAndPositiveOnSpoilingOnes) {
  Result<SharePackingPrices> p = SharePackingPrices::Solve({{470, 0.6}, {320, 0.25}, {650, 0.15}});
  ASSERT_TRUE(p.ok());
  EXPECT_NEAR(p->Loss(1000, 470), 0.0, 1e-9);  // opens a 470 + 470 GPU
  EXPECT_NEAR(p->Loss(530, 470), 0.0, 1e-9);   // completes it
  EXPECT_NEAR(p->Loss(1000, 320), 0.0, 1e-9);
  EXPECT_NEAR(p->Loss(350, 320), 0.0, 1e-9);  // completes 650 + 320
  // A 320 next to a 470 leaves 210 nothing fills: it spends the room of a 470 (1/2 GPU) for
  // a 320 (1/3).
  EXPECT_NEAR(p->Loss(530, 320), 0.5 - 1.0 / 3, 1e-9);
  // Every loss is >= 0 (the room value is superadditive).
  for (int f = 1; f <= 1000; ++f) {
    for (int s : {320, 470, 650}) {
      if (s <= f) EXPECT_GE(p->Loss(f, s), -1e-9) << f << " " << s;
    }
  }
}

// The host value counts each GPU at V(free), scaled by the CPU its best fill needs against
// what the host has left, GPUs in index order.
TEST(SharePackingPrices, HostValueScalesRoomsByTheCpuLeftToFillThem) {
  Result<SharePackingPrices> p =
      SharePackingPrices::Solve({{470, 0.6, 4000}, {320, 0.25, 4000}, {650, 0.15, 2000}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->FillCpuMilli(530), 4000);   // one 470
  EXPECT_EQ(p->FillCpuMilli(680), 2000);   // one 650 (two 320s are worth as much, ask 8000m)
  EXPECT_EQ(p->FillCpuMilli(1000), 6000);  // 650 + 320, the cheapest fill worth 1 GPU
  const std::vector<int32_t> free = {1000, 530, 0};
  EXPECT_NEAR(p->HostValue(free, 64000), 1.5, 1e-9);
  EXPECT_NEAR(p->HostValue(free, 10000), 1.5, 1e-9);
  EXPECT_NEAR(p->HostValue(free, 8000), 1.0 + 0.5 * 2000 / 4000, 1e-9);
  EXPECT_NEAR(p->HostValue(free, 3000), 3000.0 / 6000, 1e-9);
  EXPECT_NEAR(p->HostValue(free, 0), 0.0, 1e-9);  // no request can use any of it
  EXPECT_NEAR(p->HostValue(free, -5), 0.0, 1e-9);
}

TEST(SharePackingPrices, NoDemandGivesNoPrices) {
  Result<SharePackingPrices> p = SharePackingPrices::Solve({{1000, 1.0}, {0, 1.0}, {300, 0.0}});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->empty());
  EXPECT_EQ(p->Loss(530, 320), 0.0);
  EXPECT_TRUE(SharePackingPrices().empty());
}

TEST(SharePackingPrices, EqualSizesMergeAndOnlyRatiosMatter) {
  Result<SharePackingPrices> a = SharePackingPrices::Solve({{470, 0.3}, {470, 0.3}, {320, 0.4}});
  Result<SharePackingPrices> b = SharePackingPrices::Solve({{470, 60}, {320, 40}});
  ASSERT_TRUE(a.ok() && b.ok());
  for (int f = 0; f <= 1000; f += 10) EXPECT_NEAR(a->RoomValue(f), b->RoomValue(f), 1e-9) << f;
}

}  // namespace
}  // namespace devshare::placement
