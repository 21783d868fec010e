// Tests of the devshare demand window: the ring buffer and relearn cadence, drift detection by
// total variation, request classes by shape and memory, and the history standing in for the
// window until it is full.
#include "placement/plugins/devshare/demand_window.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testutil/requests.h"

namespace devshare::placement::devshare_policy {
namespace {

VmRequest Req(int i, int64_t cpu_milli, int count = 0, int milli = 0, int64_t memory_mib = 1024) {
  VmRequest r = testutil::Request(cpu_milli, count, milli, "r" + std::to_string(i));
  r.memory_mib = memory_mib;
  return r;
}

TEST(DevshareDemandWindow, SignalsRelearnEveryKRelearnEveryRequests) {
  DemandWindow w(nullptr);
  std::vector<size_t> due;
  for (size_t i = 1; i <= 3 * kRelearnEvery + 7; ++i) {
    if (w.Add(Req(static_cast<int>(i), 1000))) due.push_back(i);
  }
  EXPECT_EQ(due, (std::vector<size_t>{kRelearnEvery, 2 * kRelearnEvery, 3 * kRelearnEvery}));
  EXPECT_FALSE(w.has_history());
}

TEST(DevshareDemandWindow, KeepsTheLastRequestsReplacingTheOldest) {
  DemandWindow w(nullptr);
  for (size_t i = 0; i < kWindowRequests; ++i) w.Add(Req(static_cast<int>(i), 1000));
  EXPECT_TRUE(w.full());
  EXPECT_EQ(w.requests().front().id, "r0");
  w.Add(Req(-1, 1000));
  w.Add(Req(-2, 1000));
  ASSERT_EQ(w.requests().size(), kWindowRequests);
  EXPECT_EQ(w.requests()[0].id, "r-1");
  EXPECT_EQ(w.requests()[1].id, "r-2");
  EXPECT_EQ(w.requests()[2].id, "r2");
}

TEST(DevshareDemandWindow, TotalVariationOfShapeDistributions) {
  const TypicalPods a({testutil::Weighted(1000, 500, 1, 0.5), testutil::Weighted(2000, 0, 0, 0.5)});
  const TypicalPods b(
      {testutil::Weighted(1000, 500, 1, 0.2), testutil::Weighted(8000, 1000, 1, 0.8)});
  const TypicalPods c({testutil::Weighted(4000, 1000, 8, 1.0)});
  EXPECT_DOUBLE_EQ(TotalVariation(a, a), 0.0);
  EXPECT_DOUBLE_EQ(TotalVariation(a, c), 1.0);
  // |0.5 - 0.2| + 0.5 (only in a) + 0.8 (only in b), halved.
  EXPECT_NEAR(TotalVariation(a, b), (0.3 + 0.5 + 0.8) / 2, 1e-12);
  EXPECT_NEAR(TotalVariation(b, a), TotalVariation(a, b), 1e-12);
  EXPECT_DOUBLE_EQ(TotalVariation(TypicalPods(), TypicalPods()), 0.0);
}

TEST(DevshareDemandWindow, RelearnsOnlyWhenTheWorkloadDrifted) {
  DemandWindow w(nullptr);
  for (int i = 0; i < 100; ++i) w.Add(Req(i, 8000, 1, 1000));
  std::optional<TypicalPods> learned = w.Relearn(TypicalPods());
  ASSERT_TRUE(learned.has_value());
  ASSERT_EQ(learned->shapes().size(), 1u);
  EXPECT_EQ(learned->shapes()[0].shape, TaskShape::Of(Req(0, 8000, 1, 1000)));
  EXPECT_DOUBLE_EQ(learned->shapes()[0].p, 1.0);
  EXPECT_FALSE(w.Relearn(*learned).has_value());  // no drift from what it learned
  // 10 % of something else: total variation 0.1, below kRelearnDistance.
  for (int i = 0; i < 11; ++i) w.Add(Req(1000 + i, 2000, 1, 500));
  EXPECT_FALSE(w.Relearn(*learned).has_value());
  for (int i = 0; i < 100; ++i) w.Add(Req(2000 + i, 2000, 1, 500));
  EXPECT_TRUE(w.Relearn(*learned).has_value());
}

TEST(DevshareDemandWindow, ClassesAreGpuShapeAndMemory) {
  const std::vector<VmRequest> reqs = {
      Req(0, 8000, 1, 1000, 1024),
      Req(1, 8000, 1, 1000, 2048),
      Req(2, 8000, 1, 1000, 1024),
      Req(3, 4000),  // CPU-only: counted among the requests, in no class
      Req(4, 8000, 1, 1000, 2048),
      Req(5, 1000, 1, 500, 1024)};
  ClassCounts counted = CountClasses(reqs);
  EXPECT_EQ(counted.requests, 6u);
  ASSERT_EQ(counted.classes.size(), 3u);
  EXPECT_EQ(counted.counts, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(counted.classes[0].memory_mib, 1024);
  EXPECT_EQ(counted.classes[1].memory_mib, 2048);
  EXPECT_EQ(counted.classes[2].shape, TaskShape::Of(reqs[5]));

  // M holds the 8000m whole-GPU shape: its classes are not caps; the 500-milli class is outside
  // M but seen once only.
  const TypicalPods m({WeightedShape{TaskShape::Of(reqs[0]), 0, 1.0}});
  DemandClasses priced = PricedClasses(counted, m);
  ASSERT_EQ(priced.classes.size(), 3u);
  EXPECT_DOUBLE_EQ(priced.classes[0].rate, 2.0 / 6);
  EXPECT_DOUBLE_EQ(priced.classes[2].rate, 1.0 / 6);
  EXPECT_TRUE(priced.caps.empty());
  // Without M every class seen twice is a cap.
  EXPECT_EQ(PricedClasses(counted, TypicalPods()).caps, (std::vector<size_t>{0, 1}));
}

TEST(DevshareDemandWindow, HistoryStandsInUntilTheWindowIsFull) {
  const std::vector<VmRequest> history = {Req(0, 8000, 8, 1000), Req(1, 8000, 8, 1000),
                                          Req(2, 1000)};
  DemandWindow w(&history);
  EXPECT_TRUE(w.has_history());
  ClassCounts before = w.Classes();
  EXPECT_EQ(before.requests, 3u);
  ASSERT_EQ(before.counts, (std::vector<int64_t>{2}));
  for (size_t i = 0; i + 1 < kWindowRequests; ++i)
    w.Add(Req(10 + static_cast<int>(i), 500, 1, 300));
  EXPECT_EQ(w.Classes().requests, 3u) << "one short of full: still the history";
  w.Add(Req(-1, 500, 1, 300));
  ClassCounts after = w.Classes();
  EXPECT_EQ(after.requests, kWindowRequests);
  ASSERT_EQ(after.classes.size(), 1u);
  EXPECT_EQ(after.classes[0].shape, TaskShape::Of(Req(0, 500, 1, 300)));
  const std::vector<VmRequest> empty;
  EXPECT_FALSE(DemandWindow(&empty).has_history());
}

}  // namespace
}  // namespace devshare::placement::devshare_policy
